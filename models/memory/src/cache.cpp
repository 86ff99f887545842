#include "virtsim/memory/cache.h"

#include <algorithm>
#include <stdexcept>

namespace virtsim {

namespace {
const std::vector<std::string> kRequesters{"data", "walk"};
}

CacheParameters::CacheParameters(const Scope& scope, const Defaults& d, const std::string& what)
    : VIRTSIM_MEMBER(enabled, scope, true, "", "model the " + what + " (off: accesses pass through it)"),
      VIRTSIM_MEMBER(size_kib, scope, d.size_kib, "KiB", "capacity of the " + what, Range{1, 1 << 20}),
      VIRTSIM_MEMBER(ways, scope, d.ways, "ways", "associativity of the " + what, Range{1, 1024}),
      VIRTSIM_MEMBER(hit_cycles, scope, d.hit_cycles, "cycles",
                     "latency of a lookup in the " + what + " (paid on hits and on misses that go on)",
                     Range{0, 10000}),
      VIRTSIM_MEMBER(replacement, scope, "lru", "", replacement_description(), {}, replacement_choices()) {}

CacheConfig CacheParameters::config(unsigned line_bytes, std::uint64_t seed) const {
  return {enabled, size_kib, ways, line_bytes, hit_cycles, replacement, seed};
}

namespace {
// The line size is the platform's parameter (system.line_bytes, checked there too); the
// size and ways are the cache's own (CacheParameters).
std::size_t checked_sets(const Scope& scope, const CacheConfig& c) {
  if (!c.enabled) return 1;
  if (c.line_bytes == 0 || (c.line_bytes & (c.line_bytes - 1)))
    throw ConfigError(scope.path + ": line size " + std::to_string(c.line_bytes) +
                      " bytes is not a power of two (system.line_bytes)");
  const std::uint64_t lines = std::uint64_t{c.size_kib} * 1024 / c.line_bytes;
  if (c.ways == 0 || lines % c.ways != 0)
    throw_config_conflict(scope, {"ways", "size_kib"},
                          std::to_string(c.size_kib) + " KiB in " + std::to_string(c.line_bytes) +
                              "-byte lines do not divide into " + std::to_string(c.ways) +
                              " ways; expected ways that divide the number of lines");
  // Any number of sets: sliced last-level caches (12 MiB, 16-way: 12288 sets) are common.
  return lines / c.ways;
}
}  // namespace

Cache::Lines::Shape Cache::shape(const Scope& scope, const CacheConfig& config) {
  Lines::Shape s;
  s.invalid = kInvalidTag;
  s.replacement = config.replacement;
  s.seed = config.seed;
  s.where = scope.path;
  s.min_ordered_ways = 2;  // a cache often misses: order words from 2 ways
  if (!config.enabled) return s;
  s.sets = checked_sets(scope, config);
  s.ways = config.ways;
  return s;
}

Cache::Cache(const Scope& scope, const CacheConfig& config)
    : VIRTSIM_MEMBER(accesses, scope, "accesses", "lookups"),
      VIRTSIM_MEMBER(hits, scope, "accesses", "lookups that hit"),
      VIRTSIM_MEMBER(misses, scope, "accesses", "lookups that missed"),
      VIRTSIM_MEMBER(writebacks, scope, "lines", "dirty lines evicted"),
      VIRTSIM_MEMBER(evictions, scope, "lines", "valid lines evicted"),
      VIRTSIM_MEMBER(hits_by_requester, scope, "accesses", "hits of data accesses and of page-walk references",
                     kRequesters),
      VIRTSIM_MEMBER(misses_by_requester, scope, "accesses", "misses of data accesses and of page-walk references",
                     kRequesters),
      VIRTSIM_MEMBER(hit_rate, scope, "ratio", "hits / accesses",
                     [this] { return accesses.count() ? static_cast<double>(hits.count()) / accesses.count() : 0.0; }),
      config_(config),
      lines_(shape(scope, config)) {
  if (!config.enabled) return;
  const std::size_t sets = lines_.sets();
  line_shift_ = 0;
  while ((1u << line_shift_) < config.line_bytes) ++line_shift_;
  sets_ = sets;
  sets_power_of_two_ = (sets & (sets - 1)) == 0;
  set_mask_ = sets_power_of_two_ ? sets - 1 : 0;
  while ((std::size_t{1} << set_shift_) < sets) ++set_shift_;
  own_order_ = lines_.replacement().ordered();
  ordered_power_of_two_ = own_order_ && sets_power_of_two_;
  last_way_ = config.ways - 1;
}

bool Cache::access_general(Addr address, bool write, Requester who) {
  std::size_t set;
  const std::uint32_t tag = tag_and_set(address >> line_shift_, set);
  std::uint32_t* row = lines_.row(set);
  if (own_order_) return access_ordered(row, lines_.replacement().order_word(set), tag, write, who);
  return access_other(set, row, tag, write, who);
}

bool Cache::access_other(std::size_t set, std::uint32_t* row, std::uint32_t tag, bool write, Requester who) {
  const int way = lines_.find(set, tag);
  if (way < 0) {
    fill(set, row, tag, write, who);
    return false;
  }
  const auto w = static_cast<unsigned>(way);
  row[w] |= write ? kDirtyBit : 0u;
  lines_.touch_inline(set, w);
  ++hits;
  hits_by_requester.add(static_cast<std::size_t>(who));
  return true;
}

bool Cache::contains(Addr address) const {
  if (!config_.enabled) return false;
  std::size_t set;
  const std::uint32_t tag = tag_and_set(address >> line_shift_, set);
  return lines_.find(set, tag) >= 0;
}

void Cache::flush() {
  // Invalid ways are clean: the dirty flags go with the tags.
  if (config_.enabled) lines_.flush();
}

CacheHierarchy::CacheHierarchy(Cache& l1d, Cache& l2, Cache& llc, Cycles dram_cycles, bool walker_enters_at_l2)
    : dram_cycles_(dram_cycles) {
  Cache* levels[3] = {&l1d, &l2, &llc};
  for (unsigned who = 0; who < 2; ++who) {
    Path& path = paths_[who];
    const unsigned first = who == 1 && walker_enters_at_l2 ? 1 : 0;
    for (unsigned level = first; level < 3; ++level) {
      if (!levels[level]->enabled()) continue;
      path.levels[path.count] = levels[level];
      path.served_by[path.count] = static_cast<ServedBy>(level);
      ++path.count;
    }
  }
}

}  // namespace virtsim
