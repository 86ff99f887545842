#include "virtsim/common/results.h"

#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

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

// vms/vmK: the VM's strategy and the scalar statistics under its prefixes, renamed; a run
// without VMs has no vms/ group.
TEST_F(ResultsTest, EachVmsStrategyAndStatisticsInTheVmsGroup) {
  Sample sample;
  {
    ResultWriter writer(path("vms.h5"), false);
    RunRecord run = sample.run("run0000");
    run.vms = {{"nested", {{"system.cpu0.", ""}}}, {"shadow", {{"system.cpu0.lo", "vm1.lo"}}}};
    writer.write_run(run);
    writer.write_run(sample.run("run0001"));
    writer.commit();
  }
  H5::H5File file(path("vms.h5"), H5F_ACC_RDONLY);
  H5::StrType text(H5::PredType::C_S1, H5T_VARIABLE);
  text.setCset(H5T_CSET_UTF8);
  auto rows = [&file, &text](const std::string& vm) {
    H5::Group group = file.openGroup("/runs/run0000/vms/" + vm);
    std::string strategy;
    group.openAttribute("memory_virtualization").read(text, strategy);
    H5::DataSet set = group.openDataSet("metrics");
    H5::CompType name_only(sizeof(char*));
    name_only.insertMember("name", 0, text);
    std::vector<char*> names(set.getSpace().getSimpleExtentNpoints());
    if (!names.empty()) set.read(names.data(), name_only);
    std::vector<std::string> out{strategy};
    for (char* n : names) {
      out.emplace_back(n);
      std::free(n);  // HDF5 allocated the variable-length strings
    }
    return out;
  };
  // vm0: every scalar (loads, energy, twice), no histogram; vm1: loads alone, renamed.
  EXPECT_EQ(rows("vm0"), (std::vector<std::string>{"nested", "loads", "energy", "twice"}));
  EXPECT_EQ(rows("vm1"), (std::vector<std::string>{"shadow", "vm1.loads"}));
  EXPECT_FALSE(file.nameExists("/runs/run0001/vms"));
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

// What a call threw, or "" when it did not.
template <typename Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(ResultsTest, OnlyRegularFilesAreWrittenEvenWithForce) {
  std::ofstream(path("victim")) << "keep";
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  fs::create_symlink(path("victim"), path("link"));
  fs::create_symlink(path("nowhere"), path("dangling"));
  fs::create_directory(path("dir"));
  for (const bool force : {false, true}) {
    EXPECT_NE(error_of([&] { ResultWriter w(path("fifo"), force); }).find("is a FIFO, not a regular file"),
              std::string::npos);
    EXPECT_NE(error_of([&] { ResultWriter w(path("link"), force); }).find("is a symbolic link"),
              std::string::npos);
    EXPECT_NE(error_of([&] { ResultWriter w(path("dangling"), force); }).find("is a symbolic link"),
              std::string::npos);
    EXPECT_NE(error_of([&] { ResultWriter w(path("dir"), force); }).find("is a directory"),
              std::string::npos);
  }
  EXPECT_EQ(file_text(path("victim")), "keep");
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(path("fifo"))));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(path("link"))));
  EXPECT_FALSE(temporaries_left());
}

TEST_F(ResultsTest, AnOutputThatBecomesALinkMeanwhileIsNotReplaced) {
  Sample sample;
  std::ofstream(path("victim")) << "keep";
  ResultWriter writer(path("r.h5"), true);
  writer.write_run(sample.run("run0000"));
  fs::create_symlink(path("victim"), path("r.h5"));  // planted while the run was written
  EXPECT_NE(error_of([&] { writer.commit(); }).find("became a symbolic link"), std::string::npos);
  EXPECT_EQ(file_text(path("victim")), "keep");
  EXPECT_FALSE(temporaries_left());
}

TEST_F(ResultsTest, TemporariesAreNewFilesUnderUnpredictableNames) {
  const std::string first = create_temporary(path("out.h5")), second = create_temporary(path("out.h5"));
  const std::string stem = path("out.h5") + ".tmp-" + std::to_string(::getpid()) + "-";
  EXPECT_EQ(first.compare(0, stem.size(), stem), 0) << first;
  EXPECT_NE(first, second);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(first)));
  EXPECT_EQ(fs::file_size(first), 0u);
}

