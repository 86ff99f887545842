#pragma once
// Shadow paging as a strategy: the hypervisor backs guest-physical memory with one host
// region, keeps shadow tables (shadow_tables.h) that map guest-virtual memory straight to host
// frames, and the hardware walks those. MOV to CR3, INVLPG and #PF trap to it (through VM
// exits under VT-x / AMD-V; binary translation builds on this with a software VMM).
#include <memory>

#include "virtsim/hypervisor/memory_virtualization.h"
#include "virtsim/hypervisor/shadow/shadow_tables.h"

namespace virtsim {

class ShadowPaging : public MemoryVirtualization, private VcpuMemoryVirtualization {
 public:
  explicit ShadowPaging(const MemoryVirtualizationSetup& setup);
  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override;
  void attach_guest(const GuestPaging& guest, FrameAllocator& host_frames) override;
  bool shadow_page_faults() const override { return true; }
  void attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) override;
  VcpuMemoryVirtualization& vcpu_view(unsigned) override { return *this; }
  const ShadowPageTables* tables() const { return tables_.get(); }
  ShadowPageTables* tables() { return tables_.get(); }
  // Host-physical base of guest-physical memory (after map_guest_memory()).
  Addr backing() const { return backing_; }
  // The shadow tables' state (the strategies built on shadow paging say whether they are
  // checkpointable, and add their own).
  void save_state(StateWriter& out) const override { tables_->save_state(out); }
  void load_state(StateReader& in) override { tables_->load_state(in); }

 protected:
  const MemoryVirtualizationSetup& setup() const { return setup_; }
  ShadowPageTables* shadow_tables() { return tables_.get(); }

 private:
  bool replaces_guest_tables() const override { return true; }
  Addr load_cr3(unsigned cpu, Addr guest_cr3) override { return tables_->load_cr3(cpu, guest_cr3); }
  void invlpg(Addr guest_cr3, Addr va) override { tables_->invlpg(guest_cr3, va); }
  std::optional<ShadowFaultOutcome> page_fault(const PagingControls& guest, Addr va, AccessKind kind, bool user,
                                               bool may_unprotect, std::uint32_t) override {
    return tables_->page_fault(guest, va, kind, user, may_unprotect);
  }
  void guest_store_ran(Addr pa, Addr bytes) override {
    if (tables_ && pa >= backing_ && pa < backing_ + guest_bytes_) tables_->guest_store_ran(pa - backing_, bytes);
  }

  MemoryVirtualizationSetup setup_;
  Addr backing_ = 0;  // host-physical base of guest-physical memory
  Addr guest_bytes_ = 0;
  std::unique_ptr<ShadowPageTables> tables_;
};

}  // namespace virtsim
