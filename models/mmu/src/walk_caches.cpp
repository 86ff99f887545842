#include "virtsim/mmu/walk_caches.h"

#include <stdexcept>

namespace virtsim {

WalkCacheParameters::WalkCacheParameters(const Scope& scope, bool on, unsigned n, unsigned w, unsigned hit,
                                         std::vector<std::string> organizations, const std::string& what)
    : VIRTSIM_MEMBER(enabled, scope, on, "", "use the " + what),
      VIRTSIM_MEMBER(organization, scope, organizations.empty() ? std::string("page") : organizations.front(), "",
                     organizations.empty()
                         ? "page (the only one): each entry maps one nested page, guest-physical to host-physical, "
                           "at the size the nested tables map it (4 KiB, 2 MiB or 1 GiB)"
                         : "prefix: Intel-style per-level caches keyed by the address prefix; entry: AMD-style "
                           "cache keyed by the physical address of entries",
                     Range{}, organizations.empty() ? std::vector<std::string>{"page"} : organizations),
      VIRTSIM_MEMBER(entries, scope, n, "entries", "entries of the " + what, Range{1, 65536}),
      VIRTSIM_MEMBER(ways, scope, w, "ways", "associativity of the " + what + " (= entries: fully associative)",
                     Range{1, 65536}),
      VIRTSIM_MEMBER(hit_cycles, scope, hit, "cycles", "latency of a hit in the " + what, Range{0, 1000}) {}

WalkCacheConfig WalkCacheParameters::config() const {
  return {enabled, organization.get() != "entry", entries, ways, hit_cycles};
}

WalkCache::WalkCache(const Scope& scope, const WalkCacheConfig& config)
    : VIRTSIM_MEMBER(lookups, scope, "lookups", "lookups"),
      VIRTSIM_MEMBER(hits, scope, "lookups", "lookups that hit"),
      VIRTSIM_MEMBER(misses, scope, "lookups", "lookups that missed"),
      VIRTSIM_MEMBER(fills, scope, "entries", "entries written"),
      VIRTSIM_MEMBER(evictions, scope, "entries", "valid entries replaced by a fill"),
      VIRTSIM_MEMBER(flushed, scope, "entries", "entries dropped by invalidations"),
      VIRTSIM_MEMBER(hit_rate, scope, "ratio", "hits / lookups",
                     [this] { return lookups.count() ? static_cast<double>(hits.count()) / lookups.count() : 0.0; }),
      config_(config) {
  if (!config.enabled) return;
  check_set_geometry(scope, {"entries", "ways"}, config.entries, config.ways);
  const unsigned sets = config.entries / config.ways;
  ways_ = config.ways;
  set_mask_ = sets - 1;
  keys_.assign(config.entries, kInvalid);
  tags_.assign(config.entries, 0);
  values_.assign(config.entries, Value{});
  older_.resize(config.entries);
  newer_.resize(config.entries);
  oldest_.resize(sets);
  newest_.resize(sets);
  for (std::size_t set = 0; set < sets; ++set) {
    const auto base = static_cast<std::uint32_t>(set * ways_);
    for (std::uint32_t w = 0; w < ways_; ++w) {
      older_[base + w] = base + w - (w > 0);  // the ends' own links are never read
      newer_[base + w] = base + w + (w + 1 < ways_);
    }
    oldest_[set] = base;
    newest_[set] = base + ways_ - 1;
  }
  if (ways_ <= kWideTagHintStride) hints_.assign(sets * kWideTagHintStride, 0);
  enabled_ = !keys_.empty();
  prefixes_ = enabled_ && config.prefix;
  entries_ = enabled_ && !config.prefix;
}

void WalkCache::fill(std::uint64_t key, std::uint32_t tag, const Value& value) { place(key, tag, value, find_way(key, tag)); }

[[gnu::hot]] void WalkCache::place(std::uint64_t key, std::uint32_t tag, const Value& value, int way) {
  const std::size_t set = key & set_mask_;
  const std::size_t base = set * ways_;
  std::uint32_t slot;
  if (way >= 0) {
    slot = static_cast<std::uint32_t>(base) + static_cast<unsigned>(way);  // refresh in place
  } else {
    slot = oldest_[set];  // an invalid slot while the set has one, else the LRU entry
    if (keys_[slot] != kInvalid) ++evictions;
  }
  make_newest(set, slot);
  keys_[slot] = key;
  tags_[slot] = tag;
  values_[slot] = value;
  if (!hints_.empty()) hints_[set * kWideTagHintStride + (slot - base)] = tag_hint(key);
  ++fills;
}

void WalkCache::flush() {
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (keys_[i] != kInvalid) {
      keys_[i] = kInvalid;
      ++flushed;
    }
  // Every slot is invalid: any order will do.
}

void WalkCache::flush_tag(std::uint32_t tag) {
  for (std::uint32_t i = 0; i < keys_.size(); ++i)
    if (keys_[i] != kInvalid && tags_[i] == tag) {
      keys_[i] = kInvalid;
      make_oldest(i / ways_, i);
      ++flushed;
    }
}

std::size_t WalkCache::valid_entries() const {
  std::size_t n = 0;
  for (auto k : keys_) n += k != kInvalid;
  return n;
}

}  // namespace virtsim
