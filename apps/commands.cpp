#include "commands.h"
#include "experiment.h"
#include "process_pool.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <time.h>
#include <unistd.h>

#include <systemc>

#include "virtsim/common/config.h"
#include "virtsim/common/debug_trace.h"
#include "virtsim/common/error.h"
#include "virtsim/common/json.h"
#include "virtsim/common/results.h"
#include "virtsim/common/version.h"
#include "virtsim/platform/system.h"

namespace virtsim {

extern const char* const kDefaultExperiment;

// Canonical metrics, in the order the README lists them.
const std::vector<std::string> kCanonicalMetrics = {
    "sim.instructions", "sim.cycles",      "sim.ipc",          "sim.seconds",       "exits.total",
    "exits.cycles",     "walk.count",      "walk.refs",        "walk.refs_per_walk", "walk.cycles_per_walk",
    "tlb.l1d.accesses", "tlb.l1d.misses",  "tlb.l1d.miss_rate", "tlb.l1d.mpki",     "tlb.stlb.accesses",
    "tlb.stlb.misses",  "walk.two_dimensional", "walk.pwc_hit_rate", "walk.nested_tlb_hit_rate", "cache.llc.misses",
    "mem.accesses",     "exits.per_kilo_instruction"};

std::string format_number(double v) {
  char text[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && std::fabs(v) < 1e15)
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v));
  else
    std::snprintf(text, sizeof text, "%.4f", v);
  return text;
}

namespace {

// CPU time of the calling thread (SystemC runs every process on it).
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// What a comparison of memory virtualizations shows, run beside run.
const std::vector<std::string> kComparedMetrics = {
    "sim.instructions", "sim.cycles",          "sim.ipc",           "exits.total", "exits.per_kilo_instruction",
    "exits.cycles",     "walk.count",          "walk.refs_per_walk", "walk.cycles_per_walk", "tlb.l1d.mpki",
    "tlb.stlb.misses",  "walk.two_dimensional", "cache.llc.misses"};

}  // namespace

std::vector<std::string> preset_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("VIRTSIM_PRESET_PATH")) dirs.emplace_back(env);
  dirs.emplace_back(VIRTSIM_PRESET_DIR);
  return dirs;
}

namespace {

// `--set X.preset=NAME` chooses table X's preset as `[X] preset = "NAME"` in the file would:
// it replaces the file's own choice, loads before the file's keys, and the other --set
// assignments still apply after the file. A sweep point's choice of X's preset wins over it.
// Takes those assignments out of `options.sets` into `sources`; returns the others.
std::vector<std::string> take_preset_sets(const ConfigOptions& options, ConfigSources& sources) {
  std::vector<std::string> others;
  for (const auto& assignment : options.sets) {
    const auto eq = assignment.find('=');
    std::string key = assignment.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    const std::string suffix = ".preset";
    if (eq == std::string::npos || key.size() <= suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
      others.push_back(assignment);
      continue;
    }
    const std::string table = key.substr(0, key.size() - suffix.size());
    std::string name = assignment.substr(eq + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name.size() >= 2 && (name.front() == '"' || name.front() == '\'') && name.back() == name.front())
      name = name.substr(1, name.size() - 2);
    const auto names = available_presets(sources.preset_dirs, table);
    // A preset beside the config (presets/<table>/<name>.toml) is found as the file's own would be.
    const auto beside_config = std::filesystem::path(options.config_path).parent_path() / "presets" / table / (name + ".toml");
    if (std::find(names.begin(), names.end(), name) == names.end() &&
        (options.config_path.empty() || !std::filesystem::is_regular_file(beside_config))) {
      std::string message = "--set " + key + ": unknown preset \"" + name + "\"";
      if (names.empty()) message += "; no presets exist for '" + table + "'";
      for (std::size_t i = 0; i < names.size(); ++i) message += (i ? ", " : "; expected one of ") + names[i];
      throw ConfigError(message + " (virtsim describe --presets lists them)");
    }
    sources.preset_overrides.emplace(table, name);
  }
  return others;
}

}  // namespace

namespace {
// "a, b or c"
std::string or_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}
}  // namespace

