// Functional mode warms what detailed mode does: the same stream run functionally and in detail
// leaves the same entries in every TLB and the same lines in every cache level, after the same
// misses, evictions and writebacks, with an ITLB and without one (the streams then share the
// DTLB, so a stream's remembered page must be dropped when the other looks the DTLB up), and
// whether the vCPU knows the L1D's sets (each set's most recent line skipped) or not (only the
// last line of all). SystemC elaborates once per process, so one run holds all five platforms.
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "cached_cpu_rig.h"

namespace virtsim {
namespace {

constexpr Addr kData = 0x400000, kCode = 0x800000;
constexpr unsigned kDataPages = 24, kCodePages = 4;

// Fetches that run on through a line and a page, loads and stores that stay on a page for a
// while (the repeats functional mode reuses) or jump, stores after loads on the same page (a
// clean entry a store cannot reuse), accesses across a line and across a page, and a page-zeroing
// string instruction.
std::deque<GuestEvent> stream() {
  std::deque<GuestEvent> events;
  std::uint64_t x = 777;
  Addr pc = kCode, data = kData;
  for (int i = 0; i < 6000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    events.push_back(GuestEvent::memory(AccessKind::Fetch, pc));
    pc = (x >> 61) == 0 ? kCode + ((x >> 20) % (kCodePages * kPageSize4K)) / 4 * 4 : pc + 4;
    if (pc >= kCode + kCodePages * kPageSize4K) pc = kCode;
    if ((x >> 58) % 4 == 0) data = kData + ((x >> 24) % (kDataPages * kPageSize4K)) / 8 * 8;
    else data = kData + (data - kData + 8 * ((x >> 40) % 16)) % (kDataPages * kPageSize4K);
    switch ((x >> 33) % 8) {
      case 0: case 1: events.push_back(GuestEvent::memory(AccessKind::Store, data)); break;
      case 2: events.push_back(GuestEvent::kernel_store(data)); break;
      case 3: events.push_back(GuestEvent::memory(AccessKind::Load, data | 0x3c)); break;  // two lines
      case 4: events.push_back(GuestEvent::memory(AccessKind::Load, data | 0xffc)); break;  // two pages
      default: events.push_back(GuestEvent::memory(AccessKind::Load, data)); break;
    }
    if (i % 1500 == 700) events.push_back(GuestEvent::kernel_string(AccessKind::Store, data & ~(kPageSize4K - 1), 64));
    if (i % 7 == 0) events.push_back(GuestEvent::compute(3));
  }
  return events;
}

ParamRegistry configured(const std::string& p, bool itlb) {
  ParamRegistry params;
  params.set_value(p + "memory.size_mib", std::int64_t{64}, {"test"});
  params.set_value(p + "cpu.itlb_enabled", itlb, {"test"});
  // Small TLBs (4 sets of 4): pages share sets and evict one another.
  for (const char* tlb : {"cpu.dtlb.", "cpu.itlb."}) {
    params.set_value(p + tlb + "entries_4k", std::int64_t{16}, {"test"});
    params.set_value(p + tlb + "ways_4k", std::int64_t{4}, {"test"});
  }
  params.set_value(p + "caches.l1d.size_kib", std::int64_t{4}, {"test"});  // small: misses at every level
  params.set_value(p + "caches.l2.size_kib", std::int64_t{16}, {"test"});
  return params;
}

struct Rig : CachedCpuRig {
  Rig(const std::string& prefix, bool itlb, bool functional)
      : CachedCpuRig(prefix, configured(prefix, itlb), stream(), true) {
    cpu.set_functional(functional);
  }
};

void expect_same_warm_state(const char* platform, Rig& detailed, Rig& functional) {
  SCOPED_TRACE(platform);
  EXPECT_GT(detailed.cpu.page_faults.count(), kDataPages);
  EXPECT_GT(detailed.caches.l1d.misses.count(), 0u);
  EXPECT_GT(detailed.llc.misses.count(), 0u);
  EXPECT_EQ(functional.cpu.cycles.count(), 0u);  // no access was timed
  EXPECT_EQ(functional.cpu.page_faults.count(), detailed.cpu.page_faults.count());
  EXPECT_EQ(functional.mmu.walker.refs.count(), detailed.mmu.walker.refs.count());
  int tlbs = 0;
  Tlb* const mine[] = {&detailed.cpu.tlbs.dtlb, &detailed.cpu.tlbs.itlb, &detailed.cpu.tlbs.stlb};
  Tlb* const theirs[] = {&functional.cpu.tlbs.dtlb, &functional.cpu.tlbs.itlb, &functional.cpu.tlbs.stlb};
  const char* const names[] = {"dtlb", "itlb", "stlb"};
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(theirs[t]->misses.count(), mine[t]->misses.count()) << names[t];
    const std::vector<TlbEntry> a = mine[t]->entries(), b = theirs[t]->entries();
    ASSERT_EQ(a.size(), b.size()) << names[t];
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].valid, b[i].valid) << names[t] << " entry " << i;
      EXPECT_EQ(a[i].virtual_page, b[i].virtual_page) << names[t] << " entry " << i;
      EXPECT_EQ(a[i].physical_base, b[i].physical_base) << names[t] << " entry " << i;
      EXPECT_EQ(a[i].dirty, b[i].dirty) << names[t] << " entry " << i;
    }
    tlbs += a.empty() ? 0 : 1;
  }
  EXPECT_GE(tlbs, 2);
  // The lines functional mode skips are hits on their set's most recent line: exact.
  EXPECT_EQ(functional.caches.l1d.misses.count(), detailed.caches.l1d.misses.count());
  EXPECT_EQ(functional.caches.l1d.evictions.count(), detailed.caches.l1d.evictions.count());
  EXPECT_EQ(functional.caches.l1d.writebacks.count(), detailed.caches.l1d.writebacks.count());
  EXPECT_EQ(functional.caches.l2.writebacks.count(), detailed.caches.l2.writebacks.count());
  EXPECT_EQ(functional.caches.l2.misses.count(), detailed.caches.l2.misses.count());
  EXPECT_EQ(functional.llc.misses.count(), detailed.llc.misses.count());
  EXPECT_EQ(functional.llc.writebacks.count(), detailed.llc.writebacks.count());
  // Every line of every frame handed out (the tables and the data) is cached at the same levels.
  ASSERT_EQ(functional.frames.bytes_allocated(), detailed.frames.bytes_allocated());
  const Addr first = detailed.frames.first();
  for (Addr line = first; line < first + detailed.frames.bytes_allocated(); line += 64) {
    ASSERT_EQ(functional.caches.l1d.contains(line), detailed.caches.l1d.contains(line)) << to_hex(line);
    ASSERT_EQ(functional.caches.l2.contains(line), detailed.caches.l2.contains(line)) << to_hex(line);
    ASSERT_EQ(functional.llc.contains(line), detailed.llc.contains(line)) << to_hex(line);
  }
}

