// `virtsim sweep`: the points of a config's [sweep] table, each simulated in its own process
// into its own file under <output>.points/, then merged into one result file with a /sweep
// table. A point's file appears only when whole (written under a temporary name, renamed), so
// a sweep killed at any moment keeps every point that finished, and --resume runs the rest.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "commands.h"
#include "experiment.h"
#include "files.h"
#include "process_pool.h"
#include "sweep_plan.h"
#include "virtsim/common/error.h"
#include "virtsim/common/results.h"
#include "virtsim/platform/checkpoint.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPlanFile = "plan.txt";

// Where a sweep keeps its points: beside the result file.
struct SweepFiles {
  fs::path output;
  fs::path directory;
  fs::path result(std::size_t i) const { return directory / (SweepPlan::run_id(i) + ".h5"); }
  fs::path error(std::size_t i) const { return directory / (SweepPlan::run_id(i) + ".error"); }
  fs::path plan() const { return directory / kPlanFile; }
  fs::path tasks() const { return directory / "tasks.txt"; }  // Slurm: the points, in task order
};

SweepFiles files_for(const std::string& output) {
  SweepFiles f;
  f.output = output;
  f.directory = output + ".points";
  return f;
}

// The result file; its default folder, results/, is created only when the sweep runs.
std::string output_for(const SweepOptions& options) {
  if (!options.output.empty()) return options.output;
  return "results/" + fs::path(options.config.config_path).stem().string() + ".h5";
}

// Text for a one-line message: control characters (a newline in a path, say) as escapes.
std::string printable(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\x%02x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool is_preset_name(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot != std::string::npos && name.substr(dot + 1) == "preset";
}

// The presets a point chooses (its `X.preset` values), by table.
std::map<std::string, std::string> preset_overrides_of(const SweepPoint& point) {
  std::map<std::string, std::string> out;
  for (const auto& a : point.assignments)
    if (is_preset_name(a.name) && std::holds_alternative<std::string>(a.value))
      out[a.name.substr(0, a.name.rfind('.'))] = std::get<std::string>(a.value);
  return out;
}

// What determines the points now: the config and --set, every preset some point loads (the
// file's own and each combination the swept presets make) and the points.
PlanRecord plan_record(const SweepOptions& options, const SweepPlan& plan) {
  PlanRecord record;
  record.config_text = plan.config_text;
  record.sets = options.config.sets;
  record.points = plan.points_text();
  std::set<std::map<std::string, std::string>> combinations;
  for (const auto& p : plan.points) combinations.insert(preset_overrides_of(p));
  for (const auto& overrides : combinations) {
    ConfigOptions config = options.config;
    config.preset_overrides = overrides;
    LoadedConfig loaded;
    load(config, loaded);
    for (const auto& file : loaded.sources.files) {
      if (file == options.config.config_path) continue;
      const fs::path path(file);
      record.presets[(path.parent_path().filename() / path.filename()).string()] = read_file_text(path);
    }
  }
  return record;
}

// The text that makes a point what it is, recorded in its run's config attribute.
std::string describe_point(const SweepPoint& point) {
  std::string out = "# sweep point " + std::to_string(point.index) + "\n";
  for (const auto& a : point.assignments) out += a.name + " = " + format_value(a.value) + "\n";
  out += point.seed_listed ? "run.seed = " + std::to_string(point.seed) + "\n"
                           : "# run.seed + " + std::to_string(point.seed_offset) + "\n";
  return out;
}

// The configured run.seed (the parameter's default, 1, when nothing sets it).
std::uint64_t base_seed(const ParamRegistry& params) {
  const auto v = params.configured_value("run.seed");
  return v && std::holds_alternative<std::int64_t>(*v) ? static_cast<std::uint64_t>(std::get<std::int64_t>(*v)) : 1;
}

std::uint64_t seed_of(const SweepPoint& point, std::uint64_t base) {
  return point.seed_listed ? point.seed : base + point.seed_offset;
}

// Loads the experiment as point `point` of the sweep: the config file with the point's
// presets in place of the file's own, the --set assignments, the point's memory
// virtualization, its other values, and its seed, in that order (later ones win).
void load_point(const SweepOptions& options, const SweepPoint& point, LoadedConfig& loaded) {
  ConfigOptions config = options.config;
  config.preset_overrides = preset_overrides_of(point);
  std::vector<const SweepAssignment*> values;
  const SweepAssignment* mode = nullptr;
  for (const auto& a : point.assignments) {
    if (is_preset_name(a.name)) {
      if (!std::holds_alternative<std::string>(a.value))
        throw ConfigError(options.config.config_path + ": key 'sweep." + a.name +
                          "': expected preset names as strings");
    } else if (a.name == kMemoryVirtualizationAxis) {
      if (!std::holds_alternative<std::string>(a.value))
        throw ConfigError(options.config.config_path + ": key 'sweep." + a.name +
                          "': expected names of memory virtualizations as strings");
      mode = &a;
    } else {
      values.push_back(&a);
    }
  }
  load(config, loaded);
  loaded.sources.text += describe_point(point);
  const ValueSource source{options.config.config_path + " (sweep point " + std::to_string(point.index) + ")"};
  if (mode)
    for (const auto& s : mode_settings(std::get<std::string>(mode->value), loaded.params))
      apply_set_option(s, loaded.params);
  for (const auto* a : values) loaded.params.set_value(a->name, a->value, source);
  const std::uint64_t seed = seed_of(point, base_seed(loaded.params));
  loaded.params.set_value("run.seed", static_cast<std::int64_t>(seed), source);
}

// [sweep] checkpoint: the points that share a checkpoint are those whose swept functional
// parameters (checkpoint.h; a preset or a memory virtualization counts as functional) and seed
// agree. `loaded` is the point as load_point() left it. The group's name is a digest of those.
std::string checkpoint_group(const SweepPoint& point, const LoadedConfig& loaded) {
  std::string key = "seed=" + std::to_string(base_seed(loaded.params));
  for (const auto& a : point.assignments)
    if (is_preset_name(a.name) || a.name == kMemoryVirtualizationAxis || is_functional_parameter(a.name))
      key += ";" + a.name + "=" + format_value(a.value);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  char name[17];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(h));
  return name;
}
fs::path checkpoint_file(const SweepFiles& files, const std::string& group) {
  return files.directory / ("checkpoint-" + group + ".ckpt");
}

