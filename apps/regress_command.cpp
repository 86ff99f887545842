// `virtsim regress`: the accuracy regression suite. Each case of experiments/regression/ is
// simulated in its own process into results/regression/<case>.h5, then checked against its
// expectations; a pass/fail table is printed and a report written (Markdown and JSON).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "commands.h"
#include "files.h"
#include "process_pool.h"
#include "regression.h"
#include "virtsim/common/error.h"
#include "virtsim/common/json.h"
#include "virtsim/common/results.h"
#include "virtsim/common/version.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

struct CaseOutcome {
  const RegressionCase* c = nullptr;
  std::string result_path;
  std::string error;  // the case could not be run or checked
  std::vector<CheckResult> checks;
  double seconds = 0.0;  // since the suite started, when the case ended
  bool pass() const {
    if (!error.empty() || checks.empty()) return false;
    for (const auto& k : checks)
      if (!k.pass) return false;
    return true;
  }
};

std::string default_directory() {
  std::error_code ec;
  if (fs::is_directory("experiments/regression", ec)) return "experiments/regression";
  return VIRTSIM_REGRESSION_DIR;
}

std::vector<RegressionCase> select_cases(const RegressOptions& options, const std::string& directory) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) throw ConfigError(directory + ": no such directory of regression cases");
  std::vector<std::string> paths;
  for (const auto& entry : fs::directory_iterator(directory))
    if (entry.is_regular_file() && entry.path().extension() == ".toml") paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  std::vector<RegressionCase> all;
  for (const auto& p : paths) all.push_back(read_case(p));
  std::vector<RegressionCase> out;
  for (const auto& name : options.cases) {
    bool found = false;
    for (const auto& c : all) found = found || c.name == name;
    if (!found) {
      std::string names;
      for (const auto& c : all) names += " " + c.name;
      throw ConfigError("--case " + name + ": no such case in " + directory + "; cases:" + names);
    }
  }
  for (auto& c : all) {
    const bool named = std::find(options.cases.begin(), options.cases.end(), c.name) != options.cases.end();
    if (options.cases.empty() ? (options.full || c.fast) : named) out.push_back(std::move(c));
  }
  if (out.empty()) throw ConfigError(directory + ": no regression cases selected");
  return out;
}

RunMetrics metrics_of(const std::string& path) {
  RunMetrics runs;
  for (const auto& run : read_result_summary(path).runs) {
    if (run.status != "ok") throw FileError(path + ": run '" + run.run_id + "' is " + run.status + ": " + run.error);
    runs[run.run_id] = run.metrics;
  }
  return runs;
}

std::string number_text(const std::optional<double>& v) { return v ? format_measure(*v) : "missing"; }

std::string markdown_report(const std::vector<CaseOutcome>& outcomes, bool full) {
  std::size_t passed = 0;
  for (const auto& o : outcomes) passed += o.pass();
  std::string out = "# virtsim accuracy regression report\n\n";
  out += "virtsim " + std::string(version()) + " (" + git_revision() + "), " + utc_timestamp() + ", " +
         (full ? "full suite" : "fast subset") + ": " + std::to_string(passed) + " of " +
         std::to_string(outcomes.size()) + " cases pass.\n\n";
  out += "| case | kind | check | expected | measured | result |\n|---|---|---|---|---|---|\n";
  for (const auto& o : outcomes) {
    if (!o.error.empty()) {
      out += "| " + o.c->name + " | " + o.c->kind + " | (the case) | | | **error**: " + o.error + " |\n";
      continue;
    }
    for (const auto& k : o.checks)
      out += "| " + o.c->name + " | " + o.c->kind + " | `" + k.what + "` | " + k.expected + " | " +
             number_text(k.measured) + " | " + (k.pass ? "pass" : "**FAIL** " + k.note) + " |\n";
  }
  out += "\n## Cases\n\n";
  for (const auto& o : outcomes) {
    out += "- **" + o.c->name + "** (" + o.c->kind + ", `" + o.c->path + "`): " + o.c->description;
    if (!o.c->source.empty()) out += " Source: " + o.c->source + ".";
    out += "\n";
  }
  return out;
}

std::string json_report(const std::vector<CaseOutcome>& outcomes, bool full) {
  std::string out = "{\"virtsim_version\": " + json::quote(version()) + ", \"git_revision\": " +
                    json::quote(git_revision()) + ", \"created\": " + json::quote(utc_timestamp()) +
                    ", \"suite\": " + json::quote(full ? "full" : "fast") + ", \"cases\": [";
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto& o = outcomes[i];
    out += std::string(i ? "," : "") + "\n  {\"name\": " + json::quote(o.c->name) + ", \"kind\": " + json::quote(o.c->kind) +
           ", \"path\": " + json::quote(o.c->path) + ", \"description\": " + json::quote(o.c->description) +
           ", \"source\": " + json::quote(o.c->source) + ", \"result\": " + json::quote(o.result_path) +
           ", \"pass\": " + (o.pass() ? "true" : "false") + ", \"error\": " + json::quote(o.error) + ", \"checks\": [";
    for (std::size_t k = 0; k < o.checks.size(); ++k) {
      const auto& c = o.checks[k];
      out += std::string(k ? ", " : "") + "{\"check\": " + json::quote(c.what) + ", \"expected\": " +
             json::quote(c.expected) + ", \"measured\": " + (c.measured ? json::number(*c.measured) : "null") +
             ", \"pass\": " + (c.pass ? "true" : "false") + ", \"note\": " + json::quote(c.note) + "}";
    }
    out += "]}";
  }
  return out + "\n]}\n";
}

}  // namespace

