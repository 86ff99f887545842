#include "virtsim/tlb/tlb.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace virtsim {

const std::vector<std::string> kInvalidationNames{
    "invlpg",         "mov_to_cr3",       "cr4_change",     "invpcid_address", "invpcid_single",
    "invpcid_all",    "invpcid_all_but_global", "invvpid_address", "invvpid_single", "invvpid_all",
    "invvpid_single_but_global", "invept_single", "invept_global", "svm_tlb_control", "invlpga",
    "transition_flush"};

namespace {
const std::vector<std::string> kSizeLabels{"4K", "2M", "4M", "1G"};
}

TlbParameters::TlbParameters(const Scope& scope, const Defaults& d)
    : VIRTSIM_MEMBER(entries_4k, scope, d.entries_4k, "entries", "entries for 4 KiB pages (0: no such array)",
                     Range{0, 65536}),
      VIRTSIM_MEMBER(ways_4k, scope, d.ways_4k, "ways", "associativity of the 4 KiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(entries_2m, scope, d.entries_2m, "entries", "entries for 2 MiB pages (0: no such array)",
                     Range{0, 65536}),
      VIRTSIM_MEMBER(ways_2m, scope, d.ways_2m, "ways", "associativity of the 2 MiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(entries_4m, scope, 0, "entries",
                     "entries for 4 MiB pages of 32-bit paging (0: none; such pages are cached as 2 MiB or 4 KiB pieces)",
                     Range{0, 65536}),
      VIRTSIM_MEMBER(ways_4m, scope, 4, "ways", "associativity of the 4 MiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(entries_1g, scope, d.entries_1g, "entries", "entries for 1 GiB pages (0: no such array)",
                     Range{0, 65536}),
      VIRTSIM_MEMBER(ways_1g, scope, d.ways_1g, "ways", "associativity of the 1 GiB array", Range{1, 65536}),
      VIRTSIM_MEMBER(mixed_entries, scope, d.mixed_entries, "entries",
                     "entries of an array that holds every page size (0: none)", Range{0, 65536}),
      VIRTSIM_MEMBER(mixed_ways, scope, d.mixed_ways ? d.mixed_ways : 4, "ways",
                     "associativity of the mixed array (= entries: fully associative)", Range{1, 65536}),
      VIRTSIM_MEMBER(hit_cycles, scope, d.hit_cycles, "cycles", "latency added to an access that hits",
                     Range{0, 1000}),
      VIRTSIM_MEMBER(replacement, scope, "lru", "", replacement_description(), {}, replacement_choices()) {}

TlbConfig TlbParameters::config(std::uint64_t seed) const {
  TlbConfig c;
  c.arrays = {{12, entries_4k, ways_4k}, {21, entries_2m, ways_2m}, {22, entries_4m, ways_4m},
              {30, entries_1g, ways_1g},  {0, mixed_entries, mixed_ways}};
  c.hit_cycles = hit_cycles;
  c.replacement = replacement;
  c.seed = seed;
  return c;
}

