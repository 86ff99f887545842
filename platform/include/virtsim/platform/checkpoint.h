#pragma once
// Checkpoints: a run's functional state at the start of its region of interest, written to a
// file that other runs start from (docs/checkpoints.md). The file is
//   "VSIMCKPT" | u32 format version | string virtsim version | u64 digest of the functional
//   settings | the functional settings (count, then key and value as JSON text) | u64 state
//   bytes | u64 compressed bytes | u64 CRC-32 of the state | the state, zstd-compressed
// with integers little-endian and strings as a u64 length and the bytes. The state is what
// System::save_checkpoint writes (models' save_state, each section tagged).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/state_stream.h"

namespace virtsim {

// checkpoint.*: where to save a checkpoint and where to start from one.
class CheckpointParameters {
 public:
  explicit CheckpointParameters(const Scope& scope);
  Param<std::string> save, load;
  Param<bool> stop;
  Param<bool> microarchitecture;
};

// A parameter is functional unless it only times what the guest does: TLB, walk-cache and cache
// geometry and latencies, core timing, clock, quantum, statistics dumps, transition costs, and
// what only reports (system.kernel.state_digest, the experiment's and checkpoint's own keys). Two
// runs whose functional settings agree reach the same guest state at the same reference.
bool is_functional_parameter(const std::string& name);
// Every declared functional parameter's resolved value as JSON text, by name.
std::vector<std::pair<std::string, std::string>> functional_settings(const ParamRegistry& params);

constexpr std::uint32_t kCheckpointFormatVersion = 3;

// Writes `state` with its header to `path` (a file beside it first, renamed into place: a failed
// write leaves nothing). Throws FileError.
void write_checkpoint(const std::string& path, const std::vector<std::pair<std::string, std::string>>& settings,
                      const std::vector<std::uint8_t>& state);
// The state of checkpoint `path`, checked: its magic, format and virtsim version, that its
// functional settings are `settings` (else the first key that differs, with both values), its
// size and its digest. Throws CheckpointError naming `key` (the parameter that named the file),
// the file, and the byte offset or field.
std::vector<std::uint8_t> read_checkpoint(const std::string& key, const std::string& path,
                                          const std::vector<std::pair<std::string, std::string>>& settings);

}  // namespace virtsim
