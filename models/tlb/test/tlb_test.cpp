#include "virtsim/tlb/tlb.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

TlbEntry entry_4k(Addr pa, std::uint16_t pcid = 0, bool global = false) {
  TlbEntry e;
  e.page_shift = 12;
  e.physical_base = pa;
  e.pcid = pcid;
  e.global = global;
  e.writable = e.user = e.executable = true;
  return e;
}

TlbConfig one_array(unsigned entries, unsigned ways) { return {{{12, entries, ways}}, 0}; }

TEST(Tlb, HitAfterInsertTranslatesOffset) {
  Tlb tlb({}, one_array(8, 2));
  EXPECT_EQ(tlb.lookup(0x1234, {}), nullptr);
  tlb.insert(0x1234, entry_4k(0xabc000));
  const TlbEntry* e = tlb.lookup(0x1ff8, {});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->translate(0x1ff8), 0xabcff8u);
  EXPECT_EQ(tlb.accesses.count(), 2u);
  EXPECT_EQ(tlb.hits.count(), 1u);
  EXPECT_EQ(tlb.misses.count(), 1u);
  EXPECT_DOUBLE_EQ(tlb.miss_rate.value(), 0.5);
}

TEST(Tlb, LeastRecentlyUsedIsEvicted) {
  Tlb tlb({}, one_array(2, 2));  // one set, two ways
  tlb.insert(0x1000, entry_4k(0x10000));
  tlb.insert(0x2000, entry_4k(0x20000));
  ASSERT_NE(tlb.lookup(0x1000, {}), nullptr);  // 0x1000 is now most recent
  tlb.insert(0x3000, entry_4k(0x30000));       // evicts 0x2000
  EXPECT_EQ(tlb.evictions.count(), 1u);
  EXPECT_NE(tlb.lookup(0x1000, {}), nullptr);
  EXPECT_EQ(tlb.lookup(0x2000, {}), nullptr);
  EXPECT_NE(tlb.lookup(0x3000, {}), nullptr);
}

TEST(Tlb, SetIndexComesFromTheVirtualPageNumber) {
  Tlb tlb({}, one_array(4, 1));  // four sets, direct mapped
  tlb.insert(0x0000, entry_4k(0x10000));
  tlb.insert(0x1000, entry_4k(0x20000));
  tlb.insert(0x4000, entry_4k(0x30000));  // same set as 0x0000
  EXPECT_EQ(tlb.lookup(0x0000, {}), nullptr);
  EXPECT_NE(tlb.lookup(0x1000, {}), nullptr);
  EXPECT_NE(tlb.lookup(0x4000, {}), nullptr);
}

TEST(Tlb, PcidAndVpidTagsSeparateAddressSpacesButGlobalSpansPcids) {
  Tlb tlb({}, one_array(16, 4));
  tlb.insert(0x1000, entry_4k(0x10000, 1));
  tlb.insert(0x5000, entry_4k(0x50000, 1, true));
  EXPECT_EQ(tlb.lookup(0x1000, {2, 0}), nullptr);  // other PCID
  EXPECT_NE(tlb.lookup(0x1000, {1, 0}), nullptr);
  EXPECT_NE(tlb.lookup(0x5000, {2, 0}), nullptr);  // global: any PCID
  EXPECT_EQ(tlb.lookup(0x5000, {2, 7}), nullptr);  // but not another VPID
}

TEST(Tlb, LargePagesUseTheirOwnArray) {
  TlbConfig config{{{12, 4, 4}, {21, 2, 2}}, 0};
  Tlb tlb({}, config);
  TlbEntry big = entry_4k(0x40000000);
  big.page_shift = 21;
  tlb.insert(0x200000, big);
  const TlbEntry* e = tlb.lookup(0x3fffff, {});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->page_shift, 21);
  EXPECT_EQ(e->translate(0x3fffff), 0x401fffffu);
}

TEST(Tlb, PageSizeWithoutArrayIsCachedAsItsTouched4KPiece) {
  Tlb tlb({}, one_array(4, 4));
  TlbEntry huge = entry_4k(0x40000000);
  huge.page_shift = 30;
  tlb.insert(0x12345678, huge);
  const TlbEntry* e = tlb.lookup(0x12345000, {});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->page_shift, 12);
  EXPECT_EQ(e->translate(0x12345678), 0x52345678u);
  EXPECT_EQ(tlb.lookup(0x12346000, {}), nullptr);
}

TEST(Tlb, InvalidatePageAndFlush) {
  Tlb tlb({}, one_array(16, 4));
  tlb.insert(0x1000, entry_4k(0x10000, 1));
  tlb.insert(0x1000, entry_4k(0x10000, 2));
  tlb.insert(0x2000, entry_4k(0x20000, 1, true));
  EXPECT_EQ(tlb.valid_entries(), 3u);
  tlb.invalidate_page(0x1abc, 0);  // every PCID's entry for the page
  EXPECT_EQ(tlb.valid_entries(), 1u);
  EXPECT_EQ(tlb.invalidations.count(), 2u);
  tlb.flush_all();
  EXPECT_EQ(tlb.valid_entries(), 0u);
}

TEST(Tlb, BadGeometryIsRejected) {
  EXPECT_THROW(Tlb({}, one_array(6, 4)), std::invalid_argument);
  EXPECT_THROW(Tlb({}, one_array(12, 4)), std::invalid_argument);  // 3 sets
}

TEST(Tlb, ParametersGiveSkylakeLikeDefaults) {
  ParamRegistry registry;
  TlbParameters p({&registry, nullptr, "dtlb"});
  const auto c = p.config();
  ASSERT_EQ(c.arrays.size(), 3u);
  EXPECT_EQ(c.arrays[0].entries, 64u);
  EXPECT_EQ(c.arrays[1].entries, 32u);
  EXPECT_EQ(c.arrays[2].entries, 4u);
  EXPECT_EQ(registry.specs().size(), 7u);
}

}  // namespace
}  // namespace virtsim
