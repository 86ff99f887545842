#pragma once
// Privilege rings (CPL 0-3) and which instructions they restrict.
//
// Privileged instructions raise #GP(0) above CPL 0 (Intel SDM vol. 3 section 2.8, vol. 2 per
// instruction). IN/OUT/INS/OUTS, CLI and STI depend on RFLAGS.IOPL instead (SDM vol. 1
// 18.2.1, vol. 2 CLI/STI; the I/O permission bitmap of the TSS is not modelled). The sensitive
// but unprivileged instructions are those Robin and Irvine ("Analysis of the Intel Pentium's
// Ability to Support a Secure Virtual Machine Monitor", USENIX Security 2000) list as breaking
// Popek and Goldberg's requirement: they read or change state a VMM must control without
// trapping when run outside ring 0. A guest kernel deprivileged to
// ring 1 or 3 without hardware assist runs them silently with the wrong result: a
// "virtualization hole".
#include <cstdint>

#include "virtsim/common/instruction.h"
#include "virtsim/common/param.h"

namespace virtsim {

enum class PrivilegeClass : std::uint8_t {
  Unprivileged,            // any CPL, harmless to a VMM
  Privileged,              // CPL 0 only, else #GP(0)
  IoplSensitive,           // CPL <= IOPL, else #GP(0)
  SensitiveUnprivileged,   // any CPL, but reads or writes state a VMM must control
};
PrivilegeClass privilege_class(Instruction instruction);
const char* to_string(PrivilegeClass c);

enum class PrivilegeOutcome : std::uint8_t {
  Executes,             // runs as the program expects
  GeneralProtection,    // #GP(0): the instruction traps
  VirtualizationHole,   // runs without trapping, though a deprivileged guest kernel needs it to
};

// The outcome of `instruction` at `cpl` with RFLAGS.IOPL = `iopl`. `deprivileged_kernel`: the
// code is a guest kernel that a software VMM moved out of ring 0 (no VT-x / AMD-V), so
// sensitive unprivileged instructions are holes.
PrivilegeOutcome check_privilege(Instruction instruction, unsigned cpl, unsigned iopl, bool deprivileged_kernel);

// The ring state of a vCPU, including VMX root vs non-root ("ring -1" vs the guest).
struct RingState {
  unsigned cpl = 3;
  unsigned iopl = 0;
  bool guest_mode = false;  // VMX non-root / SVM guest
  // The kernel's ring: 0, or the ring a trap-and-emulate VMM deprivileges the guest kernel to
  // (the VMM takes each entry in ring 0 and forwards it there).
  unsigned kernel_cpl = 0;

  // Transitions and where they leave the CPL (SDM vol. 2 SYSCALL/SYSRET/SYSENTER/SYSEXIT/IRET).
  void syscall() { cpl = kernel_cpl; }
  void sysret() { cpl = 3; }
  void sysenter() { cpl = kernel_cpl; }
  void sysexit() { cpl = 3; }
  void interrupt() { cpl = kernel_cpl; }  // interrupt or exception through a kernel gate
  bool in_kernel() const { return cpl == kernel_cpl; }
  void iret(unsigned to_cpl) { cpl = to_cpl; }
};

// Cycle costs of ring transitions, declared once. No cited measurement is at hand for these:
// the defaults are labelled assumptions (order of magnitude of published microbenchmarks of
// system-call round trips on Core-era hardware) and presets may override them.
class RingParameters {
 public:
  explicit RingParameters(const Scope& scope);
  Param<std::uint32_t> syscall_cycles, sysret_cycles, sysenter_cycles, sysexit_cycles, interrupt_cycles, iret_cycles;
  std::uint32_t transition_cycles(Instruction instruction) const;  // 0 for a non-transition
};

}  // namespace virtsim
