#pragma once
// Parameters declared once, in the component that uses them (docs/concepts.md).
//
// A component declares `Param<T> entries{scope, "entries", 64, "entries", "...", {1, 4096}}`.
// The full dotted name comes from the scope (the SystemC hierarchy, e.g.
// "system.cpu0.dtlb.entries"). The registry holds the values a config file or --set gave;
// declaring a parameter takes its configured value (checked for type and range) or its
// default. After elaboration, check_all_used() turns every configured key that matched
// no parameter into an error with a did-you-mean suggestion.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "virtsim/common/error.h"

// Initializes a parameter or statistic member under its own name, so no name is typed
// twice: VIRTSIM_MEMBER(misses, scope, "lookups", "...") is misses(scope, "misses", ...).
#define VIRTSIM_MEMBER(member, scope, ...) member(scope, #member, __VA_ARGS__)

namespace virtsim {

enum class ParamType { Bool, Int, Float, String };
const char* to_string(ParamType type);

using ParamValue = std::variant<bool, std::int64_t, double, std::string>;
std::string format_value(const ParamValue& value);  // TOML-like literal: 64, 2.5, "lru", true
std::string to_json(const ParamValue& value);

// Where a configured value came from, for error messages.
struct ValueSource {
  std::string file;  // config or preset path; "--set" for the command line
  int line = 0;
  int column = 0;
  std::string describe() const;  // "exp.toml:3:1" or "--set"
};

struct ParamSpec {
  std::string name;  // full dotted name
  ParamType type = ParamType::Int;
  ParamValue default_value;
  std::string unit;
  std::string description;
  std::optional<double> min;  // inclusive bounds for Int and Float
  std::optional<double> max;
  std::vector<std::string> choices;  // allowed values for String (empty: any)
  std::string allowed() const;       // human-readable allowed range or choices
};

class ParamRegistry {
 public:
  // Configuration side. A key is a dotted name; a component may be '*' to match any one
  // component (system.cpu*.dtlb.entries is written "system.*.dtlb.entries" or
  // "system.cpu*.dtlb.entries"). A later set of the same key replaces the earlier one.
  void set_value(const std::string& key, ParamValue value, ValueSource source);
  bool has_value(const std::string& key) const;
  // The value configured for the dotted `name` (the last key matching it), declared or not.
  std::optional<ParamValue> configured_value(const std::string& name) const;
  // Where that value was configured (a config file, a preset or --set).
  std::optional<ValueSource> configured_source(const std::string& name) const;

  // Declaration side: records the spec, returns the resolved value converted to the
  // spec's type. Throws ConfigError on a type mismatch or out-of-range value, naming key
  // and source. Declaring the same name twice is a programming error (std::logic_error).
  ParamValue declare(const ParamSpec& spec);

  // Every configured key must have matched at least one declared parameter.
  void check_all_used() const;

  // Where the value of parameter `name` was configured ("exp.toml:3:1", "--set KEY"), or
  // nullopt when it has its default.
  std::optional<ValueSource> source_of(const std::string& name) const;

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find_spec(const std::string& name) const;
  // Resolved value of every declared parameter, in declaration order.
  const std::vector<std::pair<std::string, ParamValue>>& resolved() const { return resolved_; }
  std::string resolved_json() const;  // {"system.cpu0.dtlb.entries": 64, ...}

  // Closest declared names to `key` by edit distance, best first (for did-you-mean).
  std::vector<std::string> suggestions(const std::string& key, std::size_t max_count = 3) const;

 private:
  struct Configured {
    std::string key;
    ParamValue value;
    ValueSource source;
    bool used = false;
  };
  const Configured* match(const std::string& name) const;

  std::vector<Configured> configured_;  // in insertion order; the last match wins
  std::vector<ParamSpec> specs_;
  std::map<std::string, std::size_t> spec_index_;
  std::vector<std::pair<std::string, ParamValue>> resolved_;
};

// True if dotted `pattern` (components may contain '*') matches dotted `name`.
bool key_matches(const std::string& pattern, const std::string& name);

class StatRegistry;

// A place in the component hierarchy: the registries to declare into and a dotted path.
// Registries may be null (a component built bare in a benchmark): parameters then take
// their defaults and statistics are simply not listed anywhere.
struct Scope {
  ParamRegistry* params = nullptr;
  StatRegistry* stats = nullptr;
  std::string path;

  Scope child(const std::string& leaf) const { return {params, stats, join(leaf)}; }
  std::string join(const std::string& leaf) const { return path.empty() ? leaf : path + "." + leaf; }
};

namespace detail {
template <typename T>
constexpr ParamType param_type_of() {
  if constexpr (std::is_same_v<T, bool>) return ParamType::Bool;
  else if constexpr (std::is_integral_v<T>) return ParamType::Int;
  else if constexpr (std::is_floating_point_v<T>) return ParamType::Float;
  else return ParamType::String;
}
}  // namespace detail

// Inclusive range of an Int or Float parameter.
struct Range {
  std::optional<double> min;
  std::optional<double> max;
};

// Parameters whose values their ranges allow but that a component cannot be built with
// together (entries that do not divide into ways): a ConfigError "<where>: key '<name>': <what>"
// naming the first of `leaves` (under `scope`) the config set, where it was set, or the first
// leaf when all have their defaults.
[[noreturn]] void throw_config_conflict(const Scope& scope, const std::vector<std::string>& leaves,
                                        const std::string& what);

// The geometry of a set-associative array (a TLB, a walk cache): `entries` must divide into
// `ways` and make a power-of-two number of sets, else throw_config_conflict on `leaves`.
// `also_allowed` ends the "expected" part of the message ("or 0 for no such array").
void check_set_geometry(const Scope& scope, const std::vector<std::string>& leaves, unsigned entries, unsigned ways,
                        const std::string& also_allowed = "");

template <typename T>
class Param {
 public:
  Param(const Scope& scope, const std::string& leaf, T default_value, std::string unit,
        std::string description, Range range = {}, std::vector<std::string> choices = {}) {
    ParamSpec spec;
    spec.name = scope.join(leaf);
    spec.type = detail::param_type_of<T>();
    spec.default_value = to_param_value(default_value);
    spec.unit = std::move(unit);
    spec.description = std::move(description);
    spec.min = range.min;
    spec.max = range.max;
    if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
      if (!spec.min) spec.min = 0.0;
    }
    spec.choices = std::move(choices);
    name_ = spec.name;
    value_ = scope.params ? from_param_value(scope.params->declare(spec)) : default_value;
  }

  const T& get() const { return value_; }
  operator const T&() const { return value_; }  // NOLINT: reads like the value it holds
  const std::string& name() const { return name_; }

 private:
  static ParamValue to_param_value(const T& v) {
    if constexpr (std::is_same_v<T, bool>) return v;
    else if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(v);
    else if constexpr (std::is_floating_point_v<T>) return static_cast<double>(v);
    else return std::string(v);
  }
  static T from_param_value(const ParamValue& v) {
    if constexpr (std::is_same_v<T, bool>) return std::get<bool>(v);
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(std::get<std::int64_t>(v));
    else if constexpr (std::is_floating_point_v<T>) return static_cast<T>(std::get<double>(v));
    else return std::get<std::string>(v);
  }

  std::string name_;
  T value_;
};

}  // namespace virtsim
