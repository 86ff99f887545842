#pragma once
// Data caches as tag arrays (data stays in PhysicalMemory) and the hierarchy a physical access
// goes through: private L1D and L2 per vCPU, a last-level cache shared by all, then DRAM.
// Page-walker references and the workload's loads and stores share the same arrays, so page-
// table entries compete with data for capacity as in hardware. Write-back, write-allocate;
// a miss fills every enabled level it passed (non-inclusive: evictions do not back-invalidate).
//
// Latency of an access = the hit latencies of the levels it looked up, plus the DRAM latency
// when every level missed; nothing else, so tests can assert it exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/common/memory_port.h"
#include "virtsim/common/param.h"
#include "virtsim/common/set_associative.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"

namespace virtsim {

enum class Requester : std::uint8_t { Data, Walk };

struct CacheConfig {
  bool enabled = true;
  unsigned size_kib = 32;
  unsigned ways = 8;
  unsigned line_bytes = 64;
  Cycles hit_cycles = 4;
  std::string replacement = "lru";  // a registered policy (replacement.h)
  std::uint64_t seed = 1;
};

class CacheParameters {
 public:
  struct Defaults {
    unsigned size_kib, ways, hit_cycles;
  };
  CacheParameters(const Scope& scope, const Defaults& defaults, const std::string& what);
  CacheConfig config(unsigned line_bytes, std::uint64_t seed) const;

  Param<bool> enabled;
  Param<std::uint32_t> size_kib;
  Param<std::uint32_t> ways;
  Param<std::uint32_t> hit_cycles;
  Param<std::string> replacement;
};

class Cache {
 public:
  Cache(const Scope& scope, const CacheConfig& config);
  // Holds pointers into its own arrays.
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  const CacheConfig& config() const { return config_; }
  bool enabled() const { return config_.enabled; }
  // Looks up the line holding `address`; on a miss allocates it (evicting, and counting a
  // writeback when the victim is dirty). Returns whether it hit. Inline for LRU of 2 to 16
  // ways, every default cache's: every data access and walker reference of a run takes it at
  // least once, at each level it looks up. Other policies and geometries go out of line, so
  // the hot path's code stays small enough for the host's instruction cache.
  [[gnu::always_inline]] bool access(Addr address, bool write, Requester who) {
    ++accesses;
    if (ordered_power_of_two_) [[likely]] {
      const Addr line = address >> line_shift_;
      const std::size_t set = line & set_mask_;
      return access_ordered(lines_.row(set), lines_.replacement().order_word(set), clamped_tag(line >> set_shift_),
                            write, who);
    }
    return access_general(address, write, who);
  }
  bool contains(Addr address) const;
  void flush();
  // Checkpoints of the warmed state (cache_state.cpp): the shape as text, every line's tag and
  // dirty flag and the replacement state.
  std::string geometry() const;
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  Counter accesses;
  Counter hits;
  Counter misses;
  Counter writebacks;
  Counter evictions;
  VectorStat hits_by_requester;
  VectorStat misses_by_requester;
  Formula hit_rate;

