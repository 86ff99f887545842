#pragma once
// Tagged TLBs (Intel SDM vol. 3 4.10 and 29.4; AMD APM vol. 2 15.16 and 5.5).
//
// A Tlb is a set of arrays: one per page size (as Skylake's L1 DTLB has) or one mixed array
// holding every size (as Zen 2's fully associative L1 DTLB does), set-associative or fully
// associative (each a SetAssociative array), with any registered replacement policy (LRU,
// tree-PLRU, seeded random, ...). Entries are tagged with VPID/ASID, PCID, global and the
// nested context (EPTP / nCR3 identity) they were made under, and carry the rights the walk
// combined; under nesting an entry maps guest-virtual straight to
// host-physical (a "combined" mapping). Every invalidation operation is a member with the
// architectural scope of the instruction or event it models. Plain C++: the vCPU calls
// lookup_usable() (lookup() and the access's rights check at once) inline on every access.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "virtsim/common/debug_trace.h"
#include "virtsim/common/param.h"
#include "virtsim/common/set_associative.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"

namespace virtsim {

struct TlbTags {
  std::uint16_t pcid = 0;
  std::uint16_t vpid = 0;            // VPID or ASID; 0 outside a guest (and for guests without tagging)
  std::uint16_t nested_context = 0;  // EPTP / nCR3 identity of a combined mapping; 0: none
};

struct TlbEntry {
  bool valid = false;
  bool global = false;
  bool writable = false;
  bool user = false;
  bool executable = false;
  bool dirty = false;  // the leaf's D flag was set: a store may use the entry without a walk
  std::uint8_t page_shift = 12;
  // Size of the mapping in the (guest) page table; larger than page_shift when the TLB holds a
  // splintered piece. Invalidation by address drops every piece of the mapping.
  std::uint8_t mapping_shift = 12;
  std::uint16_t pcid = 0;
  std::uint16_t vpid = 0;
  std::uint16_t nested_context = 0;
  Addr virtual_page = 0;   // va >> page_shift
  Addr physical_base = 0;  // physical address of the page

  Addr translate(Addr va) const { return physical_base | (va & ((Addr{1} << page_shift) - 1)); }
  bool maps(Addr va) const { return virtual_page == (va >> page_shift); }
  bool same_mapping(Addr va) const {
    const unsigned shift = mapping_shift > page_shift ? mapping_shift : page_shift;
    return ((virtual_page << page_shift) >> shift) == (va >> shift);
  }
};

// Tlb's hit path reads an entry's flags (valid ... mapping_shift) as one 8-byte word and its
// context tags as one word laid out as TlbTags is.
static_assert(offsetof(TlbEntry, mapping_shift) == 7 && offsetof(TlbEntry, pcid) == 8 &&
                  offsetof(TlbEntry, vpid) == 10 && offsetof(TlbEntry, nested_context) == 12,
              "TlbEntry's flag bytes and tags are where Tlb's hit path reads them");
static_assert(sizeof(TlbTags) == 6 && offsetof(TlbTags, vpid) == 2 && offsetof(TlbTags, nested_context) == 4,
              "TlbTags is laid out as TlbEntry's tags");

// Shape of one array: `entries` = sets x ways; ways == entries is fully associative.
// page_shift 0 marks a mixed array holding every page size.
struct TlbArrayGeometry {
  unsigned page_shift = 12;
  unsigned entries = 64;
  unsigned ways = 4;
};

struct TlbConfig {
  std::vector<TlbArrayGeometry> arrays;  // arrays with 0 entries are left out
  Cycles hit_cycles = 0;                 // added to an access that hits
  std::string replacement = "lru";   // a registered policy (replacement.h)
  std::uint64_t seed = 1;                // random replacement
};

// The operations that drop entries, for statistics (labels in kInvalidationNames).
enum class Invalidation : std::uint8_t {
  Invlpg,
  MovToCr3,
  Cr4Change,
  InvpcidAddress,
  InvpcidSingle,
  InvpcidAllWithGlobals,
  InvpcidAllButGlobals,
  InvvpidAddress,
  InvvpidSingle,
  InvvpidAll,
  InvvpidSingleButGlobals,
  InveptSingle,
  InveptGlobal,
  SvmTlbControl,
  Invlpga,
  TransitionFlush,
  Count
};
extern const std::vector<std::string> kInvalidationNames;

// The parameters of one TLB, declared once; config() gives the plain values.
class TlbParameters {
 public:
  // Defaults give a Skylake-like L1 DTLB (Intel Optimization Manual, Skylake TLB table); other levels pass their own.
  struct Defaults {
    unsigned entries_4k = 64, ways_4k = 4, entries_2m = 32, ways_2m = 4, entries_1g = 4, ways_1g = 4;
    unsigned mixed_entries = 0, mixed_ways = 0, hit_cycles = 0;
  };
  explicit TlbParameters(const Scope& scope) : TlbParameters(scope, Defaults{}) {}
  TlbParameters(const Scope& scope, const Defaults& defaults);
  TlbConfig config(std::uint64_t seed = 1) const;

