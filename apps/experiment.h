#pragma once
// What `virtsim run`, `virtsim sweep` and `virtsim regress` share: loading an experiment and
// simulating it once into a result file.
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "virtsim/common/config.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"

namespace virtsim {

// The registries and the text of what was loaded, ready for elaboration.
struct LoadedConfig {
  ParamRegistry params;
  StatRegistry stats;
  ConfigSources sources;
  std::string name;  // for the default output file name
  // The experiment's own parameter: the memory virtualizations to compare.
  std::optional<Param<std::string>> compare;
};

// The metrics `virtsim run` and `virtsim stats` print, in the order the docs list them.
extern const std::vector<std::string> kCanonicalMetrics;
// A metric's value as printed: an integer without decimals, anything else with four.
std::string format_number(double v);
// Where presets are looked for (VIRTSIM_PRESET_PATH first, then the installed presets).
std::vector<std::string> preset_dirs();

// Loads the config file (or the embedded default), its presets and the --set assignments.
void load(const ConfigOptions& options, LoadedConfig& loaded);

// The --set assignments that make the loaded experiment run under one memory virtualization
// (a name of experiment.compare: native, shadow, nested, ...). Throws ConfigError for others.
std::vector<std::string> mode_settings(const std::string& mode, const ParamRegistry& params);

// Elaborates the loaded experiment's platform as a run would, without simulating: throws what
// the run would throw before it starts (a bad value, a key that names no parameter). SystemC
// elaborates once per process: call it in a process that runs nothing else.
void check_elaboration(LoadedConfig& loaded);

// One simulation of the loaded experiment into `output`, as run `run_id`: 0 when it
// completed, 1 when it stopped midway (written with status "partial").
int run_one(const RunOptions& options, LoadedConfig& loaded, const std::string& output, const std::string& run_id);

}  // namespace virtsim
