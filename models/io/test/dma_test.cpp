// The DMA engine and the Device Exclusion Vector: copies through the memory port byte-exact
// and timed by it, every burst checked by the DEV; a refused burst aborts its descriptor.
#include "virtsim/io/dma_engine.h"

#include <gtest/gtest.h>

#include "flat_memory.h"
#include "virtsim/io/dma_module.h"
#include "virtsim/memory/memory_module.h"

namespace virtsim {
namespace {

using testing_support::FlatMemory;
using testing_support::pattern;
namespace D = dma_descriptor;

constexpr Addr kRing = 0x1000, kBitmap = 0x8000;

struct Rig {
  FlatMemory port;
  DeviceExclusionVector dev{Scope{}, port};
  DmaEngine engine{Scope{}, port, dev};
  Rig() { engine.set_ring(kRing, 8); }
  // The DEV table at kBitmap, enabled, with `pages` marked.
  void protect_pages(std::initializer_list<Addr> pages) {
    for (Addr page : pages) {
      unsigned char byte = port.get(kBitmap + (page >> 12) / 8, 1)[0];
      byte |= 1u << ((page >> 12) % 8);
      port.put(kBitmap + (page >> 12) / 8, {byte});
    }
    dev.write(DevFunction::BaseLo, std::uint32_t(kBitmap) | dev_base::kValid);
    dev.write(DevFunction::Control, dev_control::kEnable);
  }
};

TEST(DmaEngine, CopiesByteExactAcrossPagesAndWritesBackItsStatus) {
  Rig r;
  const auto data = pattern(10000, 1);
  r.port.put(0x10123, data);  // unaligned source and destination, several pages each
  r.port.put_descriptor(kRing, 0x10123, 0x40ff0, 10000);
  const std::uint64_t before = r.port.accesses;
  const Cycles cycles = r.engine.run();
  EXPECT_EQ(r.port.get(0x40ff0, 10000), data);
  EXPECT_EQ(r.port.get(0x40ff0 + 10000, 1)[0], 0);  // nothing past the length
  EXPECT_EQ(r.port.read32(kRing + D::kControl), D::kDone);  // OWN cleared, no ERROR
  EXPECT_EQ(r.port.read32(kRing + D::kTransferred), 10000u);
  EXPECT_EQ(r.engine.descriptors_completed.count(), 1u);
  EXPECT_EQ(r.engine.bytes_copied.count(), 10000u);
  // Time is the memory port's: two descriptor reads (this one and the next, not owned), one
  // read and one write per burst, two write-backs; the DEV is off and reads nothing.
  const std::uint64_t accesses = r.port.accesses - before;
  EXPECT_EQ(accesses, 2 + 2 * r.engine.bursts.count() + 2);
  EXPECT_EQ(cycles, accesses * FlatMemory::kLatency);
  EXPECT_EQ(r.engine.cycles_busy.count(), cycles);
  EXPECT_EQ(r.engine.head(), 1u);
  EXPECT_EQ(r.dev.checks.count(), 2 * r.engine.bursts.count());  // every burst, both sides
}

TEST(DmaEngine, BurstsNeverCrossAPage) {
  Rig r;
  r.port.put(0x20000, pattern(4096, 2));
  r.port.put_descriptor(kRing, 0x20000, 0x30020, 4096);  // destination 32 bytes into a page
  r.engine.run();
  // 64-byte bursts: the destination's page end splits one burst in two.
  EXPECT_EQ(r.engine.bursts.count(), 65u);
  EXPECT_EQ(r.port.get(0x30020, 4096), pattern(4096, 2));
}

TEST(DmaEngine, AnAddressOutsideMemoryAbortsAndTheRingWraps) {
  Rig r;
  r.engine.set_ring(kRing, 2);
  r.port.put(0x10000, pattern(128, 6));
  r.port.put_descriptor(kRing, 0x10000, 0x20000, 128);
  r.port.put_descriptor(kRing + D::kBytes, 0x10000, r.port.memory.size() - 64, 128);  // runs off the end
  r.engine.run();
  EXPECT_EQ(r.port.read32(kRing + D::kControl), D::kDone);
  EXPECT_EQ(r.port.read32(kRing + D::kBytes + D::kControl), D::kDone | D::kError);
  EXPECT_EQ(r.port.read32(kRing + D::kBytes + D::kTransferred), 64u);  // the burst that fit
  EXPECT_EQ(r.engine.descriptors_aborted.count(), 1u);
  EXPECT_EQ(r.dev.refused.count(), 0u);  // not the DEV's refusal
  EXPECT_EQ(r.engine.head(), 0u);        // past the last entry: back to the first
  r.port.put_descriptor(kRing, 0x10000, 0x30000, 128);
  r.engine.restart();
  r.engine.run();
  EXPECT_EQ(r.port.get(0x30000, 128), pattern(128, 6));
}

TEST(DeviceExclusionVector, ABitmapOutsideMemoryFailsClosed) {
  Rig r;
  r.dev.write(DevFunction::BaseHi, 1);  // the bitmap at 4 GiB + kBitmap: past the 16 MiB of memory
  r.dev.write(DevFunction::BaseLo, std::uint32_t(kBitmap) | dev_base::kValid);
  r.dev.write(DevFunction::Control, dev_control::kEnable);
  EXPECT_EQ(r.dev.bitmap_base(), (Addr{1} << 32) + kBitmap);
  EXPECT_FALSE(r.dev.check(0x10000, false).allowed);
  EXPECT_EQ(r.dev.refused.count(), 1u);
}

TEST(DeviceExclusionVector, RefusesAWriteIntoAProtectedPageAndTheDescriptorAborts) {
  Rig r;
  r.protect_pages({0x42000});
  const auto data = pattern(3 * 4096, 3);
  r.port.put(0x10000, data);
  r.port.put_descriptor(kRing, 0x10000, 0x41000, 3 * 4096);  // the second destination page is protected
  r.port.put_descriptor(kRing + D::kBytes, 0x10000, 0x60000, 64);
  r.engine.run();
  EXPECT_EQ(r.port.read32(kRing + D::kControl), D::kDone | D::kError);
  EXPECT_EQ(r.port.read32(kRing + D::kTransferred), 4096u);  // the first page made it
  EXPECT_EQ(r.port.get(0x41000, 4096), std::vector<unsigned char>(data.begin(), data.begin() + 4096));
  EXPECT_EQ(r.port.get(0x42000, 4096), std::vector<unsigned char>(4096, 0));  // protected: untouched
  EXPECT_EQ(r.dev.refused.count(), 1u);
  EXPECT_EQ(r.dev.refused_secure_loader.count(), 0u);
  EXPECT_EQ(r.engine.descriptors_aborted.count(), 1u);
  EXPECT_EQ(r.dev.read(DevFunction::ErrorStatus), 3u);  // logged, a write
  EXPECT_EQ(r.dev.read(DevFunction::ErrorAddressLo), 0x42000u);
  // The engine halts on the error: the next descriptor waits for a restart.
  EXPECT_TRUE(r.engine.halted());
  EXPECT_EQ(r.port.read32(kRing + D::kBytes + D::kControl), D::kOwn);
  r.engine.restart();
  r.engine.run();
  EXPECT_EQ(r.port.read32(kRing + D::kBytes + D::kControl), D::kDone);
  EXPECT_EQ(r.engine.descriptors_completed.count(), 1u);
}

TEST(DeviceExclusionVector, RefusesReadsOfAProtectedPageToo) {
  Rig r;
  r.protect_pages({0x10000});
  r.port.put(0x10000, pattern(64, 4));
  r.port.put_descriptor(kRing, 0x10000, 0x50000, 64);
  r.engine.run();
  EXPECT_EQ(r.port.read32(kRing + D::kControl), D::kDone | D::kError);
  EXPECT_EQ(r.dev.read(DevFunction::ErrorStatus), 1u);  // logged, a read
  EXPECT_EQ(r.port.get(0x50000, 64), std::vector<unsigned char>(64, 0));
}

TEST(DeviceExclusionVector, TheBitmapCountsOnlyWhenEnabledAndValid) {
  Rig r;
  r.protect_pages({0x42000});
  r.dev.write(DevFunction::Control, 0);  // DEV_EN clear: the bitmap is not consulted
  EXPECT_TRUE(r.dev.check(0x42000, true).allowed);
  r.dev.write(DevFunction::Control, dev_control::kEnable);
  r.dev.write(DevFunction::BaseLo, std::uint32_t(kBitmap));  // VALID clear
  EXPECT_TRUE(r.dev.check(0x42000, true).allowed);
  r.dev.write(DevFunction::BaseLo, std::uint32_t(kBitmap) | dev_base::kValid);
  const DeviceExclusionVector::Verdict v = r.dev.check(0x42000, true);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.cycles, FlatMemory::kLatency);  // the bitmap byte, read through the port
  EXPECT_TRUE(r.dev.check(0x43000, true).allowed);
  EXPECT_EQ(r.dev.bitmap_reads.count(), 2u);
}

TEST(DeviceExclusionVector, SecureLoaderProtectionCoversTheSlbUntilCleared) {
  Rig r;
  r.dev.protect_secure_loader(0x120000 + 0x345);  // aligned down to 64 KiB
  EXPECT_EQ(r.dev.secure_loader_base(), 0x120000u);
  EXPECT_TRUE(r.dev.read(DevFunction::Control) & dev_control::kSecureLoaderEnable);
  // Without any bitmap or DEV_EN: the whole 64 KiB, and nothing either side.
  EXPECT_FALSE(r.dev.check(0x120000, false).allowed);
  EXPECT_FALSE(r.dev.check(0x12ffff, true).allowed);
  EXPECT_TRUE(r.dev.check(0x11ffff, true).allowed);
  EXPECT_TRUE(r.dev.check(0x130000, true).allowed);
  EXPECT_EQ(r.dev.refused_secure_loader.count(), 2u);
  EXPECT_EQ(r.dev.bitmap_reads.count(), 0u);
  // The secure loader clears SL_DEV_EN once it has a bitmap of its own.
  r.dev.write(DevFunction::Control, 0);
  EXPECT_TRUE(r.dev.check(0x120000, true).allowed);
}

// The SystemC module: the doorbell runs the ring, and the time it takes is the memory
// module's latency for each access (the memory side's own statistics count them), over the
// socket and over the direct connection alike.
TEST(DmaModule, RunsTheRingOnTheDoorbellTimedByMainMemory) {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{64}, {"test"});
  params.set_value("memory.latency", std::int64_t{80}, {"test"});
  params.set_value("memory.byte_exact_data", true, {"test"});  // the test reads the copied bytes back
  StatRegistry stats;
  Clock clock{2.0};
  Scope context{&params, &stats, ""};
  MemoryModule memory{"memory", context, clock};
  DeviceExclusionVector dev{context.child("dev"), memory};
  DmaModule dma{"dma", context, clock, dev};
  DmaModule direct_dma{"direct_dma", context, clock, dev};
  dma.memory.bind(memory.port);
  direct_dma.memory.bind(memory.port);
  direct_dma.memory.connect(memory);
  dma.engine().set_ring(kRing, 4);
  direct_dma.engine().set_ring(kRing + 0x100, 4);

