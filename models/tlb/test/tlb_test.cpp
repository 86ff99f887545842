#include "virtsim/tlb/tlb.h"
#include "virtsim/tlb/translation_path.h"

#include "virtsim/common/state_stream.h"

#include <gtest/gtest.h>

#include <algorithm>

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
  tlb.invlpg(0x1abc, {1, 0});  // the current PCID's entry for the page (PCID 2's survives)
  EXPECT_EQ(tlb.valid_entries(), 2u);
  EXPECT_EQ(tlb.invalidations.count(), 1u);
  tlb.flush_all();
  EXPECT_EQ(tlb.valid_entries(), 0u);
}

TEST(Tlb, BadGeometryIsRejected) {
  EXPECT_THROW(Tlb({}, one_array(6, 4)), ConfigError);
  EXPECT_THROW(Tlb({}, one_array(12, 4)), ConfigError);  // 3 sets
}

TEST(Tlb, ParametersGiveSkylakeLikeDefaults) {
  ParamRegistry registry;
  TlbParameters p({&registry, nullptr, "dtlb"});
  const auto c = p.config();
  ASSERT_EQ(c.arrays.size(), 5u);
  EXPECT_EQ(c.arrays[0].entries, 64u);
  EXPECT_EQ(c.arrays[1].entries, 32u);
  EXPECT_EQ(c.arrays[2].entries, 0u);  // no 4 MiB array
  EXPECT_EQ(c.arrays[3].entries, 4u);
  EXPECT_EQ(c.arrays[4].entries, 0u);  // no mixed array
  EXPECT_EQ(c.replacement, "lru");
  EXPECT_EQ(registry.specs().size(), 12u);
}

// ---- replacement policies ----

TlbConfig policy(unsigned ways, const std::string& r, std::uint64_t seed = 1) {
  TlbConfig c{{{12, ways, ways}}, 0};
  c.replacement = r;
  c.seed = seed;
  return c;
}

// The victim after filling pages 1..4 of a 4-way set and touching 1, 3 and 2 again.
Addr victim_after_touches(const std::string& r) {
  Tlb tlb({}, policy(4, r));
  for (Addr p = 1; p <= 4; ++p) tlb.insert(p << 12, entry_4k(p << 20));
  for (Addr p : {1, 3, 2}) EXPECT_NE(tlb.lookup(p << 12, {}), nullptr);
  tlb.insert(Addr{5} << 12, entry_4k(Addr{5} << 20));
  for (Addr p = 1; p <= 4; ++p)
    if (!tlb.probe(p << 12, {})) return p;
  return 0;
}

TEST(TlbReplacement, LruAndTreePlruPickTheirOwnVictims) {
  // LRU: the order of use is 4, 1, 3, 2 -> 4 is oldest.
  EXPECT_EQ(victim_after_touches("lru"), 4u);
  // Tree-PLRU over ways 0-3 (pages 1-4): the last touch (page 2, left half) points the root
  // right, where the touch of page 3 left page 4 as the victim.
  EXPECT_EQ(victim_after_touches("plru"), 4u);
  // A sequence where they differ:
  Tlb lru({}, policy(4, "lru")), plru({}, policy(4, "plru"));
  for (Tlb* t : {&lru, &plru}) {
    for (Addr p = 1; p <= 4; ++p) t->insert(p << 12, entry_4k(p << 20));
    for (Addr p : {1, 2, 3, 4, 1}) t->lookup(p << 12, {});
    t->insert(Addr{5} << 12, entry_4k(Addr{5} << 20));
  }
  // LRU: use order 2,3,4,1 -> evicts 2. PLRU: last touch 1 (left) -> root points right; the
  // right node points away from 4 (touched after 3) -> way 2 (page 3).
  EXPECT_EQ(lru.probe(Addr{2} << 12, {}), nullptr);
  EXPECT_NE(lru.probe(Addr{3} << 12, {}), nullptr);
  EXPECT_EQ(plru.probe(Addr{3} << 12, {}), nullptr);
  EXPECT_NE(plru.probe(Addr{2} << 12, {}), nullptr);
}

TEST(TlbReplacement, RandomIsDeterministicForASeed) {
  auto survivors = [](std::uint64_t seed) {
    Tlb tlb({}, policy(8, "random", seed));
    for (Addr p = 1; p <= 64; ++p) tlb.insert(p << 12, entry_4k(p << 20));
    std::vector<Addr> kept;
    for (Addr p = 1; p <= 64; ++p)
      if (tlb.probe(p << 12, {})) kept.push_back(p);
    return kept;
  };
  EXPECT_EQ(survivors(7), survivors(7));
  EXPECT_NE(survivors(7), survivors(8));
  EXPECT_EQ(survivors(7).size(), 8u);
  EXPECT_THROW(Tlb({}, policy(12, "plru")), ConfigError);  // not a power of two
}