  Param<std::uint32_t> entries_4k, ways_4k, entries_2m, ways_2m, entries_4m, ways_4m, entries_1g, ways_1g;
  Param<std::uint32_t> mixed_entries, mixed_ways;
  Param<std::uint32_t> hit_cycles;
  Param<std::string> replacement;
};

class Tlb {
 public:
  Tlb(const Scope& scope, const TlbConfig& config);
  // Holds pointers into its own arrays.
  Tlb(const Tlb&) = delete;
  Tlb& operator=(const Tlb&) = delete;

  // The matching entry, or nullptr; counts an access and a hit or miss.
  [[gnu::always_inline]] const TlbEntry* lookup(Addr va, const TlbTags& tags) { return lookup_from(0, va, tags); }

  // What an access needs of an entry: the flag bytes of TlbEntry (each 0 or 1) that must be
  // set, as one word, so that one compare tests them all. A store needs W and D (a store to a
  // clean page walks to set D), a user-mode access U, a fetch X.
  using Rights = std::uint64_t;
  // The bit of the flag byte at `offset` in TlbEntry.
  static constexpr Rights flag_bit(std::size_t offset) { return Rights{1} << (8 * offset); }
  static Rights rights_for(AccessKind kind, bool user) {
    static constexpr Rights kByKind[3] = {  // Load, Store, Fetch
        0, flag_bit(offsetof(TlbEntry, writable)) | flag_bit(offsetof(TlbEntry, dirty)),
        flag_bit(offsetof(TlbEntry, executable))};
    return kByKind[static_cast<unsigned>(kind)] | (user ? flag_bit(offsetof(TlbEntry, user)) : 0);
  }
  static bool has_rights(const TlbEntry& e, Rights needed) { return (flag_word(e) & needed) == needed; }

  // lookup() for an access that needs `needed`: the entry if it has the rights, else nullptr
  // (the entry lookup() found still counts as a hit, as it does in hardware before the walk
  // re-checks). The L1 hit path of every access, always inline: a 4 KiB first array that is
  // scanned (not hashed, not mixed) is probed here, comparing a way's page, then its context
  // tags as one word, then its rights as one word; the rest out of line.
  [[gnu::always_inline]] const TlbEntry* lookup_usable(Addr va, const TlbTags& tags, Rights needed) {
    if (probe_4k_first_) {
      Array& array = arrays_.front();
      const Addr page = va >> kPageShift4K;
      const std::size_t set = page & array.set_mask;
      const Addr* pages = array.slots.row(set);
      const std::uint64_t context = context_word(tags);
      for (unsigned way = 0; way < array.ways; ++way) {
        if (pages[way] != page) continue;
        const TlbEntry& e = array.slots.entry(set, way);
        if (!same_context(e, context)) continue;
        ++accesses;
        TlbEntry* found = hit(array, set, way);
        return has_rights(e, needed) ? found : nullptr;
      }
    }
    return lookup_usable_beyond_first(va, tags, needed);
  }
  // Looks without counting or touching replacement state (tests, debugging).
  const TlbEntry* probe(Addr va, TlbTags tags) const;

