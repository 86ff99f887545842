#include "virtsim/vmx/mode_switch.h"
#include "virtsim/vmx/svm.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <vector>

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
  EXPECT_EQ(svm.entry_failure(), "the VMRUN intercept bit is clear");
  v.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun);
  v.set<std::uint32_t>(vmcb::kGuestAsid, 0);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x1500));  // ASID 0
  v.set<std::uint32_t>(vmcb::kGuestAsid, 1);
  v.set<std::int64_t>(vmcb::kExitCode, 0);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x500));   // host EFER.SVME clear: #UD, the VMCB untouched
  EXPECT_EQ(v.get<std::int64_t>(vmcb::kExitCode), 0);
  v.set<std::uint64_t>(vmcb::kCr4, 0);
  EXPECT_FALSE(svm.vmrun(v, cpu, 0x1500));  // long mode without PAE
  v.set<std::uint64_t>(vmcb::kCr4, 0x20);
  EXPECT_EQ(svm.entry_failures, 4u);
  EXPECT_EQ(cpu.rip, 0x1111u);  // no failed VMRUN entered the guest
  ASSERT_TRUE(svm.vmrun(v, cpu, 0x1500));
  EXPECT_TRUE(svm.entry_failure().empty());
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

// A VMCB that passes every check of APM 15.5.1: 64-bit guest, VMRUN intercepted, ASID 1.
Vmcb passing_vmcb() {
  Vmcb v;
  v.set<std::uint64_t>(vmcb::kEfer, 0x1500);
  v.set<std::uint64_t>(vmcb::kCr0, 0x80000031);
  v.set<std::uint64_t>(vmcb::kCr4, 0x20);
  v.set<std::uint64_t>(vmcb::kCr3, 0x1000);
  v.set<std::uint16_t>(vmcb::kCsAttributes, 0x29b);  // L set, D clear
  v.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun);
  v.set<std::uint32_t>(vmcb::kGuestAsid, 1);
  return v;
}

// Each consistency check of VMRUN on its own: the entry fails with VMEXIT_INVALID in EXITCODE,
// the host state stays, the failure is counted and named.
TEST(Svm, EachVmrunConsistencyCheckFailsTheEntry) {
  struct Case {
    const char* failure;
    std::function<void(Vmcb&)> breaks;
  };
  const std::vector<Case> cases = {
      {"guest EFER.SVME is zero", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kEfer, 0x500); }},
      {"CR0.CD is zero and CR0.NW is set", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr0, 0xa0000031); }},
      {"CR0[63:32] are not zero", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr0, 0x180000031); }},
      {"a must-be-zero bit of CR3 (63:52) is set", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr3, 1ull << 52); }},
      {"a reserved bit of CR4 is set", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr4, 0x2020); }},  // VMXE: Intel's
      {"a reserved bit of CR4 is set", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr4, 0x20 | (1ull << 40)); }},
      {"DR6[63:32] are not zero", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kDr6, 1ull << 32); }},
      {"DR7[63:32] are not zero", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kDr7, 1ull << 63); }},
      {"a must-be-zero bit of EFER is set", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kEfer, 0x1700); }},  // bit 9
      {"a must-be-zero bit of EFER is set", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kEfer, 0x11500); }},
      {"EFER.LME and CR0.PG are set and CR4.PAE is zero", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr4, 0); }},
      {"EFER.LME and CR0.PG are set and CR0.PE is zero", [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kCr0, 0x80000030); }},
      {"EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D are all set",
       [](Vmcb& v) { v.set<std::uint16_t>(vmcb::kCsAttributes, 0x69b); }},
      {"the VMRUN intercept bit is clear", [](Vmcb& v) { v.set<std::uint32_t>(vmcb::kInterceptVector4, 0); }},
      {"the MSR or I/O permission map extends beyond the largest physical address",
       [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kMsrpmBase, (1ull << 52) - 4096); }},
      {"the event injection is illegal (a reserved type, or NMI as an exception)",
       [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kEventInjection, (1u << 31) | (3u << 8) | 2u); }},
      {"the event injection is illegal (a reserved type, or NMI as an exception)",
       [](Vmcb& v) { v.set<std::uint64_t>(vmcb::kEventInjection, (1u << 31) | (1u << 8)); }},
      {"ASID is zero (the host's)", [](Vmcb& v) { v.set<std::uint32_t>(vmcb::kGuestAsid, 0); }},
  };
  SvmUnit svm;
  CpuState host;
  host.rip = 0x1111;
  Vmcb ok = passing_vmcb();
  EXPECT_EQ(svm.vmrun_consistency_checks(ok), "");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    Vmcb v = passing_vmcb();
    cases[i].breaks(v);
    CpuState cpu = host;
    EXPECT_FALSE(svm.vmrun(v, cpu, 0x1500)) << cases[i].failure;
    EXPECT_EQ(svm.entry_failure(), cases[i].failure);
    EXPECT_EQ(v.get<std::int64_t>(vmcb::kExitCode), svm_exit::kInvalid) << cases[i].failure;
    EXPECT_EQ(cpu.rip, 0x1111u);
    EXPECT_FALSE(svm.in_guest());
    EXPECT_EQ(svm.entry_failures, i + 1);
  }
  // Legal injections pass: an external interrupt, a #PF exception.
  Vmcb irq = passing_vmcb();
  irq.set<std::uint64_t>(vmcb::kEventInjection, (1u << 31) | 0x20);
  EXPECT_EQ(svm.vmrun_consistency_checks(irq), "");
  irq.set<std::uint64_t>(vmcb::kEventInjection, (1u << 31) | (3u << 8) | 14u);
  EXPECT_EQ(svm.vmrun_consistency_checks(irq), "");
}

