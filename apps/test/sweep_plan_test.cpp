#include "sweep_plan.h"

#include <gtest/gtest.h>

#include <set>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

std::string text_of(const SweepPoint& p, const std::string& name) {
  for (const auto& a : p.assignments)
    if (a.name == name) return format_value(a.value);
  return "<missing>";
}

TEST(SweepPlanTest, GridIsACartesianProductInFileOrderLastAxisFastest) {
  const auto plan = plan_sweep_text(R"(
[sweep.grid]
workload.kind = ["gups", "fork_and_wait"]
memory_virtualization = ["native", "shadow", "nested"]
)",
                                    "t.toml");
  ASSERT_EQ(plan.columns, (std::vector<std::string>{"workload.kind", "memory_virtualization"}));
  ASSERT_EQ(plan.points.size(), 6u);
  EXPECT_EQ(text_of(plan.points[0], "workload.kind"), "\"gups\"");
  EXPECT_EQ(text_of(plan.points[0], "memory_virtualization"), "\"native\"");
  EXPECT_EQ(text_of(plan.points[1], "memory_virtualization"), "\"shadow\"");
  EXPECT_EQ(text_of(plan.points[3], "workload.kind"), "\"fork_and_wait\"");
  EXPECT_EQ(text_of(plan.points[5], "memory_virtualization"), "\"nested\"");
  // Every combination exactly once.
  std::set<std::string> seen;
  for (const auto& p : plan.points) seen.insert(text_of(p, "workload.kind") + text_of(p, "memory_virtualization"));
  EXPECT_EQ(seen.size(), 6u);
  for (std::size_t i = 0; i < plan.points.size(); ++i) EXPECT_EQ(plan.points[i].index, i);
}

TEST(SweepPlanTest, ZippedListsAdvanceTogetherAndSeedsVaryFastest) {
  const auto plan = plan_sweep_text(R"(
[sweep]
seeds = 2
[sweep.grid]
machine.preset = ["skylake", "nehalem"]
[[sweep.zip]]
system.nested.page_size = ["4k", "2m", "1g"]
system.shadow.host_page_size = ["4k", "2m", "2m"]
)",
                                    "t.toml");
  ASSERT_EQ(plan.points.size(), 2u * 3u * 2u);
  EXPECT_EQ(plan.columns.size(), 3u);
  for (const auto& p : plan.points) {
    const auto nested = text_of(p, "system.nested.page_size"), shadow = text_of(p, "system.shadow.host_page_size");
    EXPECT_TRUE((nested == "\"4k\"" && shadow == "\"4k\"") || (nested == "\"2m\"" && shadow == "\"2m\"") ||
                (nested == "\"1g\"" && shadow == "\"2m\""))
        << nested << " with " << shadow;
    EXPECT_EQ(p.seed_offset, p.index % 2);
    EXPECT_FALSE(p.seed_listed);
  }
  EXPECT_EQ(text_of(plan.points[0], "system.nested.page_size"), text_of(plan.points[1], "system.nested.page_size"));
  EXPECT_NE(text_of(plan.points[1], "system.nested.page_size"), text_of(plan.points[2], "system.nested.page_size"));
  EXPECT_EQ(text_of(plan.points[6], "machine.preset"), "\"nehalem\"");
}

TEST(SweepPlanTest, ListedSeedsAreUsedAsGiven) {
  const auto plan = plan_sweep_text("[sweep]\nseeds = [7, 3, 11]\n", "t.toml");
  ASSERT_EQ(plan.points.size(), 3u);
  EXPECT_TRUE(plan.points[0].seed_listed);
  EXPECT_EQ(plan.points[0].seed, 7u);
  EXPECT_EQ(plan.points[2].seed, 11u);
  EXPECT_TRUE(plan.columns.empty());
}

TEST(SweepPlanTest, ValuesKeepTheirTomlTypes) {
  const auto plan = plan_sweep_text("[sweep.grid]\nsystem.cpu0.dtlb.entries = [32, 64]\nworkload.store_fraction = [0.1, 0.5]\n"
                                    "system.shadow.out_of_sync = [true, false]\n",
                                    "t.toml");
  ASSERT_EQ(plan.points.size(), 8u);
  EXPECT_TRUE(std::holds_alternative<std::int64_t>(plan.points[0].assignments[0].value));
  EXPECT_TRUE(std::holds_alternative<double>(plan.points[0].assignments[1].value));
  EXPECT_TRUE(std::holds_alternative<bool>(plan.points[0].assignments[2].value));
}

TEST(SweepPlanTest, FingerprintChangesWithThePointsAndTheConfig) {
  const std::string a = "[workload]\naccesses = 10\n[sweep.grid]\nworkload.kind = [\"gups\", \"stream\"]\n";
  const std::string b = "[workload]\naccesses = 10\n[sweep.grid]\nworkload.kind = [\"gups\", \"pointer_chase\"]\n";
  const std::string c = "[workload]\naccesses = 20\n[sweep.grid]\nworkload.kind = [\"gups\", \"stream\"]\n";
  EXPECT_EQ(plan_sweep_text(a, "t.toml").fingerprint(), plan_sweep_text(a, "t.toml").fingerprint());
  EXPECT_NE(plan_sweep_text(a, "t.toml").fingerprint(), plan_sweep_text(b, "t.toml").fingerprint());
  EXPECT_NE(plan_sweep_text(a, "t.toml").fingerprint(), plan_sweep_text(c, "t.toml").fingerprint());
}

TEST(SweepPlanTest, RunIdsAreNumberedByPoint) {
  EXPECT_EQ(SweepPlan::run_id(0), "run0000");
  EXPECT_EQ(SweepPlan::run_id(42), "run0042");
  EXPECT_EQ(SweepPlan::run_id(12345), "run12345");
}

void expect_error(const std::string& text, const std::string& fragment) {
  try {
    plan_sweep_text(text, "bad.toml");
    FAIL() << "no error for:\n" << text;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.toml"), std::string::npos) << e.what();
  }
}

TEST(SweepPlanTest, BadSweepsAreRefusedNamingFileLineAndKey) {
  expect_error("[workload]\nkind = \"gups\"\n", "no [sweep] table");
  expect_error("[sweep.grid]\nworkload.kind = \"gups\"\n", "bad.toml:2:17: key 'sweep.grid.workload.kind': expected a list");
  expect_error("[sweep.grid]\nworkload.kind = []\n", "the list is empty");
  expect_error("[[sweep.zip]]\na.b = [1, 2]\nc.d = [1, 2, 3]\n", "has 3 values, but 'a.b'");
  expect_error("[sweep]\nseed = 3\n", "key 'sweep.seed': unknown");
  expect_error("[sweep]\nseeds = 0\n", "at least 1 seed");
  expect_error("[sweep]\nseeds = [1, -2]\n", "non-negative integer seeds");
  expect_error("[sweep.grid]\na.b = [1]\n[[sweep.zip]]\na.b = [2]\n", "key 'a.b' is swept twice");
  expect_error("[sweep.grid]\nrun.seed = [1, 2]\n", "sweep seeds with [sweep] seeds");
  expect_error("[sweep.grid]\na = [[1], [2]]\n", "expected booleans, integers, floats or strings");
  expect_error("[sweep]\n", "sweeps nothing");
  expect_error("[sweep.grid\n", "TOML syntax error");
}

}  // namespace
}  // namespace virtsim
