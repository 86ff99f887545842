// The same scripted stream on three small platforms in one simulation (vCPU -> MMU -> memory):
// the default core model, core_model = "interval" set explicitly, and core_model = "blocking".
// The default is the interval core, to the cycle: it hides what its window covers and drains at
// page faults; the blocking core stays selectable and charges every latency in series.
#include <gtest/gtest.h>

#include <deque>
#include <memory>

#include "virtsim/cpu/vcpu.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"
#include "scripted.h"

namespace virtsim {
namespace {

std::deque<GuestEvent> script() {
  return {
      GuestEvent::compute(10),
      GuestEvent::memory(AccessKind::Store, 0x400008),    // TLB miss: walk 4x50, A/D 4x50, data 50
      GuestEvent::memory(AccessKind::Load, 0x400010),     // hit: 1 + 50
      GuestEvent::roi_begin(),
      GuestEvent::compute(3),
      GuestEvent::memory(AccessKind::Load, 0x400ff8),     // hit
      GuestEvent::memory(AccessKind::Load, 0x500000),     // page fault
      GuestEvent::compute(1),
      GuestEvent::memory(AccessKind::Load, 0x400ffc, 8),  // its second half faults
  };
}

struct SmallPlatform {
  SmallPlatform(const std::string& name, const Scope& context, const Clock& clock)
      : memory((name + "_memory").c_str(), context, clock),
        mmu((name + "_mmu").c_str(), context, clock),
        cpu(name.c_str(), context, clock),
        frames(Addr{1} << 20, Addr{64} << 20),
        builder(memory.memory(), frames),
        pager(builder, frames),
        workload(script()) {
    cpu.translate.bind(mmu.translate);
    cpu.data.bind(memory.port);
    mmu.memory.bind(memory.port);
    const Addr root = builder.new_root();
    builder.map(root, 0x400000, 0x800000, kPageSize4K);
    cpu.set_cr3(root);
    cpu.set_workload(&workload);
    cpu.fault_handler.bind(pager);
  }
  MemoryModule memory;
  MmuModule mmu;
  Vcpu cpu;
  FrameAllocator frames;
  PageTableBuilder builder;
  OnePagePager pager;
  ScriptedWorkload workload;
};

TEST(VcpuCoreModel, IntervalIsTheDefaultToTheCycleAndBlockingStaysSelectable) {
  ParamRegistry params;
  for (const std::string p : {"default", "interval", "blocking"}) {
    params.set_value(p + "_memory.size_mib", std::int64_t{64}, {"test"});
    params.set_value(p + "_memory.latency", std::int64_t{50}, {"test"});
    params.set_value(p + ".dtlb.hit_cycles", std::int64_t{1}, {"test"});
    params.set_value(p + "_mmu.walker.pwc.enabled", false, {"test"});
    params.set_value(p + ".stlb_enabled", false, {"test"});
  }
  params.set_value("blocking.core_model", std::string("blocking"), {"test"});
  params.set_value("interval.core_model", std::string("interval"), {"test"});
  StatRegistry stats;
  Clock clock(2.0);
  Scope context{&params, &stats, ""};
  tlm::tlm_global_quantum::instance().set(clock.delay(1000));
  std::vector<std::unique_ptr<SmallPlatform>> platforms;
  for (const char* p : {"default", "interval", "blocking"})
    platforms.push_back(std::make_unique<SmallPlatform>(p, context, clock));
  for (auto& p : platforms) p->cpu.set_roi_begin_action([&] { p->cpu.cycles.reset(); p->cpu.user_cycles.reset(); });
  params.check_all_used();

  sc_core::sc_start();
  const Vcpu &by_default = platforms[0]->cpu, &interval = platforms[1]->cpu, &blocking = platforms[2]->cpu;
  ASSERT_TRUE(by_default.finished() && blocking.finished() && interval.finished());

  // Blocking (cpi 1): compute(3) 3, hit 1 + 50, fault 1 + 200 + 1000 + 1 + 250 + 50,
  // compute(1) 1, the split load (1 + 50) + the fault's 1502.
  const Cycles blocking_cycles = 3 + 51 + 1502 + 1 + 1553;
  EXPECT_EQ(blocking.cycles.count(), blocking_cycles);
  EXPECT_EQ(blocking.user_cycles.count(), blocking_cycles);  // all at CPL 3

  // Interval (4 wide, 224-entry ROB: a 56-cycle ROB fill; long from 100 cycles). Before the
  // region: compute(10) leaves 2 instructions carried, the store's 451-cycle miss opens a
  // window, the load's 51 hide under it. In the region: compute(3) and the hit complete a
  // dispatch cycle (its 51 cycles: under the ROB fill), the faulting load is serial (1502, the
  // window drained), compute(1) and the split load's slot are carried, its fault serial (1553).
  const Cycles interval_cycles = 0 + 1 + 1502 + 0 + 1553;
  EXPECT_EQ(interval.cycles.count(), interval_cycles);
  EXPECT_EQ(by_default.cycles.count(), interval_cycles);
  EXPECT_EQ(by_default.core_model.get(), "interval");
  EXPECT_EQ(interval.instructions.count(), blocking.instructions.count());
  EXPECT_EQ(interval.page_faults.count(), blocking.page_faults.count());
}

}  // namespace
}  // namespace virtsim
