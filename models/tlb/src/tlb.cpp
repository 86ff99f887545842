#include "virtsim/tlb/tlb.h"

#include <stdexcept>
#include <string>

namespace virtsim {

TlbParameters::TlbParameters(const Scope& scope)
    : VIRTSIM_MEMBER(entries_4k, scope, 64, "entries", "entries for 4 KiB pages (0: no such array)", Range{0, 65536}),
      VIRTSIM_MEMBER(ways_4k, scope, 4, "ways", "associativity of the 4 KiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(entries_2m, scope, 32, "entries", "entries for 2 MiB pages (0: no such array)", Range{0, 65536}),
      VIRTSIM_MEMBER(ways_2m, scope, 4, "ways", "associativity of the 2 MiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(entries_1g, scope, 4, "entries", "entries for 1 GiB pages (0: no such array)", Range{0, 65536}),
      VIRTSIM_MEMBER(ways_1g, scope, 4, "ways", "associativity of the 1 GiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(hit_cycles, scope, 0, "cycles", "latency added to an access that hits", Range{0, 1000}) {}

TlbConfig TlbParameters::config() const {
  TlbConfig c;
  c.arrays = {{12, entries_4k, ways_4k}, {21, entries_2m, ways_2m}, {30, entries_1g, ways_1g}};
  c.hit_cycles = hit_cycles;
  return c;
}

Tlb::Tlb(const Scope& scope, const TlbConfig& config)
    : VIRTSIM_MEMBER(accesses, scope, "lookups", "lookups"),
      VIRTSIM_MEMBER(hits, scope, "lookups", "lookups that found a matching entry"),
      VIRTSIM_MEMBER(misses, scope, "lookups", "lookups that found none"),
      VIRTSIM_MEMBER(evictions, scope, "entries", "valid entries replaced by a fill"),
      VIRTSIM_MEMBER(invalidations, scope, "entries", "entries dropped by invalidation or flush"),
      VIRTSIM_MEMBER(miss_rate, scope, "ratio", "misses / accesses",
                [this] { return accesses.count() ? static_cast<double>(misses.count()) / accesses.count() : 0.0; }),
      config_(config) {
  for (const auto& g : config.arrays) {
    if (g.entries == 0) continue;
    if (g.ways == 0 || g.entries % g.ways != 0)
      throw std::invalid_argument(scope.path + ": " + std::to_string(g.entries) + " entries do not divide into " +
                                  std::to_string(g.ways) + " ways");
    const unsigned sets = g.entries / g.ways;
    if (sets & (sets - 1))
      throw std::invalid_argument(scope.path + ": " + std::to_string(sets) + " sets is not a power of two");
    arrays_.push_back({g.page_shift, g.ways, Addr{sets} - 1, std::vector<TlbEntry>(g.entries)});
  }
}

void Tlb::insert(Addr va, const TlbEntry& entry) {
  for (auto& array : arrays_) {
    if (array.page_shift != entry.page_shift) continue;
    const Addr page = va >> array.page_shift;
    TlbEntry* set = &array.entries[(page & array.set_mask) * array.ways];
    TlbEntry* victim = &set[0];
    for (unsigned way = 0; way < array.ways; ++way) {
      TlbEntry& e = set[way];
      if (!e.valid) { victim = &e; break; }
      if (e.last_use < victim->last_use) victim = &e;
    }
    if (victim->valid) ++evictions;
    *victim = entry;
    victim->valid = true;
    victim->virtual_page = page;
    victim->last_use = ++tick_;
    return;
  }
  // No array for this page size: real TLBs split such a page into the sizes they hold.
  // Cache the 4 KiB piece that was touched if a 4 KiB array exists.
  if (entry.page_shift > 12) {
    TlbEntry piece = entry;
    piece.page_shift = 12;
    piece.physical_base = entry.translate(va) & ~(kPageSize4K - 1);
    for (auto& array : arrays_)
      if (array.page_shift == 12) return insert(va, piece);
  }
}

void Tlb::invalidate_page(Addr va, std::uint16_t vpid) {
  for (auto& array : arrays_) {
    const Addr page = va >> array.page_shift;
    TlbEntry* set = &array.entries[(page & array.set_mask) * array.ways];
    for (unsigned way = 0; way < array.ways; ++way) {
      TlbEntry& e = set[way];
      if (e.valid && e.virtual_page == page && e.vpid == vpid) {
        e.valid = false;
        ++invalidations;
      }
    }
  }
}

void Tlb::flush_all() {
  for (auto& array : arrays_)
    for (auto& e : array.entries)
      if (e.valid) {
        e.valid = false;
        ++invalidations;
      }
}

std::size_t Tlb::valid_entries() const {
  std::size_t n = 0;
  for (const auto& array : arrays_)
    for (const auto& e : array.entries) n += e.valid;
  return n;
}

}  // namespace virtsim
