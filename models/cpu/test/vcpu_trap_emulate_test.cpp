// A guest kernel under a trap-and-emulate VMM against the same kernel on bare hardware, on
// vCPUs side by side in one simulation: deprivileged to ring 1, its privileged instructions
// fault into the VMM's handler, which emulates them, and its sensitive unprivileged
// instructions run without trapping and answer for the VMM.
#include <gtest/gtest.h>

#include <deque>
#include <utility>
#include <vector>

#include "scripted.h"
#include "virtsim/cpu/vcpu.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"

namespace virtsim {
namespace {

// A VMM that runs the guest kernel in ring 1 and emulates, at 2000 cycles, whatever faults
// there (the vCPU hands it those instructions); everything else runs as it is.
class DeprivilegingVmm final : public GuestInstructionHandler {
 public:
  unsigned guest_kernel_cpl() const override { return 1; }
  InstructionOutcome execute(const GuestEvent& event, unsigned cpl, Cycles) override {
    executed.emplace_back(event.instruction, cpl);
    const bool traps = cpl == 1 && check_privilege(event.instruction, cpl, 0, false) == PrivilegeOutcome::GeneralProtection;
    return traps ? InstructionOutcome{2000, true, false} : InstructionOutcome{1, false, false};
  }
  InstructionOutcome elapse(Cycles) override { return {}; }
  InstructionOutcome deliver_interrupt(std::uint32_t, Cycles) override { return {}; }
  InstructionOutcome raise_exception(std::uint32_t, Cycles) override { return {}; }
  InstructionOutcome page_fault_exit(const ShadowFaultOutcome&, std::uint32_t, Addr, Cycles) override { return {}; }
  InstructionOutcome nested_fault_exit(std::uint64_t, Addr, Cycles) override { return {}; }
  std::vector<std::pair<Instruction, unsigned>> executed;
};

// The kernel disables interrupts and reads its flags and GDT back, returns to user mode (where
// a PUSHF is the program's, not the kernel's), and comes back to flush a page.
std::deque<GuestEvent> kernel_script() {
  return {GuestEvent::instr(Instruction::Cli),   GuestEvent::instr(Instruction::Pushf),
          GuestEvent::instr(Instruction::Sgdt),  GuestEvent::instr(Instruction::Sysret),
          GuestEvent::instr(Instruction::Pushf), GuestEvent::instr(Instruction::Syscall),
          GuestEvent::instr(Instruction::Invlpg, 0, 0x400000)};
}

TEST(VcpuTrapEmulate, TheDeprivilegedKernelTrapsOnPrivilegedInstructionsAndFallsIntoHoles) {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{16}, {"test"});
  params.set_value("bare.cpl", std::int64_t{0}, {"test"});
  params.set_value("trapped.cpl", std::int64_t{0}, {"test"});
  StatRegistry stats;
  Clock clock(2.0);
  Scope context{&params, &stats, ""};
  MemoryModule memory("memory", context, clock);
  tlm::tlm_global_quantum::instance().set(clock.delay(1000));
  DeprivilegingVmm vmm;
  MmuModule mmu_bare("mmu_bare", context, clock), mmu_trapped("mmu_trapped", context, clock);
  Vcpu bare("bare", context, clock), trapped("trapped", context, clock);
  ScriptedWorkload bare_script(kernel_script()), trapped_script(kernel_script());
  for (auto [cpu, mmu, script] : {std::make_tuple(&bare, &mmu_bare, &bare_script),
                                  std::make_tuple(&trapped, &mmu_trapped, &trapped_script)}) {
    cpu->translate.bind(mmu->translate);
    cpu->data.bind(memory.port);
    mmu->memory.bind(memory.port);
    cpu->set_workload(script);
  }
  trapped.virtualization.bind(vmm);
  params.check_all_used();
  sc_core::sc_start();
  ASSERT_TRUE(bare.finished());
  ASSERT_TRUE(trapped.finished());

  // Bare hardware: nothing faults, the kernel gets its own state.
  EXPECT_EQ(bare.general_protection_faults.count(), 0u);
  EXPECT_EQ(bare.virtualization_holes.count(), 0u);
  EXPECT_EQ(bare.wrong_answers(Instruction::Pushf), 0u);
  EXPECT_NE(bare.guest_view().digest(), 0u);
  // Ring 1: CLI (IOPL 0), SYSRET and INVLPG fault and reach the VMM from ring 1; the user
  // program's instructions reach it from ring 3, and its system call comes back to ring 1.
  // The kernel's PUSHF and SGDT never reach it.
  EXPECT_EQ(trapped.general_protection_faults.count(), 3u);
  EXPECT_EQ(trapped.exits.count(), 3u);
  const std::vector<std::pair<Instruction, unsigned>> reached{
      {Instruction::Cli, 1}, {Instruction::Sysret, 1}, {Instruction::Pushf, 3}, {Instruction::Syscall, 3},
      {Instruction::Invlpg, 1}};
  EXPECT_EQ(vmm.executed, reached);
  EXPECT_EQ(trapped.current_cpl(), 1u);
  // The kernel's PUSHF and SGDT are holes (the user program's PUSHF is not the kernel's): PUSHF
  // shows IF on after CLI, SGDT the VMM's table.
  EXPECT_EQ(trapped.virtualization_holes.count(), 2u);
  EXPECT_EQ(trapped.wrong_answers(Instruction::Pushf), 1u);
  EXPECT_EQ(trapped.wrong_answers(Instruction::Sgdt), 1u);
  EXPECT_NE(trapped.guest_view().digest(), bare.guest_view().digest());
  EXPECT_FALSE(trapped.guest_view().guest().interrupt_flag);  // the VMM emulated the CLI
  // Instructions in ring 1 count as the kernel's.
  EXPECT_EQ(trapped.kernel_instructions.count(), bare.kernel_instructions.count());
}

}  // namespace
}  // namespace virtsim
