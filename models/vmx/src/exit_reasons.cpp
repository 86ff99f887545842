#include "virtsim/vmx/exit_reasons.h"

#include <algorithm>

namespace virtsim {

const char* to_string(VirtMode mode) { return mode == VirtMode::Vmx ? "vmx" : "svm"; }

namespace {

std::vector<ExitReasonInfo> svm_codes() {
  std::vector<ExitReasonInfo> codes;
  // Ranges with one code per control register, debug register or exception vector.
  auto range = [&](std::int64_t first, int count, const char* stem) {
    for (int i = 0; i < count; ++i) codes.push_back({first + i, stem + std::to_string(i)});
  };
  range(0x000, 16, "CR_READ_CR");
  range(0x010, 16, "CR_WRITE_CR");
  range(0x020, 16, "DR_READ_DR");
  range(0x030, 16, "DR_WRITE_DR");
  range(0x040, 32, "EXCEPTION_");
  const std::vector<ExitReasonInfo> single = {
      {0x060, "INTR"},     {0x061, "NMI"},      {0x062, "SMI"},      {0x063, "INIT"},
      {0x064, "VINTR"},    {0x065, "CR0_SEL_WRITE"}, {0x066, "IDTR_READ"}, {0x067, "GDTR_READ"},
      {0x068, "LDTR_READ"}, {0x069, "TR_READ"}, {0x06A, "IDTR_WRITE"}, {0x06B, "GDTR_WRITE"},
      {0x06C, "LDTR_WRITE"}, {0x06D, "TR_WRITE"}, {0x06E, "RDTSC"},  {0x06F, "RDPMC"},
      {0x070, "PUSHF"},    {0x071, "POPF"},     {0x072, "CPUID"},    {0x073, "RSM"},
      {0x074, "IRET"},     {0x075, "SWINT"},    {0x076, "INVD"},     {0x077, "PAUSE"},
      {0x078, "HLT"},      {0x079, "INVLPG"},   {0x07A, "INVLPGA"},  {0x07B, "IOIO"},
      {0x07C, "MSR"},      {0x07D, "TASK_SWITCH"}, {0x07E, "FERR_FREEZE"}, {0x07F, "SHUTDOWN"},
      {0x080, "VMRUN"},    {0x081, "VMMCALL"},  {0x082, "VMLOAD"},   {0x083, "VMSAVE"},
      {0x084, "STGI"},     {0x085, "CLGI"},     {0x086, "SKINIT"},   {0x087, "RDTSCP"},
      {0x088, "ICEBP"},    {0x089, "WBINVD"},   {0x08A, "MONITOR"},  {0x08B, "MWAIT"},
      {0x08C, "MWAIT_CONDITIONAL"}, {0x08D, "XSETBV"}, {0x400, "NPF"}, {-1, "INVALID"}};
  codes.insert(codes.end(), single.begin(), single.end());
  std::sort(codes.begin(), codes.end(), [](const auto& a, const auto& b) { return a.code < b.code; });
  return codes;
}

}  // namespace

const std::vector<ExitReasonInfo>& exit_reasons(VirtMode mode) {
  static const std::vector<ExitReasonInfo> vmx = {
      {0, "Exception or NMI"}, {1, "External interrupt"}, {2, "Triple fault"}, {3, "INIT signal"},
      {4, "Start-up IPI"}, {5, "I/O SMI"}, {6, "Other SMI"}, {7, "Interrupt window"}, {8, "NMI window"},
      {9, "Task switch"}, {10, "CPUID"}, {11, "GETSEC"}, {12, "HLT"}, {13, "INVD"}, {14, "INVLPG"},
      {15, "RDPMC"}, {16, "RDTSC"}, {17, "RSM"}, {18, "VMCALL"}, {19, "VMCLEAR"}, {20, "VMLAUNCH"},
      {21, "VMPTRLD"}, {22, "VMPTRST"}, {23, "VMREAD"}, {24, "VMRESUME"}, {25, "VMWRITE"},
      {26, "VMXOFF"}, {27, "VMXON"}, {28, "Control-register access"}, {29, "MOV DR"},
      {30, "I/O instruction"}, {31, "RDMSR"}, {32, "WRMSR"},
      {33, "VM-entry failure: invalid guest state"}, {34, "VM-entry failure: MSR loading"},
      {36, "MWAIT"}, {37, "Monitor trap flag"}, {39, "MONITOR"}, {40, "PAUSE"},
      {41, "VM-entry failure: machine-check event"}, {43, "TPR below threshold"}, {44, "APIC access"},
      {45, "Virtualized EOI"}, {46, "GDTR or IDTR access"}, {47, "LDTR or TR access"},
      {48, "EPT violation"}, {49, "EPT misconfiguration"}, {50, "INVEPT"}, {51, "RDTSCP"},
      {52, "VMX-preemption timer expired"}, {53, "INVVPID"}, {54, "WBINVD"}, {55, "XSETBV"},
      {56, "APIC write"}, {57, "RDRAND"}, {58, "INVPCID"}, {59, "VMFUNC"}, {60, "ENCLS"},
      {61, "RDSEED"}, {62, "Page-modification log full"}, {63, "XSAVES"}, {64, "XRSTORS"}};
  static const std::vector<ExitReasonInfo> svm = svm_codes();
  return mode == VirtMode::Vmx ? vmx : svm;
}

std::string exit_reason_name(VirtMode mode, std::int64_t code) {
  const auto& table = exit_reasons(mode);
  const auto it = std::lower_bound(table.begin(), table.end(), code,
                                   [](const ExitReasonInfo& info, std::int64_t c) { return info.code < c; });
  if (it != table.end() && it->code == code) return it->name;
  return "unknown (" + std::to_string(code) + ")";
}

}  // namespace virtsim