TEST(TlbArrays, MixedArrayHoldsEveryPageSize) {
  TlbConfig c{{{0, 8, 8}}, 0};  // Zen 2 style: fully associative, all sizes
  Tlb tlb({}, c);
  TlbEntry big = entry_4k(0x40000000);
  big.page_shift = 30;
  tlb.insert(0x80001234, big);
  TlbEntry mid = entry_4k(0x600000);
  mid.page_shift = 21;
  tlb.insert(0x200000, mid);
  tlb.insert(0x5000, entry_4k(0x9000));
  ASSERT_NE(tlb.lookup(0xbfffffff, {}), nullptr);
  EXPECT_EQ(tlb.lookup(0xbfffffff, {})->translate(0xbfffffff), 0x7fffffffu);
  EXPECT_EQ(tlb.lookup(0x3ff000, {})->page_shift, 21);
  EXPECT_EQ(tlb.lookup(0x5008, {})->translate(0x5008), 0x9008u);
  EXPECT_EQ(tlb.hits_4k.count(), 1u);
  EXPECT_EQ(tlb.hits_2m.count(), 1u);
  EXPECT_EQ(tlb.hits_4m.count(), 0u);
  EXPECT_EQ(tlb.hits_1g.count(), 2u);
  // Set-associative mixed arrays probe once per page size.
  Tlb sets({}, TlbConfig{{{0, 16, 4}}, 0});
  sets.insert(0x200000, mid);
  sets.insert(0x201000, entry_4k(0x9000));
  EXPECT_EQ(sets.lookup(0x201000, {})->page_shift, 12);  // the 4 KiB entry is found first
  EXPECT_EQ(sets.lookup(0x3ff000, {})->page_shift, 21);
}

TEST(TlbArrays, FourMegabytePagesSplinterIntoTheLargestHeldPiece) {
  Tlb tlb({}, TlbConfig{{{12, 4, 4}, {21, 4, 4}}, 0});
  TlbEntry four = entry_4k(0x800000);
  four.page_shift = 22;
  tlb.insert(0x400000 + 0x234567, four);
  const TlbEntry* e = tlb.lookup(0x600000, {});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->page_shift, 21);
  EXPECT_EQ(e->translate(0x600010), 0xa00010u);
  EXPECT_EQ(tlb.lookup(0x400000, {}), nullptr);  // the other 2 MiB half was not cached
}

TEST(TlbHierarchyTest, StlbRefillsTheL1AndFetchesUseTheItlb) {
  ParamRegistry registry;
  TlbHierarchyParameters p({&registry, nullptr, "cpu"});
  TlbHierarchy h({}, p);
  h.fill(0x1000, AccessKind::Load, entry_4k(0x9000));
  EXPECT_EQ(h.lookup(0x1000, AccessKind::Load, {}).level, 1);
  EXPECT_EQ(h.lookup(0x1000, AccessKind::Fetch, {}).level, 2);  // the ITLB missed, the STLB had it
  const auto again = h.lookup(0x1000, AccessKind::Fetch, {});
  EXPECT_EQ(again.level, 1);  // refilled into the ITLB
  EXPECT_EQ(again.cycles, p.itlb.hit_cycles.get());
  h.dtlb.flush_all();
  const auto l2 = h.lookup(0x1000, AccessKind::Load, {});
  EXPECT_EQ(l2.level, 2);
  EXPECT_EQ(l2.cycles, p.dtlb.hit_cycles.get() + p.stlb.hit_cycles.get());
  EXPECT_EQ(h.stlb.config().hit_cycles, 12u);
  EXPECT_EQ(h.lookup(0x7000, AccessKind::Load, {}).level, -1);
}

// ---- invalidations: exactly which entries survive each operation ----

struct Made {
  Addr va;
  TlbEntry entry;
};

// Every combination of VPID {0,1,2} x PCID {0,1,2} x global x nested context {0,5,6} x two
// 4 KiB pages, plus a 2 MiB page covering the first one.
std::vector<Made> population() {
  std::vector<Made> all;
  for (std::uint16_t vpid : {0, 1, 2})
    for (std::uint16_t pcid : {0, 1, 2})
      for (bool global : {false, true})
        for (std::uint16_t nested : {0, 5, 6})
          for (auto [va, shift] : {std::pair<Addr, unsigned>{0x201000, 12}, {0x7000, 12}, {0x201000, 21}}) {
            TlbEntry e = entry_4k(0xabc000, pcid, global);
            e.vpid = vpid;
            e.nested_context = nested;
            e.page_shift = static_cast<std::uint8_t>(shift);
            e.physical_base = shift == 21 ? 0x40000000 : 0xabc000;
            all.push_back({va, e});
          }
  return all;
}

struct InvalidationCase {
  const char* name;
  std::function<void(Tlb&)> apply;
  std::function<bool(const TlbEntry&)> dropped;  // written from the manuals, independently
};

