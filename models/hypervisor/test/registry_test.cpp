#include "virtsim/hypervisor/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

TEST(MemoryVirtualizationRegistry, ListsEveryStrategyOnceWithItsVariants) {
  std::set<std::string> names;
  for (const auto& e : memory_virtualizations()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_FALSE(e.description.empty()) << e.name;
    EXPECT_FALSE(e.variants.empty()) << e.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"native", "shadow", "nested", "paravirt", "bt", "selective", "agile", "trap_emulate",
                                           "nested_ept", "shadow_on_ept"}));
  EXPECT_EQ(memory_virtualization_variants(),
            (std::vector<std::string>{"native", "shadow", "shadow_2m", "nested", "nested_2m", "nested_1g", "paravirt",
                                      "bt", "selective", "agile", "trap_emulate", "nested_ept", "nested_ept_trap_vmcs",
                                      "shadow_on_ept", "shadow_on_ept_trap_vmcs"}));
}

TEST(MemoryVirtualizationRegistry, AVariantSetsEveryKeyOfTheBaseline) {
  const CompareContext amd{"svm", "npt4"};
  EXPECT_EQ(*variant_settings("nested_2m", amd),
            (std::vector<std::string>{"system.vmx.mode=\"svm\"", "system.shadow.enabled=false",
                                      "system.shadow.host_page_size=\"4k\"", "system.nested.paging=\"npt4\"",
                                      "system.nested.page_size=\"2m\"", "system.kernel.paravirt_mmu=false",
                                      "system.bt.enabled=false", "system.selective.enabled=false",
                                      "system.agile.enabled=false", "system.trap_emulate.enabled=false",
                                      "system.nested_virt.memory=\"none\"", "system.nested_virt.vmcs_shadowing=true",
                                      "system.nested_virt.virtual_vmload_vmsave=true"}));
  EXPECT_EQ(variant_settings("native", amd)->front(), "system.vmx.mode=\"none\"");
  // The nested-virtualization variants follow the preset's vendor: nested NPT, and the trapping
  // one turns virtual VMLOAD/VMSAVE off.
  const std::vector<std::string> trap = *variant_settings("nested_ept_trap_vmcs", amd);
  for (const char* key : {"system.vmx.mode=\"svm\"", "system.nested.paging=\"npt4\"",
                          "system.nested_virt.memory=\"nested_ept\"", "system.nested_virt.vmcs_shadowing=true",
                          "system.nested_virt.virtual_vmload_vmsave=false"})
    EXPECT_NE(std::find(trap.begin(), trap.end(), key), trap.end()) << key;
  EXPECT_FALSE(variant_settings("vmware", amd));
}

TEST(MemoryVirtualizationRegistry, TheLastStrategyTheSwitchesNameIsChosen) {
  const auto choose = [&](const std::vector<std::pair<std::string, ParamValue>>& configured) {
    ParamRegistry p;
    for (const auto& [key, value] : configured) p.set_value(key, value, ValueSource{"--set"});
    const MemoryVirtualizationParameters mv(Scope{&p, nullptr, "system"}, "system.kernel.paravirt_mmu");
    return configured_memory_virtualization(mv).name;
  };
  EXPECT_EQ(choose({}), "native");
  EXPECT_EQ(choose({{"system.shadow.enabled", true}}), "shadow");
  EXPECT_EQ(choose({{"system.nested.paging", std::string("ept4")}}), "nested");
  EXPECT_EQ(choose({{"system.kernel.paravirt_mmu", true}}), "paravirt");
  // Binary translation keeps shadow tables: with both switches on it is binary translation.
  EXPECT_EQ(choose({{"system.shadow.enabled", true}, {"system.bt.enabled", true}}), "bt");
  // Agile paging keeps shadow and nested tables: with its switch on it is agile paging.
  EXPECT_EQ(choose({{"system.shadow.enabled", true}, {"system.nested.paging", std::string("ept4")},
                    {"system.agile.enabled", true}}),
            "agile");
  EXPECT_EQ(choose({{"system.trap_emulate.enabled", true}}), "trap_emulate");
  // An L2 guest: whatever L1's own switches say, the nested-virtualization strategy is built.
  EXPECT_EQ(choose({{"system.nested.paging", std::string("ept4")}, {"system.nested_virt.memory", std::string("nested_ept")}}),
            "nested_ept");
  EXPECT_EQ(choose({{"system.shadow.enabled", true}, {"system.nested.paging", std::string("ept4")},
                    {"system.nested_virt.memory", std::string("shadow_on_ept")}}),
            "shadow_on_ept");
}

}  // namespace
}  // namespace virtsim

