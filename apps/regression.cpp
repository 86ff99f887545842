#include "regression.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "virtsim/common/error.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

std::string where(const std::string& origin, const toml::node& node) {
  const auto& begin = node.source().begin;
  return origin + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
}

toml::table parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": regression case not found or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return toml::parse(text.str(), path);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError(path + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column) +
                      ": TOML syntax error: " + std::string(error.description()));
  }
}

std::optional<double> number(const toml::table& t, const char* key, const std::string& origin,
                             const std::string& table) {
  const toml::node* node = t.get(key);
  if (!node) return std::nullopt;
  if (const auto* i = node->as_integer()) return static_cast<double>(i->get());
  if (const auto* f = node->as_floating_point()) return f->get();
  throw ConfigError(where(origin, *node) + ": key '" + table + "." + key + "': expected a number");
}

std::string text(const toml::table& t, const char* key, const std::string& origin, const std::string& table,
                 bool required) {
  const toml::node* node = t.get(key);
  if (!node) {
    if (required) throw ConfigError(origin + ": [" + table + "] needs key '" + key + "'");
    return "";
  }
  const auto* s = node->as_string();
  if (!s) throw ConfigError(where(origin, *node) + ": key '" + table + "." + key + "': expected a string");
  return s->get();
}

void refuse_unknown(const toml::table& t, const std::vector<std::string>& known, const std::string& origin,
                    const std::string& table) {
  for (auto&& [key, node] : t) {
    bool ok = false;
    for (const auto& k : known) ok = ok || key.str() == k;
    if (!ok) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError(where(origin, node) + ": key '" + table + "." + std::string(key.str()) + "': unknown; expected " +
                        list);
    }
  }
}

const std::map<std::string, double>* run_of(const RunMetrics& runs, const std::string& run) {
  if (runs.empty()) return nullptr;
  if (run.empty()) return &runs.begin()->second;
  const auto it = runs.find(run);
  return it == runs.end() ? nullptr : &it->second;
}

std::optional<double> lookup(const RunMetrics& runs, const MetricRef& ref, std::string& note) {
  const auto* metrics = run_of(runs, ref.run);
  if (!metrics) {
    note = "the result has no run '" + ref.run + "'";
    return std::nullopt;
  }
  const auto it = metrics->find(ref.metric);
  if (it == metrics->end()) {
    note = "the result has no metric '" + ref.metric + "'";
    return std::nullopt;
  }
  return it->second;
}

}  // namespace

