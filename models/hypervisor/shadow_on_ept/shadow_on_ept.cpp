// Shadow-on-EPT: an L2 guest whose hypervisor (L1) runs it under shadow paging, while the host's
// hypervisor (L0) runs L1 under EPT (Ben-Yehuda et al., "The Turtles Project", OSDI 2010,
// section 3.3, the second of its three MMU models). L1's shadow tables live in L1's memory, so
// the hardware walks them through L0's EPT (EPT01): a 2-D walk whose guest dimension is the
// shadow tables. L2's #PF, MOV to CR3 and INVLPG exit to L0, which reflects them to L1 (L1's
// exception bitmap and controls ask for them); L1's shadow-paging handler runs as under single-
// level shadow paging, each of its VM exits now a nested one. EPT violations on L1's memory
// (L2's pages, L1's shadow tables) are L0's own: it fills EPT01 lazily, as KVM does.
// L1's memory is placed at the host addresses of the same numbers (EPT01 maps it one to one), so
// the shadow tables' host frames are also L1-physical addresses.
#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"
#include "virtsim/hypervisor/shadow/shadow_paging.h"
#include "virtsim/vmx/nested_virtualization.h"

namespace virtsim {

namespace {

class ShadowOnEpt final : public ShadowPaging {
 public:
  explicit ShadowOnEpt(const MemoryVirtualizationSetup& setup)
      : ShadowPaging(setup),
        l0_ept_fills_(setup.system.child("nested_virt"), "l0_ept_fills", "pages",
                      "shadow-on-EPT: pages of L1's memory (L2's pages, L1's shadow tables) L0 mapped in its EPT") {
    const MemoryVirtualizationParameters& p = setup.parameters;
    const std::string& paging = p.nested.paging.get();
    if (!setup.transitions.enabled() || setup.transitions.virt_mode() != VirtMode::Vmx)
      throw ConfigError(p.nested_virt.memory.name() + " = \"shadow_on_ept\" needs " + setup.transitions.mode.name() +
                        " = \"vmx\": nested virtualization is modelled on VT-x only");
    if (paging != "ept4" && paging != "ept5")
      throw ConfigError(p.nested_virt.memory.name() + " = \"shadow_on_ept\" needs " + p.nested.paging.name() +
                        " = \"ept4\" or \"ept5\" (the format of L0's EPT), not \"" + paging + "\"");
  }

  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override {
    const NestedPagingParameters& p = setup().parameters.nested;
    walk_.controls.format = p.paging.get() == "ept5" ? TableFormat::Ept5 : TableFormat::Ept4;
    walk_.controls.access_dirty = p.access_dirty;
    page_bytes_ = page_bytes_of(p.page_size);
    ept01_ = std::make_unique<PageTableBuilder>(setup().host_memory, host_frames, walk_.controls.format);
    walk_.controls.root = ept01_->new_root();
    return ShadowPaging::map_guest_memory(host_frames, guest_bytes);
  }

  void attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) override {
    ShadowPaging::attach_virtualization_units(units);
    for (VirtualizationUnit* unit : units)
      unit->set_nested(&setup().parameters.nested_virt, [] { return NestedFaultOwner::L0Fill; });
  }

 private:
  std::optional<::virtsim::VcpuMemoryVirtualization::NestedWalk> nested_walk() const override { return walk_; }

  bool nested_fault(Addr gpa) override {
    if (gpa >= setup().host_memory.size()) return false;
    const Addr base = gpa & ~(page_bytes_ - 1);
    if (ept01_->lookup(walk_.controls.root, base)) return false;  // mapped: a real violation
    ept01_->map(walk_.controls.root, base, base, page_bytes_);
    ++l0_ept_fills_;
    return true;
  }

  Counter l0_ept_fills_;
  std::unique_ptr<PageTableBuilder> ept01_;
  ::virtsim::VcpuMemoryVirtualization::NestedWalk walk_;
  Addr page_bytes_ = kPageSize4K;
};

Settings shadow_on_ept_settings(bool shadowing) {
  return {{"system.vmx.mode", "\"vmx\""},
          {"system.nested.paging", "\"ept4\""},
          {"system.nested_virt.memory", "\"shadow_on_ept\""},
          {"system.nested_virt.vmcs_shadowing", shadowing ? "true" : "false"}};
}

}  // namespace

MemoryVirtualizationEntry shadow_on_ept_entry() {
  return {"shadow_on_ept",
          "nested virtualization with shadow-on-EPT: an L2 guest whose hypervisor (L1) keeps shadow tables for it, "
          "walked through the host hypervisor's (L0) EPT; L2's #PF, CR3 loads and INVLPG are reflected to L1",
          {"system.nested_virt.*", "system.shadow.*", "system.nested.paging", "system.nested.page_size"},
          [](const MemoryVirtualizationParameters& p) { return p.nested_virt.memory.get() == "shadow_on_ept"; },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<ShadowOnEpt>(setup); },
          {{"shadow_on_ept", "L2 guest, shadow-on-EPT, VMCS shadowing on",
            [](const CompareContext&) { return shadow_on_ept_settings(true); }},
           {"shadow_on_ept_trap_vmcs", "L2 guest, shadow-on-EPT, VMCS shadowing off (L1's VMREAD / VMWRITE exit)",
            [](const CompareContext&) { return shadow_on_ept_settings(false); }}},
          {}};
}

}  // namespace virtsim
