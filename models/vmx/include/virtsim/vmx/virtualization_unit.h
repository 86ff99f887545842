#pragma once
// The VT-x / AMD-V unit of one vCPU as a thin SystemC module around a ModeSwitch: the vCPU
// sends it every privileged or sensitive instruction through its `virtualization` port; it
// decides (by the configured controls) whether the instruction exits and charges the
// hardware transition costs of the machine preset and the hypervisor's handler cost.
//
// Cost of an exit = VM exit + handler + VM entry, where the handler (a KVM-style model) is
// the path every exit takes (exit_path) plus the exit reason's own handler, each
// instructions x cpi + VMCS reads x vmread_cycles + VMCS writes x vmwrite_cycles (VMCB
// accesses on SVM), plus the loads of their data through the vCPU's
// caches, plus the trip to the user-space device model for exits KVM hands to user space
// (port I/O to devices not emulated in the kernel). On AMD-V the VMLOADs, VMSAVEs, CLGI and
// STGI the mode switch runs around each VMRUN, as KVM's svm_vcpu_run does, come on top, and
// so do the speculative-execution mitigations the host runs around the exit where they are
// switched on (HypervisorParameters::mitigation_*).
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>

#include "virtsim/common/clock.h"
#include "virtsim/common/tlm_ports.h"

#include "virtsim/common/guest_event.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/param.h"
#include "virtsim/common/shadow_paging.h"
#include "virtsim/common/state_stream.h"
#include "virtsim/common/stats.h"
#include "virtsim/vmx/mode_switch.h"

namespace virtsim {

class NestedVirtualizationParameters;
enum class NestedFaultOwner;

// Transition costs and VM-execution controls, shared by every vCPU (scope "system.vmx").
class TransitionParameters {
 public:
  explicit TransitionParameters(const Scope& scope);
  VirtualizationControls controls() const;
  bool enabled() const { return mode.get() != "none"; }
  VirtMode virt_mode() const { return mode.get() == "svm" ? VirtMode::Svm : VirtMode::Vmx; }

  Param<std::string> mode;
  Param<std::uint32_t> vm_entry_cycles, vm_exit_cycles, vmread_cycles, vmwrite_cycles, vmload_cycles, vmsave_cycles,
      clgi_cycles, stgi_cycles;
  // A VMPTRLD or VMCLEAR, in VM entries: the host's VM switch and L0's nested VMCS switches.
  Param<double> vmptrld_entries;
  double vmcs_pointer_op_cycles() const { return vmptrld_entries.get() * vm_entry_cycles.get(); }
  Param<std::uint32_t> native_instruction_cycles;
  Param<bool> tagged_tlb;
  Param<bool> hlt_exiting, invlpg_exiting, rdtsc_exiting, cr3_exiting, cr8_exiting, use_tpr_shadow;
  Param<std::uint32_t> tpr_threshold;
  Param<bool> unconditional_io_exiting, pause_exiting, pause_loop_exiting;
  Param<std::uint32_t> ple_gap, ple_window;
  Param<bool> descriptor_table_exiting;
  Param<bool> posted_interrupts;
  Param<std::uint64_t> preemption_timer_cycles;
};

// The hypervisor's software cost per kind of exit (scope "system.hypervisor").
class HypervisorParameters {
 public:
  explicit HypervisorParameters(const Scope& scope);

