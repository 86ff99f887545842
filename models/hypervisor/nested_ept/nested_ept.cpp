// Nested EPT: the multi-dimensional paging of Ben-Yehuda et al., "The Turtles Project: Design
// and Implementation of Nested Virtualization", OSDI 2010 (section 3.3). L1 maps L2's
// guest-physical memory in its EPT for L2 (EPT12); L0 maps L1's memory in its own EPT (EPT01)
// and merges the two into shadow EPT tables (EPT02) that map L2-physical addresses straight to
// host frames. The hardware walks L2's tables and EPT02: an ordinary 2-D walk. An EPT violation
// of L2 at a page EPT12 does not map is reflected to L1, which maps it; the retried access
// then faults in EPT02, and L0 fills the shadow entry from EPT12 and EPT01 (KVM's shadow MMU
// over an EPT guest table, nested_ept_init_mmu_context in Linux 6.1). Both are filled lazily,
// as KVM does. Under AMD-V the same with NPT (nested NPT: L0's shadow NPT over L1's NPT for L2,
// nested_svm_init_mmu_context -> kvm_init_shadow_npt_mmu); a violation is a nested page fault.
#include <vector>

#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"
#include "virtsim/vmx/nested_virtualization.h"

namespace virtsim {

namespace {

class NestedEpt final : public MemoryVirtualization, private VcpuMemoryVirtualization {
 public:
  explicit NestedEpt(const MemoryVirtualizationSetup& setup)
      : parameters_(setup.parameters),
        memory_(setup.host_memory),
        l1_ept_fills_(setup.system.child("nested_virt"), "l1_ept_fills", "pages",
                      "nested EPT: L2 pages L1 mapped in its EPT for L2 (EPT violations reflected to L1)"),
        shadow_ept_fills_(setup.system.child("nested_virt"), "shadow_ept_fills", "pages",
                          "nested EPT: shadow EPT entries L0 filled from L1's EPT for L2 and its own EPT (EPT "
                          "violations L0 handled alone)") {
    const NestedVirtualizationParameters& n = parameters_.nested_virt;
    const std::string& paging = parameters_.nested.paging.get();
    const bool svm = setup.transitions.virt_mode() == VirtMode::Svm;
    if (!setup.transitions.enabled())
      throw ConfigError(n.memory.name() + " = \"nested_ept\" needs " + setup.transitions.mode.name() +
                        " = \"vmx\" or \"svm\": L0 runs L1 in a VM");
    if (svm ? paging != "npt4" && paging != "npt5" : paging != "ept4" && paging != "ept5")
      throw ConfigError(n.memory.name() + " = \"nested_ept\" needs " + parameters_.nested.paging.name() + " = " +
                        (svm ? "\"npt4\" or \"npt5\" under AMD-V" : "\"ept4\" or \"ept5\" under VT-x") +
                        " (the format of L1's and L0's nested tables), not \"" + paging + "\"");
    if (parameters_.shadow.enabled)
      throw ConfigError(parameters_.shadow.enabled.name() + " = true and " + n.memory.name() +
                        " = \"nested_ept\": L1 runs L2 under nested or shadow paging, not both (shadow_on_ept)");
  }

  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override {
    const NestedPagingParameters& p = parameters_.nested;
    const bool ept = p.paging.get().rfind("ept", 0) == 0, five = p.paging.get().back() == '5';
    walk_.controls.format = ept ? (five ? TableFormat::Ept5 : TableFormat::Ept4)
                                : (five ? TableFormat::Level5 : TableFormat::Level4);
    walk_.controls.access_dirty = ept && p.access_dirty;
    page_bytes_ = page_bytes_of(p.page_size);
    if (guest_bytes % page_bytes_ != 0)
      throw ConfigError("guest memory of " + std::to_string(guest_bytes) + " bytes is not a multiple of " +
                        p.page_size.name() + " = \"" + p.page_size.get() + "\"");
    shadow_ept_ = std::make_unique<PageTableBuilder>(memory_, host_frames, walk_.controls.format);
    walk_.controls.root = shadow_ept_->new_root();
    // L2's memory lies in L1's, which lies in host memory: one host region stands for both.
    backing_ = host_frames.allocate(guest_bytes / kPageSize4K, page_bytes_);
    guest_bytes_ = guest_bytes;
    l1_mapped_.assign(guest_bytes / page_bytes_, false);
    return MemoryView::of(memory_, backing_);
  }

