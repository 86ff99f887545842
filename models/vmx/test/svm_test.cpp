#include "virtsim/vmx/mode_switch.h"
#include "virtsim/vmx/svm.h"

#include <gtest/gtest.h>

#include <map>

#include "test_memory.h"

namespace virtsim {
namespace {

using Bytes = testing_support::TestMemory;

GuestOp instr(Instruction i, InstructionOperands o = {}) {
  GuestOp op;
  op.instruction = i;
  op.operands = o;
  return op;
}

TEST(Svm, VmcbOffsetsAreTheApms) {
  Vmcb v;
  v.set<std::uint64_t>(vmcb::kExitInfo1, 0x1122);
  v.set<std::int64_t>(vmcb::kExitCode, svm_exit::kNpf);
  EXPECT_EQ(v.bytes()[0x078], 0x22);
  EXPECT_EQ(v.bytes()[0x071], 0x04);  // 0x400 little-endian at 0x070
  v.set<std::uint64_t>(vmcb::kRip, 0xabcd);
  EXPECT_EQ(v.bytes()[0x578], 0xcd);
}

TEST(Svm, InterceptsDecideWhichEventsExit) {
  constexpr Addr kIopm = 0x10000, kMsrpm = 0x20000;
  Vmcb v;
  Bytes mem;
  std::uint16_t pause = 0;
  auto decide = [&](const GuestOp& op) { return svm_decide_exit(v, op, mem.reader(), pause); };
  EXPECT_FALSE(decide(instr(Instruction::Cpuid)).exits);  // nothing intercepted
  v.set<std::uint32_t>(vmcb::kInterceptVector3, svm_intercept::kCpuid | svm_intercept::kHlt | svm_intercept::kIoioProt |
                                                    svm_intercept::kMsrProt | svm_intercept::kPopf);
  EXPECT_EQ(decide(instr(Instruction::Cpuid)).code, 0x072);
  EXPECT_EQ(decide(instr(Instruction::Hlt)).code, 0x078);
  EXPECT_EQ(decide(instr(Instruction::Popf)).code, 0x071);  // SVM can intercept POPF, VT-x cannot
  EXPECT_FALSE(decide(instr(Instruction::Rdtsc)).exits);
  // IOIO through the permission map; EXITINFO1 carries type, size and port.
  v.set<std::uint64_t>(vmcb::kIopmBase, kIopm);
  InstructionOperands io;
  io.port = 0x3f9;
  io.size = 2;
  EXPECT_FALSE(decide(instr(Instruction::In, io)).exits);
  mem.set_bit(kIopm, 0x3fa);  // the second byte of the access
  const ExitDecision in = decide(instr(Instruction::In, io));
  EXPECT_EQ(in.code, 0x07B);
  EXPECT_EQ(in.qualification, 1u | 0x20u | (std::uint64_t{0x3f9} << 16));
  // MSR through the MSRPM: EXITINFO1 0 for RDMSR, 1 for WRMSR.
  v.set<std::uint64_t>(vmcb::kMsrpmBase, kMsrpm);
  InstructionOperands efer;
  efer.msr = 0xc0000080;
  EXPECT_FALSE(decide(instr(Instruction::Rdmsr, efer)).exits);
  mem.set_bit(kMsrpm, 0x800 * 8 + 2 * 0x80 + 1);  // write bit of EFER
  EXPECT_FALSE(decide(instr(Instruction::Rdmsr, efer)).exits);
  const ExitDecision wr = decide(instr(Instruction::Wrmsr, efer));
  EXPECT_EQ(wr.code, 0x07C);
  EXPECT_EQ(wr.qualification, 1u);
  InstructionOperands outside;
  outside.msr = 0x40000000;
  EXPECT_EQ(decide(instr(Instruction::Rdmsr, outside)).qualification, 0u);  // outside the map: intercepted
  // CR writes by the CR intercept word; MOV CR3 -> code 0x013.
  v.set<std::uint32_t>(vmcb::kCrReadIntercepts, 1u << 19);
  EXPECT_EQ(decide(instr(Instruction::MovToCr3)).code, 0x013);
  EXPECT_FALSE(decide(instr(Instruction::MovFromCr3)).exits);
  // Nested page fault.
  GuestOp npf;
  npf.kind = GuestOp::Kind::EptViolation;
  npf.qualification = (std::uint64_t{1} << 32) | 0x6;
  npf.guest_physical_address = 0x123000;
  const ExitDecision n = decide(npf);
  EXPECT_EQ(n.code, 0x400);
  EXPECT_EQ(n.info2, 0x123000u);
  EXPECT_EQ(n.name(), "NPF");
}

TEST(Svm, PauseFilterCountsPauses) {
  Vmcb v;
  v.set<std::uint32_t>(vmcb::kInterceptVector3, svm_intercept::kPause);
  v.set<std::uint16_t>(vmcb::kPauseFilterCount, 3);
  std::uint16_t count = 0;
  int exits = 0;
  for (int i = 0; i < 9; ++i) exits += svm_decide_exit(v, instr(Instruction::Pause), [](Addr) { return std::uint8_t(0); }, count).exits;
  EXPECT_EQ(exits, 3);
}

TEST(Svm, VmrunConsistencyChecksAndExit) {
  SvmUnit svm;
  Vmcb v;
  CpuState cpu;
  cpu.rip = 0x1111;
  v.set<std::uint64_t>(vmcb::kEfer, 0x1500);
  v.set<std::uint64_t>(vmcb::kCr0, 0x80000031);
  v.set<std::uint64_t>(vmcb::kCr4, 0x20);
  v.set<std::uint64_t>(vmcb::kRip, 0x400000);
  v.set<std::uint32_t>(vmcb::kGuestAsid, 1);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x1500));  // VMRUN intercept clear
  EXPECT_EQ(v.get<std::int64_t>(vmcb::kExitCode), -1);
  v.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun);
  v.set<std::uint32_t>(vmcb::kGuestAsid, 0);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x1500));  // ASID 0
  v.set<std::uint32_t>(vmcb::kGuestAsid, 1);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x500));   // host EFER.SVME clear
  v.set<std::uint64_t>(vmcb::kCr4, 0);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x1500));  // long mode without PAE
  v.set<std::uint64_t>(vmcb::kCr4, 0x20);
  ASSERT_TRUE(svm.vmrun(v, cpu, 0x1500));
  EXPECT_EQ(cpu.rip, 0x400000u);
  cpu.rip = 0x400010;
  ExitDecision d;
  d.exits = true;
  d.mode = VirtMode::Svm;
  d.code = 0x072;
  d.qualification = 7;
  svm.vmexit(v, d, cpu);
  EXPECT_EQ(cpu.rip, 0x1111u);                        // host state back
  EXPECT_EQ(v.get<std::uint64_t>(vmcb::kRip), 0x400010u);  // guest state saved
  EXPECT_EQ(v.get<std::int64_t>(vmcb::kExitCode), 0x072);
  EXPECT_EQ(v.get<std::uint64_t>(vmcb::kExitInfo1), 7u);
  EXPECT_FALSE(svm.global_interrupts());
  svm.stgi();
  EXPECT_TRUE(svm.global_interrupts());
}