Tlb::Tlb(const Scope& scope, const TlbConfig& config)
    : VIRTSIM_MEMBER(accesses, scope, "lookups", "lookups"),
      VIRTSIM_MEMBER(hits, scope, "lookups", "lookups that found a matching entry"),
      VIRTSIM_MEMBER(misses, scope, "lookups", "lookups that found none"),
      VIRTSIM_MEMBER(evictions, scope, "entries", "valid entries replaced by a fill"),
      VIRTSIM_MEMBER(invalidations, scope, "entries", "entries dropped by invalidations and flushes"),
      VIRTSIM_MEMBER(hits_4k, scope, "lookups", "hits on 4 KiB entries"),
      VIRTSIM_MEMBER(hits_2m, scope, "lookups", "hits on 2 MiB entries"),
      VIRTSIM_MEMBER(hits_4m, scope, "lookups", "hits on 4 MiB entries"),
      VIRTSIM_MEMBER(hits_1g, scope, "lookups", "hits on 1 GiB entries"),
      VIRTSIM_MEMBER(fills_by_size, scope, "entries", "fills per page size", kSizeLabels),
      VIRTSIM_MEMBER(evictions_by_size, scope, "entries", "evictions per page size of the victim", kSizeLabels),
      VIRTSIM_MEMBER(invalidated_by_kind, scope, "entries", "entries dropped per invalidation operation",
                     kInvalidationNames),
      VIRTSIM_MEMBER(operations_by_kind, scope, "operations", "invalidation operations executed", kInvalidationNames),
      VIRTSIM_MEMBER(miss_rate, scope, "ratio", "misses / accesses",
                     [this] { return accesses.count() ? static_cast<double>(misses.count()) / accesses.count() : 0.0; }),
      config_(config) {
  for (const auto& g : config.arrays) {
    if (g.entries == 0) continue;
    // The parameters of this array (TlbParameters), for the errors.
    const std::string size = g.page_shift == 12 ? "4k" : g.page_shift == 21 ? "2m" : g.page_shift == 22 ? "4m" : "1g";
    const std::vector<std::string> keys = g.page_shift == 0 ? std::vector<std::string>{"mixed_entries", "mixed_ways"}
                                                            : std::vector<std::string>{"entries_" + size, "ways_" + size};
    check_set_geometry(scope, keys, g.entries, g.ways, ", or 0 for no such array");
    const unsigned sets = g.entries / g.ways;
    SetAssociative<Addr, TlbEntry>::Shape shape;
    shape.sets = sets;
    shape.ways = g.ways;
    shape.invalid = kNoPage;
    shape.replacement = config.replacement;
    shape.seed = config.seed + arrays_.size();
    shape.where = scope.path;
    shape.hints = g.ways > 4 && g.ways <= kTagHintStride && sets > 1;  // fully associative: a plain scan
    shape.track_valid = true;
    arrays_.push_back(Array{g.page_shift == 0, g.page_shift, size_index(g.page_shift), g.ways, g.entries, Addr{sets} - 1,
                            SetAssociative<Addr, TlbEntry>(shape), &size_hits(g.page_shift)});
  }
  for (unsigned shift = 0; shift < kTargetShifts; ++shift) targets_[shift] = find_target(shift);
  probe_4k_first_ = !arrays_.empty() && !arrays_.front().mixed && arrays_.front().page_shift == kPageShift4K &&
                    !arrays_.front().slots.hashed();
}

Tlb::Target Tlb::find_target(unsigned page_shift) {
  Array* exact = nullptr;
  Array* mixed = nullptr;
  Array* piece = nullptr;  // the largest smaller size held, for splintering
  for (auto& array : arrays_) {
    if (array.mixed) mixed = &array;
    else if (array.page_shift == page_shift) exact = &array;
    else if (array.page_shift < page_shift && (!piece || array.page_shift > piece->page_shift)) piece = &array;
  }
  if (exact || mixed) return {exact ? exact : mixed, false, page_shift, size_index(page_shift)};
  if (!piece) return {};
  return {piece, true, piece->page_shift, piece->size_slot};
}

TlbEntry* Tlb::lookup_hashed(Array& array, std::size_t set, Addr page, const TlbTags& tags) {
  const int way = array.slots.find(set, page, [&](unsigned w) { return matches(array.slots.entry(set, w), tags); });
  return way < 0 ? nullptr : hit(array, set, static_cast<unsigned>(way));
}

