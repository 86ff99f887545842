// virtsim: the command line. Thin on purpose: it parses, loads the config, builds the
// platform, runs, writes.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <systemc>

#include "commands.h"
#include "virtsim/common/debug_trace.h"
#include "virtsim/common/error.h"
#include "virtsim/common/version.h"

namespace {

void quiet_systemc() {
  // Model errors reach the user as exceptions with our own messages; SystemC's info
  // chatter (and its deprecation notes) would only hide them.
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions(sc_core::SC_WARNING, sc_core::SC_DO_NOTHING);
}

// For unsigned options: CLI11 converts with strtoull, which takes "-5" as 2^64 - 5, so a sign
// is refused before the conversion.
const CLI::Validator kNotNegative(
    [](std::string& value) {
      const auto first = value.find_first_not_of(" \t");
      return first != std::string::npos && value[first] == '-' ? value + " is negative; expected a number >= 0"
                                                                 : std::string();
    },
    "", "NOT_NEGATIVE");

void add_config_options(CLI::App* command, virtsim::ConfigOptions& config, bool config_required) {
  auto* option = command->add_option("config", config.config_path,
                                     "experiment config (TOML); default: the embedded default experiment");
  if (config_required) option->required();
  command->add_option("--set", config.sets, "override a parameter: --set key=value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

// --trace's help: every kind, from the list the parser checks against.
std::string trace_help() {
  std::string help = "print a line per event of these kinds (comma-separated):";
  for (const auto& kind : virtsim::debug_trace::kinds()) help += std::string("\n  ") + kind.name + ": " + kind.description;
  return help;
}

}  // namespace

// The SystemC banner is noise in a tool's output. SystemC prints it before sc_main runs,
// so the setting must be made during static initialization; an explicit setting still wins.
[[maybe_unused]] const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

int sc_main(int argc, char* argv[]) {
  quiet_systemc();
  CLI::App app{"virtsim: a cycle-approximate simulator of CPU virtualization hardware"};
  app.set_version_flag("--version", std::string(virtsim::version()) + " (" + virtsim::git_revision() + ")");
  app.require_subcommand(1);

  virtsim::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "run an experiment and write an HDF5 result file");
  add_config_options(run_cmd, run.config, false);
  run_cmd->add_option("-o,--output", run.output, "result file (default: results/<config name>.h5)");
  run_cmd->add_flag("--force", run.force, "overwrite an existing result file");
  run_cmd->add_flag("-q,--quiet", run.quiet, "print nothing but errors");
  std::string trace_kinds, trace_cycles;
  auto* trace_option = run_cmd->add_option("--trace", trace_kinds, trace_help())->type_name("KIND,...");
  run_cmd->add_option("--trace-cycles", trace_cycles, "trace only cycles START to END (either may be left out)")
      ->type_name("START:END")
      ->needs(trace_option);
  run_cmd->add_option("--trace-file", run.trace_file, "write the trace lines to this file instead of stderr")
      ->needs(trace_option);

  virtsim::ConfigOptions describe;
  bool describe_json = false, describe_markdown = false;
  bool describe_presets = false;
  auto* describe_cmd = app.add_subcommand("describe", "list every parameter and statistic");
  add_config_options(describe_cmd, describe, false);
  auto* json_flag = describe_cmd->add_flag("--json", describe_json, "JSON output");
  auto* markdown_flag =
      describe_cmd->add_flag("--markdown", describe_markdown, "Markdown tables (as in the README)")->excludes(json_flag);
  describe_cmd->add_flag("--presets", describe_presets, "list every preset, what it sets and its description")
      ->excludes(json_flag)
      ->excludes(markdown_flag);

  virtsim::ConfigOptions platform;
  bool dot = false;
  auto* platform_cmd = app.add_subcommand("platform", "show the platform graph a config builds");
  add_config_options(platform_cmd, platform, false);
  platform_cmd->add_flag("--dot", dot, "Graphviz dot output");

  virtsim::SweepOptions sweep;
  std::string sweep_backend = "local";
  std::size_t sweep_point = 0;
  auto* sweep_cmd = app.add_subcommand("sweep", "run the points of a config's [sweep] table into one result file");
  add_config_options(sweep_cmd, sweep.config, true);
  sweep_cmd->add_option("-o,--output", sweep.output, "result file (default: results/<config name>.h5); the points "
                                                      "are kept in <output>.points/");
  sweep_cmd->add_option("-j,--jobs", sweep.jobs, "points simulated at a time (default: one per core)")
      ->check(kNotNegative);
  auto* sweep_force = sweep_cmd->add_flag("--force", sweep.force, "start over: replace the result file and finished points");
  sweep_cmd->add_flag("--resume", sweep.resume, "keep the finished points, run the others (failed ones again)")
      ->excludes(sweep_force);
  sweep_cmd->add_flag("--dry-run", sweep.dry_run, "print the points and stop");
  sweep_cmd->add_flag("-q,--quiet", sweep.quiet, "print nothing but errors");
  sweep_cmd->add_option("--backend", sweep_backend, "local (worker processes here) or slurm (a job array)")
      ->check(CLI::IsMember({"local", "slurm"}));
  sweep_cmd->add_flag("--wait", sweep.wait, "slurm: wait until the merge job has written the result file");
  sweep_cmd->add_option("--slurm-option", sweep.slurm_options, "slurm: an option for sbatch, e.g. --slurm-option=--partition=debug")
      ->allow_extra_args(false);
  sweep_cmd->add_option("--points-per-task", sweep.points_per_task,
                        "slurm: points each array task simulates, one after another (default 1)")
      ->check(CLI::PositiveNumber);
  auto* point_option = sweep_cmd->add_option("--point", sweep_point, "simulate one point of a planned sweep")
                           ->check(kNotNegative);
  std::size_t sweep_task = 0;
  auto* task_option = sweep_cmd->add_option("--task", sweep_task, "internal (Slurm array tasks): simulate a task's points")
                          ->check(kNotNegative);
  sweep_cmd->add_flag("--merge", sweep.merge_only, "internal (the Slurm merge job): merge the finished points");

  virtsim::RegressOptions regress;
  auto* regress_cmd = app.add_subcommand("regress", "run the accuracy regression cases and report pass or fail");
  regress_cmd->add_option("directory", regress.directory, "directory of cases (default: experiments/regression)");
  regress_cmd->add_flag("--full", regress.full, "every case (default: the fast subset, the cases with fast = true)");
  regress_cmd->add_option("--case", regress.cases, "only this case (repeatable)")->allow_extra_args(false);
  regress_cmd->add_option("-j,--jobs", regress.jobs, "cases simulated at a time (default: one per core)")
      ->check(kNotNegative);
  regress_cmd->add_option("--output-dir", regress.output_dir, "where each case's result file goes "
                                                               "(default: results/regression)");
  regress_cmd->add_option("--report", regress.report, "Markdown report (default: <output dir>/report.md; JSON beside it)");
  regress_cmd->add_flag("--record-golden", regress.record_golden,
                        "record the golden cases' values (golden/<case>.toml) from this run");
  regress_cmd->add_flag("-q,--quiet", regress.quiet, "print nothing but errors");

  virtsim::StatsOptions stats;
  bool stats_json = false, stats_csv = false;
  auto* stats_cmd = app.add_subcommand("stats", "print each run's canonical metrics from a result file, or compare "
                                                "two files (--diff)");
  stats_cmd->add_option("files", stats.files, "HDF5 result file (two with --diff: A.h5 B.h5)")->required();
  auto* stats_json_flag = stats_cmd->add_flag("--json", stats_json, "JSON output");
  stats_cmd->add_flag("--csv", stats_csv, "CSV output: one row per run (with --diff: one row per difference)")
      ->excludes(stats_json_flag);
  stats_cmd->add_flag("--all", stats.all, "every scalar metric, not just the canonical ones");
  stats_cmd->add_flag("--diff", stats.diff, "every metric and statistic that differs between the runs of A and B");

  auto* trace_cmd = app.add_subcommand("trace", "inspect, print, generate and convert trace files");
  trace_cmd->require_subcommand(1);
  std::string trace_file;
  std::uint64_t trace_limit = 0;
  auto* trace_info = trace_cmd->add_subcommand("info", "header, blocks and records by kind");
  trace_info->add_option("file", trace_file, "trace file")->required();
  auto* trace_cat = trace_cmd->add_subcommand("cat", "print the records as text");
  trace_cat->add_option("file", trace_file, "trace file")->required();
  trace_cat->add_option("--limit", trace_limit, "print at most this many records")->check(kNotNegative);
  virtsim::TraceGenOptions gen;
  auto* trace_gen = trace_cmd->add_subcommand("gen", "write a synthetic workload as a trace");
  trace_gen->add_option("-o,--output", gen.output, "trace file to write")->required();
  // The ranges are workload.*'s (trace_gen_command checks them); unsigned options would
  // take "-5" as 2^64 - 5, so negative numbers are refused here.
  trace_gen->add_option("--pattern", gen.pattern, "random, stream or hotspot");
  trace_gen->add_option("--accesses", gen.accesses, "memory accesses in the region of interest")
      ->check(kNotNegative);
  trace_gen->add_option("--footprint-kib", gen.footprint_kib, "footprint in KiB")->check(kNotNegative);
  trace_gen->add_option("--seed", gen.seed, "random seed")->check(kNotNegative);
  trace_gen->add_flag("--force", gen.force, "overwrite an existing trace file");
  std::string convert_output;
  std::vector<std::string> convert_inputs;
  std::uint64_t convert_limit = 0, convert_limit_per_process = 0;
  bool convert_renumber = false, convert_thp_aligned = false;
  auto* trace_convert = trace_cmd->add_subcommand(
      "convert", "convert Valgrind lackey --trace-mem=yes logs (one per process) into one trace");
  trace_convert->add_option("logs", convert_inputs, "lackey log files, FIFOs or directories of logs")->required();
  trace_convert->add_option("-o,--output", convert_output, "trace file to write")->required();
  trace_convert->add_option("--limit", convert_limit, "stop after this many memory records (the trace is closed properly)")
      ->check(kNotNegative);
  trace_convert->add_option("--limit-per-process", convert_limit_per_process,
                            "keep at most this many memory records of each process (process records all kept)")
      ->check(kNotNegative);
  bool convert_force = false;
  trace_convert->add_flag("--force", convert_force, "overwrite an existing trace file");
  trace_convert->add_flag("--renumber-pids", convert_renumber,
                          "number the processes 1 (the root), 2, 3... in fork order instead of their real pids");
  trace_convert->add_flag("--thp-aligned-anonymous", convert_thp_aligned,
                          "the capture host's kernel puts an anonymous mapping of a multiple of 2 MiB on a 2 MiB boundary "
                          "(Linux 6.7 on), which Valgrind does not: write a program's alignment retry (unmap, map larger, "
                          "trim) as the one aligned mmap a native run makes");

  virtsim::ConfigOptions skinit_demo;
  bool skinit_intercept = false;
  auto* skinit_demo_cmd = app.add_subcommand("skinit-demo", "DMA into the Secure Loader Block before and after SKINIT");
  skinit_demo_cmd->add_flag("--intercept", skinit_intercept, "run SKINIT in a guest whose VMCB intercepts it");
  skinit_demo_cmd->add_option("--set", skinit_demo.sets, "override a parameter: --set key=value (repeatable)")
      ->allow_extra_args(false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, as every other error: what was wrong with the command line.
    std::fprintf(stderr, "virtsim: error: %s (virtsim --help lists the options)\n", e.what());
    return 2;
  }

  try {
    if (*run_cmd) {
      if (trace_option->count()) run.trace_kinds = virtsim::debug_trace::parse_kinds(trace_kinds);
      if (!trace_cycles.empty())
        virtsim::debug_trace::parse_cycle_range(trace_cycles, run.trace_first_cycle, run.trace_last_cycle);
      return virtsim::run_command(run);
    }
    if (*regress_cmd) return virtsim::regress_command(regress);
    if (*sweep_cmd) {
      sweep.backend = sweep_backend == "slurm" ? virtsim::SweepBackend::Slurm : virtsim::SweepBackend::Local;
      if (point_option->count()) sweep.point = sweep_point;
      if (task_option->count()) sweep.task = sweep_task;
      return virtsim::sweep_command(sweep);
    }
    if (*describe_cmd && describe_presets) return virtsim::describe_presets_command();
    if (*describe_cmd)
      return virtsim::describe_command(describe, describe_json       ? virtsim::DescribeFormat::Json
                                                 : describe_markdown ? virtsim::DescribeFormat::Markdown
                                                                     : virtsim::DescribeFormat::Text);
    if (*platform_cmd) return virtsim::platform_command(platform, dot);
    if (*skinit_demo_cmd) return virtsim::skinit_demo_command(skinit_demo, skinit_intercept);
    if (*stats_cmd) {
      stats.format = stats_json  ? virtsim::StatsFormat::Json
                     : stats_csv ? virtsim::StatsFormat::Csv
                                 : virtsim::StatsFormat::Text;
      return virtsim::stats_command(stats);
    }
    if (*trace_info) return virtsim::trace_info_command(trace_file);
    if (*trace_cat) return virtsim::trace_cat_command(trace_file, trace_limit);
    if (*trace_gen) return virtsim::trace_gen_command(gen);
    if (*trace_convert) return virtsim::trace_convert_command(convert_inputs, convert_output, convert_limit, convert_limit_per_process,
                                                                   convert_renumber, convert_thp_aligned, convert_force);
  } catch (const virtsim::UserError& e) {
    std::fprintf(stderr, "virtsim: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "virtsim: simulation failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