TEST(TlbInvalidation, EachOperationDropsExactlyItsScope) {
  auto on_page = [](const TlbEntry& e, Addr va) { return (va >> e.page_shift) == e.virtual_page; };
  const std::vector<InvalidationCase> cases{
      {"INVLPG", [](Tlb& t) { t.invlpg(0x201abc, {1, 2, 0}); },
       [&](const TlbEntry& e) { return e.vpid == 2 && on_page(e, 0x201abc) && (e.global || e.pcid == 1); }},
      {"MOV CR3, PCIDE=0", [](Tlb& t) { t.mov_to_cr3(0, false, false, 1); },
       [](const TlbEntry& e) { return e.vpid == 1 && e.pcid == 0 && !e.global; }},
      {"MOV CR3, PCIDE=1", [](Tlb& t) { t.mov_to_cr3(2, true, false, 1); },
       [](const TlbEntry& e) { return e.vpid == 1 && e.pcid == 2 && !e.global; }},
      {"MOV CR3, no-flush", [](Tlb& t) { t.mov_to_cr3(2, true, true, 1); }, [](const TlbEntry&) { return false; }},
      {"CR4.PGE toggle", [](Tlb& t) { t.cr4_change(2); }, [](const TlbEntry& e) { return e.vpid == 2; }},
      {"INVPCID 0", [](Tlb& t) { t.invpcid(0, 1, 0x7000, 0); },
       [&](const TlbEntry& e) { return e.vpid == 0 && e.pcid == 1 && !e.global && on_page(e, 0x7000); }},
      {"INVPCID 1", [](Tlb& t) { t.invpcid(1, 1, 0, 0); },
       [](const TlbEntry& e) { return e.vpid == 0 && e.pcid == 1 && !e.global; }},
      {"INVPCID 2", [](Tlb& t) { t.invpcid(2, 0, 0, 1); }, [](const TlbEntry& e) { return e.vpid == 1; }},
      {"INVPCID 3", [](Tlb& t) { t.invpcid(3, 0, 0, 1); },
       [](const TlbEntry& e) { return e.vpid == 1 && !e.global; }},
      {"INVVPID 0", [](Tlb& t) { t.invvpid(0, 2, 0x201000); },
       [&](const TlbEntry& e) { return e.vpid == 2 && on_page(e, 0x201000); }},
      {"INVVPID 1", [](Tlb& t) { t.invvpid(1, 2, 0); }, [](const TlbEntry& e) { return e.vpid == 2; }},
      {"INVVPID 2", [](Tlb& t) { t.invvpid(2, 0, 0); }, [](const TlbEntry& e) { return e.vpid != 0; }},
      {"INVVPID 3", [](Tlb& t) { t.invvpid(3, 1, 0); }, [](const TlbEntry& e) { return e.vpid == 1 && !e.global; }},
      {"INVEPT single", [](Tlb& t) { t.invept(false, 5); }, [](const TlbEntry& e) { return e.nested_context == 5; }},
      {"INVEPT global", [](Tlb& t) { t.invept(true, 0); }, [](const TlbEntry& e) { return e.nested_context != 0; }},
      {"TLB_CONTROL 0", [](Tlb& t) { t.svm_tlb_control(0, 1); }, [](const TlbEntry&) { return false; }},
      {"TLB_CONTROL 1", [](Tlb& t) { t.svm_tlb_control(1, 1); }, [](const TlbEntry&) { return true; }},
      {"TLB_CONTROL 3", [](Tlb& t) { t.svm_tlb_control(3, 1); }, [](const TlbEntry& e) { return e.vpid == 1; }},
      {"TLB_CONTROL 7", [](Tlb& t) { t.svm_tlb_control(7, 1); },
       [](const TlbEntry& e) { return e.vpid == 1 && !e.global; }},
      {"INVLPGA", [](Tlb& t) { t.invlpga(0x7abc, 2); }, [&](const TlbEntry& e) { return e.vpid == 2 && on_page(e, 0x7abc); }},
      {"VM entry/exit untagged", [](Tlb& t) { t.transition_flush(); }, [](const TlbEntry& e) { return e.vpid == 0; }},
  };
  const auto made = population();
  for (const auto& c : cases) {
    Tlb tlb({}, TlbConfig{{{12, 256, 256}, {21, 128, 128}}, 0});
    for (const auto& m : made) tlb.insert(m.va, m.entry);
    ASSERT_EQ(tlb.valid_entries(), made.size()) << "every entry must fit";
    const auto before = tlb.entries();
    c.apply(tlb);
    std::size_t expected_survivors = 0;
    for (const auto& e : before) {
      const bool survives = tlb.probe(e.virtual_page << e.page_shift, {e.pcid, e.vpid, e.nested_context}) != nullptr &&
                            [&] {
                              for (const auto& k : tlb.entries())
                                if (k.virtual_page == e.virtual_page && k.page_shift == e.page_shift &&
                                    k.vpid == e.vpid && k.pcid == e.pcid && k.global == e.global &&
                                    k.nested_context == e.nested_context)
                                  return true;
                              return false;
                            }();
      EXPECT_EQ(survives, !c.dropped(e)) << c.name << ": vpid " << e.vpid << " pcid " << e.pcid << " global "
                                         << e.global << " nested " << e.nested_context << " page "
                                         << to_hex(e.virtual_page << e.page_shift) << "/" << int(e.page_shift);
      expected_survivors += !c.dropped(e);
    }
    EXPECT_EQ(tlb.valid_entries(), expected_survivors) << c.name;
    EXPECT_EQ(tlb.invalidations.count(), before.size() - expected_survivors) << c.name;
    EXPECT_EQ(tlb.operations_by_kind.value(), 1.0) << c.name;
  }
}