namespace virtsim {
namespace {

// A strategy built the way the platform builds it, from configured keys, over 1 GiB of host
// memory with 64 MiB of guest memory.
struct Built {
  explicit Built(const std::vector<std::pair<std::string, ParamValue>>& configured) {
    for (const auto& [key, value] : configured) params.set_value(key, value, ValueSource{"--set"});
    parameters = std::make_unique<MemoryVirtualizationParameters>(system, "system.kernel.paravirt_mmu");
    transitions = std::make_unique<TransitionParameters>(system.child("vmx"));
    hypervisor = std::make_unique<HypervisorParameters>(system.child("hypervisor"));
    guest_memory_mib = std::make_unique<Param<std::uint64_t>>(system, "guest_memory_mib", 64, "MiB", "guest memory");
  }
  std::unique_ptr<MemoryVirtualization> make() {
    const MemoryVirtualizationSetup setup{system, *parameters, *transitions, *hypervisor, *guest_memory_mib, host,
                                          [](Addr) {}, [] {}, [] {}};
    return configured_memory_virtualization(*parameters).make(setup);
  }
  ParamRegistry params;
  StatRegistry stats;
  Scope system{&params, &stats, "system"};
  std::unique_ptr<MemoryVirtualizationParameters> parameters;
  std::unique_ptr<TransitionParameters> transitions;
  std::unique_ptr<HypervisorParameters> hypervisor;
  std::unique_ptr<Param<std::uint64_t>> guest_memory_mib;
  PhysicalMemory host{Addr{1} << 30};
  FrameAllocator host_frames{Addr{1} << 20, Addr{1} << 30};
};

constexpr Addr kGuestBytes = Addr{64} << 20;

TEST(NestedPagingStrategy, MapsEachGuestPageOnceAtItsFirstViolation) {
  Built b({{"system.nested.paging", std::string("ept4")}, {"system.vmx.mode", std::string("vmx")}});
  auto nested = b.make();
  ASSERT_TRUE(nested->backs_guest_memory());
  nested->map_guest_memory(b.host_frames, kGuestBytes);
  VcpuMemoryVirtualization& view = nested->vcpu_view(0);
  const auto walk = view.nested_walk();
  ASSERT_TRUE(walk);
  EXPECT_EQ(walk->controls.format, TableFormat::Ept4);
  EXPECT_FALSE(view.replaces_guest_tables());
  EXPECT_TRUE(view.nested_fault(0x123456));   // mapped now (lazily, under VT-x)
  EXPECT_FALSE(view.nested_fault(0x123000));  // the same page: a real violation
  EXPECT_FALSE(view.nested_fault(kGuestBytes));  // not guest memory
  EXPECT_EQ(b.parameters->nested.pages_mapped.count(), 1u);
}

TEST(NestedPagingStrategy, WithoutExitsMapsEverythingBeforeTheRun) {
  Built b({{"system.nested.paging", std::string("npt4")}, {"system.nested.page_size", std::string("2m")}});
  auto nested = b.make();
  nested->map_guest_memory(b.host_frames, kGuestBytes);
  VcpuMemoryVirtualization& view = nested->vcpu_view(0);
  EXPECT_EQ(view.nested_walk()->controls.format, TableFormat::Level4);
  EXPECT_FALSE(view.nested_fault(0x123456));  // already mapped: nothing to populate
}

TEST(MemoryVirtualizationStrategies, OnlyAHypervisorThatTakesThePageFaultSeesIt) {
  Built native_config({});
  auto native = native_config.make();
  EXPECT_FALSE(native->backs_guest_memory());
  EXPECT_FALSE(native->vcpu_view(0).page_fault({}, 0x1000, AccessKind::Load, true, false, 4));

  Built pv_config({{"system.kernel.paravirt_mmu", true}, {"system.vmx.mode", std::string("vmx")}});
  auto pv = pv_config.make();
  EXPECT_TRUE(pv->paravirtual());
  const auto reflected = pv->vcpu_view(0).page_fault({}, 0x1000, AccessKind::Store, true, false, 6);
  ASSERT_TRUE(reflected);
  EXPECT_EQ(reflected->resolution, ShadowFaultResolution::GuestFault);
  EXPECT_EQ(reflected->guest_error_code, 6u);
}

TEST(MemoryVirtualizationStrategies, EachRefusesTheSwitchesItCannotTake) {
  const auto refused = [](const std::vector<std::pair<std::string, ParamValue>>& configured,
                          const std::string& fragment) {
    Built b(configured);
    try {
      b.make();
      ADD_FAILURE() << "accepted; expected an error with " << fragment;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  refused({{"system.shadow.enabled", true}}, "shadow paging traps through VM exits");
  refused({{"system.shadow.enabled", true}, {"system.nested.paging", std::string("ept4")}},
          "a guest runs under shadow or nested paging, not both");
  refused({{"system.bt.enabled", true}, {"system.vmx.mode", std::string("vmx")}}, "is a software VMM");
  refused({{"system.trap_emulate.enabled", true}, {"system.vmx.mode", std::string("vmx")}},
          "is a software VMM without translation");
  refused({{"system.trap_emulate.enabled", true}, {"system.bt.enabled", true}}, "is a software VMM without translation");
  refused({{"system.kernel.paravirt_mmu", true}}, "its hypercalls enter the hypervisor as VMCALL exits");
  refused({{"system.kernel.paravirt_mmu", true}, {"system.vmx.mode", std::string("vmx")},
           {"system.shadow.enabled", true}},
          "runs on the guest's own tables");
  refused({{"system.agile.enabled", true}, {"system.vmx.mode", std::string("vmx")},
           {"system.nested.paging", std::string("ept4")}},
          "its walks start in the shadow tables");
  refused({{"system.agile.enabled", true}, {"system.vmx.mode", std::string("vmx")}, {"system.shadow.enabled", true}},
          "the format of the nested tables its walks switch into");
  const std::pair<std::string, ParamValue> l2_nested_ept{"system.nested_virt.memory", std::string("nested_ept")};
  refused({l2_nested_ept, {"system.vmx.mode", std::string("svm")}, {"system.nested.paging", std::string("ept4")}},
          "\"npt4\" or \"npt5\" under AMD-V");
  refused({l2_nested_ept, {"system.vmx.mode", std::string("vmx")}}, "(the format of L1's and L0's nested tables)");
  refused({{"system.nested_virt.memory", std::string("shadow_on_ept")}, {"system.vmx.mode", std::string("svm")},
           {"system.nested.paging", std::string("ept4")}},
          "\"npt4\" or \"npt5\" under AMD-V");
  refused({l2_nested_ept, {"system.vmx.mode", std::string("vmx")}, {"system.nested.paging", std::string("ept4")},
           {"system.shadow.enabled", true}},
          "L1 runs L2 under nested or shadow paging, not both");
  refused({{"system.nested_virt.memory", std::string("shadow_on_ept")}, {"system.vmx.mode", std::string("vmx")}},
          "(the format of L0's nested tables)");
}

double stat(const Built& b, const std::string& name) {
  const StatBase* s = b.stats.find(name);
  return s ? s->value() : -1;
}

TEST(NestedEptStrategy, AViolationL1sEptDoesNotMapIsReflectedThenL0FillsTheShadowEpt) {
  Built b({{"system.vmx.mode", std::string("vmx")}, {"system.nested.paging", std::string("ept4")},
           {"system.nested_virt.memory", std::string("nested_ept")}});
  auto l2 = b.make();
  l2->map_guest_memory(b.host_frames, kGuestBytes);
  VcpuMemoryVirtualization& view = l2->vcpu_view(0);
  ASSERT_TRUE(view.nested_walk());  // an ordinary 2-D walk over the shadow EPT
  EXPECT_EQ(view.nested_walk()->controls.format, TableFormat::Ept4);
  EXPECT_FALSE(view.replaces_guest_tables());
  EXPECT_TRUE(view.nested_fault(0x123456));   // L1's EPT does not map it: reflected, L1 maps it
  EXPECT_EQ(stat(b, "system.nested_virt.l1_ept_fills"), 1);
  EXPECT_EQ(stat(b, "system.nested_virt.shadow_ept_fills"), 0);
  EXPECT_TRUE(view.nested_fault(0x123456));   // the retry: L0 fills the shadow EPT
  EXPECT_EQ(stat(b, "system.nested_virt.shadow_ept_fills"), 1);
  EXPECT_FALSE(view.nested_fault(0x123000));  // mapped in both: a real violation
  EXPECT_FALSE(view.nested_fault(kGuestBytes));
}

TEST(ShadowOnEptStrategy, L1sShadowTablesAreWalkedThroughL0sEptFilledOnViolations) {
  Built b({{"system.vmx.mode", std::string("vmx")}, {"system.nested.paging", std::string("ept4")},
           {"system.nested_virt.memory", std::string("shadow_on_ept")}});
  auto l2 = b.make();
  EXPECT_TRUE(l2->shadow_page_faults());  // L2's #PF, CR3 loads and INVLPG exit (and go to L1)
  l2->map_guest_memory(b.host_frames, kGuestBytes);
  VcpuMemoryVirtualization& view = l2->vcpu_view(0);
  EXPECT_TRUE(view.replaces_guest_tables());
  ASSERT_TRUE(view.nested_walk());
  EXPECT_TRUE(view.nested_fault(0x2345678));   // L1's memory, mapped one to one by L0
  EXPECT_FALSE(view.nested_fault(0x2345000));
  EXPECT_FALSE(view.nested_fault(Addr{1} << 31));  // beyond host memory
  EXPECT_EQ(stat(b, "system.nested_virt.l0_ept_fills"), 1);
}

}  // namespace
}  // namespace virtsim
