#include "virtsim/vmx/vmx.h"

namespace virtsim {

namespace {

using Kind = VmxResult::Kind;
VmxResult succeed() { return {}; }
VmxResult fail_invalid() { return {Kind::FailInvalid, VmInstructionError::None, 0}; }
VmxResult entry_failure(std::uint32_t basic_reason) { return {Kind::EntryFailure, VmInstructionError::None, basic_reason | 0x80000000u}; }

bool canonical(std::uint64_t a) {
  const auto high = static_cast<std::int64_t>(a) >> 47;
  return high == 0 || high == -1;
}

// Exit reasons (SDM appendix C) used below.
enum Reason : std::int64_t {
  kExceptionOrNmi = 0, kExternalInterrupt = 1, kCpuid = 10, kGetsec = 11, kHlt = 12, kInvd = 13, kInvlpg = 14,
  kRdpmc = 15, kRdtsc = 16, kVmcall = 18, kCrAccess = 28, kMovDr = 29, kIo = 30, kRdmsr = 31, kWrmsr = 32,
  kMwait = 36, kMonitor = 39, kPause = 40, kTprBelowThreshold = 43, kGdtrIdtr = 46, kLdtrTr = 47,
  kEptViolation = 48, kEptMisconfig = 49, kRdtscp = 51, kPreemptionTimer = 52, kWbinvd = 54, kXsetbv = 55,
  kRdrand = 57, kInvpcid = 58, kRdseed = 61
};

ExitDecision exit_with(std::int64_t reason, std::uint64_t qualification = 0, std::uint8_t length = 2) {
  ExitDecision d;
  d.exits = true;
  d.mode = VirtMode::Vmx;
  d.code = reason;
  d.qualification = qualification;
  d.instruction_length = length;
  return d;
}

// Control-register access qualification (SDM 28.2.1, table "Exit Qualification for
// Control-Register Accesses"): CR number, access type (0 MOV to CR, 1 MOV from CR, 2 CLTS,
// 3 LMSW), register, LMSW source data.
std::uint64_t cr_qualification(unsigned cr, unsigned access_type, unsigned gpr, std::uint16_t lmsw_data = 0) {
  return cr | (access_type << 4) | (gpr << 8) | (std::uint64_t{lmsw_data} << 16);
}

bool bitmap_bit(const ByteReader& memory, Addr base, std::uint64_t bit) {
  return (memory(base + bit / 8) >> (bit % 8)) & 1;
}

// I/O bitmaps A (ports 0-7FFF) and B (8000-FFFF); every byte of the access is checked, and an
// access that wraps past FFFF exits (SDM 26.1.3).
bool io_bitmap_exits(const Vmcs& v, const ByteReader& memory, std::uint32_t port, unsigned size) {
  for (unsigned i = 0; i < size; ++i) {
    const std::uint32_t p = port + i;
    if (p > 0xffff) return true;
    const Addr base = p < 0x8000 ? v.get(vmcs::kIoBitmapA) : v.get(vmcs::kIoBitmapB);
    if (bitmap_bit(memory, base, p & 0x7fff)) return true;
  }
  return false;
}

// MSR bitmaps (SDM 25.6.9): read-low at 0, read-high at 1024, write-low at 2048, write-high at
// 3072 bytes; low MSRs 0-1FFF, high C0000000-C0001FFF; any other MSR always exits.
bool msr_bitmap_exits(const Vmcs& v, const ByteReader& memory, std::uint32_t msr, bool write) {
  const Addr base = v.get(vmcs::kMsrBitmap);
  std::uint64_t offset;
  if (msr <= 0x1fff) offset = write ? 2048 : 0;
  else if (msr >= 0xc0000000u && msr <= 0xc0001fffu) offset = write ? 3072 : 1024;
  else return true;
  return bitmap_bit(memory, base + offset, msr & 0x1fff);
}

}  // namespace

ExitDecision vmx_decide_exit(const Vmcs& v, const GuestOp& op, const ByteReader& memory, PauseLoopState& pause) {
  const auto pin_ctl = static_cast<std::uint32_t>(v.get(vmcs::kPinBasedControls));
  const auto proc_ctl = static_cast<std::uint32_t>(v.get(vmcs::kPrimaryProcControls));
  const auto proc2_ctl =
      proc_ctl & proc::kActivateSecondaryControls ? static_cast<std::uint32_t>(v.get(vmcs::kSecondaryProcControls)) : 0u;
  const auto& o = op.operands;
  const std::uint8_t len = op.instruction_length;
  ExitDecision none;
  none.mode = VirtMode::Vmx;

  switch (op.kind) {
    case GuestOp::Kind::ExternalInterrupt:
      return pin_ctl & pin::kExternalInterruptExiting ? exit_with(kExternalInterrupt, 0, 0) : none;
    case GuestOp::Kind::PreemptionTimer:
      return pin_ctl & pin::kPreemptionTimer ? exit_with(kPreemptionTimer, 0, 0) : none;
    case GuestOp::Kind::EptViolation: {
      ExitDecision d = exit_with(kEptViolation, op.qualification, 0);
      d.info2 = op.guest_physical_address;
      return d;
    }
    case GuestOp::Kind::EptMisconfig: {
      ExitDecision d = exit_with(kEptMisconfig, 0, 0);
      d.info2 = op.guest_physical_address;
      return d;
    }
    case GuestOp::Kind::Exception: {
      const auto bitmap = static_cast<std::uint32_t>(v.get(vmcs::kExceptionBitmap));
      bool exits = (bitmap >> (op.vector & 31)) & 1;
      if (op.vector == 14) {  // #PF: the error-code mask/match filter inverts the bitmap bit (SDM 25.6.3)
        const bool match =
            (op.error_code & v.get(vmcs::kPageFaultErrorMask)) == (v.get(vmcs::kPageFaultErrorMatch) & 0xffffffff);
        exits = exits ? match : !match;
      }
      return exits ? exit_with(kExceptionOrNmi, 0, 0) : none;
    }
    case GuestOp::Kind::Instruction:
      break;
  }

  switch (op.instruction) {
    // Unconditional exits.
    case Instruction::Cpuid: return exit_with(kCpuid, 0, len);
    case Instruction::Getsec: return exit_with(kGetsec, 0, len);
    case Instruction::Invd: return exit_with(kInvd, 0, len);
    case Instruction::Xsetbv: return exit_with(kXsetbv, 0, len);
    case Instruction::Vmcall: return exit_with(kVmcall, 0, len);

    case Instruction::Hlt: return proc_ctl & proc::kHltExiting ? exit_with(kHlt, 0, len) : none;
    case Instruction::Invlpg: return proc_ctl & proc::kInvlpgExiting ? exit_with(kInvlpg, o.address, len) : none;
    case Instruction::Invpcid:
      // Without "enable INVPCID" the instruction is #UD, not an exit; with it, INVLPG exiting decides.
      return (proc2_ctl & proc2::kEnableInvpcid) && (proc_ctl & proc::kInvlpgExiting) ? exit_with(kInvpcid, 0, len)
                                                                                        : none;
    case Instruction::Rdpmc: return proc_ctl & proc::kRdpmcExiting ? exit_with(kRdpmc, 0, len) : none;
    case Instruction::Rdtsc: return proc_ctl & proc::kRdtscExiting ? exit_with(kRdtsc, 0, len) : none;
    case Instruction::Rdtscp:
      return (proc2_ctl & proc2::kEnableRdtscp) && (proc_ctl & proc::kRdtscExiting) ? exit_with(kRdtscp, 0, len) : none;
    case Instruction::Mwait: return proc_ctl & proc::kMwaitExiting ? exit_with(kMwait, 0, len) : none;
    case Instruction::Monitor: return proc_ctl & proc::kMonitorExiting ? exit_with(kMonitor, 0, len) : none;
    case Instruction::Wbinvd: return proc2_ctl & proc2::kWbinvdExiting ? exit_with(kWbinvd, 0, len) : none;
    case Instruction::Rdrand: return proc2_ctl & proc2::kRdrandExiting ? exit_with(kRdrand, 0, len) : none;
    case Instruction::Rdseed: return proc2_ctl & proc2::kRdseedExiting ? exit_with(kRdseed, 0, len) : none;

    case Instruction::Pause: {
      if (proc_ctl & proc::kPauseExiting) return exit_with(kPause, 0, len);
      if ((proc2_ctl & proc2::kPauseLoopExiting) && op.cpl == 0) {
        // A loop is PAUSEs at most PLE_Gap apart; it exits once it has lasted more than PLE_Window.
        const Cycles gap = v.get(vmcs::kPleGap), window = v.get(vmcs::kPleWindow);
        if (!pause.active || op.now - pause.last > gap) {
          pause.active = true;
          pause.first = op.now;
        }
        pause.last = op.now;
        if (op.now - pause.first > window) {
          pause.active = false;
          return exit_with(kPause, 0, len);
        }
      }
      return none;
    }

    case Instruction::MovToCr0: case Instruction::MovToCr4: {
      // Exits when a host-owned bit (set in the guest/host mask) would differ from the read shadow.
      const bool cr0 = op.instruction == Instruction::MovToCr0;
      const std::uint64_t mask = v.get(cr0 ? vmcs::kCr0GuestHostMask : vmcs::kCr4GuestHostMask);
      const std::uint64_t shadow = v.get(cr0 ? vmcs::kCr0ReadShadow : vmcs::kCr4ReadShadow);
      return ((o.value ^ shadow) & mask) ? exit_with(kCrAccess, cr_qualification(cr0 ? 0 : 4, 0, o.gpr), len) : none;
    }
    case Instruction::MovFromCr0: case Instruction::MovFromCr4:
      return none;  // reads see the read shadow for host-owned bits; they never exit
    case Instruction::Clts: {
      const bool ts_owned = v.get(vmcs::kCr0GuestHostMask) & 8, ts_shadow = v.get(vmcs::kCr0ReadShadow) & 8;
      return ts_owned && ts_shadow ? exit_with(kCrAccess, cr_qualification(0, 2, 0), len) : none;
    }
    case Instruction::Lmsw: {
      const std::uint64_t mask = v.get(vmcs::kCr0GuestHostMask) & 0xf, shadow = v.get(vmcs::kCr0ReadShadow);
      // LMSW can set PE but not clear it: a host-owned PE exits only when it would be set.
      const bool pe_exit = (mask & 1) && !(shadow & 1) && (o.value & 1);
      const bool other = ((o.value ^ shadow) & mask & 0xe) != 0;
      return pe_exit || other ? exit_with(kCrAccess, cr_qualification(0, 3, 0, static_cast<std::uint16_t>(o.value)), len)
                              : none;
    }
    case Instruction::MovToCr3: {
      if (!(proc_ctl & proc::kCr3LoadExiting)) return none;
      const std::uint64_t count = v.get(vmcs::kCr3TargetCount);
      for (std::uint64_t i = 0; i < count && i < 4; ++i)
        if (v.get(vmcs::kCr3Target0 + 2 * static_cast<std::uint32_t>(i)) == o.value) return none;
      return exit_with(kCrAccess, cr_qualification(3, 0, o.gpr), len);
    }
    case Instruction::MovFromCr3:
      return proc_ctl & proc::kCr3StoreExiting ? exit_with(kCrAccess, cr_qualification(3, 1, o.gpr), len) : none;
    case Instruction::MovToCr8: {
      if (proc_ctl & proc::kCr8LoadExiting) return exit_with(kCrAccess, cr_qualification(8, 0, o.gpr), len);
      // With the TPR shadow the write goes to the virtual-APIC page; lowering the TPR below the
      // threshold is a trap-like exit after the instruction (SDM 29.1.2).
      if ((proc_ctl & proc::kUseTprShadow) && (o.value & 0xf) < (v.get(vmcs::kTprThreshold) & 0xf))
        return exit_with(kTprBelowThreshold, 0, len);
      return none;
    }
    case Instruction::MovFromCr8:
      return proc_ctl & proc::kCr8StoreExiting ? exit_with(kCrAccess, cr_qualification(8, 1, o.gpr), len) : none;
    case Instruction::MovToDr: case Instruction::MovFromDr:
      // Qualification: DR number (bits 2:0), direction (bit 4: 1 = MOV from DR), GPR (bits 11:8).
      return proc_ctl & proc::kMovDrExiting
                 ? exit_with(kMovDr, (o.debug_register & 7) | (op.instruction == Instruction::MovFromDr ? 0x10 : 0) |
                                         (std::uint64_t{o.gpr} << 8), len)
                 : none;

    case Instruction::In: case Instruction::Out: {
      bool exits;
      if (proc_ctl & proc::kUseIoBitmaps) exits = io_bitmap_exits(v, memory, o.port, o.size);
      else exits = proc_ctl & proc::kUnconditionalIoExiting;
      if (!exits) return none;
      // Qualification (SDM table "Exit Qualification for I/O Instructions"): size - 1, direction
      // (1 = IN), string, REP, operand encoding (0 = DX), port.
      const std::uint64_t q = std::uint64_t(o.size - 1) | (op.instruction == Instruction::In ? 8u : 0u) |
                              (o.string ? 16u : 0u) | (o.rep ? 32u : 0u) | (std::uint64_t{o.port} << 16);
      return exit_with(kIo, q, len);
    }
    case Instruction::Rdmsr: case Instruction::Wrmsr: {
      const bool write = op.instruction == Instruction::Wrmsr;
      const bool exits = !(proc_ctl & proc::kUseMsrBitmaps) || msr_bitmap_exits(v, memory, o.msr, write);
      return exits ? exit_with(write ? kWrmsr : kRdmsr, 0, len) : none;
    }

    case Instruction::Lgdt: case Instruction::Lidt: case Instruction::Sgdt: case Instruction::Sidt: {
      if (!(proc2_ctl & proc2::kDescriptorTableExiting)) return none;
      ExitDecision d = exit_with(kGdtrIdtr, 0, len);
      // Instruction information bits 29:28: 0 SGDT, 1 SIDT, 2 LGDT, 3 LIDT.
      const unsigned identity = op.instruction == Instruction::Sgdt ? 0 : op.instruction == Instruction::Sidt ? 1
                                : op.instruction == Instruction::Lgdt ? 2 : 3;
      d.instruction_info = identity << 28;
      return d;
    }
    case Instruction::Sldt: case Instruction::Str: case Instruction::Lldt: case Instruction::Ltr: {
      if (!(proc2_ctl & proc2::kDescriptorTableExiting)) return none;
      ExitDecision d = exit_with(kLdtrTr, 0, len);
      // Bits 29:28: 0 SLDT, 1 STR, 2 LLDT, 3 LTR.
      const unsigned identity = op.instruction == Instruction::Sldt ? 0 : op.instruction == Instruction::Str ? 1
                                : op.instruction == Instruction::Lldt ? 2 : 3;
      d.instruction_info = identity << 28;
      return d;
    }
    default:
      return none;  // POPF, PUSHF, SMSW, LAR, ... run in the guest without exiting
  }
}

// ---- VmxUnit ----

VmxUnit::VmxUnit(VmxCapabilities caps, RegionIo region_io) : caps_(caps), region_io_(std::move(region_io)) {}

Vmcs* VmxUnit::current_vmcs() {
  if (current_ == kNoVmcs) return nullptr;
  auto it = cache_.find(current_);
  return it == cache_.end() ? nullptr : &it->second;
}

VmxResult VmxUnit::fail_valid(VmInstructionError e) {
  Vmcs* v = current_vmcs();
  if (!v) return fail_invalid();  // VMfailValid needs a current VMCS to hold the error number
  v->set(vmcs::kVmInstructionError, static_cast<std::uint64_t>(e));
  ++field_writes;
  return {Kind::FailValid, e, 0};
}

VmxResult VmxUnit::vmxon(Addr region) {
  if (vmxon_) return fail_valid(VmInstructionError::VmxonInRoot);
  if (!valid_region_address(region)) return fail_invalid();
  std::vector<std::uint8_t> bytes(kPageSize4K);
  region_io_(region, bytes, false);
  const std::uint32_t revision = bytes[0] | bytes[1] << 8 | bytes[2] << 16 | (bytes[3] & 0x7f) << 24;
  if (revision != caps_.revision) return fail_invalid();
  vmxon_ = true;
  vmxon_region_ = region;
  current_ = kNoVmcs;
  return succeed();
}

VmxResult VmxUnit::vmxoff() {
  vmxon_ = false;
  in_guest_ = false;
  current_ = kNoVmcs;
  return succeed();
}

VmxResult VmxUnit::vmclear(Addr region) {
  if (!valid_region_address(region)) return fail_valid(VmInstructionError::VmclearInvalidAddress);
  if (region == vmxon_region_) return fail_valid(VmInstructionError::VmclearVmxonPointer);
  // Launch state becomes clear and the processor writes its copy back to the region.
  auto it = cache_.find(region);
  if (it != cache_.end()) {
    it->second.set_launch_state(LaunchState::Clear);
    std::vector<std::uint8_t> bytes = it->second.serialize();
    region_io_(region, bytes, true);
    cache_.erase(it);
  } else {
    std::vector<std::uint8_t> bytes(kPageSize4K);
    region_io_(region, bytes, false);
    Vmcs v = Vmcs::parse(bytes);
    v.set_launch_state(LaunchState::Clear);
    bytes = v.serialize();
    region_io_(region, bytes, true);
  }
  if (current_ == region) current_ = kNoVmcs;
  return succeed();
}

VmxResult VmxUnit::vmptrld(Addr region) {
  if (!valid_region_address(region)) return fail_valid(VmInstructionError::VmptrldInvalidAddress);
  if (region == vmxon_region_) return fail_valid(VmInstructionError::VmptrldVmxonPointer);
  if (!cache_.count(region)) {
    std::vector<std::uint8_t> bytes(kPageSize4K);
    region_io_(region, bytes, false);
    Vmcs v = Vmcs::parse(bytes);
    if ((v.revision() & 0x7fffffffu) != caps_.revision) return fail_valid(VmInstructionError::VmptrldIncorrectRevision);
    cache_.emplace(region, std::move(v));
  }
  current_ = region;
  return succeed();
}

VmxResult VmxUnit::vmread(std::uint32_t encoding, std::uint64_t& value) {
  Vmcs* v = current_vmcs();
  if (!v) return fail_invalid();
  if (!vmcs_field_name(encoding)) return fail_valid(VmInstructionError::UnsupportedVmcsComponent);
  value = v->get(encoding);
  ++field_reads;
  return succeed();
}

VmxResult VmxUnit::vmwrite(std::uint32_t encoding, std::uint64_t value) {
  Vmcs* v = current_vmcs();
  if (!v) return fail_invalid();
  if (!vmcs_field_name(encoding)) return fail_valid(VmInstructionError::UnsupportedVmcsComponent);
  if (field_type(encoding) == VmcsFieldType::ExitInformation && !caps_.vmwrite_all)
    return fail_valid(VmInstructionError::VmwriteReadOnlyComponent);
  v->set(encoding, value);
  ++field_writes;
  return succeed();
}

VmxResult VmxUnit::vmcall_in_root() { return fail_valid(VmInstructionError::VmcallInRoot); }

VmxResult VmxUnit::invept(unsigned type, std::uint64_t eptp) {
  if (!current_vmcs()) return fail_invalid();
  if (type != 1 && type != 2) return fail_valid(VmInstructionError::InvalidInveptInvvpidOperand);
  if (type == 1) {  // single-context: the EPTP must be valid
    const unsigned memory_type = eptp & 7, walk = (eptp >> 3) & 7;
    if ((memory_type != 0 && memory_type != 6) || (walk != 3 && !(walk == 4 && caps_.ept_5level)))
      return fail_valid(VmInstructionError::InvalidInveptInvvpidOperand);
  }
  return succeed();
}

VmxResult VmxUnit::invvpid(unsigned type, std::uint16_t vpid, Addr linear_address) {
  if (!current_vmcs()) return fail_invalid();
  if (type > 3) return fail_valid(VmInstructionError::InvalidInveptInvvpidOperand);
  if (type != 2 && vpid == 0) return fail_valid(VmInstructionError::InvalidInveptInvvpidOperand);
  if (type == 0 && !canonical(linear_address)) return fail_valid(VmInstructionError::InvalidInveptInvvpidOperand);
  return succeed();
}

// ---- VM entry (SDM 27) ----

VmxResult VmxUnit::vmentry_check_controls(const Vmcs& v) const {
  const auto bad = [](std::uint64_t value, std::uint32_t allowed1) { return (value & ~std::uint64_t{allowed1}) != 0; };
  const std::uint64_t proc_ctl = v.get(vmcs::kPrimaryProcControls);
  const std::uint64_t proc2_ctl = proc_ctl & proc::kActivateSecondaryControls ? v.get(vmcs::kSecondaryProcControls) : 0;
  const VmxResult invalid{Kind::FailValid, VmInstructionError::EntryInvalidControlFields, 0};
  if (bad(v.get(vmcs::kPinBasedControls), caps_.pin_allowed1) || bad(proc_ctl, caps_.proc_allowed1) ||
      bad(proc2_ctl, caps_.proc2_allowed1))
    return invalid;
  if (v.get(vmcs::kCr3TargetCount) > 4) return invalid;
  if ((proc_ctl & proc::kUseIoBitmaps) && ((v.get(vmcs::kIoBitmapA) | v.get(vmcs::kIoBitmapB)) & 0xfff)) return invalid;
  if ((proc_ctl & proc::kUseMsrBitmaps) && (v.get(vmcs::kMsrBitmap) & 0xfff)) return invalid;
  if (proc_ctl & proc::kUseTprShadow) {
    if (v.get(vmcs::kVirtualApicAddress) & 0xfff) return invalid;
    if (v.get(vmcs::kTprThreshold) & ~std::uint64_t{0xf}) return invalid;
  }
  if ((proc2_ctl & proc2::kEnableVpid) && v.get(vmcs::kVpid) == 0) return invalid;
  if (proc2_ctl & proc2::kEnableEpt) {
    const std::uint64_t eptp = v.get(vmcs::kEptPointer);
    const unsigned memory_type = eptp & 7, walk = (eptp >> 3) & 7;
    if ((memory_type != 0 && memory_type != 6) || (walk != 3 && !(walk == 4 && caps_.ept_5level)) ||
        (eptp & 0xf80) || (eptp >> caps_.physical_address_width))
      return invalid;
  }
  if ((proc2_ctl & proc2::kUnrestrictedGuest) && !(proc2_ctl & proc2::kEnableEpt)) return invalid;
  if ((proc2_ctl & proc2::kPauseLoopExiting) && v.get(vmcs::kPleWindow) == 0) return invalid;
  return succeed();
}

VmxResult VmxUnit::vmentry_check_host_state(const Vmcs& v) const {
  const VmxResult invalid{Kind::FailValid, VmInstructionError::EntryInvalidHostState, 0};
  const std::uint64_t cr0 = v.get(vmcs::kHostCr0), cr4 = v.get(vmcs::kHostCr4);
  if ((cr0 & 0x80000021u) != 0x80000021u) return invalid;  // PG, NE, PE fixed to 1 (IA32_VMX_CR0_FIXED0)
  if (!(cr4 & 0x2000)) return invalid;                      // CR4.VMXE
  if (!canonical(v.get(vmcs::kHostRip)) || !canonical(v.get(vmcs::kHostRsp))) return invalid;
  if (v.get(vmcs::kHostCsSelector) == 0 || v.get(vmcs::kHostTrSelector) == 0) return invalid;
  for (std::uint32_t s = vmcs::kHostEsSelector; s <= vmcs::kHostTrSelector; s += 2)
    if (v.get(s) & 7) return invalid;  // RPL and TI must be 0
  return succeed();
}

VmxResult VmxUnit::vmentry_check_guest_state(const Vmcs& v) const {
  const std::uint64_t proc_ctl = v.get(vmcs::kPrimaryProcControls);
  const std::uint64_t proc2_ctl = proc_ctl & proc::kActivateSecondaryControls ? v.get(vmcs::kSecondaryProcControls) : 0;
  const std::uint64_t cr0 = v.get(vmcs::kGuestCr0);
  // Unrestricted guests may run with paging or protection off (SDM 27.3.1.1).
  const std::uint64_t fixed0 = proc2_ctl & proc2::kUnrestrictedGuest ? 0x20u : 0x80000021u;
  if ((cr0 & fixed0) != fixed0) return entry_failure(33);
  if ((cr0 & 0x80000000u) && !(cr0 & 1)) return entry_failure(33);  // paging without protection
  if (!(v.get(vmcs::kGuestCr4) & 0x2000)) return entry_failure(33);
  if (v.get(vmcs::kGuestDr7) >> 32) return entry_failure(33);
  const std::uint64_t rflags = v.get(vmcs::kGuestRflags);
  if (!(rflags & 2) || (rflags & ((~std::uint64_t{0} << 22) | (1u << 15) | (1u << 5) | (1u << 3))))
    return entry_failure(33);
  if (v.get(vmcs::kGuestActivityState) > 3) return entry_failure(33);
  if (v.get(vmcs::kVmcsLinkPointer) != ~std::uint64_t{0}) return entry_failure(33);
  return succeed();
}

VmxResult VmxUnit::vmentry_load_msrs(const Vmcs& v) const {
  if (v.get(vmcs::kEntryMsrLoadCount) > caps_.max_msr_list) return entry_failure(34);
  return succeed();
}

void VmxUnit::vmentry_load_guest_state(Vmcs& v, CpuState& cpu) {
  cpu.cr0 = v.get(vmcs::kGuestCr0);
  cpu.cr3 = v.get(vmcs::kGuestCr3);
  cpu.cr4 = v.get(vmcs::kGuestCr4);
  cpu.rip = v.get(vmcs::kGuestRip);
  cpu.rsp = v.get(vmcs::kGuestRsp);
  cpu.rflags = v.get(vmcs::kGuestRflags);
  cpu.dr7 = v.get(vmcs::kGuestDr7);
  cpu.cs = static_cast<std::uint16_t>(v.get(vmcs::kGuestCsSelector));
  cpu.tr.selector = static_cast<std::uint16_t>(v.get(vmcs::kGuestTrSelector));
  cpu.efer = v.get(vmcs::kGuestEfer);
  field_reads += 10;
}

VmxResult VmxUnit::vm_entry(CpuState& cpu, bool launch) {
  Vmcs* v = current_vmcs();
  if (!v) return fail_invalid();
  if (launch && v->launch_state() != LaunchState::Clear) return fail_valid(VmInstructionError::VmlaunchNonClearVmcs);
  if (!launch && v->launch_state() != LaunchState::Launched)
    return fail_valid(VmInstructionError::VmresumeNonLaunchedVmcs);
  // Checks on controls and host state fail the instruction; checks on guest state and MSR
  // loading fail the entry, which then looks like a VM exit with bit 31 of the reason set.
  if (VmxResult r = vmentry_check_controls(*v); !r.ok()) return fail_valid(r.error);
  if (VmxResult r = vmentry_check_host_state(*v); !r.ok()) return fail_valid(r.error);
  for (VmxResult r : {vmentry_check_guest_state(*v), vmentry_load_msrs(*v)}) {
    if (r.ok()) continue;
    v->set(vmcs::kExitReason, r.exit_reason);
    v->set(vmcs::kExitQualification, r.exit_reason == (34u | 0x80000000u) ? caps_.max_msr_list + 1 : 0);
    field_writes += 2;
    CpuState unchanged = cpu;
    vmexit_load_host_state(*v, unchanged);
    cpu = unchanged;
    return r;
  }
  vmentry_load_guest_state(*v, cpu);
  if (launch) v->set_launch_state(LaunchState::Launched);
  in_guest_ = true;
  return succeed();
}

// ---- VM exit (SDM 28) ----

void VmxUnit::vmexit_record_information(Vmcs& v, const ExitDecision& exit) {
  v.set(vmcs::kExitReason, static_cast<std::uint64_t>(exit.code));
  v.set(vmcs::kExitQualification, exit.qualification);
  v.set(vmcs::kExitInstructionLength, exit.instruction_length);
  v.set(vmcs::kExitInstructionInfo, exit.instruction_info);
  v.set(vmcs::kGuestPhysicalAddress, exit.info2);
  field_writes += 5;
}

void VmxUnit::vmexit_save_guest_state(Vmcs& v, const CpuState& cpu) {
  v.set(vmcs::kGuestCr0, cpu.cr0);
  v.set(vmcs::kGuestCr3, cpu.cr3);
  v.set(vmcs::kGuestCr4, cpu.cr4);
  v.set(vmcs::kGuestRip, cpu.rip);
  v.set(vmcs::kGuestRsp, cpu.rsp);
  v.set(vmcs::kGuestRflags, cpu.rflags);
  v.set(vmcs::kGuestDr7, cpu.dr7);
  v.set(vmcs::kGuestCsSelector, cpu.cs);
  v.set(vmcs::kGuestTrSelector, cpu.tr.selector);
  v.set(vmcs::kGuestEfer, cpu.efer);
  field_writes += 10;
}

void VmxUnit::vmexit_load_host_state(Vmcs& v, CpuState& cpu) {
  cpu.cr0 = v.get(vmcs::kHostCr0);
  cpu.cr3 = v.get(vmcs::kHostCr3);
  cpu.cr4 = v.get(vmcs::kHostCr4);
  cpu.rip = v.get(vmcs::kHostRip);
  cpu.rsp = v.get(vmcs::kHostRsp);
  cpu.rflags = 0x2;  // RFLAGS is cleared except bit 1 (SDM 28.5.3)
  cpu.dr7 = 0x400;
  cpu.cs = static_cast<std::uint16_t>(v.get(vmcs::kHostCsSelector));
  cpu.tr.selector = static_cast<std::uint16_t>(v.get(vmcs::kHostTrSelector));
  cpu.efer = v.get(vmcs::kHostEfer);
  field_reads += 8;
}

void VmxUnit::vm_exit(const ExitDecision& exit, CpuState& cpu) {
  Vmcs* v = current_vmcs();
  if (!v) return;
  vmexit_record_information(*v, exit);
  vmexit_save_guest_state(*v, cpu);
  vmexit_load_host_state(*v, cpu);
  in_guest_ = false;
}

}  // namespace virtsim
