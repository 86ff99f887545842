#pragma once
// The MMU behind a vCPU's L1 TLBs: a TLM target that receives translation requests (the
// payload address is the virtual address; TranslationExtension carries the rest), walks the
// page table with a PageWalker and reads every entry through its `memory` initiator socket (or
// the plain-call route to the same target, when the platform set one up). Beside `translate`,
// the MMU is itself the plain-call route to it (DirectTranslation), which the platform hands to
// the vCPU it binds there.
//
// Several walks in flight: `walkers` hardware walkers serve requests from every initiator bound
// to `translate` (a vCPU's ITLB and DTLB misses, or SMT siblings sharing the MMU). A request
// arriving at local time t takes the walker that frees up first; if all are busy it waits, and
// the wait is part of its annotated delay. Each walk runs to completion functionally when it is
// requested (loosely-timed): concurrent walks overlap in time, not in the order of their memory
// references.
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "virtsim/common/clock.h"
#include "virtsim/common/direct_access.h"
#include "virtsim/common/direct_translation.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/memory_access_extension.h"
#include "virtsim/common/param.h"
#include "virtsim/common/translation_extension.h"
#include "virtsim/mmu/page_walker.h"

namespace virtsim {

class MmuModule : public sc_core::sc_module, public WalkCacheControl, public DirectTranslation, private MemoryPort {
 public:
  tlm_utils::simple_target_socket<MmuModule> translate;  // from the vCPU
  tlm_utils::simple_initiator_socket<MmuModule> memory;  // page-table reads

  MmuModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock);
  ~MmuModule() override;

  // The plain-call route to what `memory` is bound to (the platform sets it when it binds the
  // socket); unset, every entry reference is a transaction on `memory`.
  void set_direct_memory(DirectAccess* route) { direct_memory_ = route; }
  // Where the walker makes its references instead of through this module, when the platform
  // has one with the same effect as `memory`'s target (CacheModule::walk_port()).
  void set_entry_port(MemoryPort* port) { entry_port_ = port; }

  void invalidate_guest_walk_caches(std::uint32_t guest_tag) override { walker.flush_guest_caches(guest_tag); }
  void invalidate_all_walk_caches() override {
    walker.flush_guest_caches();
    walker.flush_nested_caches();
  }
  // What b_transport does, as a plain call (DirectTranslation).
  Cycles resolve(Addr va, TranslationExtension& ext, Cycles local_cycles) override {
    return serve(va, ext, sc_core::sc_time_stamp().value() + local_cycles * clock_.period().value());
  }

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
  void b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  // Both routes: the walk of a request arriving at absolute time `arrival` (in SystemC time
  // units), the response in `ext`; returns its cycles, the wait for a walker included.
  Cycles serve(Addr va, TranslationExtension& ext, std::uint64_t arrival);
  MemoryTiming read_entry(Addr address, unsigned bytes, std::uint64_t& value) override;
  MemoryTiming write_entry(Addr address, unsigned bytes, std::uint64_t value) override;
  MemoryTiming access_entry(tlm::tlm_command command, Addr address, unsigned bytes, std::uint64_t& value);
  [[noreturn]] void entry_access_failed(tlm::tlm_command command, Addr address, const std::string& response) const;

  const Clock& clock_;
  DirectAccess* direct_memory_ = nullptr;
  MemoryPort* entry_port_ = this;  // this module's own port (socket or direct_memory_) unless set
  std::vector<std::uint64_t> walker_free_at_;  // absolute time each walker becomes free (SystemC time units)
  tlm::tlm_generic_payload entry_read_;  // reused: no allocation per reference
  MemoryAccessExtension served_;          // attached to entry_read_: which cache level served it
  tlm::tlm_generic_payload debug_read_;
};

}  // namespace virtsim
