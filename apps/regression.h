#pragma once
// Accuracy regression cases (experiments/regression/*.toml): an experiment config plus what
// its result must show. Everything outside the case's own tables is the experiment, as in any
// config (presets, [experiment] compare, ...):
//
//   [case]
//   kind = "analytic"            # analytic | published | measured (on this host) | golden
//   fast = true                  # part of the fast subset (the test command runs it)
//   description = "a 2-D walk of 4-level tables with no walk caches makes 24 references"
//   source = "Bhargava et al., ASPLOS 2008, section 3.2"
//
//   [[expect]]
//   metric = "walk.refs_per_walk"        # RUN:METRIC names a run of a comparison (shadow:sim.cycles)
//   over = "native:sim.cycles"           # optional: the check is metric / over
//   value = 24                           # with tolerance (absolute) or rel_tolerance (a fraction),
//   tolerance = 0                        # or a range: min = 1020, max = 1100
//
//   [golden]                             # kind = "golden": these metrics must equal the values
//   metrics = ["sim.cycles"]             # recorded in golden/<case>.toml (virtsim regress
//   rel_tolerance = 0                    # --record-golden), within rel_tolerance
//
// Plain C++: tests drive reading and checking directly; the command runs the experiments.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace virtsim {

// Every scalar metric of every run of one result file: run id -> metric -> value.
using RunMetrics = std::map<std::string, std::map<std::string, double>>;

struct MetricRef {
  std::string run;     // empty: the result's only run (or its first)
  std::string metric;
  std::string text() const { return run.empty() ? metric : run + ":" + metric; }
  static MetricRef parse(const std::string& text);
};

struct Expectation {
  MetricRef metric;
  std::optional<MetricRef> over;  // the check is metric / over
  std::optional<double> value, tolerance, rel_tolerance, min, max;
  std::string source;             // where this expectation comes from, when not the case's
  std::string what() const;       // "walk.refs_per_walk" or "shadow:sim.cycles / native:sim.cycles"
  std::string expected() const;   // "24 ± 0", "in [1020, 1100]", "1.5 ± 2%"
};

struct RegressionCase {
  std::string name;  // the file's stem
  std::string path;
  std::string kind;  // analytic, published, measured or golden
  bool fast = false;
  std::string description, source;
  std::vector<Expectation> expectations;
  std::vector<std::string> golden_metrics;  // RUN:METRIC or METRIC
  double golden_rel_tolerance = 0.0;
};

// Throws ConfigError naming the file, line and key.
RegressionCase read_case(const std::string& path);

// Golden values: `golden/<case>.toml` beside the case, a table `[metrics]` of "RUN:METRIC" =
// value. read_golden throws ConfigError when the file is missing (naming the command that
// records it) or malformed.
std::string golden_path(const RegressionCase& c);
std::map<std::string, double> read_golden(const RegressionCase& c);
// The golden file's text for these measured values (every golden metric, with its run named).
std::string golden_text(const RegressionCase& c, const RunMetrics& runs, const std::string& recorded_by);

struct CheckResult {
  std::string what, expected;
  std::optional<double> measured;  // empty: the metric (or its run) is missing
  bool pass = false;
  std::string note;                // why it failed, when it did
};

// A measured or expected value as the table and the report print it: integers whole, other
// values to 6 significant digits.
std::string format_measure(double v);

// One expectation against a result's runs.
CheckResult check(const Expectation& e, const RunMetrics& runs);
// The golden expectations of a golden case, given its recorded values.
std::vector<Expectation> golden_expectations(const RegressionCase& c, const std::map<std::string, double>& golden);

}  // namespace virtsim
