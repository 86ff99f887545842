// SKINIT and the DEV together: a device can write into the Secure Loader Block until SKINIT,
// and is refused (and counted) from then on; an intercepted SKINIT protects nothing.
#include <gtest/gtest.h>

#include "flat_memory.h"
#include "virtsim/io/dma_engine.h"
#include "virtsim/vmx/skinit.h"

namespace virtsim {
namespace {

using testing_support::FlatMemory;
using testing_support::pattern;
namespace D = dma_descriptor;

constexpr Addr kRing = 0x1000, kSlb = 0x100000, kSource = 0x200000;

struct Machine {
  FlatMemory port;
  DeviceExclusionVector dev{Scope{}, port};
  DmaEngine engine{Scope{}, port, dev};
  SkinitUnit skinit{Scope{}, 2.0,
                    [this](Addr a) {
                      unsigned char b = 0;
                      port.memory.read(a, &b, 1);
                      return std::uint8_t(b);
                    },
                    [this](Addr slb) { dev.protect_secure_loader(slb); }};
  SvmUnit svm;
  CpuState cpu;
  unsigned next = 0;
  Machine() {
    engine.set_ring(kRing, 16);
    cpu.efer |= 1u << 12;
    port.put(kSlb, {0x04, 0x00, 0x00, 0x10});  // entry at +4, a 4 KiB image
    port.put(kSource, pattern(4096, 9));
  }
  // One descriptor: 4 KiB from kSource to `destination`; its final status.
  std::uint32_t dma_to(Addr destination) {
    const Addr at = kRing + Addr{next++} * D::kBytes;
    port.put_descriptor(at, kSource, destination, 4096);
    engine.restart();
    engine.run();
    return port.read32(at + D::kControl);
  }
};

TEST(SkinitDev, DmaIntoTheSlbIsAllowedBeforeSkinitAndRefusedAfter) {
  Machine m;
  const Addr slb_page = kSlb + 0x8000;
  EXPECT_EQ(m.dma_to(slb_page), D::kDone);
  EXPECT_EQ(m.port.get(slb_page, 4096), pattern(4096, 9));  // byte-exact

  ASSERT_EQ(m.skinit.execute(std::uint32_t(kSlb), m.cpu, m.svm, {}).kind, SkinitOutcome::Kind::Launched);
  m.port.put(kSource, pattern(4096, 10));
  EXPECT_EQ(m.dma_to(slb_page), D::kDone | D::kError);
  EXPECT_EQ(m.port.get(slb_page, 4096), pattern(4096, 9));  // the old bytes: nothing written
  EXPECT_EQ(m.dev.refused.count(), 1u);
  EXPECT_EQ(m.dev.refused_secure_loader.count(), 1u);
  EXPECT_EQ(m.dev.read(DevFunction::ErrorAddressLo), slb_page);
  // Every page of the 64 KiB block, and only those.
  EXPECT_EQ(m.dma_to(kSlb), D::kDone | D::kError);
  EXPECT_EQ(m.dma_to(kSlb + 0xf000), D::kDone | D::kError);
  EXPECT_EQ(m.dma_to(kSlb + 0x10000), D::kDone);
  EXPECT_EQ(m.port.get(kSlb + 0x10000, 4096), pattern(4096, 10));
  EXPECT_EQ(m.dev.refused.count(), 3u);
  EXPECT_EQ(m.engine.descriptors_aborted.count(), 3u);
  EXPECT_EQ(m.engine.descriptors_completed.count(), 2u);
}

TEST(SkinitDev, AnInterceptedSkinitLeavesTheSlbOpen) {
  Machine m;
  Vmcb vmcb;
  vmcb.set<std::uint32_t>(vmcb::kInterceptVector4, svm_intercept::kVmrun | svm_intercept::kSkinit);
  SkinitContext guest;
  guest.guest_vmcb = &vmcb;
  const SkinitOutcome out = m.skinit.execute(std::uint32_t(kSlb), m.cpu, m.svm, guest);
  EXPECT_EQ(out.kind, SkinitOutcome::Kind::Intercepted);
  EXPECT_EQ(out.exit.code, svm_exit::kSkinit);
  EXPECT_FALSE(m.dev.secure_loader_protected());
  EXPECT_EQ(m.dma_to(kSlb + 0x8000), D::kDone);
  EXPECT_EQ(m.dev.refused.count(), 0u);
}

}  // namespace
}  // namespace virtsim
