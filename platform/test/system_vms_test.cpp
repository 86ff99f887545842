// Two VMs time-sharing one physical CPU, each touching 16 pages over and over (a working set
// the TLBs hold several times over), in slices of 10 us. With VPID / ASID tags a VM's entries
// survive the other VM's slice and it hits them when its turn comes again; without tags every
// switch flushes them and each turn walks its pages again; with one usable ASID every switch
// starts a new ASID generation, which flushes too; with VM 1 under shadow paging and VM 0 under
// nested paging, each keeps its own strategy and its entries. One case per executable (one simulation
// per process): VIRTSIM_VMS_CASE selects it.
#include <gtest/gtest.h>

#include <set>

#include "virtsim/platform/system.h"

namespace virtsim {
namespace {

constexpr std::uint64_t kPages = 16;

struct TwoVms {
  ParamRegistry params;
  StatRegistry stats;
  std::unique_ptr<System> system;

  TwoVms(const std::string& mode, bool tagged, std::int64_t asids = 32768, const std::string& vm1_strategy = "") {
    const ValueSource test{"test"};
    params.set_value("system.vms", std::int64_t{2}, test);
    params.set_value("system.pcpus", std::int64_t{1}, test);
    params.set_value("system.guest_memory_mib", std::int64_t{64}, test);
    params.set_value("system.vmx.mode", mode, test);
    params.set_value("system.vmx.tagged_tlb", tagged, test);
    params.set_value("system.nested.paging", std::string(mode == "svm" ? "npt4" : "ept4"), test);
    params.set_value("system.scheduler.time_slice_us", 10.0, test);
    params.set_value("system.scheduler.asids", asids, test);
    if (!vm1_strategy.empty()) params.set_value("system.vm1.memory_virtualization", vm1_strategy, test);
    params.set_value("workload.kind", std::string("gups"), test);
    params.set_value("workload.footprint_kib", std::int64_t{kPages * 4}, test);
    params.set_value("workload.warmup_accesses", std::int64_t{2000}, test);
    params.set_value("workload.accesses", std::int64_t{400000}, test);
    system = std::make_unique<System>("system", Scope{&params, &stats, ""});
    params.check_all_used();
    sc_core::sc_start();
  }
  double stat(const std::string& name) const {
    const StatBase* s = stats.find(name);
    EXPECT_NE(s, nullptr) << name;
    return s ? s->value() : 0.0;
  }
  double vm(unsigned k, const std::string& leaf) const { return stat("system.vm" + std::to_string(k) + "." + leaf); }
};

#if VIRTSIM_VMS_CASE == 1
TEST(SystemVms, WithVpidsEachVmHitsItsEntriesAfterTheOthersSlice) {
  TwoVms run("vmx", true);
  for (unsigned k = 0; k < 2; ++k) {
    EXPECT_GE(run.vm(k, "switches"), 10) << "VM " << k << ": too few turns to tell";
    // The working set was walked in the warm-up; in the region of interest the entries are
    // still there after every switch back.
    EXPECT_LE(run.vm(k, "stlb_misses"), double(kPages)) << "VM " << k;
  }
  EXPECT_EQ(run.stat("system.pcpu0.tlb_flushes"), 0);
  // The per-VM statistics add up to the totals.
  EXPECT_EQ(run.vm(0, "walks") + run.vm(1, "walks"), run.stat("walk.count"));
  EXPECT_EQ(run.vm(0, "instructions") + run.vm(1, "instructions"), run.stat("sim.instructions"));
  EXPECT_EQ(run.vm(0, "cycles") + run.vm(1, "cycles"), run.stat("sim.cycles"));
  EXPECT_EQ(run.vm(0, "switches") + run.vm(1, "switches"), run.stat("system.pcpu0.switches"));
  // Both VMs' entries sit in the CPU's one TLB at once, told apart by their VPIDs (1 and 2):
  // the vCPU that ran last holds the CPU's entries.
  bool one_tlb_holds_both = false;
  for (std::size_t i = 0; i < 2; ++i) {
    std::set<std::uint16_t> vpids;
    for (const TlbEntry& e : run.system->vcpu(i).tlbs.stlb.entries()) vpids.insert(e.vpid);
    one_tlb_holds_both |= vpids.count(1) && vpids.count(2);
  }
  EXPECT_TRUE(one_tlb_holds_both);
}
#elif VIRTSIM_VMS_CASE == 2
TEST(SystemVms, WithoutVpidsEverySwitchFlushesAndEachTurnWalksAgain) {
  TwoVms run("vmx", false);
  EXPECT_EQ(run.stat("system.pcpu0.tlb_flushes"), run.stat("system.pcpu0.switches"));
  for (unsigned k = 0; k < 2; ++k) {
    EXPECT_GE(run.vm(k, "switches"), 10) << "VM " << k;
    EXPECT_GE(run.vm(k, "stlb_misses"), run.vm(k, "switches") * double(kPages) * 0.9) << "VM " << k;
  }
}
#elif VIRTSIM_VMS_CASE == 3
TEST(SystemVms, OneUsableAsidMeansANewGenerationAndAFlushAtEverySwitch) {
  TwoVms run("svm", true, 2);  // ASIDs 0 (the host) and 1
  EXPECT_EQ(run.stat("system.pcpu0.asid_generations"), run.stat("system.pcpu0.switches"));
  for (unsigned k = 0; k < 2; ++k)
    EXPECT_GE(run.vm(k, "stlb_misses"), run.vm(k, "switches") * double(kPages) * 0.9) << "VM " << k;
}
#elif VIRTSIM_VMS_CASE == 4
TEST(SystemVms, EnoughAsidsKeepEachVmsEntriesWithoutNewGenerations) {
  TwoVms run("svm", true, 3);  // ASIDs 1 and 2: one each, given in the warm-up
  EXPECT_EQ(run.stat("system.pcpu0.asid_generations"), 0);
  for (unsigned k = 0; k < 2; ++k) {
    EXPECT_GE(run.vm(k, "switches"), 10) << "VM " << k;
    EXPECT_LE(run.vm(k, "stlb_misses"), double(kPages)) << "VM " << k;
  }
}
#elif VIRTSIM_VMS_CASE == 5
TEST(SystemVms, AShadowPagingVmBesideANestedPagingVmKeepsItsOwnStrategyAndEntries) {
  TwoVms run("vmx", true, 32768, "shadow");
  EXPECT_EQ(run.system->memory_virtualization(0), "nested");
  EXPECT_EQ(run.system->memory_virtualization(1), "shadow");
  EXPECT_EQ(run.system->memory_virtualization(), "nested");
  // VM 1's shadow tables are its own statistics; VM 0 has none.
  EXPECT_GT(run.vm(1, "shadow.live_shadow_tables"), 0);
  EXPECT_EQ(run.stats.find("system.shadow.live_shadow_tables"), nullptr);
  EXPECT_EQ(run.stat("system.pcpu0.tlb_flushes"), 0);
  for (unsigned k = 0; k < 2; ++k) {
    EXPECT_GE(run.vm(k, "switches"), 10) << "VM " << k;
    // Tagged: neither strategy's entries are flushed by the other VM's slices.
    EXPECT_LE(run.vm(k, "stlb_misses"), double(kPages)) << "VM " << k;
  }
  // VM 0's walks are 2-D (guest tables under EPT), VM 1's go through the shadow tables alone:
  // the nested VM's walks reference more entries.
  EXPECT_GT(run.stat("system.mmu0.walker.refs") / run.stat("system.mmu0.walker.walks"),
            run.stat("system.mmu1.walker.refs") / run.stat("system.mmu1.walker.walks"));
}
#endif

}  // namespace
}  // namespace virtsim