  FlatMemory driver;  // only to build the bytes; copied into the memory module below
  const auto data = pattern(256, 5);
  driver.put(0x10000, data);
  driver.put_descriptor(kRing, 0x10000, 0x20000, 256);
  driver.put_descriptor(kRing + 0x100, 0x10000, 0x30000, 256);
  for (Addr a : {kRing, kRing + 0x100, Addr{0x10000}}) {
    std::vector<unsigned char> bytes = driver.get(a, a == 0x10000 ? 256 : 2 * D::kBytes);
    memory.memory().write(a, bytes.data(), unsigned(bytes.size()));
  }
  dma.ring_doorbell();
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_MS));
  const std::uint64_t accesses = 2 + 2 * 4 + 2;  // 2 descriptor reads, 4 bursts, 2 write-backs
  EXPECT_EQ(memory.reads.count() + memory.writes.count(), accesses);
  EXPECT_EQ(memory.bytes.count(), 2 * 32 + 2 * 256 + 2 * 4);
  EXPECT_EQ(dma.engine().cycles_busy.count(), accesses * 80);
  direct_dma.ring_doorbell();
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_MS));
  EXPECT_EQ(memory.reads.count() + memory.writes.count(), 2 * accesses);
  EXPECT_EQ(direct_dma.engine().cycles_busy.count(), accesses * 80);
  for (Addr to : {Addr{0x20000}, Addr{0x30000}}) {
    std::vector<unsigned char> copied(256);
    memory.memory().read(to, copied.data(), 256);
    EXPECT_EQ(copied, data);
  }
}

}  // namespace
}  // namespace virtsim
