#include "virtsim/memory/host_memory.h"

#include <gtest/gtest.h>

#include "virtsim/memory/physical_memory.h"

namespace virtsim {
namespace {

TEST(HostMemoryBudget, TheAutomaticBudgetIsSomeOfTheHostsMemory) {
  const HostMemoryBudget automatic(0, "budget");
  EXPECT_GT(automatic.bytes(), 0u);
  EXPECT_NE(automatic.describe().find("automatic"), std::string::npos);
  EXPECT_EQ(HostMemoryBudget(3, "budget").bytes(), 3u << 20);
}

TEST(HostMemoryBudget, FramesTakenPastABudgetBelowTheResidentSetThrow) {
  ASSERT_GT(HostMemoryBudget::resident_bytes(), 1u << 20);  // this test process holds more than 1 MiB
  HostMemoryBudget budget(1, "system.memory.host_budget_mib");
  FrameAllocator frames(Addr{1} << 20, Addr{1} << 30);
  frames.set_budget(&budget);
  for (int i = 0; i < 255; ++i) frames.allocate();  // checked once per MiB taken: not yet
  try {
    frames.allocate();
    FAIL() << "the 256th frame completes a MiB: the check must throw";
  } catch (const HostMemoryExceeded& e) {
    EXPECT_NE(std::string(e.what()).find("system.memory.host_budget_mib = 1 MiB"), std::string::npos)
        << e.what();
  }
  HostMemoryBudget roomy(1 << 20, "budget");  // 1 TiB
  FrameAllocator more(Addr{1} << 20, Addr{1} << 30);
  more.set_budget(&roomy);
  EXPECT_NO_THROW(more.allocate(1024));
}

}  // namespace
}  // namespace virtsim
