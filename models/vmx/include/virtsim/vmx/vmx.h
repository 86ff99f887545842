#pragma once
// VT-x (Intel SDM vol. 3 chapters 24-28): VMXON, the VMCS instructions with their
// success/failure conventions and VM-instruction error numbers (SDM 31.4), VM entry as the
// manual's steps (check controls, host state, guest state; load MSRs; load guest state) with
// entry failures as exit reasons 33 and 34, VM exit as its steps (record exit information,
// save guest state, load host state), and the decision which guest events exit under the
// VM-execution controls, with the exit qualification the SDM defines for each.
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "virtsim/common/instruction.h"
#include "virtsim/common/units.h"
#include "virtsim/vmx/exit_reasons.h"
#include "virtsim/vmx/vmcs.h"

namespace virtsim {

// VM-execution control bits (SDM 25.6.1-25.6.2).
namespace pin {
inline constexpr std::uint32_t kExternalInterruptExiting = 1u << 0, kNmiExiting = 1u << 3, kVirtualNmis = 1u << 5,
                               kPreemptionTimer = 1u << 6, kPostedInterrupts = 1u << 7;
}
namespace proc {
inline constexpr std::uint32_t kInterruptWindowExiting = 1u << 2, kUseTscOffsetting = 1u << 3, kHltExiting = 1u << 7,
                               kInvlpgExiting = 1u << 9, kMwaitExiting = 1u << 10, kRdpmcExiting = 1u << 11,
                               kRdtscExiting = 1u << 12, kCr3LoadExiting = 1u << 15, kCr3StoreExiting = 1u << 16,
                               kCr8LoadExiting = 1u << 19, kCr8StoreExiting = 1u << 20, kUseTprShadow = 1u << 21,
                               kNmiWindowExiting = 1u << 22, kMovDrExiting = 1u << 23,
                               kUnconditionalIoExiting = 1u << 24, kUseIoBitmaps = 1u << 25,
                               kMonitorTrapFlag = 1u << 27, kUseMsrBitmaps = 1u << 28, kMonitorExiting = 1u << 29,
                               kPauseExiting = 1u << 30, kActivateSecondaryControls = 1u << 31;
}
namespace proc2 {
inline constexpr std::uint32_t kVirtualizeApicAccesses = 1u << 0, kEnableEpt = 1u << 1,
                               kDescriptorTableExiting = 1u << 2, kEnableRdtscp = 1u << 3, kEnableVpid = 1u << 5,
                               kWbinvdExiting = 1u << 6, kUnrestrictedGuest = 1u << 7, kPauseLoopExiting = 1u << 10,
                               kRdrandExiting = 1u << 11, kEnableInvpcid = 1u << 12, kRdseedExiting = 1u << 16;
}

// VM-instruction error numbers (SDM 31.4, table "VM-Instruction Error Numbers").
enum class VmInstructionError : std::uint32_t {
  None = 0,
  VmcallInRoot = 1,
  VmclearInvalidAddress = 2,
  VmclearVmxonPointer = 3,
  VmlaunchNonClearVmcs = 4,
  VmresumeNonLaunchedVmcs = 5,
  VmresumeAfterVmxoff = 6,
  EntryInvalidControlFields = 7,
  EntryInvalidHostState = 8,
  VmptrldInvalidAddress = 9,
  VmptrldVmxonPointer = 10,
  VmptrldIncorrectRevision = 11,
  UnsupportedVmcsComponent = 12,
  VmwriteReadOnlyComponent = 13,
  VmxonInRoot = 15,
  EntryEventsBlockedByMovSs = 26,
  InvalidInveptInvvpidOperand = 28,
};

struct VmxResult {
  enum class Kind { Succeed, FailInvalid, FailValid, EntryFailure } kind = Kind::Succeed;
  VmInstructionError error = VmInstructionError::None;
  std::uint32_t exit_reason = 0;  // EntryFailure: basic reason with bit 31 set
  bool ok() const { return kind == Kind::Succeed; }
};

// What this processor supports (the VMX capability MSRs, SDM appendix A), simplified to the
// allowed-1 settings of each control word and the features the model checks.
struct VmxCapabilities {
  std::uint32_t revision = 0x4;
  std::uint32_t pin_allowed1 = pin::kExternalInterruptExiting | pin::kNmiExiting | pin::kVirtualNmis |
                               pin::kPreemptionTimer;
  std::uint32_t proc_allowed1 = 0xfffffffcu;  // bits 1:0 reserved... every documented control
  std::uint32_t proc2_allowed1 = 0x0001ffffu;
  unsigned max_msr_list = 512;       // IA32_VMX_MISC: recommended maximum MSR-list entries
  unsigned preemption_timer_shift = 5;  // the timer counts down every 2^shift TSC cycles
  bool ept_5level = false;
  bool vmwrite_all = false;          // VMWRITE to VM-exit information fields allowed
  Addr physical_address_width = 46;
};

// A segment register with its hidden part (the descriptor cache loaded with the selector), in
// the VMCB's layout (AMD APM vol. 2 appendix B, "VMCB Layout, State Save Area": selector,
// attributes, limit, base).
struct SegmentRegister {
  std::uint16_t selector = 0;
  std::uint16_t attributes = 0;  // the VMCB's packed form: descriptor bits 47:40 and 55:52
  std::uint32_t limit = 0;
  std::uint64_t base = 0;
  bool operator==(const SegmentRegister& o) const {
    return selector == o.selector && attributes == o.attributes && limit == o.limit && base == o.base;
  }
};

// The system-call MSRs: SYSCALL's (STAR, LSTAR, CSTAR, SFMASK), SWAPGS's KernelGsBase and
// SYSENTER's (CS, ESP, EIP).
struct SystemCallMsrs {
  std::uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0, kernel_gs_base = 0;
  std::uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  bool operator==(const SystemCallMsrs& o) const {
    return star == o.star && lstar == o.lstar && cstar == o.cstar && sfmask == o.sfmask &&
           kernel_gs_base == o.kernel_gs_base && sysenter_cs == o.sysenter_cs && sysenter_esp == o.sysenter_esp &&
           sysenter_eip == o.sysenter_eip;
  }
};

// Architectural state the model saves and loads on VM entry and exit.
struct CpuState {
  std::uint64_t cr0 = 0x80000031;  // PG, NE, ET, PE
  std::uint64_t cr3 = 0;
  std::uint64_t cr4 = 0x2000;      // VMXE
  std::uint64_t rip = 0;
  std::uint64_t rsp = 0;
  std::uint64_t rflags = 0x2;
  std::uint64_t dr7 = 0x400;
  std::uint16_t cs = 0x10;
  std::uint64_t efer = 0x500;      // LME, LMA
  // What AMD-V's VMRUN and #VMEXIT leave alone and VMLOAD / VMSAVE move (VT-x's entry and exit
  // switch them through the VMCS).
  SegmentRegister fs, gs, ldtr, tr{0x40, 0x8b, 0x67, 0};  // TR: a busy 64-bit TSS
  SystemCallMsrs msrs;
};

// A guest event the mode switch decides on: an instruction with its operands, an exception,
// an external interrupt, the preemption timer running out, or a nested-paging fault.
struct GuestOp {
  enum class Kind { Instruction, Exception, ExternalInterrupt, PreemptionTimer, EptViolation, EptMisconfig } kind =
      Kind::Instruction;
  Instruction instruction = Instruction::Cpuid;
  InstructionOperands operands;
  std::uint8_t vector = 0;          // exception / interrupt vector
  std::uint32_t error_code = 0;     // exception error code
  unsigned cpl = 0;                 // guest CPL
  Cycles now = 0;                   // guest time, for PAUSE-loop exiting
  std::uint64_t qualification = 0;  // EPT violation qualification
  Addr guest_physical_address = 0;
  Addr guest_linear_address = 0;
  std::uint8_t instruction_length = 2;
};

// The hardware's verdict on a guest event, in one vocabulary for both VMX and SVM.
struct ExitDecision {
  bool exits = false;
  VirtMode mode = VirtMode::Vmx;
  std::int64_t code = 0;            // basic exit reason (VMX) or EXITCODE (SVM)
  std::uint64_t qualification = 0;  // exit qualification (VMX) or EXITINFO1 (SVM)
  std::uint64_t info2 = 0;          // guest-physical address (VMX) or EXITINFO2 (SVM)
  std::uint32_t instruction_info = 0;
  std::uint8_t instruction_length = 0;
  std::string name() const { return exit_reason_name(mode, code); }
};

// Reads a byte of physical memory (I/O and MSR bitmaps live there).
using ByteReader = std::function<std::uint8_t(Addr)>;

// The exit decision for one event under the controls of `v` (SDM 26.1-26.2; 29.2 for EPT).
// `pause_state` carries PAUSE-loop detection between calls.
struct PauseLoopState {
  Cycles first = 0, last = 0;
  bool active = false;
};
ExitDecision vmx_decide_exit(const Vmcs& v, const GuestOp& op, const ByteReader& memory, PauseLoopState& pause_state);

class VmxUnit {
 public:
  using RegionIo = std::function<void(Addr, std::vector<std::uint8_t>&, bool write)>;  // 4 KiB region I/O

