#include "virtsim/common/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "virtsim/common/json.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

ValueSource source_of(const std::string& origin, const toml::node& node) {
  const auto& begin = node.source().begin;
  return ValueSource{origin, static_cast<int>(begin.line), static_cast<int>(begin.column)};
}

[[noreturn]] void throw_parse_error(const std::string& origin, const toml::parse_error& error) {
  const auto& begin = error.source().begin;
  throw ConfigError(origin + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column) +
                    ": TOML syntax error: " + std::string(error.description()));
}

// A preset name, and each dotted component of the table naming it: a file name in a preset
// folder, never a path (no "/", "..", or absolute paths leading out of the preset folders).
bool is_plain_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_plain_table(const std::string& table) {
  std::size_t start = 0;
  for (std::size_t dot; (dot = table.find('.', start)) != std::string::npos; start = dot + 1)
    if (!is_plain_name(table.substr(start, dot - start))) return false;
  return is_plain_name(table.substr(start));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw ConfigError(path + ": config file not found");
    throw ConfigError(path + ": config file cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class Loader {
 public:
  Loader(ParamRegistry& registry, ConfigSources& sources) : registry_(registry), sources_(sources) {}

  void load_text(const std::string& text, const std::string& origin, const fs::path& base_dir) {
    if (std::find(stack_.begin(), stack_.end(), origin) != stack_.end())
      throw ConfigError(origin + ": preset includes itself (through " + stack_.back() + ")");
    stack_.push_back(origin);
    toml::table table;
    try {
      table = toml::parse(text, origin);
    } catch (const toml::parse_error& error) {
      throw_parse_error(origin, error);
    }
    // Presets first, so the record lists files in the order their values apply.
    const bool top_level = stack_.size() == 1;
    if (top_level) {
      sources_.has_sweep = sources_.has_sweep || table.contains("sweep");
      // The sweep runner's and the regression suite's tables, not parameters.
      for (const char* reserved : {"sweep", "case", "expect", "golden"}) table.erase(reserved);
    }
    load_presets(table, "", origin, base_dir);
    if (top_level) {
      for (const auto& [prefix, preset] : sources_.preset_overrides)
        if (!overridden_.count(prefix)) load_preset(prefix, preset, ValueSource{origin + " (sweep)"}, base_dir);
    }
    sources_.files.push_back(origin);
    sources_.text += "# file: " + origin + "\n" + text;
    if (!text.empty() && text.back() != '\n') sources_.text += "\n";
    load_values(table, "", origin);
    stack_.pop_back();
  }

 private:
  // Presets first, depth-first, so that every key the file itself sets overrides them.
  void load_presets(const toml::table& table, const std::string& prefix, const std::string& origin,
                    const fs::path& base_dir) {
    for (auto&& [key, node] : table) {
      const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
      if (const auto* sub = node.as_table()) {
        load_presets(*sub, name, origin, base_dir);
      } else if (key.str() == "preset") {
        if (prefix.empty())
          throw ConfigError(source_of(origin, node).describe() +
                            ": key 'preset' must be inside a table, e.g. machine.preset = \"skylake\"");
        const auto* value = node.as_string();
        if (!value)
          throw ConfigError(source_of(origin, node).describe() + ": key '" + name +
                            "': expected a preset name as a string");
        const auto override_it = stack_.size() == 1 ? sources_.preset_overrides.find(prefix)
                                                    : sources_.preset_overrides.end();
        if (override_it != sources_.preset_overrides.end()) {
          overridden_.insert(prefix);
          load_preset(prefix, override_it->second, source_of(origin, node), base_dir);
        } else {
          load_preset(prefix, value->get(), source_of(origin, node), base_dir);
        }
      }
    }
  }

  void load_preset(const std::string& table, const std::string& preset, const ValueSource& where,
                   const fs::path& base_dir) {
    if (!is_plain_table(table))
      throw ConfigError(where.describe() + ": key '" + table + ".preset': presets are named in tables whose names "
                        "are lowercase letters, digits, '_' and '-'");
    if (!is_plain_name(preset)) {
      std::string message = where.describe() + ": key '" + table + ".preset': " + json::quote(preset) +
                            " is not a preset name; expected a name of lowercase letters, digits, '_' and '-'";
      const auto names = available_presets(sources_.preset_dirs, table);
      if (!names.empty()) {
        message += ", one of:";
        for (const auto& n : names) message += " " + n;
      }
      throw ConfigError(message);
    }
    std::vector<fs::path> candidates;
    for (const auto& dir : sources_.preset_dirs) candidates.push_back(fs::path(dir) / table / (preset + ".toml"));
    candidates.push_back(base_dir / "presets" / table / (preset + ".toml"));
    for (const auto& candidate : candidates) {
      std::error_code ec;
      if (fs::is_regular_file(candidate, ec)) {
        const std::string path = candidate.lexically_normal().string();
        load_text(read_text(path), path, candidate.parent_path());
        return;
      }
    }
    std::string message = where.describe() + ": key '" + table + ".preset': unknown preset \"" + preset + "\"";
    const auto names = available_presets(sources_.preset_dirs, table);
    if (names.empty()) {
      message += "; no presets exist for '" + table + "'";
    } else {
      message += "; available:";
      for (const auto& n : names) message += " " + n;
    }
    throw ConfigError(message);
  }

  void load_values(const toml::table& table, const std::string& prefix, const std::string& origin) {
    for (auto&& [key, node] : table) {
      const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
      if (const auto* sub = node.as_table()) {
        load_values(*sub, name, origin);
      } else if (key.str() == "preset") {
        continue;  // handled by load_presets
      } else {
        registry_.set_value(name, to_param_value(node, name, origin), source_of(origin, node));
      }
    }
  }

  static ParamValue to_param_value(const toml::node& node, const std::string& name, const std::string& origin) {
    if (const auto* v = node.as_boolean()) return v->get();
    if (const auto* v = node.as_integer()) return static_cast<std::int64_t>(v->get());
    if (const auto* v = node.as_floating_point()) return v->get();
    if (const auto* v = node.as_string()) return v->get();
    const char* what = node.is_array() ? "an array" : "a date or time";
    throw ConfigError(source_of(origin, node).describe() + ": key '" + name + "': got " + what +
                      "; expected a boolean, integer, float or string");
  }

  ParamRegistry& registry_;
  ConfigSources& sources_;
  std::vector<std::string> stack_;
  std::set<std::string> overridden_;  // tables whose own preset a preset override replaced
};

}  // namespace

