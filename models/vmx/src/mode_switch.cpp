#include "virtsim/vmx/mode_switch.h"

#include "virtsim/vmx/byte_memory.h"

#include <stdexcept>

namespace virtsim {

namespace {

using ControlMemory = ByteMemory;  // VMXON/VMCS regions and permission bitmaps

constexpr Addr kVmxonRegion = 0x1000, kVmcsRegion = 0x2000, kIoBitmapA = 0x4000, kIoBitmapB = 0x5000,
               kMsrBitmap = 0x6000, kIopm = 0x8000, kMsrpm = 0xc000;

class VmxModeSwitch final : public ModeSwitch {
 public:
  VmxModeSwitch()
      : vmx_(VmxCapabilities{}, memory_.region_io()) {
    memory_.write32(kVmxonRegion, VmxCapabilities{}.revision);
    memory_.write32(kVmcsRegion, VmxCapabilities{}.revision);
    if (!vmx_.vmxon(kVmxonRegion).ok() || !vmx_.vmclear(kVmcsRegion).ok() || !vmx_.vmptrld(kVmcsRegion).ok())
      throw std::logic_error("VMX set-up failed");
  }

  VirtMode mode() const override { return VirtMode::Vmx; }

  void configure(const VirtualizationControls& c) override {
    std::uint32_t pin_ctl = 0, proc_ctl = proc::kActivateSecondaryControls, proc2_ctl = 0;
    if (c.external_interrupt_exiting) pin_ctl |= pin::kExternalInterruptExiting;
    if (c.preemption_timer) pin_ctl |= pin::kPreemptionTimer;
    if (c.hlt_exiting) proc_ctl |= proc::kHltExiting;
    if (c.invlpg_exiting) proc_ctl |= proc::kInvlpgExiting;
    if (c.rdtsc_exiting) proc_ctl |= proc::kRdtscExiting;
    if (c.cr3_load_exiting) proc_ctl |= proc::kCr3LoadExiting | proc::kCr3StoreExiting;
    if (c.cr8_load_exiting) proc_ctl |= proc::kCr8LoadExiting;
    if (c.use_tpr_shadow) proc_ctl |= proc::kUseTprShadow;
    if (c.mov_dr_exiting) proc_ctl |= proc::kMovDrExiting;
    if (c.unconditional_io_exiting) proc_ctl |= proc::kUnconditionalIoExiting;
    else proc_ctl |= proc::kUseIoBitmaps;
    if (c.use_msr_bitmaps) proc_ctl |= proc::kUseMsrBitmaps;
    if (c.pause_exiting) proc_ctl |= proc::kPauseExiting;
    if (c.pause_loop_exiting) proc2_ctl |= proc2::kPauseLoopExiting;
    if (c.descriptor_table_exiting) proc2_ctl |= proc2::kDescriptorTableExiting;
    if (c.wbinvd_exiting) proc2_ctl |= proc2::kWbinvdExiting;
    if (c.rdrand_exiting) proc2_ctl |= proc2::kRdrandExiting;
    if (c.enable_invpcid) proc2_ctl |= proc2::kEnableInvpcid;
    if (c.nested_paging) proc2_ctl |= proc2::kEnableEpt | proc2::kUnrestrictedGuest;
    if (c.tagged_tlb) proc2_ctl |= proc2::kEnableVpid;
    proc2_ctl |= proc2::kEnableRdtscp;

    memory_.clear(kIoBitmapA, 0x3000);
    for (std::uint32_t port : c.io_ports_exiting) memory_.set_bit(port < 0x8000 ? kIoBitmapA : kIoBitmapB, port & 0x7fff);
    for (std::uint32_t msr : c.msrs_exiting) {
      const Addr low_or_high = msr <= 0x1fff ? 0 : 1024;
      memory_.set_bit(kMsrBitmap + low_or_high, msr & 0x1fff);         // reads
      memory_.set_bit(kMsrBitmap + 2048 + low_or_high, msr & 0x1fff);  // writes
    }
    auto w = [this](std::uint32_t field, std::uint64_t value) {
      if (!vmx_.vmwrite(field, value).ok()) throw std::logic_error("VMWRITE failed during configuration");
    };
    w(vmcs::kPinBasedControls, pin_ctl);
    w(vmcs::kPrimaryProcControls, proc_ctl);
    w(vmcs::kSecondaryProcControls, proc2_ctl);
    w(vmcs::kIoBitmapA, kIoBitmapA);
    w(vmcs::kIoBitmapB, kIoBitmapB);
    w(vmcs::kMsrBitmap, kMsrBitmap);
    w(vmcs::kVirtualApicAddress, 0x7000);
    w(vmcs::kTprThreshold, c.tpr_threshold & 0xf);
    w(vmcs::kPleGap, c.ple_gap);
    w(vmcs::kPleWindow, c.ple_window);
    w(vmcs::kVpid, c.tagged_tlb ? c.vpid : 0);
    // Every #PF exits: bit 14 of the exception bitmap with a zero error-code mask and match.
    w(vmcs::kExceptionBitmap, c.page_fault_exiting ? 1u << 14 : 0u);
    w(vmcs::kPageFaultErrorMask, 0);
    w(vmcs::kPageFaultErrorMatch, 0);
    w(vmcs::kEptPointer, 0x100000 | (3u << 3) | 6);
    w(vmcs::kHostCr0, 0x80000031);
    w(vmcs::kHostCr4, 0x2000);
    w(vmcs::kHostCsSelector, 0x10);
    w(vmcs::kHostTrSelector, 0x40);
    w(vmcs::kHostRip, 0xffffffff81000000);
    w(vmcs::kGuestCr0, 0x80000031);
    w(vmcs::kGuestCr4, 0x2000);
    w(vmcs::kGuestRflags, 0x2);
    w(vmcs::kVmcsLinkPointer, ~std::uint64_t{0});
  }

