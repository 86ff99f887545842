// Physical memory that drops data bytes: page tables and the model's own writes keep their
// bytes, data written anywhere else takes no host memory and reads as zeros.
#include "virtsim/memory/physical_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "virtsim/memory/frame_array.h"
#include "virtsim/memory/host_memory.h"

namespace virtsim {
namespace {

constexpr Addr kTiB = Addr{1} << 40;

using DataBytes = PhysicalMemory::DataBytes;

bool store(PhysicalMemory& memory, Addr address, std::uint64_t value) {
  return memory.transfer(true, address, reinterpret_cast<unsigned char*>(&value), 8);
}

std::uint64_t load(PhysicalMemory& memory, Addr address) {
  std::uint64_t value = ~std::uint64_t{0};
  EXPECT_TRUE(memory.transfer(false, address, reinterpret_cast<unsigned char*>(&value), 8));
  return value;
}

TEST(PhysicalMemoryData, DroppedDataTakesTheFrameTable) {
  PhysicalMemory memory{kTiB, PhysicalMemory::Layout::Contiguous, DataBytes::Dropped};
  EXPECT_EQ(memory.layout(), PhysicalMemory::Layout::Frames);  // it must know which frames hold bytes
  EXPECT_EQ(memory.data_bytes(), DataBytes::Dropped);
}

// A data store into a frame the model never wrote is accepted (the access is valid), takes no
// host memory, and the frame reads as zeros: nothing may decide on it.
TEST(PhysicalMemoryData, DataStoresOverATerabyteHoldNoBytes) {
  PhysicalMemory memory{kTiB, PhysicalMemory::Layout::Frames, DataBytes::Dropped};
  const std::uint64_t resident_before = HostMemoryBudget::resident_bytes();
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  std::vector<Addr> stored;
  for (int i = 0; i < 200000; ++i) {  // 200,000 frames: 780 MiB if each took its 4 KiB
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const Addr address = (x % kTiB) & ~Addr{7};
    ASSERT_TRUE(store(memory, address, x));
    if (i % 1000 == 0) stored.push_back(address);
  }
  memory.zero_data_frame(Addr{5} << 30);
  memory.copy_data_frame(Addr{6} << 30, stored.front() & ~(kPageSize4K - 1));
  EXPECT_EQ(memory.frames_held(), 0u);
  for (Addr address : stored) {
    EXPECT_EQ(load(memory, address), 0u);
    EXPECT_EQ(memory.host_bytes(address), nullptr);
  }
  const std::uint64_t resident_after = HostMemoryBudget::resident_bytes();
  if (resident_before && resident_after) EXPECT_LT(resident_after, resident_before + (Addr{16} << 20));
  EXPECT_FALSE(store(memory, kTiB - 4, 1));  // out of range is still refused
}

// The model's writes (page-table entries, structures it reads back) round-trip anywhere in the
// space, and a data store into such a frame then lands too (a freed table reused for data).
TEST(PhysicalMemoryData, ModelWritesRoundTripAndBackTheirFrame) {
  PhysicalMemory memory{kTiB, PhysicalMemory::Layout::Frames, DataBytes::Dropped};
  std::vector<Addr> tables;
  for (Addr gib = 0; gib < 1024; gib += 3) tables.push_back((gib << 30) + Addr{0x123} * kPageSize4K);
  std::uint64_t entry = 0x8000000000000067ull;
  for (Addr table : tables) memory.write64(table + 8 * 511, entry += kPageSize4K);
  EXPECT_EQ(memory.frames_held(), tables.size());
  entry = 0x8000000000000067ull;
  for (Addr table : tables) {
    EXPECT_EQ(memory.read64(table + 8 * 511), entry += kPageSize4K);
    EXPECT_EQ(memory.read64(table), 0u);  // the rest of the frame: zero
    EXPECT_NE(memory.host_bytes(table), nullptr);
  }
  ASSERT_TRUE(store(memory, tables[7] + 64, 0xfeed));
  EXPECT_EQ(load(memory, tables[7] + 64), 0xfeedu);
  memory.copy_data_frame(tables[8], tables[7]);  // into a frame with bytes: lands
  EXPECT_EQ(memory.read64(tables[8] + 64), 0xfeedu);
  memory.zero_data_frame(tables[8]);
  EXPECT_EQ(memory.read64(tables[8] + 8 * 511), 0u);
  EXPECT_EQ(memory.frames_held(), tables.size());
}

// Byte-exact data: data stores, page copies and zeroing land everywhere, as the model's writes
// do (copy-on-write copies carry the data); keep_data_bytes() switches a dropping memory over.
TEST(PhysicalMemoryData, KeptDataRoundTripsEverywhere) {
  PhysicalMemory contiguous{Addr{1} << 32};
  PhysicalMemory frames{Addr{1} << 32, PhysicalMemory::Layout::Frames, DataBytes::Dropped};
  frames.keep_data_bytes();
  for (PhysicalMemory* memory : {&contiguous, &frames}) {
    ASSERT_TRUE(store(*memory, 0x7000 + 16, 0x1234abcd));
    memory->copy_data_frame(0x9000, 0x7000);
    EXPECT_EQ(memory->read64(0x9000 + 16), 0x1234abcdu);
    memory->zero_data_frame(0x7000);
    EXPECT_EQ(load(*memory, 0x7000 + 16), 0u);
    EXPECT_EQ(load(*memory, 0x9000 + 16), 0x1234abcdu);
  }
  EXPECT_EQ(frames.frames_held(), 2u);
}

// The frame table stays correct as it grows past many doublings, frames far apart included.
TEST(PhysicalMemoryData, FrameTableFindsEveryFrameAfterGrowing) {
  PhysicalMemory memory{Addr{1} << 44, PhysicalMemory::Layout::Frames};
  std::vector<Addr> written;
  for (Addr i = 0; i < 20000; ++i) {
    const Addr address = ((i * 0x9e3779b97f4a7c15ull) % (Addr{1} << 44)) & ~Addr{7};
    memory.write64(address, i + 1);
    written.push_back(address);
  }
  for (Addr i = 0; i < written.size(); ++i) ASSERT_EQ(memory.read64(written[i]), i + 1);
  EXPECT_EQ(memory.frames_held(), written.size());
}

// The bit per frame that answers for frames holding no bytes: set for exactly the frames
// written, neighbours and the ends of the space included; past the end nothing is found.
TEST(PhysicalMemoryData, HeldBitsAnswerForTheirFrameOnly) {
  const Addr size = Addr{1} << 34;
  PhysicalMemory memory{size, PhysicalMemory::Layout::Frames, DataBytes::Dropped};
  const std::vector<Addr> frames = {0, 63 * kPageSize4K, 64 * kPageSize4K, size - kPageSize4K};
  for (Addr frame : frames) memory.write64(frame + 8, frame + 1);
  for (Addr frame : frames) {
    EXPECT_NE(memory.host_bytes(frame), nullptr);
    EXPECT_EQ(memory.read64(frame + 8), frame + 1);
  }
  EXPECT_EQ(memory.host_bytes(62 * kPageSize4K), nullptr);
  EXPECT_EQ(memory.host_bytes(65 * kPageSize4K), nullptr);
  EXPECT_EQ(memory.host_bytes(size - 2 * kPageSize4K), nullptr);
  EXPECT_EQ(memory.host_bytes(size), nullptr);
  EXPECT_EQ(memory.frames_held(), frames.size());
}

// transfer_at() with the caller's lookup: a store where no frame holds bytes is dropped when
// data is dropped and lands in a new frame when it is kept; a load there reads zeros.
TEST(PhysicalMemoryData, TransferAtTakesTheCallersLookup) {
  for (const DataBytes data : {DataBytes::Dropped, DataBytes::Kept}) {
    PhysicalMemory memory{Addr{1} << 32, PhysicalMemory::Layout::Frames, data};
    std::uint64_t value = 0x5eed;
    ASSERT_TRUE(memory.transfer_at(true, 0x3000 + 16, reinterpret_cast<unsigned char*>(&value), 8,
                                   memory.host_bytes(0x3000 + 16)));
    EXPECT_EQ(memory.frames_held(), data == DataBytes::Kept ? 1u : 0u);
    EXPECT_EQ(load(memory, 0x3000 + 16), data == DataBytes::Kept ? 0x5eedu : 0u);
    EXPECT_TRUE(memory.transfer_at(false, 0x3000, nullptr, 8, nullptr));  // no data: the check only
    EXPECT_FALSE(memory.transfer_at(false, (Addr{1} << 32) - 4, nullptr, 8, nullptr));
  }
}

TEST(FrameArray, ZeroUntilSetAndSparse) {
  FrameArray<std::uint16_t> counts(kTiB);
  EXPECT_EQ(counts.get(kTiB - kPageSize4K), 0u);
  const std::uint64_t resident_before = HostMemoryBudget::resident_bytes();
  for (Addr frame = 0; frame < kTiB; frame += Addr{1} << 30) counts.at(frame) = 3;  // one per GiB
  ++counts.at(Addr{7} << 30);
  EXPECT_EQ(counts.get(Addr{7} << 30), 4u);
  EXPECT_EQ(counts.get(Addr{8} << 30), 3u);
  EXPECT_EQ(counts.get((Addr{8} << 30) + kPageSize4K), 0u);
  const std::uint64_t resident_after = HostMemoryBudget::resident_bytes();
  if (resident_before && resident_after) EXPECT_LT(resident_after, resident_before + (Addr{64} << 20));
  EXPECT_THROW(counts.at(kTiB), std::out_of_range);
  EXPECT_THROW(counts.get(kTiB), std::out_of_range);
}

}  // namespace
}  // namespace virtsim