  struct Handler {
    Handler(const Scope& scope, const std::string& kind, unsigned instructions, unsigned reads, unsigned writes,
            unsigned lines, const std::string& source);
    Param<std::uint32_t> instructions, vmcs_reads, vmcs_writes, memory_lines;
    Addr data_offset = 0;  // where its lines lie in the per-vCPU hypervisor data (HypervisorMemoryLayout)
    // Its calls into the vendor module through kvm_x86_ops (static calls in Linux 6.1, counted on
    // its VT-x path; the instruction skip's three among them), whether it skips the instruction
    // (on AMD-V the skip reads no RIP through cache_reg: one call fewer), and whether the exit
    // dispatch calls it directly or through the handler table (an indirect call in every version).
    unsigned ops_calls = 0;
    bool skips = false;
    bool direct_dispatch = false;
  };
  Param<bool> enabled;
  Param<double> cpi;
  Param<std::uint32_t> user_space_cycles;
  // CPUID masking for migration (AMD-V Extended Migration; docs/references.md): the feature words a guest
  // sees are the host's AND these masks.
  Param<std::uint32_t> cpuid_host_leaf1_ecx, cpuid_host_leaf1_edx, cpuid_host_ext1_ecx, cpuid_host_ext1_edx;
  Param<std::uint32_t> cpuid_mask_leaf1_ecx, cpuid_mask_leaf1_edx, cpuid_mask_ext1_ecx, cpuid_mask_ext1_edx;
  // The path every exit takes (vmx_vcpu_run / svm_vcpu_run after the exit, vcpu_enter_guest,
  // the dispatch, the next entry's preparation); the exit reason's handler comes on top.
  Handler exit_path;
  Handler cpuid, vmcall, rdtsc, io, msr, hlt, cr_access, invlpg, pause, tpr, other;
  // Shadow paging's #PF exits, by what the hypervisor made of them (shadow_handler picks).
  // An unprotect-and-retry (retry_instruction) runs the emulation exit's path up to the
  // decoded instruction, then a second guest walk and the zap where the emulation and the
  // write-back would be: it is charged shadow_write (assumption: the two tails cost alike).
  Handler shadow_fill, shadow_write, guest_fault;
  const Handler& shadow_handler(ShadowFaultResolution how) const {
    switch (how) {
      case ShadowFaultResolution::Filled: return shadow_fill;
      case ShadowFaultResolution::WriteEmulated:
      case ShadowFaultResolution::Unprotected: return shadow_write;
      case ShadowFaultResolution::GuestFault: break;
    }
    return guest_fault;
  }
  // Nested paging filled lazily: an EPT violation / NPF that maps a page.
  Handler nested_fill;
  // A paravirtual kernel's mmu_update hypercall: this, plus pv_update_instructions per update.
  Handler pv_mmu_update;
  Param<std::uint32_t> pv_update_instructions;
  // Shadow paging on VT-x: how many cached shadow roots the hypervisor lists as CR3-target
  // values, so that the guest's MOV to CR3 to one of them does not exit.
  Param<std::uint32_t> cr3_targets;
  // Nested paging: the host takes a guest page back this often (its EPT / NPT entry zapped).
  Param<std::uint64_t> reclaim_interval_cycles;
  // Speculative-execution mitigations of the host kernel around each exit (all off by default:
  // the skylake-sp round trip is derived from a CPUID range measured with mitigations off).
  // The return stack buffer refilled after every exit (Linux's FILL_RETURN_BUFFER), and the
  // L1D flushed before VM entry (VT-x; vmx_l1d_flush): never, cond (only after the exits whose
  // path sets KVM's l1tf_flush_l1d) or always.
  Param<bool> mitigation_rsb_fill;
  Param<std::string> mitigation_l1d_flush;
  bool l1d_flush_on() const { return mitigation_l1d_flush.get() != "never"; }
  // The exit's indirect calls: kvm_x86_ops through function pointers (up to Linux 5.11) or static
  // calls (5.12 on), the handler table always; with retpolines each indirect call goes through a
  // thunk. Their prices come from one published pair of measurements (docs/exit-costs.md).
  Param<bool> mitigation_retpolines, ops_static_calls;
  Param<double> indirect_call_cycles, retpoline_cycles;
  // The cycles those calls add to an exit of handler `h` (0 with static calls and no retpolines).
  double indirect_call_cost(const Handler& h, VirtMode mode) const;
};

// The instruction sequences of the mitigations, counted in Linux 6.1's source.
struct MitigationSequences {
  // arch/x86/include/asm/nospec-branch.h, __FILL_RETURN_BUFFER with RSB_CLEAR_LOOPS (32): the
  // counter's MOV, 16 rounds of two CALLs (each leaving a return address on the stack), the
  // stack's ADD, DEC and JNZ, then an LFENCE.
  static constexpr unsigned kRsbFillInstructions = 1 + 16 * 5 + 1;
  // arch/x86/kvm/vmx/vmx.c, vmx_l1d_flush without the FLUSH_L1D command MSR: 64 KiB of flush
  // pages read once per 4 KiB page (to fill the TLB) and once per 64-byte line, 4 instructions
  // a step (MOVZBL, ADDL, CMPL, JNE), with XORLs, a CPUID between the loops and an LFENCE.
  static constexpr Addr kL1dFlushBytes = 64 * 1024;
  static constexpr unsigned kL1dFlushPages = kL1dFlushBytes / 4096, kL1dFlushLines = kL1dFlushBytes / 64;
  static constexpr unsigned kL1dFlushInstructions = 4 * (kL1dFlushPages + kL1dFlushLines) + 5;
};

// The per-vCPU hypervisor data in host memory (the platform allocates kBytes for each vCPU):
// the vcpu structure (struct vcpu_vmx / vcpu_svm with its kvm_vcpu), where the exit path's
// lines come first and each handler's lines follow at its data_offset; the VMCB (AMD-V), whose
// fields KVM reads and writes as memory; then the shadow MMU's metadata (kvm_mmu_page
// structures and rmap arrays), a line of which a shadow-paging handler loads per shadow table
// it walks, chosen by the table's address, and one rmap line chosen by the faulting page.
struct HypervisorMemoryLayout {
  static constexpr Addr kVcpuBytes = 16 * 1024;
  // Nested virtualization: L0's nested state and vmcs12, after the handlers' lines (80 lines).
  static constexpr Addr kNestedState = 8 * 1024;
  static constexpr Addr kVmcb = kVcpuBytes;
  static constexpr Addr kShadowMetadata = kVmcb + 4096;
  static constexpr Addr kBytes = 64 * 1024;
};

class VirtualizationUnit final : public sc_core::sc_module, public GuestInstructionHandler {
 public:
  // The hypervisor's own loads: its handlers read their data structures through the vCPU's
  // caches, where they compete with the guest's lines.
  MemoryInitiatorSocket memory;

