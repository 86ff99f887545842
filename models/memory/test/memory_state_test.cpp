// Checkpoints of physical memory and frame allocators (memory_state.cpp): what one memory saves,
// another of the same size loads, frame for frame, whatever it held before; a cut or damaged
// stream is a CheckpointError naming the byte offset and the field.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/common/state_stream.h"
#include "virtsim/memory/frame_array.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {
namespace {

constexpr Addr kMiB = Addr{1} << 20;
using Layout = PhysicalMemory::Layout;
using DataBytes = PhysicalMemory::DataBytes;

StateReader reader_of(const StateWriter& w) { return StateReader(w.bytes().data(), w.bytes().size(), "test.ckpt"); }

TEST(MemoryState, SparseFramesRoundTripAndReplaceWhatWasThere) {
  PhysicalMemory saved(64 * kMiB, Layout::Frames, DataBytes::Dropped);
  saved.write64(0x3000, 0x1122334455667788ull);
  saved.write64(40 * kMiB + 8, 42);
  saved.write64(0x5000, 0);  // a frame that holds bytes, all zero: under Dropped it still takes data
  StateWriter w;
  saved.save_state(w);

  PhysicalMemory loaded(64 * kMiB, Layout::Frames, DataBytes::Dropped);
  loaded.write64(0x9000, 7);  // held before the load: gone after it
  StateReader r = reader_of(w);
  loaded.load_state(r);
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(loaded.frames_held(), 3u);
  EXPECT_EQ(loaded.read64(0x3000), 0x1122334455667788ull);
  EXPECT_EQ(loaded.read64(40 * kMiB + 8), 42u);
  EXPECT_EQ(loaded.read64(0x9000), 0u);
  EXPECT_EQ(loaded.host_bytes(0x9000), nullptr);
  std::uint64_t data = 5;
  loaded.write_data(0x5008, &data, 8);  // lands: the frame holds bytes
  EXPECT_EQ(loaded.read64(0x5008), 5u);
}

TEST(MemoryState, ContiguousMemorySavesNonzeroFramesOnly) {
  PhysicalMemory saved(16 * kMiB);
  saved.write64(0x2000, 9);
  StateWriter w;
  saved.save_state(w);
  EXPECT_LT(w.bytes().size(), 2 * kPageSize4K);
  PhysicalMemory loaded(16 * kMiB);
  loaded.write64(0x7000, 3);
  StateReader r = reader_of(w);
  loaded.load_state(r);
  EXPECT_EQ(loaded.read64(0x2000), 9u);
  EXPECT_EQ(loaded.read64(0x7000), 0u);
}

TEST(MemoryState, AnotherSizeIsRefusedNamingTheField) {
  PhysicalMemory saved(16 * kMiB);
  StateWriter w;
  saved.save_state(w);
  PhysicalMemory loaded(32 * kMiB);
  StateReader r = reader_of(w);
  try {
    loaded.load_state(r);
    FAIL() << "loaded a memory of another size";
  } catch (const CheckpointError& e) {
    EXPECT_EQ(std::string(e.what()), "test.ckpt: byte 4 (memory size): expected 33554432 bytes, found 16777216");
  }
}

TEST(MemoryState, CutStreamNamesTheOffset) {
  PhysicalMemory saved(16 * kMiB, Layout::Frames);
  saved.write64(0x2000, 9);
  StateWriter w;
  saved.save_state(w);
  w.bytes().resize(w.bytes().size() - 100);
  PhysicalMemory loaded(16 * kMiB, Layout::Frames);
  StateReader r = reader_of(w);
  try {
    loaded.load_state(r);
    FAIL() << "loaded a cut stream";
  } catch (const CheckpointError& e) {
    // After the tag (4 bytes), the size (8) and the data mode (1): one frame of 8 + 4096 bytes
    // is counted, and fewer bytes are left.
    EXPECT_EQ(std::string(e.what()), "test.ckpt: byte 13 (frame count): expected a count of at most 0, found 1");
  }
}

TEST(MemoryState, FrameAllocatorRoundTrip) {
  FrameAllocator saved(kMiB, 64 * kMiB);
  const Addr a = saved.allocate();
  saved.allocate(4);
  saved.release(a);
  StateWriter w;
  saved.save_state(w);
  FrameAllocator loaded(kMiB, 64 * kMiB);
  StateReader r = reader_of(w);
  loaded.load_state(r);
  EXPECT_EQ(loaded.bytes_allocated(), saved.bytes_allocated());
  EXPECT_EQ(loaded.free_frames(), 1u);
  EXPECT_EQ(loaded.allocate(), a);                   // the free list first
  EXPECT_EQ(loaded.allocate(), kMiB + 5 * kPageSize4K);  // then past what was handed out

  FrameAllocator other(2 * kMiB, 64 * kMiB);
  StateReader again = reader_of(w);
  EXPECT_THROW(other.load_state(again), CheckpointError);
}

TEST(MemoryState, FrameArrayVisitsTheFramesSetInOrder) {
  FrameArray<std::uint16_t> counts(Addr{1} << 40);
  counts.at(Addr{3} << 30) = 2;
  counts.at(0x5000) = 1;
  counts.at(0x6000) = 0;
  std::vector<std::pair<Addr, std::uint16_t>> seen;
  counts.for_each_set([&](Addr frame, std::uint16_t n) { seen.emplace_back(frame, n); });
  EXPECT_EQ(seen, (std::vector<std::pair<Addr, std::uint16_t>>{{0x5000, 1}, {Addr{3} << 30, 2}}));
}

}  // namespace
}  // namespace virtsim
