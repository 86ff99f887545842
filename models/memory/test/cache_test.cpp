#include "virtsim/memory/cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "virtsim/memory/physical_memory.h"

namespace virtsim {
namespace {

CacheConfig small(unsigned size_kib, unsigned ways, Cycles hit, const std::string& r = "lru") {
  return {true, size_kib, ways, 64, hit, r, 1};
}

TEST(Cache, HitsMissesAndWritebacks) {
  Cache c({}, small(1, 2, 4));  // 16 lines, 8 sets of 2
  EXPECT_FALSE(c.access(0x1000, false, Requester::Data));
  EXPECT_TRUE(c.access(0x1038, true, Requester::Data));  // same line, now dirty
  // Two more lines in the same set (stride = 8 sets x 64 bytes) evict the dirty one.
  EXPECT_FALSE(c.access(0x1000 + 512, false, Requester::Walk));
  EXPECT_FALSE(c.access(0x1000 + 1024, false, Requester::Walk));
  EXPECT_EQ(c.evictions.count(), 1u);
  EXPECT_EQ(c.writebacks.count(), 1u);
  EXPECT_FALSE(c.contains(0x1000));
  EXPECT_EQ(c.hits_by_requester.counts(), (std::vector<std::uint64_t>{1, 0}));
  EXPECT_EQ(c.misses_by_requester.counts(), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_DOUBLE_EQ(c.hit_rate.value(), 0.25);
}

// A set-associative LRU cache in its plainest form (a list per set, most recent first, with a
// dirty flag per line): the Cache, with its order words and its tag rows compared four ways at
// a time, must agree with it on every access, on what stays resident and on the writebacks.
TEST(Cache, AgreesWithAPlainLruModelForEveryWayCount) {
  for (unsigned ways : {1u, 2u, 3u, 4u, 8u, 12u, 16u, 32u}) {
    const unsigned sets = 16;
    Cache c({}, small(sets * ways * 64 / 1024, ways, 1));
    struct Line {
      Addr line;
      bool dirty;
    };
    std::vector<std::vector<Line>> model(sets);
    std::uint64_t rng = 99, writebacks = 0;
    for (int step = 0; step < 50000; ++step) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      // Lines over three times the capacity, so sets fill, evict and hit again.
      const Addr line = (rng >> 33) % (3 * sets * ways);
      const bool write = step % 3 == 0;
      auto& set = model[line % sets];
      const auto it = std::find_if(set.begin(), set.end(), [&](const Line& l) { return l.line == line; });
      const bool hit = it != set.end();
      bool dirty = write;
      if (hit) {
        dirty |= it->dirty;
        set.erase(it);
      } else if (set.size() == ways) {
        writebacks += set.back().dirty;
        set.pop_back();
      }
      set.insert(set.begin(), {line, dirty});
      ASSERT_EQ(c.access(line * 64, write, Requester::Data), hit) << ways << " ways, step " << step;
    }
    for (unsigned s = 0; s < sets; ++s)
      for (const Line& l : model[s]) EXPECT_TRUE(c.contains(l.line * 64)) << ways << " ways";
    EXPECT_EQ(c.writebacks.count(), writebacks) << ways << " ways";
  }
}

// Fill a 4-way set with lines A..D, touch A, B, C, D, A, then bring in E: LRU evicts B (the
// oldest), tree-PLRU evicts C (the last touch of A points the root right, and D's touch
// after C points that half's node at C).
TEST(Cache, LruAndTreePlruEvictDifferentLines) {
  for (auto [policy, evicted] : {std::pair{"lru", 1}, std::pair{"plru", 2}}) {
    Cache c({}, small(1, 4, 1, policy));  // 4 sets of 4
    auto line = [](int i) { return Addr(i) * 256; };  // every line in set 0
    for (int i = 0; i < 4; ++i) c.access(line(i), false, Requester::Data);
    for (int i : {0, 1, 2, 3, 0}) c.access(line(i), false, Requester::Data);
    c.access(line(4), false, Requester::Data);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(c.contains(line(i)), i != evicted) << policy << " line " << i;
  }
}

TEST(Cache, RandomReplacementIsDeterministicForASeed) {
  auto kept = [](std::uint64_t seed) {
    Cache c({}, {true, 1, 4, 64, 1, "random", seed});
    for (int i = 0; i < 40; ++i) c.access(Addr(i) * 256, false, Requester::Data);
    std::vector<bool> in;
    for (int i = 0; i < 40; ++i) in.push_back(c.contains(Addr(i) * 256));
    return in;
  };
  EXPECT_EQ(kept(3), kept(3));
  EXPECT_NE(kept(3), kept(4));
}

TEST(Cache, BadGeometryNamesTheCache) {
  try {
    Cache({nullptr, nullptr, "system.cache0.l1d"}, small(1, 3, 1));  // 16 lines in 3 ways
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'system.cache0.l1d.ways': 1 KiB in 64-byte lines do not divide into 3 ways"),
              std::string::npos)
        << e.what();
  }
  CacheConfig line{true, 1, 4, 48, 1, "lru", 1};
  EXPECT_THROW(Cache({}, line), ConfigError);  // a line size that is not a power of two
}

TEST(Cache, SetCountsNeedNotBePowersOfTwo) {
  Cache c({}, small(3, 4, 1));  // 48 lines: 12 sets, as sliced last-level caches have
  for (int i = 0; i < 48; ++i) EXPECT_FALSE(c.access(Addr(i) * 64, false, Requester::Data));
  for (int i = 0; i < 48; ++i) EXPECT_TRUE(c.contains(Addr(i) * 64)) << i;  // all 48 lines fit
  EXPECT_FALSE(c.access(Addr(48) * 64, false, Requester::Data));
  EXPECT_EQ(c.evictions.count(), 1u);
}

// The latency identity: an access costs the hit latencies of the levels it looked up, plus
// DRAM when all missed.
TEST(CacheHierarchyTest, LatencyIsTheSumOfTheLevelsVisited) {
  Cache l1({}, small(1, 2, 4)), l2({}, small(4, 4, 10)), llc({}, small(16, 8, 30));
  CacheHierarchy h(l1, l2, llc, 100, false);
  const auto cold = h.access(0x4000, false, Requester::Data);
  EXPECT_EQ(cold.cycles, 4u + 10 + 30 + 100);
  EXPECT_EQ(cold.served_by, ServedBy::Dram);
  const auto warm = h.access(0x4008, false, Requester::Data);
  EXPECT_EQ(warm.cycles, 4u);
  EXPECT_EQ(warm.served_by, ServedBy::L1);
  l1.flush();
  const auto l2_hit = h.access(0x4000, false, Requester::Data);
  EXPECT_EQ(l2_hit.cycles, 4u + 10);
  EXPECT_EQ(l2_hit.served_by, ServedBy::L2);
  l1.flush();
  l2.flush();
  EXPECT_EQ(h.access(0x4000, false, Requester::Data).cycles, 4u + 10 + 30);
}

TEST(CacheHierarchyTest, WalkerCanEnterAtTheL2) {
  Cache l1({}, small(1, 2, 4)), l2({}, small(4, 4, 10)), llc({}, small(16, 8, 30));
  CacheHierarchy h(l1, l2, llc, 100, true);
  EXPECT_EQ(h.access(0x8000, false, Requester::Walk).cycles, 10u + 30 + 100);
  EXPECT_EQ(h.access(0x8000, false, Requester::Walk).served_by, ServedBy::L2);
  EXPECT_EQ(l1.accesses.count(), 0u);  // the walker never looked at the L1D
  EXPECT_EQ(h.access(0x8000, false, Requester::Data).served_by, ServedBy::L2);  // data still does
  EXPECT_EQ(l1.accesses.count(), 1u);
}

TEST(CacheHierarchyTest, DisabledLevelsAreSkipped) {
  Cache l1({}, small(1, 2, 4)), l2({}, CacheConfig{false, 4, 4, 64, 10, "lru", 1}), llc({}, small(16, 8, 30));
  CacheHierarchy h(l1, l2, llc, 100, false);
  EXPECT_EQ(h.access(0x4000, false, Requester::Data).cycles, 4u + 30 + 100);
}

// The cache module finds an access's bytes in host memory before its lookups (to prefetch
// them) and moves them through that pointer: it must be the memory's own storage, in either
// layout.
void expect_host_bytes_are_the_storage(PhysicalMemory& memory) {
  memory.write64(0x5008, 0x1122334455667788);
  std::uint8_t* bytes = memory.host_bytes(0x5008);
  ASSERT_NE(bytes, nullptr);
  std::uint64_t seen = 0;
  std::memcpy(&seen, bytes, 8);
  EXPECT_EQ(seen, 0x1122334455667788u);
  EXPECT_EQ(memory.host_bytes(0x5000) + 8, bytes);
  EXPECT_EQ(memory.host_bytes(0x5ff8) + 8, memory.host_bytes(0x5000) + kPageSize4K);
  const std::uint64_t stored = 0xa5a5a5a5deadbeef;
  std::memcpy(memory.host_bytes(0x5ff8), &stored, 8);
  EXPECT_EQ(memory.read64(0x5ff8), stored);
  EXPECT_EQ(memory.host_bytes(Addr{1} << 40), nullptr);        // out of range
  EXPECT_EQ(memory.host_bytes(memory.size()), nullptr);        // one past the end
  EXPECT_EQ(memory.read64(0x7000), 0u);                        // never written: zero
}

TEST(PhysicalMemoryTest, HostBytesAreTheOneReservationsOwnStorage) {
  PhysicalMemory memory{Addr{1} << 32};
  ASSERT_EQ(memory.layout(), PhysicalMemory::Layout::Contiguous);  // the host here gives the reservation
  expect_host_bytes_are_the_storage(memory);
  EXPECT_EQ(memory.host_bytes(0x6000), memory.host_bytes(0x5000) + kPageSize4K);  // one block
  EXPECT_NE(memory.host_bytes(memory.size() - 1), nullptr);  // even bytes never written
}

TEST(PhysicalMemoryTest, HostBytesAreTheFramesOwnStorage) {
  PhysicalMemory memory{Addr{1} << 32, PhysicalMemory::Layout::Frames};
  ASSERT_EQ(memory.layout(), PhysicalMemory::Layout::Frames);
  EXPECT_EQ(memory.host_bytes(0x5008), nullptr);  // never written: no frame yet
  expect_host_bytes_are_the_storage(memory);
  EXPECT_EQ(memory.host_bytes(0x6000), nullptr);  // the next frame was never written
}

// Both layouts hold the same bytes for the same writes, frame edges and sparse far addresses
// included.
TEST(PhysicalMemoryTest, BothLayoutsHoldTheSameBytes) {
  const Addr size = Addr{1} << 41;
  PhysicalMemory contiguous{size};
  PhysicalMemory frames{size, PhysicalMemory::Layout::Frames};
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  std::vector<Addr> written;
  for (int i = 0; i < 2000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    // Mostly within 64 MiB; one in 50 anywhere (each of those costs either layout a 2 MiB block).
    const Addr address = (x % (i % 50 ? Addr{64} << 20 : size - 8)) & ~Addr{7};
    for (PhysicalMemory* m : {&contiguous, &frames}) m->write64(address, x);
    written.push_back(address);
  }
  for (Addr address : written) {
    EXPECT_EQ(contiguous.read64(address), frames.read64(address));
    EXPECT_EQ(contiguous.read64(address ^ 0x1000), frames.read64(address ^ 0x1000));  // often never written
  }
  EXPECT_THROW(contiguous.read64(size), std::out_of_range);
  EXPECT_THROW(frames.read64(size), std::out_of_range);
}

}  // namespace
}  // namespace virtsim