[[gnu::hot]] TlbEntry* Tlb::lookup_mixed(Array& array, Addr va, const TlbTags& tags) {
  if (array.set_mask == 0) {  // fully associative: one scan compares every entry at its own size
    for (unsigned way = 0; way < array.ways; ++way) {
      TlbEntry& e = array.slots.entry(0, way);
      if (e.valid && e.maps(va) && matches(e, tags)) {
        touch(array, 0, way);
        ++hits;
        ++size_hits(e.page_shift);
        return &e;
      }
    }
    return nullptr;
  }
  // Set-associative: one probe per page size held, smallest first.
  for (unsigned held = array.sizes_held; held; held &= held - 1) {
    static constexpr unsigned kShiftOfSize[4] = {12, 21, 22, 30};
    const unsigned shift = kShiftOfSize[__builtin_ctz(held)];
    const std::size_t set = (va >> shift) & array.set_mask;
    const Addr page = va >> shift;
    const auto found = [&](unsigned way) {
      array.slots.touch_inline(set, way);  // out of line here: the larger inline form costs nothing
      ++hits;
      ++size_hits(shift);
      return &array.slots.entry(set, way);
    };
    const int way = array.slots.find(set, page, [&](unsigned w) {
      const TlbEntry& e = array.slots.entry(set, w);
      return e.page_shift == shift && matches(e, tags);
    });
    if (way >= 0) return found(static_cast<unsigned>(way));
  }
  return nullptr;
}

const TlbEntry* Tlb::probe(Addr va, TlbTags tags) const {
  for (const auto& array : arrays_) {
    const TlbEntry* found = nullptr;
    array.slots.for_each_valid([&](std::size_t set, unsigned way) {
      const TlbEntry& e = array.slots.entry(set, way);
      if (!found && e.maps(va) && matches(e, tags)) found = &e;
    });
    if (found) return found;
  }
  return nullptr;
}

[[gnu::hot]] void Tlb::insert(Addr va, const TlbEntry& entry) {
  // A lookup of va's page with these tags that found nothing, and no fill since, leaves no
  // entry to refresh (any entry this fill could refresh would have matched that lookup).
  const bool fresh = missed_page_ == (va >> kPageShift4K) && entry.vpid == missed_tags_.vpid &&
                     entry.nested_context == missed_tags_.nested_context &&
                     (entry.global || entry.pcid == missed_tags_.pcid);
  missed_page_ = kNoPage;
  const unsigned shift = entry.page_shift;
  const Target target = shift < kTargetShifts ? targets_[shift] : find_target(shift);
  if (!target.array) return;  // nothing can hold it
  Array& array = *target.array;
  const unsigned held_shift = target.held_shift;
  const Addr page = va >> held_shift;
  const std::size_t set = page & array.set_mask;
  auto& slots = array.slots;
  // An existing entry for the same page and tags is refreshed in place; else an invalid way is
  // filled before any valid one is replaced. A fresh fill of a full array (the steady state)
  // searches nothing.
  unsigned free = array.ways;
  int found = -1;
  if (!fresh) {
    found = slots.find_and_free(set, page, [&](unsigned w) {
      const TlbEntry& e = slots.entry(set, w);
      return e.page_shift == held_shift && e.vpid == entry.vpid && e.pcid == entry.pcid &&
             e.nested_context == entry.nested_context && e.global == entry.global;
    }, free);
  } else if (slots.valid_count() < array.capacity) {
    free = slots.free_way(set);
  }
  unsigned way;
  if (found >= 0) {
    way = static_cast<unsigned>(found);
  } else {
    bool evicts;
    way = slots.way_to_fill(set, free, evicts);
    if (evicts) {
      // The victim's entry is read only in a mixed array, for its size: the entries sit on
      // host lines the fill has not touched yet.
      ++evictions;
      evictions_by_size.add(array.mixed ? size_index(slots.entry(set, way).page_shift) : array.size_slot);
    }
  }
  // The entry is written once, in its slot: as walked, or as the piece of it the array holds.
  TlbEntry& e = slots.entry(set, way);
  e = entry;
  e.valid = true;
  if (e.mapping_shift < shift) e.mapping_shift = static_cast<std::uint8_t>(shift);
  e.virtual_page = page;
  if (target.splinter) {
    e.physical_base = entry.translate(va) & ~((Addr{1} << held_shift) - 1);
    e.page_shift = static_cast<std::uint8_t>(held_shift);
  }
  array.holds_pieces |= e.mapping_shift > held_shift;
  array.sizes_held |= 1u << target.size_slot;
  array.ever_filled = true;
  fills_by_size.add(target.size_slot);
  slots.fill(set, way, page);
}