// ---- invalidations visit only the filled entries (a list of them per array) ----

TlbEntry tagged_4k(Addr pa, std::uint16_t vpid) {
  TlbEntry e = entry_4k(pa);
  e.vpid = vpid;
  return e;
}

TEST(TlbFilledEntries, FlushOfAnEmptyTlbDropsNothing) {
  Tlb tlb({}, one_array(16, 4));
  tlb.transition_flush();
  tlb.flush_all();
  EXPECT_EQ(tlb.invalidations.count(), 0u);
  EXPECT_EQ(tlb.operations_by_kind.value(), 1.0);  // the transition flush still counts as an operation
  EXPECT_EQ(tlb.valid_entries(), 0u);
}

TEST(TlbFilledEntries, FlushedWaysAreRefilledAsFreeBeforeAnyEviction) {
  Tlb tlb({}, one_array(4, 4));  // one set of four ways
  for (Addr p = 1; p <= 4; ++p) tlb.insert(p << 12, entry_4k(p << 20));
  tlb.transition_flush();
  EXPECT_EQ(tlb.invalidations.count(), 4u);
  EXPECT_EQ(tlb.valid_entries(), 0u);
  for (Addr p = 5; p <= 8; ++p) tlb.insert(p << 12, entry_4k(p << 20));
  EXPECT_EQ(tlb.evictions.count(), 0u);
  EXPECT_EQ(tlb.valid_entries(), 4u);
  for (Addr p = 1; p <= 4; ++p) EXPECT_EQ(tlb.probe(p << 12, {}), nullptr);
  // The fifth fill evicts the least recently used of the refilled ways, page 5.
  tlb.insert(Addr{9} << 12, entry_4k(Addr{9} << 20));
  EXPECT_EQ(tlb.evictions.count(), 1u);
  EXPECT_EQ(tlb.probe(Addr{5} << 12, {}), nullptr);
  for (Addr p = 6; p <= 9; ++p) EXPECT_NE(tlb.probe(p << 12, {}), nullptr);
  tlb.transition_flush();  // an eviction or a refresh keeps one place per entry: four are dropped
  tlb.insert(Addr{6} << 12, entry_4k(Addr{6} << 20));
  tlb.insert(Addr{6} << 12, entry_4k(Addr{6} << 20));
  EXPECT_EQ(tlb.valid_entries(), 1u);
  tlb.flush_all();
  EXPECT_EQ(tlb.invalidations.count(), 9u);
}

TEST(TlbFilledEntries, FlushOfOneTagKeepsTheOthersAndTheirWays) {
  Tlb tlb({}, one_array(4, 4));
  for (Addr p = 1; p <= 4; ++p) tlb.insert(p << 12, tagged_4k(p << 20, p % 2 ? 0 : 7));  // VPIDs 0, 7, 0, 7
  tlb.transition_flush();  // drops VPID 0: ways 0 and 2
  EXPECT_EQ(tlb.invalidations.count(), 2u);
  EXPECT_NE(tlb.lookup(Addr{2} << 12, {0, 7}), nullptr);
  EXPECT_NE(tlb.lookup(Addr{4} << 12, {0, 7}), nullptr);
  EXPECT_EQ(tlb.probe(Addr{1} << 12, {}), nullptr);
  // The two freed ways take the next two fills without an eviction; the third evicts.
  tlb.insert(Addr{5} << 12, tagged_4k(Addr{5} << 20, 0));
  tlb.insert(Addr{6} << 12, tagged_4k(Addr{6} << 20, 0));
  EXPECT_EQ(tlb.evictions.count(), 0u);
  tlb.insert(Addr{8} << 12, tagged_4k(Addr{8} << 20, 0));
  EXPECT_EQ(tlb.evictions.count(), 1u);
  EXPECT_EQ(tlb.probe(Addr{2} << 12, {0, 7}), nullptr);  // VPID 7's page 2: touched before page 4
  tlb.invvpid(1, 7, 0);
  EXPECT_EQ(tlb.invalidations.count(), 3u);
  EXPECT_EQ(tlb.valid_entries(), 3u);
  EXPECT_EQ(tlb.entries().size(), 3u);
}

