#include "virtsim/vmx/exit_reasons.h"

#include <gtest/gtest.h>

namespace virtsim {

TEST(ExitReasons, VmxNumbersFollowTheSdm) {
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 10), "CPUID");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 12), "HLT");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 18), "VMCALL");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 30), "I/O instruction");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 48), "EPT violation");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 49), "EPT misconfiguration");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 64), "XRSTORS");
  // 35, 38 and 42 are not defined.
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 35), "unknown (35)");
  EXPECT_EQ(exit_reason_name(VirtMode::Vmx, 42), "unknown (42)");
}

TEST(ExitReasons, SvmCodesFollowTheApm) {
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x003), "CR_READ_CR3");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x013), "CR_WRITE_CR3");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x04E), "EXCEPTION_14");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x072), "CPUID");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x078), "HLT");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x081), "VMMCALL");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x400), "NPF");
  EXPECT_EQ(exit_reason_name(VirtMode::Svm, 0x300), "unknown (768)");
}

TEST(ExitReasons, TablesAreSortedAndUnique) {
  for (auto mode : {VirtMode::Vmx, VirtMode::Svm}) {
    const auto& table = exit_reasons(mode);
    ASSERT_FALSE(table.empty());
    for (std::size_t i = 1; i < table.size(); ++i) EXPECT_LT(table[i - 1].code, table[i].code) << to_string(mode);
  }
}

}  // namespace virtsim
