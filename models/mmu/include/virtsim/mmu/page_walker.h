#pragma once
// The 1-D page walker as an explicit state machine (DESIGN.md section 10, after gem5's and
// ChampSim's walkers). Each step issues exactly one page-table entry read through a
// MemoryPort, which times it; nothing else touches memory, so refs and cycles are exact.
#include <cstdint>

#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"
#include "virtsim/mmu/paging.h"

namespace virtsim {

// One timed memory reference on behalf of the walker.
class MemoryPort {
 public:
  virtual ~MemoryPort() = default;
  // Reads the 8-byte entry at physical `address`; returns the latency in cycles.
  virtual Cycles read_entry(Addr address, std::uint64_t& value) = 0;
};

struct WalkRequest {
  Addr cr3 = 0;
  Addr va = 0;
  AccessKind kind = AccessKind::Load;
  bool user = true;
};

struct WalkOutcome {
  Translation translation;
  unsigned refs = 0;  // page-table entries read
  Cycles cycles = 0;  // sum of the references' latencies
};

class PageWalker {
 public:
  enum class State { Idle, ReadEntry, Done };

  explicit PageWalker(const Scope& scope);

  // Starts a walk; then step() until state() == Done; outcome() holds the result.
  void start(const WalkRequest& request);
  void step(MemoryPort& port);
  State state() const { return state_; }
  unsigned level() const { return level_; }
  const WalkOutcome& outcome() const { return outcome_; }

  // Runs a whole walk (start + steps) and records its statistics.
  const WalkOutcome& walk(const WalkRequest& request, MemoryPort& port);

  Counter walks;
  Counter refs;
  Counter faults;
  Counter cycles;
  Histogram refs_per_walk;
  Histogram walk_cycles;
  VectorStat refs_by_level;  // PML4, PDPT, PD, PT
  Formula mean_refs_per_walk;

 private:
  void finish_fault(std::uint32_t error_code);

  State state_ = State::Idle;
  WalkRequest request_;
  WalkOutcome outcome_;
  unsigned level_ = 0;
  Addr table_ = 0;
  std::uint64_t rights_ = 0;
  bool execute_disable_ = false;
};

}  // namespace virtsim