// Random fills and invalidations of every kind over several arrays: the filled entries the
// invalidations visit are always exactly the valid ones (a scan of every entry agrees), and
// every drop is counted.
TEST(TlbFilledEntries, StayExactlyTheValidEntriesUnderRandomOperations) {
  for (const std::string r : {"lru", "plru", "random"}) {
    TlbConfig c{{{12, 16, 4}, {21, 4, 4}, {0, 8, 8}}, 0};
    c.replacement = r;
    Tlb tlb({}, c);
    std::uint64_t state = 12345;
    const auto next = [&](std::uint64_t n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return (state >> 33) % n;
    };
    for (int step = 0; step < 20000; ++step) {
      const std::uint16_t vpid = static_cast<std::uint16_t>(next(3));
      const std::uint16_t pcid = static_cast<std::uint16_t>(next(2));
      const Addr va = next(64) << 12;
      const std::size_t before = tlb.entries().size();
      const std::uint64_t dropped_before = tlb.invalidations.count();
      const auto operation = next(10);
      switch (operation) {
        case 0: tlb.transition_flush(); break;
        case 1: tlb.invlpg(va, {pcid, vpid, 0}); break;
        case 2: tlb.mov_to_cr3(pcid, next(2) == 1, false, vpid); break;
        case 3: tlb.invvpid(static_cast<unsigned>(next(4)), vpid, va); break;
        default: {
          TlbEntry e = tagged_4k(va + (Addr{1} << 30), vpid);
          e.pcid = pcid;
          e.global = next(8) == 0;
          e.page_shift = next(4) == 0 ? 21 : next(3) == 0 ? 30 : 12;
          tlb.insert(va, e);
        }
      }
      const std::size_t after = tlb.entries().size();
      ASSERT_EQ(tlb.valid_entries(), after) << "step " << step;
      if (operation <= 3) {
        ASSERT_EQ(tlb.invalidations.count() - dropped_before, before - after) << "step " << step;
      } else {
        ASSERT_EQ(tlb.invalidations.count(), dropped_before) << "step " << step;
      }
    }
  }
}

// The hit path's lookup_usable() must give what lookup() followed by TranslationPath::usable()
// gives (the same entry or none, the same counts, the same replacement state, so the same
// later evictions) for every array shape: a scanned 4 KiB array probed inline, a hashed one,
// a mixed one, none. Entries differ in tags, globality and every right the access checks.
TEST(TlbHitPath, LookupUsableIsLookupThenTheRightsCheck) {
  const std::vector<TlbConfig> shapes{{{{12, 16, 4}, {21, 8, 4}, {30, 4, 4}}, 0},
                                      {{{12, 64, 8}, {21, 4, 4}}, 0},
                                      {{{12, 4, 4}, {0, 8, 8}}, 0},
                                      {{{0, 16, 4}}, 0},
                                      {{{21, 8, 2}, {30, 2, 2}}, 0}};
  for (const std::string r : {"lru", "random"}) {
    for (const TlbConfig& shape : shapes) {
      TlbConfig c = shape;
      c.replacement = r;
      Tlb inline_path({}, c), plain({}, c);
      std::uint64_t state = 777;
      const auto next = [&](std::uint64_t n) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return (state >> 33) % n;
      };
      for (int step = 0; step < 30000; ++step) {
        const TlbTags tags{static_cast<std::uint16_t>(next(3)), static_cast<std::uint16_t>(next(3)),
                           static_cast<std::uint16_t>(next(2))};
        const Addr va = (next(64) << 12) + (next(2) << 21) + (next(2) << 39) + next(4096);
        if (next(4) == 0) {
          TlbEntry e;
          e.page_shift = next(4) == 0 ? 21 : next(6) == 0 ? 30 : 12;
          e.mapping_shift = e.page_shift;
          e.physical_base = (Addr{1} << 32) + (va & ~((Addr{1} << e.page_shift) - 1));
          e.pcid = tags.pcid;
          e.vpid = tags.vpid;
          e.nested_context = tags.nested_context;
          e.global = next(6) == 0;
          e.writable = next(2) == 1;
          e.dirty = next(2) == 1;
          e.user = next(2) == 1;
          e.executable = next(2) == 1;
          inline_path.insert(va, e);
          plain.insert(va, e);
          continue;
        }
        if (next(50) == 0) {
          inline_path.mov_to_cr3(tags.pcid, false, false, tags.vpid);
          plain.mov_to_cr3(tags.pcid, false, false, tags.vpid);
        }
        const AccessKind kind = static_cast<AccessKind>(next(3));
        const bool user = next(2) == 1;
        const TlbEntry* got = inline_path.lookup_usable(va, tags, Tlb::rights_for(kind, user));
        const TlbEntry* expected = plain.lookup(va, tags);
        if (!TranslationPath::usable(expected, kind, user)) expected = nullptr;
        ASSERT_EQ(got == nullptr, expected == nullptr) << "step " << step;
        if (got) {
          ASSERT_EQ(got->translate(va), expected->translate(va)) << "step " << step;
        }
      }
      EXPECT_GT(plain.hits.count(), 1000u);
      for (Counter Tlb::*counter : {&Tlb::accesses, &Tlb::hits, &Tlb::misses, &Tlb::evictions, &Tlb::hits_4k,
                                  &Tlb::hits_2m, &Tlb::hits_1g})
        EXPECT_EQ((inline_path.*counter).count(), (plain.*counter).count());
      const auto pages = [](const Tlb& t) {
        std::vector<std::pair<Addr, Addr>> p;
        for (const TlbEntry& e : t.entries()) p.emplace_back(e.virtual_page, e.physical_base);
        std::sort(p.begin(), p.end());
        return p;
      };
      EXPECT_EQ(pages(inline_path), pages(plain));
    }
  }
}

