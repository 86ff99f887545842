// SKINIT on its own: the faults it checks first, the intercept a hypervisor sets, and the
// launch (state reinitialised, SLB protected before it is read, image measured, cost).
#include "virtsim/vmx/skinit.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_memory.h"

namespace virtsim {
namespace {

constexpr Addr kSlb = 0x230000;

struct Launcher {
  testing_support::TestMemory memory;
  std::vector<Addr> protected_slbs;
  SkinitUnit unit{Scope{}, 2.0, memory.reader(), [this](Addr slb) { protected_slbs.push_back(slb); }};
  SvmUnit svm;
  CpuState cpu;
  Launcher() {
    cpu.efer |= 1u << 12;  // EFER.SVME
    memory.write(kSlb + 0, 0x10);  // entry point offset 0x0010
    memory.write(kSlb + 2, 0x00);  // image length 0x0100
    memory.write(kSlb + 3, 0x01);
    for (unsigned i = 4; i < 0x100; ++i) memory.write(kSlb + i, std::uint8_t(i * 7));
  }
};

TEST(Skinit, LaunchReinitialisesTheProcessorAndProtectsTheSlb) {
  Launcher l;
  SkinitContext context;
  context.family_model_stepping = 0x00100f42;
  const SkinitOutcome out = l.unit.execute(std::uint32_t(kSlb + 0x1234), l.cpu, l.svm, context);  // low bits ignored
  ASSERT_EQ(out.kind, SkinitOutcome::Kind::Launched);
  EXPECT_EQ(l.protected_slbs, std::vector<Addr>{kSlb});
  EXPECT_EQ(l.cpu.rip, kSlb + 0x10);
  EXPECT_EQ(l.cpu.rsp, kSlb + 0x10000);  // top of the 64 KiB block
  EXPECT_EQ(l.cpu.cr0, 0x11u);            // PE (and ET): protected mode, no paging
  EXPECT_EQ(l.cpu.cr4, 0u);
  EXPECT_EQ(l.cpu.efer, 0u);              // long mode off
  EXPECT_EQ(l.cpu.rflags, 0x2u);          // IF clear
  EXPECT_FALSE(l.svm.global_interrupts());
  EXPECT_EQ(out.eax, kSlb);
  EXPECT_EQ(out.edx, 0x00100f42u);
  EXPECT_EQ(out.image_bytes, 0x100);
  // Cost: reinitialisation, then 256 bytes x 17 LPC clocks at 33 MHz at a 2 GHz core.
  EXPECT_EQ(out.cycles, 2000u + 263758u);
  EXPECT_EQ(l.unit.launches.count(), 1u);
  EXPECT_EQ(l.unit.bytes_measured.count(), 0x100u);
  EXPECT_EQ(l.unit.cycles_spent.count(), out.cycles);
}

TEST(Skinit, MeasurementFollowsEveryByteOfTheImageAndOnlyThem) {
  Launcher a, b, c;
  b.memory.write(kSlb + 0xff, 0x5a);   // inside the image
  c.memory.write(kSlb + 0x100, 0x5a);  // past its length: not measured
  CpuState ca = a.cpu, cb = b.cpu, cc = c.cpu;
  const auto da = a.unit.execute(kSlb, ca, a.svm, {}).image_digest;
  EXPECT_NE(b.unit.execute(kSlb, cb, b.svm, {}).image_digest, da);
  EXPECT_EQ(c.unit.execute(kSlb, cc, c.svm, {}).image_digest, da);
}

TEST(Skinit, InterceptedUnderAHypervisorIsAnExitWithCode0x86) {
  Launcher l;
  Vmcb vmcb;
  vmcb.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun | svm_intercept::kSkinit);
  SkinitContext guest;
  guest.guest_vmcb = &vmcb;
  const CpuState before = l.cpu;
  const SkinitOutcome out = l.unit.execute(kSlb, l.cpu, l.svm, guest);
  ASSERT_EQ(out.kind, SkinitOutcome::Kind::Intercepted);
  EXPECT_TRUE(out.exit.exits);
  EXPECT_EQ(out.exit.code, 0x086);
  EXPECT_EQ(out.exit.name(), "SKINIT");
  EXPECT_TRUE(l.protected_slbs.empty());  // nothing happened to the machine
  EXPECT_EQ(l.cpu.rip, before.rip);
  EXPECT_EQ(l.unit.intercepts.count(), 1u);
  EXPECT_EQ(l.unit.launches.count(), 0u);
  // #VMEXIT writes the code into the VMCB for the hypervisor.
  l.svm.vmexit(vmcb, out.exit, l.cpu);
  EXPECT_EQ(vmcb.get<std::int64_t>(vmcb::kExitCode), 0x086);
  // Without the intercept bit, the guest's SKINIT launches.
  vmcb.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun);
  CpuState cpu = before;
  EXPECT_EQ(l.unit.execute(kSlb, cpu, l.svm, guest).kind, SkinitOutcome::Kind::Launched);
}

TEST(Skinit, FaultsComeBeforeTheIntercept) {
  Launcher l;
  Vmcb vmcb;
  vmcb.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kSkinit);
  SkinitContext user;
  user.cpl = 3;
  user.guest_vmcb = &vmcb;
  EXPECT_EQ(l.unit.execute(kSlb, l.cpu, l.svm, user).kind, SkinitOutcome::Kind::GeneralProtection);
  SkinitContext no_svm;
  no_svm.cpuid_skinit = false;
  CpuState off = l.cpu;
  off.efer &= ~std::uint64_t{1u << 12};
  EXPECT_EQ(l.unit.execute(kSlb, off, l.svm, no_svm).kind, SkinitOutcome::Kind::InvalidOpcode);
  // With EFER.SVME clear, CPUID's SKINIT bit alone enables the instruction.
  EXPECT_EQ(l.unit.execute(kSlb, off, l.svm, {}).kind, SkinitOutcome::Kind::Launched);
  EXPECT_EQ(l.unit.faults.count(), 2u);
  EXPECT_TRUE(l.protected_slbs.size() == 1);
}

}  // namespace
}  // namespace virtsim
