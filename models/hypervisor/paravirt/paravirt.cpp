// A paravirtual MMU (Xen's direct paging): the guest kernel knows it runs on a hypervisor and
// keeps its own tables, which the hardware walks; it updates them through hypercalls (the
// guest kernel model issues them, batched by system.kernel.pv_batch), and its page faults
// reach it through the hypervisor: each one exits and is reflected.
#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"

namespace virtsim {

namespace {

class ParavirtualMmu final : public MemoryVirtualization, private VcpuMemoryVirtualization {
 public:
  explicit ParavirtualMmu(const MemoryVirtualizationSetup& setup) : memory_(setup.host_memory) {
    const MemoryVirtualizationParameters& p = setup.parameters;
    if (p.shadow.enabled || p.nested.paging.get() != "none")
      throw ConfigError(p.paravirt_key + " = true runs on the guest's own tables: it takes " + p.shadow.enabled.name() +
                        " = false and " + p.nested.paging.name() + " = \"none\"");
    if (!setup.transitions.enabled())
      throw ConfigError(p.paravirt_key + " = true needs " + setup.transitions.mode.name() +
                        " = \"vmx\" or \"svm\": its hypercalls enter the hypervisor as VMCALL exits");
  }
  // The guest's memory is its own, as natively: it sees machine frames.
  bool backs_guest_memory() const override { return false; }
  MemoryView map_guest_memory(FrameAllocator&, Addr) override { return MemoryView::of(memory_); }
  bool paravirtual() const override { return true; }
  VcpuMemoryVirtualization& vcpu_view(unsigned) override { return *this; }
  // Nothing of its own: the guest's tables are the ones walked, its batched updates the guest
  // kernel model's.
  bool checkpointable() const override { return true; }

 private:
  // Every #PF exits and is reflected into the guest as it is.
  std::optional<ShadowFaultOutcome> page_fault(const PagingControls&, Addr, AccessKind, bool, bool,
                                               std::uint32_t error_code) override {
    return ShadowFaultOutcome{ShadowFaultResolution::GuestFault, error_code, 0};
  }

  PhysicalMemory& memory_;
};

}  // namespace

MemoryVirtualizationEntry paravirt_entry() {
  return {"paravirt",
          "a paravirtual MMU under VT-x / AMD-V: the guest walks its own tables and updates them by hypercalls; "
          "its page faults exit and are reflected",
          {"system.kernel.paravirt_mmu", "system.kernel.pv_batch"},
          [](const MemoryVirtualizationParameters& p) { return p.paravirt_mmu; },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<ParavirtualMmu>(setup); },
          {{"paravirt", "a paravirtual MMU",
            [](const CompareContext& c) {
              return Settings{{"system.vmx.mode", "\"" + c.virt + "\""}, {"system.kernel.paravirt_mmu", "true"}};
            }}},
          {{"system.kernel.paravirt_mmu", "false"}}};
}

}  // namespace virtsim
