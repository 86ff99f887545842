#include "virtsim/workloads/exit_microbench.h"

#include <iterator>
#include <stdexcept>

#include "virtsim/cpu/sensitive_state.h"

namespace virtsim {

const std::vector<std::string>& exit_benchmarks() {
  static const std::vector<std::string> names{"cpuid",  "vmcall", "rdtsc",   "io_kernel", "io_user", "hlt",
                                              "rdmsr",  "wrmsr",  "mov_cr3", "invlpg",    "mov_cr8", "pause",
                                              "sgdt",  "preemption_timer", "nop", "holes"};
  return names;
}

ExitBenchParameters::ExitBenchParameters(const Scope& scope)
    : VIRTSIM_MEMBER(benchmark, scope, "cpuid", "", "which exit microbenchmark (workload.kind = \"exitbench\")", {},
                     exit_benchmarks()),
      VIRTSIM_MEMBER(warmup_operations, scope, 100, "operations", "operations before the region of interest",
                     Range{0, 1e12}),
      VIRTSIM_MEMBER(operations, scope, 10000, "operations", "operations measured", Range{1, 1e12}),
      VIRTSIM_MEMBER(cpuid_leaf, scope, 0, "", "the leaf (EAX) the cpuid benchmark asks for",
                     Range{0, 4294967295.0}),
      VIRTSIM_MEMBER(in_kernel, scope, true, "",
                     "the benchmark loop runs in the guest kernel at CPL 0, as kvm-unit-tests' x86/vmexit "
                     "does (entered with one system call before the warm-up); off, in a user process at "
                     "CPL 3, where privileged instructions raise #GP instead of exiting") {}

ExitBenchConfig ExitBenchParameters::config() const {
  return {benchmark, warmup_operations, operations, cpuid_leaf, in_kernel, false};
}

ExitMicrobenchmark::ExitMicrobenchmark(const ExitBenchConfig& config) : config_(config) {
  bool known = false;
  for (const auto& n : exit_benchmarks()) known |= n == config.benchmark;
  if (!known) throw std::invalid_argument("unknown exit benchmark '" + config.benchmark + "'");
}

namespace {
// The holes benchmark's round: every sensitive unprivileged instruction, after the privileged
// one whose effect it reads back. The kernel disables interrupts (CLI, which traps), reads its
// flags (PUSHF), restores them with interrupts on (POPF), reads its descriptor tables, task
// register, CR0 and segment registers, checks its own segments, enables interrupts (STI) and
// restores flags with them off (POPF). Operands: POPF's image, the selectors of __KERNEL_CS and
// __KERNEL_DS, the segment register (sensitive_state.h).
struct HoleStep {
  Instruction instruction;
  Addr operand;
};
constexpr HoleStep kHoleRound[] = {
    {Instruction::Cli, 0},        {Instruction::Pushf, 0},     {Instruction::Popf, kRflagsFixed | kRflagsIf},
    {Instruction::Pushf, 0},      {Instruction::Sgdt, 0},      {Instruction::Sidt, 0},
    {Instruction::Sldt, 0},       {Instruction::Str, 0},       {Instruction::Smsw, 0},
    {Instruction::MovFromSegment, static_cast<Addr>(SegmentOperand::Cs)},
    {Instruction::MovFromSegment, static_cast<Addr>(SegmentOperand::Ss)},
    {Instruction::Lar, kKernelCodeSelector}, {Instruction::Lsl, kKernelCodeSelector},
    {Instruction::Verr, kKernelDataSelector}, {Instruction::Verw, kKernelDataSelector},
    {Instruction::Sti, 0},        {Instruction::Popf, kRflagsFixed}, {Instruction::Pushf, 0},
};
}  // namespace

GuestEvent ExitMicrobenchmark::operation() const {
  const std::string& b = config_.benchmark;
  if (b == "holes") {
    const HoleStep& s = kHoleRound[emitted_ % std::size(kHoleRound)];
    // A paravirtual kernel asks the hypervisor instead of running the instruction.
    if (config_.paravirtual && s.instruction != Instruction::Cli && s.instruction != Instruction::Sti)
      return GuestEvent::instr(Instruction::Vmcall, (static_cast<std::uint32_t>(s.instruction) << 24) | (s.operand & 0xffffff),
                               kHypercallVirtualCpuState);
    return GuestEvent::instr(s.instruction, 0, s.operand);
  }
  if (b == "cpuid") return GuestEvent::instr(Instruction::Cpuid, 0, config_.cpuid_leaf);
  if (b == "vmcall") return GuestEvent::instr(Instruction::Vmcall);
  if (b == "rdtsc") return GuestEvent::instr(Instruction::Rdtsc);
  if (b == "io_kernel") return GuestEvent::instr(Instruction::In, 0x21, 0, 1);
  if (b == "io_user") return GuestEvent::instr(Instruction::In, 0xb008, 0, 4);
  if (b == "hlt") return GuestEvent::instr(Instruction::Hlt);
  if (b == "rdmsr") return GuestEvent::instr(Instruction::Rdmsr, 0x1b);
  if (b == "wrmsr") return GuestEvent::instr(Instruction::Wrmsr, 0x1b, 0xfee00900);
  if (b == "mov_cr3") return GuestEvent::instr(Instruction::MovToCr3, 0, 0);  // 0: reload the current CR3
  if (b == "invlpg") return GuestEvent::instr(Instruction::Invlpg, 0, 0x400000);
  if (b == "mov_cr8") return GuestEvent::instr(Instruction::MovToCr8, 0, 0);
  if (b == "pause") return GuestEvent::instr(Instruction::Pause);
  if (b == "sgdt") return GuestEvent::instr(Instruction::Sgdt);
  if (b == "preemption_timer") return GuestEvent::compute(1000);  // guest work the timer interrupts
  return GuestEvent::compute(1);  // nop
}

std::optional<GuestEvent> ExitMicrobenchmark::next_event() {
  if (done_) return std::nullopt;
  if (!roi_begun_ && emitted_ == config_.warmup) {
    roi_begun_ = true;
    return GuestEvent::roi_begin();
  }
  if (emitted_ == config_.warmup + config_.operations) {
    done_ = true;
    return GuestEvent::roi_end();
  }
  if (config_.benchmark == "pause" && spacer_due_) {  // the spin loop's test-and-branch between PAUSEs
    spacer_due_ = false;
    return GuestEvent::compute(4);
  }
  ++emitted_;
  spacer_due_ = true;
  return operation();
}

double ExitMicrobenchmark::progress() const {
  const double total = static_cast<double>(config_.warmup + config_.operations);
  return total > 0 ? static_cast<double>(emitted_) / total : 1.0;
}

}  // namespace virtsim
