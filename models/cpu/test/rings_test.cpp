#include "virtsim/cpu/rings.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

TEST(Rings, PrivilegedInstructionsFaultAboveRingZero) {
  for (Instruction i : {Instruction::Hlt, Instruction::Lgdt, Instruction::MovToCr3, Instruction::Invlpg,
                        Instruction::Wrmsr, Instruction::Rdmsr, Instruction::Wbinvd, Instruction::Lmsw, Instruction::Clts}) {
    EXPECT_EQ(check_privilege(i, 0, 0, false), PrivilegeOutcome::Executes) << to_string(i);
    for (unsigned cpl : {1u, 2u, 3u})
      EXPECT_EQ(check_privilege(i, cpl, 3, false), PrivilegeOutcome::GeneralProtection) << to_string(i) << " " << cpl;
  }
}

TEST(Rings, IoAndInterruptFlagFollowIopl) {
  EXPECT_EQ(check_privilege(Instruction::Out, 3, 0, false), PrivilegeOutcome::GeneralProtection);
  EXPECT_EQ(check_privilege(Instruction::Out, 3, 3, false), PrivilegeOutcome::Executes);
  EXPECT_EQ(check_privilege(Instruction::Cli, 1, 1, false), PrivilegeOutcome::Executes);
  EXPECT_EQ(check_privilege(Instruction::Sti, 2, 1, false), PrivilegeOutcome::GeneralProtection);
}

// Robin and Irvine's sensitive unprivileged instructions: harmless natively, holes for a
// deprivileged guest kernel.
TEST(Rings, SensitiveUnprivilegedInstructionsAreHolesWhenDeprivileged) {
  const std::vector<Instruction> sensitive{Instruction::Popf, Instruction::Pushf, Instruction::Sgdt, Instruction::Sidt,
                                           Instruction::Sldt, Instruction::Str, Instruction::Smsw, Instruction::Lar,
                                           Instruction::Lsl, Instruction::Verr, Instruction::Verw,
                                           Instruction::MovFromSegment};
  for (Instruction i : sensitive) {
    EXPECT_EQ(privilege_class(i), PrivilegeClass::SensitiveUnprivileged) << to_string(i);
    EXPECT_EQ(check_privilege(i, 3, 0, false), PrivilegeOutcome::Executes) << to_string(i);
    EXPECT_EQ(check_privilege(i, 1, 0, true), PrivilegeOutcome::VirtualizationHole) << to_string(i);
  }
  EXPECT_EQ(check_privilege(Instruction::Cpuid, 1, 0, true), PrivilegeOutcome::Executes);
  std::size_t holes = 0;
  for (Instruction i : all_instructions()) holes += privilege_class(i) == PrivilegeClass::SensitiveUnprivileged;
  EXPECT_EQ(holes, sensitive.size());
}

TEST(Rings, TransitionsMoveTheCpl) {
  RingState r;
  r.syscall();
  EXPECT_EQ(r.cpl, 0u);
  r.sysret();
  EXPECT_EQ(r.cpl, 3u);
  r.interrupt();
  EXPECT_EQ(r.cpl, 0u);
  r.iret(3);
  EXPECT_EQ(r.cpl, 3u);
  ParamRegistry registry;
  RingParameters p({&registry, nullptr, "cpu"});
  EXPECT_EQ(p.transition_cycles(Instruction::Syscall), p.syscall_cycles.get());
  EXPECT_EQ(p.transition_cycles(Instruction::Cpuid), 0u);
}

TEST(Instructions, NamesRoundTrip) {
  for (Instruction i : all_instructions()) EXPECT_EQ(parse_instruction(to_string(i)), i);
  EXPECT_FALSE(parse_instruction("frobnicate"));
}

}  // namespace
}  // namespace virtsim