void Tlb::count_invalidation(Invalidation kind, std::uint64_t dropped) {
  invalidations += dropped;
  invalidated_by_kind.add(static_cast<std::size_t>(kind), dropped);
  operations_by_kind.add(static_cast<std::size_t>(kind));
  if (debug_trace::on(debug_trace::kTlb)) trace_invalidation(kInvalidationNames[static_cast<std::size_t>(kind)], dropped);
}

template <typename Predicate>
void Tlb::invalidate_if(Invalidation kind, Predicate drop_if) {
  std::uint64_t dropped = 0;
  for (auto& array : arrays_) {
    dropped += array.slots.invalidate_if([&](std::size_t set, unsigned way) {
      TlbEntry& e = array.slots.entry(set, way);
      if (!drop_if(e)) return false;
      e.valid = false;
      return true;
    });
    if (array.slots.valid_count() == 0) array.holds_pieces = false;
  }
  count_invalidation(kind, dropped);
}

template <typename Predicate>
void Tlb::invalidate_address(Invalidation kind, Addr va, Predicate drop_if) {
  std::uint64_t dropped = 0;
  for (auto& array : arrays_) {
    if (!array.ever_filled) continue;
    const auto drop = [&](std::size_t set, unsigned way) {
      TlbEntry& e = array.slots.entry(set, way);
      if (!drop_if(e)) return false;
      e.valid = false;
      return true;
    };
    if (array.holds_pieces || array.set_mask == 0) {  // pieces across sets, or one set: the valid entries
      dropped += array.slots.invalidate_if(drop);
      if (array.slots.valid_count() == 0) array.holds_pieces = false;
      continue;
    }
    for (unsigned held = array.sizes_held; held; held &= held - 1) {
      static constexpr unsigned kShiftOfSize[4] = {12, 21, 22, 30};
      const Addr page = va >> kShiftOfSize[__builtin_ctz(held)];
      dropped += array.slots.invalidate_key_in_set(page & array.set_mask, page, drop);
    }
  }
  count_invalidation(kind, dropped);
}

void Tlb::invlpg(Addr va, TlbTags current) {
  invalidate_address(Invalidation::Invlpg, va, [&](const TlbEntry& e) {
    return e.vpid == current.vpid && e.same_mapping(va) && (e.global || e.pcid == current.pcid);
  });
}

void Tlb::mov_to_cr3(std::uint16_t new_pcid, bool pcide, bool no_flush, std::uint16_t vpid) {
  if (pcide && no_flush) {
    operations_by_kind.add(static_cast<std::size_t>(Invalidation::MovToCr3));
    return;
  }
  const std::uint16_t pcid = pcide ? new_pcid : 0;
  invalidate_if(Invalidation::MovToCr3,
                [&](const TlbEntry& e) { return e.vpid == vpid && !e.global && e.pcid == pcid; });
}

void Tlb::cr4_change(std::uint16_t vpid) {
  invalidate_if(Invalidation::Cr4Change, [&](const TlbEntry& e) { return e.vpid == vpid; });
}

void Tlb::invpcid(unsigned type, std::uint16_t pcid, Addr va, std::uint16_t vpid) {
  switch (type) {
    case 0:
      return invalidate_address(Invalidation::InvpcidAddress, va, [&](const TlbEntry& e) {
        return e.vpid == vpid && !e.global && e.pcid == pcid && e.same_mapping(va);
      });
    case 1:
      return invalidate_if(Invalidation::InvpcidSingle,
                           [&](const TlbEntry& e) { return e.vpid == vpid && !e.global && e.pcid == pcid; });
    case 2:
      return invalidate_if(Invalidation::InvpcidAllWithGlobals, [&](const TlbEntry& e) { return e.vpid == vpid; });
    case 3:
      return invalidate_if(Invalidation::InvpcidAllButGlobals,
                           [&](const TlbEntry& e) { return e.vpid == vpid && !e.global; });
    default: throw std::invalid_argument("INVPCID type " + std::to_string(type) + " (expected 0-3)");
  }
}

