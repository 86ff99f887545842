#include "virtsim/hypervisor/selective/selective_paging.h"

#include <gtest/gtest.h>

#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"

namespace virtsim {
namespace {

SelectiveCosts costs() { return {40.0, 3000.0, 0.25, 5000.0}; }

TEST(SelectivePagingDecision, ManyTlbMissesAndFewFaultsMoveTheGuestToShadowPaging) {
  // 100,000 misses cost 4,000,000 cycles nested; 10 faults cost 30,000 under shadow paging.
  EXPECT_EQ(choose_paging_mode(PagingMode::Nested, {100000, 10}, costs()), PagingMode::Shadow);
  EXPECT_EQ(choose_paging_mode(PagingMode::Shadow, {100000, 10}, costs()), PagingMode::Shadow);
}

TEST(SelectivePagingDecision, FrequentGuestPageFaultsMoveTheGuestToNestedPaging) {
  // 1,000 misses: 40,000 cycles; 100 faults: 300,000 cycles.
  EXPECT_EQ(choose_paging_mode(PagingMode::Shadow, {1000, 100}, costs()), PagingMode::Nested);
  EXPECT_EQ(choose_paging_mode(PagingMode::Nested, {1000, 100}, costs()), PagingMode::Nested);
}

TEST(SelectivePagingDecision, TheCurrentModeStaysWithinTheMarginAndTheSwitchCost) {
  // Nested 40,000 against shadow 36,000: shadow is cheaper, but not by the 25 % margin.
  EXPECT_EQ(choose_paging_mode(PagingMode::Nested, {1000, 12}, costs()), PagingMode::Nested);
  // Shadow 60,000 against nested 40,000: above 1.25 times, not above 50,000 + 5,000 for the switch.
  EXPECT_EQ(choose_paging_mode(PagingMode::Shadow, {1000, 18}, costs()), PagingMode::Shadow);
  EXPECT_EQ(choose_paging_mode(PagingMode::Shadow, {1000, 19}, costs()), PagingMode::Nested);  // 57,000
  // 4,000 cycles of misses would not pay for the switch.
  EXPECT_EQ(choose_paging_mode(PagingMode::Nested, {100, 0}, costs()), PagingMode::Nested);
  EXPECT_EQ(choose_paging_mode(PagingMode::Shadow, {0, 0}, costs()), PagingMode::Shadow);
  EXPECT_EQ(choose_paging_mode(PagingMode::Nested, {0, 0}, costs()), PagingMode::Nested);
}

constexpr Addr kGuestBytes = Addr{64} << 20;

// The strategy built as the platform builds it, over 1 GiB of host memory.
struct SelectiveTest : ::testing::Test {
  SelectiveTest() {
    for (const auto& [key, value] : std::vector<std::pair<std::string, ParamValue>>{
             {"system.vmx.mode", std::string("vmx")},
             {"system.nested.paging", std::string("ept4")},
             {"system.selective.enabled", true},
             {"system.selective.start", std::string("shadow")}})
      params.set_value(key, value, ValueSource{"--set"});
    parameters = std::make_unique<MemoryVirtualizationParameters>(system, "system.kernel.paravirt_mmu");
    transitions = std::make_unique<TransitionParameters>(system.child("vmx"));
    hypervisor = std::make_unique<HypervisorParameters>(system.child("hypervisor"));
    guest_memory_mib = std::make_unique<Param<std::uint64_t>>(system, "guest_memory_mib", 64, "MiB", "guest memory");
    const MemoryVirtualizationSetup setup{system, *parameters, *transitions, *hypervisor, *guest_memory_mib,
                                          host,   [](Addr) {},  [this] { ++full_flushes; }, [] {}};
    const auto& entry = configured_memory_virtualization(*parameters);
    EXPECT_EQ(entry.name, "selective");
    built = entry.make(setup);
    selective = dynamic_cast<SelectivePaging*>(built.get());
    guest_view = selective->map_guest_memory(host_frames, kGuestBytes);
    selective->attach_guest({TableFormat::Level4, "4-level"}, host_frames);
    view().on_mode_change(0, [this] { ++changes; });
  }
  VcpuMemoryVirtualization& view() { return selective->vcpu_view(0); }

