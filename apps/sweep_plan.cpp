#include "sweep_plan.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "virtsim/common/error.h"

namespace virtsim {

namespace {

std::string where(const std::string& origin, const toml::node& node) {
  const auto& begin = node.source().begin;
  return origin + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
}

// One axis of the product: one list (grid) or several advanced together (zip).
struct Axis {
  std::string key;  // the first list's key as the file writes it: sweep.grid.X or sweep.zip.X
  std::vector<std::string> names;
  std::vector<std::vector<ParamValue>> values;  // per name, all of one length
  std::pair<std::uint32_t, std::uint32_t> position{0, 0};  // where the file writes it
  std::size_t length() const { return values.front().size(); }
};

ParamValue scalar_value(const toml::node& node, const std::string& key, const std::string& origin) {
  if (const auto* v = node.as_boolean()) return v->get();
  if (const auto* v = node.as_integer()) return static_cast<std::int64_t>(v->get());
  if (const auto* v = node.as_floating_point()) return v->get();
  if (const auto* v = node.as_string()) return v->get();
  throw ConfigError(where(origin, node) + ": key '" + key +
                    "': expected booleans, integers, floats or strings in the list");
}

std::vector<ParamValue> list_values(const toml::node& node, const std::string& key, const std::string& origin) {
  const auto* array = node.as_array();
  if (!array)
    throw ConfigError(where(origin, node) + ": key '" + key + "': expected a list of values to sweep, e.g. " +
                      key + " = [1, 2]");
  if (array->empty()) throw ConfigError(where(origin, node) + ": key '" + key + "': the list is empty");
  std::vector<ParamValue> out;
  for (const auto& item : *array) out.push_back(scalar_value(item, key, origin));
  return out;
}

// Every list under `table`, nested tables flattened into dotted names.
void collect_lists(const toml::table& table, const std::string& prefix,
                   std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto&& [key, node] : table) {
    const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const auto* sub = node.as_table())
      collect_lists(*sub, name, out);
    else
      out.emplace_back(name, &node);
  }
}

std::pair<std::uint32_t, std::uint32_t> position_of(const toml::node& node) {
  return {node.source().begin.line, node.source().begin.column};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": config file not found or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string SweepPlan::run_id(std::size_t index) {
  char text[32];
  std::snprintf(text, sizeof text, "run%04zu", index);
  return text;
}

std::string SweepPlan::points_text() const {
  std::string out = "columns";
  for (const auto& c : columns) out += " " + c;
  out += "\n";
  for (const auto& p : points) {
    out += std::to_string(p.index);
    for (const auto& a : p.assignments) out += " " + a.name + "=" + format_value(a.value);
    out += p.seed_listed ? " seed=" + std::to_string(p.seed) : " seed+" + std::to_string(p.seed_offset);
    out += "\n";
  }
  return out;
}

namespace {

constexpr const char* kPlanHeader = "virtsim sweep plan, version 2\n";

// A record is "<tag> <length>\n<bytes>\n": any bytes, newlines included, read back exactly.
void put(std::string& out, const std::string& tag, const std::string& bytes) {
  out += tag + " " + std::to_string(bytes.size()) + "\n" + bytes + "\n";
}

bool take(const std::string& text, std::size_t& at, std::string& tag, std::string& bytes) {
  const std::size_t space = text.find(' ', at), newline = text.find('\n', at);
  if (space == std::string::npos || newline == std::string::npos || space > newline) return false;
  tag = text.substr(at, space - at);
  const std::string length_text = text.substr(space + 1, newline - space - 1);
  if (length_text.empty() || length_text.find_first_not_of("0123456789") != std::string::npos) return false;
  const std::size_t length = std::stoull(length_text);
  if (length > text.size() - newline - 1 || text.size() - newline - 1 - length < 1) return false;
  bytes = text.substr(newline + 1, length);
  if (text[newline + 1 + length] != '\n') return false;
  at = newline + 2 + length;
  return true;
}

// "line N was '...', is now '...'" for the first line where two texts differ.
std::string first_different_line(const std::string& planned, const std::string& now) {
  std::istringstream a(planned), b(now);
  std::string line_a, line_b;
  for (std::size_t line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) return "the same lines, other line ends";
    if (!more_a || !more_b || line_a != line_b) {
      const auto shown = [](bool more, const std::string& l) {
        return more ? "'" + (l.size() > 60 ? l.substr(0, 60) + "..." : l) + "'" : std::string("the end");
      };
      return "line " + std::to_string(line) + " was " + shown(more_a, line_a) + ", is now " +
             shown(more_b, line_b);
    }
  }
}

std::string sets_text(const std::vector<std::string>& sets) {
  if (sets.empty()) return "no --set";
  std::string out;
  for (const auto& s : sets) {
    out += out.empty() ? "--set '" : " --set '";
    for (const char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);  // one line of message
    out += "'";
  }
  return out;
}

}  // namespace