  VmxUnit(VmxCapabilities caps, RegionIo region_io);

  // ---- VMX instructions (SDM vol. 3 chapter 31) ----
  VmxResult vmxon(Addr region);
  VmxResult vmxoff();
  VmxResult vmclear(Addr region);
  VmxResult vmptrld(Addr region);
  Addr vmptrst() const { return current_; }
  VmxResult vmread(std::uint32_t encoding, std::uint64_t& value);
  VmxResult vmwrite(std::uint32_t encoding, std::uint64_t value);
  VmxResult vmlaunch(CpuState& cpu) { return vm_entry(cpu, true); }
  VmxResult vmresume(CpuState& cpu) { return vm_entry(cpu, false); }
  VmxResult invept(unsigned type, std::uint64_t eptp);
  VmxResult invvpid(unsigned type, std::uint16_t vpid, Addr linear_address);
  VmxResult vmcall_in_root();

  // VM exit (SDM 28): record the exit information, save guest state, load host state.
  void vm_exit(const ExitDecision& exit, CpuState& cpu);

  bool in_vmx_operation() const { return vmxon_; }
  bool in_guest() const { return in_guest_; }
  static constexpr Addr kNoVmcs = ~Addr{0};
  Vmcs* current_vmcs();
  const VmxCapabilities& capabilities() const { return caps_; }

