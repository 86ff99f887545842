#include "virtsim/common/param.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "virtsim/common/json.h"

namespace virtsim {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "bool";
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::String: return "string";
  }
  return "?";
}

std::string format_value(const ParamValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>) return std::to_string(v);
        else if constexpr (std::is_same_v<T, double>) {
          // Keep floats recognisable as floats in TOML and JSON: 2.0, not 2.
          std::string text = json::number(v);
          if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
          return text;
        }
        else return json::quote(v);
      },
      value);
}

std::string to_json(const ParamValue& value) { return format_value(value); }

std::string ValueSource::describe() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string ParamSpec::allowed() const {
  if (type == ParamType::Bool) return "true or false";
  if (type == ParamType::String) {
    if (choices.empty()) return "any string";
    std::string out = "one of";
    for (std::size_t i = 0; i < choices.size(); ++i) out += (i ? ", \"" : " \"") + choices[i] + "\"";
    return out;
  }
  const char* what = type == ParamType::Int ? "an integer" : "a number";
  if (min && max) return std::string(what) + " in [" + json::number(*min) + ", " + json::number(*max) + "]";
  if (min) return std::string(what) + " >= " + json::number(*min);
  if (max) return std::string(what) + " <= " + json::number(*max);
  return what;
}

bool key_matches(const std::string& pattern, const std::string& name) {
  // Component-wise glob: '*' within a component matches any run of characters except '.'.
  std::size_t p = 0, n = 0, star_p = std::string::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_n = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star_p != std::string::npos && name[star_n] != '.') {
      p = star_p + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void ParamRegistry::set_value(const std::string& key, ParamValue value, ValueSource source) {
  configured_.push_back({key, std::move(value), std::move(source), false});
}

bool ParamRegistry::has_value(const std::string& key) const {
  return std::any_of(configured_.begin(), configured_.end(),
                     [&](const Configured& c) { return c.key == key; });
}

std::optional<ParamValue> ParamRegistry::configured_value(const std::string& name) const {
  if (const Configured* c = match(name)) return c->value;
  return std::nullopt;
}

std::optional<ValueSource> ParamRegistry::configured_source(const std::string& name) const {
  if (const Configured* c = match(name)) return c->source;
  return std::nullopt;
}

const ParamRegistry::Configured* ParamRegistry::match(const std::string& name) const {
  for (auto it = configured_.rbegin(); it != configured_.rend(); ++it)
    if (key_matches(it->key, name)) return &*it;
  return nullptr;
}

namespace {

[[noreturn]] void fail(const ParamSpec& spec, const ValueSource& source, const std::string& what) {
  throw ConfigError(source.describe() + ": key '" + spec.name + "': " + what + "; expected " +
                    spec.allowed() + (spec.unit.empty() ? "" : " (" + spec.unit + ")"));
}

const char* value_type_name(const ParamValue& v) {
  switch (v.index()) {
    case 0: return "a boolean";
    case 1: return "an integer";
    case 2: return "a float";
    default: return "a string";
  }
}

// The value as a message shows it: TOML's nan and inf rather than JSON's null.
std::string shown(const ParamValue& v) {
  if (const auto* d = std::get_if<double>(&v); d && !std::isfinite(*d)) return std::isnan(*d) ? "nan" : *d > 0 ? "inf" : "-inf";
  return format_value(v);
}

// Converts a configured value to the spec's type, or throws naming key and source.
ParamValue coerce(const ParamSpec& spec, const ParamValue& value, const ValueSource& source) {
  ParamValue out;
  switch (spec.type) {
    case ParamType::Bool:
      if (!std::holds_alternative<bool>(value)) fail(spec, source, std::string("got ") + value_type_name(value));
      return value;
    case ParamType::String: {
      if (!std::holds_alternative<std::string>(value)) fail(spec, source, std::string("got ") + value_type_name(value));
      const auto& s = std::get<std::string>(value);
      if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end())
        fail(spec, source, "got \"" + s + "\"");
      return value;
    }
    case ParamType::Int: {
      if (std::holds_alternative<std::int64_t>(value)) {
        out = value;
      } else if (std::holds_alternative<double>(value) && std::get<double>(value) == std::floor(std::get<double>(value)) &&
                 std::fabs(std::get<double>(value)) < 9.0e15) {
        out = static_cast<std::int64_t>(std::get<double>(value));
      } else {
        fail(spec, source, std::string("got ") + value_type_name(value) + " " + shown(value));
      }
      const double v = static_cast<double>(std::get<std::int64_t>(out));
      if ((spec.min && v < *spec.min) || (spec.max && v > *spec.max))
        fail(spec, source, "value " + format_value(out) + " is out of range");
      return out;
    }
    case ParamType::Float: {
      if (std::holds_alternative<double>(value)) out = value;
      else if (std::holds_alternative<std::int64_t>(value)) out = static_cast<double>(std::get<std::int64_t>(value));
      else fail(spec, source, std::string("got ") + value_type_name(value) + " " + format_value(value));
      const double v = std::get<double>(out);
      if (!std::isfinite(v)) fail(spec, source, "got " + shown(out) + ", not a finite number");
      if ((spec.min && v < *spec.min) || (spec.max && v > *spec.max))
        fail(spec, source, "value " + format_value(out) + " is out of range");
      return out;
    }
  }
  return value;
}

}  // namespace

