#include "virtsim/sampling/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace virtsim {
namespace {

TEST(NormalQuantile, KnownValues) {
  EXPECT_NEAR(normal_two_sided_quantile(0.95), 1.959964, 1e-6);
  EXPECT_NEAR(normal_two_sided_quantile(0.99), 2.575829, 1e-6);
  EXPECT_NEAR(normal_two_sided_quantile(0.6826894921), 1.0, 1e-6);
}

TEST(SampleEstimate, MeanDeviationIntervalAndVariation) {
  SampleEstimate e;
  for (double v : {2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0}) e.add(v);
  EXPECT_EQ(e.count(), 8u);
  EXPECT_DOUBLE_EQ(e.mean(), 5.0);
  EXPECT_NEAR(e.standard_deviation(), std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_NEAR(e.half_width(2.0), 2.0 * std::sqrt(32.0 / 7.0) / std::sqrt(8.0), 1e-12);
  EXPECT_NEAR(e.coefficient_of_variation(), std::sqrt(32.0 / 7.0) / 5.0, 1e-12);
  SampleEstimate one;
  one.add(3.0);
  EXPECT_EQ(one.half_width(2.0), 0.0);  // one window says nothing of the spread
}

TEST(SampleEstimate, RatioOfSumsWithTheResidualsSpread) {
  SampleEstimate e;
  // Windows of 1, 2 and 3 references costing 2, 6 and 4 cycles: 12 cycles over 6 references.
  e.add(2.0, 1.0);
  e.add(6.0, 2.0);
  e.add(4.0, 3.0);
  EXPECT_DOUBLE_EQ(e.mean(), 2.0);
  // Residuals x - 2y: 0, 2, -2; their variance 8 / 2 = 4; over the mean denominator 2: s = 1.
  EXPECT_NEAR(e.standard_deviation(), 1.0, 1e-12);
  EXPECT_NEAR(e.half_width(3.0), 3.0 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(e.coefficient_of_variation(), 0.5, 1e-12);
}

TEST(SampleEstimate, IntervalCoversTheTrueMeanAtItsConfidence) {
  // 1000 samples of 30 normal windows each: the 95 % interval holds the true mean about 95 % of
  // the time (binomial spread: 3 standard deviations is about 2 points).
  std::mt19937_64 random(7);
  std::normal_distribution<double> window(10.0, 3.0);
  const double z = normal_two_sided_quantile(0.95);
  int covered = 0;
  for (int s = 0; s < 1000; ++s) {
    SampleEstimate e;
    for (int w = 0; w < 30; ++w) e.add(window(random));
    covered += std::fabs(e.mean() - 10.0) <= e.half_width(z);
  }
  EXPECT_GT(covered, 925);
  EXPECT_LT(covered, 975);
}

TEST(SamplingParameters, PeriodShorterThanWarmupAndWindowNamesTheKey) {
  ParamRegistry registry;
  registry.set_value("sampling.period", std::int64_t{100}, ValueSource{"--set"});
  SamplingParameters p(Scope{&registry, nullptr, "sampling"});
  try {
    p.plan();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sampling.period = 100 is shorter than sampling.warmup + sampling.window"),
              std::string::npos)
        << e.what();
  }
}

// A vCPU stand-in: `events` counts references, `cycles` grows by 2 a reference when detailed
// and is left alone when functional.
struct Machine {
  StatRegistry stats;
  Scope root{nullptr, &stats, ""};
  Counter references{root, "references", "references", ""};
  Counter cycles{root, "cycles", "cycles", ""};
  bool functional = false;
  std::vector<bool> modes;
};

TEST(SamplingController, PhasesFollowThePlanAndWindowsSeeOnlyTheirOwnCounts) {
  Machine m;
  const SamplingPlan plan{10, 5, 100, 0.95};
  SamplingController c(plan, m.stats,
                       {{"cycles_per_reference", "cycles/reference", [&m] { return double(m.cycles.count()); },
                         [&m] { return double(m.references.count()); }},
                        {"cycles", "cycles", [&m] { return double(m.cycles.count()); }}},
                       [&m](bool f) {
                         m.functional = f;
                         m.modes.push_back(f);
                       });
  std::uint64_t left = c.start();
  EXPECT_EQ(left, 100u);  // the head: the first period, detailed and measured whole
  EXPECT_FALSE(m.functional);
  EXPECT_EQ(c.phase(), SamplingPhase::Head);
  std::uint64_t run = 0;
  for (; run < 1000; ++run) {
    ++m.references;
    m.cycles += m.functional ? 0 : (c.phase() == SamplingPhase::Measured ? 3 : 2);
    if (--left == 0) left = c.next_phase();
  }
  // The head, then nine periods: functional 85, warm-up 5, window 10 each.
  EXPECT_EQ(c.estimate(0).count(), 9u);
  c.finish(left);  // in the functional part: nothing more
  EXPECT_EQ(c.estimate(0).count(), 9u);
  EXPECT_DOUBLE_EQ(c.estimate(0).mean(), 3.0);
  EXPECT_DOUBLE_EQ(c.estimate(0).half_width(c.z()), 0.0);
  EXPECT_DOUBLE_EQ(c.estimate(1).mean(), 30.0);
  // The run: the head's 100 references at 2 cycles exactly, the other 900 at the windows' 3.
  EXPECT_DOUBLE_EQ(c.run_estimate(0), (100 * 2.0 + 900 * 3.0) / 1000);
  EXPECT_DOUBLE_EQ(c.run_estimate(1), 30.0);  // a count: the windows' alone
  // Totals are back after each window.
  EXPECT_EQ(m.references.count(), 1000u);
  EXPECT_EQ(m.cycles.count(), 100u * 2 + 9u * (5 * 2 + 10 * 3));
  ASSERT_GE(m.modes.size(), 3u);
  EXPECT_EQ(m.modes[0], false);
  EXPECT_EQ(m.modes[1], true);
  EXPECT_EQ(m.modes[2], false);
}

TEST(SamplingController, AResetInsideAWindowRestartsIt) {
  Machine m;
  SamplingController c({10, 0, 10, 0.95}, m.stats, {{"cycles", "cycles", [&m] { return double(m.cycles.count()); }}},
                       [](bool) {});
  m.cycles += 50;
  EXPECT_EQ(c.start(), 10u);  // the head
  EXPECT_EQ(c.next_phase(), 10u);  // no functional part: straight into a window
  EXPECT_EQ(c.phase(), SamplingPhase::Measured);
  m.cycles += 7;
  m.stats.reset_all();
  c.statistics_reset();
  m.cycles += 5;
  c.next_phase();
  EXPECT_EQ(c.estimate(0).count(), 1u);
  EXPECT_DOUBLE_EQ(c.estimate(0).mean(), 5.0);  // from the reset on
}

TEST(SamplingController, ARunEndingInAWindowCountsItsPart) {
  Machine m;
  SamplingController c({10, 0, 10, 0.95}, m.stats,
                       {{"cycles_per_reference", "cycles/reference", [&m] { return double(m.cycles.count()); },
                         [&m] { return double(m.references.count()); }}},
                       [](bool) {});
  c.start();
  m.references += 10;
  m.cycles += 10;
  c.next_phase();  // the head: 1 cycle a reference
  m.references += 4;
  m.cycles += 20;
  c.finish(6);  // 4 references of a window: 5 cycles each
  EXPECT_EQ(c.estimate(0).count(), 1u);
  EXPECT_DOUBLE_EQ(c.estimate(0).mean(), 5.0);
  EXPECT_DOUBLE_EQ(c.run_estimate(0), 30.0 / 14.0);
}

TEST(SamplingController, ARunShorterThanTheHeadIsMeasuredExactly) {
  Machine m;
  SamplingController c({10, 0, 100, 0.95}, m.stats,
                       {{"cycles_per_reference", "cycles/reference", [&m] { return double(m.cycles.count()); },
                         [&m] { return double(m.references.count()); }}},
                       [](bool) {});
  c.start();
  m.references += 40;
  m.cycles += 100;
  c.finish(60);
  EXPECT_EQ(c.estimate(0).count(), 0u);
  EXPECT_DOUBLE_EQ(c.run_estimate(0), 2.5);
  EXPECT_DOUBLE_EQ(c.run_half_width(0), 0.0);
}

}  // namespace
}  // namespace virtsim