// VMLOAD and VMSAVE move FS, GS, TR and LDTR with their hidden parts, KernelGsBase, STAR,
// LSTAR, CSTAR, SFMASK and the SYSENTER MSRs, at the APM's state-save offsets.
TEST(Svm, VmloadAndVmsaveMoveTheirStateAtTheApmsOffsets) {
  Vmcb v;
  auto put = [&](unsigned at, std::uint64_t value, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) v.set<std::uint8_t>(at + i, static_cast<std::uint8_t>(value >> (8 * i)));
  };
  put(0x440, 0x2b, 2);                  // FS selector
  put(0x448, 0x7f0000001000, 8);        // FS base
  put(0x452, 0xc93, 2);                 // GS attributes
  put(0x458, 0xffff88807fc00000, 8);    // GS base
  put(0x470, 0x50, 2);                  // LDTR selector
  put(0x474, 0xffff, 4);                // LDTR limit
  put(0x490, 0x40, 2);                  // TR selector
  put(0x492, 0x8b, 2);                  // TR attributes
  put(0x494, 0x4087, 4);                // TR limit
  put(0x498, 0xfffffe0000003000, 8);    // TR base
  put(0x600, 0x0023001000000000, 8);    // STAR
  put(0x608, 0xffffffff81e00000, 8);    // LSTAR
  put(0x610, 0xffffffff81e01000, 8);    // CSTAR
  put(0x618, 0x47700, 8);               // SFMASK
  put(0x620, 0x7f0000002000, 8);        // KernelGsBase
  put(0x628, 0x10, 8);                  // SYSENTER_CS
  put(0x630, 0xfffffe0000004000, 8);    // SYSENTER_ESP
  put(0x638, 0xffffffff81e02000, 8);    // SYSENTER_EIP
  SvmUnit svm;
  CpuState cpu;
  svm.vmload(v, cpu);
  EXPECT_EQ(cpu.fs, (SegmentRegister{0x2b, 0, 0, 0x7f0000001000}));
  EXPECT_EQ(cpu.gs, (SegmentRegister{0, 0xc93, 0, 0xffff88807fc00000}));
  EXPECT_EQ(cpu.ldtr, (SegmentRegister{0x50, 0, 0xffff, 0}));
  EXPECT_EQ(cpu.tr, (SegmentRegister{0x40, 0x8b, 0x4087, 0xfffffe0000003000}));
  EXPECT_EQ(cpu.msrs.star, 0x0023001000000000u);
  EXPECT_EQ(cpu.msrs.lstar, 0xffffffff81e00000u);
  EXPECT_EQ(cpu.msrs.cstar, 0xffffffff81e01000u);
  EXPECT_EQ(cpu.msrs.sfmask, 0x47700u);
  EXPECT_EQ(cpu.msrs.kernel_gs_base, 0x7f0000002000u);
  EXPECT_EQ(cpu.msrs.sysenter_cs, 0x10u);
  EXPECT_EQ(cpu.msrs.sysenter_esp, 0xfffffe0000004000u);
  EXPECT_EQ(cpu.msrs.sysenter_eip, 0xffffffff81e02000u);
  EXPECT_EQ(svm.vmcb_reads, SvmUnit::kLoadSaveFields);
  // VMSAVE writes the same bytes back; it leaves the rest of the VMCB (CR3 here) alone.
  Vmcb saved;
  saved.set<std::uint64_t>(vmcb::kCr3, 0x5000);
  svm.vmsave(saved, cpu);
  for (unsigned at : {0x440u, 0x450u, 0x470u, 0x490u})
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(saved.bytes()[at + i], v.bytes()[at + i]) << std::hex << at + i;
  for (unsigned i = 0x600; i < 0x640; ++i) EXPECT_EQ(saved.bytes()[i], v.bytes()[i]) << std::hex << i;
  EXPECT_EQ(saved.get<std::uint64_t>(vmcb::kCr3), 0x5000u);
  EXPECT_EQ(svm.vmcb_writes, SvmUnit::kLoadSaveFields);
  EXPECT_EQ(svm.vmloads, 1u);
  EXPECT_EQ(svm.vmsaves, 1u);
}