  VirtualizationUnit(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock,
                     const TransitionParameters& transitions, const HypervisorParameters& hypervisor,
                     std::uint16_t vpid, bool shadow_paging = false, bool paravirt_mmu = false);
  ~VirtualizationUnit() override;
  // Host-physical memory the handlers touch (its per-vCPU data: vCPU structure, VMCS cache ...).
  // Shadow paging: the hypervisor's shadow tables, whose cached roots the CR3-target list names.
  void set_shadow_paging(ShadowPagingControl* shadow) { shadow_ = shadow; }
  // A hypervisor that switches the guest between shadow and nested paging rewrites the
  // controls: on, the traps shadow paging rests on (#PF, MOV to CR3, INVLPG) without EPT / NPT;
  // off, the configured controls (nested paging's).
  void set_shadow_traps(bool on);
  // The VPID (VT-x) / ASID (AMD-V) its guest's TLB entries carry; 0 without tagging, where
  // every transition flushes them.
  std::uint16_t tlb_tag() const { return tlb_tag_; }
  // Nested paging with reclaim_interval_cycles set: `reclaim` zaps the nested entry of the
  // guest page at `gpa` (of `guest_bytes` of guest memory) and flushes the vCPUs' combined
  // mappings; false when the page was not mapped.
  void set_nested_reclaim(Addr guest_bytes, std::function<bool(Addr gpa)> reclaim);
  // A hypervisor policy that looks at its guest every `interval` cycles of guest time (agile
  // paging's); the look itself is not charged.
  void set_periodic_look(Cycles interval, std::function<void()> look);
  // Checkpoints (virtualization_unit_state.cpp): the hypervisor's deadlines in guest time (the
  // periodic look, the next reclaim, the VMX-preemption timer) as cycles from `now`, the vCPU's
  // guest time, with the reclaim's draws so far and its recent nested fills; the VMCS / VMCB
  // itself starts as at boot.
  void save_deadlines(StateWriter& out, Cycles now) const;
  void load_deadlines(StateReader& in, Cycles now);
  // Nested virtualization (nested_virtualization.h): the guest is an L2 guest; every exit is
  // charged as L0 and L1 handle it. `fault_owner` says who handles the EPT violation the
  // memory strategy has just resolved.
  void set_nested(const NestedVirtualizationParameters* nested, std::function<NestedFaultOwner()> fault_owner);
  void set_hypervisor_memory(Addr base, Addr bytes) {
    memory_base_ = base;
    memory_bytes_ = bytes;
  }
  // Host-physical address of the L1D flush pages (MitigationSequences::kL1dFlushBytes, one
  // buffer for the host as KVM's vmx_l1d_flush_pages); without it a flush loads nothing. The
  // flush loop's loads do not depend on each other: their latencies overlap `lines_in_flight`
  // ways, as a fast-string instruction's lines do (the vCPU's string_lines_in_flight).
  void set_l1d_flush_buffer(Addr base, unsigned lines_in_flight) {
    l1d_flush_base_ = base;
    l1d_flush_in_flight_ = std::max(1u, lines_in_flight);
  }

