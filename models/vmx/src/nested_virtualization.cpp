#include "virtsim/vmx/nested_virtualization.h"

namespace virtsim {

// L0's nested work, read from KVM's nested VMX and SVM in Linux 6.1 (arch/x86/kvm/vmx/nested.c,
// svm/nested.c, vmcs_shadow_fields.h): scripts/count-nested-kvm lists the functions on each path
// of a 64-bit L2 guest (no enlightened VMCS), counts their statements (a dispatcher's switch as
// the one case taken, a copy loop once per field) and multiplies by the 2.56 instructions a
// statement scripts/measure-kvm-code measured on Debian's build of 6.1; its output,
// experiments/calibration/kvm-6.1-nested.json, lists every function. VMCS reads and writes: the
// vmcs_read*/vmcs_write* calls on the path (the controls setters count as writes). Lines: the
// cache lines of vmcs12 / vmcb12 and of the nested state they touch, and for each page of L1's
// memory L0 maps (kvm_vcpu_map, on every nested entry in 6.1) the host page-table entries its
// lockless lookup reads and the page's struct folio it pins.
NestedVirtualizationParameters::NestedVirtualizationParameters(const Scope& scope)
    : VIRTSIM_MEMBER(memory, scope, "none", "",
                     "nested virtualization: none (the guest runs on the host's hypervisor), or the guest is an L2 "
                     "guest whose hypervisor (L1, the same model) runs in a VM of the host's (L0) and virtualizes "
                     "L2's memory with nested_ept (L0 merges L1's EPT for L2 with its own into shadow EPT tables; "
                     "under AMD-V the same with NPT: nested NPT) or shadow_on_ept (L1 keeps shadow tables for L2, "
                     "walked through L0's EPT, or NPT under AMD-V)",
                     {}, {"none", "nested_ept", "shadow_on_ept"}),
      VIRTSIM_MEMBER(vmcs_shadowing, scope, true, "",
                     "VMCS shadowing (VT-x, Haswell and later): L1's VMREADs and VMWRITEs of the shadowed fields go "
                     "to a shadow VMCS without exiting, and L0 copies vmcs12 to the shadow VMCS at every exit it "
                     "reflects and back at L1's VMRESUME; KVM enables it where the CPU has it (enable_shadow_vmcs). "
                     "Off, every L1 VMREAD / VMWRITE is an exit to L0"),
      VIRTSIM_MEMBER(virtual_vmload_vmsave, scope, true, "",
                     "virtual VMLOAD/VMSAVE (AMD-V, Zen and later): L1's VMLOADs and VMSAVE around each VMRUN run "
                     "in hardware on vmcb12's state without exiting; KVM turns it on for a guest where the CPU has it "
                     "(svm.c's vls, V_VMSAVE_VMLOAD in the guest's CPUID). Off, each is an exit to L0, which copies "
                     "the state (vmload_vmsave_interception)"),
      decide(scope, "decide", 256, 2, 0, 3,
             "every L2 exit: nested_mark_vmcs12_pages_dirty (the virtual-APIC page and posted-interrupt descriptor "
             "marked dirty: kvm_vcpu_mark_page_dirty twice), nested_vmx_reflect_vmexit with "
             "nested_vmx_l0_wants_exit / l1_wants_exit's case; 100 statements; reads VM_EXIT_INTR_INFO and "
             "EXIT_QUALIFICATION (then cached); lines: those two fields' and the memslot's"),
      reflect(scope, "reflect", 2688, 16, 58, 10,
              "an exit reflected to L1: nested_vmx_vmexit, sync_vmcs02_to_vmcs12, prepare_vmcs12, "
              "load_vmcs12_host_state (with its callees: vmx_set_efer, vmx_set_rflags, vmx_set_cr0, vmx_set_cr4, "
              "eight __vmx_set_segment, kvm_set_dr, nested_vmx_load_cr3 -> kvm_init_mmu and kvm_mmu_new_pgd), "
              "vmx_switch_vmcs to vmcs01 (its VMPTRLD: system.vmx.vmptrld_entries), nested_vmx_transition_tlb_flush, the "
              "three L1 pages vmcs02 pointed to unmapped (kvm_vcpu_unmap: APIC-access page; virtual-APIC page and "
              "posted-interrupt descriptor marked dirty), and the next L0 entry's request checks with "
              "KVM_REQ_LOAD_MMU_PGD (vmx_load_mmu_pgd writes EPT_POINTER and GUEST_CR3); 1050 statements; lines: "
              "vmcs12's exit-information and guest-state fields (6), the three pages' struct folio (3), the memslot"),
      resume(scope, "resume", 5069, 1, 41, 27,
             "L1's VMRESUME: handle_vmresume -> nested_vmx_run, the consistency checks (nested_vmx_check_controls "
             "and its 16 callees, nested_vmx_check_host_state, nested_vmx_check_guest_state), "
             "nested_vmx_enter_non_root_mode, prepare_vmcs02_early, prepare_vmcs02 (with its callees: vmx_set_cr0, "
             "vmx_set_cr4, vmx_set_efer, vmx_set_rflags, kvm_set_dr, vmx_update_exception_bitmap, "
             "nested_vmx_load_cr3, nested_ept_init_mmu_context), nested_get_vmcs12_pages, "
             "nested_get_vmcs12_pages (L1's APIC-access page, virtual-APIC page, posted-interrupt descriptor and "
             "MSR bitmap each mapped: kvm_vcpu_map, the memslot search, hva_to_pfn and mm's lockless "
             "get_user_pages walk), nested_vmx_prepare_msr_bitmap (L1's bitmap merged into vmcs02's, then "
             "unmapped), vmx_switch_vmcs to vmcs02 (its VMPTRLD: system.vmx.vmptrld_entries), and the next L0 entry's "
             "request checks with KVM_REQ_LOAD_MMU_PGD (EPT_POINTER and GUEST_CR3 written); 1980 statements; "
             "prepare_vmcs02_rare is skipped (vmcs12 is not dirty: L1 wrote only shadowed read-write fields); "
             "lines: vmcs12's control and guest-state fields (8), per page mapped the host page-table entries the "
             "walk reads (PGD, PUD, PMD: 3) and its struct folio (16), the memslot, the x2APIC words of both MSR "
             "bitmaps (2)"),
      vmread(scope, "vmread", 230, 6, 1, 2,
             "an L1 VMREAD that exits: handle_vmread (EXIT_QUALIFICATION, VMX_INSTRUCTION_INFO), "
             "nested_vmx_check_permission, the vmcs12 field lookup, nested_vmx_succeed, the skip; 90 statements"),
      vmwrite(scope, "vmwrite", 259, 6, 1, 2,
              "an L1 VMWRITE that exits: handle_vmwrite, nested_vmx_check_permission, the vmcs12 field lookup and "
              "store, nested_vmx_succeed, the skip; 101 statements"),
      shadow_sync(scope, "shadow_sync", 1469, 24, 36, 5,
                  "VMCS shadowing on: copy_vmcs12_to_shadow at each reflected exit (the 36 fields of "
                  "vmcs_shadow_fields.h, 12 read-only and 24 read-write, each a VMWRITE to the shadow VMCS) and "
                  "copy_shadow_to_vmcs12 at VMRESUME (the 24 read-write ones, each a VMREAD), each between a "
                  "VMPTRLD of the shadow VMCS and a VMCLEAR of it and VMPTRLD of vmcs01 (system.vmx.vmptrld_entries); 574 "
                  "statements"),
      svm_decide(scope, "svm_decide", 36, 0, 0, 1,
                 "AMD-V, every L2 #VMEXIT: nested_svm_exit_special, nested_svm_exit_handled -> nested_svm_intercept's "
                 "case; 14 statements; line: the cached vmcb12 intercepts"),
      svm_reflect(scope, "svm_reflect", 1743, 0, 0, 15,
                  "AMD-V, an exit reflected to L1: nested_svm_vmexit (vmcb12 mapped, vmcb02's state and exit "
                  "information written to it, svm_switch_vmcb to vmcb01, L1's state restored: svm_set_efer, "
                  "svm_set_cr0, svm_set_cr4, nested_svm_load_cr3 -> kvm_init_mmu), "
                  "nested_svm_transition_tlb_flush, vmcb12 unmapped (dirty), the next L0 entry's request checks with "
                  "KVM_REQ_LOAD_MMU_PGD; 681 statements; lines: vmcb12's control-area exit fields and the save-area "
                  "lines written (assumption: 2 + 8), the mapping's host page-table entries (3), struct folio and "
                  "memslot"),
      svm_vmrun(scope, "svm_vmrun", 2806, 0, 0, 28,
                "AMD-V, L1's VMRUN: vmrun_interception -> nested_svm_vmrun (vmcb12 mapped, its control and save "
                "areas copied to the cache and checked: __nested_vmcb_check_controls, __nested_vmcb_check_save), "
                "svm_copy_vmrun_state, enter_svm_guest_mode (nested_vmcb02_prepare_control, recalc_intercepts, "
                "nested_vmcb02_prepare_save, svm_switch_vmcb to vmcb02, nested_svm_load_cr3, "
                "nested_svm_init_mmu_context), nested_svm_vmrun_msrpm (L1's MSR permission map merged, 11 words "
                "read from guest memory), vmcb12 unmapped (dirty), the next L0 entry's request checks with "
                "KVM_REQ_LOAD_MMU_PGD; 1096 statements; lines: vmcb12's control area (4) and save area "
                "(assumption: 8), the 11 permission-map words, the mapping's host page-table entries (3), struct "
                "folio and memslot"),
      svm_vmloadsave(scope, "svm_vmloadsave", 1004, 0, 0, 11,
                     "AMD-V, an L1 VMLOAD or VMSAVE that exits (virtual VMLOAD/VMSAVE off): "
                     "vmload_vmsave_interception (vmcb12 mapped, svm_copy_vmloadsave_state between it and vmcb01, "
                     "the skip, vmcb12 unmapped dirty); 392 statements; lines: the copied state in both VMCBs (3 "
                     "each), the mapping's host page-table entries (3), struct folio and memslot") {
  Addr offset = HypervisorMemoryLayout::kNestedState;
  for (HypervisorParameters::Handler* h :
       {&decide, &reflect, &resume, &vmread, &vmwrite, &shadow_sync, &svm_decide, &svm_reflect, &svm_vmrun,
        &svm_vmloadsave}) {
    h->data_offset = offset;
    offset += Addr{h->memory_lines.get()} * 64;
  }
}

VmcsPointerOps reflected_exit_vmcs_pointer_ops(bool vmcs_shadowing) {
  VmcsPointerOps ops;
  ops.vmptrlds = 2;  // vmcs01 at the emulated exit, vmcs02 at VMRESUME
  if (vmcs_shadowing) {
    ops.vmptrlds += 2 * 2;  // each copy: the shadow VMCS, then vmcs01 again
    ops.vmclears += 2;      // each copy clears the shadow VMCS
  }
  return ops;
}

namespace {

double instruction_cycles(const HypervisorParameters& h, const HypervisorParameters::Handler& x) {
  return h.enabled ? x.instructions.get() * h.cpi.get() : 0.0;
}

// VMCS accesses (VT-x); on AMD-V a VMCB access is a load the unit charges through the caches.
double vmcs_cycles(const TransitionParameters& t, const HypervisorParameters& h, const HypervisorParameters::Handler& x) {
  return h.enabled && t.virt_mode() == VirtMode::Vmx ? double(x.vmcs_reads) * t.vmread_cycles + double(x.vmcs_writes) * t.vmwrite_cycles : 0.0;
}

double software(const TransitionParameters& t, const HypervisorParameters& h, const HypervisorParameters::Handler& x) {
  return instruction_cycles(h, x) + vmcs_cycles(t, h, x);
}

// VT-x: L1's VMCS accesses exit without shadowing; L0's VMCS-pointer instructions.
void add_vmx_reflection(const TransitionParameters& t, const HypervisorParameters& h,
                        const NestedVirtualizationParameters& n, unsigned reads, unsigned writes, double round_trip,
                        double l0_exit, NestedExitCost& cost, double& transitions, double& l0, double& l1) {
  l0 += software(t, h, n.reflect);
  if (n.vmcs_shadowing) {
    if (h.enabled) l1 += double(reads) * t.vmread_cycles + double(writes) * t.vmwrite_cycles;
    l0 += software(t, h, n.shadow_sync);
  } else if (h.enabled) {
    // Each is an exit of L1 to L0 and an entry back: a full round trip with L0's exit path.
    transitions += double(reads + writes) * round_trip;
    l0 += reads * (l0_exit + software(t, h, n.vmread)) + writes * (l0_exit + software(t, h, n.vmwrite));
    cost.l1_vmcs_exits = reads + writes;
  }
  // L1's VMRESUME exits to L0, which checks and merges vmcs12 into vmcs02 and enters L2.
  transitions += round_trip;
  l0 += l0_exit + software(t, h, n.resume);
  cost.l0_pointer_ops = reflected_exit_vmcs_pointer_ops(n.vmcs_shadowing);
  if (h.enabled)
    l0 += double(cost.l0_pointer_ops.vmptrlds + cost.l0_pointer_ops.vmclears) * t.vmcs_pointer_op_cycles();
}

// AMD-V: VMCB accesses are memory (the unit loads the lines); L1's VMLOADs and VMSAVE exit
// without virtual VMLOAD/VMSAVE; every L0 entry runs L0's own VMLOADs and VMSAVE.
void add_svm_reflection(const TransitionParameters& t, const HypervisorParameters& h,
                        const NestedVirtualizationParameters& n, double round_trip, double l0_exit,
                        NestedExitCost& cost, double& transitions, double& l0, double& l1) {
  const double l0_world_switch = h.enabled ? double(kVmloadsPerRun) * t.vmload_cycles +
                                                 double(kVmsavesPerRun) * t.vmsave_cycles
                                           : 0.0;
  l0 += software(t, h, n.svm_reflect) + l0_world_switch;  // L0's entry into L1
  const unsigned loadsaves = kVmloadsPerRun + kVmsavesPerRun;
  if (n.virtual_vmload_vmsave) {
    l1 += l0_world_switch;  // the same instructions, L1's, virtualized by the hardware
  } else if (h.enabled) {
    transitions += double(loadsaves) * round_trip;
    l0 += loadsaves * (l0_exit + software(t, h, n.svm_vmloadsave) + l0_world_switch);
    cost.l1_vmcs_exits = loadsaves;
  }
  // L1's VMRUN exits to L0, which checks vmcb12, builds vmcb02 and enters L2 (that entry's
  // VMLOADs and VMSAVE are the unit's).
  transitions += round_trip;
  l0 += l0_exit + software(t, h, n.svm_vmrun);
}

}  // namespace

NestedExitCost nested_exit_cost(const TransitionParameters& t, const HypervisorParameters& h,
                                const NestedVirtualizationParameters& n, const HypervisorParameters::Handler& handler,
                                bool l0_only, unsigned extra_l1_writes) {
  const bool svm = t.virt_mode() == VirtMode::Svm;
  const double round_trip = double(t.vm_exit_cycles) + t.vm_entry_cycles;
  // Every exit L0 takes runs its exit path (vcpu_enter_guest, vmx_vcpu_run / svm_vcpu_run, the dispatch).
  const double l0_exit = software(t, h, h.exit_path);
  double transitions = round_trip;  // L2 -> L0, and L0 -> L2 or L0 -> L1
  double l0 = l0_exit + software(t, h, svm ? n.svm_decide : n.decide);
  double l1 = 0;
  NestedExitCost cost;
  if (l0_only) {
    l0 += software(t, h, handler);
  } else {
    l1 = instruction_cycles(h, h.exit_path) + instruction_cycles(h, handler);
    if (svm) {
      add_svm_reflection(t, h, n, round_trip, l0_exit, cost, transitions, l0, l1);
    } else {
      const unsigned reads = h.exit_path.vmcs_reads + handler.vmcs_reads;
      const unsigned writes = h.exit_path.vmcs_writes + handler.vmcs_writes + extra_l1_writes;
      add_vmx_reflection(t, h, n, reads, writes, round_trip, l0_exit, cost, transitions, l0, l1);
    }
    cost.l1_exits = cost.l1_vmcs_exits + 1;
  }
  cost.transitions = static_cast<Cycles>(transitions + 0.5);
  cost.l0_software = static_cast<Cycles>(l0 + 0.5);
  cost.l1_software = static_cast<Cycles>(l1 + 0.5);
  cost.total = cost.transitions + cost.l0_software + cost.l1_software;
  return cost;
}

}  // namespace virtsim
