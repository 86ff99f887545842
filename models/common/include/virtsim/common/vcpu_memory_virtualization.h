#pragma once
// The memory virtualization as one vCPU sees it: the hypervisor's side of the events that
// reach it (MOV to CR3, INVLPG, a #PF, an EPT violation / nested page fault) and, once at
// set-up, the nested tables the vCPU's walks go through. The defaults are a guest on bare
// hardware (native). Each strategy of models/hypervisor gives its vCPUs one of these; the
// vCPU charges the exits through its `virtualization` port. Every hook runs per fault, CR3
// load, INVLPG or sampling interval, never per memory reference.
#include <cstdint>
#include <functional>
#include <optional>

#include "virtsim/common/paging_context.h"
#include "virtsim/common/shadow_paging.h"
#include "virtsim/common/units.h"

namespace virtsim {

class VcpuMemoryVirtualization {
 public:
  virtual ~VcpuMemoryVirtualization() = default;

  // The nested tables (EPTP / nCR3) and the TLB context tag of the guest's walks through
  // them, or nothing when walks are one-dimensional.
  struct NestedWalk {
    NestedControls controls;
    std::uint16_t context = 1;
  };
  virtual std::optional<NestedWalk> nested_walk() const { return std::nullopt; }
  // Whether the hypervisor puts tables of its own in place of the guest's (shadow paging): the
  // vCPU then keeps the guest's CR3 apart from the root it walks, load_cr3() gives that root,
  // and PCIDs are not kept across CR3 loads.
  virtual bool replaces_guest_tables() const { return false; }
  // MOV to CR3 on vCPU `cpu` (or its first CR3) when replaces_guest_tables(): the root to walk.
  virtual Addr load_cr3(unsigned /*cpu*/, Addr guest_cr3) { return guest_cr3; }
  // The guest's INVLPG of `va` under guest CR3 `guest_cr3`.
  virtual void invlpg(Addr /*guest_cr3*/, Addr /*va*/) {}
  // An EPT violation / nested page fault at guest-physical `gpa`: true when the hypervisor
  // mapped the page now (its exit is then charged and the access retried); false when the
  // fault is something else, which ends the run.
  virtual bool nested_fault(Addr /*gpa*/) { return false; }
  // A #PF for `va` (`guest`: the guest's own controls; `error_code`: what the walk gave).
  // Nothing: the guest's own fault, delivered straight to it. Otherwise the fault exited
  // and this is what the hypervisor made of it. `may_unprotect`: the faulting store's
  // instruction writes no page tables (see ShadowPagingControl::page_fault).
  virtual std::optional<ShadowFaultOutcome> page_fault(const PagingControls& /*guest*/, Addr /*va*/,
                                                       AccessKind /*kind*/, bool /*user*/, bool /*may_unprotect*/,
                                                       std::uint32_t /*error_code*/) {
    return std::nullopt;
  }

  // Run-time mode switching (a hypervisor that moves the guest between shadow and nested
  // paging). At set-up the vCPU hands over `changed`, which re-reads nested_walk() and
  // replaces_guest_tables() and reloads its CR3 and flushes its TLBs; the hypervisor calls it
  // on every vCPU when it switches. The vCPU caches both answers, so the per-reference path
  // asks nothing.
  virtual void on_mode_change(unsigned /*cpu*/, std::function<void()> /*changed*/) {}
  // How often the hypervisor samples the vCPU's counts, in its cycles (0: never).
  virtual Cycles sample_interval() const { return 0; }
  // What vCPU `cpu` counted since its last sample (its TLB misses, and the page faults
  // delivered to its guest). Returns the cycles the hypervisor spent (a mode switch), 0 if none.
  struct VcpuCounts {
    std::uint64_t tlb_misses = 0;
    std::uint64_t guest_page_faults = 0;
  };
  virtual Cycles sample(unsigned /*cpu*/, const VcpuCounts& /*counts*/) { return 0; }
  // A store the guest kernel model wrote ahead (GuestEvent::keeps_contents: a page-table entry,
  // a page it zeroed or copied) ran at physical address `pa` (what the vCPU's walk gave): a
  // hypervisor that follows the guest's tables sees the write now, in program order. Called only
  // when replaces_guest_tables().
  virtual void guest_store_ran(Addr /*pa*/, Addr /*bytes*/) {}
};

}  // namespace virtsim