std::string PlanRecord::serialize() const {
  std::string out = kPlanHeader;
  put(out, "config", config_text);
  for (const auto& [name, text] : presets) {
    put(out, "preset", name);
    put(out, "text", text);
  }
  for (const auto& s : sets) put(out, "set", s);
  put(out, "points", points);
  return out;
}

std::optional<PlanRecord> PlanRecord::parse(const std::string& text) {
  const std::string header = kPlanHeader;
  if (text.compare(0, header.size(), header) != 0) return std::nullopt;
  PlanRecord record;
  std::size_t at = header.size();
  std::string tag, bytes, preset;
  bool have_config = false, have_points = false;
  while (at < text.size()) {
    if (!take(text, at, tag, bytes)) return std::nullopt;
    if (tag == "config") {
      record.config_text = bytes;
      have_config = true;
    } else if (tag == "preset") {
      preset = bytes;
    } else if (tag == "text") {
      record.presets[preset] = bytes;
    } else if (tag == "set") {
      record.sets.push_back(bytes);
    } else if (tag == "points") {
      record.points = bytes;
      have_points = true;
    } else {
      return std::nullopt;
    }
  }
  if (!have_config || !have_points) return std::nullopt;
  return record;
}

std::string PlanRecord::difference_from(const PlanRecord& planned) const {
  std::vector<std::string> differences;
  if (config_text != planned.config_text)
    differences.push_back("the config's text differs (" +
                          first_different_line(planned.config_text, config_text) + ")");
  if (sets != planned.sets)
    differences.push_back("the points were planned with " + sets_text(planned.sets) + ", now with " +
                          sets_text(sets));
  for (const auto& [name, text] : planned.presets) {
    const auto it = presets.find(name);
    if (it == presets.end())
      differences.push_back("preset " + name + " was loaded then, not now");
    else if (it->second != text)
      differences.push_back("preset " + name + " differs (" + first_different_line(text, it->second) + ")");
  }
  for (const auto& [name, text] : presets)
    if (!planned.presets.count(name)) differences.push_back("preset " + name + " is loaded now, not then");
  if (differences.empty() && points != planned.points) differences.push_back("the points differ");
  std::string out;
  for (const auto& d : differences) out += (out.empty() ? "" : "; ") + d;
  return out;
}

SweepPlan plan_sweep(const std::string& config_path) { return plan_sweep_text(read_file(config_path), config_path); }

