#pragma once
// Selective paging: the hypervisor moves the guest between shadow and nested paging at run
// time (X. Wang, J. Zang, Z. Wang, Y. Luo and X. Li, "Selective Hardware/Software Memory
// Virtualization", VEE 2011). Each interval it compares what the guest's TLB misses cost
// under nested paging (the 2-D walk's extra references) with what its page faults cost under
// shadow paging (their exits, and those of the page-table writes that come with them), and
// switches to the cheaper mode.
// A switch to nested paging drops every shadow table and flushes the TLBs; a switch to
// shadow paging starts from empty shadow roots that shadow faults fill again.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "virtsim/hypervisor/memory_virtualization.h"
#include "virtsim/hypervisor/selective/selective_parameters.h"
#include "virtsim/hypervisor/shadow/shadow_paging.h"

namespace virtsim {

enum class PagingMode { Shadow, Nested };

// What the guest did in one interval (every vCPU).
struct IntervalCounts {
  std::uint64_t tlb_misses = 0;
  std::uint64_t guest_page_faults = 0;
};

// The cost model of the decision (cycles per event, and the margin a mode must lose by).
struct SelectiveCosts {
  double tlb_miss_cycles = 0;          // a TLB miss under nested paging, beyond one under shadow paging
  double guest_fault_cycles = 0;       // a guest page fault under shadow paging, beyond one under nested
  double margin = 0;                   // the current mode stays unless it costs (1 + margin) times the other
  double switch_cycles = 0;            // ... plus what a switch costs (an interval's saving must pay for it)
};

// The mode for the next interval.
PagingMode choose_paging_mode(PagingMode current, const IntervalCounts& counts, const SelectiveCosts& costs);

class SelectivePaging final : public MemoryVirtualization, private VcpuMemoryVirtualization {
 public:
  explicit SelectivePaging(const MemoryVirtualizationSetup& setup);
  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override;
  void attach_guest(const GuestPaging& guest, FrameAllocator& host_frames) override;
  bool shadow_page_faults() const override { return mode_ == PagingMode::Shadow; }
  void attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) override;
  VcpuMemoryVirtualization& vcpu_view(unsigned) override { return *this; }

  PagingMode mode() const { return mode_; }
  const ShadowPageTables* shadow_tables() const { return shadow_.tables(); }
  // Moves the guest to `to` now; returns the cycles the switch costs the hypervisor.
  Cycles switch_to(PagingMode to);

 private:
  std::optional<NestedWalk> nested_walk() const override {
    return mode_ == PagingMode::Nested ? std::optional<NestedWalk>(walk_) : std::nullopt;
  }
  bool replaces_guest_tables() const override { return mode_ == PagingMode::Shadow; }
  Addr load_cr3(unsigned cpu, Addr guest_cr3) override { return shadow_view().load_cr3(cpu, guest_cr3); }
  void invlpg(Addr guest_cr3, Addr va) override {
    if (mode_ == PagingMode::Shadow) shadow_view().invlpg(guest_cr3, va);
  }
  bool nested_fault(Addr gpa) override;
  std::optional<ShadowFaultOutcome> page_fault(const PagingControls& guest, Addr va, AccessKind kind, bool user,
                                               bool may_unprotect, std::uint32_t error_code) override;
  void on_mode_change(unsigned cpu, std::function<void()> changed) override;
  Cycles sample_interval() const override { return parameters_.interval_cycles; }
  Cycles sample(unsigned cpu, const VcpuCounts& counts) override;
  VcpuMemoryVirtualization& shadow_view() { return shadow_.vcpu_view(0); }

  SelectivePagingParameters& parameters_;
  NestedPagingParameters& nested_parameters_;
  const TransitionParameters& transitions_;
  PhysicalMemory& memory_;
  std::function<void()> flush_nested_;
  ShadowPaging shadow_;  // its tables, and the guest memory it backs and watches
  std::unique_ptr<PageTableBuilder> nested_tables_;
  NestedWalk walk_;
  Addr guest_bytes_ = 0;
  PagingMode mode_;
  IntervalCounts interval_;  // so far in this interval
  std::vector<std::function<void()>> vcpus_changed_;
  std::vector<VirtualizationUnit*> units_;
};

}  // namespace virtsim