TEST_F(ResultsTest, TemporariesOfDeadProcessesOfThisHostAreRemoved) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid no process has now
  const std::string mine = create_temporary(path("out.h5"));
  // This host's name: what follows "<pid>-<8 characters>-" in our own temporary's name.
  const std::string host =
      mine.substr((path("out.h5") + ".tmp-" + std::to_string(::getpid()) + "-").size() + 9);
  const std::string dead = std::to_string(child);
  const std::string dead_here = path("out.h5.tmp-" + dead + "-abcdefgh-" + host);
  const std::string dead_elsewhere = path("out.h5.tmp-" + dead + "-abcdefgh-" + host + "x");
  const std::string older_version = path("out.h5.tmp-" + dead);
  const std::string live = path("out.h5.tmp-" + std::to_string(::getppid()) + "-abcdefgh-" + host);
  const std::string other_output = path("other.h5.tmp-" + dead + "-abcdefgh-" + host);
  for (const auto& p : {dead_here, dead_elsewhere, older_version, live, other_output})
    std::ofstream(p) << "x";
  const std::string planted = path("out.h5.tmp-" + dead + "-zzzzzzzz-" + host);
  fs::create_symlink(path("victim"), planted);
  remove_stale_temporaries(path("out.h5"));
  EXPECT_FALSE(fs::exists(dead_here));
  EXPECT_FALSE(fs::exists(older_version));
  for (const auto& p : {mine, dead_elsewhere, live, other_output}) EXPECT_TRUE(fs::exists(p)) << p;
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(planted)));
}

TEST_F(ResultsTest, DamagedFilesAreRefusedBeforeReading) {
  Sample sample;
  {
    ResultWriter writer(path("r.h5"), false);
    writer.write_run(sample.run("run0000"));
    writer.commit();
  }
  const std::string good = file_text(path("r.h5"));
  ASSERT_EQ(good.compare(0, 20, "virtsim result file\n"), 0);
  EXPECT_NO_THROW(verify_result_file(path("r.h5")));
  for (const std::size_t offset :
       {std::size_t{5}, std::size_t{200}, std::size_t{512}, good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x10);
    std::ofstream(path("bad.h5"), std::ios::binary) << bad;
    const std::string error = error_of([&] { read_result_summary(path("bad.h5")); });
    EXPECT_NE(error.find(path("bad.h5") + ": corrupted result file ("), std::string::npos)
        << offset << ": " << error;
  }
  std::ofstream(path("cut.h5"), std::ios::binary) << good.substr(0, good.size() - 10);
  EXPECT_NE(error_of([&] { read_result_summary(path("cut.h5")); }).find("truncated"), std::string::npos);
}

TEST_F(ResultsTest, ManyTimelineColumnsGoToADataset) {
  StatRegistry stats;
  Scope scope{nullptr, &stats, "system"};
  std::vector<std::unique_ptr<Counter>> counters;
  for (int i = 0; i < 4100; ++i)
    counters.push_back(
        std::make_unique<Counter>(scope, "counter" + std::to_string(i), "events", "a counter"));
  stats.dump_timeline(10);
  RunRecord run;
  run.run_id = "run0000";
  run.stats = &stats;
  ResultWriter writer(path("wide.h5"), false);
  writer.write_run(run);
  writer.commit();
  H5::H5File file(path("wide.h5"), H5F_ACC_RDONLY);
  H5::DataSet timeline = file.openDataSet("/runs/run0000/timeline");
  EXPECT_FALSE(timeline.attrExists("columns"));
  H5::DataSet names = file.openDataSet("/runs/run0000/timeline_columns");
  hsize_t count = 0;
  names.getSpace().getSimpleExtentDims(&count);
  EXPECT_EQ(count, 4101u);  // cycle, then every counter
  EXPECT_EQ(read_result_summary(path("wide.h5")).runs.at(0).metrics.size(), 4100u);
}

}  // namespace
}  // namespace virtsim
