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

TEST(SweepPlanTest, PointsTextChangesWithThePoints) {
  const std::string a = "[workload]\naccesses = 10\n[sweep.grid]\nworkload.kind = [\"gups\", \"stream\"]\n";
  const std::string b = "[workload]\naccesses = 10\n[sweep.grid]\nworkload.kind = [\"gups\", \"pointer_chase\"]\n";
  EXPECT_EQ(plan_sweep_text(a, "t.toml").points_text(), plan_sweep_text(a, "other/t.toml").points_text());
  EXPECT_NE(plan_sweep_text(a, "t.toml").points_text(), plan_sweep_text(b, "t.toml").points_text());
}

PlanRecord record_of(const std::string& config, std::vector<std::string> sets = {}) {
  PlanRecord record;
  record.config_text = config;
  record.presets["machine/skylake.toml"] = "[system.vmx]\nvm_exit_cycles = 600\n";
  record.sets = std::move(sets);
  record.points = plan_sweep_text(config, "t.toml").points_text();
  return record;
}

TEST(SweepPlanTest, PlanRecordReadsBackExactly) {
  const PlanRecord record = record_of("[sweep]\nseeds = 2\n", {"workload.accesses=5", "odd=\"a\nb\""});
  const auto back = PlanRecord::parse(record.serialize());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->config_text, record.config_text);
  EXPECT_EQ(back->presets, record.presets);
  EXPECT_EQ(back->sets, record.sets);
  EXPECT_EQ(back->points, record.points);
  EXPECT_EQ(record.difference_from(*back), "");
  // An older virtsim's plan.txt, or a damaged one, is not taken for a record.
  EXPECT_FALSE(PlanRecord::parse("config t.toml\n[sweep]\nseeds = 2\n").has_value());
  std::string cut = record.serialize();
  cut.resize(cut.size() - 3);
  EXPECT_FALSE(PlanRecord::parse(cut).has_value());
}

TEST(SweepPlanTest, PlanRecordSaysWhatDiffers) {
  const std::string config = "[workload]\naccesses = 10\n[sweep]\nseeds = 2\n";
  const PlanRecord planned = record_of(config);
  EXPECT_EQ(record_of(config).difference_from(planned), "");
  const std::string sets = record_of(config, {"workload.accesses=20"}).difference_from(planned);
  EXPECT_NE(sets.find("planned with no --set, now with --set 'workload.accesses=20'"), std::string::npos)
      << sets;
  const std::string text =
      record_of("[workload]\naccesses = 10\n[sweep]\nseeds = 3\n").difference_from(planned);
  EXPECT_NE(text.find("line 4 was 'seeds = 2', is now 'seeds = 3'"), std::string::npos) << text;
  PlanRecord preset = record_of(config);
  preset.presets["machine/skylake.toml"] = "[system.vmx]\nvm_exit_cycles = 700\n";
  const std::string presets = preset.difference_from(planned);
  EXPECT_NE(presets.find("preset machine/skylake.toml differs (line 2"), std::string::npos) << presets;
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
  expect_error("[sweep]\ncheckpoint = 1\n[sweep.grid]\na.b = [1, 2]\n",
               "bad.toml:2:14: key 'sweep.checkpoint': expected true or false");
}

TEST(SweepPlanTest, CheckpointIsOffUnlessTheTableTurnsItOn) {
  EXPECT_FALSE(plan_sweep_text("[sweep.grid]\na.b = [1, 2]\n", "t.toml").checkpoint);
  const auto plan = plan_sweep_text("[sweep]\ncheckpoint = true\n[sweep.grid]\na.b = [1, 2]\n", "t.toml");
  EXPECT_TRUE(plan.checkpoint);
  EXPECT_EQ(plan.columns, (std::vector<std::string>{"a.b"}));  // not an axis
  EXPECT_EQ(plan.points.size(), 2u);
}

TEST(SweepPlanTest, EveryWayToGrowPastTheCapIsRefusedNamingTheKey) {
  expect_error("[sweep]\nseeds = 2000000\n",
               "bad.toml:2:9: key 'sweep.seeds': 2000000 seeds make more points");
  expect_error("[sweep]\nseeds = 9223372036854775807\n", "at most 1000000");
  std::string list = "[sweep.grid]\na.b = [0";
  for (int i = 1; i < 1001; ++i) list += ", " + std::to_string(i);
  list += "]\n";
  expect_error("[sweep]\nseeds = 1000\n" + list,
               "key 'sweep.grid.a.b': its 1001 values times the 1000 points");
  expect_error(list + "[[sweep.zip]]\nc.d = " + list.substr(list.find('[', 2)) +
                   "e.f = " + list.substr(list.find('[', 2)),
               "key 'sweep.zip.c.d': its 1001 values times the 1001 points");
  // Exactly the cap is a sweep.
  EXPECT_EQ(
      plan_sweep_text("[sweep]\nseeds = 1000\n" + list.substr(0, list.rfind(", 1000")) + "]\n", "t.toml")
          .points.size(),
      1000000u);
}

}  // namespace
}  // namespace virtsim
