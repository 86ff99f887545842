#pragma once
// Caches a page walker consults before it reads memory.
//
// - Paging-structure caches, Intel style (SDM vol. 3 4.10.3): per-level caches keyed by the
//   input-address prefix the upper levels translate (PML5E/PML4E/PDPTE/PDE caches). A hit at
//   level L gives the address of the level L-1 table and the rights so far, skipping every
//   reference above it. Organization "prefix".
// - The AMD-style page walk cache (Bhargava et al., ASPLOS 2008, section 3): entries keyed by
//   the physical address of a non-leaf page-table entry; a hit returns the entry without a
//   memory reference. Organization "entry".
// - The nested TLB (Bhargava et al. section 4.2): guest-physical page -> host-physical page,
//   which lets a 2-D walk skip a whole nested walk. An entry covers one nested page, of
//   whatever size the nested tables map it with. Organization "page".
// One SetAssociative array serves all three (LRU by default, any registered replacement
// policy by name); the walker decides what a key means.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/set_associative.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"

namespace virtsim {

struct WalkCacheConfig {
  bool enabled = false;
  bool prefix = true;  // prefix (Intel) or entry (AMD) organization; ignored by the nested TLB
  unsigned entries = 0;
  unsigned ways = 0;   // == entries: fully associative
  Cycles hit_cycles = 0;
  std::string replacement = "lru";
  std::uint64_t seed = 1;  // random replacement
};

// Parameters of one walk cache, declared once. `organizations` lists the allowed values of
// the `organization` parameter (the first is the default); empty for the nested TLB.
class WalkCacheParameters {
 public:
  WalkCacheParameters(const Scope& scope, bool enabled, unsigned entries, unsigned ways, unsigned hit_cycles,
                      std::vector<std::string> organizations, const std::string& what);
  WalkCacheConfig config() const;

  Param<bool> enabled;
  Param<std::string> organization;
  Param<std::uint32_t> entries;
  Param<std::uint32_t> ways;
  Param<std::uint32_t> hit_cycles;
  Param<std::string> replacement;
};

class WalkCache {
 public:
  struct Value {
    Addr address = 0;           // next table, entry value, or host page base
    std::uint64_t aux = 0;      // rights so far / page shift, as the walker packs them
  };

  WalkCache(const Scope& scope, const WalkCacheConfig& config);

  const WalkCacheConfig& config() const { return config_; }
  bool enabled() const { return enabled_; }
  // Enabled and of that organization: what the walker asks at each step, so decided once.
  bool caches_prefixes() const { return prefixes_; }
  bool caches_entries() const { return entries_; }

  // `tag` separates contexts (PCID, VPID/ASID, EPTP); key is the walker's key (never ~0).
  const Value* lookup(std::uint64_t key, std::uint32_t tag) { return lookup_any(&key, 1, tag); }
  // One lookup of whichever of `keys` the cache holds, the first found in order: a cache whose
  // entries cover pages of several sizes keys each at its own size, so a lookup tries each.
  const Value* lookup_any(const std::uint64_t* keys, std::size_t count, std::uint32_t tag) {
    ++lookups;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t set = keys[i] & set_mask_;
      const int way = find_way(set, keys[i], tag);
      if (way < 0) continue;
      array_.touch_listed_first(set, static_cast<unsigned>(way));
      ++hits;
      return &array_.entry(set, static_cast<unsigned>(way)).value;
    }
    ++misses;
    return nullptr;
  }
  void fill(std::uint64_t key, std::uint32_t tag, const Value& value);
  // fill() of a key that a lookup of this walk just missed, and that nothing has filled since:
  // there is no entry to refresh, so the set is not searched for one.
  void fill_missed(std::uint64_t key, std::uint32_t tag, const Value& value) { place(key, tag, value, -1); }
  void flush();                       // every entry
  void flush_tag(std::uint32_t tag);  // every entry of one context
  std::size_t valid_entries() const { return array_.valid_count(); }
  // Checkpoints of the warmed state (mmu_state.cpp): the shape as text, the entries and
  // their replacement state.
  std::string geometry() const;
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);
  // Trades entries with `other`, a cache of the same shape: the caches are the physical CPU's,
  // and go with it to the vCPU that runs next. Statistics stay.
  void swap_entries(WalkCache& other) { std::swap(array_, other.array_); }

  Counter lookups;
  Counter hits;
  Counter misses;
  Counter fills;
  Counter evictions;
  Counter flushed;
  Formula hit_rate;

 private:
  struct Entry {
    std::uint32_t tag = 0;
    Value value;
  };
  // Writes the entry into `way` of its set (a refresh in place), or where the array fills when
  // way < 0.
  void place(std::uint64_t key, std::uint32_t tag, const Value& value, int way);
  int find_way(std::size_t set, std::uint64_t key, std::uint32_t tag) const {
    return array_.find(set, key, [&](unsigned w) { return array_.entry(set, w).tag == tag; });
  }
  static SetAssociative<std::uint64_t, Entry>::Shape shape(const Scope& scope, const WalkCacheConfig& config);
  WalkCacheConfig config_;
  bool enabled_ = false, prefixes_ = false, entries_ = false;
  std::uint64_t set_mask_ = 0;
  // Keys hashed up to 32 ways (the default fully associative 24 and 16 entries): a lookup
  // compares hashes first, and reads only a candidate's tag.
  SetAssociative<std::uint64_t, Entry> array_;
};

}  // namespace virtsim