// [sweep] checkpoint: before the points, one warm-up run per group of pending points, each in a
// process of its own, that saves the group's checkpoint and stops (a checkpoint already there,
// from a run that was resumed, is kept). A failed warm-up leaves no checkpoint: its points then
// fail with the load's error.
void save_checkpoints(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files,
                      const std::vector<std::size_t>& pending, unsigned jobs) {
  std::map<std::string, std::size_t> first_of_group;
  for (std::size_t index : pending) {
    LoadedConfig loaded;
    load_point(options, plan.points.at(index), loaded);
    first_of_group.emplace(checkpoint_group(plan.points.at(index), loaded), index);
  }
  std::vector<std::size_t> warmups;
  std::error_code ec;
  for (const auto& [group, index] : first_of_group)
    if (!fs::exists(checkpoint_file(files, group), ec)) warmups.push_back(index);
  if (warmups.empty()) return;
  if (!options.quiet)
    std::fprintf(stderr, "sweep: %zu warm-up run(s) into checkpoints, then the points start from them\n", warmups.size());
  run_in_processes(
      warmups, jobs,
      [&](std::size_t index) {
        LoadedConfig loaded;
        load_point(options, plan.points.at(index), loaded);
        const ValueSource source{plan.config_path + " ([sweep] checkpoint)"};
        const std::string group = checkpoint_group(plan.points.at(index), loaded);
        loaded.params.set_value("checkpoint.save", checkpoint_file(files, group).string(), source);
        loaded.params.set_value("checkpoint.stop", true, source);
        RunOptions run;
        run.config = options.config;
        run.force = true;
        run.quiet = true;
        const fs::path warmup_result = files.directory / ("checkpoint-" + group + ".h5");
        const int status = run_one(run, loaded, warmup_result.string(), "warmup");
        std::error_code ignored;
        fs::remove(warmup_result, ignored);
        return status;
      },
      [](std::size_t index) { return "the warm-up of sweep point " + std::to_string(index); },
      [](std::size_t, const ProcessEnd&) {});
}