TEST(VcpuFunctional, WarmsTheSameTlbEntriesAndCacheLinesAsDetailedMode) {
  Rig detailed("detailed_", true, false), functional("functional_", true, true);
  Rig detailed_no_itlb("detailed_no_itlb_", false, false), functional_no_itlb("functional_no_itlb_", false, true);
  Rig functional_sets("functional_sets_", true, true);
  functional_sets.cpu.set_first_cache_level(64, 8);  // the 4 KiB, 8-way L1D's 8 sets of 64-byte lines
  tlm::tlm_global_quantum::instance().set(detailed.clock.delay(1000));
  sc_core::sc_start();
  for (Rig* r : {&detailed, &functional, &detailed_no_itlb, &functional_no_itlb, &functional_sets})
    ASSERT_TRUE(r->cpu.finished());
  expect_same_warm_state("with an ITLB", detailed, functional);
  expect_same_warm_state("without an ITLB", detailed_no_itlb, functional_no_itlb);
  expect_same_warm_state("knowing the L1D's sets", detailed, functional_sets);
  // Knowing the sets, the most recent line of every set is skipped; not knowing them, only the
  // last line of all, which in this stream's alternation of fetches and data is never repeated.
  EXPECT_LT(functional_sets.caches.l1d.accesses.count(), functional.caches.l1d.accesses.count());
  EXPECT_EQ(functional.caches.l1d.accesses.count(), detailed.caches.l1d.accesses.count());
  EXPECT_GT(detailed_no_itlb.cpu.tlbs.dtlb.misses.count(), detailed.cpu.tlbs.dtlb.misses.count());
}

}  // namespace
}  // namespace virtsim
