#pragma once
// The guest instructions that matter to virtualization: privileged ones, sensitive ones, and
// those VT-x and AMD-V can intercept. Workloads emit them as events; the vCPU checks them
// against the privilege rules (models/cpu/rings.h) and the mode switch (models/vmx) decides
// whether they exit.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "virtsim/common/units.h"

namespace virtsim {

enum class Instruction : std::uint8_t {
  Cpuid, Rdtsc, Rdtscp, Rdmsr, Wrmsr, In, Out, Hlt, Pause, Vmcall,
  Invlpg, Invpcid, MovToCr0, MovFromCr0, MovToCr3, MovFromCr3, MovToCr4, MovFromCr4, MovToCr8, MovFromCr8,
  Clts, Lmsw, Smsw, MovToDr, MovFromDr,
  Lgdt, Lidt, Lldt, Ltr, Sgdt, Sidt, Sldt, Str,
  Popf, Pushf, Lar, Lsl, Verr, Verw, MovFromSegment,
  Wbinvd, Invd, Rdrand, Rdseed, Xsetbv, Rdpmc, Monitor, Mwait, Getsec,
  Cli, Sti, Syscall, Sysret, Sysenter, Sysexit, SoftwareInterrupt, Iret,
  Count
};

const char* to_string(Instruction instruction);  // lower case, as in traces and configs: "cpuid"
std::optional<Instruction> parse_instruction(const std::string& name);
const std::vector<Instruction>& all_instructions();

// What the instruction operates on, where it matters to an intercept decision.
struct InstructionOperands {
  std::uint32_t port = 0;    // IN/OUT
  std::uint32_t msr = 0;     // RDMSR/WRMSR (ECX)
  std::uint64_t value = 0;   // value written (MOV to CR/DR, WRMSR, LMSW source)
  Addr address = 0;          // INVLPG / INVPCID linear address, MONITOR address
  std::uint8_t size = 1;     // I/O access size in bytes (1, 2, 4)
  std::uint8_t gpr = 0;      // general-purpose register number of a MOV CR/DR
  std::uint8_t debug_register = 0;  // MOV DR: which DR
  bool string = false;       // INS/OUTS
  bool rep = false;          // REP prefix
  std::uint8_t invpcid_type = 0;
};

}  // namespace virtsim
