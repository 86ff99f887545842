#include "virtsim/mmu/paging.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

struct PagingTest : ::testing::Test {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{Addr{1} << 20, Addr{1} << 32};
  PageTableBuilder builder{memory, frames};
  Addr root = builder.new_root();
};

TEST_F(PagingTest, FourKilobytePageWalksFourRealEntries) {
  builder.map(root, 0x7f0000001000, 0x5000000, kPageSize4K);
  const auto t = reference_translate(memory, root, 0x7f0000001abc, AccessKind::Load, true);
  ASSERT_FALSE(t.fault);
  EXPECT_EQ(t.physical_address, 0x5000abcu);
  EXPECT_EQ(t.page_shift, 12u);
  // The entries are where the SDM puts them: PML4 index 254 for 0x7f00_0000_0000.
  const std::uint64_t pml4e = memory.read64(root + 8 * 254);
  EXPECT_TRUE(pml4e & pte::kPresent);
  EXPECT_EQ(table_index(0x7f0000001000, 4), 254u);
  EXPECT_EQ(builder.tables_allocated(), 4u);  // root + PDPT + PD + PT
  EXPECT_EQ(builder.entry_writes(), 4u);
}

TEST_F(PagingTest, LargePagesStopTheWalkEarly) {
  builder.map(root, 0x40000000, 0x80000000, kPageSize1G);
  builder.map(root, 0x200000, 0x1400000, kPageSize2M);
  const auto g = reference_translate(memory, root, 0x7654321f, AccessKind::Load, true);
  ASSERT_FALSE(g.fault);
  EXPECT_EQ(g.page_shift, 30u);
  EXPECT_EQ(g.physical_address, 0x80000000u + 0x3654321fu);
  const auto m = reference_translate(memory, root, 0x2abcde, AccessKind::Store, true);
  ASSERT_FALSE(m.fault);
  EXPECT_EQ(m.page_shift, 21u);
  EXPECT_EQ(m.physical_address, 0x14abcdeu);
  EXPECT_TRUE(memory.read64(root) & pte::kPresent);
}

TEST_F(PagingTest, NotPresentFaultCodes) {
  const auto load = reference_translate(memory, root, 0x1000, AccessKind::Load, true);
  EXPECT_TRUE(load.fault);
  EXPECT_EQ(load.error_code, pf::kUser);
  const auto store = reference_translate(memory, root, 0x1000, AccessKind::Store, false);
  EXPECT_EQ(store.error_code, pf::kWrite);
  const auto fetch = reference_translate(memory, root, 0x1000, AccessKind::Fetch, true);
  EXPECT_EQ(fetch.error_code, pf::kUser | pf::kFetch);
}

TEST_F(PagingTest, ProtectionFaultCodes) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K, MappingFlags{false, true, true, false});   // read-only
  builder.map(root, 0x2000, 0xa000, kPageSize4K, MappingFlags{true, false, true, false});   // supervisor
  builder.map(root, 0x3000, 0xb000, kPageSize4K, MappingFlags{true, true, false, false});   // no execute
  EXPECT_EQ(reference_translate(memory, root, 0x1000, AccessKind::Store, true).error_code,
            pf::kPresent | pf::kWrite | pf::kUser);
  EXPECT_EQ(reference_translate(memory, root, 0x1000, AccessKind::Store, false).error_code,
            pf::kPresent | pf::kWrite);  // CR0.WP=1: supervisor writes obey R/W too
  EXPECT_FALSE(reference_translate(memory, root, 0x1000, AccessKind::Load, true).fault);
  EXPECT_EQ(reference_translate(memory, root, 0x2000, AccessKind::Load, true).error_code, pf::kPresent | pf::kUser);
  EXPECT_FALSE(reference_translate(memory, root, 0x2000, AccessKind::Load, false).fault);
  EXPECT_EQ(reference_translate(memory, root, 0x3000, AccessKind::Fetch, true).error_code,
            pf::kPresent | pf::kUser | pf::kFetch);
  const auto ok = reference_translate(memory, root, 0x3000, AccessKind::Load, true);
  EXPECT_FALSE(ok.executable);
  EXPECT_TRUE(ok.writable);
}

TEST_F(PagingTest, NonCanonicalAddressesAreGeneralProtectionNotPageFaults) {
  const auto t = reference_translate(memory, root, 0x0000800000000000, AccessKind::Load, true);
  EXPECT_TRUE(t.fault);
  EXPECT_TRUE(t.non_canonical);
  EXPECT_TRUE(is_canonical48(0xffff800000000000));
  EXPECT_FALSE(is_canonical48(0xfff0800000000000));
  EXPECT_THROW(builder.map(root, 0x0000800000000000, 0, kPageSize4K), std::invalid_argument);
}

TEST_F(PagingTest, PageSizeBitInPml4IsReserved) {
  memory.write64(root, 0x200000 | pte::kPresent | pte::kPageSize | pte::kWritable | pte::kUser);
  const auto t = reference_translate(memory, root, 0x1000, AccessKind::Load, true);
  EXPECT_TRUE(t.fault);
  EXPECT_EQ(t.error_code, pf::kPresent | pf::kReserved | pf::kUser);
}

TEST_F(PagingTest, UnmapAndRemap) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  EXPECT_TRUE(builder.unmap(root, 0x1000));
  EXPECT_TRUE(reference_translate(memory, root, 0x1000, AccessKind::Load, true).fault);
  EXPECT_FALSE(builder.unmap(root, 0x1000));
  builder.map(root, 0x1000, 0xc000, kPageSize4K);
  EXPECT_EQ(reference_translate(memory, root, 0x1004, AccessKind::Load, true).physical_address, 0xc004u);
}

TEST_F(PagingTest, MisuseIsRejected) {
  EXPECT_THROW(builder.map(root, 0x1001, 0x9000, kPageSize4K), std::invalid_argument);
  EXPECT_THROW(builder.map(root, 0x1000, 0x9000, 8192), std::invalid_argument);
  EXPECT_THROW(memory.read64(Addr{1} << 33), std::out_of_range);
  EXPECT_THROW(memory.read64(0xffc), std::out_of_range);  // crosses a frame
  FrameAllocator tiny(0x1000, 0x3000);
  EXPECT_EQ(tiny.allocate(), 0x1000u);
  EXPECT_EQ(tiny.allocate(), 0x2000u);
  EXPECT_THROW(tiny.allocate(), std::runtime_error);
}

}  // namespace
}  // namespace virtsim
