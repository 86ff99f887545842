#include "commands.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <time.h>
#include <unistd.h>

#include <systemc>

#include "virtsim/common/config.h"
#include "virtsim/common/error.h"
#include "virtsim/common/json.h"
#include "virtsim/common/results.h"
#include "virtsim/common/version.h"
#include "virtsim/platform/system.h"

namespace virtsim {

extern const char* const kDefaultExperiment;

namespace {

// CPU time of the calling thread (SystemC runs every process on it).
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Canonical metrics, in the order the README lists them.
const std::vector<std::string> kCanonicalMetrics = {
    "sim.instructions", "sim.cycles",      "sim.ipc",          "sim.seconds",       "exits.total",
    "exits.cycles",     "walk.count",      "walk.refs",        "walk.refs_per_walk", "walk.cycles_per_walk",
    "tlb.l1d.accesses", "tlb.l1d.misses",  "tlb.l1d.miss_rate", "tlb.l1d.mpki",     "tlb.stlb.accesses",
    "tlb.stlb.misses",  "walk.two_dimensional", "walk.pwc_hit_rate", "walk.nested_tlb_hit_rate", "cache.llc.misses",
    "mem.accesses"};

std::vector<std::string> preset_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("VIRTSIM_PRESET_PATH")) dirs.emplace_back(env);
  dirs.emplace_back(VIRTSIM_PRESET_DIR);
  return dirs;
}

// The registries and the text of what was loaded, ready for elaboration.
struct LoadedConfig {
  ParamRegistry params;
  StatRegistry stats;
  ConfigSources sources;
  std::string name;  // for the default output file name
};

void load(const ConfigOptions& options, LoadedConfig& loaded) {
  loaded.sources.preset_dirs = preset_dirs();
  if (options.config_path.empty()) {
    load_config_text(kDefaultExperiment, "<embedded default experiment>", loaded.params, loaded.sources);
    loaded.name = "default";
  } else {
    load_config_file(options.config_path, loaded.params, loaded.sources);
    loaded.name = std::filesystem::path(options.config_path).stem().string();
  }
  if (!options.sets.empty()) loaded.sources.text += "# --set\n";
  for (const auto& s : options.sets) {
    apply_set_option(s, loaded.params);
    loaded.sources.text += s + "\n";
  }
}

// Elaborates the platform; every configured key must then have matched a parameter.
std::unique_ptr<System> elaborate(LoadedConfig& loaded) {
  auto system = std::make_unique<System>("system", Scope{&loaded.params, &loaded.stats, ""});
  loaded.params.check_all_used();
  return system;
}

std::string format_number(double v) {
  char text[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && std::fabs(v) < 1e15)
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v));
  else
    std::snprintf(text, sizeof text, "%.4f", v);
  return text;
}

}  // namespace

int run_command(const RunOptions& options) {
  LoadedConfig loaded;
  load(options.config, loaded);
  const std::string output = options.output.empty() ? "results/" + loaded.name + ".h5" : options.output;
  if (options.output.empty()) std::filesystem::create_directories("results");
  // Refuse a bad output path before spending time on the simulation.
  check_output_path(output, options.force);
  auto system = elaborate(loaded);

  const bool tty = isatty(STDERR_FILENO);
  int last_reported = -1;
  if (!options.quiet) {
    system->set_progress_action([&](double fraction) {
      const int percent = static_cast<int>(fraction * 100.0);
      if (tty) {
        std::fprintf(stderr, "\rsimulating: %3d%%", percent);
      } else if (percent / 10 != last_reported / 10) {
        std::fprintf(stderr, "simulating: %d%%\n", percent);
      }
      last_reported = percent;
    });
  }

  const auto start = std::chrono::steady_clock::now();
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
    if (!options.quiet && tty) std::fprintf(stderr, "\n");
    // Said first: should writing the partial result fail too, this error is not lost.
    std::fprintf(stderr, "virtsim: simulation failed: %s\n", failure.c_str());
    system->record_final_statistics();
  } else if (!options.quiet && tty) {
    std::fprintf(stderr, "\rsimulating: 100%%\n");
  }

  RunRecord run;
  if (failed) {
    run.status = "partial";
    run.error = failure;
  }
  run.run_id = "run0000";
  run.config_text = loaded.sources.text;
  run.parameters_json = loaded.params.resolved_json();
  run.seed = system->seed;
  run.wall_seconds = wall;
  run.simulated_seconds = sc_core::sc_time_stamp().to_seconds();
  run.stats = &loaded.stats;
  run.links = system->result_links();
  run.exits = system->exit_records();
  ResultWriter writer(output, options.force);
  writer.write_run(run);
  writer.commit();
  if (failed) {
    std::fprintf(stderr, "virtsim: partial result (status \"partial\"): %s\n",
                 std::filesystem::absolute(output).lexically_normal().c_str());
    return 1;
  }

  if (!options.quiet) {
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

int describe_command(const ConfigOptions& config, DescribeFormat format) {
  LoadedConfig loaded;
  load(config, loaded);
  auto system = elaborate(loaded);
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
  }
  return 0;
}

int platform_command(const ConfigOptions& config, bool dot) {
  LoadedConfig loaded;
  load(config, loaded);
  auto system = elaborate(loaded);
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

int stats_command(const std::string& path, bool as_json, bool all) {
  const ResultSummary summary = read_result_summary(path);
  auto selected = [&](const RunSummary& run) {
    std::vector<std::pair<std::string, double>> out;
    if (all) {
      for (const auto& [name, value] : run.metrics) out.emplace_back(name, value);
    } else {
      for (const auto& name : kCanonicalMetrics) {
        const auto it = run.metrics.find(name);
        if (it == run.metrics.end())
          throw FileError(path + ": run '" + run.run_id + "' has no canonical metric '" + name + "'");
        out.emplace_back(name, it->second);
      }
    }
    return out;
  };
  if (as_json) {
    std::string out = "{";
    for (std::size_t r = 0; r < summary.runs.size(); ++r) {
      const auto& run = summary.runs[r];
      out += (r ? ",\n " : "\n ") + json::quote(run.run_id) + ": {\"status\": " + json::quote(run.status) +
             (run.error.empty() ? "" : ", \"error\": " + json::quote(run.error)) +
             ", \"seed\": " + std::to_string(run.seed) + ", \"metrics\": {";
      const auto metrics = selected(run);
      for (std::size_t i = 0; i < metrics.size(); ++i)
        out += (i ? ", " : "") + json::quote(metrics[i].first) + ": " + json::number(metrics[i].second);
      out += "}}";
    }
    out += "\n}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  for (const auto& run : summary.runs) {
    std::printf("%s (status %s, seed %llu)\n", run.run_id.c_str(), run.status.c_str(),
                static_cast<unsigned long long>(run.seed));
    if (!run.error.empty()) std::printf("  error: %s\n", run.error.c_str());
    for (const auto& [name, value] : selected(run)) std::printf("  %-28s %s\n", name.c_str(), format_number(value).c_str());
  }
  return 0;
}

}  // namespace virtsim
