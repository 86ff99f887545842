#pragma once
// The subcommands of `virtsim`. Each returns the process exit status; user errors are
// reported as ConfigError / PlatformError / FileError and turned into status 2 by main.
#include <cstdint>
#include <string>
#include <vector>

namespace virtsim {

struct ConfigOptions {
  std::string config_path;          // empty: the embedded default experiment
  std::vector<std::string> sets;    // --set key=value, in order
};

struct RunOptions {
  ConfigOptions config;
  std::string output;               // empty: results/<config name>.h5
  bool force = false;
  bool quiet = false;
  // A run of a comparison: its progress lines carry this name (and it prints no summary).
  std::string progress_label;
};

enum class DescribeFormat { Text, Json, Markdown };

int run_command(const RunOptions& options);
int describe_command(const ConfigOptions& config, DescribeFormat format);
int platform_command(const ConfigOptions& config, bool dot);
int stats_command(const std::string& path, bool json, bool all);

struct TraceGenOptions {
  std::string output;
  std::string pattern = "random";
  std::uint64_t accesses = 100000;
  std::uint64_t footprint_kib = 65536;
  std::uint64_t seed = 1;
};
int trace_info_command(const std::string& path);
int trace_cat_command(const std::string& path, std::uint64_t limit);
int trace_gen_command(const TraceGenOptions& options);
int trace_convert_command(const std::vector<std::string>& inputs, const std::string& output, std::uint64_t limit,
                          std::uint64_t limit_per_process, bool renumber_pids);

}  // namespace virtsim