// Simulates one point into its file. Any error before the simulation runs (a bad value for
// this point, say) is written to the point's .error file instead. Returns the exit status.
int run_point(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files, std::size_t index) {
  const SweepPoint& point = plan.points.at(index);
  try {
    LoadedConfig loaded;
    load_point(options, point, loaded);
    if (plan.checkpoint)
      loaded.params.set_value("checkpoint.load", checkpoint_file(files, checkpoint_group(point, loaded)).string(),
                              ValueSource{plan.config_path + " ([sweep] checkpoint)"});
    RunOptions run;
    run.config = options.config;
    run.force = true;
    run.quiet = true;
    std::error_code ec;
    fs::remove(files.error(index), ec);
    return run_one(run, loaded, files.result(index).string(), SweepPlan::run_id(index));
  } catch (const std::exception& e) {
    write_file_atomically(files.error(index), e.what());
    std::fprintf(stderr, "virtsim: sweep point %zu: %s\n", index, e.what());
    return 2;
  }
}

// The finished points in the point directory (their result files).
std::size_t finished_count(const SweepFiles& files) {
  std::size_t count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(files.directory, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("run", 0) == 0 && entry.path().extension() == ".h5") ++count;
  }
  return count;
}

// What --force would delete, said wherever it is suggested.
std::string force_deletes(const SweepFiles& files) {
  return "--force deletes the " + std::to_string(finished_count(files)) + " finished points in " +
         files.directory.string() + " (and " + files.output.string() + ", if there) and starts over";
}

void check_plan(const PlanRecord& now, const SweepFiles& files) {
  std::error_code ec;
  if (!fs::exists(files.plan(), ec))
    throw ConfigError(files.plan().string() + ": not found; the sweep's points were never planned here");
  const auto planned = PlanRecord::parse(read_file_text(files.plan()));
  if (!planned)
    throw ConfigError(files.plan().string() +
                      ": not a plan this virtsim can read (an older virtsim's?), so the points "
                      "here cannot be resumed; give another -o, or " +
                      force_deletes(files));
  const std::string difference = now.difference_from(*planned);
  if (!difference.empty())
    throw ConfigError(files.plan().string() + ": the points here were planned otherwise: " + difference +
                      "; resume with what planned them, give another -o, or " + force_deletes(files));
}

