#include "virtsim/hypervisor/registry.h"

#include <gtest/gtest.h>

#include <set>

namespace virtsim {
namespace {

TEST(MemoryVirtualizationRegistry, ListsEveryStrategyOnceWithItsVariants) {
  std::set<std::string> names;
  for (const auto& e : memory_virtualizations()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_FALSE(e.description.empty()) << e.name;
    EXPECT_FALSE(e.variants.empty()) << e.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"native", "shadow", "nested", "paravirt", "bt"}));
  EXPECT_EQ(memory_virtualization_variants(),
            (std::vector<std::string>{"native", "shadow", "shadow_2m", "nested", "nested_2m", "nested_1g", "paravirt",
                                      "bt"}));
}

TEST(MemoryVirtualizationRegistry, AVariantSetsEveryKeyOfTheBaseline) {
  const CompareContext amd{"svm", "npt4"};
  EXPECT_EQ(*variant_settings("nested_2m", amd),
            (std::vector<std::string>{"system.vmx.mode=\"svm\"", "system.shadow.enabled=false",
                                      "system.shadow.host_page_size=\"4k\"", "system.nested.paging=\"npt4\"",
                                      "system.nested.page_size=\"2m\"", "system.kernel.paravirt_mmu=false",
                                      "system.bt.enabled=false"}));
  EXPECT_EQ(variant_settings("native", amd)->front(), "system.vmx.mode=\"none\"");
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
}

}  // namespace
}  // namespace virtsim