  bool enter_guest(CpuState& cpu) override {
    Vmcs* v = vmx_.current_vmcs();
    const VmxResult r = v && v->launch_state() == LaunchState::Launched ? vmx_.vmresume(cpu) : vmx_.vmlaunch(cpu);
    if (r.ok()) return true;
    failure_ = r.kind == VmxResult::Kind::EntryFailure
                   ? "VM-entry failure, exit reason " + std::to_string(r.exit_reason & 0xffff)
                   : "VMfailValid, VM-instruction error " + std::to_string(static_cast<unsigned>(r.error));
    return false;
  }
  std::string entry_failure() const override { return failure_; }

  ExitDecision decide(const GuestOp& op) override {
    return vmx_decide_exit(*vmx_.current_vmcs(), op, memory_.reader(), pause_);
  }

  void exit_to_host(const ExitDecision& exit, CpuState& cpu) override { vmx_.vm_exit(exit, cpu); }
  unsigned write_cr3_targets(const std::vector<Addr>& values) override {
    if (values.size() > 4) throw std::logic_error("more than 4 CR3-target values");
    Vmcs& v = *vmx_.current_vmcs();
    unsigned writes = 0;
    const auto w = [&](std::uint32_t field, std::uint64_t value) {
      if (v.get(field) == value) return;  // the hypervisor keeps its own copy: no VMREAD
      if (!vmx_.vmwrite(field, value).ok()) throw std::logic_error("VMWRITE of a CR3-target field failed");
      ++writes;
    };
    for (std::size_t i = 0; i < values.size(); ++i) w(vmcs::kCr3Target0 + 2 * static_cast<std::uint32_t>(i), values[i]);
    w(vmcs::kCr3TargetCount, values.size());
    return writes;
  }
  std::uint64_t structure_accesses() const override { return vmx_.field_reads + vmx_.field_writes; }

 private:
  ControlMemory memory_;
  VmxUnit vmx_;
  PauseLoopState pause_;
  std::string failure_;
};

class SvmModeSwitch final : public ModeSwitch {
 public:
  VirtMode mode() const override { return VirtMode::Svm; }