  ParamRegistry params;
  StatRegistry stats;
  Scope system{&params, &stats, "system"};
  std::unique_ptr<MemoryVirtualizationParameters> parameters;
  std::unique_ptr<TransitionParameters> transitions;
  std::unique_ptr<HypervisorParameters> hypervisor;
  std::unique_ptr<Param<std::uint64_t>> guest_memory_mib;
  PhysicalMemory host{Addr{1} << 30};
  FrameAllocator host_frames{Addr{1} << 20, Addr{1} << 30};
  FrameAllocator guest_frames{Addr{1} << 20, kGuestBytes};
  std::unique_ptr<MemoryVirtualization> built;
  SelectivePaging* selective = nullptr;
  MemoryView guest_view;
  unsigned full_flushes = 0, changes = 0;
};

TEST_F(SelectiveTest, ASwitchToNestedPagingDropsTheShadowTablesFlushesAndIsCharged) {
  PageTableBuilder guest{guest_view, guest_frames, TableFormat::Level4};
  const Addr cr3 = guest.new_root();
  guest.map(cr3, 0x400000, 0x200000, kPageSize4K);
  ASSERT_TRUE(view().replaces_guest_tables());
  EXPECT_FALSE(view().nested_walk());
  view().load_cr3(0, cr3);
  PagingControls controls;
  controls.cr3 = cr3;
  const auto filled = view().page_fault(controls, 0x400000, AccessKind::Load, true, false, 0);
  ASSERT_TRUE(filled);
  EXPECT_EQ(filled->resolution, ShadowFaultResolution::Filled);
  const std::size_t tables = selective->shadow_tables()->live_tables();
  EXPECT_EQ(tables, 4u);  // the root and one table per level below it

  const unsigned flushes = full_flushes;
  const Cycles cost = selective->switch_to(PagingMode::Nested);
  EXPECT_EQ(cost, parameters->selective.switch_cycles + parameters->selective.drop_table_cycles * tables);
  EXPECT_EQ(selective->shadow_tables()->live_tables(), 0u);
  EXPECT_EQ(full_flushes, flushes + 1);
  EXPECT_EQ(changes, 1u);
  EXPECT_FALSE(view().replaces_guest_tables());
  ASSERT_TRUE(view().nested_walk());
  EXPECT_EQ(view().nested_walk()->controls.format, TableFormat::Ept4);
  // The guest's faults are its own now, and guest memory is mapped at its first violation.
  EXPECT_FALSE(view().page_fault(controls, 0x800000, AccessKind::Load, true, false, 4));
  EXPECT_TRUE(view().nested_fault(0x200000));
  EXPECT_EQ(parameters->selective.switches_to_nested.count(), 1u);
  EXPECT_EQ(parameters->selective.switching_cycles.count(), cost);
  EXPECT_EQ(selective->switch_to(PagingMode::Nested), 0u);  // already there
}

TEST_F(SelectiveTest, ASwitchToShadowPagingStartsFromAnEmptyRootThatFaultsFill) {
  PageTableBuilder guest{guest_view, guest_frames, TableFormat::Level4};
  const Addr cr3 = guest.new_root();
  guest.map(cr3, 0x400000, 0x200000, kPageSize4K);
  selective->switch_to(PagingMode::Nested);
  EXPECT_EQ(selective->switch_to(PagingMode::Shadow), parameters->selective.switch_cycles.get());
  EXPECT_EQ(changes, 2u);
  EXPECT_TRUE(view().replaces_guest_tables());
  EXPECT_FALSE(view().nested_walk());
  view().load_cr3(0, cr3);
  EXPECT_EQ(selective->shadow_tables()->live_tables(), 1u);  // the root, empty
  PagingControls controls;
  controls.cr3 = cr3;
  EXPECT_EQ(view().page_fault(controls, 0x400000, AccessKind::Load, true, false, 0)->resolution,
            ShadowFaultResolution::Filled);
  EXPECT_FALSE(view().nested_fault(0x300000));  // no nested walks under shadow paging
  EXPECT_EQ(parameters->selective.switches_to_shadow.count(), 1u);
}

TEST_F(SelectiveTest, EachSampleOfVcpuZeroEndsAnIntervalAndMaySwitch) {
  EXPECT_EQ(view().sample_interval(), parameters->selective.interval_cycles.get());
  // vCPU 1's counts go with vCPU 0's interval.
  EXPECT_EQ(view().sample(1, {0, 50}), 0u);
  EXPECT_GT(view().sample(0, {10, 0}), 0u);  // 50 faults under shadow paging: to nested
  EXPECT_EQ(selective->mode(), PagingMode::Nested);
  EXPECT_EQ(view().sample(0, {10, 0}), 0u);
  EXPECT_GT(view().sample(0, {100000, 0}), 0u);  // a TLB-missing interval: back to shadow
  EXPECT_EQ(selective->mode(), PagingMode::Shadow);
  EXPECT_EQ(parameters->selective.intervals_shadow.count(), 1u);
  EXPECT_EQ(parameters->selective.intervals_nested.count(), 2u);
}

TEST(SelectivePagingConfiguration, RefusesWhatItCannotSwitch) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, ParamValue>>{
           {"system.shadow.enabled", true}, {"system.nested.page_size", std::string("2m")},
           {"system.hypervisor.cr3_targets", std::int64_t{4}}}) {
    ParamRegistry params;
    StatRegistry stats;
    const Scope system{&params, &stats, "system"};
    params.set_value("system.vmx.mode", std::string("vmx"), ValueSource{"--set"});
    params.set_value("system.nested.paging", std::string("ept4"), ValueSource{"--set"});
    params.set_value("system.selective.enabled", true, ValueSource{"--set"});
    params.set_value(key, value, ValueSource{"--set"});
    MemoryVirtualizationParameters parameters(system, "system.kernel.paravirt_mmu");
    TransitionParameters transitions(system.child("vmx"));
    HypervisorParameters hypervisor(system.child("hypervisor"));
    Param<std::uint64_t> guest_memory_mib(system, "guest_memory_mib", 64, "MiB", "guest memory");
    PhysicalMemory host{Addr{1} << 30};
    const MemoryVirtualizationSetup setup{system, parameters, transitions, hypervisor, guest_memory_mib,
                                          host,   [](Addr) {}, [] {},      [] {}};
    EXPECT_THROW(selective_entry().make(setup), ConfigError) << key;
  }
}

}  // namespace
}  // namespace virtsim