  InstructionOutcome execute(const GuestEvent& event, unsigned cpl, Cycles now) override;
  InstructionOutcome elapse(Cycles now) override;
  InstructionOutcome deliver_interrupt(std::uint32_t vector, Cycles now) override;
  InstructionOutcome raise_exception(std::uint32_t vector, Cycles now) override;
  InstructionOutcome page_fault_exit(const ShadowFaultOutcome& how, std::uint32_t error_code, Addr va, Cycles now) override;
  InstructionOutcome nested_fault_exit(std::uint64_t qualification, Addr gpa, Cycles now) override;

  // Ports KVM emulates in the kernel (the in-kernel PIC 0x20-21/0xa0-a1, PIT 0x40-43, ELCR
  // 0x4d0-4d1); other port I/O goes to the user-space device model.
  static bool kernel_port(std::uint32_t port);
  // The handler cost of one exit, without the hardware transitions.
  Cycles handler_cycles(const ExitDecision& exit, const GuestEvent& event,
                        const HypervisorParameters::Handler* handler = nullptr) const;

  Counter exits;
  Counter exit_cycles;
  Counter user_space_exits;
  Counter instructions_seen;
  Counter structure_accesses;
  Counter handler_memory_reads;
  Counter handler_memory_cycles;
  Counter transition_cycles;
  Counter handler_instruction_cycles;
  Counter vmcs_access_cycles;
  Counter preemption_timer_exits;
  Counter interrupts_delivered;
  Counter interrupt_exits;
  Counter cpuid_masked;
  Counter page_fault_exits;
  Counter nested_fault_exits;
  Counter pv_updates;
  Counter cr3_target_switches;
  Counter vmloads;
  Counter vmsaves;
  Counter clgis;
  Counter stgis;
  Counter world_switch_cycles;
  Counter nested_reclaims;
  Counter cr3_target_writes;
  Counter mitigation_cycles;
  Counter indirect_call_cycles;
  Counter l1d_flushes;
  // Nested virtualization, per level.
  Counter l2_exits_l0;
  Counter l2_exits_reflected;
  Counter l1_exits;
  Counter l1_vmcs_exits;
  Counter l0_vmptrlds;
  Counter l0_vmclears;
  Counter l1_handler_cycles;
  Scalar cpuid_guest_ecx;  // ECX the guest saw at its last intercepted CPUID
  Scalar cpuid_guest_edx;
  VectorStat exits_by_reason;
  VectorStat cycles_by_reason;
  // The #PF exits of shadow paging by what the hypervisor did with them, in the order of
  // ShadowFaultResolution (the exits table gives each its own row).
  VectorStat page_fault_exits_by_handling;
  VectorStat page_fault_cycles_by_handling;
  static const std::vector<std::string>& page_fault_handlings();