void Tlb::invvpid(unsigned type, std::uint16_t vpid, Addr va) {
  switch (type) {
    case 0:
      return invalidate_address(Invalidation::InvvpidAddress, va,
                           [&](const TlbEntry& e) { return e.vpid == vpid && e.same_mapping(va); });
    case 1: return invalidate_if(Invalidation::InvvpidSingle, [&](const TlbEntry& e) { return e.vpid == vpid; });
    case 2: return invalidate_if(Invalidation::InvvpidAll, [](const TlbEntry& e) { return e.vpid != 0; });
    case 3:
      return invalidate_if(Invalidation::InvvpidSingleButGlobals,
                           [&](const TlbEntry& e) { return e.vpid == vpid && !e.global; });
    default: throw std::invalid_argument("INVVPID type " + std::to_string(type) + " (expected 0-3)");
  }
}

void Tlb::invept(bool global, std::uint16_t nested_context) {
  if (global)
    return invalidate_if(Invalidation::InveptGlobal, [](const TlbEntry& e) { return e.nested_context != 0; });
  invalidate_if(Invalidation::InveptSingle,
                [&](const TlbEntry& e) { return e.nested_context != 0 && e.nested_context == nested_context; });
}

void Tlb::svm_tlb_control(unsigned value, std::uint16_t asid) {
  switch (value) {
    case 0: operations_by_kind.add(static_cast<std::size_t>(Invalidation::SvmTlbControl)); return;
    case 1: return invalidate_if(Invalidation::SvmTlbControl, [](const TlbEntry&) { return true; });
    case 3: return invalidate_if(Invalidation::SvmTlbControl, [&](const TlbEntry& e) { return e.vpid == asid; });
    case 7:
      return invalidate_if(Invalidation::SvmTlbControl,
                           [&](const TlbEntry& e) { return e.vpid == asid && !e.global; });
    default: throw std::invalid_argument("TLB_CONTROL " + std::to_string(value) + " (expected 0, 1, 3 or 7)");
  }
}

void Tlb::invlpga(Addr va, std::uint16_t asid) {
  invalidate_address(Invalidation::Invlpga, va, [&](const TlbEntry& e) { return e.vpid == asid && e.same_mapping(va); });
}

void Tlb::transition_flush() {
  invalidate_if(Invalidation::TransitionFlush, [](const TlbEntry& e) { return e.vpid == 0; });
}

void Tlb::swap_entries(Tlb& other) {
  if (arrays_.size() != other.arrays_.size())
    throw std::logic_error("Tlb::swap_entries: TLBs of different shapes");
  for (std::size_t i = 0; i < arrays_.size(); ++i) {
    Array& a = arrays_[i];
    Array& b = other.arrays_[i];
    std::swap(a.slots, b.slots);
    std::swap(a.sizes_held, b.sizes_held);
    std::swap(a.ever_filled, b.ever_filled);
    std::swap(a.holds_pieces, b.holds_pieces);
  }
  missed_page_ = other.missed_page_ = kNoPage;  // entries came in that no lookup has seen
}

void Tlb::flush_all() {
  std::uint64_t dropped = 0;
  for (auto& array : arrays_) {
    array.slots.for_each_valid([&](std::size_t set, unsigned way) { array.slots.entry(set, way).valid = false; });
    dropped += array.slots.flush();
    array.holds_pieces = false;
  }
  invalidations += dropped;
  if (debug_trace::on(debug_trace::kTlb)) trace_invalidation("flush_all", dropped);
}

// The TLB's name in trace lines: its statistics' common prefix ("system.cpu0.dtlb").
std::string Tlb::trace_name() const {
  const std::string& stat = accesses.name();
  return stat.substr(0, stat.rfind('.'));
}

