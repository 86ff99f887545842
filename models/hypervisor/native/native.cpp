// A guest on bare hardware: no hypervisor between it and memory. The guest OS runs in host
// memory from address 0 and its tables are the ones the hardware walks; VT-x / AMD-V may
// still be on (its exits are then the instructions', never memory's).
#include "virtsim/hypervisor/registry.h"

namespace virtsim {

namespace {

class Native final : public MemoryVirtualization {
 public:
  explicit Native(const MemoryVirtualizationSetup& setup) : memory_(setup.host_memory) {}
  bool backs_guest_memory() const override { return false; }
  MemoryView map_guest_memory(FrameAllocator&, Addr) override { return MemoryView::of(memory_); }
  VcpuMemoryVirtualization& vcpu_view(unsigned) override { return view_; }
  bool checkpointable() const override { return true; }  // nothing of its own

 private:
  PhysicalMemory& memory_;
  VcpuMemoryVirtualization view_;  // every hook at its default: the hardware's own behaviour
};

}  // namespace

MemoryVirtualizationEntry native_entry() {
  return {"native",
          "no memory virtualization: the guest's tables are walked as they are, in host memory",
          {},
          [](const MemoryVirtualizationParameters&) { return true; },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<Native>(setup); },
          {{"native", "no VT-x / AMD-V, the guest on bare hardware",
            [](const CompareContext&) { return Settings{{"system.vmx.mode", "\"none\""}}; }}},
          {{"system.vmx.mode", "\"none\""}}};
}

}  // namespace virtsim
