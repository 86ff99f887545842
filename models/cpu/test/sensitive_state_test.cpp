#include "virtsim/cpu/sensitive_state.h"

#include <gtest/gtest.h>

#include <vector>

namespace virtsim {
namespace {

// Each hole as the SDM has it at CPL 1: the value the instruction gives on the VMM's state,
// against the guest's own at CPL 0.
TEST(SensitiveState, EachHoleAnswersForTheVmm) {
  SystemRegisters guest = guest_kernel_registers();
  SystemRegisters vmm = vmm_registers(guest, 1);
  const auto both = [&](Instruction i, std::uint64_t operand) {
    SystemRegisters g = guest, v = vmm;
    return std::make_pair(run_sensitive(i, g, 0, operand), run_sensitive(i, v, 1, operand));
  };
  // SGDT / SIDT: the VMM's table bases.
  EXPECT_EQ(both(Instruction::Sgdt, 0).first & 0xffffffffffffull, 0xfe0000001000ull);
  EXPECT_NE(both(Instruction::Sgdt, 0).first, both(Instruction::Sgdt, 0).second);
  EXPECT_NE(both(Instruction::Sidt, 0).first, both(Instruction::Sidt, 0).second);
  // SLDT / STR: the VMM's LDT and TSS selectors.
  EXPECT_EQ(both(Instruction::Sldt, 0), std::make_pair(std::uint64_t{0}, std::uint64_t{0x88}));
  EXPECT_EQ(both(Instruction::Str, 0), std::make_pair(std::uint64_t{kTssSelector}, std::uint64_t{0x80}));
  // SMSW: the real CR0's TS bit shows.
  EXPECT_EQ(both(Instruction::Smsw, 0), std::make_pair(std::uint64_t{0x33}, std::uint64_t{0x3b}));
  // MOV from CS / SS: RPL 1.
  const auto cs = both(Instruction::MovFromSegment, static_cast<std::uint64_t>(SegmentOperand::Cs));
  EXPECT_EQ(cs.first, kKernelCodeSelector);
  EXPECT_EQ(cs.second & 3, 1u);
  EXPECT_EQ(both(Instruction::MovFromSegment, static_cast<std::uint64_t>(SegmentOperand::Ss)).second & 3, 1u);
  // LAR: the VMM's descriptor has DPL 1; LSL: its limit is truncated below the VMM.
  const auto lar = both(Instruction::Lar, kKernelCodeSelector);
  EXPECT_EQ((lar.first >> 13) & 3, 0u);
  EXPECT_EQ((lar.second >> 13) & 3, 1u);
  EXPECT_EQ(lar.second >> 32, 1u);  // ZF: visible
  const auto lsl = both(Instruction::Lsl, kKernelCodeSelector);
  EXPECT_EQ(lsl.first & 0xffffffff, 0xffffffffu);
  EXPECT_LT(lsl.second & 0xffffffff, 0xffffffffu);
  // VERR / VERW: the guest's DPL-0 data segment is refused at CPL 1 (ZF clear).
  EXPECT_EQ(both(Instruction::Verr, kKernelDataSelector), std::make_pair(std::uint64_t{1} << 32, std::uint64_t{0}));
  EXPECT_EQ(both(Instruction::Verw, kKernelDataSelector), std::make_pair(std::uint64_t{1} << 32, std::uint64_t{0}));
  // PUSHF: the real IF and IOPL.
  guest.interrupt_flag = false;
  guest.iopl = 3;
  EXPECT_EQ(both(Instruction::Pushf, 0).first, kRflagsFixed | (3u << kRflagsIoplShift));
  EXPECT_EQ(both(Instruction::Pushf, 0).second, kRflagsFixed | kRflagsIf);
}

TEST(SensitiveState, PopfAboveRingZeroDropsIfAndIoplChangesSilently) {
  SystemRegisters s = vmm_registers(guest_kernel_registers(), 1);
  run_sensitive(Instruction::Popf, s, 1, kRflagsFixed | (3u << kRflagsIoplShift));  // IF off, IOPL 3
  EXPECT_TRUE(s.interrupt_flag);
  EXPECT_EQ(s.iopl, 0u);
  // At CPL 0 both change; at CPL <= IOPL only IF does.
  SystemRegisters k = guest_kernel_registers();
  run_sensitive(Instruction::Popf, k, 0, kRflagsFixed | (1u << kRflagsIoplShift));
  EXPECT_FALSE(k.interrupt_flag);
  EXPECT_EQ(k.iopl, 1u);
  run_sensitive(Instruction::Popf, k, 1, kRflagsFixed | kRflagsIf);
  EXPECT_TRUE(k.interrupt_flag);
  EXPECT_EQ(k.iopl, 1u);
}

// The guest's view: holes give wrong answers and a digest that differs from bare hardware's;
// the same instructions without holes (binary translation, VT-x, a paravirtual kernel's
// hypercalls) give bare hardware's digest.
TEST(GuestStateView, HolesShowInTheAnswersAndTheDigest) {
  // Which instructions of the round answered wrongly.
  const auto round = [](GuestStateView& v, bool holes) {
    std::vector<bool> wrong;
    v.privileged(Instruction::Cli, 0);
    wrong.push_back(v.sensitive(Instruction::Pushf, 0, holes));  // IF on, though CLI turned it off
    wrong.push_back(v.sensitive(Instruction::Popf, kRflagsFixed | kRflagsIf, holes));  // the VMM misses IF on
    wrong.push_back(v.sensitive(Instruction::Pushf, 0, holes));  // right by accident: the real IF is on
    wrong.push_back(v.sensitive(Instruction::Sgdt, 0, holes));
    wrong.push_back(v.sensitive(Instruction::Verr, kKernelDataSelector, holes));
    return wrong;
  };
  GuestStateView bare, trapped, translated;
  EXPECT_EQ(bare.digest(), 0u);  // nothing observed yet
  trapped.deprivilege(1);
  translated.deprivilege(1);
  EXPECT_EQ(round(bare, false), std::vector<bool>(5, false));
  EXPECT_EQ(round(trapped, true), (std::vector<bool>{true, true, false, true, true}));
  EXPECT_FALSE(trapped.guest().interrupt_flag);  // POPF's IF never reached the VMM's copy
  EXPECT_EQ(round(translated, false), std::vector<bool>(5, false));
  EXPECT_NE(bare.digest(), 0u);
  EXPECT_NE(bare.digest(), trapped.digest());
  EXPECT_EQ(bare.digest(), translated.digest());
}

}  // namespace
}  // namespace virtsim
