// Nested virtualization's cost model (nested_virtualization.h): an L2 exit L0 handles alone
// costs a single-level exit plus L0's decision; a reflected one adds the emulated exit into L1,
// L1's handler, one L1 exit per VMREAD / VMWRITE without VMCS shadowing and one for VMRESUME,
// and L0's VMPTRLDs and VMCLEARs; on AMD-V one L1 exit per VMLOAD / VMSAVE without virtual
// VMLOAD/VMSAVE and one for VMRUN, and no VMCS-pointer instructions.
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
  // `assists`: VMCS shadowing (VT-x) or virtual VMLOAD/VMSAVE (AMD-V).
  explicit Parameters(bool assists, bool handler_model = true, const std::string& mode = "vmx",
                      double vmptrld_entries = 1.0) {
    params.set_value("system.vmx.mode", mode, {"test"});
    params.set_value("system.hypervisor.enabled", handler_model, {"test"});
    params.set_value("system.nested_virt.memory", std::string("nested_ept"), {"test"});
    params.set_value("system.nested_virt.vmcs_shadowing", assists, {"test"});
    params.set_value("system.nested_virt.virtual_vmload_vmsave", assists, {"test"});
    params.set_value("system.vmx.vmptrld_entries", vmptrld_entries, {"test"});
    t = std::make_unique<TransitionParameters>(Scope{&params, nullptr, "system.vmx"});
    h = std::make_unique<HypervisorParameters>(Scope{&params, nullptr, "system.hypervisor"});
    n = std::make_unique<NestedVirtualizationParameters>(Scope{&params, nullptr, "system.nested_virt"});
  }
  double software(const HypervisorParameters::Handler& x) const {
    return x.instructions * h->cpi + double(x.vmcs_reads) * t->vmread_cycles + double(x.vmcs_writes) * t->vmwrite_cycles;
  }
  double round_trip() const { return double(t->vm_exit_cycles) + t->vm_entry_cycles; }
  double vmcs_pointer_op() const { return t->vmptrld_entries * t->vm_entry_cycles; }
  double svm_software(const HypervisorParameters::Handler& x) const { return x.instructions * h->cpi; }
  double world_switch() const { return 2.0 * t->vmload_cycles + t->vmsave_cycles; }
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
                    p.software(p.n->resume) + reads * p.software(p.n->vmread) + writes * p.software(p.n->vmwrite) +
                    2 * p.vmcs_pointer_op();  // VMPTRLD of vmcs01, then of vmcs02
  EXPECT_EQ(c.l0_software, Cycles(l0 + 0.5));
}

TEST(NestedVirtualization, L0LoadsAVmcsAtEachTransitionAndTheShadowVmcsAtEachCopy) {
  EXPECT_EQ(reflected_exit_vmcs_pointer_ops(false).vmptrlds, 2u);  // vmcs01 at the exit, vmcs02 at VMRESUME
  EXPECT_EQ(reflected_exit_vmcs_pointer_ops(false).vmclears, 0u);
  EXPECT_EQ(reflected_exit_vmcs_pointer_ops(true).vmptrlds, 6u);  // and the shadow VMCS, then vmcs01, per copy
  EXPECT_EQ(reflected_exit_vmcs_pointer_ops(true).vmclears, 2u);
  for (bool shadowing : {false, true}) {
    Parameters charged(shadowing, true, "vmx", 1.0), free(shadowing, true, "vmx", 0.0);
    const NestedExitCost c = nested_exit_cost(*charged.t, *charged.h, *charged.n, charged.h->cpuid, false);
    const NestedExitCost f = nested_exit_cost(*free.t, *free.h, *free.n, free.h->cpuid, false);
    const unsigned ops = c.l0_pointer_ops.vmptrlds + c.l0_pointer_ops.vmclears;
    EXPECT_EQ(ops, shadowing ? 8u : 2u);
    EXPECT_EQ(c.l0_software - f.l0_software, Cycles(ops * charged.t->vm_entry_cycles));
    EXPECT_EQ(c.transitions, f.transitions);
  }
  // An exit L0 handles alone stays on vmcs02.
  Parameters p(true);
  EXPECT_EQ(nested_exit_cost(*p.t, *p.h, *p.n, p.h->nested_fill, true).l0_pointer_ops.vmptrlds, 0u);
}

TEST(NestedVirtualization, OnAmdVL1sVmrunExitsAndL0ReflectsWithoutVmcsPointerInstructions) {
  Parameters p(/*virtual VMLOAD/VMSAVE=*/true, true, "svm");
  const auto& cpuid = p.h->cpuid;
  const NestedExitCost c = nested_exit_cost(*p.t, *p.h, *p.n, cpuid, false);
  EXPECT_EQ(c.l1_exits, 1u);  // its VMRUN; its VMCB accesses are memory
  EXPECT_EQ(c.l1_vmcs_exits, 0u);
  EXPECT_EQ(c.l0_pointer_ops.vmptrlds + c.l0_pointer_ops.vmclears, 0u);
  EXPECT_EQ(c.transitions, Cycles(2 * p.round_trip()));
  // L0: two exit paths, the decision, the emulated #VMEXIT with its entry's VMLOADs and VMSAVE
  // into L1, the VMRUN (whose entry into L2 is the unit's).
  const double l0 = 2 * p.svm_software(p.h->exit_path) + p.svm_software(p.n->svm_decide) +
                    p.svm_software(p.n->svm_reflect) + p.world_switch() + p.svm_software(p.n->svm_vmrun);
  EXPECT_EQ(c.l0_software, Cycles(l0 + 0.5));
  // L1: its handler and its own VMLOADs and VMSAVE, run by the hardware.
  EXPECT_EQ(c.l1_software,
            Cycles((p.h->exit_path.instructions + cpuid.instructions) * p.h->cpi + p.world_switch() + 0.5));
  // An exit L0 handles alone: one round trip, the decision, L0's handler.
  const NestedExitCost alone = nested_exit_cost(*p.t, *p.h, *p.n, p.h->nested_fill, true);
  EXPECT_EQ(alone.total, Cycles(p.round_trip() + p.svm_software(p.h->exit_path) + p.svm_software(p.n->svm_decide) +
                                p.svm_software(p.h->nested_fill) + 0.5));
}

TEST(NestedVirtualization, WithoutVirtualVmloadVmsaveL1sThreeAreRoundTripsToL0) {
  Parameters on(true, true, "svm"), off(false, true, "svm");
  const NestedExitCost with = nested_exit_cost(*on.t, *on.h, *on.n, on.h->cpuid, false);
  const NestedExitCost without = nested_exit_cost(*off.t, *off.h, *off.n, off.h->cpuid, false);
  EXPECT_EQ(without.l1_vmcs_exits, 3u);  // two VMLOADs and a VMSAVE around its VMRUN
  EXPECT_EQ(without.l1_exits, 4u);
  EXPECT_EQ(without.transitions, Cycles(5 * off.round_trip()));
  const double each = off.svm_software(off.h->exit_path) + off.svm_software(off.n->svm_vmloadsave) + off.world_switch();
  EXPECT_EQ(without.l0_software, Cycles(with.l0_software + 3 * each + 0.5));
  EXPECT_EQ(with.l1_software - without.l1_software, Cycles(on.world_switch()));
  EXPECT_LT(with.total, without.total);
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
