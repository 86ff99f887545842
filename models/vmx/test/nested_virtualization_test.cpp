// Nested virtualization's cost model (nested_virtualization.h): an L2 exit L0 handles alone
// costs a single-level exit plus L0's decision; a reflected one adds the emulated exit into L1,
// L1's handler, one L1 exit per VMREAD / VMWRITE without VMCS shadowing and one for VMRESUME.
#include "virtsim/vmx/nested_virtualization.h"

#include <gtest/gtest.h>

#include "virtsim/common/config.h"

namespace virtsim {
namespace {

struct Parameters {
  ParamRegistry params;
  std::unique_ptr<TransitionParameters> t;
  std::unique_ptr<HypervisorParameters> h;
  std::unique_ptr<NestedVirtualizationParameters> n;
  explicit Parameters(bool shadowing, bool handler_model = true) {
    params.set_value("system.vmx.mode", std::string("vmx"), {"test"});
    params.set_value("system.hypervisor.enabled", handler_model, {"test"});
    params.set_value("system.nested_virt.memory", std::string("nested_ept"), {"test"});
    params.set_value("system.nested_virt.vmcs_shadowing", shadowing, {"test"});
    t = std::make_unique<TransitionParameters>(Scope{&params, nullptr, "system.vmx"});
    h = std::make_unique<HypervisorParameters>(Scope{&params, nullptr, "system.hypervisor"});
    n = std::make_unique<NestedVirtualizationParameters>(Scope{&params, nullptr, "system.nested_virt"});
  }
  double software(const HypervisorParameters::Handler& x) const {
    return x.instructions * h->cpi + double(x.vmcs_reads) * t->vmread_cycles + double(x.vmcs_writes) * t->vmwrite_cycles;
  }
  double round_trip() const { return double(t->vm_exit_cycles) + t->vm_entry_cycles; }
};

TEST(NestedVirtualization, AnExitL0HandlesAloneIsASingleLevelExitPlusTheDecision) {
  Parameters p(true);
  const NestedExitCost c = nested_exit_cost(*p.t, *p.h, *p.n, p.h->nested_fill, /*l0_only=*/true);
  EXPECT_EQ(c.l1_exits, 0u);
  EXPECT_EQ(c.l1_software, 0u);
  EXPECT_EQ(c.transitions, Cycles(p.round_trip()));
  EXPECT_EQ(c.total, Cycles(p.round_trip() + p.software(p.h->exit_path) + p.software(p.h->nested_fill) +
                            p.software(p.n->decide) + 0.5));
}

TEST(NestedVirtualization, WithoutShadowingEveryL1VmcsAccessIsARoundTripToL0) {
  Parameters p(false);
  const auto& cpuid = p.h->cpuid;
  const unsigned accesses = p.h->exit_path.vmcs_reads + p.h->exit_path.vmcs_writes + cpuid.vmcs_reads + cpuid.vmcs_writes;
  const NestedExitCost c = nested_exit_cost(*p.t, *p.h, *p.n, cpuid, /*l0_only=*/false);
  EXPECT_EQ(c.l1_vmcs_exits, accesses);
  EXPECT_EQ(c.l1_exits, accesses + 1);  // and the VMRESUME
  // L2 -> L0 -> L1, each access L1 -> L0 -> L1, VMRESUME L1 -> L0 -> L2.
  EXPECT_EQ(c.transitions, Cycles(p.round_trip() * (accesses + 2)));
  EXPECT_EQ(c.l1_software, Cycles((p.h->exit_path.instructions + cpuid.instructions) * p.h->cpi + 0.5));
  const unsigned reads = p.h->exit_path.vmcs_reads + cpuid.vmcs_reads, writes = accesses - reads;
  const double l0 = p.software(p.h->exit_path) * (accesses + 2) + p.software(p.n->decide) + p.software(p.n->reflect) +
                    p.software(p.n->resume) + reads * p.software(p.n->vmread) + writes * p.software(p.n->vmwrite);
  EXPECT_EQ(c.l0_software, Cycles(l0 + 0.5));
}

TEST(NestedVirtualization, ShadowingTurnsL1sAccessesIntoVmcsAccessesAndAddsL0sCopies) {
  Parameters on(true), off(false);
  const NestedExitCost with = nested_exit_cost(*on.t, *on.h, *on.n, on.h->cpuid, false);
  const NestedExitCost without = nested_exit_cost(*off.t, *off.h, *off.n, off.h->cpuid, false);
  EXPECT_EQ(with.l1_exits, 1u);
  EXPECT_EQ(with.l1_vmcs_exits, 0u);
  EXPECT_EQ(with.transitions, Cycles(2 * on.round_trip()));
  const double l1_vmcs = double(on.h->exit_path.vmcs_reads + on.h->cpuid.vmcs_reads) * on.t->vmread_cycles +
                         double(on.h->exit_path.vmcs_writes + on.h->cpuid.vmcs_writes) * on.t->vmwrite_cycles;
  EXPECT_EQ(with.l1_software, Cycles((on.h->exit_path.instructions + on.h->cpuid.instructions) * on.h->cpi + l1_vmcs + 0.5));
  EXPECT_LT(with.total, without.total);
  // L0 pays for the shadow VMCS: the 36 shadowed fields written, the 24 read-write ones read back.
  EXPECT_EQ(on.n->shadow_sync.vmcs_writes.get(), 36u);
  EXPECT_EQ(on.n->shadow_sync.vmcs_reads.get(), 24u);
}

TEST(NestedVirtualization, ExtraL1WritesAreL1Exits) {
  Parameters p(false);
  const NestedExitCost base = nested_exit_cost(*p.t, *p.h, *p.n, p.h->cr_access, false);
  const NestedExitCost more = nested_exit_cost(*p.t, *p.h, *p.n, p.h->cr_access, false, 2);
  EXPECT_EQ(more.l1_exits, base.l1_exits + 2);
}

TEST(NestedVirtualization, TheHandlerModelOffLeavesTheTransitions) {
  Parameters p(false, /*handler_model=*/false);
  const NestedExitCost c = nested_exit_cost(*p.t, *p.h, *p.n, p.h->cpuid, false);
  EXPECT_EQ(c.total, Cycles(2 * p.round_trip()));
  EXPECT_EQ(c.l1_exits, 1u);
}

}  // namespace
}  // namespace virtsim
