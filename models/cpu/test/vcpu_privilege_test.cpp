// Privileged instructions natively and as a guest, on vCPUs side by side in one simulation:
// above CPL 0 they raise #GP before any VM exit (the unit sees only the instructions that
// exit unconditionally, and the #GP itself), and an instruction that does not exit costs in a
// guest exactly what it costs natively (ring transitions, HLT's wait for its wake-up).
#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "scripted.h"
#include "virtsim/cpu/vcpu.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"

namespace virtsim {
namespace {

// A virtualization unit under which every instruction it is asked about exits (`exits`) or
// none does, and #GP exits when `gp_exits` (the exception bitmap's bit 13).
class RecordingUnit final : public GuestInstructionHandler {
 public:
  RecordingUnit(bool exits, bool gp_exits) : exits_(exits), gp_exits_(gp_exits) {}
  InstructionOutcome execute(const GuestEvent& event, unsigned, Cycles) override {
    executed.push_back(event.instruction);
    return exits_ ? InstructionOutcome{1000, true, false} : InstructionOutcome{1, false, false};
  }
  InstructionOutcome elapse(Cycles) override { return {}; }
  InstructionOutcome deliver_interrupt(std::uint32_t, Cycles) override { return {}; }
  InstructionOutcome raise_exception(std::uint32_t vector, Cycles) override {
    exceptions.push_back(vector);
    return gp_exits_ ? InstructionOutcome{500, true, false} : InstructionOutcome{};
  }
  InstructionOutcome page_fault_exit(const ShadowFaultOutcome&, std::uint32_t, Addr, Cycles) override {
    return {};
  }
  InstructionOutcome nested_fault_exit(std::uint64_t, Addr, Cycles) override { return {}; }
  std::vector<Instruction> executed;
  std::vector<std::uint32_t> exceptions;

 private:
  bool exits_, gp_exits_;
};

std::deque<GuestEvent> user_script() {
  return {GuestEvent::instr(Instruction::MovToCr3, 0, 0),
          GuestEvent::instr(Instruction::Rdmsr, 0x1b),
          GuestEvent::instr(Instruction::Hlt),
          GuestEvent::instr(Instruction::In, 0x21),
          GuestEvent::instr(Instruction::Cpuid),
          GuestEvent::instr(Instruction::Vmcall)};
}

std::deque<GuestEvent> kernel_script() {
  return {GuestEvent::instr(Instruction::Sysret), GuestEvent::instr(Instruction::Syscall),
          GuestEvent::instr(Instruction::Hlt), GuestEvent::instr(Instruction::Rdmsr, 0x1b)};
}

TEST(VcpuPrivilege, PrivilegeFaultsComeBeforeExitsAndWhatDoesNotExitCostsWhatItDoesNatively) {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{16}, {"test"});
  params.set_value("kernel_native.cpl", std::int64_t{0}, {"test"});
  params.set_value("kernel_guest.cpl", std::int64_t{0}, {"test"});
  StatRegistry stats;
  Clock clock(2.0);
  Scope context{&params, &stats, ""};
  MemoryModule memory("memory", context, clock);
  tlm::tlm_global_quantum::instance().set(clock.delay(1000));

  RecordingUnit exiting(true, false), gp_exiting(true, true), not_exiting(false, false);
  struct Setup {
    const char* name;
    std::deque<GuestEvent> script;
    RecordingUnit* unit;
  };
  const std::vector<Setup> setups{{"user_native", user_script(), nullptr},
                                  {"user_guest", user_script(), &exiting},
                                  {"user_guest_gp", user_script(), &gp_exiting},
                                  {"kernel_native", kernel_script(), nullptr},
                                  {"kernel_guest", kernel_script(), &not_exiting}};
  std::vector<std::unique_ptr<MmuModule>> mmus;
  std::vector<std::unique_ptr<Vcpu>> cpus;
  std::vector<std::unique_ptr<ScriptedWorkload>> workloads;
  for (const auto& s : setups) {
    mmus.push_back(std::make_unique<MmuModule>((std::string("mmu_") + s.name).c_str(), context, clock));
    cpus.push_back(std::make_unique<Vcpu>(s.name, context, clock));
    workloads.push_back(std::make_unique<ScriptedWorkload>(s.script));
    Vcpu& cpu = *cpus.back();
    cpu.translate.bind(mmus.back()->translate);
    cpu.data.bind(memory.port);
    mmus.back()->memory.bind(memory.port);
    cpu.set_workload(workloads.back().get());
    if (s.unit) cpu.virtualization.bind(*s.unit);
  }
  params.check_all_used();
  sc_core::sc_start();

  const Vcpu &user_native = *cpus[0], &user_guest = *cpus[1], &user_guest_gp = *cpus[2];
  const Vcpu &kernel_native = *cpus[3], &kernel_guest = *cpus[4];
  for (const auto& cpu : cpus) ASSERT_TRUE(cpu->finished());
  // At CPL 3: MOV to CR3, RDMSR, HLT and IN (IOPL 0) fault; CPUID and VMCALL do not.
  const Cycles gp = user_native.rings.interrupt_cycles + user_native.rings.iret_cycles;
  EXPECT_EQ(user_native.general_protection_faults.count(), 4u);
  EXPECT_EQ(user_native.cycles.count(), 4 * gp + 2);
  EXPECT_EQ(user_native.halted_cycles.count(), 0u);  // the HLT faulted: no halt
  // As a guest the faults come first: only CPUID and VMCALL reach the unit and exit.
  EXPECT_EQ(user_guest.general_protection_faults.count(), 4u);
  EXPECT_EQ(exiting.executed, (std::vector<Instruction>{Instruction::Cpuid, Instruction::Vmcall}));
  EXPECT_EQ(exiting.exceptions, (std::vector<std::uint32_t>(4, 13)));
  EXPECT_EQ(user_guest.exits.count(), 2u);
  EXPECT_EQ(user_guest.cycles.count(), 4 * gp + 2 * 1000);
  // With #GP in the exception bitmap each fault exits first, then reaches the guest's IDT.
  EXPECT_EQ(user_guest_gp.exits.count(), 6u);
  EXPECT_EQ(user_guest_gp.cycles.count(), 4 * (500 + gp) + 2 * 1000);

  // At CPL 0 (SYSRET to 3, SYSCALL back, HLT, RDMSR): nothing faults, and with no exit the
  // guest's cycles are the native ones: the ring transitions and HLT's wait.
  const Cycles kernel = kernel_native.rings.sysret_cycles + kernel_native.rings.syscall_cycles + 1 +
                        kernel_native.hlt_wakeup_cycles + 1;
  EXPECT_EQ(kernel_native.general_protection_faults.count(), 0u);
  EXPECT_EQ(kernel_native.cycles.count(), kernel);
  EXPECT_EQ(kernel_native.halted_cycles.count(), kernel_native.hlt_wakeup_cycles.get());
  EXPECT_EQ(kernel_guest.general_protection_faults.count(), 0u);
  EXPECT_EQ(kernel_guest.cycles.count(), kernel);
  EXPECT_EQ(kernel_guest.halted_cycles.count(), kernel_guest.hlt_wakeup_cycles.get());
}

}  // namespace
}  // namespace virtsim
