#include "virtsim/vmx/nested_virtualization.h"

namespace virtsim {

// L0's nested work, read from KVM's nested VMX in Linux 6.1 (arch/x86/kvm/vmx/nested.c, and
// vmcs_shadow_fields.h for the shadowed fields): the statements of each function on the path,
// counted with every branch a 64-bit L2 without an enlightened VMCS takes (so a little high
// where a branch is skipped), at 2 instructions each as for the single-level handlers.
// VMCS reads and writes: the vmcs_read*/vmcs_write* calls among them (the controls setters
// count as writes). Lines: the cache lines of vmcs12 and of the nested state they touch.
NestedVirtualizationParameters::NestedVirtualizationParameters(const Scope& scope)
    : VIRTSIM_MEMBER(memory, scope, "none", "",
                     "nested virtualization: none (the guest runs on the host's hypervisor), or the guest is an L2 "
                     "guest whose hypervisor (L1, the same model) runs in a VM of the host's (L0) and virtualizes "
                     "L2's memory with nested_ept (L0 merges L1's EPT for L2 with its own into shadow EPT tables) "
                     "or shadow_on_ept (L1 keeps shadow tables for L2, walked through L0's EPT); VT-x only",
                     {}, {"none", "nested_ept", "shadow_on_ept"}),
      VIRTSIM_MEMBER(vmcs_shadowing, scope, true, "",
                     "VMCS shadowing (VT-x, Haswell and later): L1's VMREADs and VMWRITEs of the shadowed fields go "
                     "to a shadow VMCS without exiting, and L0 copies vmcs12 to the shadow VMCS at every exit it "
                     "reflects and back at L1's VMRESUME; KVM enables it where the CPU has it (enable_shadow_vmcs). "
                     "Off, every L1 VMREAD / VMWRITE is an exit to L0"),
      decide(scope, "decide", 56, 2, 0, 2,
             "every L2 exit: nested_vmx_reflect_vmexit with nested_vmx_l0_wants_exit / l1_wants_exit's case; ~28 "
             "statements; reads VM_EXIT_INTR_INFO and EXIT_QUALIFICATION (then cached)"),
      reflect(scope, "reflect", 950, 16, 56, 6,
              "an exit reflected to L1: nested_vmx_vmexit, prepare_vmcs12 with sync_vmcs02_to_vmcs12, "
              "load_vmcs12_host_state (with its callees: vmx_set_efer, vmx_set_rflags, vmx_set_cr0, vmx_set_cr4, "
              "eight __vmx_set_segment of 4 VMWRITEs each, kvm_set_dr, nested_vmx_load_cr3 -> kvm_init_mmu and "
              "kvm_mmu_new_pgd), vmx_switch_vmcs to vmcs01, nested_vmx_transition_tlb_flush; ~475 statements; "
              "lines: vmcs12's exit-information and guest-state fields"),
      resume(scope, "resume", 1010, 1, 39, 8,
             "L1's VMRESUME: handle_vmresume -> nested_vmx_run, the entry checks (nested_vmx_check_controls, "
             "host_state, guest_state: ~60 conditions), nested_vmx_enter_non_root_mode, prepare_vmcs02_early, "
             "prepare_vmcs02 (with its callees: vmx_set_cr0, vmx_set_cr4, vmx_set_efer, vmx_set_rflags, kvm_set_dr, "
             "vmx_update_exception_bitmap, nested_vmx_load_cr3 -> kvm_init_mmu and kvm_mmu_new_pgd), "
             "nested_get_vmcs12_pages, vmx_switch_vmcs to vmcs02; ~505 statements; prepare_vmcs02_rare is skipped "
             "(vmcs12 is not dirty: L1 wrote only shadowed read-write fields)"),
      vmread(scope, "vmread", 146, 6, 1, 2,
             "an L1 VMREAD that exits: handle_vmread (EXIT_QUALIFICATION, VMX_INSTRUCTION_INFO), "
             "nested_vmx_check_permission, the vmcs12 field lookup, nested_vmx_succeed, the skip; ~73 statements"),
      vmwrite(scope, "vmwrite", 156, 6, 1, 2,
              "an L1 VMWRITE that exits: handle_vmwrite, nested_vmx_check_permission, the vmcs12 field lookup and "
              "store, nested_vmx_succeed, the skip; ~78 statements"),
      shadow_sync(scope, "shadow_sync", 428, 24, 36, 5,
                  "VMCS shadowing on: copy_vmcs12_to_shadow at each reflected exit (the 36 fields of "
                  "vmcs_shadow_fields.h, 12 read-only and 24 read-write, each a VMWRITE to the shadow VMCS) and "
                  "copy_shadow_to_vmcs12 at VMRESUME (the 24 read-write ones, each a VMREAD); ~214 statements") {
  Addr offset = HypervisorMemoryLayout::kNestedState;
  for (HypervisorParameters::Handler* h : {&decide, &reflect, &resume, &vmread, &vmwrite, &shadow_sync}) {
    h->data_offset = offset;
    offset += Addr{h->memory_lines.get()} * 64;
  }
}

namespace {

double instruction_cycles(const HypervisorParameters& h, const HypervisorParameters::Handler& x) {
  return h.enabled ? x.instructions.get() * h.cpi.get() : 0.0;
}

double vmcs_cycles(const TransitionParameters& t, const HypervisorParameters& h, const HypervisorParameters::Handler& x) {
  return h.enabled ? double(x.vmcs_reads) * t.vmread_cycles + double(x.vmcs_writes) * t.vmwrite_cycles : 0.0;
}

double software(const TransitionParameters& t, const HypervisorParameters& h, const HypervisorParameters::Handler& x) {
  return instruction_cycles(h, x) + vmcs_cycles(t, h, x);
}

}  // namespace

NestedExitCost nested_exit_cost(const TransitionParameters& t, const HypervisorParameters& h,
                                const NestedVirtualizationParameters& n, const HypervisorParameters::Handler& handler,
                                bool l0_only, unsigned extra_l1_writes) {
  const double round_trip = double(t.vm_exit_cycles) + t.vm_entry_cycles;
  // Every exit L0 takes runs its exit path (vcpu_enter_guest, vmx_vcpu_run, __vmx_handle_exit).
  const double l0_exit = software(t, h, h.exit_path);
  double transitions = round_trip;  // L2 -> L0, and L0 -> L2 or L0 -> L1
  double l0 = l0_exit + software(t, h, n.decide);
  double l1 = 0;
  NestedExitCost cost;
  if (l0_only) {
    l0 += software(t, h, handler);
  } else {
    l0 += software(t, h, n.reflect);
    l1 = instruction_cycles(h, h.exit_path) + instruction_cycles(h, handler);
    const unsigned reads = h.exit_path.vmcs_reads + handler.vmcs_reads;
    const unsigned writes = h.exit_path.vmcs_writes + handler.vmcs_writes + extra_l1_writes;
    if (n.vmcs_shadowing) {
      if (h.enabled) l1 += double(reads) * t.vmread_cycles + double(writes) * t.vmwrite_cycles;
      l0 += software(t, h, n.shadow_sync);
    } else if (h.enabled) {
      // Each is an exit of L1 to L0 and an entry back: a full round trip with L0's exit path.
      transitions += double(reads + writes) * round_trip;
      l0 += reads * (l0_exit + software(t, h, n.vmread)) + writes * (l0_exit + software(t, h, n.vmwrite));
      cost.l1_vmcs_exits = reads + writes;
    }
    // L1's VMRESUME exits to L0, which merges vmcs12 into vmcs02 and enters L2.
    transitions += round_trip;
    l0 += l0_exit + software(t, h, n.resume);
    cost.l1_exits = cost.l1_vmcs_exits + 1;
  }
  cost.transitions = static_cast<Cycles>(transitions + 0.5);
  cost.l0_software = static_cast<Cycles>(l0 + 0.5);
  cost.l1_software = static_cast<Cycles>(l1 + 0.5);
  cost.total = cost.transitions + cost.l0_software + cost.l1_software;
  return cost;
}

}  // namespace virtsim