// Creates the point directory and its plan, or (resuming) clears what killed points left.
void prepare_directory(const SweepOptions& options, const PlanRecord& record, const SweepFiles& files) {
  std::error_code ec;
  const bool exists = fs::exists(files.directory, ec);
  if (exists && options.force && !options.resume) {
    fs::remove_all(files.directory, ec);
    if (ec) throw FileError(files.directory.string() + ": cannot remove: " + ec.message());
  }
  if (fs::exists(files.plan(), ec)) {
    // A point process killed midway leaves its temporary file: never a point's result.
    for (const auto& entry : fs::directory_iterator(files.directory))
      if (entry.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(entry.path(), ec);
    return;
  }
  fs::create_directories(files.directory, ec);
  if (ec) throw FileError(files.directory.string() + ": cannot create: " + ec.message());
  write_file_atomically(files.plan(), record.serialize());
}

// Every point loaded and its platform elaborated as its run will, before anything runs or
// is written: a value that makes one point invalid refuses the whole sweep. SystemC
// elaborates once per process, so each distinct point (seeds aside: elaboration does not
// look at them) is checked in a child process, `jobs` at a time, up to the first that
// fails; that one is then elaborated here, where its error becomes this command's.
void validate_points(const SweepOptions& options, const SweepPlan& plan, unsigned jobs) {
  std::vector<std::size_t> distinct;
  std::set<std::string> seen;
  for (const auto& p : plan.points) {
    std::string key;
    for (const auto& a : p.assignments) key += a.name + "=" + format_value(a.value) + "\n";
    if (seen.insert(key).second) distinct.push_back(p.index);
  }
  std::optional<std::size_t> failed;
  ProcessEnd failed_end;
  run_in_processes(
      distinct, jobs,
      [&](std::size_t index) {
        // Silent: the error is reported once, by the parent (SystemC's banner not at all).
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) {
          ::dup2(null, STDOUT_FILENO);
          ::dup2(null, STDERR_FILENO);
        }
        LoadedConfig loaded;
        load_point(options, plan.points[index], loaded);
        check_elaboration(loaded);
        return 0;
      },
      [](std::size_t index) { return "sweep point " + std::to_string(index); },
      [&](std::size_t index, const ProcessEnd& end) {
        if (!end.ok() && (!failed || index < *failed)) {
          failed = index;
          failed_end = end;
        }
      },
      [&] { return failed.has_value(); });
  if (!failed) return;
  const SweepPoint& point = plan.points[*failed];
  std::string values;
  for (const auto& a : point.assignments)
    values += (values.empty() ? "" : ", ") + a.name + " = " + format_value(a.value);
  const std::string which = plan.config_path + ": sweep point " + std::to_string(point.index) +
                            (values.empty() ? "" : " (" + values + ")") + ": ";
  if (failed_end.signal)
    throw ConfigError(which + "checking it crashed (signal " + std::to_string(failed_end.signal) + ")");
  try {
    LoadedConfig loaded;
    load_point(options, point, loaded);
    check_elaboration(loaded);
  } catch (const std::exception& e) {
    throw ConfigError(which + printable(e.what()));
  }
  throw ConfigError(which + "checking it failed (status " + std::to_string(failed_end.exit_status) + ")");
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

// The progress bar: points done of those this invocation runs, failures, elapsed and ETA.
class Progress {
 public:
  Progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet), tty_(isatty(STDERR_FILENO)) {}
  void point_done(bool ok) {
    ++done_;
    if (!ok) ++failed_;
    if (quiet_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = done_ ? elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_) : 0.0;
    constexpr int kWidth = 30;
    const int filled = total_ ? static_cast<int>(kWidth * done_ / total_) : kWidth;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "%ssweep [%s] %zu/%zu points, %zu failed, %s elapsed, ETA %s%s", tty_ ? "\r" : "",
                 bar.c_str(), done_, total_, failed_, clock_text(elapsed).c_str(),
                 clock_text(eta).c_str(), tty_ ? (done_ == total_ ? "\n" : "") : "\n");
    std::fflush(stderr);
  }

 private:
  std::size_t total_, done_ = 0, failed_ = 0;
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The points without a result file, in plan order.
std::vector<std::size_t> unfinished(const SweepPlan& plan, const SweepFiles& files) {
  std::vector<std::size_t> out;
  std::error_code ec;
  for (const auto& p : plan.points)
    if (!fs::exists(files.result(p.index), ec)) out.push_back(p.index);
  return out;
}

// Runs `pending` in child processes, `jobs` at a time. Each child loads and simulates one point.
void run_local(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files,
               const std::vector<std::size_t>& pending, unsigned jobs) {
  Progress progress(pending.size(), options.quiet);
  run_in_processes(
      pending, jobs, [&](std::size_t index) { return run_point(options, plan, files, index); },
      [](std::size_t index) { return "sweep point " + std::to_string(index); },
      [&](std::size_t index, const ProcessEnd& end) {
        std::error_code ec;
        // A process that died without a word (a signal, a crash) still leaves its point's error.
        if (!fs::exists(files.result(index), ec) && !fs::exists(files.error(index), ec))
          write_file_atomically(files.error(index),
                           end.signal ? "the point's process was killed by signal " + std::to_string(end.signal)
                                      : "the point's process exited with status " +
                                            std::to_string(end.exit_status) + " and no result");
        progress.point_done(end.ok());
      });
}