int regress_command(const RegressOptions& options) {
  const std::string directory = options.directory.empty() ? default_directory() : options.directory;
  const std::vector<RegressionCase> cases = select_cases(options, directory);
  const fs::path out_dir = options.output_dir.empty() ? fs::path("results/regression") : fs::path(options.output_dir);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw FileError(out_dir.string() + ": cannot create: " + ec.message());
  // Golden values must exist before anything runs (unless they are being recorded).
  std::map<std::string, std::map<std::string, double>> golden;
  if (!options.record_golden)
    for (const auto& c : cases)
      if (c.kind == "golden") golden[c.name] = read_golden(c);

  const unsigned jobs = options.jobs ? options.jobs : default_jobs();
  if (!options.quiet)
    std::fprintf(stderr, "regress: %zu cases (%s) from %s, %u at a time\n", cases.size(),
                 options.cases.empty() ? (options.full ? "full suite" : "fast subset") : "named", directory.c_str(), jobs);
  std::vector<CaseOutcome> outcomes(cases.size());
  const auto start = std::chrono::steady_clock::now();
  std::size_t finished = 0;
  const auto evaluate = [&](std::size_t i, int status) {
    CaseOutcome& o = outcomes[i];
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const RegressionCase& c = cases[i];
    try {
      if (status != 0 || !fs::exists(o.result_path, ec))
        throw FileError(std::string(fs::exists(o.result_path, ec) ? "the experiment failed" : "the experiment wrote no result") +
                        " (exit status " + std::to_string(status) + "; virtsim run " + c.path + " shows why)");
      const RunMetrics runs = metrics_of(o.result_path);
      std::vector<Expectation> expectations = c.expectations;
      if (c.kind == "golden") {
        if (options.record_golden) {
          const fs::path path = golden_path(c);
          fs::create_directories(path.parent_path());
          write_file_atomically(path, golden_text(c, runs, "recorded by virtsim " + std::string(version()) + " (" + git_revision() +
                                                    ") on " + utc_timestamp()));
          golden[c.name] = read_golden(c);
        }
        for (auto& e : golden_expectations(c, golden.at(c.name))) expectations.push_back(std::move(e));
      }
      for (const auto& e : expectations) o.checks.push_back(check(e, runs));
    } catch (const std::exception& e) {
      o.error = e.what();
    }
    ++finished;
    if (!options.quiet)
      std::fprintf(stderr, "  [%zu/%zu] %-34s %s after %.1f s\n", finished, cases.size(), c.name.c_str(),
                   o.pass() ? "pass" : (o.error.empty() ? "FAIL" : "ERROR"), o.seconds);
  };
  // The reports' paths are checked before anything runs, as every case's result path is.
  const fs::path report = options.report.empty() ? out_dir / "report.md" : fs::path(options.report);
  fs::path json_path = report;
  json_path.replace_extension(".json");
  check_output_path(report.string(), true);
  check_output_path(json_path.string(), true);
  std::vector<std::size_t> items;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    items.push_back(i);
    outcomes[i].c = &cases[i];
    outcomes[i].result_path = (out_dir / (cases[i].name + ".h5")).string();
    check_output_path(outcomes[i].result_path, true);  // a regular file, if anything
    fs::remove(outcomes[i].result_path, ec);            // never check a stale result
  }
  run_in_processes(
      items, jobs,
      [&](std::size_t i) {
        RunOptions run;
        run.config.config_path = cases[i].path;
        run.output = outcomes[i].result_path;
        run.force = true;
        run.quiet = true;
        return run_command(run);
      },
      [&](std::size_t i) { return "regression case " + cases[i].name; },
      [&](std::size_t i, const ProcessEnd& end) { evaluate(i, end.status()); });

  write_file_atomically(report, markdown_report(outcomes, options.full));
  write_file_atomically(json_path, json_report(outcomes, options.full));

  std::size_t passed = 0;
  for (const auto& o : outcomes) passed += o.pass();
  if (!options.quiet) {
    std::printf("%-34s %-9s %-44s %-22s %-12s %s\n", "case", "kind", "check", "expected", "measured", "result");
    for (const auto& o : outcomes) {
      if (!o.error.empty()) {
        std::printf("%-34s %-9s %-44s %-22s %-12s ERROR: %s\n", o.c->name.c_str(), o.c->kind.c_str(), "(the case)", "",
                    "", o.error.c_str());
        continue;
      }
      for (const auto& k : o.checks)
        std::printf("%-34s %-9s %-44s %-22s %-12s %s%s%s\n", o.c->name.c_str(), o.c->kind.c_str(), k.what.c_str(),
                    k.expected.c_str(), number_text(k.measured).c_str(), k.pass ? "pass" : "FAIL",
                    k.note.empty() ? "" : ": ", k.note.c_str());
    }
    std::printf("\n%zu of %zu cases pass; report: %s (and %s)\n", passed, outcomes.size(),
                fs::absolute(report).lexically_normal().c_str(), fs::absolute(json_path).lexically_normal().c_str());
  }
  return passed == outcomes.size() ? 0 : 1;
}

}  // namespace virtsim