void Tlb::trace_miss(Addr va) const {
  debug_trace::line(debug_trace::kTlb, "%s miss va=0x%llx", trace_name().c_str(), static_cast<unsigned long long>(va));
}

void Tlb::trace_invalidation(const std::string& operation, std::uint64_t dropped) const {
  debug_trace::line(debug_trace::kTlb, "%s invalidate %s dropped=%llu", trace_name().c_str(), operation.c_str(),
                    static_cast<unsigned long long>(dropped));
}

std::size_t Tlb::valid_entries() const {
  std::size_t n = 0;
  for (const auto& array : arrays_) n += array.slots.valid_count();
  return n;
}

std::vector<TlbEntry> Tlb::entries() const {
  std::vector<TlbEntry> out;
  for (const auto& array : arrays_)
    array.slots.for_each_valid([&](std::size_t set, unsigned way) { out.push_back(array.slots.entry(set, way)); });
  return out;
}

// ---- hierarchy ----

TlbHierarchyParameters::TlbHierarchyParameters(const Scope& scope)
    // ITLB: Skylake 128 entries 8-way for 4 KiB (Intel Optimization Manual, Skylake TLB table);
    // 8 entries for 2 MiB pages is an assumption. STLB: Skylake's 1536 entries shared by 4 KiB
    // and 2 MiB pages (same table) as a 12-way mixed array; 12 cycles per hit is a Haswell
    // figure of unpinned origin (docs/references.md, "TLB, walk-cache and cache geometry").
    : itlb(scope.child("itlb"), {128, 8, 8, 8, 0, 4, 0, 0, 0}),
      dtlb(scope.child("dtlb")),
      stlb(scope.child("stlb"), {0, 4, 0, 4, 0, 4, 1536, 12, 12}),
      VIRTSIM_MEMBER(itlb_enabled, scope, true, "", "instruction fetches use their own L1 ITLB (else the DTLB)"),
      VIRTSIM_MEMBER(stlb_enabled, scope, true, "", "a unified second-level TLB behind the L1 TLBs") {}

namespace {
TlbConfig maybe(bool on, const TlbParameters& p, std::uint64_t seed) { return on ? p.config(seed) : TlbConfig{}; }
}  // namespace

TlbHierarchy::TlbHierarchy(const Scope& scope, const TlbHierarchyParameters& p, std::uint64_t seed)
    : itlb(scope.child("itlb"), maybe(p.itlb_enabled, p.itlb, seed)),
      dtlb(scope.child("dtlb"), p.dtlb.config(seed + 1)),
      stlb(scope.child("stlb"), maybe(p.stlb_enabled, p.stlb, seed + 2)),
      itlb_on_(p.itlb_enabled),
      stlb_on_(p.stlb_enabled) {}

TlbLookup TlbHierarchy::lookup_second_level(Addr va, AccessKind kind, TlbTags tags) {
  TlbLookup r;
  if (!stlb_on_) return r;
  r.cycles = stlb.config().hit_cycles;
  if (const TlbEntry* e = stlb.lookup(va, tags)) {
    Tlb& first = l1(kind);
    first.insert(va, *e);
    r.entry = first.probe(va, tags);
    if (!r.entry) r.entry = e;  // the L1 cannot hold this size: use the STLB entry
    r.level = 2;
  }
  return r;
}

TlbLookup TlbHierarchy::lookup(Addr va, AccessKind kind, TlbTags tags) {
  Tlb& first = l1(kind);
  if (const TlbEntry* e = first.lookup(va, tags)) return {e, 1, first.config().hit_cycles};
  TlbLookup r = lookup_second_level(va, kind, tags);
  r.cycles += first.config().hit_cycles;
  return r;
}

[[gnu::hot]] void TlbHierarchy::fill(Addr va, AccessKind kind, const TlbEntry& entry) {
  l1(kind).insert(va, entry);
  if (stlb_on_) stlb.insert(va, entry);
}

}  // namespace virtsim
