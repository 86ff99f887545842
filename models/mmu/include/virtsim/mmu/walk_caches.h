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
// One small set-associative LRU array serves all three; the walker decides what a key means.
#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/tag_hints.h"
#include "virtsim/common/units.h"

namespace virtsim {

struct WalkCacheConfig {
  bool enabled = false;
  bool prefix = true;  // prefix (Intel) or entry (AMD) organization; ignored by the nested TLB
  unsigned entries = 0;
  unsigned ways = 0;   // == entries: fully associative
  Cycles hit_cycles = 0;
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
      const int way = find_way(keys[i], tag);
      if (way < 0) continue;
      make_newest(set, static_cast<std::uint32_t>(set * ways_) + static_cast<unsigned>(way));
      ++hits;
      return &values_[set * ways_ + static_cast<unsigned>(way)];
    }
    ++misses;
    return nullptr;
  }
  void fill(std::uint64_t key, std::uint32_t tag, const Value& value);
  // fill() of a key that a lookup of this walk just missed, and that nothing has filled since:
  // there is no entry to refresh, so the set is not searched.
  void fill_missed(std::uint64_t key, std::uint32_t tag, const Value& value) { place(key, tag, value, -1); }
  void flush();                       // every entry
  void flush_tag(std::uint32_t tag);  // every entry of one context
  std::size_t valid_entries() const;

  Counter lookups;
  Counter hits;
  Counter misses;
  Counter fills;
  Counter evictions;
  Counter flushed;
  Formula hit_rate;

 private:
  static constexpr std::uint64_t kInvalid = ~std::uint64_t{0};
  // Writes the entry into `way` of its set (a refresh in place), or into the set's LRU slot
  // when way < 0.
  void place(std::uint64_t key, std::uint32_t tag, const Value& value, int way);
  WalkCacheConfig config_;
  bool enabled_ = false, prefixes_ = false, entries_ = false;
  unsigned ways_ = 0;
  std::uint64_t set_mask_ = 0;
  // Set-major arrays, one slot per entry; an invalid slot has key kInvalid.
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> tags_;
  std::vector<Value> values_;
  std::vector<std::uint8_t> hints_;  // key hashes, kWideTagHintStride per set; empty above 32 ways
  // LRU as a list per set through its slots (indices into the arrays above), so a fill finds
  // its victim at the list's end instead of scanning the set: the fill of a 2-D walk's nested
  // TLB and page walk caches is on every TLB miss under nesting. Invalid slots sit at the
  // least-recent end, so a fill takes one before it evicts.
  std::vector<std::uint32_t> older_, newer_;  // per slot: its neighbours toward the LRU and the MRU end
  std::vector<std::uint32_t> oldest_, newest_;  // per set: the slots at the two ends
  void make_newest(std::size_t set, std::uint32_t slot) {
    const std::uint32_t newest = newest_[set];
    if (slot == newest) return;
    const std::uint32_t newer = newer_[slot];  // exists: slot is not the newest
    if (slot == oldest_[set]) oldest_[set] = newer;
    else newer_[older_[slot]] = newer;
    older_[newer] = older_[slot];
    older_[slot] = newest;
    newer_[newest] = slot;
    newest_[set] = slot;
  }
  // An invalidated slot goes to the least-recent end.
  void make_oldest(std::size_t set, std::uint32_t slot) {
    const std::uint32_t oldest = oldest_[set];
    if (slot == oldest) return;
    const std::uint32_t older = older_[slot];  // exists: slot is not the oldest
    if (slot == newest_[set]) newest_[set] = older;
    else older_[newer_[slot]] = older;
    newer_[older] = newer_[slot];
    newer_[slot] = oldest;
    older_[oldest] = slot;
    oldest_[set] = slot;
  }
  // The way of `key` and `tag` in its set, or -1. Up to 32 ways (the default fully associative
  // 24 and 16 entries) compare the keys' hashes first; keys and tags sit in arrays of their
  // own so a scan reads 8 and 4 bytes per way.
  int find_way(std::uint64_t key, std::uint32_t tag) const {
    const std::size_t set = key & set_mask_;
    const std::size_t base = set * ways_;
    const auto holds = [&](unsigned w) { return keys_[base + w] == key && tags_[base + w] == tag; };
    return !hints_.empty()
               ? first_holding_way(tag_hint_matches_wide(&hints_[set * kWideTagHintStride], key, ways_), holds)
               : scan(holds);
  }
  template <typename Holds>
  int scan(Holds holds) const {
    for (unsigned w = 0; w < ways_; ++w)
      if (holds(w)) return static_cast<int>(w);
    return -1;
  }
};

}  // namespace virtsim