  VcpuMemoryVirtualization& vcpu_view(unsigned) override { return *this; }

  void attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) override {
    for (VirtualizationUnit* unit : units) unit->set_nested(&parameters_.nested_virt, [this] { return last_owner_; });
  }

 private:
  std::optional<NestedWalk> nested_walk() const override { return walk_; }

  bool nested_fault(Addr gpa) override {
    if (gpa >= guest_bytes_) return false;
    const Addr base = gpa & ~(page_bytes_ - 1);
    if (shadow_ept_->lookup(walk_.controls.root, base)) return false;  // mapped: a real violation
    if (!l1_mapped_[base / page_bytes_]) {
      // EPT12 does not map it: L1's violation. L1 maps it; EPT02 stays empty until the retry.
      l1_mapped_[base / page_bytes_] = true;
      ++l1_ept_fills_;
      last_owner_ = NestedFaultOwner::L1;
      return true;
    }
    shadow_ept_->map(walk_.controls.root, base, backing_ + base, page_bytes_);
    ++shadow_ept_fills_;
    last_owner_ = NestedFaultOwner::L0ShadowEptFill;
    return true;
  }

  MemoryVirtualizationParameters& parameters_;
  PhysicalMemory& memory_;
  Counter l1_ept_fills_;
  Counter shadow_ept_fills_;
  std::unique_ptr<PageTableBuilder> shadow_ept_;  // EPT02
  std::vector<bool> l1_mapped_;                   // EPT12's present pages
  NestedWalk walk_;
  NestedFaultOwner last_owner_ = NestedFaultOwner::L1;
  Addr backing_ = 0;
  Addr page_bytes_ = kPageSize4K;
  Addr guest_bytes_ = 0;
};

// The preset's vendor: EPT and VMCS shadowing under VT-x, NPT and virtual VMLOAD/VMSAVE under AMD-V.
Settings nested_ept_settings(const CompareContext& c, bool assists) {
  const bool svm = c.virt == "svm";
  return {{"system.vmx.mode", "\"" + c.virt + "\""},
          {"system.nested.paging", svm ? "\"npt4\"" : "\"ept4\""},
          {"system.nested_virt.memory", "\"nested_ept\""},
          {"system.nested_virt.vmcs_shadowing", !svm && !assists ? "false" : "true"},
          {"system.nested_virt.virtual_vmload_vmsave", svm && !assists ? "false" : "true"}};
}

}  // namespace

MemoryVirtualizationEntry nested_ept_entry() {
  return {"nested_ept",
          "nested virtualization with nested EPT (nested NPT under AMD-V): an L2 guest whose hypervisor (L1) runs "
          "under the host's (L0); L0 merges L1's EPT for L2 with its own into shadow EPT tables, walked 2-D with "
          "L2's tables",
          {"system.nested_virt.*", "system.nested.paging", "system.nested.page_size", "system.nested.access_dirty"},
          [](const MemoryVirtualizationParameters& p) { return p.nested_virt.memory.get() == "nested_ept"; },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<NestedEpt>(setup); },
          {{"nested_ept", "L2 guest, nested EPT, VMCS shadowing on (AMD-V: nested NPT, virtual VMLOAD/VMSAVE on)",
            [](const CompareContext& c) { return nested_ept_settings(c, true); }},
           {"nested_ept_trap_vmcs",
            "L2 guest, nested EPT, VMCS shadowing off: L1's VMREAD / VMWRITE exit (AMD-V: nested NPT, its VMLOAD / "
            "VMSAVE exit)",
            [](const CompareContext& c) { return nested_ept_settings(c, false); }}},
          {{"system.nested_virt.memory", "\"none\""}, {"system.nested_virt.vmcs_shadowing", "true"},
           {"system.nested_virt.virtual_vmload_vmsave", "true"}}};
}

}  // namespace virtsim
