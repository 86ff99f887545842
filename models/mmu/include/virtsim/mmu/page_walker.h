#pragma once
// The page walker as an explicit state machine (after gem5's and
// ChampSim's walkers): the 1-D walk and the 2-D (nested, EPT/NPT) walk. Each step() makes at
// most one memory reference through a MemoryPort, which times it; walk caches (paging-structure
// caches, the page walk cache, the nested TLB) are consulted on the way and cost their hit
// latency. Nothing else touches memory, so references and cycles are exact, and a walk's
// latency is the sum of its references' and cache hits' latencies.
//
// Accessed/dirty updates are real entry writes through the port after a successful walk
// (counted apart from the reads).
#include <array>
#include <cstdint>

#include "virtsim/common/memory_port.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"
#include "virtsim/memory/cache.h"
#include "virtsim/paging/paging.h"
#include "virtsim/mmu/walk_caches.h"

namespace virtsim {

struct WalkRequest {
  PagingControls guest;     // the 1-D tables, or the guest's under nesting
  bool nested = false;      // 2-D walk through `nested_controls`
  NestedControls nested_controls;
  Addr va = 0;
  AccessKind kind = AccessKind::Load;
  bool user = true;
  std::uint32_t guest_tag = 0;   // context of the guest caches: PCID and VPID/ASID
  std::uint32_t nested_tag = 0;  // context of the nested caches: EPTP / nCR3 identity
  // 4-level convenience request.
  static WalkRequest linear(Addr cr3, Addr va, AccessKind kind, bool user);
};

struct WalkOutcome {
  Translation translation;
  unsigned refs = 0;       // page-table entries read from memory
  unsigned ad_writes = 0;  // accessed/dirty updates written
  unsigned cache_hits = 0; // walk-cache hits (PWC/PSC/nested TLB)
  Cycles cycles = 0;       // sum of the references', writes' and cache hits' latencies
};

struct WalkerConfig {
  WalkCacheConfig pwc;         // 1-D caches, and the guest dimension under nesting
  WalkCacheConfig nested_pwc;  // nested-dimension cache
  WalkCacheConfig nested_tlb;  // gPA page -> hPA page, one entry per nested page of any size
};

class WalkerParameters {
 public:
  explicit WalkerParameters(const Scope& scope);
  WalkerConfig config() const;
  WalkCacheParameters pwc;
  WalkCacheParameters nested_pwc;
  WalkCacheParameters nested_tlb;
};

class PageWalker {
 public:
  enum class State { Idle, GuestEntry, NestedEntry, Done };

  PageWalker(const Scope& scope, const WalkerConfig& config = {});

  // Starts a walk; then step() until state() == Done; outcome() holds the result.
  void start(const WalkRequest& request);
  // The walker's own request, for a caller that writes the next walk's request in place and
  // passes it to walk() or start() (no copy of it is made then).
  WalkRequest& next_request() { return request_; }
  void step(MemoryPort& port);
  State state() const { return state_; }
  const WalkOutcome& outcome() const { return outcome_; }

  // Runs a whole walk (start + steps) and records its statistics.
  const WalkOutcome& walk(const WalkRequest& request, MemoryPort& port);

  // Invalidation of the walk caches, called with the TLB invalidations that imply it.
  void flush_guest_caches() { pwc.flush(); }
  void flush_guest_caches(std::uint32_t guest_tag) { pwc.flush_tag(guest_tag); }
  void flush_nested_caches() {
    nested_pwc.flush();
    nested_tlb.flush();
  }
  void flush_nested_caches(std::uint32_t nested_tag) {
    nested_pwc.flush_tag(nested_tag);
    nested_tlb.flush_tag(nested_tag);
  }

  // The walk caches' entries traded with another walker's (WalkCache::swap_entries), between
  // walks: several vCPUs time-share one physical CPU.
  void swap_caches(PageWalker& other) {
    pwc.swap_entries(other.pwc);
    nested_pwc.swap_entries(other.nested_pwc);
    nested_tlb.swap_entries(other.nested_tlb);
    std::swap(nested_tlb_levels_, other.nested_tlb_levels_);
  }

  // Checkpoints of the three walk caches (mmu_state.cpp), each a structure of its own
  // (state_stream.h's put_structure()): one whose geometry differs starts cold, named in `cold`.
  void save_caches(StateWriter& out) const;
  void load_caches(StateReader& in, std::vector<std::string>& cold);

  WalkCache pwc;
  WalkCache nested_pwc;
  WalkCache nested_tlb;