// A fill right after a lookup of its page that found nothing skips the search for an entry to
// refresh. Here lookups find nothing, find the entry and use it, or find an entry without
// the rights the access needs (whose fill must refresh it in place), amid invalidations and
// swaps with another TLB: every fill must leave one entry per page, size and tags, and the
// next lookup must see what was filled last.
TEST(TlbFilledEntries, FillsAfterLookupsKeepOneEntryPerPageAndTags) {
  for (const TlbConfig& c : {TlbConfig{{{12, 16, 4}, {21, 4, 4}, {0, 8, 8}}, 0},
                             TlbConfig{{{0, 1536, 12}}, 0}, TlbConfig{{{12, 8, 8}}, 0}}) {
    Tlb tlb({}, c), other({}, c);
    std::uint64_t state = 777;
    const auto next = [&](std::uint64_t n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return (state >> 33) % n;
    };
    for (int step = 0; step < 20000; ++step) {
      const TlbTags tags{static_cast<std::uint16_t>(next(2)), static_cast<std::uint16_t>(next(2)), 0};
      const Addr va = (next(48) << 12) | next(4096);
      const TlbEntry* found = tlb.lookup(va, tags);
      if (found && next(2) == 0) continue;  // used as it is
      // Between the lookup and the fill: entries dropped, or entries of another TLB coming in.
      switch (next(8)) {
        case 0: tlb.invlpg(va, tags); break;
        case 1: tlb.swap_entries(other); break;
        case 2: tlb.mov_to_cr3(tags.pcid, true, false, tags.vpid); break;
        default: break;
      }
      // Mostly the tags looked up; sometimes others, whose entry the lookup did not look for.
      const bool same_tags = next(3) != 0;
      TlbEntry e = tagged_4k(Addr{0x40000000} + (va & ~Addr{0xfff}) + (static_cast<Addr>(step) << 32),
                             same_tags ? tags.vpid : static_cast<std::uint16_t>(next(2)));
      e.pcid = same_tags ? tags.pcid : static_cast<std::uint16_t>(next(2));
      e.global = next(6) == 0;
      e.page_shift = next(5) == 0 ? 21 : 12;
      e.writable = next(2) == 0;  // a refill after a store found a read-only entry
      tlb.insert(va, e);
      std::vector<TlbEntry> all = tlb.entries();
      for (std::size_t i = 0; i < all.size(); ++i)
        for (std::size_t j = i + 1; j < all.size(); ++j) {
          const TlbEntry &a = all[i], &b = all[j];
          ASSERT_FALSE(a.virtual_page == b.virtual_page && a.page_shift == b.page_shift && a.vpid == b.vpid &&
                       a.pcid == b.pcid && a.nested_context == b.nested_context && a.global == b.global)
              << "step " << step << ": two entries for one page and tags";
        }
      // The entry filled (at its size, or as its 4 KiB piece where no array holds 2 MiB pages)
      // has the rights of this fill.
      const auto filled = std::find_if(all.begin(), all.end(), [&](const TlbEntry& x) {
        return x.virtual_page == (va >> x.page_shift) && x.vpid == e.vpid && x.pcid == e.pcid &&
               x.global == e.global && x.nested_context == 0 && x.mapping_shift == e.page_shift;
      });
      ASSERT_NE(filled, all.end()) << "step " << step;
      ASSERT_EQ(filled->writable, e.writable) << "step " << step << ": the fill did not refresh the entry";
    }
  }
}

