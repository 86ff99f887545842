#include "virtsim/mmu/page_walker.h"

#include <gtest/gtest.h>

#include <random>

namespace virtsim {
namespace {

// Reads straight from physical memory with a fixed latency, counting references.
class FixedLatencyPort : public MemoryPort {
 public:
  FixedLatencyPort(const PhysicalMemory& memory, Cycles latency) : memory_(memory), latency_(latency) {}
  Cycles read_entry(Addr address, std::uint64_t& value) override {
    value = memory_.read64(address);
    addresses.push_back(address);
    return latency_;
  }
  std::vector<Addr> addresses;

 private:
  const PhysicalMemory& memory_;
  Cycles latency_;
};

struct WalkerTest : ::testing::Test {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{Addr{1} << 20, Addr{1} << 32};
  PageTableBuilder builder{memory, frames};
  Addr root = builder.new_root();
  StatRegistry stats;
  PageWalker walker{{nullptr, &stats, "mmu.walker"}};
  FixedLatencyPort port{memory, 100};
};

TEST_F(WalkerTest, ReferencesAndCyclesPerPageSize) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  builder.map(root, 0x40000000, 0x80000000, kPageSize1G);
  builder.map(root, 0x600000, 0xa00000, kPageSize2M);
  const auto& a = walker.walk({root, 0x1008, AccessKind::Load, true}, port);
  EXPECT_EQ(a.refs, 4u);
  EXPECT_EQ(a.cycles, 400u);
  EXPECT_EQ(a.translation.physical_address, 0x9008u);
  // The first reference is the PML4 entry of index 0 in the root table.
  EXPECT_EQ(port.addresses.front(), root);
  EXPECT_EQ(walker.walk({root, 0x600010, AccessKind::Load, true}, port).refs, 3u);
  EXPECT_EQ(walker.walk({root, 0x40000010, AccessKind::Load, true}, port).refs, 2u);
  EXPECT_EQ(walker.walks.count(), 3u);
  EXPECT_EQ(walker.refs.count(), 9u);
  EXPECT_EQ(walker.refs_by_level.counts(), (std::vector<std::uint64_t>{3, 3, 2, 1}));
  EXPECT_EQ(walker.refs_per_walk.counts()[4], 1u);
  EXPECT_EQ(walker.walk_cycles.samples(), 3u);
  EXPECT_DOUBLE_EQ(walker.mean_refs_per_walk.value(), 3.0);
  EXPECT_EQ(port.addresses.size(), 9u);  // nothing read behind the port's back
}

TEST_F(WalkerTest, FaultStopsAtTheMissingLevel) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  const auto& o = walker.walk({root, 0x3000, AccessKind::Store, true}, port);  // same PT, empty slot
  EXPECT_TRUE(o.translation.fault);
  EXPECT_EQ(o.translation.error_code, pf::kWrite | pf::kUser);
  EXPECT_EQ(o.refs, 4u);
  const auto& far = walker.walk({root, 0x7f0000000000, AccessKind::Load, true}, port);  // empty PML4 slot
  EXPECT_EQ(far.refs, 1u);
  EXPECT_EQ(walker.faults.count(), 2u);
}

TEST_F(WalkerTest, StepByStepStateMachine) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  walker.start({root, 0x1000, AccessKind::Load, true});
  unsigned steps = 0;
  std::vector<unsigned> levels;
  while (walker.state() == PageWalker::State::ReadEntry) {
    levels.push_back(walker.level());
    walker.step(port);
    ++steps;
  }
  EXPECT_EQ(steps, 4u);
  EXPECT_EQ(levels, (std::vector<unsigned>{4, 3, 2, 1}));
  EXPECT_EQ(walker.state(), PageWalker::State::Done);
}

// Differential test: random tables with mixed page sizes and rights; the walker must
// return exactly what the functional reference returns, fault or translation.
TEST_F(WalkerTest, AgreesWithTheReferenceOnRandomTables) {
  std::mt19937_64 rng(42);
  const Addr region = Addr{1} << 34;  // 16 GiB of virtual space
  for (int i = 0; i < 3000; ++i) {
    const int kind = static_cast<int>(rng() % 10);
    const Addr size = kind == 0 ? kPageSize1G : kind < 3 ? kPageSize2M : kPageSize4K;
    const Addr va = (rng() % region) & ~(size - 1);
    const Addr pa = (rng() % (Addr{1} << 40)) & ~(size - 1);
    builder.map(root, va, pa, size, MappingFlags{rng() % 4 != 0, rng() % 4 != 0, rng() % 4 != 0, false});
  }
  for (int i = 0; i < 200000; ++i) {
    const Addr va = rng() % region;
    const auto kind = static_cast<AccessKind>(rng() % 3);
    const bool user = rng() % 2;
    const auto expected = reference_translate(memory, root, va, kind, user);
    const auto& got = walker.walk({root, va, kind, user}, port).translation;
    ASSERT_EQ(got.fault, expected.fault) << std::hex << va;
    ASSERT_EQ(got.error_code, expected.error_code) << std::hex << va;
    ASSERT_EQ(got.physical_address, expected.physical_address) << std::hex << va;
    ASSERT_EQ(got.page_shift, expected.page_shift) << std::hex << va;
  }
  EXPECT_GT(walker.faults.count(), 0u);
  EXPECT_LT(walker.faults.count(), walker.walks.count());
}

}  // namespace
}  // namespace virtsim
