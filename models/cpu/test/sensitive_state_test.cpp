#include "virtsim/cpu/sensitive_state.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace virtsim {
namespace {

// Each hole as the SDM has it at CPL 1: the value the instruction gives on the VMM's state,
// against the guest's own at CPL 0.
std::pair<std::uint64_t, std::uint64_t> native_and_hole(Instruction i, std::uint64_t operand = 0,
                                                        SystemRegisters guest = guest_kernel_registers()) {
  SystemRegisters vmm = vmm_registers(guest, 1);
  return {run_sensitive(i, guest, 0, operand), run_sensitive(i, vmm, 1, operand)};
}

TEST(SensitiveHole, SgdtAndSidtStoreTheVmmsTables) {
  const auto gdt = native_and_hole(Instruction::Sgdt);
  EXPECT_EQ(gdt.first & 0xffffffffffffull, 0xfe0000001000ull);  // cpu_entry_area's GDT, limit above
  EXPECT_NE(gdt.first, gdt.second);
  const auto idt = native_and_hole(Instruction::Sidt);
  EXPECT_NE(idt.first, idt.second);
}

TEST(SensitiveHole, SldtAndStrStoreTheVmmsSelectors) {
  EXPECT_EQ(native_and_hole(Instruction::Sldt), std::make_pair(std::uint64_t{0}, std::uint64_t{0x88}));
  EXPECT_EQ(native_and_hole(Instruction::Str), std::make_pair(std::uint64_t{kTssSelector}, std::uint64_t{0x80}));
}

TEST(SensitiveHole, SmswShowsTheRealCr0) {
  EXPECT_EQ(native_and_hole(Instruction::Smsw), std::make_pair(std::uint64_t{0x33}, std::uint64_t{0x3b}));  // TS
}

TEST(SensitiveHole, MovFromCsAndSsShowsRplOne) {
  const auto cs = native_and_hole(Instruction::MovFromSegment, static_cast<std::uint64_t>(SegmentOperand::Cs));
  EXPECT_EQ(cs.first, kKernelCodeSelector);
  EXPECT_EQ(cs.second, kKernelCodeSelector | 1u);
  const auto ss = native_and_hole(Instruction::MovFromSegment, static_cast<std::uint64_t>(SegmentOperand::Ss));
  EXPECT_EQ(ss.first, kKernelDataSelector);
  EXPECT_EQ(ss.second & 3, 1u);
}

TEST(SensitiveHole, LarShowsTheVmmsDpl) {
  const auto lar = native_and_hole(Instruction::Lar, kKernelCodeSelector);
  EXPECT_EQ(lar.first >> 32, 1u);  // ZF: visible both ways
  EXPECT_EQ(lar.second >> 32, 1u);
  EXPECT_EQ((lar.first >> 13) & 3, 0u);
  EXPECT_EQ((lar.second >> 13) & 3, 1u);
}

TEST(SensitiveHole, LslShowsTheTruncatedLimit) {
  const auto lsl = native_and_hole(Instruction::Lsl, kKernelCodeSelector);
  EXPECT_EQ(lsl.first & 0xffffffff, 0xffffffffu);
  EXPECT_LT(lsl.second & 0xffffffff, 0xffffffffu);
}

TEST(SensitiveHole, VerrAndVerwRefuseTheKernelsDataSegmentAtCplOne) {
  const std::pair<std::uint64_t, std::uint64_t> accessible_then_refused{std::uint64_t{1} << 32, 0};
  EXPECT_EQ(native_and_hole(Instruction::Verr, kKernelDataSelector), accessible_then_refused);
  EXPECT_EQ(native_and_hole(Instruction::Verw, kKernelDataSelector), accessible_then_refused);
  // A code segment is never writable; a selector beyond the table is refused both ways.
  EXPECT_EQ(native_and_hole(Instruction::Verw, kKernelCodeSelector).first, 0u);
  EXPECT_EQ(native_and_hole(Instruction::Verr, 0x200), std::make_pair(std::uint64_t{0}, std::uint64_t{0}));
}

TEST(SensitiveHole, PushfShowsTheRealIfAndIopl) {
  SystemRegisters guest = guest_kernel_registers();
  guest.interrupt_flag = false;
  guest.iopl = 3;
  const auto flags = native_and_hole(Instruction::Pushf, 0, guest);
  EXPECT_EQ(flags.first, kRflagsFixed | (3u << kRflagsIoplShift));
  EXPECT_EQ(flags.second, kRflagsFixed | kRflagsIf);
}

TEST(SensitiveHole, PopfAboveRingZeroDropsIfAndIoplChangesSilently) {
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