 private:
  // The state is kept small, so a large last-level cache's arrays stay in the host's own
  // caches (an 8 MiB, 16-way cache: 512 KiB of tags, 64 KiB of LRU words), and an access
  // touches one host line of tags and one word of order. The keys of lines_ are a row of
  // 32-bit words per set (the ways rounded up to a multiple of 4, 16-byte aligned: a lookup
  // compares four at once). Bits 30:0 are the tag, the line address without its set bits;
  // bit 31 is the line's dirty flag. An invalid or padding way holds kInvalidTag. LRU of 2 to
  // 16 ways keeps an order word per set, which access_ordered() updates itself.
  static constexpr std::uint32_t kInvalidTag = ~std::uint32_t{0};
  static constexpr std::uint32_t kDirtyBit = std::uint32_t{1} << 31;
  static constexpr std::uint32_t kTagBits = kDirtyBit - 1;
  using Lines = SetAssociative<std::uint32_t, NoEntry, kTagBits>;
  static Lines::Shape shape(const Scope& scope, const CacheConfig& config);
  CacheConfig config_;
  unsigned line_shift_ = 6;
  std::size_t sets_ = 1;
  bool sets_power_of_two_ = true;
  std::size_t set_mask_ = 0;  // sets - 1 when a power of two (else division)
  unsigned set_shift_ = 0;    // log2(sets) when a power of two
  // The set of a line and its tag. A line too far out for 31 bits (2^31 lines per set: 128 TiB
  // of physical memory for 1024 sets) shares the largest tag; no simulated memory reaches it.
  std::uint32_t tag_and_set(Addr line, std::size_t& set) const {
    Addr rest;
    if (sets_power_of_two_) {
      set = line & set_mask_;
      rest = line >> set_shift_;
    } else {
      set = line % sets_;
      rest = line / sets_;
    }
    return clamped_tag(rest);
  }
  static std::uint32_t clamped_tag(Addr rest) {
    return rest < kTagBits ? static_cast<std::uint32_t>(rest) : kTagBits - 1;
  }
  Lines lines_;
  bool own_order_ = false;  // LRU of 2 to 16 ways: access_ordered() updates the order words
  // own_order_ with a power-of-two number of sets, every default cache's: access() inline
  // with a mask and shifts. The rest takes access_general().
  bool ordered_power_of_two_ = false;
  unsigned last_way_ = 0;  // ways - 1
  // access() for LRU of 2 to 16 ways (the defaults). A hit only sets the dirty flag and makes
  // its way the most recent; the miss, out of the hit's way, fills the set.
  [[gnu::always_inline]] bool access_ordered(std::uint32_t* row, std::uint64_t& order, std::uint32_t tag,
                                             bool write, Requester who) {
    // One bit at most: a line sits in one way, and no tag equals kInvalidTag's tag bits.
    if (const unsigned holding = ways_holding(row, tag)) {
      const auto way = static_cast<unsigned>(__builtin_ctz(holding));
      row[way] |= write ? kDirtyBit : 0u;
      ReplacementState::move_to_most_recent(order, way, config_.ways);
      ++hits;
      hits_by_requester.add(static_cast<std::size_t>(who));
      return true;
    }
    fill_ordered(row, order, tag, write, who);
    return false;
  }
  // access_ordered()'s miss: the first invalid way, else the least recent one, takes the line
  // and becomes the most recent.
  [[gnu::always_inline]] void fill_ordered(std::uint32_t* row, std::uint64_t& order, std::uint32_t tag, bool write,
                                           Requester who) {
    // Valid ways are a prefix (see fill()): a set is full when its last way is valid, as
    // nearly every set is once the run has warmed up, so this branch seldom mispredicts.
    const bool full = row[last_way_] != kInvalidTag;
    unsigned way = ReplacementState::order_word_victim(order);
    if (full) [[likely]] {
      evictions += 1;
      writebacks += static_cast<std::uint64_t>((row[way] & kDirtyBit) != 0);  // a dirty victim
      // The least recent way becomes the most recent: the order word rotates.
      order = (order >> 4) | (std::uint64_t{way} << (4 * last_way_));
    } else {
      way = static_cast<unsigned>(__builtin_ctz(lines_.ways_equal(row, kInvalidTag)));
      ReplacementState::move_to_most_recent(order, way, config_.ways);
    }
    row[way] = tag | (write ? kDirtyBit : 0u);
    ++misses;
    misses_by_requester.add(static_cast<std::size_t>(who));
  }
  // Bit w set when way w of a row of at most 16 ways holds the line tagged `tag`, dirty or not.
  [[gnu::always_inline]] unsigned ways_holding(const std::uint32_t* row, std::uint32_t tag) const {
    return lines_.ways_equal<kTagBits>(row, tag);
  }
  // access() of the caches that are not ordered_power_of_two_ (out of line: no default
  // cache takes it).
  [[gnu::noinline]] bool access_general(Addr address, bool write, Requester who);
  // access() for policies and geometries other than access_ordered()'s.
  bool access_other(std::size_t set, std::uint32_t* row, std::uint32_t tag, bool write, Requester who);
  // A miss on that path: allocate the line.
  void fill(std::size_t set, std::uint32_t* row, std::uint32_t tag, bool write, Requester who) {
    ++misses;
    misses_by_requester.add(static_cast<std::size_t>(who));
    // A miss fills the first invalid way, and only flush() invalidates (every way), so the
    // valid ways of a set are always a prefix: the set has a free way iff its last way is invalid.
    const unsigned ways = config_.ways;
    unsigned way = 0;
    if (row[ways - 1] == kInvalidTag) {
      while (row[way] != kInvalidTag) ++way;
    } else {
      way = lines_.replacement().victim(set);
      ++evictions;
      if (row[way] & kDirtyBit) ++writebacks;
    }
    row[way] = tag | (write ? kDirtyBit : 0u);  // no hashes, no list of valid ways to keep
    lines_.replacement().touch_filled(set, way);
  }
};

struct CacheTiming {
  Cycles cycles = 0;
  ServedBy served_by = ServedBy::Dram;
};

// One vCPU's view of the hierarchy: its L1D and L2, the shared LLC, then DRAM.
class CacheHierarchy {
 public:
  // `walker_enters_at_l2`: page-walk references skip the L1D (a parameter, since cores differ).
  CacheHierarchy(Cache& l1d, Cache& l2, Cache& llc, Cycles dram_cycles, bool walker_enters_at_l2);
  [[gnu::always_inline]] CacheTiming access(Addr address, bool write, Requester who) {
    const Path& path = paths_[who == Requester::Walk ? 1 : 0];
    CacheTiming t;
    // Unrolled: each level's lookup gets branch sites of its own, which see one geometry.
#pragma GCC unroll 3
    for (unsigned i = 0; i < path.count; ++i) {
      Cache& c = *path.levels[i];
      t.cycles += c.config().hit_cycles;
      if (c.access(address, write, who)) {
        t.served_by = path.served_by[i];
        return t;
      }
    }
    t.cycles += dram_cycles_;
    t.served_by = ServedBy::Dram;
    return t;
  }

 private:
  // The enabled levels a requester looks up, in order, decided once.
  struct Path {
    Cache* levels[3] = {};
    ServedBy served_by[3] = {};
    unsigned count = 0;
  };
  Path paths_[2];  // data, walk
  Cycles dram_cycles_;
};

}  // namespace virtsim