void load(const ConfigOptions& options, LoadedConfig& loaded) {
  loaded.sources.preset_overrides = options.preset_overrides;
  loaded.sources.preset_dirs = preset_dirs();
  const std::vector<std::string> sets = take_preset_sets(options, loaded.sources);
  if (options.config_path.empty()) {
    load_config_text(kDefaultExperiment, "<embedded default experiment>", loaded.params, loaded.sources);
    loaded.name = "default";
  } else {
    load_config_file(options.config_path, loaded.params, loaded.sources);
    loaded.name = std::filesystem::path(options.config_path).stem().string();
  }
  if (!options.sets.empty()) loaded.sources.text += "# --set\n";
  for (const auto& s : options.sets) loaded.sources.text += s + "\n";
  for (const auto& s : sets) apply_set_option(s, loaded.params);
  loaded.compare.emplace(Scope{&loaded.params, nullptr, "experiment"}, "compare", "", "",
                         "memory virtualizations to run the experiment under, each in its own process, into one "
                         "result file with a run per mode: a comma-separated list of any of " +
                             or_list(memory_virtualization_variants()) +
                             " (the variants of the strategies `virtsim describe` lists; empty: the configured one "
                             "only)");
}

// The settings that make the configured experiment run under one memory virtualization, a
// variant of a strategy in the registry (models/hypervisor); the configured VT-x / AMD-V
// choice and nested format are kept when the config names them.
std::vector<std::string> mode_settings(const std::string& mode, const ParamRegistry& params) {
  const auto text = [&params](const std::string& name, const std::string& otherwise) {
    const auto v = params.configured_value(name);
    return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : otherwise;
  };
  CompareContext context;
  context.virt = text("system.vmx.mode", "vmx") == "svm" ? "svm" : "vmx";
  context.nested = text("system.nested.paging", "none");
  if (context.nested == "none") context.nested = context.virt == "svm" ? "npt4" : "ept4";
  if (auto settings = variant_settings(mode, context)) return *settings;
  const auto source = params.source_of("experiment.compare");
  throw ConfigError((source ? source->describe() + ": " : std::string()) + "key 'experiment.compare': \"" + mode +
                    "\" is not a memory virtualization (expected " + or_list(memory_virtualization_variants()) + ")");
}

namespace {

// Elaborates the platform; every configured key must then have matched a parameter. Shows
// the warnings about its inputs when asked.
std::unique_ptr<System> elaborate(LoadedConfig& loaded, bool show_warnings) {
  auto system = std::make_unique<System>("system", Scope{&loaded.params, &loaded.stats, ""});
  loaded.params.check_all_used();
  if (show_warnings)
    for (const auto& warning : system->input_warnings()) std::fprintf(stderr, "virtsim: warning: %s\n", warning.c_str());
  return system;
}

// Makes the folder of the default output (results/), once the experiment is known to be good,
// and refuses a bad output path before any time is spent simulating.
void prepare_output(const RunOptions& options, const std::string& output) {
  const auto folder = std::filesystem::path(output).parent_path();
  if (options.output.empty() && !folder.empty()) std::filesystem::create_directories(folder);
  check_output_path(output, options.force);
}

// "simulating:  42% | 3.1 s elapsed | 2.45 M refs/s | ETA 4.3 s": the rate counts simulated
// guest memory references, warm-up included, per second of wall time.
std::string progress_line(double fraction, double elapsed, std::uint64_t references) {
  char text[160];
  const double rate = elapsed > 0 ? static_cast<double>(references) / elapsed / 1e6 : 0.0;
  int n = std::snprintf(text, sizeof text, "simulating: %3d%% | %.1f s elapsed | %.2f M refs/s",
                        static_cast<int>(fraction * 100.0), elapsed, rate);
  if (fraction > 0 && fraction < 1)
    std::snprintf(text + n, sizeof text - n, " | ETA %.1f s", elapsed * (1.0 - fraction) / fraction);
  return text;
}

// The debug trace of one run: on from construction (the file opened, when one is named) to
// destruction.
class TraceOutput {
 public:
  explicit TraceOutput(const RunOptions& options) {
    if (!options.trace_kinds) return;
    std::FILE* out = stderr;
    if (!options.trace_file.empty()) {
      file_ = std::fopen(options.trace_file.c_str(), "w");
      if (!file_)
        throw FileError(options.trace_file + ": cannot write the trace file: " + std::strerror(errno));
      out = file_;
    }
    debug_trace::enable(options.trace_kinds, options.trace_first_cycle, options.trace_last_cycle, out);
  }
  ~TraceOutput() {
    debug_trace::disable();
    if (file_) std::fclose(file_);
  }
  TraceOutput(const TraceOutput&) = delete;
  TraceOutput& operator=(const TraceOutput&) = delete;

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace

void check_elaboration(LoadedConfig& loaded) {
  elaborate(loaded, false);
}

// One simulation of the loaded experiment into `output`, as run `run_id`.
int run_one(const RunOptions& options, LoadedConfig& loaded, const std::string& output, const std::string& run_id) {
  // A comparison's runs leave the warnings to the check that comes before them.
  auto system = elaborate(loaded, !options.quiet && options.progress_label.empty());
  prepare_output(options, output);

  // Progress is for a person watching a terminal; a log or a pipe gets none.
  const bool tty = isatty(STDERR_FILENO);
  const bool show_progress = !options.quiet && tty;
  int last_reported = -1;
  const std::string& label = options.progress_label;
  const auto start = std::chrono::steady_clock::now();
  if (show_progress) {
    system->set_progress_action([&](double fraction) {
      const int percent = static_cast<int>(fraction * 100.0);
      if (!label.empty()) {  // beside other runs: one line per 10 %, named
        if (percent / 10 != last_reported / 10) std::fprintf(stderr, "  %-8s %d%%\n", label.c_str(), percent);
      } else {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "\r%s\033[K", progress_line(fraction, elapsed, system->guest_references()).c_str());
      }
      last_reported = percent;
    });
  }
  const TraceOutput trace(options);