  Counter walks;
  Counter walks_2d;
  Counter refs;
  Counter ad_writes;
  Counter faults;
  Counter cycles;
  Histogram refs_per_walk;
  Histogram walk_cycles;
  VectorStat refs_by_level;  // guest-dimension entry reads per level
  // Agile walks by how many guest levels they read in the nested dimension (0: all shadow).
  VectorStat agile_nested_levels;
  VectorStat faults_by_kind;
  // The 2-D reference grid (Bhargava et al. figure 3): rows are the guest steps (the entry at
  // each guest level, then the final gPA), columns the nested levels plus the guest entry read.
  MatrixStat grid_refs;
  MatrixStat grid_cache_hits;  // walk-cache hits that replaced a reference in that cell
  MatrixStat grid_l1_hits;
  MatrixStat grid_l2_hits;
  MatrixStat grid_llc_hits;
  MatrixStat grid_dram;
  Formula mean_refs_per_walk;

 private:
  enum class Purpose { GuestTable, FinalData };
  void begin_guest_level();
  void read_guest_entry(MemoryPort& port, Addr host_slot);
  void begin_nested(Addr gpa, Purpose purpose);
  void nested_step(MemoryPort& port);
  void finish_nested(Addr hpa, unsigned page_shift, bool writable, bool executable);
  void finish_walk(MemoryPort& port);
  void trace_walk(const WalkRequest& request) const;  // one debug-trace line (walk kind)
  void fail(const Translation& t);
  // A guest page fault with `error_code`, plus the bits that describe the access (W/R, U/S,
  // I/D) when `add_access_bits` (check_access() gives a whole code).
  [[gnu::noinline]] void page_fault(std::uint32_t error_code, bool add_access_bits);
  void record_reference(std::size_t row, std::size_t column, const MemoryResult& timing);
  std::size_t guest_row() const;
  std::size_t nested_column(unsigned level) const { return 5 - level; }
  static constexpr std::size_t kEntryColumn = 5;
  static constexpr std::size_t kDataRow = 5;
  // The cells of grid_l1_hits, grid_l2_hits, grid_llc_hits and grid_dram, then a scratch grid
  // for ServedBy::Flat (a port without caches), indexed by ServedBy.
  std::array<std::uint64_t, (kDataRow + 1) * (kEntryColumn + 1)> flat_cells_{};
  std::array<std::uint64_t*, 5> served_cells_;

  State state_ = State::Idle;
  WalkRequest request_;
  WalkOutcome outcome_;
  const FormatInfo* guest_info_ = nullptr;
  const FormatInfo* nested_info_ = nullptr;
  Addr va_ = 0;

  // An agile walk (request_.nested_controls.agile_switch_bit): it starts one-dimensional and
  // turns two-dimensional at a switching entry. two_d_: the walk is in two dimensions now.
  bool agile_ = false;
  bool two_d_ = false;
  unsigned nested_levels_ = 0;  // guest levels an agile walk read in the nested dimension

  // guest dimension
  unsigned level_ = 0;
  Addr table_ = 0;  // current guest table: physical (1-D) or guest-physical (2-D)
  Rights rights_;
  std::array<Addr, 6> guest_slots_{};  // (host-)physical address of the entry read per level
  unsigned first_read_level_ = 0;  // the level of the first entry read (below a prefix-cache hit)
  std::array<std::uint64_t, 6> guest_entries_{};
  unsigned leaf_level_ = 0;
  Addr final_gpa_ = 0;
  unsigned guest_page_shift_ = 12;

  // nested dimension
  Purpose purpose_ = Purpose::GuestTable;
  Addr nested_gpa_ = 0;
  unsigned nested_level_ = 0;
  Addr nested_table_ = 0;
  Rights nested_rights_;
  // The nested entries read, from nested_first_read_level_ (below a prefix-cache hit) down: a
  // nested walk writes each before the A/D update reads it, so nothing clears them.
  std::array<Addr, 6> nested_slots_{};
  unsigned nested_first_read_level_ = 0;
  std::array<std::uint64_t, 6> nested_entries_{};
  unsigned nested_page_shift_ = 12;
  bool nested_writable_ = false;
  bool nested_executable_ = false;
  Addr final_hpa_ = 0;
  bool nested_tlb_missed_ = true;  // the nested TLB had no entry for nested_gpa_
  unsigned nested_tlb_levels_ = 0;  // bit L: the nested TLB has held a page mapped at nested level L
  MemoryPort* port_ = nullptr;  // the port of the step in progress
};

}  // namespace virtsim