// The /sweep table's column for one swept name: integers, numbers or text.
SweepColumn column_of(const SweepPlan& plan, std::size_t c) {
  SweepColumn column;
  column.name = plan.columns[c];
  bool all_ints = true, all_numbers = true;
  for (const auto& p : plan.points) {
    const auto& v = p.assignments[c].value;
    all_ints = all_ints && std::holds_alternative<std::int64_t>(v);
    all_numbers = all_numbers && (std::holds_alternative<std::int64_t>(v) || std::holds_alternative<double>(v));
  }
  column.type = all_ints ? SweepColumn::Type::Int : all_numbers ? SweepColumn::Type::Float : SweepColumn::Type::Text;
  for (const auto& p : plan.points) {
    const auto& v = p.assignments[c].value;
    if (column.type == SweepColumn::Type::Int) {
      column.ints.push_back(std::get<std::int64_t>(v));
    } else if (column.type == SweepColumn::Type::Float) {
      column.floats.push_back(std::holds_alternative<double>(v) ? std::get<double>(v)
                                                                : static_cast<double>(std::get<std::int64_t>(v)));
    } else {
      column.texts.push_back(std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : format_value(v));
    }
  }
  return column;
}

struct MergeCounts {
  std::size_t ok = 0, partial = 0, failed = 0;
  std::vector<std::string> errors;  // "point N: message", the first few
};

// Every point's run (or its error) into the result file, with the /sweep table.
MergeCounts merge(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files) {
  LoadedConfig base;
  load(options.config, base);
  const std::uint64_t seed0 = base_seed(base.params);
  SweepTable table;
  table.config_text = plan.config_text;
  MergeCounts counts;
  ResultWriter writer(files.output.string(), true);
  std::error_code ec;
  for (const auto& p : plan.points) {
    std::string run_id, status = "failed", error;
    std::uint64_t seed = seed_of(p, seed0);
    if (fs::exists(files.result(p.index), ec)) {
      const ResultSummary summary = read_result_summary(files.result(p.index).string());
      if (summary.runs.size() != 1)
        throw FileError(files.result(p.index).string() + ": expected one run, found " +
                        std::to_string(summary.runs.size()));
      const RunSummary& run = summary.runs.front();
      writer.copy_run(files.result(p.index).string(), run.run_id);
      run_id = run.run_id;
      status = run.status;
      error = run.error;
      seed = run.seed;
    } else if (fs::exists(files.error(p.index), ec)) {
      error = read_file_text(files.error(p.index));
    } else {
      error = "not run";
    }
    if (status == "ok") ++counts.ok;
    else if (status == "partial") ++counts.partial;
    else ++counts.failed;
    if (status != "ok" && counts.errors.size() < 5) counts.errors.push_back("point " + std::to_string(p.index) + ": " + error);
    table.point.push_back(static_cast<std::int64_t>(p.index));
    table.run_id.push_back(run_id);
    table.status.push_back(status);
    table.error.push_back(error);
    table.seed.push_back(seed);
  }
  for (std::size_t c = 0; c < plan.columns.size(); ++c) table.columns.push_back(column_of(plan, c));
  writer.write_sweep(table);
  writer.commit();
  return counts;
}

int report(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files, const MergeCounts& counts) {
  const std::string where = fs::absolute(files.output).lexically_normal().string();
  if (!options.quiet) {
    std::printf("sweep %s: %zu points: %zu ok, %zu partial, %zu failed\n", plan.config_path.c_str(),
                plan.points.size(), counts.ok, counts.partial, counts.failed);
    for (const auto& e : counts.errors) std::printf("  %s\n", e.c_str());
    std::printf("results: %s (a run per point under /runs, the points in /sweep)\n", where.c_str());
  }
  return counts.ok == plan.points.size() ? 0 : 1;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string self_path() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("virtsim") : self.string();
}

// Runs `command`, returning what it printed on standard output (its standard error goes to
// ours); throws naming the command when it fails.
std::string run_capture(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw FileError("cannot run '" + printable(command) + "': " + std::strerror(errno));
  std::string out;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  const int status = ::pclose(pipe);
  if (status != 0)
    throw FileError("'" + printable(command) + "' failed (status " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                    "; its messages are above)");
  return out;
}

// The job id in what `sbatch --parsable` printed: digits, optionally ";cluster", one line.
// Anything else is refused before it could reach another command.
std::string parse_job_id(const std::string& printed, const std::string& what) {
  std::string line = printed;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  const std::size_t digits = line.find_first_not_of("0123456789");
  const std::string id = line.substr(0, digits);
  bool ok = !id.empty() && id.size() <= 18;
  if (ok && digits != std::string::npos) {
    const std::string cluster = line.substr(digits + 1);
    ok = line[digits] == ';' && !cluster.empty() &&
         cluster.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
             std::string::npos;
  }
  if (!ok)
    throw FileError("sbatch printed '" + printable(printed) + "' for " + what +
                    ", where a job id was expected (digits, optionally ;cluster)");
  return id;
}

