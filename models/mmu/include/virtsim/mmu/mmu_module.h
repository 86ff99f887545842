#pragma once
// The MMU behind a vCPU's L1 TLBs: a TLM target that receives translation requests (the
// payload address is the virtual address; TranslationExtension carries the rest), walks the
// page table with a PageWalker, which reads every entry through the `memory` socket's port
// (the cache module's walk port when the platform connected it, else b_transport). The MMU is
// a TranslationPort in plain C++; `translate` is the TLM target adapter around it.
//
// Several walks in flight: `walkers` hardware walkers serve requests from every initiator bound
// to `translate` (a vCPU's ITLB and DTLB misses, or SMT siblings sharing the MMU). A request
// arriving at local time t takes the walker that frees up first; if all are busy it waits, and
// the wait is part of its annotated delay. Each walk runs to completion functionally when it is
// requested (loosely-timed): concurrent walks overlap in time, not in the order of their memory
// references.
#include <vector>

#include <systemc>

#include "virtsim/common/clock.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/param.h"
#include "virtsim/common/tlm_ports.h"
#include "virtsim/common/translation_extension.h"
#include "virtsim/common/translation_port.h"
#include "virtsim/mmu/page_walker.h"

namespace virtsim {

// TranslationPort first: a call through it needs no adjustment of `this`.
class MmuModule : public TranslationPort, public sc_core::sc_module, public WalkCacheControl {
 public:
  TranslationTargetSocket translate;  // from the vCPU
  MemoryInitiatorSocket memory;        // page-table reads and A/D writes

  MmuModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock);

  void invalidate_guest_walk_caches(std::uint32_t guest_tag) override { walker.flush_guest_caches(guest_tag); }
  void invalidate_all_walk_caches() override {
    walker.flush_guest_caches();
    walker.flush_nested_caches();
  }
  // The walk of a request arriving `local_cycles` after SystemC time.
  TranslationResult access(Addr va, TranslationExtension& ext, Cycles local_cycles) override {
    return {serve(va, ext, sc_core::sc_time_stamp().value() + local_cycles * clock_.period().value()), true};
  }

  // Checkpoints of the warmed state (mmu_state.cpp): the walk caches, then when each walker
  // frees, in cycles from now, as a structure of its own; `start` is the SystemC time (in its
  // units) at which the loading run's region of interest begins.
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in, std::vector<std::string>& cold, std::uint64_t start);

  Param<bool> check;  // compare every walk with the functional reference (slow)
  WalkerParameters walker_parameters;
  PageWalker walker;
  Counter checked;    // walks compared with the reference
  Param<std::uint32_t> walkers;
  Counter queued_walks;
  Counter queue_cycles;
  Histogram walks_in_flight;  // busy walkers seen by each arriving request

 private:
  void check_against_reference(const WalkRequest& request, const Translation& timed);
  std::uint64_t debug_read(Addr address, unsigned bytes);
  // The walk of a request arriving at absolute time `arrival` (in SystemC time units), the
  // response in `ext`; returns its cycles, the wait for a walker included.
  Cycles serve(Addr va, TranslationExtension& ext, std::uint64_t arrival);

  const Clock& clock_;
  std::vector<std::uint64_t> walker_free_at_;  // absolute time each walker becomes free (SystemC time units)
};

}  // namespace virtsim
