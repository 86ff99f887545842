#include "virtsim/vmx/virtualization_unit.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "virtsim/common/debug_trace.h"
#include "virtsim/common/error.h"
#include "virtsim/vmx/nested_virtualization.h"

namespace virtsim {

// Defaults: Sandy Bridge's VM exit + entry round trip of 784 cycles (Agesen et al., USENIX ATC
// 2012, table 1), split between entry and exit in the Core 2 proportions of Adams and Agesen
// (ASPLOS 2006, table 1: entry 937, exit 1186), whose VMCS read and write costs (52, 44)
// are also the defaults. VMLOAD / VMSAVE: 150 cycles, inside the ~100-200 posted for recent AMD
// hosts (LKML, December 2020; docs/references.md, "Whole exits under KVM"). Machine presets replace all of them.
TransitionParameters::TransitionParameters(const Scope& scope)
    : VIRTSIM_MEMBER(mode, scope, "none", "",
                     "hardware virtualization: none (native), vmx (Intel VT-x) or svm (AMD-V); chosen at run time",
                     {}, {"none", "vmx", "svm"}),
      VIRTSIM_MEMBER(vm_entry_cycles, scope, 346, "cycles", "VM entry (VMLAUNCH/VMRESUME, or VMRUN)", Range{0, 1e6}),
      VIRTSIM_MEMBER(vm_exit_cycles, scope, 438, "cycles", "VM exit (#VMEXIT)", Range{0, 1e6}),
      VIRTSIM_MEMBER(vmread_cycles, scope, 52, "cycles",
                     "one VMREAD (VT-x; on AMD-V a VMCB read is a load of the VMCB through the caches)", Range{0, 1e5}),
      VIRTSIM_MEMBER(vmwrite_cycles, scope, 44, "cycles",
                     "one VMWRITE (VT-x; on AMD-V a VMCB write is a load of the VMCB line through the caches)",
                     Range{0, 1e5}),
      VIRTSIM_MEMBER(vmload_cycles, scope, 150, "cycles",
                     "VMLOAD (SVM; a KVM-style hypervisor runs two per exit: the guest's state before VMRUN, the "
                     "host's after #VMEXIT). The default is an assumption: VMSAVE's figure, VMLOAD having no "
                     "published one of its own",
                     Range{0, 1e5}),
      VIRTSIM_MEMBER(vmsave_cycles, scope, 150, "cycles",
                     "VMSAVE (SVM; a KVM-style hypervisor runs one per exit, the guest's state after #VMEXIT, and one "
                     "of the host's state before the first entry after each return to user space). The default is "
                     "inside the 100-200 posted for recent AMD hosts (LKML, December 2020; docs/references.md)",
                     Range{0, 1e5}),
      VIRTSIM_MEMBER(clgi_cycles, scope, 0, "cycles",
                     "CLGI (SVM; a KVM-style hypervisor runs one before every VMRUN). 0 is an assumption: no published "
                     "figure, and KVM runs it within the software around VMRUN that the exit path's instructions "
                     "stand for",
                     Range{0, 1e5}),
      VIRTSIM_MEMBER(stgi_cycles, scope, 0, "cycles",
                     "STGI (SVM; a KVM-style hypervisor runs one after every #VMEXIT). 0 is an assumption, as for "
                     "clgi_cycles",
                     Range{0, 1e5}),
      VIRTSIM_MEMBER(vmptrld_entries, scope, 1.0, "VM entries",
                     "one VMPTRLD or VMCLEAR (VT-x), in VM entries (vm_entry_cycles): the host's switch to another "
                     "vCPU's VMCS (system.scheduler) and L0's VMCS switches under nested virtualization "
                     "(system.nested_virt). Assumption: no published latency of either on a recent Intel CPU is "
                     "known to us; both make a VMCS current or write it back as a VM entry loads state from one, so "
                     "one entry each; bounds: a VMWRITE (0.07 of an entry on skylake-sp) to one entry",
                     Range{0, 100}),
      VIRTSIM_MEMBER(native_instruction_cycles, scope, 1, "cycles",
                     "an instruction of an Instr event that does not exit (a ring transition costs its "
                     "transition instead, as natively)",
                     Range{0, 1e5}),
      VIRTSIM_MEMBER(tagged_tlb, scope, true, "",
                     "VPID (VT-x) / ASID (AMD-V): TLB entries are tagged; off, every entry and exit flushes the TLB"),
      VIRTSIM_MEMBER(hlt_exiting, scope, true, "", "HLT exits"),
      VIRTSIM_MEMBER(invlpg_exiting, scope, false, "", "INVLPG exits (shadow paging needs it)"),
      VIRTSIM_MEMBER(rdtsc_exiting, scope, false, "", "RDTSC and RDTSCP exit"),
      VIRTSIM_MEMBER(cr3_exiting, scope, false, "", "MOV to and from CR3 exit (shadow paging needs it)"),
      VIRTSIM_MEMBER(cr8_exiting, scope, false, "", "MOV to CR8 exits"),
      VIRTSIM_MEMBER(use_tpr_shadow, scope, true, "",
                     "TPR shadow (VT-x) / V_TPR (AMD-V): CR8 writes go to the virtual APIC without exiting"),
      VIRTSIM_MEMBER(tpr_threshold, scope, 0, "", "TPR threshold: a CR8 write below it exits (TPR below threshold)",
                     Range{0, 15}),
      VIRTSIM_MEMBER(unconditional_io_exiting, scope, true, "",
                     "every port access exits (off: only the ports a KVM-style hypervisor emulates)"),
      VIRTSIM_MEMBER(pause_exiting, scope, false, "", "every PAUSE exits"),
      VIRTSIM_MEMBER(pause_loop_exiting, scope, true, "", "PAUSE-loop exiting (VT-x) / PAUSE filter (AMD-V)"),
      VIRTSIM_MEMBER(ple_gap, scope, 128, "cycles", "PLE_Gap: PAUSEs at most this far apart form a loop",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(ple_window, scope, 4096, "cycles", "PLE_Window: a PAUSE loop longer than this exits",
                     Range{1, 1e9}),
      VIRTSIM_MEMBER(descriptor_table_exiting, scope, false, "", "LGDT/LIDT/SGDT/SIDT/LLDT/LTR/SLDT/STR exit"),
      VIRTSIM_MEMBER(posted_interrupts, scope, false, "",
                     "interrupts for the guest (timer, IPIs, devices) are posted to its virtual APIC and EOIs "
                     "virtualized (APICv / AVIC): neither exits; off, each interrupt takes an external-interrupt exit "
                     "and each x2APIC EOI write an MSR exit"),
      VIRTSIM_MEMBER(preemption_timer_cycles, scope, 0, "cycles",
                     "VMX-preemption timer: the guest exits after this much guest time (0: off; VT-x only)",
                     Range{0, 1e15}) {}

// The traps shadow paging rests on (#PF, MOV to CR3, INVLPG); no EPT / NPT.
static VirtualizationControls with_shadow_traps(VirtualizationControls c) {
  c.nested_paging = false;
  c.page_fault_exiting = true;
  c.cr3_load_exiting = true;
  c.invlpg_exiting = true;
  return c;
}

VirtualizationControls TransitionParameters::controls() const {
  VirtualizationControls c;
  c.hlt_exiting = hlt_exiting;
  c.invlpg_exiting = invlpg_exiting;
  c.rdtsc_exiting = rdtsc_exiting;
  c.cr3_load_exiting = cr3_exiting;
  // Without a TPR shadow a KVM-style hypervisor must see CR8 writes (SVM intercepts them then too).
  c.cr8_load_exiting = cr8_exiting || !use_tpr_shadow;
  c.use_tpr_shadow = use_tpr_shadow;
  c.tpr_threshold = static_cast<std::uint8_t>(tpr_threshold.get());
  c.unconditional_io_exiting = unconditional_io_exiting;
  // KVM-style: the devices' ports exit, the rest pass through (the model's device list: the
  // in-kernel PIC, PIT and ELCR, the ACPI PM timer and the serial port of a QEMU machine).
  c.io_ports_exiting = {0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x4d0, 0x4d1,
                        0xb008, 0xb009, 0xb00a, 0xb00b, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd};
  c.use_msr_bitmaps = true;
  // APIC base, TSC deadline, TSC and the x2APIC ICR (an IPI) are emulated by the hypervisor;
  // without posted interrupts so is the x2APIC EOI.
  c.msrs_exiting = {0x1b, 0x6e0, 0x10, 0x830};
  if (!posted_interrupts) c.msrs_exiting.push_back(0x80b);
  c.external_interrupt_exiting = !posted_interrupts;
  c.pause_exiting = pause_exiting;
  c.pause_loop_exiting = pause_loop_exiting;
  c.ple_gap = ple_gap;
  c.ple_window = ple_window;
  c.descriptor_table_exiting = descriptor_table_exiting;
  c.tagged_tlb = tagged_tlb;
  c.preemption_timer = preemption_timer_cycles.get() > 0;
  return c;
}

HypervisorParameters::Handler::Handler(const Scope& scope, const std::string& kind, unsigned n, unsigned reads,
                                       unsigned writes, unsigned lines, const std::string& source)
    : instructions(scope, kind + "_instructions", n, "instructions",
                   "instructions the " + kind + " handler runs (" + source + ")", Range{0, 1e7}),
      vmcs_reads(scope, kind + "_vmcs_reads", reads, "reads",
                 "VMCS/VMCB reads of the " + kind + " handler (counted in its path in KVM, Linux 6.1)", Range{0, 1000}),
      vmcs_writes(scope, kind + "_vmcs_writes", writes, "writes",
                  "VMCS/VMCB writes of the " + kind + " handler (counted in its path in KVM, Linux 6.1)",
                  Range{0, 1000}),
      memory_lines(scope, kind + "_memory_lines", lines, "lines",
                   "cache lines of its vcpu structure the " + kind + " handler loads, at fixed addresses of the "
                   "per-vCPU hypervisor data, through the vCPU's caches (the fields its path in KVM touches)",
                   Range{0, 200}) {}

// Handler defaults: KVM's paths in Linux 6.1 (arch/x86/kvm: vmx/vmx.c, x86.c, cpuid.c,
// mmu/mmu.c, mmu/paging_tmpl.h, mmu/tdp_mmu.c). VMCS reads and writes are the vmcs_read* /
// vmcs_write* calls the path executes, with KVM's register caches: GUEST_RIP, GUEST_RFLAGS,
// the segment AR bytes and the exit qualification are read at most once per exit, and RIP is
// written back at the next entry. Instructions: the C statements the path executes when
// nothing unusual is pending (no request, no event to inject, no debug state), counted by
// reading each function on it (docs/references.md lists them), at 2 instructions each. Debian's
// build of 6.1 compiles the functions of these paths (VT-x and AMD-V) to 2.56 instructions per
// statement (scripts/measure-kvm-code, experiments/calibration/kvm-6.1-code.json; static, over
// whole functions), so the counts are about 22% low as instructions; what decides an exit's
// cost is instructions x cpi, 2 cycles per statement at cpi 1.0, and the skylake-sp round trip
// is derived from a whole CPUID exit with that product (docs/exit-costs.md). Lines: the cache
// lines of the fields the path touches.
// The exit path (every exit): vmx_vcpu_run reads VM_EXIT_REASON and IDT_VECTORING_INFO_FIELD,
// __vmx_handle_exit reads GUEST_PML_INDEX (vmx_flush_pml_buffer); vcpu_run's loop (~15
// statements), vcpu_enter_guest (~100), vmx_vcpu_run with vmx_vcpu_enter_exit, the perf MSR
// switch and the interrupt bookkeeping after the exit (~95), the XSAVE state switches (~16)
// and __vmx_handle_exit's checks and dispatch (~36) touch the vcpu's regs array (2 lines),
// requests / mode / stat (1), vcpu_vmx's exit fields (1), loaded_vmcs's host state (1) and the
// VM's arch flags (1). Handlers that skip the instruction (kvm_skip_emulated_instruction,
// ~30 statements) read GUEST_RFLAGS, VM_EXIT_INSTRUCTION_LEN, GUEST_RIP and
// GUEST_INTERRUPTIBILITY_INFO and write GUEST_RIP.
HypervisorParameters::HypervisorParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, true, "",
                     "charge the hypervisor's handler cost (off: an exit costs the hardware transitions only)"),
      VIRTSIM_MEMBER(cpi, scope, 1.0, "cycles/instruction",
                     "CPI of the hypervisor's handler code, every generation (assumption: no published CPI or cycles "
                     "of KVM's exit path alone per generation is known to us; on zen2 the posted cycles of KVM's "
                     "software around one VMRUN bound it from above at about 1.6, kvm-svm-software-zen2; the "
                     "instruction counts are 2 per C statement, against 2.56 measured on Debian's build of Linux 6.1, "
                     "docs/exit-costs.md)",
                     Range{0, 100}),
      VIRTSIM_MEMBER(user_space_cycles, scope, 10000, "cycles",
                     "an exit handed to the user-space device model: return to user space, emulation, re-entry "
                     "(kvm-unit-tests x86/vmexit: port I/O ~13000-20000 cycles to user space vs ~3300-7200 in the kernel)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(cpuid_host_leaf1_ecx, scope, 0xffffffffu, "", "host CPUID.1:ECX feature bits (all set by default)"),
      VIRTSIM_MEMBER(cpuid_host_leaf1_edx, scope, 0xffffffffu, "", "host CPUID.1:EDX feature bits"),
      VIRTSIM_MEMBER(cpuid_host_ext1_ecx, scope, 0xffffffffu, "", "host CPUID.80000001h:ECX feature bits"),
      VIRTSIM_MEMBER(cpuid_host_ext1_edx, scope, 0xffffffffu, "", "host CPUID.80000001h:EDX feature bits"),
      VIRTSIM_MEMBER(cpuid_mask_leaf1_ecx, scope, 0xffffffffu, "",
                     "migration mask for CPUID.1:ECX (a 0 hides the feature from the guest)"),
      VIRTSIM_MEMBER(cpuid_mask_leaf1_edx, scope, 0xffffffffu, "", "migration mask for CPUID.1:EDX"),
      VIRTSIM_MEMBER(cpuid_mask_ext1_ecx, scope, 0xffffffffu, "", "migration mask for CPUID.80000001h:ECX"),
      VIRTSIM_MEMBER(cpuid_mask_ext1_edx, scope, 0xffffffffu, "", "migration mask for CPUID.80000001h:EDX"),
      exit_path(scope, "exit_path", 560, 3, 0, 6,
                "every exit: vcpu_run's loop, vcpu_enter_guest, vmx_vcpu_run, __vmx_handle_exit and their callees; ~260 "
                "statements, and ~40 instructions of __vmx_vcpu_run's register switch"),
      cpuid(scope, "cpuid", 120, 4, 1, 3,
            "kvm_emulate_cpuid, kvm_cpuid and its entry search, the skip; ~60 statements; lines: cpuid_entries, regs, stat"),
      vmcall(scope, "vmcall", 140, 6, 1, 3,
             "kvm_emulate_hypercall (Xen / Hyper-V checks, GUEST_CS_AR_BYTES for the operand size, GUEST_SS_AR_BYTES "
             "for the CPL), the skip; ~70 statements"),
      rdtsc(scope, "rdtsc", 90, 4, 1, 2,
            "kvm_read_l1_tsc (offset and scaling) and the skip; ~45 statements (KVM itself never sets RDTSC exiting)"),
      // Calibrated, not counted: the in-kernel port-I/O path (handle_io: EXIT_QUALIFICATION;
      // kvm_fast_pio, the I/O bus search, the device's lock and register, the skip) is about
      // 300 statements, but kvm-unit-tests' in-kernel port I/O on recent Intel hosts costs
      // 3300-7200 cycles, far more than a count of that path gives (experiments/regression/
      // exitbench-io-*); with 2700 the skylake-sp exit lands near 3700.
      io(scope, "io", 2700, 5, 1, 6,
         "calibrated to kvm-unit-tests' in-kernel port I/O on recent Intel hosts; the path read: EXIT_QUALIFICATION, "
         "kvm_fast_pio, the I/O bus search, the device's lock and register, the skip"),
      msr(scope, "msr", 220, 4, 1, 4,
          "kvm_emulate_wrmsr / rdmsr, the MSR filter's range search, kvm_set_msr_common's case (the APIC base), the "
          "skip; ~110 statements"),
      hlt(scope, "hlt", 90, 4, 1, 3, "kvm_emulate_halt: the skip, __kvm_emulate_halt's mp_state; ~45 statements"),
      cr_access(scope, "cr_access", 220, 6, 2, 5,
                "handle_cr (EXIT_QUALIFICATION), kvm_set_cr3 (GUEST_CR4 for PAE) -> kvm_mmu_new_pgd's prev_roots search, "
                "GUEST_CR3 written at entry (vmx_load_mmu_pgd), the skip; ~110 statements"),
      invlpg(scope, "invlpg", 160, 5, 1, 4,
             "handle_invlpg (EXIT_QUALIFICATION), kvm_mmu_invlpg: the shadow walk of the address and the prev_roots "
             "loop, the skip; ~80 statements"),
      pause(scope, "pause", 180, 4, 2, 4,
            "handle_pause: grow_ple_window (PLE_WINDOW written at entry), kvm_vcpu_on_spin's loop over the vCPUs, the "
            "skip; ~90 statements"),
      tpr(scope, "tpr", 140, 5, 1, 3,
          "handle_cr for CR8: kvm_set_cr8 -> kvm_lapic_set_tpr -> apic_update_ppr, the skip; ~70 statements"),
      other(scope, "other", 40, 1, 0, 3,
            "an external interrupt: vmx_handle_exit_irqoff (VM_EXIT_INTR_INFO), the host handler's call, the count; "
            "~20 statements, not the host's interrupt handler"),
      // Shadow paging (the shadow MMU of mmu/paging_tmpl.h). All three enter through
      // handle_exception_nmi: VM_EXIT_INTR_INFO, EXIT_QUALIFICATION (the faulting address) and
      // VM_EXIT_INTR_ERROR_CODE, then kvm_mmu_page_fault. Their page-table loads (the guest's
      // entries the walk reads, the shadow entries the fill walks) and a kvm_mmu_page / rmap
      // line per shadow table come on top of memory_lines (touch_page_tables).
      shadow_fill(scope, "shadow_fill", 780, 3, 0, 4,
                  "FNAME(page_fault): FNAME(walk_addr) over the guest's levels, kvm_faultin_pfn, mmu_lock, "
                  "FNAME(fetch) down the shadow levels, mmu_set_spte and rmap_add; the instruction is retried (no RIP "
                  "write); ~390 statements, ~100 of them the walk of four guest levels"),
      shadow_write(scope, "shadow_write", 1200, 9, 2, 10,
                   "RET_PF_EMULATE -> x86_emulate_instruction: init_emulate_ctxt (CS and SS AR bytes, RFLAGS), "
                   "x86_decode_insn, x86_emulate_insn, emulator_write_emulated -> kvm_page_track_write -> "
                   "kvm_mmu_pte_write (mmu_lock, the gfn hash, the shadow pages of that table), writeback, RIP and "
                   "RFLAGS written; ~600 statements; lines: the emulation context (4), regs (2), hash, memslot, "
                   "write-track array, stat"),
      guest_fault(scope, "guest_fault", 350, 3, 2, 4,
                  "FNAME(walk_addr) fails, kvm_inject_emulated_page_fault; vmx_inject_exception writes "
                  "VM_ENTRY_INTR_INFO_FIELD and VM_ENTRY_EXCEPTION_ERROR_CODE; ~175 statements"),
      nested_fill(scope, "nested_fill", 490, 2, 0, 8,
                  "handle_ept_violation (EXIT_QUALIFICATION, GUEST_PHYSICAL_ADDRESS), kvm_tdp_mmu_map: kvm_faultin_pfn, "
                  "mmu_lock (read), the TDP walk and the leaf's atomic set; ~245 statements; lines: the EPT entries "
                  "(4), memslot, lock, vcpu MMU state (2)"),
      pv_mmu_update(scope, "pv_mmu_update", 400, 4, 2, 8,
                    "assumption: Xen's mmu_update entry, not a KVM path"),
      VIRTSIM_MEMBER(pv_update_instructions, scope, 150, "instructions",
                     "instructions the hypervisor spends validating and writing each page-table update of a "
                     "paravirtual kernel's mmu_update hypercall (assumption)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(cr3_targets, scope, 0, "values",
                     "shadow paging on VT-x: the guest CR3s of this many cached shadow roots go into the VMCS "
                     "CR3-target list, and the guest's MOV to CR3 to one of them does not exit (the model assumes "
                     "the hypervisor placed those roots at the host-physical addresses the values name; KVM "
                     "lists none). Not with out-of-sync shadow tables, whose CR3 loads are sync points",
                     Range{0, 4}),
      VIRTSIM_MEMBER(reclaim_interval_cycles, scope, 0, "cycles",
                     "nested paging: every this many cycles of a vCPU's guest time the host takes back one guest "
                     "page (as its reclaim or page migration does through KVM's MMU notifier): the hypervisor zaps "
                     "its EPT / NPT entry, kicks the vCPU (an external-interrupt exit) and flushes the combined "
                     "mappings before re-entering (VT-x: INVEPT single-context; AMD-V, which has no INVEPT: "
                     "TLB_CONTROL flush-ASID); the next access takes an EPT violation / NPF that maps it again. "
                     "The page is drawn pseudo-randomly among the last 256 the hypervisor mapped on EPT violations / "
                     "NPFs (with the nested tables filled up front: from all of guest memory). "
                     "0: never",
                     Range{0, 1e12}),
      VIRTSIM_MEMBER(mitigation_rsb_fill, scope, false, "",
                     "refill the return stack buffer after every exit, as Linux does with retpolines or IBRS "
                     "(FILL_RETURN_BUFFER, 32 entries): 82 instructions x cpi, counted in Linux 6.1's "
                     "nospec-branch.h (off: the host runs with mitigations=off)"),
      VIRTSIM_MEMBER(mitigation_l1d_flush, scope, "never", "",
                     "VT-x: flush the L1 data cache before VM entry (KVM's vmx_l1d_flush, the L1TF mitigation): "
                     "never; cond (KVM's default: only after a KVM_RUN from user space, a page fault under shadow "
                     "paging or an emulated instruction, a host interrupt); always. A flush is Linux 6.1's software "
                     "sequence: 4165 instructions x cpi and 1040 loads of 64 KiB of flush pages through the vCPU's "
                     "caches, their latencies overlapping string_lines_in_flight ways (the CPUID between its loops "
                     "is not charged)",
                     {}, {"never", "cond", "always"}),
      VIRTSIM_MEMBER(mitigation_retpolines, scope, false, "",
                     "the host's indirect calls on the exit's path go through retpoline thunks (Linux's Spectre v2 "
                     "mitigation on CPUs without enhanced IBRS): each costs retpoline_cycles more; with "
                     "ops_static_calls the handler table's call is the only one (off: the host runs with "
                     "mitigations=off)"),
      VIRTSIM_MEMBER(ops_static_calls, scope, true, "",
                     "KVM calls the vendor module's kvm_x86_ops through static calls (direct calls, Linux 5.12 and "
                     "later, the tree the handlers are counted in); false: through function pointers, as up to "
                     "Linux 5.11, each call costing indirect_call_cycles more (and retpoline_cycles with "
                     "mitigation_retpolines). The calls are counted in Linux 6.1's paths: 5 on every VT-x exit "
                     "(prepare_switch_to_guest, sync_pir_to_irr, vcpu_run, handle_exit_irqoff, handle_exit; 4 on "
                     "AMD-V, which has no sync_pir_to_irr), 3 for the instruction skip (get_rflags, "
                     "skip_emulated_instruction, cache_reg for RIP; 2 on AMD-V), 2 more for VMCALL (get_cs_db_l_bits, "
                     "get_cpl) and WRMSR (set_msr, complete_emulated_msr); the other handlers' own calls are not "
                     "counted (a lower bound)"),
      VIRTSIM_MEMBER(indirect_call_cycles, scope, 10.5, "cycles",
                     "an indirect call through a kvm_x86_ops pointer over a static (direct) call, without "
                     "retpolines: derived from Jason Baron's CPUID loop on an Intel Xeon at 3.0 GHz (kvm@vger, 14 "
                     "January 2021; mitigations=off: 0.486 s with pointers, 0.458 s with static calls per million "
                     "exits) over the 8 calls of the CPUID exit: 28 ns x 3.0 GHz / 8. Used on every preset "
                     "(assumption: one unnamed Intel generation measured)",
                     Range{0, 1000}),
      VIRTSIM_MEMBER(retpoline_cycles, scope, 26.25, "cycles",
                     "what a retpoline thunk adds to an indirect call: derived from the same measurements with the "
                     "default mitigations (0.671 s with pointers, 0.573 s with static calls per million exits): "
                     "(98 ns - 28 ns) x 3.0 GHz / 8 calls. Used on every preset (assumption: one unnamed Intel "
                     "generation measured, before enhanced IBRS)",
                     Range{0, 1000}) {
  // The kvm_x86_ops calls on each handler's path (ops_static_calls' description says which).
  exit_path.ops_calls = 5;
  for (Handler* h : {&cpuid, &vmcall, &rdtsc, &io, &msr, &hlt, &cr_access, &invlpg, &pause, &tpr}) {
    h->skips = true;
    h->ops_calls = 3;
  }
  vmcall.ops_calls += 2;
  msr.ops_calls += 2;
  // Called directly with retpolines (__vmx_handle_exit, svm_invoke_exit_handler): WRMSR, HLT, the
  // external interrupt; on AMD-V the NPF too (indirect_call_cost).
  for (Handler* h : {&msr, &hlt, &other}) h->direct_dispatch = true;
  // The vcpu structure: the exit path's fields first, then each handler's, one after another.
  Addr offset = 0;
  for (Handler* h : {&exit_path, &cpuid, &vmcall, &rdtsc, &io, &msr, &hlt, &cr_access, &invlpg, &pause, &tpr, &other,
                     &shadow_fill, &shadow_write, &guest_fault, &nested_fill, &pv_mmu_update}) {
    h->data_offset = offset;
    offset += Addr{h->memory_lines.get()} * 64;
  }
}

VirtualizationUnit::VirtualizationUnit(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock,
                                       const TransitionParameters& transitions, const HypervisorParameters& hypervisor,
                                       std::uint16_t vpid, bool shadow_paging, bool paravirt_mmu)
    : sc_core::sc_module(name),
      memory("memory", clock),
      VIRTSIM_MEMBER(exits, module_scope(context, *this), "exits", "VM exits"),
      VIRTSIM_MEMBER(exit_cycles, module_scope(context, *this), "cycles", "cycles of VM exits: transitions and handlers"),
      VIRTSIM_MEMBER(user_space_exits, module_scope(context, *this), "exits", "exits handed to the user-space device model"),
      VIRTSIM_MEMBER(instructions_seen, module_scope(context, *this), "instructions",
                     "privileged and sensitive instructions the guest ran"),
      VIRTSIM_MEMBER(structure_accesses, module_scope(context, *this), "accesses",
                     "VMCS / VMCB field accesses by the hardware's entry and exit steps"),
      VIRTSIM_MEMBER(handler_memory_reads, module_scope(context, *this), "reads",
                     "loads of hypervisor data by exit handlers"),
      VIRTSIM_MEMBER(handler_memory_cycles, module_scope(context, *this), "cycles",
                     "latency of those loads through the caches"),
      VIRTSIM_MEMBER(transition_cycles, module_scope(context, *this), "cycles",
                     "cycles of the hardware VM exits and entries (vm_exit_cycles + vm_entry_cycles per exit)"),
      VIRTSIM_MEMBER(handler_instruction_cycles, module_scope(context, *this), "cycles",
                     "cycles of the handlers' instructions (exit path and reason's handler, instructions x cpi)"),
      VIRTSIM_MEMBER(vmcs_access_cycles, module_scope(context, *this), "cycles",
                     "cycles of the handlers' VMCS / VMCB reads and writes"),
      VIRTSIM_MEMBER(preemption_timer_exits, module_scope(context, *this), "exits",
                     "exits of the VMX-preemption timer"),
      VIRTSIM_MEMBER(interrupts_delivered, module_scope(context, *this), "interrupts",
                     "external interrupts for the guest (timer, IPIs, devices)"),
      VIRTSIM_MEMBER(interrupt_exits, module_scope(context, *this), "exits",
                     "external-interrupt exits (interrupts not posted)"),
      VIRTSIM_MEMBER(cpuid_masked, module_scope(context, *this), "exits",
                     "intercepted CPUIDs whose feature bits the migration mask reduced"),
      VIRTSIM_MEMBER(page_fault_exits, module_scope(context, *this), "exits", "#PF exits (shadow paging)"),
      VIRTSIM_MEMBER(nested_fault_exits, module_scope(context, *this), "exits",
                     "EPT violations / nested page faults that mapped guest memory (nested paging filled lazily)"),
      VIRTSIM_MEMBER(pv_updates, module_scope(context, *this), "updates",
                     "page-table updates of a paravirtual kernel's mmu_update hypercalls"),
      VIRTSIM_MEMBER(cr3_target_switches, module_scope(context, *this), "instructions",
                     "MOVs to CR3 that switched to a listed shadow root without exiting (system.hypervisor.cr3_targets)"),
      VIRTSIM_MEMBER(vmloads, module_scope(context, *this), "instructions",
                     "VMLOADs the hypervisor ran (AMD-V: the guest's state before each VMRUN, the host's after)"),
      VIRTSIM_MEMBER(vmsaves, module_scope(context, *this), "instructions",
                     "VMSAVEs the hypervisor ran (AMD-V: the guest's state after each #VMEXIT, the host's before the "
                     "first entry and after each return to user space)"),
      VIRTSIM_MEMBER(clgis, module_scope(context, *this), "instructions", "CLGIs the hypervisor ran (AMD-V: one per VMRUN)"),
      VIRTSIM_MEMBER(stgis, module_scope(context, *this), "instructions",
                     "STGIs the hypervisor ran (AMD-V: one after each #VMEXIT)"),
      VIRTSIM_MEMBER(world_switch_cycles, module_scope(context, *this), "cycles",
                     "cycles of the VMLOADs, VMSAVEs, CLGIs and STGIs around the exits (AMD-V; in exit_cycles)"),
      VIRTSIM_MEMBER(nested_reclaims, module_scope(context, *this), "pages",
                     "guest pages the host took back under nested paging, each an EPT / NPT entry zapped and the "
                     "vCPUs' combined mappings flushed (system.hypervisor.reclaim_interval_cycles)"),
      VIRTSIM_MEMBER(cr3_target_writes, module_scope(context, *this), "writes",
                     "VMWRITEs of CR3-target fields the hypervisor made to follow its root cache"),
      VIRTSIM_MEMBER(mitigation_cycles, module_scope(context, *this), "cycles",
                     "cycles of the speculative-execution mitigations around exits (RSB fill, L1D flush with its loads)"),
      VIRTSIM_MEMBER(indirect_call_cycles, module_scope(context, *this), "cycles",
                     "cycles of the exits' indirect calls: kvm_x86_ops through pointers, retpoline thunks "
                     "(system.hypervisor.ops_static_calls, mitigation_retpolines)"),
      VIRTSIM_MEMBER(l1d_flushes, module_scope(context, *this), "flushes", "L1D flushes before VM entry"),
      VIRTSIM_MEMBER(l2_exits_l0, module_scope(context, *this), "exits",
                     "nested virtualization: exits of the L2 guest the host's hypervisor (L0) handled alone"),
      VIRTSIM_MEMBER(l2_exits_reflected, module_scope(context, *this), "exits",
                     "nested virtualization: exits of the L2 guest L0 reflected to the guest's hypervisor (L1)"),
      VIRTSIM_MEMBER(l1_exits, module_scope(context, *this), "exits",
                     "nested virtualization: exits of L1 to L0 that L1's handling of reflected exits caused (its "
                     "VMREADs and VMWRITEs without VMCS shadowing, or VMLOADs and VMSAVEs without virtual "
                     "VMLOAD/VMSAVE; its VMRESUMEs / VMRUNs)"),
      VIRTSIM_MEMBER(l1_vmcs_exits, module_scope(context, *this), "exits",
                     "nested virtualization: L1's VMREADs and VMWRITEs that exited to L0 (VT-x, VMCS shadowing off), "
                     "or its VMLOADs and VMSAVEs (AMD-V, virtual VMLOAD/VMSAVE off)"),
      VIRTSIM_MEMBER(l0_vmptrlds, module_scope(context, *this), "instructions",
                     "nested virtualization (VT-x): VMPTRLDs L0 ran for reflected exits (vmcs01 and vmcs02, and the "
                     "shadow VMCS at each copy with VMCS shadowing)"),
      VIRTSIM_MEMBER(l0_vmclears, module_scope(context, *this), "instructions",
                     "nested virtualization (VT-x): VMCLEARs of the shadow VMCS L0 ran for reflected exits"),
      VIRTSIM_MEMBER(l1_handler_cycles, module_scope(context, *this), "cycles",
                     "nested virtualization: cycles of L1's handlers (instructions and the VMCS accesses that did not "
                     "exit; in exit_cycles)"),
      VIRTSIM_MEMBER(cpuid_guest_ecx, module_scope(context, *this), "",
                     "ECX the guest saw at its last intercepted CPUID of leaf 1 or 80000001h"),
      VIRTSIM_MEMBER(cpuid_guest_edx, module_scope(context, *this), "",
                     "EDX the guest saw at its last intercepted CPUID of leaf 1 or 80000001h"),
      VIRTSIM_MEMBER(exits_by_reason, module_scope(context, *this), "exits", "VM exits per exit reason / exit code",
                     [&] {
                       std::vector<std::string> names;
                       for (const auto& r : exit_reasons(transitions.virt_mode())) names.push_back(r.name);
                       return names;
                     }()),
      VIRTSIM_MEMBER(cycles_by_reason, module_scope(context, *this), "cycles", "cycles of VM exits per exit reason",
                     [&] {
                       std::vector<std::string> names;
                       for (const auto& r : exit_reasons(transitions.virt_mode())) names.push_back(r.name);
                       return names;
                     }()),
      VIRTSIM_MEMBER(page_fault_exits_by_handling, module_scope(context, *this), "exits",
                     "#PF exits (shadow paging) by what the hypervisor did: filled a hidden fault, reflected a "
                     "guest fault, emulated a guest page-table write, unprotected the page and retried the instruction",
                     page_fault_handlings()),
      VIRTSIM_MEMBER(page_fault_cycles_by_handling, module_scope(context, *this), "cycles",
                     "cycles of #PF exits (shadow paging) by what the hypervisor did", page_fault_handlings()),
      t_(transitions),
      h_(hypervisor),
      mode_switch_(make_mode_switch(transitions.virt_mode())),
      clock_(clock) {
  VirtualizationControls c = transitions.controls();
  c.vpid = vpid;
  if (shadow_paging && hypervisor.cr3_targets.get() > 0 && transitions.virt_mode() == VirtMode::Svm)
    throw ConfigError(hypervisor.cr3_targets.name() + " = " + std::to_string(hypervisor.cr3_targets.get()) +
                      ": AMD-V has no CR3-target list; set it to 0 under " + transitions.mode.name() + " = \"svm\"");
  controls_ = c;
  // A paravirtual kernel makes hypercalls for its CR3 loads and INVLPGs instead (Xen's
  // mmuext_op), one hypervisor entry each as these exits are, and its page faults reach it
  // through the hypervisor as well.
  mode_switch_->configure(shadow_paging || paravirt_mmu ? with_shadow_traps(c) : c);
  tlb_tag_ = c.tagged_tlb ? vpid : 0;
  const WorldSwitchCounts before = mode_switch_->world_switch();
  enter_guest();
  count_world_switch(before);  // the first entry, before the run: counted, not charged
  next_timer_ = transitions.preemption_timer_cycles;
  if (hypervisor.l1d_flush_on())
    l1d_flush_ = hypervisor.mitigation_l1d_flush.get() == "always" ? L1dFlush::Always : L1dFlush::Conditional;
}

VirtualizationUnit::~VirtualizationUnit() = default;

void VirtualizationUnit::set_shadow_traps(bool on) { mode_switch_->configure(on ? with_shadow_traps(controls_) : controls_); }

void VirtualizationUnit::enter_guest() {
  // As KVM on a failed VMRUN or VM entry (KVM_EXIT_FAIL_ENTRY): the run stops, naming the check.
  if (!mode_switch_->enter_guest(cpu_))
    throw std::runtime_error(std::string(name()) + ": VM entry failed: " + mode_switch_->entry_failure());
}

Cycles VirtualizationUnit::count_world_switch(const WorldSwitchCounts& before) {
  const WorldSwitchCounts now = mode_switch_->world_switch();
  vmloads += now.vmloads - before.vmloads;
  vmsaves += now.vmsaves - before.vmsaves;
  clgis += now.clgis - before.clgis;
  stgis += now.stgis - before.stgis;
  return (now.vmloads - before.vmloads) * Cycles{t_.vmload_cycles} +
         (now.vmsaves - before.vmsaves) * Cycles{t_.vmsave_cycles} +
         (now.clgis - before.clgis) * Cycles{t_.clgi_cycles} + (now.stgis - before.stgis) * Cycles{t_.stgi_cycles};
}

Cycles VirtualizationUnit::touch_address(Addr host) {
  const Cycles c = load(host);
  ++handler_memory_reads;
  handler_memory_cycles += c;
  return c;
}

Cycles VirtualizationUnit::touch_vmcb(unsigned accesses) {
  // The lines of the VMCB fields KVM's SVM exit path and handlers use, in APM offsets:
  // EXITCODE / EXITINFO1 (0x70, 0x78), EXITINFO2 / EXITINTINFO (0x80, 0x88), next RIP (0xc8),
  // CS / SS attributes (0x412, 0x422), CPL (0x4cb), RFLAGS / RIP (0x570, 0x578), RSP / RAX
  // (0x5d8, 0x5f8).
  static constexpr Addr kLines[] = {0x40, 0x80, 0xc0, 0x400, 0x4c0, 0x540, 0x5c0};
  if (memory_bytes_ < HypervisorMemoryLayout::kShadowMetadata) return 0;
  Cycles total = 0;
  for (unsigned i = 0; i < accesses; ++i)
    total += load(memory_base_ + HypervisorMemoryLayout::kVmcb + kLines[i % std::size(kLines)]);
  vmcs_access_cycles += total;
  return total;
}

Cycles VirtualizationUnit::load(Addr host) {
  // A load whose value the handler model does not use: timed and counted, no bytes moved.
  return memory.port().access(false, host, nullptr, 8).cycles;
}

Cycles VirtualizationUnit::touch_lines(Addr offset, unsigned lines) {
  if (!memory_bytes_) return 0;
  const Addr vcpu_bytes = std::min(memory_bytes_, HypervisorMemoryLayout::kVcpuBytes);
  Cycles total = 0;
  for (unsigned i = 0; i < lines; ++i) total += touch_address(memory_base_ + (offset + Addr{i} * 64) % vcpu_bytes);
  return total;
}

Cycles VirtualizationUnit::touch_page_tables(const ShadowFaultOutcome& how, Addr va) {
  if (!memory_bytes_) return 0;
  Cycles total = 0;
  for (unsigned i = 0; i < how.touched_count; ++i) total += touch_address(how.touched[i]);
  if (memory_bytes_ <= HypervisorMemoryLayout::kShadowMetadata) return total;
  // The shadow MMU's metadata: the kvm_mmu_page of each table holding a touched entry (the
  // guest's entries included: KVM looks up the shadow pages of a guest table by its gfn) and
  // the rmap entry of the faulting page.
  const Addr metadata = memory_bytes_ - HypervisorMemoryLayout::kShadowMetadata;
  const Addr base = memory_base_ + HypervisorMemoryLayout::kShadowMetadata;
  for (unsigned i = 0; i < how.touched_count; ++i)
    total += touch_address(base + ((how.touched[i] >> kPageShift4K) * 192) % metadata);
  total += touch_address(base + ((va >> kPageShift4K) * 8) % metadata);
  return total;
}

void VirtualizationUnit::mask_cpuid(std::uint32_t leaf) {
  std::uint32_t ecx, edx, mask_ecx, mask_edx;
  if (leaf == 1) {
    ecx = h_.cpuid_host_leaf1_ecx, edx = h_.cpuid_host_leaf1_edx;
    mask_ecx = h_.cpuid_mask_leaf1_ecx, mask_edx = h_.cpuid_mask_leaf1_edx;
  } else if (leaf == 0x80000001u) {
    ecx = h_.cpuid_host_ext1_ecx, edx = h_.cpuid_host_ext1_edx;
    mask_ecx = h_.cpuid_mask_ext1_ecx, mask_edx = h_.cpuid_mask_ext1_edx;
  } else {
    return;  // other leaves carry no feature words the masks cover
  }
  cpuid_guest_ecx = static_cast<double>(ecx & mask_ecx);
  cpuid_guest_edx = static_cast<double>(edx & mask_edx);
  if ((ecx & ~mask_ecx) || (edx & ~mask_edx)) ++cpuid_masked;
}

[[gnu::hot]] InstructionOutcome VirtualizationUnit::elapse(Cycles now) {
  if (look_ && now >= next_look_) {
    next_look_ = now + look_interval_;
    look_();
  }
  if (reclaim_ && now >= next_reclaim_) return reclaim_page(now);
  // The timer counts guest time; when it runs out the guest exits (reason 52) and the
  // hypervisor re-arms it.
  if (!t_.preemption_timer_cycles.get() || now < next_timer_) return {};
  GuestOp op;
  op.kind = GuestOp::Kind::PreemptionTimer;
  const ExitDecision d = mode_switch_->decide(op);
  next_timer_ = now + t_.preemption_timer_cycles;
  if (!d.exits) return {};
  ++preemption_timer_exits;
  return take_exit(d, GuestEvent::compute(0), nullptr, nullptr, 0, /*l0_only=*/true);  // L0's own timer
}

void VirtualizationUnit::set_nested_reclaim(Addr guest_bytes, std::function<bool(Addr gpa)> reclaim) {
  if (!h_.reclaim_interval_cycles.get() || guest_bytes < kPageSize4K) return;
  reclaim_guest_pages_ = guest_bytes >> kPageShift4K;
  reclaim_ = std::move(reclaim);
  next_reclaim_ = h_.reclaim_interval_cycles;
}

void VirtualizationUnit::set_periodic_look(Cycles interval, std::function<void()> look) {
  if (interval == 0) return;
  look_ = std::move(look);
  look_interval_ = interval;
  next_look_ = interval;
}

InstructionOutcome VirtualizationUnit::reclaim_page(Cycles now) {
  next_reclaim_ = now + h_.reclaim_interval_cycles;
  // splitmix64 of the draw's number and the VPID: the same pages in every run.
  std::uint64_t z = (++reclaim_draws_ << 16 | tlb_tag_) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  // A page the guest uses: one the hypervisor mapped on a recent EPT violation / NPF (with
  // nested tables filled up front, any page of guest memory).
  const Addr gpa = recent_fills_.empty() ? (z % reclaim_guest_pages_) << kPageShift4K
                                         : recent_fills_[z % recent_fills_.size()];
  if (!reclaim_(gpa)) return {};
  ++nested_reclaims;
  // KVM kicks the vCPU out of the guest and flushes before its next VMRUN / VM entry.
  GuestOp op;
  op.kind = GuestOp::Kind::ExternalInterrupt;
  const ExitDecision d = mode_switch_->decide(op);
  if (!d.exits) return {};
  return take_exit(d, GuestEvent::interrupt(0), nullptr, nullptr, 0, /*l0_only=*/true);  // L0's kick
}

InstructionOutcome VirtualizationUnit::deliver_interrupt(std::uint32_t, Cycles) {
  ++interrupts_delivered;
  GuestOp op;
  op.kind = GuestOp::Kind::ExternalInterrupt;
  const ExitDecision d = mode_switch_->decide(op);
  if (!d.exits) return {};  // posted: the virtual APIC takes it in guest mode
  ++interrupt_exits;
  // The handler acknowledges the host interrupt and injects the guest's at the next entry.
  return take_exit(d, GuestEvent::interrupt(0));
}

InstructionOutcome VirtualizationUnit::raise_exception(std::uint32_t vector, Cycles) {
  GuestOp op;
  op.kind = GuestOp::Kind::Exception;
  op.vector = static_cast<std::uint8_t>(vector);
  const ExitDecision d = mode_switch_->decide(op);
  if (!d.exits) return {};  // the guest's IDT takes it without the hypervisor
  // The handler reflects the exception into the guest at the next entry.
  return take_exit(d, GuestEvent::interrupt(vector));
}

bool VirtualizationUnit::kernel_port(std::uint32_t port) {
  return port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1 || (port >= 0x40 && port <= 0x43) ||
         port == 0x4d0 || port == 0x4d1;
}

std::size_t VirtualizationUnit::reason_index(std::int64_t code) const {
  const auto& r = reasons();
  const auto it = std::lower_bound(r.begin(), r.end(), code, [](const ExitReasonInfo& i, std::int64_t c) { return i.code < c; });
  return it != r.end() && it->code == code ? static_cast<std::size_t>(it - r.begin()) : r.size();
}

const HypervisorParameters::Handler& VirtualizationUnit::handler_for(const GuestEvent& event) const {
  if (event.kind != GuestEventKind::Instr) return h_.other;
  switch (event.instruction) {
    case Instruction::Cpuid: return h_.cpuid;
    case Instruction::Vmcall: return event.address == kHypercallMmuUpdate ? h_.pv_mmu_update : h_.vmcall;
    case Instruction::Rdtsc: case Instruction::Rdtscp: return h_.rdtsc;
    case Instruction::In: case Instruction::Out: return h_.io;
    case Instruction::Rdmsr: case Instruction::Wrmsr: return h_.msr;
    case Instruction::Hlt: return h_.hlt;
    case Instruction::MovToCr0: case Instruction::MovToCr3: case Instruction::MovToCr4: case Instruction::MovFromCr3:
      return h_.cr_access;
    case Instruction::MovToCr8: return h_.tpr;
    case Instruction::Invlpg: return h_.invlpg;
    case Instruction::Pause: return h_.pause;
    default: return h_.other;
  }
}

double VirtualizationUnit::instruction_cycles(const HypervisorParameters::Handler& h) const {
  return h.instructions.get() * h_.cpi.get();
}

double HypervisorParameters::indirect_call_cost(const Handler& h, VirtMode mode) const {
  const bool svm = mode == VirtMode::Svm;
  unsigned ops = exit_path.ops_calls + h.ops_calls;
  if (svm) ops -= 1 + (h.skips ? 1 : 0);  // no sync_pir_to_irr; RIP always cached
  const bool table = !(h.direct_dispatch || (svm && &h == &nested_fill));
  double c = 0;
  if (!ops_static_calls) c += ops * indirect_call_cycles.get();
  if (mitigation_retpolines) c += ((ops_static_calls ? 0 : ops) + (table ? 1 : 0)) * retpoline_cycles.get();
  return c;
}

Cycles VirtualizationUnit::vmcs_cycles(const HypervisorParameters::Handler& h) const {
  if (t_.virt_mode() == VirtMode::Svm) return 0;
  return Cycles{h.vmcs_reads} * t_.vmread_cycles + Cycles{h.vmcs_writes} * t_.vmwrite_cycles;
}

Cycles VirtualizationUnit::handler_cycles(const ExitDecision& exit, const GuestEvent& event,
                                          const HypervisorParameters::Handler* chosen) const {
  if (!h_.enabled) return 0;
  const HypervisorParameters::Handler* handler = chosen ? chosen : &handler_for(event);  // by the exiting instruction
  const bool user_space = event.kind == GuestEventKind::Instr &&
                          (event.instruction == Instruction::In || event.instruction == Instruction::Out) &&
                          !kernel_port(event.count);
  double software = instruction_cycles(h_.exit_path) + instruction_cycles(*handler);
  if (handler == &h_.pv_mmu_update) software += double(event.count) * h_.pv_update_instructions.get() * h_.cpi.get();
  Cycles c = static_cast<Cycles>(software + 0.5) + vmcs_cycles(h_.exit_path) + vmcs_cycles(*handler);
  if (user_space) c += h_.user_space_cycles;
  return c;
}

Cycles VirtualizationUnit::mitigations(const ExitDecision& d, bool sets_flush) {
  Cycles c = 0;
  if (h_.mitigation_rsb_fill) c += static_cast<Cycles>(MitigationSequences::kRsbFillInstructions * h_.cpi.get() + 0.5);
  if (d.mode == VirtMode::Vmx && l1d_flush_ != L1dFlush::Never) {
    l1d_flush_pending_ = l1d_flush_pending_ || sets_flush;
    if (l1d_flush_ == L1dFlush::Always || l1d_flush_pending_) {
      l1d_flush_pending_ = false;
      ++l1d_flushes;
      c += static_cast<Cycles>(MitigationSequences::kL1dFlushInstructions * h_.cpi.get() + 0.5);
      if (l1d_flush_base_) {
        Cycles loads = 0;
        // Loads of the flush pages, not of the handlers' data (handler_memory_* leave them out).
        for (unsigned p = 0; p < MitigationSequences::kL1dFlushPages; ++p) loads += load(l1d_flush_base_ + Addr{p} * 4096);
        for (unsigned l = 0; l < MitigationSequences::kL1dFlushLines; ++l) loads += load(l1d_flush_base_ + Addr{l} * 64);
        c += (loads + l1d_flush_in_flight_ - 1) / l1d_flush_in_flight_;
      }
    }
  }
  mitigation_cycles += c;
  return c;
}

InstructionOutcome VirtualizationUnit::execute(const GuestEvent& event, unsigned cpl, Cycles now) {
  ++instructions_seen;
  GuestOp op;
  op.instruction = event.instruction;
  op.operands.port = event.count;
  op.operands.msr = event.count;
  op.operands.value = event.address;
  op.operands.address = event.address;
  op.operands.size = event.size ? event.size : 1;
  op.cpl = cpl;
  op.now = now;
  const ExitDecision d = mode_switch_->decide(op);
  if (!d.exits) {
    if (shadow_ && event.instruction == Instruction::MovToCr3) ++cr3_target_switches;
    InstructionOutcome out;
    out.cycles = t_.native_instruction_cycles;
    return out;
  }
  if (event.instruction == Instruction::Cpuid) mask_cpuid(static_cast<std::uint32_t>(event.address));
  if (event.instruction == Instruction::Vmcall && event.address == kHypercallMmuUpdate) pv_updates += event.count;
  return take_exit(d, event);
}

InstructionOutcome VirtualizationUnit::page_fault_exit(const ShadowFaultOutcome& how, std::uint32_t error_code,
                                                       Addr va, Cycles) {
  GuestOp op;
  op.kind = GuestOp::Kind::Exception;
  op.vector = 14;
  op.error_code = error_code;
  op.guest_linear_address = va;
  const ExitDecision d = mode_switch_->decide(op);
  if (!d.exits) return {};
  ++page_fault_exits;
  const InstructionOutcome out = take_exit(d, GuestEvent::interrupt(14), &h_.shadow_handler(how.resolution), &how, va);
  page_fault_exits_by_handling.add(static_cast<std::size_t>(how.resolution));
  page_fault_cycles_by_handling.add(static_cast<std::size_t>(how.resolution), out.cycles);
  return out;
}

const std::vector<std::string>& VirtualizationUnit::page_fault_handlings() {
  static const std::vector<std::string> names{"hidden fault", "guest fault reflected", "page-table write emulated",
                                              "page unprotected and instruction retried"};
  return names;
}

std::int64_t VirtualizationUnit::page_fault_exit_code() const {
  return mode_switch_->mode() == VirtMode::Vmx ? 0 : 0x40 + 14;
}

InstructionOutcome VirtualizationUnit::nested_fault_exit(std::uint64_t qualification, Addr gpa, Cycles) {
  GuestOp op;
  op.kind = GuestOp::Kind::EptViolation;  // SVM: #VMEXIT(NPF)
  op.qualification = qualification;
  op.guest_physical_address = gpa;
  const ExitDecision d = mode_switch_->decide(op);
  ++nested_fault_exits;
  if (reclaim_) {  // the reclaim's candidates: the last kRecentFills pages mapped
    if (recent_fills_.size() < kRecentFills) recent_fills_.push_back(gpa & ~(kPageSize4K - 1));
    else recent_fills_[nested_fault_exits.count() % kRecentFills] = gpa & ~(kPageSize4K - 1);
  }
  if (!nested_) return take_exit(d, GuestEvent::compute(0), &h_.nested_fill);
  // L2's violation: L0 fills its EPT (nested_fill), or the shadow EPT from L1's EPT for L2
  // (KVM's shadow MMU over an EPT guest table: the shadow_fill path), or L1 maps the page in its
  // EPT for L2 (reflected, L1's nested_fill).
  const NestedFaultOwner owner = nested_fault_owner_ ? nested_fault_owner_() : NestedFaultOwner::L0Fill;
  if (owner == NestedFaultOwner::L1) return take_exit(d, GuestEvent::compute(0), &h_.nested_fill);
  return take_exit(d, GuestEvent::compute(0), owner == NestedFaultOwner::L0Fill ? &h_.nested_fill : &h_.shadow_fill,
                   nullptr, 0, /*l0_only=*/true);
}

void VirtualizationUnit::set_nested(const NestedVirtualizationParameters* nested,
                                    std::function<NestedFaultOwner()> fault_owner) {
  nested_ = nested;
  nested_fault_owner_ = std::move(fault_owner);
}

Cycles VirtualizationUnit::nested_exit(const HypervisorParameters::Handler& handler, bool l0_only,
                                       unsigned extra_l1_writes, bool user_space) {
  const NestedVirtualizationParameters& n = *nested_;
  const NestedExitCost cost = nested_exit_cost(t_, h_, n, handler, l0_only, extra_l1_writes);
  Cycles c = cost.total;
  transition_cycles += cost.transitions;
  handler_instruction_cycles += cost.l0_software + cost.l1_software;
  l1_handler_cycles += cost.l1_software;
  if (h_.enabled) {
    // The handlers' data: the exit path's and the handler's lines (L1's for a reflected exit,
    // L0's otherwise: one copy of the vcpu structure stands for both), and L0's nested state.
    c += touch_lines(h_.exit_path.data_offset, h_.exit_path.memory_lines);
    c += touch_lines(handler.data_offset, handler.memory_lines);
    if (t_.virt_mode() == VirtMode::Svm) {
      // The exit path's and handler's VMCB fields (vmcb02 for L0, vmcb12 for L1: one VMCB stands for both).
      c += touch_vmcb(h_.exit_path.vmcs_reads + h_.exit_path.vmcs_writes + handler.vmcs_reads + handler.vmcs_writes);
      c += touch_lines(n.svm_decide.data_offset, n.svm_decide.memory_lines);
      if (!l0_only) {
        c += touch_lines(n.svm_reflect.data_offset, n.svm_reflect.memory_lines);
        c += touch_lines(n.svm_vmrun.data_offset, n.svm_vmrun.memory_lines);
        if (!n.virtual_vmload_vmsave) c += touch_lines(n.svm_vmloadsave.data_offset, n.svm_vmloadsave.memory_lines);
      }
    } else {
      c += touch_lines(n.decide.data_offset, n.decide.memory_lines);
      if (!l0_only) {
        c += touch_lines(n.reflect.data_offset, n.reflect.memory_lines);
        c += touch_lines(n.resume.data_offset, n.resume.memory_lines);
        if (n.vmcs_shadowing) c += touch_lines(n.shadow_sync.data_offset, n.shadow_sync.memory_lines);
      }
    }
    if (user_space) c += h_.user_space_cycles;  // L1's device model
  }
  if (l0_only) {
    ++l2_exits_l0;
  } else {
    ++l2_exits_reflected;
    l1_exits += cost.l1_exits;
    l1_vmcs_exits += cost.l1_vmcs_exits;
    l0_vmptrlds += cost.l0_pointer_ops.vmptrlds;
    l0_vmclears += cost.l0_pointer_ops.vmclears;
  }
  return c;
}

InstructionOutcome VirtualizationUnit::take_exit(const ExitDecision& d, const GuestEvent& event,
                                                 const HypervisorParameters::Handler* chosen,
                                                 const ShadowFaultOutcome* shadow_fault, Addr va, bool l0_only) {
  InstructionOutcome out;
  const auto accesses_before = mode_switch_->structure_accesses();
  const WorldSwitchCounts switched_before = mode_switch_->world_switch();
  mode_switch_->exit_to_host(d, cpu_);
  const HypervisorParameters::Handler& h = chosen ? *chosen : handler_for(event);
  Cycles handler = nested_ ? 0 : handler_cycles(d, event, chosen);
  if (h_.enabled && !nested_) {
    handler_instruction_cycles += static_cast<Cycles>(instruction_cycles(h_.exit_path) + instruction_cycles(h) + 0.5);
    vmcs_access_cycles += vmcs_cycles(h_.exit_path) + vmcs_cycles(h);
    if (d.mode == VirtMode::Svm)
      handler += touch_vmcb(h_.exit_path.vmcs_reads + h_.exit_path.vmcs_writes + h.vmcs_reads + h.vmcs_writes);
    handler += touch_lines(h_.exit_path.data_offset, h_.exit_path.memory_lines);
    handler += touch_lines(h.data_offset, h.memory_lines);
  }
  if (h_.enabled && shadow_fault) handler += touch_page_tables(*shadow_fault, va);
  // Before re-entering, the CR3-target list follows the shadow root cache, which this exit
  // may have changed (a VMWRITE per value that changed).
  unsigned target_writes = 0;
  if (shadow_ && h_.cr3_targets.get() > 0) {
    const unsigned writes = mode_switch_->write_cr3_targets(shadow_->cr3_target_roots(h_.cr3_targets.get()));
    cr3_target_writes += writes;
    target_writes = writes;
    if (h_.enabled && !nested_) {
      handler += Cycles{writes} * t_.vmwrite_cycles;
      vmcs_access_cycles += Cycles{writes} * t_.vmwrite_cycles;
    }
  }
  // A port access KVM hands to its user-space device model returns from KVM_RUN first.
  const bool user_space = event.kind == GuestEventKind::Instr &&
                          (event.instruction == Instruction::In || event.instruction == Instruction::Out) &&
                          h_.enabled && !kernel_port(event.count);
  if (user_space) mode_switch_->return_to_user_space();
  if (nested_) handler += nested_exit(h, l0_only, target_writes, user_space);
  // Before the entry (not modelled for an L2 guest's exits): what sets KVM's l1tf_flush_l1d on this exit's
  // path: the next KVM_RUN (vcpu_run) after a trip to user space, kvm_handle_page_fault (the
  // #PF exits of shadow paging, the emulated page-table writes among them), a host interrupt
  // (the external-interrupt exit, VT-x reason 1).
  const bool sets_flush = user_space || shadow_fault || (d.mode == VirtMode::Vmx && d.code == 1);
  if (h_.enabled && !nested_) {
    handler += mitigations(d, sets_flush);
    const auto calls = static_cast<Cycles>(h_.indirect_call_cost(h, d.mode) + 0.5);
    indirect_call_cycles += calls;
    handler += calls;
  }
  enter_guest();
  // AMD-V: the VMLOADs, VMSAVEs, CLGI and STGI around this exit's VMRUN (the hypervisor's
  // instructions: charged with its software model on).
  const Cycles switched = count_world_switch(switched_before);
  if (h_.enabled) {
    handler += switched;
    world_switch_cycles += switched;
  }
  structure_accesses += mode_switch_->structure_accesses() - accesses_before;
  out.exited = true;
  // Nested: the transitions of every level are in nested_exit's cycles.
  const Cycles transitions = nested_ ? 0 : Cycles{t_.vm_exit_cycles} + t_.vm_entry_cycles;
  out.cycles = transitions + handler;
  transition_cycles += transitions;
  out.flush_untagged_tlb = !t_.tagged_tlb;
  ++exits;
  exit_cycles += out.cycles;
  if (user_space) ++user_space_exits;
  const std::size_t i = reason_index(d.code);
  if (i < exits_by_reason.labels().size()) {
    exits_by_reason.add(i);
    cycles_by_reason.add(i, out.cycles);
  }
  if (debug_trace::on(debug_trace::kExit))
    debug_trace::line(debug_trace::kExit, "%s reason=%lld \"%s\" qualification=0x%llx cycles=%llu handler=%llu",
                      to_string(d.mode), static_cast<long long>(d.code), d.name().c_str(),
                      static_cast<unsigned long long>(d.qualification), static_cast<unsigned long long>(out.cycles),
                      static_cast<unsigned long long>(handler));
  return out;
}

}  // namespace virtsim
