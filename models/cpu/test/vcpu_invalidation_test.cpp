// Instructions with translation effects, executed by a vCPU on a real small platform: INVLPG,
// MOV to CR3 and INVPCID drop the TLB entries (and walk-cache entries) the manuals say.
// A process of its own: SystemC elaborates one platform per process.
#include "virtsim/cpu/vcpu.h"

#include <gtest/gtest.h>

#include "scripted.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"

namespace virtsim {
namespace {

ParamRegistry params_for_test() {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{64}, {"test"});
  params.set_value("cpu.cpl", std::int64_t{0}, {"test"});  // kernel code: INVLPG is allowed
  params.set_value("cpu.stlb_enabled", false, {"test"});
  params.set_value("cpu.pcide", true, {"test"});
  return params;
}

TEST(VcpuInvalidation, InstructionsDropWhatTheManualsSay) {
  ParamRegistry params = params_for_test();
  StatRegistry stats;
  Clock clock(2.0);
  Scope context{&params, &stats, ""};
  MemoryModule memory("memory", context, clock);
  MmuModule mmu("mmu", context, clock);
  Vcpu cpu("cpu", context, clock);
  cpu.translate.bind(mmu.translate);
  cpu.data.bind(memory.port);
  cpu.walk_caches.bind(mmu);
  mmu.memory.bind(memory.port);
  FrameAllocator frames(Addr{1} << 20, Addr{64} << 20);
  PageTableBuilder builder(memory.memory(), frames);
  const Addr root = builder.new_root();
  builder.map(root, 0x400000, 0x800000, kPageSize4K);
  builder.map(root, 0x401000, 0x801000, kPageSize4K);
  OnePagePager pager(builder, frames);
  ScriptedWorkload workload({
      GuestEvent::memory(AccessKind::Load, 0x400000),  // walk 1
      GuestEvent::memory(AccessKind::Load, 0x401000),  // walk 2
      GuestEvent::memory(AccessKind::Load, 0x400008),  // hit
      GuestEvent::instr(Instruction::Invlpg, 0, 0x400000),
      GuestEvent::memory(AccessKind::Load, 0x400010),  // walk 3: its entry is gone
      GuestEvent::memory(AccessKind::Load, 0x401010),  // hit: INVLPG dropped one page only
      GuestEvent::instr(Instruction::MovToCr3, 0, root | (Addr{1} << 63)),  // no-flush: entries stay
      GuestEvent::memory(AccessKind::Load, 0x401018),  // hit
      GuestEvent::instr(Instruction::MovToCr3, 0, root),  // flush of PCID 0's non-global entries
      GuestEvent::memory(AccessKind::Load, 0x401020),  // walk 4
      GuestEvent::instr(Instruction::Invpcid, (1u << 16) | 0, 0),  // type 1, PCID 0
      GuestEvent::memory(AccessKind::Load, 0x401028),  // walk 5
  });
  cpu.set_cr3(root);
  cpu.set_workload(&workload);
  cpu.fault_handler.bind(pager);
  params.check_all_used();
  sc_core::sc_start();
  ASSERT_TRUE(cpu.finished());
  EXPECT_EQ(mmu.walker.walks.count(), 5u);
  EXPECT_EQ(cpu.tlbs.dtlb.hits.count(), 3u);
  EXPECT_EQ(cpu.tlbs.dtlb.operations_by_kind.at(static_cast<std::size_t>(Invalidation::Invlpg)), 1u);
  EXPECT_EQ(cpu.tlbs.dtlb.operations_by_kind.at(static_cast<std::size_t>(Invalidation::MovToCr3)), 2u);
  EXPECT_EQ(cpu.tlbs.dtlb.invalidated_by_kind.at(static_cast<std::size_t>(Invalidation::MovToCr3)), 2u);
  EXPECT_EQ(cpu.tlbs.dtlb.invalidated_by_kind.at(static_cast<std::size_t>(Invalidation::InvpcidSingle)), 1u);
  // INVLPG and the flushing MOV to CR3 and INVPCID also emptied the walk cache's entries.
  EXPECT_GT(mmu.walker.pwc.flushed.count(), 0u);
  EXPECT_EQ(cpu.general_protection_faults.count(), 0u);
}

}  // namespace
}  // namespace virtsim