  // An exception thrown by a model's thread (a trace turning bad midway, say) reaches us as
  // an sc_report from sc_start. The statistics are plain objects, still readable: they are
  // written as a partial result, then the error is reported with exit status 1.
  bool failed = false;
  std::string failure;
  const double cpu_start = thread_cpu_seconds();
  try {
    sc_core::sc_start();
  } catch (const sc_core::sc_report& report) {
    failed = true;
    failure = report.get_msg();
  } catch (const std::exception& e) {
    failed = true;
    failure = e.what();
  }
  if (failed && failure.empty()) failure = "unknown error";
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = thread_cpu_seconds() - cpu_start;
  if (failed) {
    if (show_progress && label.empty()) std::fprintf(stderr, "\n");
    // Said first: should writing the partial result fail too, this error is not lost.
    std::fprintf(stderr, "virtsim: %s%ssimulation failed: %s\n", label.c_str(), label.empty() ? "" : ": ",
                 failure.c_str());
    system->record_final_statistics();
  } else if (show_progress && label.empty()) {
    std::fprintf(stderr, "\r%s\033[K\n", progress_line(1.0, wall, system->guest_references()).c_str());
  }

  RunRecord run;
  if (failed) {
    run.status = "partial";
    run.error = failure;
  }
  run.run_id = run_id;
  run.memory_virtualization = system->memory_virtualization();
  run.config_text = loaded.sources.text;
  run.parameters_json = loaded.params.resolved_json();
  run.seed = system->seed;
  run.wall_seconds = wall;
  run.simulated_seconds = sc_core::sc_time_stamp().to_seconds();
  run.stats = &loaded.stats;
  run.links = system->result_links();
  run.vms = system->result_vms();
  run.exits = system->exit_records();
  ResultWriter writer(output, options.force);
  writer.write_run(run);
  writer.commit();
  if (failed) {
    std::fprintf(stderr, "virtsim: partial result (status \"partial\"): %s\n",
                 std::filesystem::absolute(output).lexically_normal().c_str());
    return 1;
  }

