#pragma once
// The points of a parameter sweep, read from the `[sweep]` table of an experiment config:
//
//   [sweep]
//   seeds = 3                        # each point under seeds run.seed + 0, 1, 2 (or a list: [1, 7])
//   [sweep.grid]                     # the cartesian product of these lists
//   memory_virtualization = ["native", "shadow", "nested"]
//   workload.kind = ["gups", "fork_and_wait"]
//   machine.preset = ["skylake", "nehalem"]
//   [[sweep.zip]]                    # lists advanced together: one axis of the product
//   system.nested.page_size = ["4k", "2m"]
//   system.shadow.host_page_size = ["4k", "2m"]
//   [sweep]
//   checkpoint = true                # points that differ in timing only share one warm-up
//
// Axes vary in the order the file writes them, the last fastest; seeds vary fastest of all.
// Plain C++ (no SystemC): tests drive it directly, the sweep command runs what it plans.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "virtsim/common/param.h"

namespace virtsim {

// The axis name that selects a memory virtualization (the names of experiment.compare).
inline constexpr const char* kMemoryVirtualizationAxis = "memory_virtualization";

struct SweepAssignment {
  std::string name;  // a parameter's dotted name, `X.preset`, or memory_virtualization
  ParamValue value;
};

struct SweepPoint {
  std::size_t index = 0;
  std::vector<SweepAssignment> assignments;  // one per swept name, in column order
  // The seed: run.seed plus seed_offset, or exactly `seed` when the sweep lists seeds.
  bool seed_listed = false;
  std::uint64_t seed = 0;
  std::uint64_t seed_offset = 0;
};

struct SweepPlan {
  std::string config_path;
  std::string config_text;            // the config file as read
  std::vector<std::string> columns;   // the swept names, in order (seeds excluded)
  // [sweep] checkpoint: the points whose functional parameters agree warm up once, into a
  // checkpoint (docs/checkpoints.md) each of them starts from.
  bool checkpoint = false;
  std::vector<SweepPoint> points;
  // The points as text, a line each: the swept values and the seed.
  std::string points_text() const;
  // The run id of point i in the merged result file: run0000, run0001, ...
  static std::string run_id(std::size_t index);
};

// What determines a sweep's points, kept beside them (plan.txt) so that --resume, the Slurm
// array tasks and the merge can tell whether they would still run the same points: the
// config's text, each preset it loads (named table/name.toml, not by where it was found),
// the --set assignments and the points. Nothing depends on how the config's path is spelt.
struct PlanRecord {
  std::string config_text;
  std::map<std::string, std::string> presets;  // "machine/skylake.toml" -> its text
  std::vector<std::string> sets;
  std::string points;  // SweepPlan::points_text()

  std::string serialize() const;
  // nullopt for text that is not a serialized record (an older virtsim's plan.txt, say).
  static std::optional<PlanRecord> parse(const std::string& text);
  // What differs from `planned`, in words for an error message; "" when nothing does.
  std::string difference_from(const PlanRecord& planned) const;
};

// The cap on a sweep's points.
inline constexpr std::size_t kMaxSweepPoints = 1000000;

// Reads the `[sweep]` table of `config_path`. Throws ConfigError naming the file, line and
// key for a missing table, an empty or non-list axis, zipped lists of unequal length, an
// unknown key, a name swept twice or more than kMaxSweepPoints points.
SweepPlan plan_sweep(const std::string& config_path);
// The same from text already read (`origin` names it in errors).
SweepPlan plan_sweep_text(const std::string& text, const std::string& origin);

}  // namespace virtsim
