#include "virtsim/vmx/cpu_features.h"

#include <gtest/gtest.h>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

// The message check() gives for a configuration, or "" when it accepts it.
std::string refusal(const std::vector<std::pair<std::string, ParamValue>>& values) {
  ParamRegistry registry;
  for (const auto& [key, value] : values) registry.set_value(key, value, ValueSource{"merom.toml", 9, 1});
  const Scope system{&registry, nullptr, "system"};
  const TransitionParameters transitions(system.child("vmx"));
  const Param<std::string> paging(system.child("nested"), "paging", "none", "", "nested paging");
  const CpuFeatures features(system.child("features"));
  try {
    features.check(transitions, paging);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(CpuFeatures, EveryFeatureIsPresentByDefault) {
  EXPECT_EQ(refusal({{"system.vmx.mode", std::string("vmx")}, {"system.nested.paging", std::string("ept5")}}),
            "");
  EXPECT_EQ(refusal({{"system.vmx.mode", std::string("svm")}, {"system.nested.paging", std::string("npt4")}}),
            "");
  EXPECT_EQ(refusal({{"system.nested.paging", std::string("npt4")}}), "");  // no VT-x / AMD-V: either format
}

TEST(CpuFeatures, AMissingFeatureIsRefusedNamingItsKeyAndWhereItWasSet) {
  const std::string ept = refusal({{"system.vmx.mode", std::string("vmx")},
                                   {"system.nested.paging", std::string("ept4")},
                                   {"system.features.ept", false}});
  EXPECT_EQ(ept,
            "system.nested.paging = \"ept4\" (merom.toml:9:1) needs EPT, which this CPU lacks: "
            "system.features.ept = false (merom.toml:9:1)");
  EXPECT_NE(
      refusal({{"system.vmx.mode", std::string("vmx")}, {"system.features.vpid", false}}).find("needs VPIDs"),
      std::string::npos);
  EXPECT_EQ(refusal({{"system.vmx.mode", std::string("vmx")},
                     {"system.vmx.tagged_tlb", false},
                     {"system.features.vpid", false}}),
            "");
  EXPECT_NE(
      refusal({{"system.vmx.mode", std::string("svm")}, {"system.features.svm", false}}).find("needs AMD-V"),
      std::string::npos);
  EXPECT_NE(refusal({{"system.nested.paging", std::string("npt5")}, {"system.features.npt", false}})
                .find("needs NPT"),
            std::string::npos);
}

TEST(CpuFeatures, IntelAndAmdDoNotMix) {
  EXPECT_NE(refusal({{"system.vmx.mode", std::string("svm")}, {"system.nested.paging", std::string("ept4")}})
                .find("is Intel EPT, but system.vmx.mode = \"svm\""),
            std::string::npos);
  EXPECT_NE(refusal({{"system.vmx.mode", std::string("vmx")}, {"system.nested.paging", std::string("npt5")}})
                .find("is AMD NPT, but system.vmx.mode = \"vmx\""),
            std::string::npos);
}

}  // namespace
}  // namespace virtsim