  // Functional mode (models/cpu) repeats lookups: where an entry lookup() returned sits, and the
  // same hit again from there (its replacement touch and counts) without the scan. Exact while
  // nothing was filled into or dropped from this TLB in between: the entries are where they
  // were, so lookup() would find the same one first.
  struct Position {
    std::uint32_t array = 0, set = 0, way = 0;
  };
  Position position_of(const TlbEntry* entry) const {
    const auto at = reinterpret_cast<std::uintptr_t>(entry);
    for (std::uint32_t a = 0;; ++a) {
      const Array& array = arrays_[a];
      // Compared as integers: an entry of another array is outside this one's block.
      const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(&array.slots.entry(0, 0));
      const std::size_t index = (at - first) / sizeof(TlbEntry);
      if (at >= first && index < array.slots.sets() * array.ways)
        return {a, static_cast<std::uint32_t>(index / array.ways), static_cast<std::uint32_t>(index % array.ways)};
    }
  }
  const TlbEntry* hit_again(const Position& at) {
    Array& array = arrays_[at.array];
    ++accesses;
    touch(array, at.set, at.way);
    ++hits;
    TlbEntry& e = array.slots.entry(at.set, at.way);
    ++(array.mixed ? size_hits(e.page_shift) : *array.size_hits);
    return &e;
  }

  // Fills an entry for a completed walk (or an STLB hit), refreshing an entry of the same page
  // and tags in place. A page larger than any array holds is cached as the largest held piece
  // containing va (hardware splinters such pages the same way).
  void insert(Addr va, const TlbEntry& entry);

  // ---- invalidations (scopes per SDM 4.10.4, 29.4.3 and APM 15.16) ----
  // INVLPG: the page of va, current VPID, current PCID and global entries.
  void invlpg(Addr va, TlbTags current);
  // MOV to CR3. PCIDE=0: every non-global entry of the VPID with PCID 0. PCIDE=1: the non-global
  // entries of the new PCID, unless bit 63 (no-flush) was set.
  void mov_to_cr3(std::uint16_t new_pcid, bool pcide, bool no_flush, std::uint16_t vpid);
  // A CR4 write that changes PGE (or clears PCIDE): every entry of the VPID, global too.
  void cr4_change(std::uint16_t vpid);
  // INVPCID types 0-3 within the current VPID.
  void invpcid(unsigned type, std::uint16_t pcid, Addr va, std::uint16_t vpid);
  // INVVPID types 0-3 (individual address, single context, all contexts, single context
  // retaining globals).
  void invvpid(unsigned type, std::uint16_t vpid, Addr va);
  // INVEPT single context (the combined mappings of one EPTP) or global (every combined mapping).
  void invept(bool global, std::uint16_t nested_context);
  // SVM TLB_CONTROL at VMRUN: 0 nothing, 1 everything, 3 the guest's ASID, 7 its non-global entries.
  void svm_tlb_control(unsigned value, std::uint16_t asid);
  // INVLPGA: the page of va for one ASID.
  void invlpga(Addr va, std::uint16_t asid);
  // VM entry or exit with VPID/ASID tagging off: every mapping of VPID 0 (SDM 29.4.3.3).
  void transition_flush();
  void flush_all();
  // Trades entries with `other`, a TLB of the same configuration: several vCPUs time-share one
  // physical CPU, so the entries (and their replacement state) go with the processor to the
  // vCPU that runs next. Statistics stay with each vCPU.
  void swap_entries(Tlb& other);

  const TlbConfig& config() const { return config_; }
  // Checkpoints of the warmed state (tlb_state.cpp, state_stream.h's put_structure()): every
  // array's page size and shape as text, and their entries and replacement state.
  std::string geometry() const;
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);
  std::size_t valid_entries() const;
  // Every valid entry (tests check exactly which survive an invalidation).
  std::vector<TlbEntry> entries() const;

  Counter accesses;
  Counter hits;
  Counter misses;
  Counter evictions;
  Counter invalidations;
  // Hits per page size of the entry: four counters rather than a vector, because they sit on
  // the hit path (a counter costs a fraction of a nanosecond there; a vector entry, measured,
  // several).
  Counter hits_4k;
  Counter hits_2m;
  Counter hits_4m;
  Counter hits_1g;
  VectorStat fills_by_size;
  VectorStat evictions_by_size;
  VectorStat invalidated_by_kind;  // entries dropped per operation
  VectorStat operations_by_kind;   // operations executed
  Formula miss_rate;

  Counter& size_hits(unsigned page_shift) {
    return page_shift == 12 ? hits_4k : page_shift == 21 ? hits_2m : page_shift == 22 ? hits_4m : hits_1g;
  }
  static std::size_t size_index(unsigned page_shift) {
    return page_shift == 12 ? 0 : page_shift == 21 ? 1 : page_shift == 22 ? 2 : 3;
  }

