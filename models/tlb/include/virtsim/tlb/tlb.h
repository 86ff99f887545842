#pragma once
// A tagged, set-associative TLB: one array per page size (as Skylake's L1 DTLB has), LRU
// replacement, entries tagged with PCID and VPID/ASID and carrying the rights the walk
// combined. Plain C++: the vCPU calls lookup() inline on every access.
#include <cstdint>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"

namespace virtsim {

struct TlbTags {
  std::uint16_t pcid = 0;
  std::uint16_t vpid = 0;  // VPID or ASID; 0 outside a guest
};

struct TlbEntry {
  bool valid = false;
  bool global = false;
  bool writable = false;
  bool user = false;
  bool executable = false;
  std::uint8_t page_shift = 12;
  std::uint16_t pcid = 0;
  std::uint16_t vpid = 0;
  Addr virtual_page = 0;   // va >> page_shift
  Addr physical_base = 0;  // physical address of the page
  std::uint64_t last_use = 0;

  Addr translate(Addr va) const { return physical_base | (va & ((Addr{1} << page_shift) - 1)); }
};

// Shape of one array: `entries` = sets x ways; ways == entries is fully associative.
struct TlbArrayGeometry {
  unsigned page_shift = 12;
  unsigned entries = 64;
  unsigned ways = 4;
};

struct TlbConfig {
  std::vector<TlbArrayGeometry> arrays;  // arrays with 0 entries are left out
  Cycles hit_cycles = 0;                 // added to an access that hits
};

// The parameters of one TLB, declared once; config() gives the plain values.
class TlbParameters {
 public:
  explicit TlbParameters(const Scope& scope);
  TlbConfig config() const;

  Param<std::uint32_t> entries_4k, ways_4k, entries_2m, ways_2m, entries_1g, ways_1g;
  Param<std::uint32_t> hit_cycles;
};

class Tlb {
 public:
  Tlb(const Scope& scope, const TlbConfig& config);

  // The matching entry, or nullptr; counts an access and a hit or miss.
  const TlbEntry* lookup(Addr va, TlbTags tags) {
    ++accesses;
    ++tick_;
    for (auto& array : arrays_) {
      const Addr page = va >> array.page_shift;
      TlbEntry* set = &array.entries[(page & array.set_mask) * array.ways];
      for (unsigned way = 0; way < array.ways; ++way) {
        TlbEntry& e = set[way];
        if (e.valid && e.virtual_page == page && e.vpid == tags.vpid && (e.global || e.pcid == tags.pcid)) {
          e.last_use = tick_;
          ++hits;
          return &e;
        }
      }
    }
    ++misses;
    return nullptr;
  }

  // Fills an entry for a completed walk, evicting the set's least recently used entry.
  void insert(Addr va, const TlbEntry& entry);
  // INVLPG-like: drops every entry (any PCID, global or not) that maps va for this VPID.
  void invalidate_page(Addr va, std::uint16_t vpid);
  void flush_all();

  const TlbConfig& config() const { return config_; }
  std::size_t valid_entries() const;

  Counter accesses;
  Counter hits;
  Counter misses;
  Counter evictions;
  Counter invalidations;
  Formula miss_rate;

 private:
  struct Array {
    unsigned page_shift;
    unsigned ways;
    Addr set_mask;
    std::vector<TlbEntry> entries;  // set-major
  };
  TlbConfig config_;
  std::vector<Array> arrays_;
  std::uint64_t tick_ = 0;
};

}  // namespace virtsim
