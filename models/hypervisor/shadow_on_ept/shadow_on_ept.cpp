// Shadow-on-EPT: an L2 guest whose hypervisor (L1) runs it under shadow paging, while the host's
// hypervisor (L0) runs L1 under EPT (Ben-Yehuda et al., "The Turtles Project", OSDI 2010,
// section 3.3, the second of its three MMU models). L1's shadow tables live in L1's memory, so
// the hardware walks them through L0's EPT (EPT01): a 2-D walk whose guest dimension is the
// shadow tables. L2's #PF, MOV to CR3 and INVLPG exit to L0, which reflects them to L1 (L1's
// exception bitmap and controls ask for them); L1's shadow-paging handler runs as under single-
// level shadow paging, each of its VM exits now a nested one. EPT violations on L1's memory
// (L2's pages, L1's shadow tables) are L0's own: it fills EPT01 lazily, as KVM does.
// L1's memory is placed at the host addresses of the same numbers (EPT01 maps it one to one), so
// the shadow tables' host frames are also L1-physical addresses. Under AMD-V the same over L0's
// NPT (shadow-on-NPT).
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
    const bool svm = setup.transitions.virt_mode() == VirtMode::Svm;
    if (!setup.transitions.enabled())
      throw ConfigError(p.nested_virt.memory.name() + " = \"shadow_on_ept\" needs " + setup.transitions.mode.name() +
                        " = \"vmx\" or \"svm\": L0 runs L1 in a VM");
    if (svm ? paging != "npt4" && paging != "npt5" : paging != "ept4" && paging != "ept5")
      throw ConfigError(p.nested_virt.memory.name() + " = \"shadow_on_ept\" needs " + p.nested.paging.name() + " = " +
                        (svm ? "\"npt4\" or \"npt5\" under AMD-V" : "\"ept4\" or \"ept5\" under VT-x") +
                        " (the format of L0's nested tables), not \"" + paging + "\"");
  }

  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override {
    const NestedPagingParameters& p = setup().parameters.nested;
    const bool ept = p.paging.get().rfind("ept", 0) == 0, five = p.paging.get().back() == '5';
    walk_.controls.format = ept ? (five ? TableFormat::Ept5 : TableFormat::Ept4)
                                : (five ? TableFormat::Level5 : TableFormat::Level4);
    walk_.controls.access_dirty = ept && p.access_dirty;
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

// The preset's vendor: EPT and VMCS shadowing under VT-x, NPT and virtual VMLOAD/VMSAVE under AMD-V.
Settings shadow_on_ept_settings(const CompareContext& c, bool assists) {
  const bool svm = c.virt == "svm";
  return {{"system.vmx.mode", "\"" + c.virt + "\""},
          {"system.nested.paging", svm ? "\"npt4\"" : "\"ept4\""},
          {"system.nested_virt.memory", "\"shadow_on_ept\""},
          {"system.nested_virt.vmcs_shadowing", !svm && !assists ? "false" : "true"},
          {"system.nested_virt.virtual_vmload_vmsave", svm && !assists ? "false" : "true"}};
}

}  // namespace

MemoryVirtualizationEntry shadow_on_ept_entry() {
  return {"shadow_on_ept",
          "nested virtualization with shadow-on-EPT: an L2 guest whose hypervisor (L1) keeps shadow tables for it, "
          "walked through the host hypervisor's (L0) EPT; L2's #PF, CR3 loads and INVLPG are reflected to L1",
          {"system.nested_virt.*", "system.shadow.*", "system.nested.paging", "system.nested.page_size"},
          [](const MemoryVirtualizationParameters& p) { return p.nested_virt.memory.get() == "shadow_on_ept"; },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<ShadowOnEpt>(setup); },
          {{"shadow_on_ept", "L2 guest, shadow-on-EPT, VMCS shadowing on (AMD-V: shadow-on-NPT, virtual VMLOAD/VMSAVE on)",
            [](const CompareContext& c) { return shadow_on_ept_settings(c, true); }},
           {"shadow_on_ept_trap_vmcs",
            "L2 guest, shadow-on-EPT, VMCS shadowing off: L1's VMREAD / VMWRITE exit (AMD-V: shadow-on-NPT, its "
            "VMLOAD / VMSAVE exit)",
            [](const CompareContext& c) { return shadow_on_ept_settings(c, false); }}},
          {}};
}

}  // namespace virtsim