// Invalidations by address visit only the sets the address falls in (per page size held),
// or every valid entry while an array holds pieces of larger mappings. Either way they must
// drop exactly what the architectural scope says: compared here with a filter of every entry,
// over per-size and mixed set-associative arrays, splintered 1 GiB pages (no 1 GiB array) and
// combined mappings whose 4 KiB entries are pieces of a 2 MiB guest page. Two shapes: small
// per-size arrays beside a hashed mixed one, and the default L1 DTLB's arrays (a fully
// associative 1 GiB one among them) beside the default STLB's 1536-entry 12-way mixed array.
TEST(TlbInvalidation, ByAddressDropsExactlyWhatAScanOfEveryEntryWould) {
  // Without pieces every invalidation by address takes the one-set path; with them, after the
  // first piece, the path over the valid entries.
  for (const bool pieces : {false, true})
    for (const TlbConfig& c : {TlbConfig{{{12, 32, 4}, {21, 8, 4}, {0, 32, 8}}, 0},
                               TlbConfig{{{12, 64, 4}, {21, 32, 4}, {30, 4, 4}, {0, 1536, 12}}, 0}}) {
      Tlb tlb({}, c);
      std::uint64_t state = 777;
      const auto next = [&](std::uint64_t n) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return (state >> 33) % n;
      };
      const auto same = [](const TlbEntry& a, const TlbEntry& b) {
        return a.virtual_page == b.virtual_page && a.page_shift == b.page_shift && a.vpid == b.vpid &&
               a.pcid == b.pcid && a.global == b.global;
      };
      for (int step = 0; step < 20000; ++step) {
        const std::uint16_t vpid = static_cast<std::uint16_t>(next(2));
        const std::uint16_t pcid = static_cast<std::uint16_t>(next(2));
        const Addr va = (next(4) << 30) | (next(4) << 21) | (next(8) << 12);
        if (next(3) != 0) {
          TlbEntry e = tagged_4k(va + (Addr{1} << 40), vpid);
          e.pcid = pcid;
          e.global = next(8) == 0;
          const auto size = next(8);
          e.page_shift = size == 0 ? 30 : size == 1 ? 21 : 12;
          if (pieces && size == 2) e.mapping_shift = 21;  // a piece of a 2 MiB guest page (combined mapping)
          tlb.insert(va, e);
          continue;
        }
        const std::vector<TlbEntry> before = tlb.entries();
        const std::uint64_t dropped_before = tlb.invalidations.count();
        std::vector<TlbEntry> expected;
        const auto op = next(4);
        for (const TlbEntry& e : before) {
          const bool drop = op == 0   ? e.vpid == vpid && e.same_mapping(va) && (e.global || e.pcid == pcid)
                            : op == 1 ? e.vpid == vpid && !e.global && e.pcid == pcid && e.same_mapping(va)
                                      : e.vpid == vpid && e.same_mapping(va);  // INVLPGA, INVVPID type 0
          if (!drop) expected.push_back(e);
        }
        if (op == 0)
          tlb.invlpg(va, {pcid, vpid, 0});
        else if (op == 1)
          tlb.invpcid(0, pcid, va, vpid);
        else if (op == 2)
          tlb.invlpga(va, vpid);
        else
          tlb.invvpid(0, vpid, va);
        const std::vector<TlbEntry> after = tlb.entries();
        ASSERT_EQ(after.size(), expected.size()) << "step " << step;
        for (const TlbEntry& e : expected)
          ASSERT_TRUE(std::any_of(after.begin(), after.end(), [&](const TlbEntry& a) { return same(a, e); }))
              << "step " << step;
        ASSERT_EQ(tlb.invalidations.count() - dropped_before, before.size() - after.size())
            << "step " << step;
      }
    }
}

