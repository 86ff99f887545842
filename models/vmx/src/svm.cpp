#include "virtsim/vmx/svm.h"

namespace virtsim {

namespace {

ExitDecision svm_exit_with(std::int64_t code, std::uint64_t info1 = 0, std::uint64_t info2 = 0) {
  ExitDecision d;
  d.exits = true;
  d.mode = VirtMode::Svm;
  d.code = code;
  d.qualification = info1;
  d.info2 = info2;
  return d;
}

bool permission_bit(const ByteReader& memory, Addr base, std::uint64_t bit) {
  return (memory(base + bit / 8) >> (bit % 8)) & 1;
}

// MSRPM (APM 15.11): three 2 KiB ranges, two bits per MSR (read, then write); MSRs outside
// them always intercept.
bool msr_intercepted(const Vmcb& vmcb, const ByteReader& memory, std::uint32_t msr, bool write) {
  std::uint64_t byte_base;
  if (msr <= 0x1fff) byte_base = 0x000;
  else if (msr >= 0xc0000000u && msr <= 0xc0001fffu) byte_base = 0x800;
  else if (msr >= 0xc0010000u && msr <= 0xc0011fffu) byte_base = 0x1000;
  else return true;
  const std::uint64_t bit = byte_base * 8 + 2ull * (msr & 0x1fff) + (write ? 1 : 0);
  return permission_bit(memory, vmcb.get<std::uint64_t>(vmcb::kMsrpmBase), bit);
}

// IOPM (APM 15.10.1): one bit per port, every byte of the access checked.
bool io_intercepted(const Vmcb& vmcb, const ByteReader& memory, std::uint32_t port, unsigned size) {
  for (unsigned i = 0; i < size; ++i)
    if (permission_bit(memory, vmcb.get<std::uint64_t>(vmcb::kIopmBase), port + i)) return true;
  return false;
}

}  // namespace

ExitDecision svm_decide_exit(const Vmcb& v, const GuestOp& op, const ByteReader& memory, std::uint16_t& pause_count) {
  namespace I = svm_intercept;
  namespace E = svm_exit;
  ExitDecision none;
  none.mode = VirtMode::Svm;
  const auto& o = op.operands;
  auto v3 = [&](std::uint32_t bit) { return v.intercepts(vmcb::kInterceptVector3, bit); };
  auto v4 = [&](std::uint32_t bit) { return v.intercepts(vmcb::kInterceptVector4, bit); };
  auto on = [&](bool intercepted, std::int64_t code, std::uint64_t info1 = 0) {
    return intercepted ? svm_exit_with(code, info1) : none;
  };
  const std::uint32_t cr = v.get<std::uint32_t>(vmcb::kCrReadIntercepts);
  const std::uint32_t dr = v.get<std::uint32_t>(vmcb::kDrIntercepts);

  switch (op.kind) {
    case GuestOp::Kind::ExternalInterrupt: return on(v3(I::kIntr), E::kIntr);
    case GuestOp::Kind::Exception:
      return on(v.intercepts(vmcb::kExceptionIntercepts, 1u << (op.vector & 31)), E::kException0 + (op.vector & 31),
                op.error_code);
    case GuestOp::Kind::EptViolation: case GuestOp::Kind::EptMisconfig:
      return svm_exit_with(E::kNpf, op.qualification, op.guest_physical_address);
    case GuestOp::Kind::PreemptionTimer:
      return none;  // SVM has no preemption timer
    case GuestOp::Kind::Instruction:
      break;
  }
  // MOV CR/DR: EXITINFO1 bit 63 is set for MOV (decode assist) with the GPR in bits 3:0.
  const std::uint64_t mov_info = (std::uint64_t{1} << 63) | (o.gpr & 0xf);
  switch (op.instruction) {
    case Instruction::Cpuid: return on(v3(I::kCpuid), E::kCpuid);
    case Instruction::Rdtsc: return on(v3(I::kRdtsc), E::kRdtsc);
    case Instruction::Rdtscp: return on(v4(I::kRdtscp), E::kRdtscp);
    case Instruction::Rdpmc: return on(v3(I::kRdpmc), E::kRdpmc);
    case Instruction::Hlt: return on(v3(I::kHlt), E::kHlt);
    case Instruction::Invlpg: return on(v3(I::kInvlpg), E::kInvlpg, o.address);
    case Instruction::Invd: return on(v3(I::kInvd), E::kInvd);
    case Instruction::Wbinvd: return on(v4(I::kWbinvd), E::kWbinvd);
    case Instruction::Monitor: return on(v4(I::kMonitor), E::kMonitor);
    case Instruction::Mwait: return on(v4(I::kMwait), E::kMwait);
    case Instruction::Xsetbv: return on(v4(I::kXsetbv), E::kXsetbv);
    case Instruction::Vmcall: return on(v4(I::kVmmcall), E::kVmmcall);  // VMMCALL; #UD when not intercepted
    case Instruction::Pushf: return on(v3(I::kPushf), E::kPushf);
    case Instruction::Popf: return on(v3(I::kPopf), E::kPopf);
    case Instruction::Iret: return on(v3(I::kIret), E::kIret);
    case Instruction::SoftwareInterrupt: return on(v3(I::kIntn), E::kSwint);
    case Instruction::Sidt: return on(v3(I::kIdtrRead), E::kIdtrRead);
    case Instruction::Sgdt: return on(v3(I::kGdtrRead), E::kGdtrRead);
    case Instruction::Sldt: return on(v3(I::kLdtrRead), E::kLdtrRead);
    case Instruction::Str: return on(v3(I::kTrRead), E::kTrRead);
    case Instruction::Lidt: return on(v3(I::kIdtrWrite), E::kIdtrWrite);
    case Instruction::Lgdt: return on(v3(I::kGdtrWrite), E::kGdtrWrite);
    case Instruction::Lldt: return on(v3(I::kLdtrWrite), E::kLdtrWrite);
    case Instruction::Ltr: return on(v3(I::kTrWrite), E::kTrWrite);
    case Instruction::Pause: {
      if (!v3(I::kPause)) return none;
      // With a pause filter count, only every count-th PAUSE is intercepted (APM 15.14.4).
      const std::uint16_t filter = v.get<std::uint16_t>(vmcb::kPauseFilterCount);
      if (filter == 0) return svm_exit_with(E::kPause);
      if (++pause_count < filter) return none;
      pause_count = 0;
      return svm_exit_with(E::kPause);
    }
    case Instruction::MovToCr0: return on(cr & (1u << 16), E::kCrWrite0 + 0, mov_info);
    case Instruction::MovToCr3: return on(cr & (1u << 19), E::kCrWrite0 + 3, mov_info);
    case Instruction::MovToCr4: return on(cr & (1u << 20), E::kCrWrite0 + 4, mov_info);
    case Instruction::MovToCr8: return on(cr & (1u << 24), E::kCrWrite0 + 8, mov_info);
    case Instruction::MovFromCr0: return on(cr & (1u << 0), E::kCrRead0 + 0, mov_info);
    case Instruction::MovFromCr3: return on(cr & (1u << 3), E::kCrRead0 + 3, mov_info);
    case Instruction::MovFromCr4: return on(cr & (1u << 4), E::kCrRead0 + 4, mov_info);
    case Instruction::MovFromCr8: return on(cr & (1u << 8), E::kCrRead0 + 8, mov_info);
    case Instruction::Smsw: return on(cr & 1u, E::kCrRead0, 0);
    case Instruction::Lmsw: case Instruction::Clts: return on(cr & (1u << 16), E::kCrWrite0, 0);
    case Instruction::MovToDr:
      return on(dr & (1u << (16 + (o.debug_register & 15))), E::kDrWrite0 + (o.debug_register & 15), mov_info);
    case Instruction::MovFromDr:
      return on(dr & (1u << (o.debug_register & 15)), E::kDrRead0 + (o.debug_register & 15), mov_info);
    case Instruction::In: case Instruction::Out: {
      if (!v3(I::kIoioProt) || !io_intercepted(v, memory, o.port, o.size)) return none;
      // EXITINFO1 (APM figure 15-2): TYPE (1 = IN), STR, REP, SZ8/SZ16/SZ32, port in 31:16.
      const std::uint64_t size_bit = o.size == 1 ? 0x10 : o.size == 2 ? 0x20 : 0x40;
      const std::uint64_t info1 = (op.instruction == Instruction::In ? 1u : 0u) | (o.string ? 4u : 0u) |
                                  (o.rep ? 8u : 0u) | size_bit | (std::uint64_t{o.port} << 16);
      ExitDecision d = svm_exit_with(E::kIoio, info1, 0);
      d.info2 = op.instruction_length;  // the model's stand-in for the next RIP's offset
      return d;
    }
    case Instruction::Rdmsr: case Instruction::Wrmsr: {
      const bool write = op.instruction == Instruction::Wrmsr;
      if (!v3(I::kMsrProt) || !msr_intercepted(v, memory, o.msr, write)) return none;
      return svm_exit_with(E::kMsr, write ? 1 : 0);
    }
    default:
      return none;
  }
}

namespace {

constexpr std::uint64_t bit(unsigned n) { return std::uint64_t{1} << n; }

// EFER bits this processor defines (SCE, LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE); the others MBZ.
constexpr std::uint64_t kEferDefined = bit(0) | bit(8) | bit(10) | bit(11) | bit(12) | bit(13) | bit(14) | bit(15);
// CR4 bits reserved on AMD processors: 13-15 (VMXE and SMXE are Intel's), 19 and 63:24.
constexpr std::uint64_t kCr4Reserved = bit(13) | bit(14) | bit(15) | bit(19) | ~(bit(24) - 1);
// The permission maps must lie below the largest physical address (52 bits).
constexpr std::uint64_t kPhysicalLimit = bit(52);

unsigned segment(unsigned base, unsigned part) { return base + part; }

SegmentRegister load_segment(const Vmcb& v, unsigned base) {
  SegmentRegister r;
  r.selector = v.get<std::uint16_t>(segment(base, vmcb::kSegmentSelector));
  r.attributes = v.get<std::uint16_t>(segment(base, vmcb::kSegmentAttributes));
  r.limit = v.get<std::uint32_t>(segment(base, vmcb::kSegmentLimit));
  r.base = v.get<std::uint64_t>(segment(base, vmcb::kSegmentBase));
  return r;
}

void save_segment(Vmcb& v, unsigned base, const SegmentRegister& r) {
  v.set(segment(base, vmcb::kSegmentSelector), r.selector);
  v.set(segment(base, vmcb::kSegmentAttributes), r.attributes);
  v.set(segment(base, vmcb::kSegmentLimit), r.limit);
  v.set(segment(base, vmcb::kSegmentBase), r.base);
}

}  // namespace

std::string SvmUnit::vmrun_consistency_checks(const Vmcb& v) const {
  // APM vol. 2 15.5.1 "Canonicalization and Consistency Checks", in its order.
  const std::uint64_t efer = v.get<std::uint64_t>(vmcb::kEfer);
  const std::uint64_t cr0 = v.get<std::uint64_t>(vmcb::kCr0), cr3 = v.get<std::uint64_t>(vmcb::kCr3),
                      cr4 = v.get<std::uint64_t>(vmcb::kCr4);
  const bool lme = efer & bit(8), pg = cr0 & bit(31), pe = cr0 & bit(0), pae = cr4 & bit(5);
  const std::uint16_t cs_attributes = v.get<std::uint16_t>(vmcb::kCsAttributes);
  const bool cs_l = cs_attributes & bit(9), cs_d = cs_attributes & bit(10);
  if (!(efer & bit(12))) return "guest EFER.SVME is zero";
  if (!(cr0 & bit(30)) && (cr0 & bit(29))) return "CR0.CD is zero and CR0.NW is set";
  if (cr0 >> 32) return "CR0[63:32] are not zero";
  if (cr3 >> (lme ? 52 : 32)) return lme ? "a must-be-zero bit of CR3 (63:52) is set" : "a must-be-zero bit of CR3 (63:32) is set";
  if (cr4 & kCr4Reserved) return "a reserved bit of CR4 is set";
  if (v.get<std::uint64_t>(vmcb::kDr6) >> 32) return "DR6[63:32] are not zero";
  if (v.get<std::uint64_t>(vmcb::kDr7) >> 32) return "DR7[63:32] are not zero";
  if (efer & ~kEferDefined) return "a must-be-zero bit of EFER is set";
  if (lme && pg && !pae) return "EFER.LME and CR0.PG are set and CR4.PAE is zero";
  if (lme && pg && !pe) return "EFER.LME and CR0.PG are set and CR0.PE is zero";
  if (lme && pg && pae && cs_l && cs_d) return "EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all set";
  if (!v.intercepts(vmcb::kInterceptVector4, svm_intercept::kVmrun)) return "the VMRUN intercept bit is clear";
  if (v.get<std::uint64_t>(vmcb::kMsrpmBase) + 8 * 1024 > kPhysicalLimit ||
      v.get<std::uint64_t>(vmcb::kIopmBase) + 12 * 1024 > kPhysicalLimit)
    return "the MSR or I/O permission map extends beyond the largest physical address";
  const std::uint64_t inject = v.get<std::uint64_t>(vmcb::kEventInjection);
  const unsigned type = (inject >> 8) & 7, vector = inject & 0xff;
  if ((inject & bit(31)) && (type == 1 || type >= 5 || (type == 3 && vector == 2)))
    return "the event injection is illegal (a reserved type, or NMI as an exception)";
  if (v.get<std::uint32_t>(vmcb::kGuestAsid) == 0) return "ASID is zero (the host's)";
  return {};
}

void SvmUnit::vmrun_load_guest_state(const Vmcb& v, CpuState& cpu) {
  cpu.cr0 = v.get<std::uint64_t>(vmcb::kCr0);
  cpu.cr3 = v.get<std::uint64_t>(vmcb::kCr3);
  cpu.cr4 = v.get<std::uint64_t>(vmcb::kCr4);
  cpu.efer = v.get<std::uint64_t>(vmcb::kEfer);
  cpu.rip = v.get<std::uint64_t>(vmcb::kRip);
  cpu.rsp = v.get<std::uint64_t>(vmcb::kRsp);
  cpu.rflags = v.get<std::uint64_t>(vmcb::kRflags);
  cpu.dr7 = v.get<std::uint64_t>(vmcb::kDr7);
  cpu.cs = v.get<std::uint16_t>(vmcb::kCsSelector);
  vmcb_reads += 9;
}

bool SvmUnit::vmrun(Vmcb& v, CpuState& cpu, std::uint64_t host_efer) {
  if (!(host_efer & bit(12))) {
    entry_failure_ = "host EFER.SVME is zero: VMRUN raises #UD";
    ++entry_failures;
    return false;
  }
  entry_failure_ = vmrun_consistency_checks(v);
  if (!entry_failure_.empty()) {
    v.set<std::int64_t>(vmcb::kExitCode, svm_exit::kInvalid);
    ++vmcb_writes;
    ++entry_failures;
    return false;
  }
  host_ = cpu;  // the host save area
  vmrun_load_guest_state(v, cpu);
  in_guest_ = true;
  return true;
}

void SvmUnit::vmexit_save_guest_state(Vmcb& v, const CpuState& cpu) {
  v.set(vmcb::kCr0, cpu.cr0);
  v.set(vmcb::kCr3, cpu.cr3);
  v.set(vmcb::kCr4, cpu.cr4);
  v.set(vmcb::kEfer, cpu.efer);
  v.set(vmcb::kRip, cpu.rip);
  v.set(vmcb::kRsp, cpu.rsp);
  v.set(vmcb::kRflags, cpu.rflags);
  v.set(vmcb::kDr7, cpu.dr7);
  v.set(vmcb::kCsSelector, cpu.cs);
  vmcb_writes += 9;
}

void SvmUnit::vmexit(Vmcb& v, const ExitDecision& exit, CpuState& cpu) {
  vmexit_save_guest_state(v, cpu);
  v.set<std::int64_t>(vmcb::kExitCode, exit.code);
  v.set<std::uint64_t>(vmcb::kExitInfo1, exit.qualification);
  v.set<std::uint64_t>(vmcb::kExitInfo2, exit.info2);
  vmcb_writes += 3;
  CpuState host = host_;
  host.fs = cpu.fs;
  host.gs = cpu.gs;
  host.tr = cpu.tr;
  host.ldtr = cpu.ldtr;
  host.msrs = cpu.msrs;
  cpu = host;
  in_guest_ = false;
  global_interrupts_ = false;  // #VMEXIT clears GIF (APM 15.17)
}

void SvmUnit::vmload(const Vmcb& v, CpuState& cpu) {
  cpu.fs = load_segment(v, vmcb::kFs);
  cpu.gs = load_segment(v, vmcb::kGs);
  cpu.tr = load_segment(v, vmcb::kTr);
  cpu.ldtr = load_segment(v, vmcb::kLdtr);
  cpu.msrs.kernel_gs_base = v.get<std::uint64_t>(vmcb::kKernelGsBase);
  cpu.msrs.star = v.get<std::uint64_t>(vmcb::kStar);
  cpu.msrs.lstar = v.get<std::uint64_t>(vmcb::kLstar);
  cpu.msrs.cstar = v.get<std::uint64_t>(vmcb::kCstar);
  cpu.msrs.sfmask = v.get<std::uint64_t>(vmcb::kSfmask);
  cpu.msrs.sysenter_cs = v.get<std::uint64_t>(vmcb::kSysenterCs);
  cpu.msrs.sysenter_esp = v.get<std::uint64_t>(vmcb::kSysenterEsp);
  cpu.msrs.sysenter_eip = v.get<std::uint64_t>(vmcb::kSysenterEip);
  vmcb_reads += kLoadSaveFields;
  ++vmloads;
}

void SvmUnit::vmsave(Vmcb& v, const CpuState& cpu) {
  save_segment(v, vmcb::kFs, cpu.fs);
  save_segment(v, vmcb::kGs, cpu.gs);
  save_segment(v, vmcb::kTr, cpu.tr);
  save_segment(v, vmcb::kLdtr, cpu.ldtr);
  v.set(vmcb::kKernelGsBase, cpu.msrs.kernel_gs_base);
  v.set(vmcb::kStar, cpu.msrs.star);
  v.set(vmcb::kLstar, cpu.msrs.lstar);
  v.set(vmcb::kCstar, cpu.msrs.cstar);
  v.set(vmcb::kSfmask, cpu.msrs.sfmask);
  v.set(vmcb::kSysenterCs, cpu.msrs.sysenter_cs);
  v.set(vmcb::kSysenterEsp, cpu.msrs.sysenter_esp);
  v.set(vmcb::kSysenterEip, cpu.msrs.sysenter_eip);
  vmcb_writes += kLoadSaveFields;
  ++vmsaves;
}

}  // namespace virtsim