 private:
  // Debug-trace lines (tlb kind), out of line: reached only with tracing on.
  std::string trace_name() const;
  [[gnu::cold]] void trace_miss(Addr va) const;
  void trace_invalidation(const std::string& operation, std::uint64_t dropped) const;

  struct Array {
    bool mixed = false;
    unsigned page_shift = 12;
    std::size_t size_slot = 0;  // index in the *_by_size statistics
    unsigned ways = 1;
    std::size_t capacity = 1;  // sets x ways: every set is full when this many entries are valid
    Addr set_mask = 0;
    // Keys: the virtual page of each valid entry (at the entry's own size), so the scan of a
    // set reads 8 bytes per way and only a matching way's entry; hashed for 5 to 16 ways. The
    // valid slots are listed: invalidations by context visit only what was filled since it was
    // last dropped, not every entry (a VM transition without VPID flushes every TLB level,
    // 1772 entries at the defaults).
    SetAssociative<Addr, TlbEntry> slots;
    Counter* size_hits = nullptr;  // the hits_4k ... hits_1g counter of this array's page size
    unsigned sizes_held = 0;       // bit size_index(shift) set once such a page was filled
    bool ever_filled = false;      // cleared by nothing: invalidations leave it set
    // Set once an entry that is a piece of a larger mapping (mapping_shift > page_shift) was
    // filled, cleared when the array is empty again: such a mapping spans sets, so meanwhile an
    // invalidation by address visits every valid entry instead of one set per page size.
    bool holds_pieces = false;
  };
  // lookup() from arrays_[first] on (the earlier arrays were looked at and hold no match).
  // Always inline: the loop of lookup() and of the hit path's remainder.
  [[gnu::always_inline]] TlbEntry* lookup_from(std::size_t first, Addr va, const TlbTags& tags) {
    ++accesses;
    for (auto array_at = arrays_.begin() + first; array_at != arrays_.end(); ++array_at) {
      Array& array = *array_at;
      if (!array.ever_filled) continue;  // an array of a page size the run never used: nothing to scan
      if (array.mixed) {
        if (TlbEntry* e = lookup_mixed(array, va, tags)) return e;
        continue;
      }
      const Addr page = va >> array.page_shift;
      const std::size_t set = page & array.set_mask;
      if (array.slots.hashed()) {  // 5 to 16 ways (second-level TLBs), out of line
        if (TlbEntry* e = lookup_hashed(array, set, page, tags)) return e;
        continue;
      }
      const Addr* pages = array.slots.row(set);
      for (unsigned way = 0; way < array.ways; ++way)
        if (pages[way] == page && matches(array.slots.entry(set, way), tags)) return hit(array, set, way);
    }
    ++misses;
    missed_page_ = va >> kPageShift4K;
    missed_tags_ = tags;
    if (debug_trace::on(debug_trace::kTlb)) trace_miss(va);
    return nullptr;
  }
  // lookup_usable() after its probe of the 4 KiB array found no match (or there is none).
  [[gnu::always_inline]] const TlbEntry* lookup_usable_beyond_first(Addr va, const TlbTags& tags, Rights needed) {
    const TlbEntry* e = lookup_from(probe_4k_first_ ? 1 : 0, va, tags);
    return e && has_rights(*e, needed) ? e : nullptr;
  }
  // The flag bytes (valid ... mapping_shift) and the context tags (pcid, vpid,
  // nested_context) of an entry, each read as one word.
  static std::uint64_t flag_word(const TlbEntry& e) {
    std::uint64_t word;
    std::memcpy(&word, &e, sizeof word);
    return word;
  }
  static std::uint64_t context_word(const TlbTags& tags) {
    std::uint64_t word = 0;
    std::memcpy(&word, &tags, sizeof tags);
    return word;
  }
  // matches() on the words: a global entry ignores the PCID (the low 16 bits).
  static bool same_context(const TlbEntry& e, std::uint64_t context) {
    std::uint64_t word;
    std::memcpy(&word, &e.pcid, sizeof word);
    const std::uint64_t differ = (word ^ context) & kContextBits;
    return differ == 0 || (e.global && (differ & ~std::uint64_t{0xffff}) == 0);
  }
  static constexpr std::uint64_t kContextBits = (std::uint64_t{1} << (8 * sizeof(TlbTags))) - 1;
  static constexpr Addr kNoPage = ~Addr{0};  // the key of an invalid way: no va >> shift is all ones
  TlbEntry* hit(Array& array, std::size_t set, unsigned way) {
    touch(array, set, way);
    ++hits;
    ++*array.size_hits;
    return &array.slots.entry(set, way);
  }
  static bool matches(const TlbEntry& e, TlbTags tags) {
    return e.vpid == tags.vpid && e.nested_context == tags.nested_context && (e.global || e.pcid == tags.pcid);
  }
  TlbEntry* lookup_mixed(Array& array, Addr va, const TlbTags& tags);
  TlbEntry* lookup_hashed(Array& array, std::size_t set, Addr page, const TlbTags& tags);
  static void touch(Array& array, std::size_t set, unsigned way) { array.slots.touch(set, way); }
  // Drops every valid entry for which drop_if(entry) is true.
  template <typename Predicate>
  void invalidate_if(Invalidation kind, Predicate drop_if);
  // The same for an operation that drops only mappings containing va: it visits, per array,
  // the ways holding va's page in the set va falls in, at each page size the array holds
  // (unless pieces of larger mappings are held, above).
  template <typename Predicate>
  void invalidate_address(Invalidation kind, Addr va, Predicate drop_if);
  void count_invalidation(Invalidation kind, std::uint64_t dropped);