// Invalidations by context visit only the filled entries of each array (its list of them).
// Random fills (VPIDs up to 40, PCIDs, nested contexts, global entries, evictions) and every
// operation by context, flush_all among them: the entries left are always those a filter of
// every entry leaves, and every drop is counted.
TEST(TlbInvalidation, ByContextDropsExactlyWhatAScanOfEveryEntryWould) {
  for (const TlbConfig& c : {TlbConfig{{{12, 16, 4}, {21, 8, 4}, {0, 32, 8}}, 0},
                             TlbConfig{{{12, 64, 4}, {21, 32, 4}, {30, 4, 4}, {0, 1536, 12}}, 0}}) {
    Tlb tlb({}, c);
    std::uint64_t state = 4242;
    const auto next = [&](std::uint64_t n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return (state >> 33) % n;
    };
    const auto same = [](const TlbEntry& a, const TlbEntry& b) {
      return a.virtual_page == b.virtual_page && a.page_shift == b.page_shift && a.vpid == b.vpid &&
             a.pcid == b.pcid && a.global == b.global && a.nested_context == b.nested_context;
    };
    for (int step = 0; step < 20000; ++step) {
      const std::uint16_t vpid = static_cast<std::uint16_t>(next(4) == 0 ? 0 : next(40));
      const std::uint16_t pcid = static_cast<std::uint16_t>(next(3));
      const std::uint16_t context = static_cast<std::uint16_t>(next(3) == 0 ? 0 : 1 + next(3));
      if (next(4) != 0) {
        const Addr va = next(2048) << 12;
        TlbEntry e = tagged_4k(va + (Addr{1} << 40), vpid);
        e.pcid = pcid;
        e.nested_context = context;
        e.global = next(8) == 0;
        e.page_shift = next(6) == 0 ? 21 : 12;
        tlb.insert(va, e);
        continue;
      }
      const std::vector<TlbEntry> before = tlb.entries();
      const std::uint64_t dropped_before = tlb.invalidations.count();
      const auto op = next(12);
      const unsigned type = static_cast<unsigned>(1 + next(3));  // INVPCID / INVVPID types 1-3
      const auto drops = [&](const TlbEntry& e) {
        switch (op) {
          case 0: return e.vpid == vpid && !e.global && e.pcid == pcid;  // MOV to CR3
          case 1: return e.vpid == vpid;                                   // CR4 change
          case 2:
            return type == 1 ? e.vpid == vpid && !e.global && e.pcid == pcid
                   : type == 2 ? e.vpid == vpid
                               : e.vpid == vpid && !e.global;
          case 3: return type == 2 ? e.vpid != 0 : type == 1 ? e.vpid == vpid : e.vpid == vpid && !e.global;
          case 4: return e.nested_context != 0 && e.nested_context == context;  // INVEPT single
          case 5: return e.nested_context != 0;                                 // INVEPT global
          case 6: return e.vpid == vpid;                                        // TLB_CONTROL 3
          case 7: return e.vpid == vpid && !e.global;                           // TLB_CONTROL 7
          case 8: return e.vpid == 0;                                           // untagged transition
          case 9: return true;                                                  // TLB_CONTROL 1
          default: return true;                                                 // flush_all
        }
      };
      switch (op) {
        case 0: tlb.mov_to_cr3(pcid, true, false, vpid); break;
        case 1: tlb.cr4_change(vpid); break;
        case 2: tlb.invpcid(type, pcid, 0, vpid); break;
        case 3: tlb.invvpid(type, vpid, 0); break;
        case 4: tlb.invept(false, context); break;
        case 5: tlb.invept(true, 0); break;
        case 6: tlb.svm_tlb_control(3, vpid); break;
        case 7: tlb.svm_tlb_control(7, vpid); break;
        case 8: tlb.transition_flush(); break;
        case 9: tlb.svm_tlb_control(1, vpid); break;
        default: tlb.flush_all(); break;
      }
      std::vector<TlbEntry> expected;
      for (const TlbEntry& e : before)
        if (!drops(e)) expected.push_back(e);
      const std::vector<TlbEntry> after = tlb.entries();
      ASSERT_EQ(after.size(), expected.size()) << "step " << step << ", operation " << op;
      for (const TlbEntry& e : expected)
        ASSERT_TRUE(std::any_of(after.begin(), after.end(), [&](const TlbEntry& a) { return same(a, e); }))
            << "step " << step << ", operation " << op;
      ASSERT_EQ(tlb.invalidations.count() - dropped_before, before.size() - after.size()) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace virtsim

namespace virtsim {
namespace {

// Checkpoints (tlb_state.cpp): a TLB restored from a save holds the same entries, hits and
// evicts as the saved one (tags, the page sizes held and splintered pieces included), and
// describes its geometry by page size.
TEST(TlbState, RestoredTlbGoesOnAsTheSavedOne) {
  const TlbConfig config{{{12, 64, 4}, {21, 32, 4}, {0, 8, 8}}, 0};
  Tlb saved({}, config);
  TlbEntry big = entry_4k(0x40000000, 3);
  big.page_shift = 30;  // splintered into the 2 MiB array
  saved.insert(0x80000000, big);
  for (Addr i = 0; i < 200; ++i)
    saved.insert(i * 0x3000, entry_4k(0x100000 + i * 0x1000, static_cast<std::uint16_t>(i % 3), i % 7 == 0));
  for (Addr i = 0; i < 200; i += 3) saved.lookup(i * 0x3000, {0, 0, 0});
  StateWriter out;
  saved.save_state(out);
  Tlb restored({}, config);
  EXPECT_EQ(restored.geometry(), saved.geometry());
  EXPECT_EQ(saved.geometry().rfind("4 KiB 16x4 lru (stamps), 8+32-byte slots, listed; 2 MiB 8x4", 0), 0u)
      << saved.geometry();
  StateReader in(out.bytes().data(), out.bytes().size(), "test");
  restored.load_state(in);
  EXPECT_TRUE(in.at_end());
  const auto same = [](const std::vector<TlbEntry>& a, const std::vector<TlbEntry>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i].virtual_page != b[i].virtual_page || a[i].physical_base != b[i].physical_base ||
          a[i].pcid != b[i].pcid || a[i].global != b[i].global || a[i].page_shift != b[i].page_shift ||
          a[i].mapping_shift != b[i].mapping_shift)
        return false;
    return true;
  };
  EXPECT_TRUE(same(saved.entries(), restored.entries()));
  // The same traffic after: the same hits, evictions and survivors of an INVLPG of the large page.
  std::uint64_t hits[2], evictions[2], k = 0;
  for (Tlb* t : {&saved, &restored}) {
    const std::uint64_t hits_before = t->hits.count(), evictions_before = t->evictions.count();
    for (Addr i = 0; i < 500; ++i) {  // pages filled before the save, then new ones
      const Addr va = i < 200 ? i * 0x3000 : i * 0x5000;
      if (!t->lookup(va, {static_cast<std::uint16_t>(i % 3), 0, 0}) && i >= 200)
        t->insert(va, entry_4k(0x900000 + i * 0x1000, static_cast<std::uint16_t>(i % 3)));
    }
    t->invlpg(0x80123000, {3, 0, 0});
    hits[k] = t->hits.count() - hits_before;
    evictions[k++] = t->evictions.count() - evictions_before;
  }
  EXPECT_GT(hits[0], 0u);
  EXPECT_GT(evictions[0], 0u);
  EXPECT_EQ(hits[0], hits[1]);
  EXPECT_EQ(evictions[0], evictions[1]);
  EXPECT_TRUE(same(saved.entries(), restored.entries()));
}

}  // namespace
}  // namespace virtsim
