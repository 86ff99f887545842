#include "virtsim/workloads/page_cache.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

struct Cache {
  explicit Cache(bool warm = true, std::int64_t fault_around = 65536) : params([&] {
    registry.set_value("system.kernel.page_cache_warm", warm, {"--set", 0, 0});
    registry.set_value("system.kernel.fault_around_bytes", fault_around, {"--set", 0, 0});
    return Scope{&registry, nullptr, "system.kernel"};
  }()), cache(Scope{}, params, [this] { return next_frame += kPageSize4K; }) {}
  ParamRegistry registry;
  PageCacheParameters params;
  Addr next_frame = 0x100000;
  PageCache cache;
};

TEST(PageCache, AFilePageHasOneFrameWhoeverUsesIt) {
  Cache c;
  const auto first = c.cache.get(0, 7, 3);
  EXPECT_FALSE(first.read);  // warm: no disk read
  EXPECT_EQ(c.cache.get(0, 7, 3).frame, first.frame);
  EXPECT_NE(c.cache.get(0, 7, 4).frame, first.frame);  // another page
  EXPECT_NE(c.cache.get(0, 8, 3).frame, first.frame);  // another file
  EXPECT_NE(c.cache.get(1, 7, 3).frame, first.frame);  // another stream's file 7
  EXPECT_EQ(c.cache.pages(), 4u);
  EXPECT_EQ(c.cache.page_cache_pages.value(), 4.0);
  EXPECT_TRUE(c.cache.cached(0, 9, 100));  // warm: every page is in the cache
}

TEST(PageCache, AColdCacheReadsEachPageOnceAndFaultsAroundOnlyWhatItRead) {
  Cache c(false);
  EXPECT_FALSE(c.cache.cached(0, 1, 0));
  EXPECT_TRUE(c.cache.get(0, 1, 0).read);
  EXPECT_FALSE(c.cache.get(0, 1, 0).read);
  EXPECT_TRUE(c.cache.cached(0, 1, 0));
  EXPECT_EQ(c.cache.page_cache_reads.count(), 1u);
}

TEST(PageCache, FaultAroundBytesRoundDownToAPowerOfTwoOfOnePageAtLeast) {
  EXPECT_EQ(Cache().cache.fault_around_bytes(), 65536u);
  EXPECT_EQ(Cache(true, 100000).cache.fault_around_bytes(), 65536u);
  EXPECT_EQ(Cache(true, 0).cache.fault_around_bytes(), 4096u);
}

TEST(PageCache, TheFaultAroundWindowIsTheAlignedBlockClippedToTheAreaAndTheTable) {
  const Addr k64 = 65536, table = Addr{2} << 20;
  // Inside a large area: the aligned 64 KiB block.
  auto w = fault_around_window(0x40005123, 0x40000000, 0x40100000, k64, table);
  EXPECT_EQ(w.first, 0x40000000u);
  EXPECT_EQ(w.end, 0x40010000u);
  w = fault_around_window(0x40017000, 0x40000000, 0x40100000, k64, table);
  EXPECT_EQ(w.first, 0x40010000u);
  EXPECT_EQ(w.end, 0x40020000u);
  // An area starting inside the block: from its start, 16 pages on (as do_fault_around).
  w = fault_around_window(0x40005000, 0x40003000, 0x40100000, k64, table);
  EXPECT_EQ(w.first, 0x40003000u);
  EXPECT_EQ(w.end, 0x40013000u);
  // An area ending inside the block.
  w = fault_around_window(0x40005000, 0x40000000, 0x40007000, k64, table);
  EXPECT_EQ(w.end, 0x40007000u);
  // The page table ends first: the window stops at the 2 MiB boundary.
  w = fault_around_window(0x401ff000, 0x401f8000, 0x40400000, k64, table);
  EXPECT_EQ(w.first, 0x401f8000u);
  EXPECT_EQ(w.end, 0x40200000u);
}

}  // namespace
}  // namespace virtsim