  if (!options.quiet && label.empty()) {
    std::printf("virtsim %s: %s, seed %llu, %.2f s wall\n\n", version(), loaded.name.c_str(),
                static_cast<unsigned long long>(run.seed), wall);
    std::printf("  %-24s %16s  %s\n", "metric", "value", "unit");
    for (const auto& name : kCanonicalMetrics) {
      const auto* stat = loaded.stats.find(name);
      if (!stat) continue;
      std::printf("  %-24s %16s  %s\n", name.c_str(), format_number(stat->value()).c_str(), stat->unit().c_str());
    }
    if (const auto* per_op = loaded.stats.find("workload.cycles_per_operation"))
      std::printf("  %-24s %16s  %s\n", "workload.cycles_per_operation", format_number(per_op->value()).c_str(),
                  per_op->unit().c_str());
    if (const auto* windows = loaded.stats.find("sampling.windows")) {
      // A sampled run: the totals above cover the detailed references only; these are the estimates.
      std::printf("\n  sampled: %.0f windows, %.0f %% confidence (docs/sampling.md)\n", windows->value(),
                  100.0 * loaded.stats.find("sampling.confidence")->value());
      std::printf("  %-28s %14s %12s %8s  %s\n", "metric", "estimate", "+-", "cv", "unit");
      std::vector<std::string> sampled = kCanonicalMetrics;
      sampled.insert(sampled.end(), {"cycles_per_reference", "walk_cycles_per_reference"});
      for (const auto& name : sampled) {
        const auto* mean = loaded.stats.find("sampling." + name + ".mean");
        if (!mean) continue;
        std::printf("  %-28s %14s %12s %8.4f  %s\n", name.c_str(), format_number(mean->value()).c_str(),
                    format_number(loaded.stats.find("sampling." + name + ".half_width")->value()).c_str(),
                    loaded.stats.find("sampling." + name + ".cv")->value(), mean->unit().c_str());
      }
    }
    // Throughput over the whole simulation, warm-up included, as wall time covers it too.
    const double references = static_cast<double>(system->guest_references());
    std::printf("\n  simulated %.2f M guest memory references/s (wall)\n", wall > 0 ? references / wall / 1e6 : 0.0);
    // The same over the CPU time of the simulation's thread: steadier on a shared machine.
    std::printf("  simulated %.2f M guest memory references/s (CPU time)\n", cpu > 0 ? references / cpu / 1e6 : 0.0);
    std::printf("  (%.0f references, warm-up included, in %.3f s of CPU time)\n", references, cpu);
    std::printf("\nresults: %s\n", std::filesystem::absolute(output).lexically_normal().c_str());
  }
  return 0;
}

namespace {

// When the guest kernel ran sensitive instructions: whether each mode left it in the native
// run's state, its virtualization holes, and which instructions answered it wrongly.
void print_guest_state_rows(const std::vector<RunSummary>& runs, const RunSummary* base) {
  const auto value = [](const RunSummary& r, const std::string& name) {
    const auto it = r.metrics.find(name);
    return it == r.metrics.end() ? 0.0 : it->second;
  };
  // Per-vCPU statistics summed over the vCPUs: "system.cpu<N>.<leaf>".
  const auto per_vcpu = [](const RunSummary& r, const std::string& leaf) {
    double sum = 0;
    for (const auto& [name, v] : r.metrics) {
      const auto dot = name.find('.', 11);
      if (name.rfind("system.cpu", 0) == 0 && dot != std::string::npos && name.compare(dot + 1, std::string::npos, leaf) == 0)
        sum += v;
    }
    return sum;
  };
  bool observed = false;
  for (const auto& r : runs) observed = observed || per_vcpu(r, "guest_state_digest") != 0;
  if (!observed) return;
  if (base) {
    std::printf("  %-28s", "guest state vs native");
    for (const auto& r : runs)
      std::printf(" %14s", value(r, "system.kernel.state_digest") == value(*base, "system.kernel.state_digest") &&
                                   per_vcpu(r, "guest_state_digest") == per_vcpu(*base, "guest_state_digest")
                               ? "same"
                               : "DIFFERS");
    std::printf("\n");
  }
  std::printf("  %-28s", "virtualization holes");
  for (const auto& r : runs) std::printf(" %14s", format_number(per_vcpu(r, "virtualization_holes")).c_str());
  std::printf("\n");
  for (const Instruction i : all_instructions()) {
    const std::string leaf = std::string("wrong_answers.") + to_string(i);
    bool any = false;
    for (const auto& r : runs) any = any || per_vcpu(r, leaf) != 0;
    if (!any) continue;
    std::printf("  %-28s", ("wrong " + std::string(to_string(i))).c_str());
    for (const auto& r : runs) std::printf(" %14s", format_number(per_vcpu(r, leaf)).c_str());
    std::printf("\n");
  }
}

// The experiment under each memory virtualization of `modes`, one child process per mode
// (SystemC elaborates once per process), as many at a time as there are cores; the runs are
// then copied into `output`, one per mode, and compared in a table.
int run_comparison(const RunOptions& options, const LoadedConfig& loaded, const std::vector<std::string>& modes,
                   const std::string& output) {
  std::vector<std::vector<std::string>> settings;
  for (const auto& mode : modes) settings.push_back(mode_settings(mode, loaded.params));  // bad names fail here
  const auto child_options = [&](std::size_t i) {
    RunOptions child = options;
    for (const auto& s : settings[i]) child.config.sets.push_back(s);
    child.config.sets.push_back("experiment.compare=\"\"");
    child.progress_label = modes[i];  // progress, named; the summary is the comparison's
    child.force = true;
    return child;
  };
  // Every mode's platform is built first, one mode at a time, each in a child process
  // (SystemC elaborates once per process): a bad parameter is reported once, by the first mode
  // it breaks, before anything runs or is written.
  for (std::size_t i = 0; i < modes.size(); ++i) {
    int status = 0;
    run_in_processes(
        {i}, 1,
        [&](std::size_t mode) {
          LoadedConfig child_loaded;
          try {
            load(child_options(mode).config, child_loaded);
            elaborate(child_loaded, mode == 0 && !options.quiet);
          } catch (const UserError& e) {
            std::fprintf(stderr, "virtsim: error: %s\n", e.what());
            return 2;
          }
          return 0;
        },
        [&](std::size_t mode) { return modes[mode]; }, [&](std::size_t, const ProcessEnd& end) { status = end.status(); });
    if (status != 0) return status;
  }
  prepare_output(options, output);
  const unsigned jobs = default_jobs();
  if (!options.quiet)
    std::fprintf(stderr, "comparing %zu memory virtualizations, %u at a time\n", modes.size(), jobs);
  // Each mode's run goes to a part file made here, exclusively and under a name no one can
  // guess (create_temporary), left empty by a run that writes nothing; all removed at the end.
  struct Parts : std::vector<std::string> {
    ~Parts() {
      for (const auto& part : *this) ::unlink(part.c_str());
    }
  } parts;
  std::vector<int> status(modes.size(), -1);
  std::vector<std::size_t> items;
  for (std::size_t i = 0; i < modes.size(); ++i) {
    items.push_back(i);
    remove_stale_temporaries(output + ".part-" + modes[i]);
    parts.push_back(create_temporary(output + ".part-" + modes[i]));
  }
  const auto start = std::chrono::steady_clock::now();
  run_in_processes(
      items, jobs,
      [&](std::size_t i) {
        const RunOptions child = child_options(i);
        LoadedConfig child_loaded;
        load(child.config, child_loaded);
        child_loaded.name = loaded.name;
        return run_one(child, child_loaded, parts[i], modes[i]);
      },
      [&](std::size_t i) { return modes[i]; },
      [&](std::size_t i, const ProcessEnd& end) {
        status[i] = end.status();
        if (!options.quiet)
          std::fprintf(stderr, "  %-8s %s after %.1f s\n", modes[i].c_str(), end.ok() ? "done" : "FAILED",
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      });

  // Every run that left a file goes into the result, partial ones included.
  ResultWriter writer(output, options.force);
  bool all_ok = true;
  for (std::size_t i = 0; i < modes.size(); ++i) {
    all_ok = all_ok && status[i] == 0;
    std::error_code ec;
    if (std::filesystem::file_size(parts[i], ec) == 0 || ec) continue;
    writer.copy_run(parts[i], modes[i]);
  }
  writer.commit();
  const std::string where = std::filesystem::absolute(output).lexically_normal().string();
  if (!all_ok) {
    std::fprintf(stderr, "virtsim: a run of the comparison failed; the runs that finished are in %s\n", where.c_str());
    return 1;
  }
  if (options.quiet) return 0;
  const ResultSummary summary = read_result_summary(output);
  std::printf("virtsim %s: %s, compared under %zu memory virtualizations\n\n", version(), loaded.name.c_str(),
              summary.runs.size());
  // In the order the experiment names the modes (the file lists its runs by name).
  std::vector<RunSummary> runs;
  for (const auto& mode : modes)
    for (const auto& r : summary.runs)
      if (r.run_id == mode) runs.push_back(r);
  const RunSummary* base = nullptr;
  for (const auto& r : runs)
    if (r.memory_virtualization == "native") base = &r;
  std::printf("  %-28s", "metric");
  for (const auto& r : runs) std::printf(" %14s", r.run_id.c_str());
  std::printf("\n");
  const auto value = [](const RunSummary& r, const std::string& name) {
    const auto it = r.metrics.find(name);
    return it == r.metrics.end() ? 0.0 : it->second;
  };
  for (const auto& name : kComparedMetrics) {
    std::printf("  %-28s", name.c_str());
    for (const auto& r : runs) std::printf(" %14s", format_number(value(r, name)).c_str());
    std::printf("\n");
  }
  if (base) {
    std::printf("  %-28s", "slowdown vs native");
    for (const auto& r : runs)
      std::printf(" %13.3fx", value(*base, "sim.cycles") > 0 ? value(r, "sim.cycles") / value(*base, "sim.cycles") : 0.0);
    std::printf("\n");
  }
  print_guest_state_rows(runs, base);
  std::printf("\nresults: %s (a run per mode under /runs)\n", where.c_str());
  return 0;
}

}  // namespace

int run_command(const RunOptions& options) {
  LoadedConfig loaded;
  load(options.config, loaded);
  const std::string output = options.output.empty() ? "results/" + loaded.name + ".h5" : options.output;
  if (loaded.sources.has_sweep && !options.quiet)
    std::fprintf(stderr, "virtsim: %s has a [sweep] table, which virtsim run ignores: virtsim sweep runs its points\n",
                 options.config.config_path.c_str());
  const std::vector<std::string> modes = split_list(loaded.compare->get());
  std::set<std::string> seen;  // two runs of one mode would write one part file
  for (const auto& mode : modes) {
    if (seen.insert(mode).second) continue;
    const auto source = loaded.params.source_of(loaded.compare->name());
    throw ConfigError((source ? source->describe() + ": " : std::string()) + "key '" + loaded.compare->name() +
                      "': \"" + mode + "\" is named twice; expected each memory virtualization once");
  }
  if (!modes.empty() && options.trace_kinds)
    throw ConfigError("--trace traces one run, and this experiment compares " + std::to_string(modes.size()) +
                      " memory virtualizations (experiment.compare); add --set experiment.compare='\"\"' to run the "
                      "configured one only");
  if (!modes.empty()) return run_comparison(options, loaded, modes, output);
  return run_one(options, loaded, output, "run0000");
}

int describe_command(const ConfigOptions& config, DescribeFormat format) {
  LoadedConfig loaded;
  load(config, loaded);
  auto system = elaborate(loaded, true);
  const auto& specs = loaded.params.specs();
  const auto& stats = loaded.stats.all();
  if (format == DescribeFormat::Json) {
    std::string out = "{\n  \"parameters\": [\n";
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& p = specs[i];
      out += "    {\"name\": " + json::quote(p.name) + ", \"type\": " + json::quote(to_string(p.type)) +
             ", \"default\": " + to_json(p.default_value) + ", \"value\": " + to_json(loaded.params.resolved()[i].second) +
             ", \"unit\": " + json::quote(p.unit) + ", \"allowed\": " + json::quote(p.allowed()) +
             ", \"description\": " + json::quote(p.description) + "}" + (i + 1 < specs.size() ? ",\n" : "\n");
    }
    out += "  ],\n  \"statistics\": [\n";
    for (std::size_t i = 0; i < stats.size(); ++i) {
      const auto* s = stats[i];
      out += "    {\"name\": " + json::quote(s->name()) + ", \"kind\": " + json::quote(to_string(s->kind())) +
             ", \"unit\": " + json::quote(s->unit()) + ", \"description\": " + json::quote(s->description()) + "}" +
             (i + 1 < stats.size() ? ",\n" : "\n");
    }
    out += "  ],\n  \"memory_virtualizations\": [\n";
    const auto& schemes = memory_virtualizations();
    for (std::size_t i = 0; i < schemes.size(); ++i) {
      const auto& e = schemes[i];
      out += "    {\"name\": " + json::quote(e.name) + ", \"description\": " + json::quote(e.description) +
             ", \"parameters\": [";
      for (std::size_t k = 0; k < e.parameters.size(); ++k) out += (k ? ", " : "") + json::quote(e.parameters[k]);
      out += "], \"variants\": [";
      for (std::size_t k = 0; k < e.variants.size(); ++k)
        out += std::string(k ? ", " : "") + "{\"name\": " + json::quote(e.variants[k].name) +
               ", \"description\": " + json::quote(e.variants[k].description) + "}";
      out += std::string("]}") + (i + 1 < schemes.size() ? ",\n" : "\n");
    }
    out += "  ]\n}\n";
    std::fputs(out.c_str(), stdout);
  } else if (format == DescribeFormat::Markdown) {
    std::printf("#### Parameters (%zu)\n\n| name | type | default | unit | allowed | description |\n|---|---|---|---|---|---|\n",
                specs.size());
    for (const auto& p : specs)
      std::printf("| `%s` | %s | `%s` | %s | %s | %s |\n", p.name.c_str(), to_string(p.type),
                  format_value(p.default_value).c_str(), p.unit.c_str(), p.allowed().c_str(), p.description.c_str());
    std::printf("\n#### Statistics (%zu)\n\n| name | kind | unit | description |\n|---|---|---|---|\n", stats.size());
    for (const auto* s : stats)
      std::printf("| `%s` | %s | %s | %s |\n", s->name().c_str(), to_string(s->kind()), s->unit().c_str(),
                  s->description().c_str());
    std::printf("\n#### Memory virtualizations (%zu)\n\n| name | description | parameters | experiment.compare names |\n"
                "|---|---|---|---|\n",
                memory_virtualizations().size());
    for (const auto& e : memory_virtualizations()) {
      std::string keys, variants;
      for (const auto& k : e.parameters) keys += (keys.empty() ? "`" : ", `") + k + "`";
      for (const auto& v : e.variants) variants += (variants.empty() ? "`" : ", `") + v.name + "`";
      std::printf("| `%s` | %s | %s | %s |\n", e.name.c_str(), e.description.c_str(), keys.c_str(), variants.c_str());
    }
  } else {
    std::printf("Parameters (%zu):\n", specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& p = specs[i];
      std::printf("  %-36s %-6s = %-10s %-12s %s [%s]\n", p.name.c_str(), to_string(p.type),
                  format_value(loaded.params.resolved()[i].second).c_str(), p.unit.c_str(), p.description.c_str(),
                  p.allowed().c_str());
    }
    std::printf("\nStatistics (%zu):\n", stats.size());
    for (const auto* s : stats)
      std::printf("  %-36s %-9s %-20s %s\n", s->name().c_str(), to_string(s->kind()), s->unit().c_str(),
                  s->description().c_str());
    // With several VMs, each VM's strategy (system.vmK.memory_virtualization).
    std::string runs = system->memory_virtualization();
    for (unsigned k = 1; k < system->vms; ++k) runs += ", VM " + std::to_string(k) + " " + system->memory_virtualization(k);
    std::printf("\nMemory virtualizations (%zu; this config runs %s):\n", memory_virtualizations().size(), runs.c_str());
    for (const auto& e : memory_virtualizations()) {
      std::printf("  %-10s %s\n", e.name.c_str(), e.description.c_str());
      std::string keys;
      for (const auto& k : e.parameters) keys += (keys.empty() ? "" : ", ") + k;
      if (!keys.empty()) std::printf("  %-10s parameters: %s\n", "", keys.c_str());
      for (const auto& v : e.variants)
        std::printf("  %-10s experiment.compare name %s: %s\n", "", v.name.c_str(), v.description.c_str());
    }
  }
  return 0;
}

int platform_command(const ConfigOptions& config, bool dot) {
  LoadedConfig loaded;
  load(config, loaded);
  auto system = elaborate(loaded, true);
  if (dot) {
    std::fputs(system->platform().to_dot().c_str(), stdout);
    return 0;
  }
  const auto& g = system->platform().graph();
  for (auto v : boost::make_iterator_range(boost::vertices(g))) {
    std::printf("%s (%s)\n", g[v].name.c_str(), g[v].type.c_str());
    for (auto e : boost::make_iterator_range(boost::out_edges(v, g)))
      std::printf("  %s -> %s.%s\n", g[e].initiator_port.c_str(), g[boost::target(e, g)].name.c_str(),
                  g[e].target_port.c_str());
  }
  return 0;
}

}  // namespace virtsim