std::string format_measure(double v) {
  char text[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(text, sizeof text, "%.0f", v);
  else
    std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

MetricRef MetricRef::parse(const std::string& text) {
  MetricRef ref;
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    ref.metric = text;
  } else {
    ref.run = text.substr(0, colon);
    ref.metric = text.substr(colon + 1);
  }
  return ref;
}

std::string Expectation::what() const { return over ? metric.text() + " / " + over->text() : metric.text(); }

std::string Expectation::expected() const {
  std::string out;
  if (value) {
    out = format_measure(*value);
    if (rel_tolerance) out += " ± " + format_measure(*rel_tolerance * 100.0) + "%";
    else out += " ± " + format_measure(tolerance.value_or(0.0));
  }
  if (min || max) {
    if (!out.empty()) out += ", ";
    out += "in [" + (min ? format_measure(*min) : std::string("-inf")) + ", " + (max ? format_measure(*max) : std::string("inf")) + "]";
  }
  return out;
}

RegressionCase read_case(const std::string& path) {
  const toml::table root = parse_file(path);
  RegressionCase c;
  c.path = path;
  c.name = fs::path(path).stem().string();
  const auto* info = root.get_as<toml::table>("case");
  if (!info) throw ConfigError(path + ": no [case] table; a regression case starts with [case] kind = \"analytic\"");
  refuse_unknown(*info, {"kind", "fast", "description", "source"}, path, "case");
  c.kind = text(*info, "kind", path, "case", true);
  if (c.kind != "analytic" && c.kind != "published" && c.kind != "measured" && c.kind != "golden")
    throw ConfigError(where(path, *info->get("kind")) + ": key 'case.kind': got \"" + c.kind +
                      "\"; expected analytic, published, measured or golden");
  if (const auto* fast = info->get("fast")) {
    if (!fast->is_boolean()) throw ConfigError(where(path, *fast) + ": key 'case.fast': expected true or false");
    c.fast = fast->as_boolean()->get();
  }
  c.description = text(*info, "description", path, "case", true);
  c.source = text(*info, "source", path, "case", c.kind == "published" || c.kind == "measured");

  if (const auto* expects = root.get("expect")) {
    const auto* array = expects->as_array();
    if (!array || !array->is_array_of_tables())
      throw ConfigError(where(path, *expects) + ": key 'expect': expected [[expect]] tables");
    for (const auto& node : *array) {
      const auto& t = *node.as_table();
      refuse_unknown(t, {"metric", "over", "value", "tolerance", "rel_tolerance", "min", "max", "source"}, path,
                     "expect");
      Expectation e;
      e.metric = MetricRef::parse(text(t, "metric", path, "expect", true));
      const std::string over = text(t, "over", path, "expect", false);
      if (!over.empty()) e.over = MetricRef::parse(over);
      e.value = number(t, "value", path, "expect");
      e.tolerance = number(t, "tolerance", path, "expect");
      e.rel_tolerance = number(t, "rel_tolerance", path, "expect");
      e.min = number(t, "min", path, "expect");
      e.max = number(t, "max", path, "expect");
      e.source = text(t, "source", path, "expect", false);
      if (!e.value && !e.min && !e.max)
        throw ConfigError(where(path, node) + ": an [[expect]] for '" + e.what() + "' needs value or min/max");
      if (e.tolerance && e.rel_tolerance)
        throw ConfigError(where(path, node) + ": an [[expect]] for '" + e.what() +
                          "' gives both tolerance and rel_tolerance; give one");
      if ((e.tolerance || e.rel_tolerance) && !e.value)
        throw ConfigError(where(path, node) + ": an [[expect]] for '" + e.what() + "' has a tolerance but no value");
      c.expectations.push_back(std::move(e));
    }
  }
  if (const auto* golden = root.get_as<toml::table>("golden")) {
    if (c.kind != "golden") throw ConfigError(where(path, *golden) + ": [golden] belongs to a case of kind \"golden\"");
    refuse_unknown(*golden, {"metrics", "rel_tolerance"}, path, "golden");
    const auto* metrics = golden->get_as<toml::array>("metrics");
    if (!metrics || metrics->empty()) throw ConfigError(path + ": [golden] needs a non-empty list 'metrics'");
    for (const auto& m : *metrics) {
      if (!m.is_string()) throw ConfigError(where(path, m) + ": key 'golden.metrics': expected metric names");
      c.golden_metrics.push_back(m.as_string()->get());
    }
    c.golden_rel_tolerance = number(*golden, "rel_tolerance", path, "golden").value_or(0.0);
  } else if (c.kind == "golden") {
    throw ConfigError(path + ": a golden case needs a [golden] table listing its metrics");
  }
  if (c.expectations.empty() && c.golden_metrics.empty())
    throw ConfigError(path + ": the case checks nothing; give [[expect]] tables or [golden] metrics");
  return c;
}

std::string golden_path(const RegressionCase& c) {
  return (fs::path(c.path).parent_path() / "golden" / (c.name + ".toml")).string();
}

std::map<std::string, double> read_golden(const RegressionCase& c) {
  const std::string path = golden_path(c);
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw ConfigError(path + ": no golden values for case '" + c.name +
                      "'; record them with virtsim regress --record-golden --case " + c.name);
  const toml::table root = parse_file(path);
  const auto* metrics = root.get_as<toml::table>("metrics");
  if (!metrics) throw ConfigError(path + ": no [metrics] table");
  std::map<std::string, double> out;
  for (auto&& [key, node] : *metrics) {
    if (const auto* i = node.as_integer()) out[std::string(key.str())] = static_cast<double>(i->get());
    else if (const auto* f = node.as_floating_point()) out[std::string(key.str())] = f->get();
    else throw ConfigError(where(path, node) + ": key 'metrics." + std::string(key.str()) + "': expected a number");
  }
  return out;
}

std::string golden_text(const RegressionCase& c, const RunMetrics& runs, const std::string& recorded_by) {
  std::string out = "# Golden values of regression case '" + c.name + "', " + recorded_by +
                    ".\n# Rewritten by virtsim regress --record-golden; a change here is a change in the model's results.\n"
                    "[metrics]\n";
  for (const auto& name : c.golden_metrics) {
    MetricRef ref = MetricRef::parse(name);
    if (ref.run.empty() && !runs.empty()) ref.run = runs.begin()->first;
    std::string note;
    const auto v = lookup(runs, ref, note);
    if (!v) throw ConfigError(c.path + ": golden metric '" + name + "': " + note);
    char value[64];
    std::snprintf(value, sizeof value, "%.17g", *v);
    std::string literal = value;
    if (literal.find_first_of(".eEn") == std::string::npos) literal += ".0";  // a TOML float
    out += "\"" + ref.text() + "\" = " + literal + "\n";
  }
  return out;
}

std::vector<Expectation> golden_expectations(const RegressionCase& c, const std::map<std::string, double>& golden) {
  std::vector<Expectation> out;
  for (const auto& [name, value] : golden) {
    Expectation e;
    e.metric = MetricRef::parse(name);
    e.value = value;
    e.rel_tolerance = c.golden_rel_tolerance;
    e.source = golden_path(c);
    out.push_back(std::move(e));
  }
  return out;
}

CheckResult check(const Expectation& e, const RunMetrics& runs) {
  CheckResult r;
  r.what = e.what();
  r.expected = e.expected();
  std::string note;
  auto measured = lookup(runs, e.metric, note);
  if (measured && e.over) {
    const auto over = lookup(runs, *e.over, note);
    if (!over) measured.reset();
    else if (*over == 0.0) {
      note = e.over->text() + " is 0";
      measured.reset();
    } else {
      measured = *measured / *over;
    }
  }
  if (!measured) {
    r.note = note;
    return r;
  }
  r.measured = measured;
  bool pass = true;
  if (e.value) {
    const double allowed = e.rel_tolerance ? *e.rel_tolerance * std::fabs(*e.value) : e.tolerance.value_or(0.0);
    const double off = std::fabs(*measured - *e.value);
    if (off > allowed) {
      pass = false;
      r.note = "off by " + format_measure(off) + (e.rel_tolerance && *e.value != 0.0
                                              ? " (" + format_measure(off / std::fabs(*e.value) * 100.0) + "%)"
                                              : std::string());
    }
  }
  if (e.min && *measured < *e.min) {
    pass = false;
    r.note = "below " + format_measure(*e.min);
  }
  if (e.max && *measured > *e.max) {
    pass = false;
    r.note = "above " + format_measure(*e.max);
  }
  r.pass = pass;
  return r;
}

}  // namespace virtsim
