#include "virtsim/common/instruction.h"

namespace virtsim {

namespace {
const char* const kNames[] = {
    "cpuid", "rdtsc", "rdtscp", "rdmsr", "wrmsr", "in", "out", "hlt", "pause", "vmcall",
    "invlpg", "invpcid", "mov_to_cr0", "mov_from_cr0", "mov_to_cr3", "mov_from_cr3", "mov_to_cr4", "mov_from_cr4",
    "mov_to_cr8", "mov_from_cr8", "clts", "lmsw", "smsw", "mov_to_dr", "mov_from_dr",
    "lgdt", "lidt", "lldt", "ltr", "sgdt", "sidt", "sldt", "str",
    "popf", "pushf", "lar", "lsl", "verr", "verw", "mov_from_segment",
    "wbinvd", "invd", "rdrand", "rdseed", "xsetbv", "rdpmc", "monitor", "mwait", "getsec",
    "cli", "sti", "syscall", "sysret", "sysenter", "sysexit", "int", "iret"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<std::size_t>(Instruction::Count),
              "one name per instruction");
}  // namespace

const char* to_string(Instruction instruction) {
  const auto i = static_cast<std::size_t>(instruction);
  return i < static_cast<std::size_t>(Instruction::Count) ? kNames[i] : "?";
}

std::optional<Instruction> parse_instruction(const std::string& name) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(Instruction::Count); ++i)
    if (name == kNames[i]) return static_cast<Instruction>(i);
  return std::nullopt;
}

const std::vector<Instruction>& all_instructions() {
  static const std::vector<Instruction> all = [] {
    std::vector<Instruction> v;
    for (std::size_t i = 0; i < static_cast<std::size_t>(Instruction::Count); ++i) v.push_back(static_cast<Instruction>(i));
    return v;
  }();
  return all;
}

}  // namespace virtsim
