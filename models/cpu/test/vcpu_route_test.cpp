// The one access route: a vCPU, its MMU, its caches and main memory bound only through the TLM
// adapters (tlm_ports.h: every access a b_transport, every entry check a debug transport) run
// exactly as the same platform connected port to port, as the platform connects it: the same
// cycles, statistics and bytes. SystemC elaborates once per process, so one run holds both.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "cached_cpu_rig.h"

namespace virtsim {
namespace {

constexpr Addr kBase = 0x400000;
constexpr unsigned kPages = 8;

// Loads and stores (user stores that write their bytes, kernel stores that keep what memory
// holds, accesses across a line and across a page) over pages the pager maps on first touch.
std::deque<GuestEvent> accesses() {
  std::deque<GuestEvent> events;
  std::uint64_t x = 12345;
  for (int i = 0; i < 3000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const Addr va = kBase + ((x >> 20) % (kPages * kPageSize4K)) / 8 * 8;
    switch ((x >> 60) % 5) {
      case 0: events.push_back(GuestEvent::memory(AccessKind::Store, va)); break;
      case 1: events.push_back(GuestEvent::kernel_store(va)); break;
      case 2: events.push_back(GuestEvent::memory(AccessKind::Load, va | 0x3c)); break;  // spans two lines
      default: events.push_back(GuestEvent::memory(AccessKind::Load, va)); break;
    }
    if (i % 100 == 0) events.push_back(GuestEvent::memory(AccessKind::Store, kBase + 3 * kPageSize4K - 4));
  }
  return events;
}

ParamRegistry configured(const std::string& p) {
  ParamRegistry params;
  params.set_value(p + "memory.size_mib", std::int64_t{64}, {"test"});
  params.set_value(p + "memory.byte_exact_data", true, {"test"});  // the stored bytes are compared too
  params.set_value(p + "mmu.check", true, {"test"});  // every walk checked: debug reads through the route
  params.set_value(p + "cpu.stlb_enabled", false, {"test"});
  params.set_value(p + "caches.l1d.size_kib", std::int64_t{4}, {"test"});  // small: misses at every level
  params.set_value(p + "caches.l2.size_kib", std::int64_t{16}, {"test"});
  return params;
}

struct Rig : CachedCpuRig {
  Rig(const std::string& prefix, bool connected) : CachedCpuRig(prefix, configured(prefix), accesses(), connected) {}
};

TEST(VcpuRoute, SocketsAndDirectPortsGiveTheSameCyclesStatisticsAndBytes) {
  Rig sockets("sockets_", false), direct("direct_", true);
  tlm::tlm_global_quantum::instance().set(sockets.clock.delay(1000));
  sc_core::sc_start();
  ASSERT_TRUE(sockets.cpu.finished());
  ASSERT_TRUE(direct.cpu.finished());

  EXPECT_GE(direct.cpu.page_faults.count(), kPages);
  EXPECT_GT(direct.cpu.stores.count(), 1000u);
  EXPECT_GT(direct.mmu.checked.count(), 0u);
  EXPECT_GT(direct.memory.reads.count(), 0u);
  EXPECT_GT(direct.caches.l1d.hits.count(), 0u);
  EXPECT_GT(direct.llc.misses.count(), 0u);
  EXPECT_GT(direct.mmu.walker.grid_dram.value(), 0.0);
  EXPECT_EQ(sockets.cpu.cycles.count(), direct.cpu.cycles.count());
  EXPECT_EQ(sockets.cpu.page_faults.count(), direct.cpu.page_faults.count());
  EXPECT_EQ(sockets.mmu.checked.count(), direct.mmu.checked.count());
  EXPECT_EQ(sockets.mmu.walker.refs.count(), direct.mmu.walker.refs.count());
  EXPECT_EQ(sockets.mmu.walker.ad_writes.count(), direct.mmu.walker.ad_writes.count());
  EXPECT_EQ(sockets.mmu.walker.cycles.count(), direct.mmu.walker.cycles.count());
  EXPECT_EQ(sockets.mmu.walker.grid_l1_hits.value(), direct.mmu.walker.grid_l1_hits.value());
  EXPECT_EQ(sockets.mmu.walker.grid_l2_hits.value(), direct.mmu.walker.grid_l2_hits.value());
  EXPECT_EQ(sockets.mmu.walker.grid_llc_hits.value(), direct.mmu.walker.grid_llc_hits.value());
  EXPECT_EQ(sockets.mmu.walker.grid_dram.value(), direct.mmu.walker.grid_dram.value());
  EXPECT_EQ(sockets.caches.l1d.hits.count(), direct.caches.l1d.hits.count());
  EXPECT_EQ(sockets.caches.l1d.misses_by_requester.counts(), direct.caches.l1d.misses_by_requester.counts());
  EXPECT_EQ(sockets.caches.l2.misses.count(), direct.caches.l2.misses.count());
  EXPECT_EQ(sockets.llc.misses.count(), direct.llc.misses.count());
  EXPECT_EQ(sockets.llc.writebacks.count(), direct.llc.writebacks.count());
  EXPECT_EQ(sockets.memory.reads.count(), direct.memory.reads.count());
  EXPECT_EQ(sockets.memory.writes.count(), direct.memory.writes.count());
  EXPECT_EQ(sockets.memory.bytes.count(), direct.memory.bytes.count());
  // The same tables, accessed/dirty flags and stored bytes: every frame handed out, whole.
  ASSERT_EQ(sockets.frames.bytes_allocated(), direct.frames.bytes_allocated());
  const Addr first = sockets.frames.first();
  for (Addr frame = first; frame < first + sockets.frames.bytes_allocated(); frame += kPageSize4K) {
    std::vector<unsigned char> a(kPageSize4K), b(kPageSize4K);
    sockets.memory.memory().read(frame, a.data(), kPageSize4K);
    direct.memory.memory().read(frame, b.data(), kPageSize4K);
    ASSERT_EQ(a, b) << "frame " << to_hex(frame);
  }
}

}  // namespace
}  // namespace virtsim