void load_config_file(const std::string& path, ParamRegistry& registry, ConfigSources& sources) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ConfigError(path + ": is a directory, expected a TOML config file");
  const std::string text = read_text(path);
  Loader(registry, sources).load_text(text, path, fs::path(path).parent_path());
}

void load_config_text(const std::string& text, const std::string& origin, ParamRegistry& registry,
                      ConfigSources& sources) {
  Loader(registry, sources).load_text(text, origin, fs::current_path());
}

void apply_set_option(const std::string& assignment, ParamRegistry& registry) {
  // One assignment per --set: a second line would be recorded with the config but not applied.
  if (std::any_of(assignment.begin(), assignment.end(), [](char c) { return c == '\n' || c == '\r'; }))
    throw ConfigError("--set " + json::quote(assignment) + ": a line break in an assignment; expected one key=value "
                      "per --set");
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + assignment + "': expected key=value, e.g. --set system.cpu0.dtlb.entries=128");
  std::string key = assignment.substr(0, eq);
  const std::string value_text = assignment.substr(eq + 1);
  key.erase(key.find_last_not_of(" \t") + 1);
  ParamValue value;
  try {
    const auto table = toml::parse("v = " + value_text);
    const auto& node = *table.get("v");
    if (const auto* b = node.as_boolean()) value = b->get();
    else if (const auto* i = node.as_integer()) value = static_cast<std::int64_t>(i->get());
    else if (const auto* f = node.as_floating_point()) value = f->get();
    else if (const auto* s = node.as_string()) value = s->get();
    else throw ConfigError("--set " + key + ": expected a boolean, integer, float or string value");
  } catch (const toml::parse_error&) {
    value = value_text;  // a bare word such as lru
  }
  registry.set_value(key, std::move(value), ValueSource{"--set " + key});
}

std::vector<std::string> available_presets(const std::vector<std::string>& preset_dirs, const std::string& table) {
  std::vector<std::string> names;
  for (const auto& dir : preset_dirs) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / table, ec)) {
      if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return out;
}

}  // namespace virtsim