ParamValue ParamRegistry::declare(const ParamSpec& spec) {
  if (spec_index_.count(spec.name)) throw std::logic_error("parameter declared twice: " + spec.name);
  // A default outside its own range is a bug in the declaring component.
  coerce(spec, spec.default_value, ValueSource{"default of " + spec.name});
  spec_index_[spec.name] = specs_.size();
  specs_.push_back(spec);
  // The last match wins; earlier, overridden ones count as used (a preset set them
  // deliberately) and must be valid too: a bad value is an error even where a later one
  // replaces it (a --set a comparison's modes override, say).
  ParamValue value = spec.default_value;
  for (auto& c : configured_) {
    if (!key_matches(c.key, spec.name)) continue;
    c.used = true;
    value = coerce(spec, c.value, c.source);
  }
  resolved_.emplace_back(spec.name, value);
  return value;
}

const ParamSpec* ParamRegistry::find_spec(const std::string& name) const {
  auto it = spec_index_.find(name);
  return it == spec_index_.end() ? nullptr : &specs_[it->second];
}

namespace {
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}
}  // namespace

std::vector<std::string> ParamRegistry::suggestions(const std::string& key, std::size_t max_count) const {
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& spec : specs_) scored.emplace_back(edit_distance(key, spec.name), spec.name);
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  // Only close names help: allow about a third of the key's length in edits.
  const std::size_t limit = std::max<std::size_t>(3, key.size() / 3);
  for (const auto& [distance, name] : scored) {
    if (out.size() == max_count || distance > limit) break;
    out.push_back(name);
  }
  return out;
}

void ParamRegistry::check_all_used() const {
  for (const auto& c : configured_) {
    if (c.used) continue;
    std::string message = c.source.describe() + ": unknown key '" + c.key + "'";
    const auto near = suggestions(c.key);
    if (!near.empty()) {
      message += "; did you mean";
      for (std::size_t i = 0; i < near.size(); ++i) message += (i ? ", '" : " '") + near[i] + "'";
      message += "?";
    }
    message += " (virtsim describe lists every parameter)";
    throw ConfigError(message);
  }
}

std::optional<ValueSource> ParamRegistry::source_of(const std::string& name) const {
  if (const Configured* c = match(name)) return c->source;
  return std::nullopt;
}

void throw_config_conflict(const Scope& scope, const std::vector<std::string>& leaves, const std::string& what) {
  std::string name = scope.join(leaves.at(0));
  std::optional<ValueSource> source;
  for (const auto& leaf : leaves) {
    if (!scope.params) break;
    if ((source = scope.params->source_of(scope.join(leaf)))) {
      name = scope.join(leaf);
      break;
    }
  }
  throw ConfigError((source ? source->describe() + ": " : std::string()) + "key '" + name + "': " + what);
}

void check_set_geometry(const Scope& scope, const std::vector<std::string>& leaves, unsigned entries, unsigned ways,
                        const std::string& also_allowed) {
  const std::string expected = "; expected entries = ways x a power of two (sets)" + also_allowed;
  if (ways == 0 || entries % ways != 0)
    throw_config_conflict(scope, leaves,
                          std::to_string(entries) + " entries do not divide into " + std::to_string(ways) + " ways" +
                              expected);
  const unsigned sets = entries / ways;
  if (sets & (sets - 1))
    throw_config_conflict(scope, leaves,
                          std::to_string(entries) + " entries in " + std::to_string(ways) + " ways make " +
                              std::to_string(sets) + " sets, not a power of two" + expected);
}

std::string ParamRegistry::resolved_json() const {
  std::string out = "{";
  for (std::size_t i = 0; i < resolved_.size(); ++i) {
    if (i) out += ", ";
    out += json::quote(resolved_[i].first) + ": " + to_json(resolved_[i].second);
  }
  return out + "}";
}

}  // namespace virtsim
