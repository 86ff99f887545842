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
      VIRTSIM_MEMBER(hit_cycles, scope, hit, "cycles", "latency of a hit in the " + what, Range{0, 1000}),
      VIRTSIM_MEMBER(replacement, scope, "lru", "", replacement_description(), {}, replacement_choices()) {}

WalkCacheConfig WalkCacheParameters::config() const {
  return {enabled, organization.get() != "entry", entries, ways, hit_cycles, replacement, 1};
}

SetAssociative<std::uint64_t, WalkCache::Entry>::Shape WalkCache::shape(const Scope& scope,
                                                                        const WalkCacheConfig& config) {
  SetAssociative<std::uint64_t, Entry>::Shape s;
  if (!config.enabled) return s;
  check_set_geometry(scope, {"entries", "ways"}, config.entries, config.ways);
  s.sets = config.entries / config.ways;
  s.ways = config.ways;
  s.replacement = config.replacement;
  s.seed = config.seed;
  s.where = scope.path;
  s.hints = true;
  // LRU as a list per set at every size: a fill (on every walk that misses) takes the list's
  // end without a search.
  s.min_listed_ways = 1;
  return s;
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
      config_(config),
      array_(shape(scope, config)) {
  if (!config.enabled) return;
  set_mask_ = array_.sets() - 1;
  enabled_ = true;
  prefixes_ = config.prefix;
  entries_ = !config.prefix;
}

void WalkCache::fill(std::uint64_t key, std::uint32_t tag, const Value& value) {
  place(key, tag, value, find_way(key & set_mask_, key, tag));
}

[[gnu::hot]] void WalkCache::place(std::uint64_t key, std::uint32_t tag, const Value& value, int found) {
  const std::size_t set = key & set_mask_;
  unsigned way;
  if (found >= 0) {
    way = static_cast<unsigned>(found);  // a refresh in place
  } else {
    bool evicts;
    way = array_.way_to_fill(set, evicts);
    evictions += evicts;
  }
  array_.fill(set, way, key);
  array_.entry(set, way) = {tag, value};
  ++fills;
}

void WalkCache::flush() { flushed += array_.flush(); }

void WalkCache::flush_tag(std::uint32_t tag) {
  flushed += array_.invalidate_if([&](std::size_t set, unsigned way) { return array_.entry(set, way).tag == tag; });
}

}  // namespace virtsim
