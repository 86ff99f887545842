#include "regression.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

namespace fs = std::filesystem;

class RegressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("virtsim-regression-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

const RunMetrics kRuns = {{"native", {{"sim.cycles", 1000.0}, {"walk.refs_per_walk", 4.0}}},
                          {"shadow", {{"sim.cycles", 3000.0}, {"walk.refs_per_walk", 4.5}}}};

Expectation expect_value(const std::string& metric, double value) {
  Expectation e;
  e.metric = MetricRef::parse(metric);
  e.value = value;
  return e;
}

TEST_F(RegressionTest, ReadsACaseWithItsExpectations) {
  const auto c = read_case(write("walk.toml", R"(
[case]
kind = "analytic"
fast = true
description = "d"
[workload]
kind = "gups"
[[expect]]
metric = "walk.refs_per_walk"
value = 24
tolerance = 0
[[expect]]
metric = "shadow:sim.cycles"
over = "native:sim.cycles"
min = 1.5
max = 4
source = "a paper"
)"));
  EXPECT_EQ(c.name, "walk");
  EXPECT_EQ(c.kind, "analytic");
  EXPECT_TRUE(c.fast);
  ASSERT_EQ(c.expectations.size(), 2u);
  EXPECT_EQ(c.expectations[0].expected(), "24 ± 0");
  EXPECT_EQ(c.expectations[1].what(), "shadow:sim.cycles / native:sim.cycles");
  EXPECT_EQ(c.expectations[1].expected(), "in [1.5, 4]");
  EXPECT_EQ(c.expectations[1].source, "a paper");
}

TEST_F(RegressionTest, ChecksValuesTolerancesRangesAndRatios) {
  // The result's first run when none is named.
  EXPECT_TRUE(check(expect_value("sim.cycles", 1000), kRuns).pass);
  EXPECT_FALSE(check(expect_value("sim.cycles", 1001), kRuns).pass);
  auto tolerant = expect_value("sim.cycles", 1001);
  tolerant.tolerance = 1.0;
  EXPECT_TRUE(check(tolerant, kRuns).pass);
  auto relative = expect_value("shadow:sim.cycles", 3100);
  relative.rel_tolerance = 0.03;
  EXPECT_FALSE(check(relative, kRuns).pass);
  relative.rel_tolerance = 0.04;
  EXPECT_TRUE(check(relative, kRuns).pass);

  Expectation ratio;
  ratio.metric = MetricRef::parse("shadow:sim.cycles");
  ratio.over = MetricRef::parse("native:sim.cycles");
  ratio.min = 2.5;
  ratio.max = 3.5;
  const auto r = check(ratio, kRuns);
  EXPECT_TRUE(r.pass);
  ASSERT_TRUE(r.measured);
  EXPECT_DOUBLE_EQ(*r.measured, 3.0);
  ratio.max = 2.9;
  EXPECT_FALSE(check(ratio, kRuns).pass);
  EXPECT_EQ(check(ratio, kRuns).note, "above 2.9");
}

TEST_F(RegressionTest, MissingRunsAndMetricsFailWithAReason) {
  const auto no_metric = check(expect_value("walk.count", 1), kRuns);
  EXPECT_FALSE(no_metric.pass);
  EXPECT_FALSE(no_metric.measured);
  EXPECT_EQ(no_metric.note, "the result has no metric 'walk.count'");
  EXPECT_EQ(check(expect_value("nested:sim.cycles", 1), kRuns).note, "the result has no run 'nested'");
}

TEST_F(RegressionTest, GoldenValuesRoundTripThroughTheirFile) {
  const auto c = read_case(write("g.toml", "[case]\nkind = \"golden\"\ndescription = \"d\"\n[golden]\n"
                                           "metrics = [\"sim.cycles\", \"shadow:walk.refs_per_walk\"]\nrel_tolerance = 0.01\n"));
  EXPECT_THROW(read_golden(c), ConfigError);  // not recorded yet: says how to record it
  fs::create_directories(dir_ / "golden");
  std::ofstream(golden_path(c)) << golden_text(c, kRuns, "by a test");
  const auto golden = read_golden(c);
  ASSERT_EQ(golden.size(), 2u);
  EXPECT_DOUBLE_EQ(golden.at("native:sim.cycles"), 1000.0);  // the first run named
  EXPECT_DOUBLE_EQ(golden.at("shadow:walk.refs_per_walk"), 4.5);
  const auto expectations = golden_expectations(c, golden);
  for (const auto& e : expectations) EXPECT_TRUE(check(e, kRuns).pass) << e.what();
  RunMetrics drifted = kRuns;
  drifted["native"]["sim.cycles"] = 1020.0;  // 2 % off, more than the 1 % allowed
  EXPECT_FALSE(check(expectations[0], drifted).pass);
}

TEST_F(RegressionTest, BadCasesNameFileLineAndKey) {
  const auto refuses = [&](const std::string& text, const std::string& fragment) {
    const auto path = write("bad.toml", text);
    try {
      read_case(path);
      ADD_FAILURE() << "accepted:\n" << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  refuses("[workload]\nkind = \"gups\"\n", "no [case] table");
  refuses("[case]\nkind = \"guess\"\ndescription = \"d\"\n", "expected analytic, published, measured or golden");
  refuses("[case]\nkind = \"published\"\ndescription = \"d\"\n[[expect]]\nmetric = \"a\"\nvalue = 1\n",
          "needs key 'source'");
  refuses("[case]\nkind = \"measured\"\ndescription = \"d\"\n[[expect]]\nmetric = \"a\"\nvalue = 1\n",
          "needs key 'source'");
  refuses("[case]\nkind = \"analytic\"\ndescription = \"d\"\n", "checks nothing");
  refuses("[case]\nkind = \"analytic\"\ndescription = \"d\"\n[[expect]]\nmetric = \"a\"\n", "needs value or min/max");
  refuses("[case]\nkind = \"analytic\"\ndescription = \"d\"\n[[expect]]\nmetric = \"a\"\nvalue = 1\ntolerance = 1\n"
          "rel_tolerance = 0.1\n",
          "gives both");
  refuses("[case]\nkind = \"analytic\"\ndescription = \"d\"\n[[expect]]\nmetric = \"a\"\nvalue = \"x\"\n",
          ":6:9: key 'expect.value': expected a number");
  refuses("[case]\nkind = \"analytic\"\ndescription = \"d\"\nspeed = 1\n", "key 'case.speed': unknown");
  refuses("[case]\nkind = \"golden\"\ndescription = \"d\"\n", "needs a [golden] table");
}

// Every case the project ships reads without error and checks something.
TEST(RegressionSuiteTest, EveryShippedCaseReads) {
  std::size_t cases = 0, fast = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(VIRTSIM_SOURCE_DIR) / "experiments" / "regression")) {
    if (entry.path().extension() != ".toml") continue;
    const auto c = read_case(entry.path().string());
    EXPECT_FALSE(c.expectations.empty() && c.golden_metrics.empty()) << c.path;
    if (c.kind == "published") {
      EXPECT_FALSE(c.source.empty()) << c.path;
    }
    if (c.kind == "golden") {
      EXPECT_NO_THROW(read_golden(c)) << c.path;
    }
    ++cases;
    fast += c.fast;
  }
  EXPECT_GE(cases, 3u);
  EXPECT_GE(fast, 1u);
}

}  // namespace
}  // namespace virtsim
