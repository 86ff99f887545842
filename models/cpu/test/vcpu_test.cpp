// A vCPU on a real small platform (vCPU -> MMU -> memory over TLM), running a scripted
// event stream to completion under sc_start. Cycle counts are exact: they follow from
// the parameters alone.
#include "virtsim/cpu/vcpu.h"

#include <gtest/gtest.h>

#include <deque>

#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"
#include "scripted.h"

namespace virtsim {
namespace {

ParamRegistry configured_params() {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{64}, {"test"});
  params.set_value("memory.latency", std::int64_t{50}, {"test"});
  params.set_value("memory.byte_exact_data", true, {"test"});  // the test reads a stored word back
  // The blocking core's arithmetic, cycle by cycle (fractional CPI, every latency in series);
  // the interval core, the default, has its own tests (interval_core_test, vcpu_core_model_test).
  params.set_value("cpu.core_model", std::string("blocking"), {"test"});
  params.set_value("cpu.cpi", 0.5, {"test"});
  params.set_value("cpu.dtlb.hit_cycles", std::int64_t{1}, {"test"});
  params.set_value("mmu.walker.pwc.enabled", false, {"test"});
  params.set_value("cpu.stlb_enabled", false, {"test"});  // an L1 miss goes straight to the walker
  return params;
}

TEST(Vcpu, ExecutesAScriptWithExactCycles) {
  ParamRegistry params = configured_params();
  StatRegistry stats;
  Clock clock(2.0);
  Scope context{&params, &stats, ""};
  MemoryModule memory("memory", context, clock);
  MmuModule mmu("mmu", context, clock);
  Vcpu cpu("cpu", context, clock);
  cpu.translate.bind(mmu.translate);
  cpu.data.bind(memory.port);
  mmu.memory.bind(memory.port);
  tlm::tlm_global_quantum::instance().set(clock.delay(1000));

  FrameAllocator frames(Addr{1} << 20, Addr{64} << 20);
  PageTableBuilder builder(memory.memory(), frames);
  const Addr root = builder.new_root();
  builder.map(root, 0x400000, 0x800000, kPageSize4K);
  OnePagePager pager(builder, frames);
  ScriptedWorkload workload({
      GuestEvent::compute(10),                               // 10 x 0.5 = 5 cycles
      GuestEvent::memory(AccessKind::Store, 0x400008),       // miss: 1 + walk 4x50 + A/D 4x50 + data 50 = 451
      GuestEvent::memory(AccessKind::Load, 0x400010),        // hit: 1 + 50 = 51
      GuestEvent::roi_begin(),                               // statistics restart here
      GuestEvent::compute(3),                                // 1.5 cycles: 1 now, 0.5 carried
      GuestEvent::memory(AccessKind::Load, 0x400ff8),        // hit: 51
      GuestEvent::memory(AccessKind::Load, 0x500000),        // fault: 1 + 4x50 walk + 1000 + 5x50 walk + 50
      GuestEvent::compute(1),                                // 0.5 + carried 0.5 = 1 cycle
      GuestEvent::memory(AccessKind::Load, 0x400ffc, 8),     // crosses into 0x401000: 2 translations
  });
  // The last access crosses a page that is not mapped and lies below the pager's limit:
  // the second half faults and is paged in too.
  cpu.set_cr3(root);
  cpu.set_workload(&workload);
  cpu.fault_handler.bind(pager);
  cpu.set_roi_begin_action([&] { stats.reset_all(); });
  params.check_all_used();

  sc_core::sc_start();
  ASSERT_TRUE(cpu.finished());

  // After the region of interest began:
  //   compute(3)                 1
  //   load 0x400ff8 (hit)        1 + 50                       = 51
  // A faulting walk sets no flags; the restarted access looks up the TLB again (1), and its
  // walk reads four entries and sets A in the new leaf (the upper entries got theirs on the
  // first walk): 4 x 50 + 50.
  //   load 0x500000 (fault)      1 + 200 + 1000 + 1 + 250 + 50    = 1502
  //   compute(1)                 1
  //   load 0x400ffc..0x401003    (1 + 50) + (1 + 200 + 1000 + 1 + 250 + 50) = 1553
  EXPECT_EQ(cpu.cycles.count(), 1u + 51u + 1502u + 1u + 1553u);
  EXPECT_EQ(cpu.instructions.count(), 3u + 1u + 1u + 1u + 1u);
  EXPECT_EQ(cpu.loads.count(), 3u);
  EXPECT_EQ(cpu.page_faults.count(), 2u);
  EXPECT_EQ(pager.faults, 2);
  EXPECT_EQ(pager.last_error_code, pf::kUser);  // a user-mode read of a not-present page
  EXPECT_EQ(cpu.tlbs.dtlb.accesses.count(), 6u);  // two restarted after their faults
  EXPECT_EQ(cpu.tlbs.dtlb.misses.count(), 4u);
  EXPECT_EQ(mmu.walker.walks.count(), 4u);  // two faulting walks and their retries
  EXPECT_EQ(mmu.walker.refs.count(), 16u);
  EXPECT_EQ(mmu.walker.ad_writes.count(), 2u);
  // Every data access really reached memory: 3 loads, one of them split in two.
  EXPECT_EQ(memory.reads.count() - mmu.walker.refs.count(), 4u);
  // The store before the region of interest really wrote memory (the retired count, 11).
  EXPECT_EQ(memory.memory().read64(0x800008), 11u);
  // SystemC time reached the vCPU's local time at the final sync.
  EXPECT_EQ(clock.cycles(sc_core::sc_time_stamp()), 5u + 451u + 51u + cpu.cycles.count());
}

}  // namespace
}  // namespace virtsim