  // Field accesses made by the steps above (VMREAD/VMWRITE-equivalent work), for timing.
  std::uint64_t field_reads = 0, field_writes = 0;

  // The manual's steps, public so tests can check each one.
  VmxResult vmentry_check_controls(const Vmcs& v) const;
  VmxResult vmentry_check_host_state(const Vmcs& v) const;
  VmxResult vmentry_check_guest_state(const Vmcs& v) const;
  VmxResult vmentry_load_msrs(const Vmcs& v) const;
  void vmentry_load_guest_state(Vmcs& v, CpuState& cpu);
  void vmexit_record_information(Vmcs& v, const ExitDecision& exit);
  void vmexit_save_guest_state(Vmcs& v, const CpuState& cpu);
  void vmexit_load_host_state(Vmcs& v, CpuState& cpu);

 private:
  VmxResult vm_entry(CpuState& cpu, bool launch);
  VmxResult fail_valid(VmInstructionError e);
  bool valid_region_address(Addr a) const { return (a & 0xfff) == 0 && (a >> caps_.physical_address_width) == 0; }

  VmxCapabilities caps_;
  RegionIo region_io_;
  bool vmxon_ = false;
  bool in_guest_ = false;
  Addr vmxon_region_ = kNoVmcs;
  Addr current_ = kNoVmcs;
  std::map<Addr, Vmcs> cache_;  // VMCSs the processor holds (loaded by VMPTRLD, written back by VMCLEAR)
};

}  // namespace virtsim
