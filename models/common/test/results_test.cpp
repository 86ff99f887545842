#include "virtsim/common/results.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

namespace fs = std::filesystem;

class ResultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("virtsim_results_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  bool temporaries_left() const {
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
    return false;
  }

  fs::path dir_;
};

// A registry holding one statistic of every kind, with two timeline rows.
struct Sample {
  StatRegistry stats;
  Scope scope{nullptr, &stats, "system.cpu0"};
  Counter loads{scope, "loads", "accesses", "loads"};
  Scalar energy{scope, "energy", "nJ", "energy"};
  Formula twice{scope, "twice", "accesses", "2 x loads", [this] { return 2.0 * loads.count(); }};
  Histogram refs{scope, "refs_per_walk", "references", "refs", 0, 1, 8};
  VectorStat levels{scope, "refs_by_level", "references", "levels", {"PML4", "PDPT", "PD", "PT"}};
  MatrixStat grid{scope, "grid", "references", "grid", {"g0", "g1"}, {"n0", "n1", "n2"}};
  Sample() {
    loads += 7;
    stats.dump_timeline(100);
    loads += 3;
    energy = 2.5;
    refs.sample(4, 3);
    levels.add(3, 9);
    grid.add(1, 2, 5);
    stats.dump_timeline(200);
  }
  RunRecord run(const std::string& id) const {
    RunRecord r;
    r.run_id = id;
    r.config_text = "[system]\ncpus = 1\n";
    r.parameters_json = "{\"system.cpus\": 1}";
    r.seed = 42;
    r.stats = &stats;
    r.exits = {{"vmx", 10, "CPUID", 3, 3000}};
    r.links = {{"walks/refs_per_walk", refs.name()}};
    return r;
  }
};

TEST_F(ResultsTest, RoundTripOfMetrics) {
  Sample sample;
  {
    ResultWriter writer(path("r.h5"), false);
    writer.write_run(sample.run("run0000"));
    writer.write_run(sample.run("run0001"));
    EXPECT_TRUE(fs::exists(writer.temporary_path()));
    EXPECT_FALSE(fs::exists(path("r.h5")));  // nothing under the final name until complete
    writer.commit();
  }
  EXPECT_FALSE(temporaries_left());
  const auto summary = read_result_summary(path("r.h5"));
  EXPECT_EQ(summary.schema_version, kResultSchemaVersion);
  ASSERT_EQ(summary.runs.size(), 2u);
  const auto& run = summary.runs[0];
  EXPECT_EQ(run.run_id, "run0000");
  EXPECT_EQ(run.status, "ok");
  EXPECT_EQ(run.seed, 42u);
  EXPECT_DOUBLE_EQ(run.metrics.at("system.cpu0.loads"), 10);
  EXPECT_DOUBLE_EQ(run.metrics.at("system.cpu0.energy"), 2.5);
  EXPECT_DOUBLE_EQ(run.metrics.at("system.cpu0.twice"), 20);
  EXPECT_EQ(run.metrics.count("system.cpu0.refs_per_walk"), 0u);  // histograms are not metrics
}

TEST_F(ResultsTest, ExistingFileIsRefusedWithoutForce) {
  std::ofstream(path("old.h5")) << "keep";
  try {
    ResultWriter writer(path("old.h5"), false);
    FAIL() << "existing file accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("already exists; pass --force"), std::string::npos) << e.what();
  }
  std::ifstream in(path("old.h5"));
  std::string content;
  in >> content;
  EXPECT_EQ(content, "keep");
  Sample sample;
  ResultWriter writer(path("old.h5"), true);
  writer.write_run(sample.run("run0000"));
  writer.commit();
  EXPECT_EQ(read_result_summary(path("old.h5")).runs.size(), 1u);
}

TEST_F(ResultsTest, MissingOrUnusableDirectoryIsNamed) {
  try {
    check_output_path(path("no/such/dir/x.h5"), false);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path("no/such/dir") + "' does not exist"), std::string::npos) << e.what();
  }
  std::ofstream(path("file")) << "x";
  EXPECT_THROW(check_output_path(path("file/x.h5"), false), ConfigError);
  EXPECT_THROW(check_output_path(dir_.string(), true), ConfigError);  // a directory is not a file name
}

TEST_F(ResultsTest, UncommittedWriterLeavesNothing) {
  Sample sample;
  {
    ResultWriter writer(path("aborted.h5"), false);
    writer.write_run(sample.run("run0000"));
  }
  EXPECT_FALSE(fs::exists(path("aborted.h5")));
  EXPECT_FALSE(temporaries_left());
}

TEST_F(ResultsTest, BadFilesAreNamed) {
  std::ofstream(path("text.h5")) << "not hdf5 at all";
  for (const auto& bad : {path("text.h5"), path("missing.h5")}) {
    try {
      read_result_summary(bad);
      FAIL() << bad;
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace virtsim
