// A fast-string instruction (the kernel's REP STOS / REP MOVS over a page) on a vCPU with real
// caches: every line goes through translation and the caches as a store would, but a whole line
// no cache holds is written without its fill (memory sees nothing of it) at
// string_store_line_cycles a line, and the other lines' memory time overlaps
// string_lines_in_flight ways. SystemC elaborates once per process, so one run covers the whole
// comparison.
#include <gtest/gtest.h>

#include <deque>

#include "virtsim/cpu/vcpu.h"
#include "virtsim/memory/cache_module.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"
#include "scripted.h"

namespace virtsim {
namespace {

constexpr Addr kLine = 64;
constexpr std::uint32_t kLines = kPageSize4K / kLine;

ParamRegistry configured_params() {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{64}, {"test"});
  params.set_value("memory.latency", std::int64_t{100}, {"test"});
  params.set_value("mmu.walker.pwc.enabled", false, {"test"});
  params.set_value("cpu.stlb_enabled", false, {"test"});  // an L1 TLB miss goes straight to the walker
  params.set_value("cpu.string_lines_in_flight", std::int64_t{10}, {"test"});
  params.set_value("cpu.string_store_line_cycles", std::int64_t{6}, {"test"});
  // The separate stores it is compared with cost their whole latencies in series only under the
  // blocking core (the interval core, the default, would overlap them too).
  params.set_value("cpu.core_model", std::string("blocking"), {"test"});
  return params;
}

TEST(VcpuString, APagesWholeLinesGoInTheCachesWithoutFillsAndPartLinesAsStores) {
  ParamRegistry params = configured_params();
  StatRegistry stats;
  Clock clock(2.0);
  Scope context{&params, &stats, ""};
  MemoryModule memory("memory", context, clock);
  MmuModule mmu("mmu", context, clock);
  Cache llc{context.child("llc"), CacheConfig{true, 1024, 16, 64, 30, "lru", 7}};
  CacheModule caches("caches", context, clock, llc, 64, 1);
  Vcpu cpu("cpu", context, clock);
  cpu.translate.bind(mmu.translate);
  mmu.memory.bind(memory.port);
  cpu.data.bind(caches.cpu_side);
  caches.memory_side.bind(memory.port);
  caches.memory_side.connect(memory);
  cpu.data.connect(caches.data_port());
  tlm::tlm_global_quantum::instance().set(clock.delay(1000));

  FrameAllocator frames(Addr{16} << 20, Addr{64} << 20);
  PageTableBuilder builder(memory.memory(), frames);
  const Addr root = builder.new_root();
  constexpr Addr kStores = 0x400000, kString = 0x401000, kUnmapped = 0x402000, kPart = 0x403000;
  constexpr Addr kStoresFrame = 0x800000, kStringFrame = 0x801000, kPartFrame = 0x803000;
  builder.map(root, kStores, kStoresFrame, kPageSize4K);
  builder.map(root, kString, kStringFrame, kPageSize4K);
  builder.map(root, kPart, kPartFrame, kPageSize4K);
  OnePagePager pager(builder, frames);  // maps kUnmapped when the last string reaches it, for 1000 cycles

  // A page written as 64 separate stores, one per line, each missing every cache; then
  // (statistics restarted) a page written by one string instruction, missing the same way;
  // then a string over the second half of that page and the first half of a page not mapped;
  // then a copy into a buffer of 4 lines whose first and last it writes only in part.
  std::deque<GuestEvent> events;
  for (Addr line = 0; line < kPageSize4K; line += kLine) events.push_back(GuestEvent::kernel_store(kStores + line));
  events.push_back(GuestEvent::roi_begin());
  events.push_back(GuestEvent::kernel_string(AccessKind::Store, kString, kLines));
  events.push_back(GuestEvent::kernel_string(AccessKind::Store, kString + kPageSize4K / 2, kLines));
  GuestEvent part = GuestEvent::kernel_string(AccessKind::Store, kPart, 4);
  part.partial_first_line = part.partial_last_line = true;
  events.push_back(part);
  ScriptedWorkload workload(std::move(events));
  cpu.set_cr3(root);
  cpu.set_workload(&workload);
  cpu.fault_handler.bind(pager);

  Cycles separate = 0, separate_walk = 0;
  std::uint64_t separate_stores = 0, separate_instructions = 0, separate_l1d_misses = 0;
  cpu.set_roi_begin_action([&] {
    separate = cpu.cycles.count();
    separate_walk = mmu.walker.cycles.count();
    separate_stores = cpu.stores.count();
    separate_instructions = cpu.instructions.count();
    separate_l1d_misses = caches.l1d.misses.count();
    stats.reset_all();
  });
  params.check_all_used();
  sc_core::sc_start();
  ASSERT_TRUE(cpu.finished());

  // The separate stores: one walk, then 64 lines each missing every level.
  EXPECT_EQ(separate_stores, kLines);
  EXPECT_EQ(separate_instructions, kLines);
  EXPECT_EQ(separate_l1d_misses, kLines);
  ASSERT_EQ((separate - separate_walk) % kLines, 0u);
  const Cycles line_miss = (separate - separate_walk) / kLines;
  EXPECT_GT(line_miss, memory.latency.get());

  // The string instructions: every line a store through the caches, the pages' lines in the
  // L1D afterwards as the separate stores left theirs.
  EXPECT_EQ(cpu.string_instructions.count(), 3u);
  EXPECT_EQ(cpu.instructions.count(), 3u);
  EXPECT_EQ(cpu.stores.count(), 2u * kLines + 4);
  EXPECT_EQ(caches.l1d.accesses.count(), 2u * kLines + 4);
  for (Addr line = 0; line < kPageSize4K; line += kLine) {
    EXPECT_TRUE(caches.l1d.contains(kStoresFrame + line)) << line;
    EXPECT_TRUE(caches.l1d.contains(kStringFrame + line)) << line;
  }

  // The second string's first half hit the L1D; its second half faulted at kUnmapped's first
  // line, as a store does (a user write to a page not present), and the page was mapped.
  EXPECT_EQ(pager.faults, 1);
  EXPECT_EQ(cpu.page_faults.count(), 1u);
  EXPECT_EQ(pager.last_error_code, pf::kWrite | pf::kUser);
  const auto mapped = builder.lookup(root, kUnmapped);
  ASSERT_TRUE(mapped);
  for (Addr line = 0; line < kPageSize4K / 2; line += kLine) EXPECT_TRUE(caches.l1d.contains(mapped->pa + line));
  EXPECT_EQ(caches.l1d.misses.count(), kLines + kLines / 2 + 4);
  EXPECT_EQ(caches.l1d.hits.count(), kLines / 2);

  // The whole lines no cache held were written without their fills: memory saw only the copy's
  // two part lines, each a store's miss as the separate stores' were (no reads but the walks').
  EXPECT_EQ(cpu.string_lines_unfilled.count(), kLines + kLines / 2 + 2);
  EXPECT_EQ(memory.writes.count(), 2u + mmu.walker.ad_writes.count());
  EXPECT_EQ(memory.reads.count(), mmu.walker.refs.count());

  // Cycles: every walk and the fault handler's 1000 cycles in full; the first string's 64
  // unfilled lines 6 cycles each, in series; the second string's 32 hits overlapped 10 ways and
  // its 32 unfilled lines; the copy's two part lines' misses overlapped 4 ways (at least the
  // slower one) and its two whole lines.
  const Cycles l1d_hit = caches.l1d_parameters.hit_cycles.get();
  const Cycles first_memory = kLines * 6;
  const Cycles second_memory = kLines / 2 * l1d_hit / 10 + kLines / 2 * 6;
  const Cycles part_memory = std::max(line_miss, 2 * line_miss / 4 + 2 * 6);
  EXPECT_EQ(cpu.cycles.count(), mmu.walker.cycles.count() + 1000 + first_memory + second_memory + part_memory);
  // A page's string against the page of separate stores: memory latency per line before, the
  // store rate now.
  EXPECT_LT(first_memory * 10, separate - separate_walk);
}

}  // namespace
}  // namespace virtsim
