#include "virtsim/hypervisor/trap_emulate/trap_emulate.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

struct Unit {
  ParamRegistry params;
  StatRegistry stats;
  Scope system{&params, &stats, "system"};
  TrapEmulateParameters parameters{system.child("trap_emulate")};
  HypervisorParameters hypervisor{system.child("hypervisor")};
  TrapEmulateUnit unit{system.child("trap_emulate0"), parameters, hypervisor};
};

TEST(TrapEmulateUnit, EmulatesWhatTrapsFromTheGuestKernelsRing) {
  Unit u;
  EXPECT_EQ(u.unit.guest_kernel_cpl(), 1u);
  // CLI at CPL 1 with IOPL 0 and MOV to CR3 raise #GP: the VMM emulates them, at its cost.
  for (Instruction i : {Instruction::Cli, Instruction::MovToCr3}) {
    const InstructionOutcome out = u.unit.execute(GuestEvent::instr(i), 1, 0);
    EXPECT_TRUE(out.exited) << to_string(i);
    EXPECT_EQ(out.cycles, 2030u) << to_string(i);
  }
  EXPECT_EQ(u.unit.traps.count(), 2u);
  EXPECT_EQ(u.unit.traps_by_instruction.at(static_cast<std::size_t>(Instruction::Cli)), 1u);
  // A hole does not trap: the VMM never sees it.
  const InstructionOutcome popf = u.unit.execute(GuestEvent::instr(Instruction::Popf), 1, 0);
  EXPECT_FALSE(popf.exited);
  EXPECT_EQ(u.unit.traps.count(), 2u);
  // A system call from user mode enters the guest kernel through the VMM.
  EXPECT_EQ(u.unit.execute(GuestEvent::instr(Instruction::Syscall), 3, 0).cycles, 2066u);
  EXPECT_EQ(u.unit.kernel_entries.count(), 1u);
  EXPECT_EQ(u.unit.vmm_cycles.count(), 2u * 2030 + 2066);
}

}  // namespace
}  // namespace virtsim
