#include "virtsim/vmx/binary_translation.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

struct BinaryTranslationTest : ::testing::Test {
  ParamRegistry params;
  StatRegistry stats;
  BinaryTranslationParameters parameters{{&params, nullptr, "system.bt"}};
  HypervisorParameters handlers{{&params, nullptr, "system.hypervisor"}};
  BinaryTranslationUnit unit{{&params, &stats, "system.bt0"}, parameters, handlers};
};

TEST_F(BinaryTranslationTest, UserCodeRunsAsItIsAndKernelCodeIsTranslated) {
  EXPECT_EQ(translated_as(Instruction::Cpuid, 3), TranslatedAs::Native);  // a user CPUID is not seen
  EXPECT_EQ(translated_as(Instruction::Cpuid, 0), TranslatedAs::Callout);
  EXPECT_EQ(translated_as(Instruction::MovToCr3, 0), TranslatedAs::Callout);
  EXPECT_EQ(translated_as(Instruction::Invlpg, 0), TranslatedAs::Callout);
  EXPECT_EQ(translated_as(Instruction::Sysret, 0), TranslatedAs::Callout);
  EXPECT_EQ(translated_as(Instruction::MovFromCr3, 0), TranslatedAs::InCache);
  EXPECT_EQ(translated_as(Instruction::Popf, 0), TranslatedAs::InCache);
  EXPECT_EQ(translated_as(Instruction::Syscall, 3), TranslatedAs::KernelEntry);
  EXPECT_EQ(translated_as(Instruction::Pause, 0), TranslatedAs::Native);
}

TEST_F(BinaryTranslationTest, ASiteIsTranslatedOnceAndEachRunPaysItsEmulation) {
  const GuestEvent cr3 = GuestEvent::instr(Instruction::MovToCr3, 0, 0x5000);
  const InstructionOutcome first = unit.execute(cr3, 0, 0);
  const InstructionOutcome second = unit.execute(cr3, 0, 0);
  EXPECT_TRUE(first.exited);  // a VMM entry
  EXPECT_EQ(first.cycles, Cycles{parameters.translate_cycles} + parameters.callout_cycles);
  EXPECT_EQ(second.cycles, Cycles{parameters.callout_cycles});
  const InstructionOutcome read = unit.execute(GuestEvent::instr(Instruction::MovFromCr3), 0, 0);
  EXPECT_FALSE(read.exited);
  EXPECT_EQ(read.cycles, Cycles{parameters.translate_cycles} + parameters.in_cache_cycles);
  // Two MSRs are two sites.
  unit.execute(GuestEvent::instr(Instruction::Wrmsr, 0x6e0, 1), 0, 0);
  unit.execute(GuestEvent::instr(Instruction::Wrmsr, 0x830, 1), 0, 0);
  EXPECT_EQ(unit.translations.count(), 4u);
  EXPECT_EQ(unit.callouts.count(), 4u);
  EXPECT_EQ(unit.in_cache_emulations.count(), 1u);
  EXPECT_EQ(unit.callouts_by_instruction.at(static_cast<std::size_t>(Instruction::Wrmsr)), 2u);
  const InstructionOutcome user = unit.execute(GuestEvent::instr(Instruction::Cpuid), 3, 0);
  EXPECT_FALSE(user.exited);
  EXPECT_EQ(unit.translations.count(), 4u);
}