SweepPlan plan_sweep_text(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError(origin + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column) +
                      ": TOML syntax error: " + std::string(error.description()));
  }
  const auto* sweep = root.get_as<toml::table>("sweep");
  if (!sweep)
    throw ConfigError(origin + ": no [sweep] table; a sweep config names the values to sweep, e.g.\n  [sweep.grid]\n"
                      "  workload.kind = [\"gups\", \"fork_and_wait\"]");

  std::vector<Axis> axes;
  std::set<std::string> swept;
  const auto claim = [&](const std::string& name, const toml::node& node) {
    if (name == "run.seed")
      throw ConfigError(where(origin, node) + ": key '" + name + "': sweep seeds with [sweep] seeds = N or a list");
    if (!swept.insert(name).second)
      throw ConfigError(where(origin, node) + ": key '" + name + "' is swept twice");
  };

  std::vector<std::uint64_t> listed_seeds;
  std::uint64_t seed_count = 1;
  bool checkpoint = false;
  for (auto&& [key, node] : *sweep) {
    const std::string name(key.str());
    if (name == "seeds") {
      if (const auto* count = node.as_integer()) {
        if (count->get() < 1)
          throw ConfigError(where(origin, node) + ": key 'sweep.seeds': expected at least 1 seed, got " +
                            std::to_string(count->get()));
        seed_count = static_cast<std::uint64_t>(count->get());
        if (seed_count > kMaxSweepPoints)
          throw ConfigError(where(origin, node) + ": key 'sweep.seeds': " + std::to_string(seed_count) +
                            " seeds make more points than a sweep may have (at most " +
                            std::to_string(kMaxSweepPoints) + ")");
      } else if (const auto* list = node.as_array()) {
        if (list->empty()) throw ConfigError(where(origin, node) + ": key 'sweep.seeds': the list is empty");
        for (const auto& item : *list) {
          const auto* seed = item.as_integer();
          if (!seed || seed->get() < 0)
            throw ConfigError(where(origin, item) + ": key 'sweep.seeds': expected non-negative integer seeds");
          listed_seeds.push_back(static_cast<std::uint64_t>(seed->get()));
        }
        seed_count = listed_seeds.size();
        if (seed_count > kMaxSweepPoints)
          throw ConfigError(where(origin, node) + ": key 'sweep.seeds': " + std::to_string(seed_count) +
                            " seeds make more points than a sweep may have (at most " +
                            std::to_string(kMaxSweepPoints) + ")");
      } else {
        throw ConfigError(where(origin, node) +
                          ": key 'sweep.seeds': expected a number of seeds (3) or a list of seeds ([1, 7, 9])");
      }
    } else if (name == "grid") {
      const auto* grid = node.as_table();
      if (!grid) throw ConfigError(where(origin, node) + ": key 'sweep.grid': expected a table of lists");
      std::vector<std::pair<std::string, const toml::node*>> lists;
      collect_lists(*grid, "", lists);
      for (const auto& [list_name, list] : lists) {
        claim(list_name, *list);
        Axis axis;
        axis.key = "sweep.grid." + list_name;
        axis.names.push_back(list_name);
        axis.values.push_back(list_values(*list, "sweep.grid." + list_name, origin));
        axis.position = position_of(*list);
        axes.push_back(std::move(axis));
      }
    } else if (name == "zip") {
      const auto* groups = node.as_array();
      if (!groups || !groups->is_array_of_tables())
        throw ConfigError(where(origin, node) + ": key 'sweep.zip': expected [[sweep.zip]] tables of lists");
      for (const auto& group : *groups) {
        std::vector<std::pair<std::string, const toml::node*>> lists;
        collect_lists(*group.as_table(), "", lists);
        std::stable_sort(lists.begin(), lists.end(), [](const auto& a, const auto& b) {
          return position_of(*a.second) < position_of(*b.second);
        });
        if (lists.empty()) throw ConfigError(where(origin, group) + ": a [[sweep.zip]] table has no lists");
        Axis axis;
        axis.key = "sweep.zip." + lists.front().first;
        axis.position = position_of(*lists.front().second);
        for (const auto& [list_name, list] : lists) {
          claim(list_name, *list);
          axis.names.push_back(list_name);
          axis.values.push_back(list_values(*list, "sweep.zip." + list_name, origin));
          axis.position = std::min(axis.position, position_of(*list));
          if (axis.values.back().size() != axis.values.front().size())
            throw ConfigError(where(origin, *list) + ": key 'sweep.zip." + list_name + "' has " +
                              std::to_string(axis.values.back().size()) + " values, but '" + axis.names.front() +
                              "' in the same [[sweep.zip]] has " + std::to_string(axis.values.front().size()) +
                              "; zipped lists advance together and need one length");
        }
        axes.push_back(std::move(axis));
      }
    } else if (name == "checkpoint") {
      const auto* on = node.as_boolean();
      if (!on) throw ConfigError(where(origin, node) + ": key 'sweep.checkpoint': expected true or false");
      checkpoint = on->get();
    } else {
      throw ConfigError(where(origin, node) + ": key 'sweep." + name +
                        "': unknown; a [sweep] table has seeds, checkpoint, [sweep.grid] and [[sweep.zip]]");
    }
  }
  if (axes.empty() && seed_count == 1)
    throw ConfigError(origin + ": [sweep] sweeps nothing: give [sweep.grid] lists, [[sweep.zip]] lists or seeds");
  std::stable_sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) { return a.position < b.position; });

  SweepPlan plan;
  plan.config_path = origin;
  plan.config_text = text;
  plan.checkpoint = checkpoint;
  // The product is checked before it is formed: total <= kMaxSweepPoints at every step.
  std::size_t total = seed_count;
  for (const auto& axis : axes) {
    for (const auto& n : axis.names) plan.columns.push_back(n);
    if (total > kMaxSweepPoints / axis.length())
      throw ConfigError(origin + ":" + std::to_string(axis.position.first) + ":" +
                        std::to_string(axis.position.second) + ": key '" + axis.key + "': its " +
                        std::to_string(axis.length()) + " values times the " + std::to_string(total) +
                        " points of the seeds and lists before it make more points than a " +
                        "sweep may have (at most " + std::to_string(kMaxSweepPoints) + ")");
    total *= axis.length();
  }
  plan.points.reserve(total);
  for (std::size_t i = 0; i < total; ++i) {
    SweepPoint point;
    point.index = i;
    // Mixed radix, seeds the fastest digit, then the last axis.
    std::size_t rest = i / seed_count;
    const std::size_t seed_digit = i % seed_count;
    std::vector<std::size_t> digits(axes.size());
    for (std::size_t a = axes.size(); a-- > 0;) {
      digits[a] = rest % axes[a].length();
      rest /= axes[a].length();
    }
    for (std::size_t a = 0; a < axes.size(); ++a)
      for (std::size_t n = 0; n < axes[a].names.size(); ++n)
        point.assignments.push_back({axes[a].names[n], axes[a].values[n][digits[a]]});
    point.seed_listed = !listed_seeds.empty();
    if (point.seed_listed)
      point.seed = listed_seeds[seed_digit];
    else
      point.seed_offset = seed_digit;
    plan.points.push_back(std::move(point));
  }
  return plan;
}

}  // namespace virtsim
