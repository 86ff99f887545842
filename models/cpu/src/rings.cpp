#include "virtsim/cpu/rings.h"

namespace virtsim {

PrivilegeClass privilege_class(Instruction i) {
  switch (i) {
    case Instruction::Hlt: case Instruction::Invlpg: case Instruction::Invpcid:
    case Instruction::MovToCr0: case Instruction::MovFromCr0: case Instruction::MovToCr3:
    case Instruction::MovFromCr3: case Instruction::MovToCr4: case Instruction::MovFromCr4:
    case Instruction::MovToCr8: case Instruction::MovFromCr8: case Instruction::Clts: case Instruction::Lmsw:
    case Instruction::MovToDr: case Instruction::MovFromDr: case Instruction::Lgdt: case Instruction::Lidt:
    case Instruction::Lldt: case Instruction::Ltr: case Instruction::Rdmsr: case Instruction::Wrmsr:
    case Instruction::Wbinvd: case Instruction::Invd: case Instruction::Xsetbv: case Instruction::Monitor:
    case Instruction::Mwait: case Instruction::Sysret: case Instruction::Sysexit:
      return PrivilegeClass::Privileged;
    case Instruction::In: case Instruction::Out: case Instruction::Cli: case Instruction::Sti:
      return PrivilegeClass::IoplSensitive;
    case Instruction::Popf: case Instruction::Pushf: case Instruction::Sgdt: case Instruction::Sidt:
    case Instruction::Sldt: case Instruction::Str: case Instruction::Smsw: case Instruction::Lar:
    case Instruction::Lsl: case Instruction::Verr: case Instruction::Verw: case Instruction::MovFromSegment:
      return PrivilegeClass::SensitiveUnprivileged;
    default:
      return PrivilegeClass::Unprivileged;
  }
}

const char* to_string(PrivilegeClass c) {
  switch (c) {
    case PrivilegeClass::Unprivileged: return "unprivileged";
    case PrivilegeClass::Privileged: return "privileged";
    case PrivilegeClass::IoplSensitive: return "IOPL-sensitive";
    case PrivilegeClass::SensitiveUnprivileged: return "sensitive, unprivileged";
  }
  return "?";
}

PrivilegeOutcome check_privilege(Instruction instruction, unsigned cpl, unsigned iopl, bool deprivileged_kernel) {
  switch (privilege_class(instruction)) {
    case PrivilegeClass::Privileged:
      return cpl == 0 ? PrivilegeOutcome::Executes : PrivilegeOutcome::GeneralProtection;
    case PrivilegeClass::IoplSensitive:
      return cpl <= iopl ? PrivilegeOutcome::Executes : PrivilegeOutcome::GeneralProtection;
    case PrivilegeClass::SensitiveUnprivileged:
      return deprivileged_kernel ? PrivilegeOutcome::VirtualizationHole : PrivilegeOutcome::Executes;
    case PrivilegeClass::Unprivileged:
      return PrivilegeOutcome::Executes;
  }
  return PrivilegeOutcome::Executes;
}

RingParameters::RingParameters(const Scope& scope)
    : VIRTSIM_MEMBER(syscall_cycles, scope, 70, "cycles", "SYSCALL: ring 3 to 0 (assumption)", Range{0, 100000}),
      VIRTSIM_MEMBER(sysret_cycles, scope, 70, "cycles", "SYSRET: ring 0 to 3 (assumption)", Range{0, 100000}),
      VIRTSIM_MEMBER(sysenter_cycles, scope, 70, "cycles", "SYSENTER: ring 3 to 0 (assumption)", Range{0, 100000}),
      VIRTSIM_MEMBER(sysexit_cycles, scope, 70, "cycles", "SYSEXIT: ring 0 to 3 (assumption)", Range{0, 100000}),
      VIRTSIM_MEMBER(interrupt_cycles, scope, 200, "cycles",
                     "delivery of an interrupt or exception through the IDT (assumption)", Range{0, 100000}),
      VIRTSIM_MEMBER(iret_cycles, scope, 150, "cycles", "IRET back to the interrupted ring (assumption)",
                     Range{0, 100000}) {}

std::uint32_t RingParameters::transition_cycles(Instruction i) const {
  switch (i) {
    case Instruction::Syscall: return syscall_cycles;
    case Instruction::Sysret: return sysret_cycles;
    case Instruction::Sysenter: return sysenter_cycles;
    case Instruction::Sysexit: return sysexit_cycles;
    case Instruction::SoftwareInterrupt: return interrupt_cycles;
    case Instruction::Iret: return iret_cycles;
    default: return 0;
  }
}

}  // namespace virtsim
