// `virtsim stats`: a result file's runs and metrics as text, JSON or CSV, a sweep's runs
// beside the values they swept, and `--diff`: what differs between the runs of two files.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "commands.h"
#include "experiment.h"
#include "virtsim/common/error.h"
#include "virtsim/common/json.h"
#include "virtsim/common/results.h"

namespace virtsim {

namespace {

// A sweep's swept values by run id, each as (parameter, value as text), in the table's column
// order; empty for a file that is not a sweep's.
using SweptValues = std::map<std::string, std::vector<std::pair<std::string, std::string>>>;

SweptValues swept_values_as_text(const std::string& path) {
  SweptValues out;
  for (const auto& [run_id, values] : read_swept_values(path))
    for (const auto& [name, value] : values)
      out[run_id].emplace_back(name, std::holds_alternative<std::int64_t>(value) ? std::to_string(std::get<std::int64_t>(value))
                                     : std::holds_alternative<double>(value)     ? format_number(std::get<double>(value))
                                                                                 : std::get<std::string>(value));
  return out;
}

std::vector<std::pair<std::string, double>> selected_metrics(const std::string& path, const RunSummary& run,
                                                             bool all) {
  std::vector<std::pair<std::string, double>> out;
  if (all) {
    for (const auto& [name, value] : run.metrics) out.emplace_back(name, value);
    return out;
  }
  for (const auto& name : kCanonicalMetrics) {
    const auto it = run.metrics.find(name);
    if (it == run.metrics.end())
      throw FileError(path + ": run '" + run.run_id + "' has no canonical metric '" + name + "'");
    out.emplace_back(name, it->second);
  }
  return out;
}

// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The shortest text that reads back as exactly `v`.
std::string csv_number(double v) {
  char text[40];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;
  return std::string(text, end);
}

void print_csv(const std::string& path, const ResultSummary& summary, const SweptValues& swept, bool all) {
  // Columns: the run, its swept values (a sweep's), then the metrics (with --all, every name any run has).
  std::vector<std::string> swept_names;
  if (!summary.runs.empty())
    if (const auto it = swept.find(summary.runs.front().run_id); it != swept.end())
      for (const auto& [name, value] : it->second)
        if (name != "memory_virtualization") swept_names.push_back(name);  // a column of every run already
  std::vector<std::string> metric_names;
  if (all) {
    std::set<std::string> names;
    for (const auto& run : summary.runs)
      for (const auto& [name, value] : run.metrics) names.insert(name);
    metric_names.assign(names.begin(), names.end());
  } else {
    metric_names = kCanonicalMetrics;
  }
  std::string header = "run_id,status,seed,memory_virtualization";
  for (const auto& name : swept_names) header += "," + csv_field(name);
  for (const auto& name : metric_names) header += "," + csv_field(name);
  std::printf("%s\n", header.c_str());
  for (const auto& run : summary.runs) {
    if (!all) selected_metrics(path, run, false);  // a missing canonical metric is an error, as in the table
    std::string row = csv_field(run.run_id) + "," + csv_field(run.status) + "," + std::to_string(run.seed) +
                      "," + csv_field(run.memory_virtualization);
    const auto values = swept.find(run.run_id);
    for (const auto& name : swept_names) {
      std::string cell;
      if (values != swept.end())
        for (const auto& [n, v] : values->second)
          if (n == name) cell = v;
      row += "," + csv_field(cell);
    }
    for (const auto& name : metric_names) {
      const auto it = run.metrics.find(name);
      row += "," + (it == run.metrics.end() ? std::string() : csv_number(it->second));
    }
    std::printf("%s\n", row.c_str());
  }
}

void print_json(const std::string& path, const ResultSummary& summary, const SweptValues& swept, bool all) {
  std::string out = "{";
  for (std::size_t r = 0; r < summary.runs.size(); ++r) {
    const auto& run = summary.runs[r];
    out += (r ? ",\n " : "\n ") + json::quote(run.run_id) + ": {\"status\": " + json::quote(run.status) +
           (run.error.empty() ? "" : ", \"error\": " + json::quote(run.error)) +
           ", \"seed\": " + std::to_string(run.seed);
    if (const auto it = swept.find(run.run_id); it != swept.end()) {
      out += ", \"sweep\": {";
      for (std::size_t i = 0; i < it->second.size(); ++i)
        out += (i ? ", " : "") + json::quote(it->second[i].first) + ": " + json::quote(it->second[i].second);
      out += "}";
    }
    out += ", \"metrics\": {";
    const auto metrics = selected_metrics(path, run, all);
    for (std::size_t i = 0; i < metrics.size(); ++i)
      out += (i ? ", " : "") + json::quote(metrics[i].first) + ": " + json::number(metrics[i].second);
    out += "}}";
  }
  out += "\n}\n";
  std::fputs(out.c_str(), stdout);
}

void print_text(const std::string& path, const ResultSummary& summary, const SweptValues& swept, bool all) {
  for (const auto& run : summary.runs) {
    std::string heading = run.run_id;
    if (const auto it = swept.find(run.run_id); it != swept.end()) {
      heading += ":";
      for (const auto& [name, value] : it->second) heading += " " + name + "=" + value;
    }
    std::printf("%s (status %s, seed %llu)\n", heading.c_str(), run.status.c_str(),
                static_cast<unsigned long long>(run.seed));
    if (!run.error.empty()) std::printf("  error: %s\n", run.error.c_str());
    for (const auto& [name, value] : selected_metrics(path, run, all))
      std::printf("  %-28s %s\n", name.c_str(), format_number(value).c_str());
  }
}

// ---- --diff ------------------------------------------------------------------------------

// Every value of a run that --diff compares: the scalar metrics, and each element of the other
// statistics (read_statistic_values).
std::map<std::string, double> comparable_values(const std::string& path, const RunSummary& run) {
  std::map<std::string, double> out(run.metrics.begin(), run.metrics.end());
  for (const auto& [name, value] : read_statistic_values(path, run.run_id)) out[name] = value;
  return out;
}

struct Difference {
  std::string run_a, run_b, name;
  double a = 0, b = 0;
  double relative = 0;  // (b - a) / |a|; infinite when a is 0
};

// The run pairs to compare: the same run ids in both files, or the only run of each.
std::vector<std::pair<const RunSummary*, const RunSummary*>> paired_runs(const std::string& path_a,
                                                                         const ResultSummary& a,
                                                                         const std::string& path_b,
                                                                         const ResultSummary& b) {
  if (a.runs.empty() || b.runs.empty())
    throw FileError((a.runs.empty() ? path_a : path_b) + ": no runs to compare");
  if (a.runs.size() == 1 && b.runs.size() == 1) return {{&a.runs[0], &b.runs[0]}};
  std::vector<std::pair<const RunSummary*, const RunSummary*>> pairs;
  std::vector<std::string> only_a, only_b;
  for (const auto& run : a.runs) {
    const auto it = std::find_if(b.runs.begin(), b.runs.end(),
                                 [&](const RunSummary& r) { return r.run_id == run.run_id; });
    if (it == b.runs.end())
      only_a.push_back(run.run_id);
    else
      pairs.emplace_back(&run, &*it);
  }
  for (const auto& run : b.runs)
    if (std::none_of(a.runs.begin(), a.runs.end(),
                     [&](const RunSummary& r) { return r.run_id == run.run_id; }))
      only_b.push_back(run.run_id);
  if (only_a.empty() && only_b.empty()) return pairs;
  const auto list = [](const std::vector<std::string>& ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size() && i < 5; ++i) out += (i ? ", " : "") + ids[i];
    return ids.size() > 5 ? out + " and " + std::to_string(ids.size() - 5) + " more" : out;
  };
  std::string message = "--diff compares runs with the same id, and the run ids do not match (" + path_a +
                        ": " + std::to_string(a.runs.size()) + " runs, " + path_b + ": " +
                        std::to_string(b.runs.size()) + ")";
  if (!only_a.empty()) message += "; only in " + path_a + ": " + list(only_a);
  if (!only_b.empty()) message += "; only in " + path_b + ": " + list(only_b);
  throw FileError(message);
}

// A value in the diff's table: integers whole, others to six significant digits, so that
// small values that differ do not print alike.
std::string diff_number(double v) {
  if (v == std::trunc(v) && std::fabs(v) < 1e15) return format_number(v);
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

std::string relative_text(double relative) {
  if (std::isinf(relative)) return relative > 0 ? "+inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof text, "%+.2f%%", relative * 100.0);
  return text;
}

int diff_command(const StatsOptions& options) {
  const std::string& path_a = options.files[0];
  const std::string& path_b = options.files[1];
  const ResultSummary a = read_result_summary(path_a);
  const ResultSummary b = read_result_summary(path_b);
  std::vector<Difference> differences;
  std::size_t compared = 0;
  const auto pairs = paired_runs(path_a, a, path_b, b);
  for (const auto& [run_a, run_b] : pairs) {
    const auto values_a = comparable_values(path_a, *run_a);
    const auto values_b = comparable_values(path_b, *run_b);
    std::set<std::string> names;
    for (const auto& [name, v] : values_a) names.insert(name);
    for (const auto& [name, v] : values_b) names.insert(name);
    for (const auto& name : names) {
      ++compared;
      const auto in_a = values_a.find(name), in_b = values_b.find(name);
      // A value only one run has is compared against 0 (a statistic of a component the other lacks).
      const double va = in_a == values_a.end() ? 0.0 : in_a->second;
      const double vb = in_b == values_b.end() ? 0.0 : in_b->second;
      if (va == vb || (std::isnan(va) && std::isnan(vb))) continue;
      const double relative = va != 0 ? (vb - va) / std::fabs(va)
                                      : (vb > 0 ? 1.0 : -1.0) * std::numeric_limits<double>::infinity();
      differences.push_back({run_a->run_id, run_b->run_id, name, va, vb, relative});
    }
  }
  std::stable_sort(differences.begin(), differences.end(), [](const Difference& x, const Difference& y) {
    return std::fabs(x.relative) > std::fabs(y.relative);
  });
  if (options.format == StatsFormat::Csv) {
    std::printf("run_a,run_b,name,a,b,relative_change\n");
    for (const auto& d : differences)
      std::printf("%s,%s,%s,%s,%s,%s\n", csv_field(d.run_a).c_str(), csv_field(d.run_b).c_str(),
                  csv_field(d.name).c_str(), csv_number(d.a).c_str(), csv_number(d.b).c_str(),
                  csv_number(d.relative).c_str());
    return 0;
  }
  if (options.format == StatsFormat::Json) {
    std::string out = "{\"a\": " + json::quote(path_a) + ", \"b\": " + json::quote(path_b) +
                      ", \"compared\": " + std::to_string(compared) + ", \"differences\": [";
    for (std::size_t i = 0; i < differences.size(); ++i) {
      const auto& d = differences[i];
      out += std::string(i ? ",\n  " : "\n  ") + "{\"run_a\": " + json::quote(d.run_a) +
             ", \"run_b\": " + json::quote(d.run_b) + ", \"name\": " + json::quote(d.name) +
             ", \"a\": " + json::number(d.a) + ", \"b\": " + json::number(d.b) + ", \"relative_change\": " +
             (std::isinf(d.relative) ? std::string("null") : json::number(d.relative)) + "}";
    }
    out += "\n]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("A: %s\nB: %s\n", path_a.c_str(), path_b.c_str());
  std::printf("%zu of %zu values differ (%zu run pair%s)\n", differences.size(), compared, pairs.size(),
              pairs.size() == 1 ? "" : "s");
  if (differences.empty()) return 0;
  const bool show_runs = pairs.size() > 1 || pairs[0].first->run_id != pairs[0].second->run_id;
  std::printf("\n  %s%-44s %16s %16s %10s\n", show_runs ? "run      " : "", "name", "A", "B", "change");
  for (const auto& d : differences) {
    const std::string run = d.run_a == d.run_b ? d.run_a : d.run_a + "/" + d.run_b;
    std::printf("  %s%-44s %16s %16s %10s\n",
                show_runs ? (run + std::string(run.size() < 9 ? 9 - run.size() : 1, ' ')).c_str() : "",
                d.name.c_str(), diff_number(d.a).c_str(), diff_number(d.b).c_str(),
                relative_text(d.relative).c_str());
  }
  return 0;
}

}  // namespace

int stats_command(const StatsOptions& options) {
  if (options.diff) {
    if (options.files.size() != 2)
      throw ConfigError("stats --diff: expected two result files (A.h5 B.h5), got " +
                        std::to_string(options.files.size()));
    return diff_command(options);
  }
  if (options.files.size() != 1)
    throw ConfigError("stats: expected one result file, got " + std::to_string(options.files.size()) +
                      " (compare two with --diff)");
  const std::string& path = options.files[0];
  const ResultSummary summary = read_result_summary(path);
  const SweptValues swept = swept_values_as_text(path);
  if (options.format == StatsFormat::Csv)
    print_csv(path, summary, swept, options.all);
  else if (options.format == StatsFormat::Json)
    print_json(path, summary, swept, options.all);
  else
    print_text(path, summary, swept, options.all);
  return 0;
}

}  // namespace virtsim
