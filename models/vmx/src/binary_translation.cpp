#include "virtsim/vmx/binary_translation.h"

#include <vector>

namespace virtsim {

// Defaults from Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86
// Virtualization" (ASPLOS 2006), VMware's software VMM on a 3.8 GHz Pentium 4 672: section 3.2
// (translation units of at most 12 instructions), section 3.3 (rdtsc three ways), section 6.3
// (translation cost) and the appendix's raw nanobenchmark table (cycles, native / software VMM:
// syscall 242 / 2308, cr8write 150 / 35, pgfault 1093 / 3927, divzero 889 / 3223). Each
// description says how its default follows from them; models/vmx/README.md has the whole list.
BinaryTranslationParameters::BinaryTranslationParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, false, "",
                     "a software VMM with binary translation runs the guest (its kernel translated, memory "
                     "virtualized by shadow page tables; system.vmx.mode must be none)"),
      VIRTSIM_MEMBER(translate_cycles, scope, 27600, "cycles",
                     "translating the translation unit around a privileged or sensitive kernel instruction, the "
                     "first time that instruction kind runs: about 2300 cycles per instruction translated (Adams "
                     "& Agesen 2006, section 6.3) times 12 instructions, the most a unit holds (section 3.2)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(in_cache_cycles, scope, 35, "cycles",
                     "an instruction the translation cache emulates in place (a CR read or CR8 write, CLI/STI, "
                     "POPF...): 35 cycles, the software VMM's cr8write (Adams & Agesen 2006, nanobenchmarks)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(in_cache_rdtsc_cycles, scope, 216, "cycles",
                     "RDTSC or RDTSCP emulated in the translation cache (a virtual time stamp): 216 cycles "
                     "(Adams & Agesen 2006, section 3.3)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(callout_cycles, scope, 1254, "cycles",
                     "a callout from the translation cache into the VMM and back, with the emulation of a simple "
                     "instruction: 1254 cycles, rdtsc by callout-and-emulate (Adams & Agesen 2006, section 3.3)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(kernel_entry_cycles, scope, 2066, "cycles",
                     "what a system call or software interrupt entering the guest kernel through the VMM adds "
                     "to the native entry: 2308 - 242 cycles, the software VMM's syscall nanobenchmark against "
                     "native (Adams & Agesen 2006)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(interrupt_cycles, scope, 2334, "cycles",
                     "an external interrupt, or a fault of a guest instruction, that the VMM takes and "
                     "forwards to the guest kernel: no published figure; set to what reflecting an exception "
                     "adds, 3223 - 889 cycles, the software VMM's divzero nanobenchmark against native "
                     "(Adams & Agesen 2006)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(fault_delivery_cycles, scope, 2484, "cycles",
                     "a #PF's way into the VMM and back, before its handler: 2484 cycles, so that with the "
                     "guest_fault handler's 350 instructions a true guest page fault adds 3927 - 1093 cycles, "
                     "the software VMM's pgfault nanobenchmark against native (Adams & Agesen 2006)",
                     Range{0, 1e7}) {}

TranslatedAs translated_as(Instruction instruction, unsigned cpl) {
  switch (instruction) {
    case Instruction::Syscall: case Instruction::Sysenter: case Instruction::SoftwareInterrupt:
      return cpl == 3 ? TranslatedAs::KernelEntry : TranslatedAs::Callout;
    default: break;
  }
  if (cpl == 3) return TranslatedAs::Native;  // user code is not translated
  switch (instruction) {
    // Emulated in the translation cache: the state they read or change is the VMM's copy.
    case Instruction::Cli: case Instruction::Sti: case Instruction::Popf: case Instruction::Pushf:
    case Instruction::MovFromCr0: case Instruction::MovFromCr3: case Instruction::MovFromCr4:
    case Instruction::MovFromCr8: case Instruction::MovToCr8: case Instruction::Smsw: case Instruction::Sgdt:
    case Instruction::Sidt:
    case Instruction::Sldt: case Instruction::Str: case Instruction::MovFromSegment: case Instruction::Lar:
    case Instruction::Lsl: case Instruction::Verr: case Instruction::Verw: case Instruction::Rdtsc:
    case Instruction::Rdtscp: case Instruction::Rdpmc:
      return TranslatedAs::InCache;
    // Unprivileged and harmless: translated as they are.
    case Instruction::Pause: case Instruction::Rdrand: case Instruction::Rdseed: return TranslatedAs::Native;
    default: return TranslatedAs::Callout;
  }
}

namespace {
}  // namespace

BinaryTranslationUnit::BinaryTranslationUnit(const Scope& scope, const BinaryTranslationParameters& parameters,
                                             const HypervisorParameters& handlers)
    : SoftwareVmmUnit(scope,
                      {parameters.kernel_entry_cycles, parameters.interrupt_cycles, parameters.fault_delivery_cycles},
                      handlers, "callouts"),
      VIRTSIM_MEMBER(translations, scope, "sites", "privileged or sensitive instruction kinds translated"),
      VIRTSIM_MEMBER(translate_cycles, scope, "cycles", "cycles spent translating"),
      VIRTSIM_MEMBER(in_cache_emulations, scope, "instructions", "instructions emulated in the translation cache"),
      VIRTSIM_MEMBER(callouts, scope, "callouts", "callouts from translated code into the VMM"),
      VIRTSIM_MEMBER(callouts_by_instruction, scope, "callouts", "callouts per instruction", instruction_names()),
      p_(parameters) {}

InstructionOutcome BinaryTranslationUnit::execute(const GuestEvent& event, unsigned cpl, Cycles) {
  const TranslatedAs as = translated_as(event.instruction, cpl);
  if (as == TranslatedAs::Native) return {1, false, false};
  if (as == TranslatedAs::KernelEntry) return kernel_entry();
  // The first run of a site translates it (the port or MSR tells sites of one instruction apart).
  Cycles translation = 0;
  if (translated_.emplace(std::make_pair(event.instruction, std::uint64_t{event.count}), true).second) {
    ++translations;
    translation = p_.translate_cycles;
    translate_cycles += translation;
  }
  if (as == TranslatedAs::InCache) {
    ++in_cache_emulations;
    InstructionOutcome out;
    const bool time_stamp = event.instruction == Instruction::Rdtsc || event.instruction == Instruction::Rdtscp;
    out.cycles = translation + (time_stamp ? p_.in_cache_rdtsc_cycles : p_.in_cache_cycles);
    return out;
  }
  ++callouts;
  callouts_by_instruction.add(static_cast<std::size_t>(event.instruction));
  return vmm_entry(translation + p_.callout_cycles);  // a HLT then waits in the VMM (the vCPU charges it)
}

void BinaryTranslationUnit::save_state(StateWriter& out) const {
  out.put_tag("BT01");
  out.put<std::uint64_t>(translated_.size());
  for (const auto& [site, translated] : translated_) {
    out.put<std::uint32_t>(static_cast<std::uint32_t>(site.first));
    out.put<std::uint64_t>(site.second);
  }
}

void BinaryTranslationUnit::load_state(StateReader& in) {
  in.expect_tag("BT01");
  translated_.clear();
  for (auto n = in.count("translated sites", 12); n > 0; --n) {
    const std::uint64_t at = in.offset();
    const auto instruction = in.get<std::uint32_t>("translated instruction");
    if (instruction >= instruction_names().size()) in.fail("translated instruction", "an instruction's number", at);
    const auto operand = in.get<std::uint64_t>("translated site's port or MSR");
    translated_.emplace(std::make_pair(static_cast<Instruction>(instruction), operand), true);
  }
}

}  // namespace virtsim
