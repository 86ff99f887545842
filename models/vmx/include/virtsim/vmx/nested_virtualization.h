#pragma once
// Nested virtualization: the guest the vCPU runs is an L2 guest, run by a hypervisor (L1, the
// same KVM-style model) that itself runs in a VM of the host hypervisor (L0). The hardware has
// one level of VMX / SVM: every exit of L2 goes to L0; L0 handles it alone or reflects it to L1.
// VT-x: L0 emulates a VM exit into L1 (vmcs02 synced into vmcs12, VMPTRLD of vmcs01, L1
// entered); L1's handler runs, its VMREADs and VMWRITEs each exit to L0 unless VMCS shadowing is
// on, and its VMRESUME exits to L0, which checks and merges vmcs12 into vmcs02, loads vmcs02
// (VMPTRLD) and enters L2. AMD-V: L0 emulates a #VMEXIT into L1 (vmcb02's state written to
// vmcb12, vmcb01 made current: a pointer, VMRUN takes the VMCB's address); L1's VMCB accesses are
// ordinary memory, its VMLOADs and VMSAVE around VMRUN exit to L0 unless virtual VMLOAD/VMSAVE
// is on, and its VMRUN exits to L0, which checks vmcb12, builds vmcb02 and enters L2.
//
// The counts of L0's nested work are read from KVM's nested VMX and SVM in Linux 6.1
// (arch/x86/kvm/vmx/nested.c, svm/nested.c): scripts/count-nested-kvm counts the statements of
// the functions on each path (experiments/calibration/kvm-6.1-nested.json) and turns them into
// instructions at the ratio scripts/measure-kvm-code measured on Debian's build (2.56 a
// statement); VMCS accesses are the vmcs_read*/vmcs_write* calls among them. L1's own handler is
// the single-level handler of the exit (system.hypervisor.*).
#include <cstdint>
#include <string>

#include "virtsim/common/param.h"
#include "virtsim/vmx/virtualization_unit.h"

namespace virtsim {

// Scope "system.nested_virt": declared in every run.
class NestedVirtualizationParameters {
 public:
  explicit NestedVirtualizationParameters(const Scope& scope);
  bool enabled() const { return memory.get() != "none"; }

  // How L1 virtualizes L2's memory over L0's EPT / NPT: none (no L2 guest), nested_ept,
  // shadow_on_ept (on AMD-V: nested NPT, shadow-on-NPT).
  Param<std::string> memory;
  Param<bool> vmcs_shadowing;          // VT-x
  Param<bool> virtual_vmload_vmsave;   // AMD-V
  // L0's side of nested VMX, each as a handler (instructions, VMCS reads / writes, lines).
  HypervisorParameters::Handler decide;       // every L2 exit: whose is it
  HypervisorParameters::Handler reflect;      // the emulated VM exit into L1
  HypervisorParameters::Handler resume;       // L1's VMRESUME: vmcs12 merged into vmcs02, L2 entered
  HypervisorParameters::Handler vmread;       // an L1 VMREAD that exited (no VMCS shadowing)
  HypervisorParameters::Handler vmwrite;      // an L1 VMWRITE that exited
  HypervisorParameters::Handler shadow_sync;  // with shadowing: vmcs12 to the shadow VMCS and back
  // AMD-V: L0's side of nested SVM.
  HypervisorParameters::Handler svm_decide;      // every L2 #VMEXIT: whose is it
  HypervisorParameters::Handler svm_reflect;     // the emulated #VMEXIT into L1
  HypervisorParameters::Handler svm_vmrun;       // L1's VMRUN: vmcb12 checked, vmcb02 built, L2 entered
  HypervisorParameters::Handler svm_vmloadsave;  // an L1 VMLOAD / VMSAVE that exited
};

// The VMCS-pointer instructions L0 runs for one reflected VT-x exit (VMPTRLD, VMCLEAR): vmcs01
// at the emulated exit and vmcs02 at VMRESUME (vmx_switch_vmcs), and with VMCS shadowing the
// shadow VMCS loaded, cleared and vmcs01 loaded again at each of the two copies.
struct VmcsPointerOps {
  unsigned vmptrlds = 0;
  unsigned vmclears = 0;
};
VmcsPointerOps reflected_exit_vmcs_pointer_ops(bool vmcs_shadowing);

// KVM's VMLOADs and VMSAVE around each VMRUN, L0's as L1's (Linux 6.1 svm/vmenter.S: VMLOAD of the guest's
// state, VMRUN, VMSAVE of the guest's state, VMLOAD of the host's).
constexpr unsigned kVmloadsPerRun = 2;
constexpr unsigned kVmsavesPerRun = 1;

// Who handles an EPT violation of L2 (the memory strategy decides, per fault): L0 filling its
// EPT (shadow-on-EPT: L0's EPT for L1's memory), L0 filling the shadow EPT from L1's EPT for
// L2 (nested EPT, a page L1 maps), or L1 (nested EPT, a page L1's EPT does not map: reflected).
enum class NestedFaultOwner { L0Fill, L0ShadowEptFill, L1 };

// What one L2 exit cost, by level (plain C++, so it can be checked without a simulation).
struct NestedExitCost {
  Cycles total = 0;
  Cycles transitions = 0;    // hardware VM exits and entries, every level
  Cycles l0_software = 0;    // L0's instructions and VMCS accesses (exit paths, nested work)
  Cycles l1_software = 0;    // L1's handler: instructions and its VMCS accesses when they do not exit
  unsigned l1_exits = 0;     // L0 exits L1's handling caused (VMREAD / VMWRITE or VMLOAD / VMSAVE, VMRESUME / VMRUN)
  unsigned l1_vmcs_exits = 0;  // of which VMREAD / VMWRITE (VT-x) or VMLOAD / VMSAVE (AMD-V)
  VmcsPointerOps l0_pointer_ops;  // VT-x
};

// The cost of an L2 exit, without the handlers' data loads (the unit loads those through the
// caches). `l0_only`: L0 handles it alone with `handler`; otherwise it is reflected and L1
// runs the exit path and `handler`, making `extra_l1_writes` more VMWRITEs. On AMD-V the
// VMLOADs and VMSAVE of L0's first entry are the unit's (as for a single-level exit); those of
// every further L0 entry, and L1's, are in the cost.
NestedExitCost nested_exit_cost(const TransitionParameters& t, const HypervisorParameters& h,
                                const NestedVirtualizationParameters& n, const HypervisorParameters::Handler& handler,
                                bool l0_only, unsigned extra_l1_writes = 0);

}  // namespace virtsim
