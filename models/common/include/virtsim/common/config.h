#pragma once
// Experiment configs: TOML files whose keys are parameters' dotted names (docs/configs.md).
//
//   [machine]
//   preset = "skylake"          # loads <preset dir>/machine/skylake.toml first
//   [system.cpu0.dtlb]
//   entries = 128               # the file overrides what the preset set
//
// Any table may name a preset: `X.preset = "name"` loads <preset dir>/X/name.toml before the
// rest of the file, so the file's own keys win; presets may name presets. `--set key=value`
// is applied after all files. Errors throw ConfigError naming the file (with line and column
// where TOML gives them) and the key. The top-level tables `[sweep]` (a parameter sweep,
// apps/sweep_plan.h) and `[case]`, `[[expect]]`, `[golden]` (a regression case,
// apps/regression.h) are not parameters.
#include <map>
#include <string>
#include <vector>

#include "virtsim/common/param.h"

namespace virtsim {

struct ConfigSources {
  std::vector<std::string> preset_dirs;  // searched in order
  std::string text;                      // every file read, in order, each under a header comment
  std::vector<std::string> files;        // every file read, in order
  // Presets chosen from outside the file (a sweep's `machine.preset` axis), by table: the
  // top-level file's own `X.preset` loads this one instead, and a table the file names no
  // preset for loads it first, so in both cases the file's own keys still win.
  std::map<std::string, std::string> preset_overrides;
  bool has_sweep = false;  // the top-level file has a [sweep] table
};

// Loads a config file (and the presets it names) into the registry.
void load_config_file(const std::string& path, ParamRegistry& registry, ConfigSources& sources);

// Loads config text given in memory (the embedded default experiment), named `origin`.
void load_config_text(const std::string& text, const std::string& origin, ParamRegistry& registry,
                      ConfigSources& sources);

// Applies one `key=value` command-line assignment. The value is read as a TOML value
// (64, 2.5, true, "lru"); a bare word that is not valid TOML is taken as a string.
void apply_set_option(const std::string& assignment, ParamRegistry& registry);

// The items of a comma-separated list ("native, shadow"), blanks dropped and empty items skipped.
std::vector<std::string> split_list(const std::string& text);

// Names of the presets available for a table ("machine"), for error messages and docs.
std::vector<std::string> available_presets(const std::vector<std::string>& preset_dirs,
                                           const std::string& table);

}  // namespace virtsim