TEST_F(BinaryTranslationTest, ARestoredTranslatorDoesNotTranslateItsSitesAgain) {
  unit.execute(GuestEvent::instr(Instruction::MovToCr3, 0, 0x5000), 0, 0);
  unit.execute(GuestEvent::instr(Instruction::Wrmsr, 0x6e0, 1), 0, 0);
  StateWriter saved;
  unit.save_state(saved);
  BinaryTranslationUnit restored{{&params, &stats, "system.bt1"}, parameters, handlers};
  StateReader in(saved.bytes().data(), saved.bytes().size(), "bt.ckpt");
  restored.load_state(in);
  EXPECT_TRUE(in.at_end());
  EXPECT_EQ(restored.execute(GuestEvent::instr(Instruction::MovToCr3, 0, 0x6000), 0, 0).cycles,
            Cycles{parameters.callout_cycles});
  EXPECT_EQ(restored.execute(GuestEvent::instr(Instruction::Wrmsr, 0x6e0, 1), 0, 0).cycles,
            Cycles{parameters.callout_cycles});
  EXPECT_EQ(restored.execute(GuestEvent::instr(Instruction::Wrmsr, 0x830, 1), 0, 0).cycles,
            Cycles{parameters.translate_cycles} + parameters.callout_cycles);  // another site
  EXPECT_EQ(restored.translations.count(), 1u);
  // A site whose instruction number is none: one error naming the field and its byte.
  saved.bytes()[12] = 0xff;
  StateReader bad(saved.bytes().data(), saved.bytes().size(), "bt.ckpt");
  try {
    restored.load_state(bad);
    FAIL() << "loaded";
  } catch (const CheckpointError& e) {
    EXPECT_STREQ(e.what(), "bt.ckpt: byte 12 (translated instruction): expected an instruction's number");
  }
}

TEST_F(BinaryTranslationTest, ShadowTableFaultsRunTheVmmsHandlerWithoutATransition) {
  const InstructionOutcome fill = unit.page_fault_exit(ShadowFaultOutcome{ShadowFaultResolution::Filled}, 0, 0x1000, 0);
  const InstructionOutcome write = unit.page_fault_exit(ShadowFaultOutcome{ShadowFaultResolution::WriteEmulated}, 2, 0x1000, 0);
  EXPECT_EQ(fill.cycles, Cycles{parameters.fault_delivery_cycles} + handlers.shadow_fill.instructions.get());
  EXPECT_EQ(write.cycles, Cycles{parameters.fault_delivery_cycles} + handlers.shadow_write.instructions.get());
  EXPECT_EQ(unit.vmm_page_faults.count(), 2u);
  EXPECT_EQ(unit.vmm_cycles.count(), fill.cycles + write.cycles);
}

// The defaults follow from VMware's software VMM on a Pentium 4 672 as Adams & Agesen (ASPLOS
// 2006) measured it; these are their figures, in cycles (appendix nanobenchmark table,
// native / software VMM; sections 3.2, 3.3 and 6.3).
TEST_F(BinaryTranslationTest, DefaultsReproduceAdamsAndAgesensSoftwareVmm) {
  // A true guest page fault: pgfault 1093 natively, 3927 under the software VMM.
  const InstructionOutcome fault = unit.page_fault_exit(ShadowFaultOutcome{ShadowFaultResolution::GuestFault}, 0, 0x1000, 0);
  EXPECT_EQ(fault.cycles, Cycles{3927 - 1093});
  // A system call: syscall 242 natively, 2308 under the software VMM.
  EXPECT_EQ(unit.execute(GuestEvent::instr(Instruction::Syscall), 3, 0).cycles, Cycles{2308 - 242});
  // A CR8 write emulated in the translation cache: cr8write 35 cycles (once translated).
  const GuestEvent cr8 = GuestEvent::instr(Instruction::MovToCr8, 0, 0);
  EXPECT_EQ(translated_as(Instruction::MovToCr8, 0), TranslatedAs::InCache);
  // The first run translates a unit: about 2300 cycles per instruction, units of up to 12.
  EXPECT_EQ(unit.execute(cr8, 0, 0).cycles, Cycles{2300 * 12 + 35});
  EXPECT_EQ(unit.execute(cr8, 0, 0).cycles, Cycles{35});
  // RDTSC in the translation cache 216 cycles; by callout-and-emulate 1254 (section 3.3).
  const GuestEvent rdtsc = GuestEvent::instr(Instruction::Rdtsc);
  unit.execute(rdtsc, 0, 0);
  EXPECT_EQ(unit.execute(rdtsc, 0, 0).cycles, Cycles{216});
  EXPECT_EQ(parameters.callout_cycles.get(), 1254u);
}

}  // namespace
}  // namespace virtsim
