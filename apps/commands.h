#pragma once
// The subcommands of `virtsim`. Each returns the process exit status; user errors are
// reported as ConfigError / PlatformError / FileError and turned into status 2 by main.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace virtsim {

struct ConfigOptions {
  std::string config_path;          // empty: the embedded default experiment
  std::vector<std::string> sets;    // --set key=value, in order
  // Presets chosen from outside the file, by table (a sweep's machine.preset axis).
  std::map<std::string, std::string> preset_overrides;
};

struct RunOptions {
  ConfigOptions config;
  std::string output;               // empty: results/<config name>.h5
  bool force = false;
  bool quiet = false;
  // A run of a comparison: its progress lines carry this name (and it prints no summary).
  std::string progress_label;
  // Debug trace (--trace): the kinds (debug_trace::Kind bits, 0: off), the cycle range and
  // the file the lines go to (empty: stderr).
  unsigned trace_kinds = 0;
  std::uint64_t trace_first_cycle = 0;
  std::uint64_t trace_last_cycle = UINT64_MAX;
  std::string trace_file;
};

enum class DescribeFormat { Text, Json, Markdown };

int run_command(const RunOptions& options);
int describe_command(const ConfigOptions& config, DescribeFormat format);
int platform_command(const ConfigOptions& config, bool dot);
int describe_presets_command();
// DMA into the Secure Loader Block before and after SKINIT (the DEV refusing it after).
int skinit_demo_command(const ConfigOptions& config, bool intercept);

enum class StatsFormat { Text, Json, Csv };
struct StatsOptions {
  std::vector<std::string> files;  // one; two with diff
  StatsFormat format = StatsFormat::Text;
  bool all = false;                // every scalar metric, not just the canonical ones
  bool diff = false;               // what differs between the runs of two files
};
int stats_command(const StatsOptions& options);

enum class SweepBackend { Local, Slurm };
struct SweepOptions {
  ConfigOptions config;              // the sweep config and --set assignments for every point
  std::string output;                // empty: results/<config name>.h5
  unsigned jobs = 0;                 // 0: one per core
  bool force = false;                // start over, replacing the output and finished points
  bool resume = false;               // keep finished points, run the rest
  bool dry_run = false;              // print the points and stop
  bool quiet = false;
  SweepBackend backend = SweepBackend::Local;
  bool wait = false;                 // Slurm: wait for the merge job
  std::vector<std::string> slurm_options;  // passed to sbatch
  unsigned points_per_task = 1;      // Slurm: points each array task runs
  // Internal steps: one point; what Slurm's array task N runs; the merge.
  std::optional<std::size_t> point;
  std::optional<std::size_t> task;
  bool merge_only = false;
};
int sweep_command(const SweepOptions& options);

struct RegressOptions {
  std::string directory;             // empty: experiments/regression
  bool full = false;                 // every case, not just the fast subset
  std::vector<std::string> cases;    // only these (by name)
  unsigned jobs = 0;                 // 0: one per core
  std::string output_dir;            // empty: results/regression
  std::string report;                // empty: <output_dir>/report.md (and .json beside it)
  bool record_golden = false;        // write the golden cases' values instead of checking old ones
  bool quiet = false;
};
int regress_command(const RegressOptions& options);

struct TraceGenOptions {
  std::string output;
  std::string pattern = "random";
  std::uint64_t accesses = 100000;
  std::uint64_t footprint_kib = 65536;
  std::uint64_t seed = 1;
  bool force = false;  // replace an existing output
};
int trace_info_command(const std::string& path);
int trace_cat_command(const std::string& path, std::uint64_t limit);
int trace_gen_command(const TraceGenOptions& options);
int trace_convert_command(const std::vector<std::string>& inputs, const std::string& output, std::uint64_t limit,
                          std::uint64_t limit_per_process, bool renumber_pids, bool thp_aligned_anonymous, bool force);

}  // namespace virtsim