  void configure(const VirtualizationControls& c) override {
    using namespace svm_intercept;
    std::uint32_t v3 = kCpuid | kInvd | kShutdown | kIoioProt | kMsrProt;  // what KVM always intercepts
    if (c.external_interrupt_exiting) v3 |= kIntr;  // off: interrupts are posted (AVIC)
    std::uint32_t v4 = kVmrun | kVmmcall | kVmload | kVmsave | kStgi | kClgi | kSkinit | kXsetbv;
    if (c.hlt_exiting) v3 |= kHlt;
    if (c.invlpg_exiting) v3 |= kInvlpg;
    if (c.rdtsc_exiting) {
      v3 |= kRdtsc;
      v4 |= kRdtscp;
    }
    if (c.pause_exiting || c.pause_loop_exiting) v3 |= kPause;
    if (c.descriptor_table_exiting)
      v3 |= kIdtrRead | kGdtrRead | kLdtrRead | kTrRead | kIdtrWrite | kGdtrWrite | kLdtrWrite | kTrWrite;
    if (c.wbinvd_exiting) v4 |= kWbinvd;
    std::uint32_t cr = 0;
    if (c.cr3_load_exiting) cr |= (1u << 3) | (1u << 19);
    if (c.cr8_load_exiting || !c.use_tpr_shadow) cr |= 1u << 24;  // without V_TPR, CR8 writes are intercepted
    vmcb_.set<std::uint32_t>(vmcb::kCrReadIntercepts, cr);
    vmcb_.set<std::uint32_t>(vmcb::kExceptionIntercepts, c.page_fault_exiting ? 1u << 14 : 0u);
    vmcb_.set<std::uint32_t>(vmcb::kDrIntercepts, c.mov_dr_exiting ? 0xff00ffu : 0u);
    vmcb_.set<std::uint32_t>(vmcb::kInterceptVector3, v3);
    vmcb_.set<std::uint32_t>(vmcb::kInterceptVector4, v4);
    vmcb_.set<std::uint16_t>(vmcb::kPauseFilterCount,
                             c.pause_loop_exiting && !c.pause_exiting ? static_cast<std::uint16_t>(c.ple_window / 128) : 0);
    vmcb_.set<std::uint64_t>(vmcb::kIopmBase, kIopm);
    vmcb_.set<std::uint64_t>(vmcb::kMsrpmBase, kMsrpm);
    vmcb_.set<std::uint32_t>(vmcb::kGuestAsid, c.vpid ? c.vpid : 1);
    // Without ASID tagging every VMRUN flushes the whole TLB (TLB_CONTROL = 1).
    vmcb_.set<std::uint8_t>(vmcb::kTlbControl, c.tagged_tlb ? 0 : 1);
    vmcb_.set<std::uint64_t>(vmcb::kNestedPagingEnable, c.nested_paging ? 1 : 0);
    vmcb_.set<std::uint64_t>(vmcb::kNestedCr3, 0x100000);
    vmcb_.set<std::uint64_t>(vmcb::kEfer, 0x1500);  // SVME, LME, LMA
    vmcb_.set<std::uint64_t>(vmcb::kCr0, 0x80000031);
    vmcb_.set<std::uint64_t>(vmcb::kCr4, 0x20);      // PAE
    vmcb_.set<std::uint64_t>(vmcb::kRflags, 0x2);
    // The guest's own FS, GS, TR, LDTR and system-call MSRs (a 64-bit kernel's: its per-CPU GS
    // base, a busy TSS, its SYSCALL entry), which only VMLOAD brings into the processor.
    const auto segment = [&](unsigned at, SegmentRegister r) {
      vmcb_.set(at + vmcb::kSegmentSelector, r.selector);
      vmcb_.set(at + vmcb::kSegmentAttributes, r.attributes);
      vmcb_.set(at + vmcb::kSegmentLimit, r.limit);
      vmcb_.set(at + vmcb::kSegmentBase, r.base);
    };
    segment(vmcb::kGs, {0, 0x93, 0xfffff, kGuestGsBase});
    segment(vmcb::kTr, {0x40, 0x8b, 0x4087, kGuestTssBase});
    vmcb_.set<std::uint64_t>(vmcb::kLstar, kGuestSyscallEntry);
    vmcb_.set<std::uint64_t>(vmcb::kStar, std::uint64_t{0x0023001000000000});  // user CS 0x33, kernel CS 0x10
    memory_.clear(kIopm, 0x3000);
    memory_.clear(kMsrpm, 0x2000);
    if (c.unconditional_io_exiting) {
      for (std::uint32_t port = 0; port <= 0xffff; ++port) memory_.set_bit(kIopm, port);
    } else {
      for (std::uint32_t port : c.io_ports_exiting) memory_.set_bit(kIopm, port);
    }
    for (std::uint32_t msr : c.msrs_exiting) {
      std::uint64_t byte_base = msr <= 0x1fff ? 0 : msr >= 0xc0010000u ? 0x1000 : 0x800;
      memory_.set_bit(kMsrpm, byte_base * 8 + 2ull * (msr & 0x1fff));
      memory_.set_bit(kMsrpm, byte_base * 8 + 2ull * (msr & 0x1fff) + 1);
    }
    use_msr_bitmaps_ = c.use_msr_bitmaps;
  }

