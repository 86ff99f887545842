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

#include "virtsim/common/param.h"
#include "virtsim/common/replacement.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/tag_hints.h"
#include "virtsim/common/units.h"

namespace virtsim {

enum class Requester : std::uint8_t { Data, Walk };
enum class ServedBy : std::uint8_t { L1, L2, Llc, Dram, Flat };

struct CacheConfig {
  bool enabled = true;
  unsigned size_kib = 32;
  unsigned ways = 8;
  unsigned line_bytes = 64;
  Cycles hit_cycles = 4;
  Replacement replacement = Replacement::Lru;
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
  // writeback when the victim is dirty). Returns whether it hit. The hit path is inline: every
  // data access and walker reference of a run takes it at least once.
  [[gnu::always_inline]] bool access(Addr address, bool write, Requester who) {
    ++accesses;
    const Addr tag = address >> line_shift_;
    const std::size_t set = set_of(tag);
    std::uint8_t* block = block_of(set);
    const int way = find_way(block, tag);
    if (way < 0) {
      fill(set, block, tag, write, who);
      return false;
    }
    block[dirty_at_ + static_cast<unsigned>(way)] |= write;
    if (own_order_) ReplacementState::touch_order_word(order_word(block), static_cast<unsigned>(way), config_.ways);
    else replacement_.touch_inline(set, static_cast<unsigned>(way));
    ++hits;
    hits_by_requester.add(static_cast<std::size_t>(who));
    return true;
  }
  bool contains(Addr address) const;
  void flush();

  Counter accesses;
  Counter hits;
  Counter misses;
  Counter writebacks;
  Counter evictions;
  VectorStat hits_by_requester;
  VectorStat misses_by_requester;
  Formula hit_rate;

 private:
  // Everything of a set sits in one block of whole host cache lines, so a lookup touches one
  // or two host lines however far apart the sets of a large last-level cache are:
  //   bytes [0, 8)             the LRU order word (when the policy keeps one per set, below)
  //   [8, 24)                  with 5 to 16 ways, tag hashes (tag_hints.h); an invalid way's
  //                            hash is stale, its tag never matches
  //   [dirty_at_, + ways)      dirty flags
  //   [tags_at_, + 8 ways)     tags (line addresses); an invalid way holds kInvalidTag (no
  //                            line address is all ones)
  // A 4-way set is one host line; the hashes let a 16-way lookup read one tag line of three.
  static constexpr std::size_t kHintsAt = 8;
  static constexpr Addr kInvalidTag = ~Addr{0};
  CacheConfig config_;
  unsigned line_shift_ = 6;
  std::size_t sets_ = 1;
  std::size_t set_mask_ = 0;  // sets - 1 when a power of two, else 0 (modulo indexing)
  std::size_t set_of(Addr tag) const { return set_mask_ || sets_ == 1 ? tag & set_mask_ : tag % sets_; }
  std::vector<std::uint64_t> block_storage_;  // the blocks, 64-byte aligned within it
  std::uint8_t* blocks_ = nullptr;
  std::size_t block_bytes_ = 64;
  std::size_t dirty_at_ = kHintsAt, tags_at_ = 64;
  // Bit w set for every way w of a cache of 5 to 16 ways, whose lookups compare the hashes
  // first; 0 for the others.
  unsigned way_mask_ = 0;
  bool hinted() const { return way_mask_ != 0; }
  bool own_order_ = false;  // LRU of 2 to 16 ways: the order word is in the block, not replacement_
  std::uint8_t* block_of(std::size_t set) const { return blocks_ + set * block_bytes_; }
  // The order word and the tags are std::uint64_t objects of block_storage_ (blocks start
  // 64-byte aligned, tags_at_ is a multiple of 8).
  static std::uint64_t& order_word(std::uint8_t* block) { return *reinterpret_cast<std::uint64_t*>(block); }
  Addr* tags_of(std::uint8_t* block) const { return reinterpret_cast<Addr*>(block + tags_at_); }
  const Addr* tags_of(const std::uint8_t* block) const { return reinterpret_cast<const Addr*>(block + tags_at_); }
  // The way holding `tag`, or -1.
  int find_way(const std::uint8_t* block, Addr tag) const {
    const unsigned ways = config_.ways;
    const Addr* tags = tags_of(block);
    if (hinted())
      return first_holding_way(tag_hint_row_matches(block + kHintsAt, tag) & way_mask_,
                               [&](unsigned way) { return tags[way] == tag; });
    for (unsigned way = 0; way < ways; ++way)
      if (tags[way] == tag) return static_cast<int>(way);
    return -1;
  }
  // A miss: allocate the line (inline too: walks and large footprints miss at every level).
  [[gnu::always_inline]] void fill(std::size_t set, std::uint8_t* block, Addr tag, bool write, Requester who) {
    ++misses;
    misses_by_requester.add(static_cast<std::size_t>(who));
    // A miss fills the first invalid way, and only flush() invalidates (every way), so the
    // valid ways of a set are always a prefix: the set has a free way iff its last way is invalid.
    const unsigned ways = config_.ways;
    Addr* tags = tags_of(block);
    unsigned way = 0;
    if (tags[ways - 1] == kInvalidTag) {
      while (tags[way] != kInvalidTag) ++way;
    } else {
      way = own_order_ ? ReplacementState::order_word_victim(order_word(block)) : replacement_.victim(set);
      ++evictions;
      if (block[dirty_at_ + way]) ++writebacks;
    }
    tags[way] = tag;
    block[dirty_at_ + way] = write;
    if (hinted()) block[kHintsAt + way] = tag_hint(tag);
    if (own_order_) ReplacementState::fill_order_word(order_word(block), way, ways);
    else replacement_.touch_filled(set, way);
  }
  ReplacementState replacement_;  // policies other than LRU of 2 to 16 ways
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