// VMRUN and #VMEXIT leave FS, GS, TR, LDTR and the system-call MSRs alone: after #VMEXIT the
// processor still holds the guest's until the hypervisor's VMSAVE and VMLOAD.
TEST(Svm, VmexitLeavesTheGuestsLoadSaveStateForTheHypervisor) {
  SvmUnit svm;
  Vmcb guest = passing_vmcb(), host_area;
  CpuState cpu;
  cpu.gs.base = 0xffff888100000000;  // the host's per-CPU area
  cpu.msrs.lstar = 0xffffffff82000000;
  cpu.cr3 = 0x9000;
  svm.vmsave(host_area, cpu);
  guest.set<std::uint64_t>(vmcb::kGs + vmcb::kSegmentBase, 0xffff88807fc00000);
  guest.set<std::uint64_t>(vmcb::kLstar, 0xffffffff81e00000);
  svm.clgi();
  svm.vmload(guest, cpu);
  ASSERT_TRUE(svm.vmrun(guest, cpu, 0x1500));
  EXPECT_EQ(cpu.gs.base, 0xffff88807fc00000u);
  cpu.gs.base = 0xffff88807fd00000;  // the guest's SWAPGS / WRGSBASE changed it
  ExitDecision d;
  d.exits = true;
  d.mode = VirtMode::Svm;
  d.code = svm_exit::kCpuid;
  svm.vmexit(guest, d, cpu);
  EXPECT_EQ(cpu.cr3, 0x9000u);                    // #VMEXIT restored the host's CR3 ...
  EXPECT_EQ(cpu.gs.base, 0xffff88807fd00000u);    // ... but not its GS base
  EXPECT_EQ(cpu.msrs.lstar, 0xffffffff81e00000u);
  EXPECT_FALSE(svm.global_interrupts());
  svm.vmsave(guest, cpu);
  svm.vmload(host_area, cpu);
  svm.stgi();
  EXPECT_EQ(cpu.gs.base, 0xffff888100000000u);
  EXPECT_EQ(cpu.msrs.lstar, 0xffffffff82000000u);
  EXPECT_EQ(guest.get<std::uint64_t>(vmcb::kGs + vmcb::kSegmentBase), 0xffff88807fd00000u);  // kept for the next run
  EXPECT_TRUE(svm.global_interrupts());
  EXPECT_EQ(svm.clgis, 1u);
  EXPECT_EQ(svm.stgis, 1u);
}

// The AMD-V mode switch runs KVM's sequence (svm_vcpu_run, __svm_vcpu_run): the host's VMSAVE
// before the first entry and after each return to user space, CLGI, VMLOAD, VMRUN; after
// #VMEXIT VMSAVE, VMLOAD of the host's, STGI.
TEST(ModeSwitch, AmdVRunsKvmsWorldSwitchAroundVmrun) {
  auto ms = make_mode_switch(VirtMode::Svm);
  ms->configure(VirtualizationControls{});
  CpuState cpu;
  cpu.gs.base = 0xffff888100000000;
  auto counts = [&] {
    const WorldSwitchCounts c = ms->world_switch();
    return std::vector<std::uint64_t>{c.vmloads, c.vmsaves, c.clgis, c.stgis};
  };
  ASSERT_TRUE(ms->enter_guest(cpu));
  EXPECT_EQ(counts(), (std::vector<std::uint64_t>{1, 1, 1, 0}));
  EXPECT_NE(cpu.gs.base, 0xffff888100000000u);  // the guest's GS base, from the VMCB
  ExitDecision d = ms->decide(instr(Instruction::Cpuid));
  ms->exit_to_host(d, cpu);
  EXPECT_EQ(cpu.gs.base, 0xffff888100000000u);
  EXPECT_EQ(counts(), (std::vector<std::uint64_t>{2, 2, 1, 1}));
  ASSERT_TRUE(ms->enter_guest(cpu));  // the host state is still saved: no VMSAVE of it
  EXPECT_EQ(counts(), (std::vector<std::uint64_t>{3, 2, 2, 1}));
  ms->exit_to_host(d, cpu);
  ms->return_to_user_space();
  ASSERT_TRUE(ms->enter_guest(cpu));
  EXPECT_EQ(counts(), (std::vector<std::uint64_t>{5, 4, 3, 2}));
  EXPECT_EQ(make_mode_switch(VirtMode::Vmx)->world_switch().vmloads, 0u);
}

// A failed entry says why through either flavour: VT-x a VMfailValid (a control-field check),
// AMD-V VMEXIT_INVALID with the failed check's name.
TEST(ModeSwitch, AFailedEntryNamesItsCheck) {
  auto vmx = make_mode_switch(VirtMode::Vmx);
  VirtualizationControls c;
  c.ple_window = 0;  // PAUSE-loop exiting with a zero window: an invalid control field
  vmx->configure(c);
  CpuState cpu;
  EXPECT_FALSE(vmx->enter_guest(cpu));
  EXPECT_EQ(vmx->entry_failure(), "VMfailValid, VM-instruction error 7");
  auto svm = make_mode_switch(VirtMode::Svm);
  svm->configure(VirtualizationControls{});
  ASSERT_TRUE(svm->enter_guest(cpu));
  EXPECT_TRUE(svm->entry_failure().empty());
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
