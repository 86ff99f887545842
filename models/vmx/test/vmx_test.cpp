#include "virtsim/vmx/vmx.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "test_memory.h"

namespace virtsim {
namespace {

using Memory = testing_support::TestMemory;

constexpr Addr kVmxon = 0x10000, kVmcsA = 0x11000, kVmcsB = 0x12000;

// A VMCS whose controls, host state and guest state pass every entry check.
void write_valid_vmcs(VmxUnit& vmx) {
  auto w = [&](std::uint32_t e, std::uint64_t v) { ASSERT_TRUE(vmx.vmwrite(e, v).ok()) << std::hex << e; };
  w(vmcs::kHostCr0, 0x80000031);
  w(vmcs::kHostCr4, 0x2000);
  w(vmcs::kHostCsSelector, 0x10);
  w(vmcs::kHostTrSelector, 0x40);
  w(vmcs::kHostRip, 0xffffffff81000000);
  w(vmcs::kGuestCr0, 0x80000031);
  w(vmcs::kGuestCr4, 0x2000);
  w(vmcs::kGuestRflags, 0x2);
  w(vmcs::kGuestRip, 0x400000);
  w(vmcs::kVmcsLinkPointer, ~std::uint64_t{0});
}

struct VmxTest : ::testing::Test {
  Memory memory;
  VmxCapabilities caps;
  VmxUnit vmx{caps, memory.region_io()};
  CpuState cpu;
  void SetUp() override {
    memory.put_revision(kVmxon, caps.revision);
    memory.put_revision(kVmcsA, caps.revision);
    memory.put_revision(kVmcsB, caps.revision);
    ASSERT_TRUE(vmx.vmxon(kVmxon).ok());
  }
};

TEST_F(VmxTest, LaunchStateMachine) {
  ASSERT_TRUE(vmx.vmclear(kVmcsA).ok());
  ASSERT_TRUE(vmx.vmptrld(kVmcsA).ok());
  EXPECT_EQ(vmx.vmptrst(), kVmcsA);
  write_valid_vmcs(vmx);
  // VMRESUME of a clear VMCS fails with error 5, and the error lands in the VMCS.
  VmxResult r = vmx.vmresume(cpu);
  EXPECT_EQ(r.kind, VmxResult::Kind::FailValid);
  EXPECT_EQ(r.error, VmInstructionError::VmresumeNonLaunchedVmcs);
  std::uint64_t error = 0;
  ASSERT_TRUE(vmx.vmread(vmcs::kVmInstructionError, error).ok());
  EXPECT_EQ(error, 5u);
  // VMLAUNCH enters the guest and loads its state.
  ASSERT_TRUE(vmx.vmlaunch(cpu).ok());
  EXPECT_TRUE(vmx.in_guest());
  EXPECT_EQ(cpu.rip, 0x400000u);
  ExitDecision exit;
  exit.exits = true;
  exit.code = 10;
  exit.instruction_length = 2;
  vmx.vm_exit(exit, cpu);
  EXPECT_EQ(cpu.rip, 0xffffffff81000000u);  // host RIP
  // VMLAUNCH again: error 4 (VMCS not clear); VMRESUME works.
  EXPECT_EQ(vmx.vmlaunch(cpu).error, VmInstructionError::VmlaunchNonClearVmcs);
  EXPECT_TRUE(vmx.vmresume(cpu).ok());
  vmx.vm_exit(exit, cpu);
  // VMCLEAR makes it clear (and not current): VMRESUME has no current VMCS -> VMfailInvalid.
  ASSERT_TRUE(vmx.vmclear(kVmcsA).ok());
  EXPECT_EQ(vmx.vmresume(cpu).kind, VmxResult::Kind::FailInvalid);
  ASSERT_TRUE(vmx.vmptrld(kVmcsA).ok());
  EXPECT_EQ(vmx.vmresume(cpu).error, VmInstructionError::VmresumeNonLaunchedVmcs);
  // The fields survived the trip through memory.
  std::uint64_t rip = 0;
  ASSERT_TRUE(vmx.vmread(vmcs::kHostRip, rip).ok());
  EXPECT_EQ(rip, 0xffffffff81000000u);
  EXPECT_TRUE(vmx.vmlaunch(cpu).ok());
}

TEST_F(VmxTest, InstructionErrors) {
  // No current VMCS: VMfailInvalid.
  std::uint64_t value = 0;
  EXPECT_EQ(vmx.vmread(vmcs::kGuestRip, value).kind, VmxResult::Kind::FailInvalid);
  EXPECT_EQ(vmx.vmxon(kVmxon).kind, VmxResult::Kind::FailInvalid);  // error 15 needs a current VMCS
  ASSERT_TRUE(vmx.vmptrld(kVmcsA).ok());
  EXPECT_EQ(vmx.vmxon(kVmxon).error, VmInstructionError::VmxonInRoot);
  EXPECT_EQ(vmx.vmclear(0x11001).error, VmInstructionError::VmclearInvalidAddress);
  EXPECT_EQ(vmx.vmclear(kVmxon).error, VmInstructionError::VmclearVmxonPointer);
  EXPECT_EQ(vmx.vmptrld(0x13004).error, VmInstructionError::VmptrldInvalidAddress);
  EXPECT_EQ(vmx.vmptrld(kVmxon).error, VmInstructionError::VmptrldVmxonPointer);
  memory.put_revision(0x14000, caps.revision + 1);
  EXPECT_EQ(vmx.vmptrld(0x14000).error, VmInstructionError::VmptrldIncorrectRevision);
  EXPECT_EQ(vmx.vmread(0x1234, value).error, VmInstructionError::UnsupportedVmcsComponent);
  EXPECT_EQ(vmx.vmwrite(vmcs::kExitReason, 1).error, VmInstructionError::VmwriteReadOnlyComponent);
  EXPECT_EQ(vmx.vmcall_in_root().error, VmInstructionError::VmcallInRoot);
  EXPECT_EQ(vmx.invept(3, 0).error, VmInstructionError::InvalidInveptInvvpidOperand);
  EXPECT_EQ(vmx.invept(1, 0x1000 | 2 << 3 | 6).error, VmInstructionError::InvalidInveptInvvpidOperand);  // 3-level walk
  EXPECT_TRUE(vmx.invept(1, 0x1000 | 3 << 3 | 6).ok());
  EXPECT_EQ(vmx.invvpid(1, 0, 0).error, VmInstructionError::InvalidInveptInvvpidOperand);  // VPID 0
  EXPECT_EQ(vmx.invvpid(0, 1, 0x0000800000000000).error, VmInstructionError::InvalidInveptInvvpidOperand);
  EXPECT_TRUE(vmx.invvpid(2, 0, 0).ok());
  ASSERT_TRUE(vmx.vmread(vmcs::kVmInstructionError, value).ok());
  EXPECT_EQ(value, 28u);  // the last failure's number
}

TEST_F(VmxTest, FieldWidthsAndHighHalves) {
  ASSERT_TRUE(vmx.vmptrld(kVmcsA).ok());
  ASSERT_TRUE(vmx.vmwrite(vmcs::kVpid, 0x12345).ok());  // 16-bit: truncated
  ASSERT_TRUE(vmx.vmwrite(vmcs::kTscOffset, 0x1122334455667788).ok());
  ASSERT_TRUE(vmx.vmwrite(vmcs::kTscOffset | 1, 0xaabbccdd).ok());  // high half of a 64-bit field
  std::uint64_t v = 0;
  ASSERT_TRUE(vmx.vmread(vmcs::kVpid, v).ok());
  EXPECT_EQ(v, 0x2345u);
  ASSERT_TRUE(vmx.vmread(vmcs::kTscOffset, v).ok());
  EXPECT_EQ(v, 0xaabbccdd55667788u);
  EXPECT_EQ(vmx.vmread(vmcs::kGuestRip | 1, v).error, VmInstructionError::UnsupportedVmcsComponent);
  EXPECT_EQ(field_type(vmcs::kExitQualification), VmcsFieldType::ExitInformation);
  EXPECT_EQ(field_width(vmcs::kGuestCr0), VmcsFieldWidth::Natural);
}

TEST_F(VmxTest, EntryChecksFailAsTheManualSays) {
  ASSERT_TRUE(vmx.vmptrld(kVmcsA).ok());
  write_valid_vmcs(vmx);
  // Control fields: VPID enabled with VPID 0 -> VMfailValid(7).
  ASSERT_TRUE(vmx.vmwrite(vmcs::kPrimaryProcControls, proc::kActivateSecondaryControls).ok());
  ASSERT_TRUE(vmx.vmwrite(vmcs::kSecondaryProcControls, proc2::kEnableVpid).ok());
  EXPECT_EQ(vmx.vmlaunch(cpu).error, VmInstructionError::EntryInvalidControlFields);
  ASSERT_TRUE(vmx.vmwrite(vmcs::kVpid, 1).ok());
  // Host state: CR4.VMXE clear -> VMfailValid(8).
  ASSERT_TRUE(vmx.vmwrite(vmcs::kHostCr4, 0).ok());
  EXPECT_EQ(vmx.vmlaunch(cpu).error, VmInstructionError::EntryInvalidHostState);
  ASSERT_TRUE(vmx.vmwrite(vmcs::kHostCr4, 0x2000).ok());
  // Guest state: RFLAGS bit 1 clear -> entry failure, exit reason 33 with bit 31.
  ASSERT_TRUE(vmx.vmwrite(vmcs::kGuestRflags, 0).ok());
  VmxResult r = vmx.vmlaunch(cpu);
  EXPECT_EQ(r.kind, VmxResult::Kind::EntryFailure);
  EXPECT_EQ(r.exit_reason, 33u | 0x80000000u);
  std::uint64_t reason = 0;
  ASSERT_TRUE(vmx.vmread(vmcs::kExitReason, reason).ok());
  EXPECT_EQ(reason, 0x80000021u);
  EXPECT_FALSE(vmx.in_guest());
  ASSERT_TRUE(vmx.vmwrite(vmcs::kGuestRflags, 2).ok());
  // MSR loading: more entries than the processor supports -> reason 34, qualification = the entry.
  ASSERT_TRUE(vmx.vmwrite(vmcs::kEntryMsrLoadCount, caps.max_msr_list + 1).ok());
  r = vmx.vmlaunch(cpu);
  EXPECT_EQ(r.exit_reason, 34u | 0x80000000u);
  std::uint64_t q = 0;
  ASSERT_TRUE(vmx.vmread(vmcs::kExitQualification, q).ok());
  EXPECT_EQ(q, caps.max_msr_list + 1u);
  ASSERT_TRUE(vmx.vmwrite(vmcs::kEntryMsrLoadCount, 0).ok());
  // EPT with a bad EPTP -> controls; unrestricted guest without EPT -> controls.
  ASSERT_TRUE(vmx.vmwrite(vmcs::kSecondaryProcControls, proc2::kEnableVpid | proc2::kUnrestrictedGuest).ok());
  EXPECT_EQ(vmx.vmlaunch(cpu).error, VmInstructionError::EntryInvalidControlFields);
  ASSERT_TRUE(vmx.vmwrite(vmcs::kSecondaryProcControls, proc2::kEnableVpid | proc2::kEnableEpt).ok());
  ASSERT_TRUE(vmx.vmwrite(vmcs::kEptPointer, 0x5000 | 3 << 3 | 1).ok());  // memory type 1 is invalid
  EXPECT_EQ(vmx.vmlaunch(cpu).error, VmInstructionError::EntryInvalidControlFields);
  ASSERT_TRUE(vmx.vmwrite(vmcs::kEptPointer, 0x5000 | 3 << 3 | 6).ok());
  EXPECT_TRUE(vmx.vmlaunch(cpu).ok());
}

// ---- which events exit under which controls ----

struct ExitCase {
  const char* what;
  std::function<void(Vmcs&, Memory&)> configure;
  GuestOp op;
  bool exits;
  std::int64_t reason;
  std::uint64_t qualification;
};

GuestOp instr(Instruction i, InstructionOperands o = {}) {
  GuestOp op;
  op.instruction = i;
  op.operands = o;
  return op;
}
InstructionOperands io(std::uint32_t port, std::uint8_t size) {
  InstructionOperands o;
  o.port = port;
  o.size = size;
  return o;
}
InstructionOperands val(std::uint64_t v, std::uint8_t gpr = 0) {
  InstructionOperands o;
  o.value = v;
  o.gpr = gpr;
  return o;
}
InstructionOperands msr(std::uint32_t m) {
  InstructionOperands o;
  o.msr = m;
  return o;
}
void primary(Vmcs& v, std::uint32_t bits) { v.set(vmcs::kPrimaryProcControls, v.get(vmcs::kPrimaryProcControls) | bits); }
void secondary(Vmcs& v, std::uint32_t bits) {
  primary(v, proc::kActivateSecondaryControls);
  v.set(vmcs::kSecondaryProcControls, v.get(vmcs::kSecondaryProcControls) | bits);
}
auto nothing = [](Vmcs&, Memory&) {};
auto with = [](std::uint32_t bits) { return [bits](Vmcs& v, Memory&) { primary(v, bits); }; };
auto with2 = [](std::uint32_t bits) { return [bits](Vmcs& v, Memory&) { secondary(v, bits); }; };

TEST(VmxExitDecision, EventsExitUnderTheirControls) {
  constexpr Addr kIoA = 0x20000, kIoB = 0x21000, kMsr = 0x22000;
  const std::vector<ExitCase> cases{
      {"CPUID always", nothing, instr(Instruction::Cpuid), true, 10, 0},
      {"VMCALL always", nothing, instr(Instruction::Vmcall), true, 18, 0},
      {"XSETBV always", nothing, instr(Instruction::Xsetbv), true, 55, 0},
      {"INVD always", nothing, instr(Instruction::Invd), true, 13, 0},
      {"HLT without HLT exiting", nothing, instr(Instruction::Hlt), false, 0, 0},
      {"HLT with HLT exiting", with(proc::kHltExiting), instr(Instruction::Hlt), true, 12, 0},
      {"INVLPG exiting: qualification is the address", with(proc::kInvlpgExiting),
       instr(Instruction::Invlpg, [] { InstructionOperands o; o.address = 0x7f001000; return o; }()), true, 14,
       0x7f001000},
      {"RDTSC without exiting", nothing, instr(Instruction::Rdtsc), false, 0, 0},
      {"RDTSC exiting", with(proc::kRdtscExiting), instr(Instruction::Rdtsc), true, 16, 0},
      {"RDTSCP needs enable RDTSCP and RDTSC exiting",
       [](Vmcs& v, Memory&) { primary(v, proc::kRdtscExiting); secondary(v, proc2::kEnableRdtscp); },
       instr(Instruction::Rdtscp), true, 51, 0},
      {"RDPMC exiting", with(proc::kRdpmcExiting), instr(Instruction::Rdpmc), true, 15, 0},
      {"MOV to CR3, exiting, no targets", with(proc::kCr3LoadExiting), instr(Instruction::MovToCr3, val(0x5000, 3)),
       true, 28, 3 | (3 << 8)},
      {"MOV to CR3 matching a CR3-target value",
       [](Vmcs& v, Memory&) { primary(v, proc::kCr3LoadExiting); v.set(vmcs::kCr3TargetCount, 2); v.set(vmcs::kCr3Target1, 0x5000); },
       instr(Instruction::MovToCr3, val(0x5000)), false, 0, 0},
      {"MOV from CR3, store exiting", with(proc::kCr3StoreExiting), instr(Instruction::MovFromCr3, val(0, 1)), true,
       28, 3 | (1 << 4) | (1 << 8)},
      {"MOV to CR8, load exiting", with(proc::kCr8LoadExiting), instr(Instruction::MovToCr8, val(2)), true, 28, 8},
      {"MOV to CR8, TPR shadow, above threshold",
       [](Vmcs& v, Memory&) { primary(v, proc::kUseTprShadow); v.set(vmcs::kTprThreshold, 4); },
       instr(Instruction::MovToCr8, val(6)), false, 0, 0},
      {"MOV to CR8, TPR shadow, below threshold",
       [](Vmcs& v, Memory&) { primary(v, proc::kUseTprShadow); v.set(vmcs::kTprThreshold, 4); },
       instr(Instruction::MovToCr8, val(2)), true, 43, 0},
      {"MOV to CR0 changing a host-owned bit",
       [](Vmcs& v, Memory&) { v.set(vmcs::kCr0GuestHostMask, 0x80000000); v.set(vmcs::kCr0ReadShadow, 0x80000031); },
       instr(Instruction::MovToCr0, val(0x31, 2)), true, 28, 0 | (2 << 8)},
      {"MOV to CR0 changing only guest-owned bits",
       [](Vmcs& v, Memory&) { v.set(vmcs::kCr0GuestHostMask, 0x80000000); v.set(vmcs::kCr0ReadShadow, 0x80000031); },
       instr(Instruction::MovToCr0, val(0x80000033)), false, 0, 0},
      {"CLTS with TS host-owned and set in the shadow",
       [](Vmcs& v, Memory&) { v.set(vmcs::kCr0GuestHostMask, 8); v.set(vmcs::kCr0ReadShadow, 8); },
       instr(Instruction::Clts), true, 28, 2 << 4},
      {"MOV DR without exiting", nothing, instr(Instruction::MovToDr), false, 0, 0},
      {"MOV from DR7 into RBX", with(proc::kMovDrExiting),
       instr(Instruction::MovFromDr, [] { InstructionOperands o; o.debug_register = 7; o.gpr = 3; return o; }()), true,
       29, 7 | 0x10 | (3 << 8)},
      {"OUT without I/O exiting", nothing, instr(Instruction::Out, io(0x80, 1)), false, 0, 0},
      {"OUT with unconditional I/O exiting", with(proc::kUnconditionalIoExiting),
       instr(Instruction::Out, io(0x3f8, 1)), true, 30, std::uint64_t{0x3f8} << 16},
      {"IN dword, bitmap bit set for the third byte",
       [](Vmcs& v, Memory& m) { primary(v, proc::kUseIoBitmaps); v.set(vmcs::kIoBitmapA, kIoA); v.set(vmcs::kIoBitmapB, kIoB); m.set_bit(kIoA, 0x72); },
       instr(Instruction::In, io(0x70, 4)), true, 30, 3 | 8 | (std::uint64_t{0x70} << 16)},
      {"IN from a port whose bit is clear",
       [](Vmcs& v, Memory& m) { primary(v, proc::kUseIoBitmaps | proc::kUnconditionalIoExiting); v.set(vmcs::kIoBitmapA, kIoA); v.set(vmcs::kIoBitmapB, kIoB); m.set_bit(kIoA, 0x72); },
       instr(Instruction::In, io(0x60, 1)), false, 0, 0},
      {"OUT to a high port uses bitmap B",
       [](Vmcs& v, Memory& m) { primary(v, proc::kUseIoBitmaps); v.set(vmcs::kIoBitmapA, kIoA); v.set(vmcs::kIoBitmapB, kIoB); m.set_bit(kIoB, 0); },
       instr(Instruction::Out, io(0x8000, 2)), true, 30, 1 | (std::uint64_t{0x8000} << 16)},
      {"RDMSR without MSR bitmaps", nothing, instr(Instruction::Rdmsr, msr(0x10)), true, 31, 0},
      {"RDMSR, bitmap clear", [](Vmcs& v, Memory&) { primary(v, proc::kUseMsrBitmaps); v.set(vmcs::kMsrBitmap, kMsr); },
       instr(Instruction::Rdmsr, msr(0x10)), false, 0, 0},
      {"WRMSR of a high MSR, write-high bit set",
       [](Vmcs& v, Memory& m) { primary(v, proc::kUseMsrBitmaps); v.set(vmcs::kMsrBitmap, kMsr); m.set_bit(kMsr + 3072, 0x80); },
       instr(Instruction::Wrmsr, msr(0xc0000080)), true, 32, 0},
      {"RDMSR of the same MSR: read-high bit clear",
       [](Vmcs& v, Memory& m) { primary(v, proc::kUseMsrBitmaps); v.set(vmcs::kMsrBitmap, kMsr); m.set_bit(kMsr + 3072, 0x80); },
       instr(Instruction::Rdmsr, msr(0xc0000080)), false, 0, 0},
      {"RDMSR outside both ranges always exits",
       [](Vmcs& v, Memory&) { primary(v, proc::kUseMsrBitmaps); v.set(vmcs::kMsrBitmap, kMsr); },
       instr(Instruction::Rdmsr, msr(0x40000000)), true, 31, 0},
      {"PAUSE exiting", with(proc::kPauseExiting), instr(Instruction::Pause), true, 40, 0},
      {"WBINVD exiting", with2(proc2::kWbinvdExiting), instr(Instruction::Wbinvd), true, 54, 0},
      {"RDRAND exiting", with2(proc2::kRdrandExiting), instr(Instruction::Rdrand), true, 57, 0},
      {"RDSEED exiting", with2(proc2::kRdseedExiting), instr(Instruction::Rdseed), true, 61, 0},
      {"INVPCID with INVLPG exiting but INVPCID disabled (#UD, no exit)", with(proc::kInvlpgExiting),
       instr(Instruction::Invpcid), false, 0, 0},
      {"INVPCID enabled with INVLPG exiting",
       [](Vmcs& v, Memory&) { primary(v, proc::kInvlpgExiting); secondary(v, proc2::kEnableInvpcid); },
       instr(Instruction::Invpcid), true, 58, 0},
      {"SGDT with descriptor-table exiting", with2(proc2::kDescriptorTableExiting), instr(Instruction::Sgdt), true,
       46, 0},
      {"LTR with descriptor-table exiting", with2(proc2::kDescriptorTableExiting), instr(Instruction::Ltr), true, 47,
       0},
      {"SGDT without it (a hole without VT-x, harmless with it)", nothing, instr(Instruction::Sgdt), false, 0, 0},
      {"POPF never exits", with(0xffffffffu), instr(Instruction::Popf), false, 0, 0},
      {"MONITOR exiting", with(proc::kMonitorExiting), instr(Instruction::Monitor), true, 39, 0},
      {"MWAIT exiting", with(proc::kMwaitExiting), instr(Instruction::Mwait), true, 36, 0},
  };
  for (const auto& c : cases) {
    Vmcs v(4);
    Memory m;
    c.configure(v, m);
    PauseLoopState pause;
    const ExitDecision d = vmx_decide_exit(v, c.op, [&m](Addr a) { return m.read(a); }, pause);
    EXPECT_EQ(d.exits, c.exits) << c.what;
    if (!c.exits) continue;
    EXPECT_EQ(d.code, c.reason) << c.what;
    EXPECT_EQ(d.qualification, c.qualification) << c.what;
    EXPECT_EQ(d.mode, VirtMode::Vmx);
  }
}

TEST(VmxExitDecision, ExceptionBitmapAndPageFaultFilter) {
  Vmcs v(4);
  PauseLoopState pause;
  auto none = [](Addr) -> std::uint8_t { return 0; };
  GuestOp pf;
  pf.kind = GuestOp::Kind::Exception;
  pf.vector = 14;
  pf.error_code = 0x2;  // a write to a not-present page
  EXPECT_FALSE(vmx_decide_exit(v, pf, none, pause).exits);
  v.set(vmcs::kExceptionBitmap, 1u << 14);
  EXPECT_TRUE(vmx_decide_exit(v, pf, none, pause).exits);  // mask 0 == match 0: exits
  v.set(vmcs::kPageFaultErrorMask, 0x1);
  v.set(vmcs::kPageFaultErrorMatch, 0x1);  // only protection faults exit
  EXPECT_FALSE(vmx_decide_exit(v, pf, none, pause).exits);
  v.set(vmcs::kExceptionBitmap, 0);  // bit clear: the filter selects the ones that do NOT match
  EXPECT_TRUE(vmx_decide_exit(v, pf, none, pause).exits);
  GuestOp ud;
  ud.kind = GuestOp::Kind::Exception;
  ud.vector = 6;
  EXPECT_FALSE(vmx_decide_exit(v, ud, none, pause).exits);
  v.set(vmcs::kExceptionBitmap, 1u << 6);
  EXPECT_EQ(vmx_decide_exit(v, ud, none, pause).code, 0);
}

TEST(VmxExitDecision, PauseLoopExitingCountsTheLoop) {
  Vmcs v(4);
  secondary(v, proc2::kPauseLoopExiting);
  v.set(vmcs::kPleGap, 128);
  v.set(vmcs::kPleWindow, 4096);
  PauseLoopState pause;
  auto none = [](Addr) -> std::uint8_t { return 0; };
  GuestOp op = instr(Instruction::Pause);
  int exits = 0, pauses = 0;
  for (Cycles t = 0; t < 20000; t += 100, ++pauses) {  // PAUSEs 100 cycles apart: one loop
    op.now = t;
    exits += vmx_decide_exit(v, op, none, pause).exits;
  }
  EXPECT_GE(exits, 4);  // about every 4096 cycles
  EXPECT_LE(exits, 5);
  // PAUSEs farther apart than the gap never form a loop.
  PauseLoopState sparse;
  exits = 0;
  for (Cycles t = 0; t < 100000; t += 1000) {
    op.now = t;
    exits += vmx_decide_exit(v, op, none, sparse).exits;
  }
  EXPECT_EQ(exits, 0);
  op.cpl = 3;  // only CPL 0 PAUSE loops count
  PauseLoopState user;
  for (Cycles t = 0; t < 20000; t += 100) {
    op.now = t;
    EXPECT_FALSE(vmx_decide_exit(v, op, none, user).exits);
  }
}

TEST(VmxExitDecision, NestedPagingAndTimerEvents) {
  Vmcs v(4);
  PauseLoopState pause;
  auto none = [](Addr) -> std::uint8_t { return 0; };
  GuestOp ept;
  ept.kind = GuestOp::Kind::EptViolation;
  ept.qualification = 0x182;
  ept.guest_physical_address = 0x1234000;
  const ExitDecision d = vmx_decide_exit(v, ept, none, pause);
  EXPECT_EQ(d.code, 48);
  EXPECT_EQ(d.qualification, 0x182u);
  EXPECT_EQ(d.info2, 0x1234000u);
  GuestOp timer;
  timer.kind = GuestOp::Kind::PreemptionTimer;
  EXPECT_FALSE(vmx_decide_exit(v, timer, none, pause).exits);
  v.set(vmcs::kPinBasedControls, pin::kPreemptionTimer);
  EXPECT_EQ(vmx_decide_exit(v, timer, none, pause).code, 52);
  GuestOp interrupt;
  interrupt.kind = GuestOp::Kind::ExternalInterrupt;
  EXPECT_FALSE(vmx_decide_exit(v, interrupt, none, pause).exits);
  v.set(vmcs::kPinBasedControls, pin::kExternalInterruptExiting);
  EXPECT_EQ(vmx_decide_exit(v, interrupt, none, pause).code, 1);
}

TEST_F(VmxTest, ExitInformationIsRecordedInTheVmcs) {
  ASSERT_TRUE(vmx.vmptrld(kVmcsA).ok());
  write_valid_vmcs(vmx);
  ASSERT_TRUE(vmx.vmlaunch(cpu).ok());
  cpu.rip = 0x401234;
  ExitDecision d;
  d.exits = true;
  d.code = 30;
  d.qualification = (std::uint64_t{0x3f8} << 16) | 8;
  d.instruction_length = 1;
  const auto writes = vmx.field_writes;
  vmx.vm_exit(d, cpu);
  EXPECT_GT(vmx.field_writes, writes);
  std::uint64_t reason = 0, q = 0, length = 0, rip = 0;
  ASSERT_TRUE(vmx.vmread(vmcs::kExitReason, reason).ok());
  ASSERT_TRUE(vmx.vmread(vmcs::kExitQualification, q).ok());
  ASSERT_TRUE(vmx.vmread(vmcs::kExitInstructionLength, length).ok());
  ASSERT_TRUE(vmx.vmread(vmcs::kGuestRip, rip).ok());
  EXPECT_EQ(reason, 30u);
  EXPECT_EQ(q, d.qualification);
  EXPECT_EQ(length, 1u);
  EXPECT_EQ(rip, 0x401234u);  // guest state saved
}

}  // namespace
}  // namespace virtsim
