#include "virtsim/common/stats.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

TEST(Stats, CounterScalarFormula) {
  StatRegistry registry;
  Scope scope{nullptr, &registry, "system.cpu0"};
  Counter hits(scope, "hits", "lookups", "hits");
  Counter misses(scope, "misses", "lookups", "misses");
  Scalar energy(scope, "energy", "nJ", "energy");
  Formula rate(scope, "miss_rate", "ratio", "misses / all",
               [&] { return double(misses.count()) / double(hits.count() + misses.count()); });
  ++hits;
  hits += 2;
  ++misses;
  energy += 1.5;
  EXPECT_EQ(hits.count(), 3u);
  EXPECT_DOUBLE_EQ(energy.value(), 1.5);
  EXPECT_DOUBLE_EQ(rate.value(), 0.25);
  EXPECT_EQ(registry.all().size(), 4u);
  ASSERT_NE(registry.find("system.cpu0.miss_rate"), nullptr);
  EXPECT_EQ(registry.find("system.cpu0.miss_rate")->kind(), StatKind::Formula);
  EXPECT_EQ(registry.match("system.*.hits").size(), 1u);
}

TEST(Stats, HistogramBucketsUnderflowOverflow) {
  Histogram h({nullptr, nullptr, "h"}, "refs", "references", "", 0, 5, 4);  // [0,5) [5,10) [10,15) [15,20)
  h.sample(0);
  h.sample(4.9);
  h.sample(5);
  h.sample(19.99);
  h.sample(20);
  h.sample(-1);
  h.sample(12, 3);
  EXPECT_EQ(h.counts(), (std::vector<std::uint64_t>{2, 1, 3, 1}));
  EXPECT_EQ(h.overflow(), 1u);
  EXPECT_EQ(h.underflow(), 1u);
  EXPECT_EQ(h.samples(), 9u);
  EXPECT_DOUBLE_EQ(h.min(), -1);
  EXPECT_DOUBLE_EQ(h.max(), 20);
  EXPECT_DOUBLE_EQ(h.sum(), 0 + 4.9 + 5 + 19.99 + 20 - 1 + 36);
  h.reset();
  EXPECT_EQ(h.samples(), 0u);
  EXPECT_EQ(h.counts(), (std::vector<std::uint64_t>{0, 0, 0, 0}));
  EXPECT_DOUBLE_EQ(h.mean(), 0.0);
}

TEST(Stats, VectorAndMatrix) {
  VectorStat v({nullptr, nullptr, ""}, "by_level", "refs", "", {"PML4", "PDPT", "PD", "PT"});
  v.add(0);
  v.add(3, 5);
  EXPECT_EQ(v.at(3), 5u);
  EXPECT_DOUBLE_EQ(v.value(), 6);
  MatrixStat m({nullptr, nullptr, ""}, "grid", "refs", "", {"g4", "g3"}, {"n4", "n3", "n2"});
  m.add(1, 2, 7);
  m.add(0, 0);
  EXPECT_EQ(m.at(1, 2), 7u);
  EXPECT_EQ(m.cells()[1 * 3 + 2], 7u);
  EXPECT_DOUBLE_EQ(m.value(), 8);
  m.reset();
  EXPECT_DOUBLE_EQ(m.value(), 0);
}

TEST(Stats, ResetAllAtRegionOfInterestAndTimeline) {
  StatRegistry registry;
  Scope scope{nullptr, &registry, "c"};
  Counter n(scope, "n", "", "");
  Histogram h(scope, "h", "", "", 0, 1, 2);
  Formula twice(scope, "twice", "", "", [&] { return 2.0 * n.count(); });
  n += 10;
  h.sample(1);
  registry.dump_timeline(100);
  registry.reset_all();
  EXPECT_EQ(n.count(), 0u);
  EXPECT_EQ(h.samples(), 0u);
  EXPECT_TRUE(registry.timeline().empty());
  n += 3;
  registry.dump_timeline(200);
  n += 1;
  registry.dump_timeline(300);
  // Timeline tracks counters, scalars and formulas, not histograms.
  EXPECT_EQ(registry.timeline_columns(), (std::vector<std::string>{"c.n", "c.twice"}));
  ASSERT_EQ(registry.timeline().size(), 2u);
  EXPECT_EQ(registry.timeline()[0].cycle, 200u);
  EXPECT_EQ(registry.timeline()[1].values, (std::vector<double>{4, 8}));
}

TEST(Stats, DuplicateNamesAreRejectedAndDestroyedStatsLeave) {
  StatRegistry registry;
  Scope scope{nullptr, &registry, "c"};
  Counter a(scope, "a", "", "");
  EXPECT_THROW(Counter(scope, "a", "", ""), std::logic_error);
  {
    Counter b(scope, "b", "", "");
    EXPECT_EQ(registry.all().size(), 2u);
  }
  EXPECT_EQ(registry.all().size(), 1u);
}

}  // namespace
}  // namespace virtsim