// The same controls give the same decisions through either flavour, in each one's codes.
TEST(ModeSwitch, OneInterfaceBothFlavours) {
  for (VirtMode mode : {VirtMode::Vmx, VirtMode::Svm}) {
    auto ms = make_mode_switch(mode);
    EXPECT_EQ(ms->mode(), mode);
    VirtualizationControls c;
    c.unconditional_io_exiting = false;
    c.io_ports_exiting = {0xb008};
    c.msrs_exiting = {0x10};
    ms->configure(c);
    CpuState cpu;
    ASSERT_TRUE(ms->enter_guest(cpu)) << to_string(mode);
    const ExitDecision cpuid = ms->decide(instr(Instruction::Cpuid));
    EXPECT_TRUE(cpuid.exits);
    EXPECT_EQ(cpuid.code, mode == VirtMode::Vmx ? 10 : 0x072);
    InstructionOperands pm;
    pm.port = 0xb008;
    pm.size = 4;
    EXPECT_TRUE(ms->decide(instr(Instruction::In, pm)).exits);
    pm.port = 0x60;
    EXPECT_FALSE(ms->decide(instr(Instruction::In, pm)).exits);
    InstructionOperands tsc;
    tsc.msr = 0x10;
    EXPECT_TRUE(ms->decide(instr(Instruction::Rdmsr, tsc)).exits);
    tsc.msr = 0x11;
    EXPECT_FALSE(ms->decide(instr(Instruction::Rdmsr, tsc)).exits);
    EXPECT_TRUE(ms->decide(instr(Instruction::Hlt)).exits);
    EXPECT_FALSE(ms->decide(instr(Instruction::Rdtsc)).exits);
    const auto before = ms->structure_accesses();
    ms->exit_to_host(cpuid, cpu);
    EXPECT_GT(ms->structure_accesses(), before);
    ASSERT_TRUE(ms->enter_guest(cpu));  // VMRESUME / VMRUN again
    c.rdtsc_exiting = true;
    ms->configure(c);
    EXPECT_TRUE(ms->decide(instr(Instruction::Rdtsc)).exits);
  }
}

// VT-x's CR3-target list through the mode switch: only changed fields are written, a MOV to
// CR3 of a listed value does not exit and any other value does; AMD-V has no such list.
TEST(ModeSwitch, Cr3TargetListSparesListedValues) {
  auto ms = make_mode_switch(VirtMode::Vmx);
  VirtualizationControls c;
  c.cr3_load_exiting = true;
  ms->configure(c);
  CpuState cpu;
  ASSERT_TRUE(ms->enter_guest(cpu));
  InstructionOperands to;
  to.value = 0x5000;
  EXPECT_TRUE(ms->decide(instr(Instruction::MovToCr3, to)).exits);
  EXPECT_EQ(ms->write_cr3_targets({0x5000, 0x9000}), 3u);  // two values and the count
  EXPECT_FALSE(ms->decide(instr(Instruction::MovToCr3, to)).exits);
  to.value = 0x9000;
  EXPECT_FALSE(ms->decide(instr(Instruction::MovToCr3, to)).exits);
  to.value = 0x7000;
  EXPECT_TRUE(ms->decide(instr(Instruction::MovToCr3, to)).exits);
  EXPECT_EQ(ms->write_cr3_targets({0x5000, 0x9000}), 0u);  // unchanged: nothing written
  EXPECT_EQ(ms->write_cr3_targets({0x7000}), 2u);          // value 0 and the count
  to.value = 0x9000;  // still in field 1, but beyond the count
  EXPECT_TRUE(ms->decide(instr(Instruction::MovToCr3, to)).exits);
  EXPECT_THROW(ms->write_cr3_targets({1, 2, 3, 4, 5}), std::logic_error);
  EXPECT_THROW(make_mode_switch(VirtMode::Svm)->write_cr3_targets({0x5000}), std::logic_error);
}

}  // namespace
}  // namespace virtsim
