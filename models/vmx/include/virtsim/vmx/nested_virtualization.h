#pragma once
// Nested virtualization on VT-x: the guest the vCPU runs is an L2 guest, run by a hypervisor
// (L1, the same KVM-style model) that itself runs in a VM of the host hypervisor (L0). The
// hardware has one level of VMX: every exit of L2 goes to L0; L0 handles it alone or reflects
// it to L1 (emulates a VM exit into L1: vmcs02 synced into vmcs12, vmcs01 loaded, L1
// entered); L1's handler runs, its VMREADs and VMWRITEs each exit to L0 unless VMCS shadowing
// is on, and its VMRESUME exits to L0, which merges vmcs12 into vmcs02 and enters L2.
//
// The counts of L0's nested work are read from KVM's nested VMX in Linux 6.1
// (arch/x86/kvm/vmx/nested.c), as the single-level handlers' are from vmx.c (virtualization_unit.h):
// statements of the functions on the path at 2 instructions each, VMCS accesses the
// vmcs_read*/vmcs_write* calls among them. L1's own handler is the single-level handler of the
// exit (system.hypervisor.*).
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

  // How L1 virtualizes L2's memory over L0's EPT: none (no L2 guest), nested_ept, shadow_on_ept.
  Param<std::string> memory;
  Param<bool> vmcs_shadowing;
  // L0's side of nested VMX, each as a handler (instructions, VMCS reads / writes, lines).
  HypervisorParameters::Handler decide;       // every L2 exit: whose is it
  HypervisorParameters::Handler reflect;      // the emulated VM exit into L1
  HypervisorParameters::Handler resume;       // L1's VMRESUME: vmcs12 merged into vmcs02, L2 entered
  HypervisorParameters::Handler vmread;       // an L1 VMREAD that exited (no VMCS shadowing)
  HypervisorParameters::Handler vmwrite;      // an L1 VMWRITE that exited
  HypervisorParameters::Handler shadow_sync;  // with shadowing: vmcs12 to the shadow VMCS and back
};

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
  unsigned l1_exits = 0;     // L0 exits L1's handling caused (VMREAD / VMWRITE, VMRESUME)
  unsigned l1_vmcs_exits = 0;
};

// The cost of an L2 exit, without the handlers' data loads (the unit loads those through the
// caches). `l0_only`: L0 handles it alone with `handler`; otherwise it is reflected and L1
// runs the exit path and `handler`, making `extra_l1_writes` more VMWRITEs.
NestedExitCost nested_exit_cost(const TransitionParameters& t, const HypervisorParameters& h,
                                const NestedVirtualizationParameters& n, const HypervisorParameters::Handler& handler,
                                bool l0_only, unsigned extra_l1_writes = 0);

}  // namespace virtsim