  bool enter_guest(CpuState& cpu) override {
    if (!host_saved_) {  // svm_prepare_switch_to_guest: the host's state into its save area
      svm_.vmsave(host_save_area_, cpu);
      host_saved_ = true;
    }
    svm_.clgi();
    svm_.vmload(vmcb_, cpu);
    if (svm_.vmrun(vmcb_, cpu, 0x1500)) return true;
    after_run(cpu);  // KVM's code after VMRUN runs as after an exit
    return false;
  }
  std::string entry_failure() const override { return svm_.entry_failure(); }

  ExitDecision decide(const GuestOp& op) override {
    if (!use_msr_bitmaps_ && (op.instruction == Instruction::Rdmsr || op.instruction == Instruction::Wrmsr) &&
        op.kind == GuestOp::Kind::Instruction) {
      ExitDecision d;
      d.exits = true;
      d.mode = VirtMode::Svm;
      d.code = svm_exit::kMsr;
      d.qualification = op.instruction == Instruction::Wrmsr;
      return d;
    }
    return svm_decide_exit(vmcb_, op, memory_.reader(), pause_count_);
  }

  void exit_to_host(const ExitDecision& exit, CpuState& cpu) override {
    svm_.vmexit(vmcb_, exit, cpu);
    after_run(cpu);
  }
  void return_to_user_space() override { host_saved_ = false; }
  WorldSwitchCounts world_switch() const override { return {svm_.vmloads, svm_.vmsaves, svm_.clgis, svm_.stgis}; }
  unsigned write_cr3_targets(const std::vector<Addr>&) override {
    throw std::logic_error("AMD-V has no CR3-target list");
  }
  std::uint64_t structure_accesses() const override { return svm_.vmcb_reads + svm_.vmcb_writes; }

 private:
  static constexpr std::uint64_t kGuestGsBase = 0xffff88807fc00000, kGuestTssBase = 0xfffffe0000003000,
                                 kGuestSyscallEntry = 0xffffffff81e00000;
  // __svm_vcpu_run after VMRUN: the guest's state into its VMCB, the host's back from its
  // save area (GS base among it); then svm_vcpu_run sets GIF again.
  void after_run(CpuState& cpu) {
    svm_.vmsave(vmcb_, cpu);
    svm_.vmload(host_save_area_, cpu);
    svm_.stgi();
  }
  ControlMemory memory_;
  Vmcb vmcb_;
  Vmcb host_save_area_;  // the per-CPU page VMSAVE fills before the first entry
  bool host_saved_ = false;
  SvmUnit svm_;
  std::uint16_t pause_count_ = 0;
  bool use_msr_bitmaps_ = true;
};

}  // namespace

std::unique_ptr<ModeSwitch> make_mode_switch(VirtMode mode) {
  if (mode == VirtMode::Vmx) return std::make_unique<VmxModeSwitch>();
  return std::make_unique<SvmModeSwitch>();
}

}  // namespace virtsim
