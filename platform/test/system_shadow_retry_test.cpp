// A whole system under VT-x with shadow paging running the page-table-update loop, whose
// munmap frees the round's page tables and whose next mmap zeroes them again with a fast-string
// store: the hypervisor unprotects such a page with one #PF exit and retries the instruction
// (KVM's retry_instruction), while the kernel's page-table entry stores (plain MOVs) are still
// emulated, and the shadow stays consistent with the guest's tables throughout.
#include <gtest/gtest.h>

#include "virtsim/platform/system.h"

namespace virtsim {
namespace {

TEST(SystemShadowRetry, AStringStoreToAGuestTablePageTakesOneExitWhileEntryStoresAreEmulated) {
  ParamRegistry params;
  StatRegistry stats;
  const ValueSource test{"test"};
  params.set_value("system.vmx.mode", std::string("vmx"), test);
  params.set_value("system.shadow.enabled", true, test);
  params.set_value("system.shadow.check", true, test);
  params.set_value("workload.kind", std::string("pt_update"), test);
  params.set_value("workload.operations", std::int64_t{20}, test);
  System system("system", Scope{&params, &stats, ""});
  params.check_all_used();
  sc_core::sc_start();

  const ShadowPageTables& shadow = *system.shadow_tables();
  EXPECT_GT(shadow.checks.count(), 0u);
  EXPECT_GE(shadow.unprotect_retries.count(), 20u);  // a table page re-zeroed each round at least
  EXPECT_GT(shadow.writes_emulated.count(), 0u);
  std::uint64_t retry_exits = 0, emulation_exits = 0;
  for (const ExitRecord& r : system.exit_records()) {
    if (r.name.find("(#PF: page unprotected and instruction retried)") != std::string::npos) retry_exits += r.count;
    if (r.name.find("(#PF: page-table write emulated)") != std::string::npos) emulation_exits += r.count;
  }
  EXPECT_EQ(retry_exits, shadow.unprotect_retries.count());  // one exit each
  EXPECT_EQ(emulation_exits, shadow.writes_emulated.count());
}

}  // namespace
}  // namespace virtsim
