#pragma once
// HDF5 result files (schema: docs/results-schema.md). This header and results.cpp are the
// only code in virtsim that knows HDF5.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "virtsim/common/output_files.h"
#include "virtsim/common/stats.h"

namespace virtsim {

inline constexpr int kResultSchemaVersion = 1;

// One row of the exits table: how often one exit reason occurred and what it cost.
struct ExitRecord {
  std::string mode;  // "vmx" or "svm"
  std::int64_t code = 0;
  std::string name;
  std::uint64_t count = 0;
  std::uint64_t cycles = 0;
};

// Everything one simulation run leaves in the file.
struct RunRecord {
  std::string run_id;           // group name under /runs
  std::string config_text;      // the experiment config as the user gave it (all files, in order)
  std::string parameters_json;  // every parameter's resolved value
  std::uint64_t seed = 0;
  std::string status = "ok";    // "ok", or "partial" (the simulation stopped on an error)
  std::string memory_virtualization = "native";  // "native", "shadow" or "nested"
  std::string error;            // the error that stopped a partial run (attribute written only then)
  double wall_seconds = 0.0;
  double simulated_seconds = 0.0;
  const StatRegistry* stats = nullptr;  // metrics, histograms, vectors, matrices, timeline
  std::vector<ExitRecord> exits;
  // Several VMs (or time-shared CPUs): per VM, its memory virtualization and its statistics,
  // given as prefixes of their names and what each prefix becomes in vms/vmK/metrics.
  struct Vm {
    std::string memory_virtualization;
    std::vector<std::pair<std::string, std::string>> statistics;  // (prefix, its replacement)
  };
  std::vector<Vm> vms;
  // Soft links for well-known places, e.g. {"walks/refs_per_walk", "<histogram stat name>"}.
  std::vector<std::pair<std::string, std::string>> links;
};

// The /sweep table: one row per point of a parameter sweep, the swept values typed per column.
struct SweepColumn {
  enum class Type { Int, Float, Text };
  std::string name;  // the swept parameter's dotted name
  Type type = Type::Text;
  std::vector<std::int64_t> ints;    // Type::Int
  std::vector<double> floats;        // Type::Float
  std::vector<std::string> texts;    // Type::Text
};
struct SweepTable {
  std::vector<std::int64_t> point;
  std::vector<std::string> run_id;   // "" for a point that left no run
  std::vector<std::string> status;   // "ok", "partial" or "failed"
  std::vector<std::string> error;
  std::vector<std::uint64_t> seed;
  std::vector<SweepColumn> columns;
  std::string config_text;
};

// Writes a result file crash-safely: the file is built in memory, then written by commit() to a
// temporary beside `path` (see create_temporary) and renamed onto `path`. Destroying an
// uncommitted writer removes the temporary; every error (a full disk too) leaves no temporary
// and `path` as it was.
class ResultWriter {
 public:
  // Throws ConfigError (before creating anything) if check_output_path(path, force) does.
  // Removes the temporaries of `path` that killed processes left.
  ResultWriter(std::string path, bool force);
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  void write_run(const RunRecord& run);
  // Copies run `run_id` of the result file `from_path` in whole (the runs of a comparison are
  // simulated by separate processes, each into its own file). Its soft links name
  // /runs/<run_id>/..., so the run keeps its id.
  void copy_run(const std::string& from_path, const std::string& run_id);
  void write_sweep(const SweepTable& table);
  // Closes the file, records its checksum (verify_result_file), writes it and renames it onto
  // `path`.
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temp_path_; }

 private:
  void discard();  // abandons the file and removes the temporary

  struct Impl;
  std::string path_, temp_path_;
  int temp_fd_ = -1;
  bool force_ = false;
  Impl* impl_ = nullptr;
  bool committed_ = false;
};

// The current UTC time as result files record it (ISO 8601: 2026-11-23T23:59:59Z).
std::string utc_timestamp();

// Throws FileError "<path>: corrupted result file (...)" if the file's length or CRC-32 (kept in
// its first 512 bytes, the HDF5 userblock) no longer match its bytes: checked before libhdf5
// reads a byte of it, which a damaged file can crash. Files written before there was a checksum
// (the HDF5 signature at byte 0) and files that are not result files at all pass unchecked.
void verify_result_file(const std::string& path);

// What `virtsim stats` reads back: per run, its attributes and its scalar metrics.
struct RunSummary {
  std::string run_id;
  std::string status;
  std::string error;  // empty unless the run is partial
  std::uint64_t seed = 0;
  std::string memory_virtualization;  // empty in files older than the attribute
  std::map<std::string, double> metrics;
};
struct ResultSummary {
  int schema_version = 0;
  std::string virtsim_version;
  std::vector<RunSummary> runs;
};
// Throws FileError naming the file and what was expected (corrupted, not HDF5, missing /runs,
// wrong schema version...).
ResultSummary read_result_summary(const std::string& path);

// A sweep's swept values by run id, each as (parameter, value), in the /sweep table's column
// order; empty for a file without /sweep. Throws FileError naming the file.
using SweptValue = std::variant<std::int64_t, double, std::string>;
std::map<std::string, std::vector<std::pair<std::string, SweptValue>>> read_swept_values(const std::string& path);

// Every element of a run's statistics beyond the scalar metrics: each cell of a vector or
// matrix ("name[label]", "name[row,column]") and each histogram's summary ("name.samples",
// .mean, .min, .max, .underflow, .overflow). Throws FileError naming the file and run.
std::map<std::string, double> read_statistic_values(const std::string& path, const std::string& run_id);

}  // namespace virtsim