  const std::vector<ExitReasonInfo>& reasons() const { return exit_reasons(mode_switch_->mode()); }
  // The exit reason / code #PF exits have in this mode (VT-x: exception or NMI; AMD-V: EXCEPTION_14).
  std::int64_t page_fault_exit_code() const;

 private:
  std::size_t reason_index(std::int64_t code) const;
  // VMLAUNCH / VMRESUME / VMRUN; a failed entry stops the run with the failed check.
  void enter_guest();
  // Counts the AMD-V world-switch instructions run since `before`; returns their cycles.
  Cycles count_world_switch(const WorldSwitchCounts& before);
  // `handler`: the handler that runs (by default the one for the event's instruction).
  InstructionOutcome take_exit(const ExitDecision& d, const GuestEvent& event,
                               const HypervisorParameters::Handler* handler = nullptr,
                               const ShadowFaultOutcome* shadow_fault = nullptr, Addr va = 0, bool l0_only = false);
  // An L2 exit (nested virtualization): the cycles of its transitions and of L0's and L1's
  // software, with their data loads; counts it by level.
  Cycles nested_exit(const HypervisorParameters::Handler& handler, bool l0_only, unsigned extra_l1_writes,
                     bool user_space);
  void mask_cpuid(std::uint32_t leaf);
  InstructionOutcome reclaim_page(Cycles now);
  // Loads `lines` successive lines of the per-vCPU data from `offset`; the loads of a shadow
  // handler's page-table entries and of the shadow MMU's metadata for them.
  Cycles touch_lines(Addr offset, unsigned lines);
  Cycles touch_address(Addr host);
  Cycles load(Addr host);
  // AMD-V: a handler's VMCB reads and writes are loads of the VMCB's lines (KVM's svm.c reads
  // exit_code, exit_info, next_rip and the save area's RIP, RFLAGS, RSP, RAX, segments, CPL).
  Cycles touch_vmcb(unsigned accesses);
  Cycles touch_page_tables(const ShadowFaultOutcome& how, Addr va);
  // The mitigations around one exit (RSB fill after it, L1D flush before the entry); `sets_flush`:
  // the exit's path sets KVM's l1tf_flush_l1d (or the host's interrupt handler its per-CPU flag).
  Cycles mitigations(const ExitDecision& d, bool sets_flush);
  const HypervisorParameters::Handler& handler_for(const GuestEvent& event) const;
  // Instructions x cpi and VMCS accesses (VT-x: VMREAD / VMWRITE; AMD-V: none here, the VMCB
  // is loaded through the caches by touch_vmcb) of one handler (exit path or reason).
  double instruction_cycles(const HypervisorParameters::Handler& h) const;
  Cycles vmcs_cycles(const HypervisorParameters::Handler& h) const;
  const TransitionParameters& t_;
  const HypervisorParameters& h_;
  std::unique_ptr<ModeSwitch> mode_switch_;
  ShadowPagingControl* shadow_ = nullptr;
  VirtualizationControls controls_;  // as configured, before shadow paging's traps
  CpuState cpu_;
  Cycles next_timer_ = 0;
  std::function<bool(Addr)> reclaim_;
  Cycles next_reclaim_ = 0;
  Addr reclaim_guest_pages_ = 0;
  std::uint64_t reclaim_draws_ = 0;
  std::function<void()> look_;
  Cycles look_interval_ = 0;
  Cycles next_look_ = 0;
  static constexpr std::size_t kRecentFills = 256;
  std::vector<Addr> recent_fills_;
  std::uint16_t tlb_tag_ = 0;
  const NestedVirtualizationParameters* nested_ = nullptr;
  std::function<NestedFaultOwner()> nested_fault_owner_;
  const Clock& clock_;
  Addr memory_base_ = 0, memory_bytes_ = 0;
  enum class L1dFlush { Never, Conditional, Always } l1d_flush_ = L1dFlush::Never;
  Addr l1d_flush_base_ = 0;
  unsigned l1d_flush_in_flight_ = 1;
  // KVM's l1tf_flush_l1d: the next entry flushes the L1D (conditional mode).
  bool l1d_flush_pending_ = false;
};

}  // namespace virtsim