  // Where a fill of a page size goes: its own array, else the mixed one, else the largest
  // smaller size held (splintered); decided once per size, with the size the entry is held at
  // and its index in the *_by_size statistics.
  struct Target {
    Array* array = nullptr;
    bool splinter = false;
    unsigned held_shift = 0;
    std::size_t size_slot = 0;
  };
  Target find_target(unsigned page_shift);

  TlbConfig config_;
  std::vector<Array> arrays_;
  // By page shift; arrays_ does not change after construction.
  static constexpr unsigned kTargetShifts = 64;
  Target targets_[kTargetShifts];
  // The 4 KiB page (va >> 12) and tags of the last lookup that found no entry, until the next
  // fill (or entries coming in otherwise): that fill need not search its set for an entry to
  // refresh. kNoPage: none.
  static constexpr unsigned kPageShift4K = 12;
  Addr missed_page_ = kNoPage;
  TlbTags missed_tags_;
  // arrays_ starts with a scanned 4 KiB array, which lookup_usable() probes inline.
  bool probe_4k_first_ = false;
};

// A TLB hierarchy: L1 ITLB (fetches), L1 DTLB (loads and stores) and a unified second level
// (STLB), each optional. An STLB hit refills the L1; a walk fills both.
struct TlbLookup {
  const TlbEntry* entry = nullptr;
  int level = -1;     // 1: L1, 2: STLB, -1: miss
  Cycles cycles = 0;  // latency of the levels looked up
};

class TlbHierarchyParameters {
 public:
  explicit TlbHierarchyParameters(const Scope& scope);
  TlbParameters itlb, dtlb, stlb;
  Param<bool> itlb_enabled, stlb_enabled;
};

class TlbHierarchy {
 public:
  TlbHierarchy(const Scope& scope, const TlbHierarchyParameters& parameters, std::uint64_t seed = 1);

  Tlb& l1(AccessKind kind) { return kind == AccessKind::Fetch && itlb_on_ ? itlb : dtlb; }
  // After an L1 miss: the STLB, refilling the L1 on a hit.
  TlbLookup lookup_second_level(Addr va, AccessKind kind, TlbTags tags);
  TlbLookup lookup(Addr va, AccessKind kind, TlbTags tags);
  void fill(Addr va, AccessKind kind, const TlbEntry& entry);

  // The same operations as Tlb, applied to every level.
  template <typename Op>
  void each(Op op) {
    op(dtlb);
    if (itlb_on_) op(itlb);
    if (stlb_on_) op(stlb);
  }

  bool itlb_on() const { return itlb_on_; }
  bool stlb_on() const { return stlb_on_; }
  // Every level's entries traded with `other` (Tlb::swap_entries).
  void swap_entries(TlbHierarchy& other) {
    itlb.swap_entries(other.itlb);
    dtlb.swap_entries(other.dtlb);
    stlb.swap_entries(other.stlb);
  }

  Tlb itlb;
  Tlb dtlb;
  Tlb stlb;

 private:
  bool itlb_on_;
  bool stlb_on_;
};

}  // namespace virtsim