// A path that goes into a batch script must stay on its line: a newline would end the
// #SBATCH or comment line and start a shell command. Checked before anything is written.
void check_script_path(const std::string& what, const std::string& path) {
  for (const unsigned char c : path)
    if (c < 0x20 || c == 0x7f)
      throw ConfigError(
          what + " '" + printable(path) +
          "' has a control character (a newline, say), which a Slurm batch script cannot hold; use a "
          "path without one");
}

// A path that goes into an #SBATCH line: sbatch reads backslashes there differently from one
// Slurm version to the next (an escape, or not), so none may be in it.
void check_sbatch_path(const std::string& what, const std::string& path) {
  check_script_path(what, path);
  if (path.find('\\') != std::string::npos)
    throw ConfigError(
        what + " '" + path +
        "' has a backslash, which Slurm batch scripts' #SBATCH lines do not read alike in every Slurm "
        "version; use a path without one");
}

// An #SBATCH option's value, which sbatch splits at blanks and cuts at a '#' outside quotes:
// all of it in double quotes, a double quote itself in single quotes (sbatch joins the parts).
std::string sbatch_value(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"'\"'\"") : std::string(1, c);
  return out + "\"";
}

// A folder in a Slurm file name pattern (#SBATCH --output), where %A, %j... are replaced:
// '%' doubled.
std::string sbatch_pattern_folder(const std::string& folder) {
  std::string out;
  for (const char c : folder) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

// Everything about the Slurm backend that can be refused, refused before anything is written.
void check_slurm_paths(const SweepPlan& plan, const SweepFiles& files) {
  check_sbatch_path("the working directory", fs::current_path().string());
  check_sbatch_path("-o", fs::absolute(files.output).string());
  check_script_path("the config", fs::absolute(plan.config_path).string());
  check_script_path("virtsim", self_path());
}

// The sweep as a Slurm job array (one task per unfinished point) and a merge job that runs
// after the array, whatever its tasks' fate (afterany): failed points are recorded as such.
int submit_slurm(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files,
                 const std::vector<std::size_t>& pending) {
  const char* sbatch_env = std::getenv("VIRTSIM_SBATCH");
  const std::string sbatch = shell_quote(sbatch_env && *sbatch_env ? sbatch_env : "sbatch");
  const std::string self = self_path();
  std::string common = shell_quote(fs::absolute(plan.config_path).string()) + " -o " +
                       shell_quote(fs::absolute(files.output).string());
  for (const auto& s : options.config.sets) common += " --set " + shell_quote(s);
  const std::string directory = fs::absolute(files.directory).string();
  // sbatch reads #SBATCH lines only up to the first command: they all come first. Every
  // path here was checked to hold no newline (check_slurm_paths).
  const auto script = [&](const std::string& job_name, const std::string& log, const std::string& command) {
    return "#!/bin/sh\n#SBATCH --job-name=" + job_name +
           "\n#SBATCH --chdir=" + sbatch_value(fs::current_path().string()) +
           "\n#SBATCH --output=" + sbatch_value(sbatch_pattern_folder(directory) + "/" + log) +
           "\n# Written by virtsim sweep for " + fs::absolute(plan.config_path).string() +
           "\nexport SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1\nexec " + shell_quote(self) + " sweep " + common +
           " " + command + "\n";
  };
  // Task t of the array runs the points on lines t * per_task ... of tasks.txt: the
  // unfinished points, so that the array's indices stay 0, 1, 2 ... however many points.
  const std::size_t per_task = std::max<std::size_t>(1, options.points_per_task);
  std::string task_list;
  for (const std::size_t i : pending) task_list += std::to_string(i) + "\n";
  write_file_atomically(files.tasks(), task_list);
  write_file_atomically(files.directory / "points.sbatch",
                   script("virtsim-sweep", "slurm-%A_%a.out",
                          "--task \"$SLURM_ARRAY_TASK_ID\" --points-per-task " + std::to_string(per_task)));
  write_file_atomically(files.directory / "merge.sbatch", script("virtsim-sweep-merge", "slurm-merge-%j.out", "--merge"));
  std::string extra;
  for (const auto& o : options.slurm_options) extra += " " + shell_quote(o);
  std::string merge_dependency;
  if (!pending.empty()) {
    const std::size_t tasks = (pending.size() + per_task - 1) / per_task;
    const std::string array_id =
        parse_job_id(run_capture(sbatch + " --parsable" + extra + " --array=0-" + std::to_string(tasks - 1) +
                                 " " + shell_quote((files.directory / "points.sbatch").string())),
                     "the points' job array (no merge job was submitted)");
    if (!options.quiet)
      std::printf("submitted job array %s: %zu points in %zu tasks (%s)\n", array_id.c_str(), pending.size(), tasks,
                  (files.directory / "points.sbatch").c_str());
    merge_dependency = " --dependency=afterany:" + array_id;
  }
  const std::string merge_command = sbatch + " --parsable" + extra + merge_dependency + (options.wait ? " --wait" : "") +
                                    " " + shell_quote((files.directory / "merge.sbatch").string());
  if (!options.wait) {
    const std::string merge_id = parse_job_id(run_capture(merge_command), "the merge job");
    if (!options.quiet)
      std::printf("submitted merge job %s; it writes %s\n", merge_id.c_str(), fs::absolute(files.output).c_str());
    return 0;
  }
  if (!options.quiet) std::printf("waiting for the merge job (sbatch --wait)\n");
  std::fflush(stdout);
  const int status = std::system(merge_command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  if (code != 0 && !options.quiet)
    std::fprintf(stderr, "virtsim: the merge job ended with status %d; see %s/slurm-merge-*.out\n", code,
                 directory.c_str());
  if (!options.quiet && fs::exists(files.output)) {
    const ResultSummary summary = read_result_summary(files.output.string());
    std::printf("results: %s (%zu runs)\n", fs::absolute(files.output).c_str(), summary.runs.size());
  }
  return code;
}

// What Slurm's array task `task` runs: its share of tasks.txt, one point after another (as
// many at a time as the task has CPUs), each in its own process. Status 1 if one failed.
int run_task(const SweepOptions& options, const SweepPlan& plan, const SweepFiles& files, std::size_t task) {
  std::ifstream in(files.tasks());
  if (!in) throw FileError(files.tasks().string() + ": not found; the sweep was never submitted from here");
  std::vector<std::size_t> listed;
  for (std::string line; std::getline(in, line);) {
    std::size_t index = 0;
    try {
      index = std::stoull(line);
    } catch (const std::exception&) {
      throw FileError(files.tasks().string() + ": line " + std::to_string(listed.size() + 1) + ": expected a point, got '" +
                      line + "'");
    }
    if (index >= plan.points.size())
      throw FileError(files.tasks().string() + ": point " + line + " is not in the plan (" +
                      std::to_string(plan.points.size()) + " points)");
    listed.push_back(index);
  }
  const std::size_t per_task = std::max<std::size_t>(1, options.points_per_task);
  if (task * per_task >= listed.size())
    throw ConfigError("--task " + std::to_string(task) + ": " + files.tasks().string() + " lists " +
                      std::to_string(listed.size()) + " points, " + std::to_string(per_task) + " per task");
  const std::vector<std::size_t> mine(listed.begin() + static_cast<std::ptrdiff_t>(task * per_task),
                                      listed.begin() + static_cast<std::ptrdiff_t>(
                                                           std::min(listed.size(), (task + 1) * per_task)));
  const char* cpus = std::getenv("SLURM_CPUS_PER_TASK");
  const unsigned jobs = cpus && std::atoi(cpus) > 0 ? static_cast<unsigned>(std::atoi(cpus)) : 1;
  SweepOptions quiet = options;
  quiet.quiet = true;
  run_local(quiet, plan, files, mine, jobs);
  std::error_code ec;
  for (const std::size_t i : mine)
    if (!fs::exists(files.result(i), ec)) return 1;
  return 0;
}

void print_plan(const SweepPlan& plan, std::uint64_t seed0) {
  std::printf("%-6s", "point");
  for (const auto& c : plan.columns) std::printf(" %-22s", c.c_str());
  std::printf(" seed\n");
  for (const auto& p : plan.points) {
    std::printf("%-6zu", p.index);
    for (const auto& a : p.assignments) {
      const std::string text = std::holds_alternative<std::string>(a.value) ? std::get<std::string>(a.value)
                                                                            : format_value(a.value);
      std::printf(" %-22s", text.c_str());
    }
    std::printf(" %llu\n", static_cast<unsigned long long>(seed_of(p, seed0)));
  }
  std::printf("%zu points\n", plan.points.size());
}

}  // namespace

int sweep_command(const SweepOptions& options) {
  if (options.config.config_path.empty()) throw ConfigError("virtsim sweep needs a config file with a [sweep] table");
  const SweepPlan plan = plan_sweep(options.config.config_path);
  const SweepFiles files = files_for(output_for(options));
  // The internal steps of a planned sweep: the plan's record says whether it still holds.
  if (options.point) {
    if (*options.point >= plan.points.size())
      throw ConfigError("--point " + std::to_string(*options.point) + ": the sweep has " +
                        std::to_string(plan.points.size()) + " points (0 to " + std::to_string(plan.points.size() - 1) + ")");
    check_plan(plan_record(options, plan), files);
    return run_point(options, plan, files, *options.point);
  }
  if (options.task) {
    check_plan(plan_record(options, plan), files);
    return run_task(options, plan, files, *options.task);
  }
  if (options.merge_only) {
    check_plan(plan_record(options, plan), files);
    return report(options, plan, files, merge(options, plan, files));
  }

  // Everything that can be wrong with the config, its points or the output is said before
  // any point runs or anything is written.
  LoadedConfig base;
  load(options.config, base);
  if (!base.compare->get().empty())
    throw ConfigError(plan.config_path + ": key 'experiment.compare' = \"" + base.compare->get() +
                      "\": a sweep point is one run; sweep memory virtualizations with [sweep.grid] " +
                      kMemoryVirtualizationAxis + " = [\"native\", \"shadow\", ...] and set compare = \"\"");
  const PlanRecord record = plan_record(options, plan);
  const unsigned jobs = options.jobs ? options.jobs : default_jobs();
  if (options.dry_run) {
    validate_points(options, plan, jobs);
    print_plan(plan, base_seed(base.params));
    return 0;
  }
  std::error_code ec;
  if (!options.force && !options.resume && (fs::exists(files.output, ec) || fs::exists(files.directory, ec)))
    throw ConfigError(
        files.output.string() + ": a sweep's result (or its points, " + files.directory.string() +
        ") is already here; --resume runs the points not yet finished, " + force_deletes(files));
  if (options.resume && fs::exists(files.directory, ec)) check_plan(record, files);
  if (options.backend == SweepBackend::Slurm) check_slurm_paths(plan, files);
  if (plan.checkpoint && options.backend == SweepBackend::Slurm)
    throw ConfigError(plan.config_path + ": key 'sweep.checkpoint': shared checkpoints run with the local backend "
                      "(--backend local), not Slurm");
  validate_points(options, plan, jobs);
  if (options.output.empty()) fs::create_directories(files.output.parent_path(), ec);
  check_output_path(files.output.string(), true);
  prepare_directory(options, record, files);
  const std::vector<std::size_t> pending = unfinished(plan, files);
  if (options.backend == SweepBackend::Slurm) return submit_slurm(options, plan, files, pending);

  if (!options.quiet) {
    std::fprintf(stderr, "sweep %s: %zu points", plan.config_path.c_str(), plan.points.size());
    if (pending.size() != plan.points.size()) std::fprintf(stderr, ", %zu finished before", plan.points.size() - pending.size());
    std::fprintf(stderr, "; running %zu, %u at a time (points in %s)\n", pending.size(), jobs, files.directory.c_str());
  }
  if (plan.checkpoint) save_checkpoints(options, plan, files, pending, jobs);
  run_local(options, plan, files, pending, jobs);
  return report(options, plan, files, merge(options, plan, files));
}

}  // namespace virtsim
