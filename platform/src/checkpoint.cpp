#include "virtsim/platform/checkpoint.h"

#include <unistd.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>

#include "virtsim/common/error.h"
#include "virtsim/common/output_files.h"
#include "virtsim/common/version.h"

namespace virtsim {

namespace {
constexpr char kMagic[8] = {'V', 'S', 'I', 'M', 'C', 'K', 'P', 'T'};

std::uint64_t fnv(const std::uint8_t* p, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
std::uint64_t settings_digest(const std::vector<std::pair<std::string, std::string>>& settings) {
  StateWriter w;
  for (const auto& [k, v] : settings) {
    w.put_string(k);
    w.put_string(v);
  }
  return fnv(w.bytes().data(), w.bytes().size());
}
}  // namespace

CheckpointParameters::CheckpointParameters(const Scope& scope)
    : VIRTSIM_MEMBER(save, scope, std::string(), "",
                     "file to write a checkpoint to at the start of the region of interest (the end of the "
                     "workload's warm-up); empty: none (docs/checkpoints.md)"),
      VIRTSIM_MEMBER(load, scope, std::string(), "",
                     "checkpoint file to start from: the run begins at the region of interest with the guest state "
                     "the file holds; its functional parameters must be the saving run's; empty: none"),
      VIRTSIM_MEMBER(stop, scope, false, "", "end the run once checkpoint.save is written (a warm-up-only run)"),
      VIRTSIM_MEMBER(microarchitecture, scope, true, "",
                     "saving: write the warmed TLBs, walk caches, nested TLB and caches too; loading: restore "
                     "them (each whose geometry is this run's; the others start cold), else start them all cold") {}

bool is_functional_parameter(const std::string& name) {
  static const std::regex timing(
      R"(^(stats|experiment|checkpoint)\..*)"
      R"(|^system\.(clock_ghz|quantum_cycles|line_bytes)$)"
      R"(|^system\.(llc|cache(\d+|\*)|mmu(\d+|\*)|features)\..*)"
      R"(|^system\.memory\.(latency|host_budget_mib)$)"
      R"(|^system\.(cpu\d+|cpu\*|\*)\.(dtlb|itlb|stlb)\..*)"
      R"(|^system\.(cpu\d+|cpu\*|\*)\.(cpi|core_model|dispatch_width|rob_entries|long_latency_cycles|hlt_wakeup_cycles)$)"
      R"(|^system\.(cpu\d+|cpu\*|\*)\.(string_lines_in_flight|itlb_enabled|stlb_enabled)$)"
      R"(|^system\.vmx\.[a-z_]+_cycles$)"
      R"(|^system\.kernel\d*\.state_digest$)");
  return !std::regex_match(name, timing);
}

std::vector<std::pair<std::string, std::string>> functional_settings(const ParamRegistry& params) {
  std::map<std::string, std::string> sorted;
  for (const auto& [name, value] : params.resolved())
    if (is_functional_parameter(name)) sorted[name] = to_json(value);
  return {sorted.begin(), sorted.end()};
}

void write_checkpoint(const std::string& path, const std::vector<std::pair<std::string, std::string>>& settings,
                      const std::vector<std::uint8_t>& state) {
  StateWriter head;
  head.put_bytes(kMagic, sizeof kMagic);
  head.put<std::uint32_t>(kCheckpointFormatVersion);
  head.put_string(version());
  head.put<std::uint64_t>(settings_digest(settings));
  head.put<std::uint64_t>(settings.size());
  for (const auto& [k, v] : settings) {
    head.put_string(k);
    head.put_string(v);
  }
  std::vector<std::uint8_t> packed(ZSTD_compressBound(state.size()));
  const std::size_t n = ZSTD_compress(packed.data(), packed.size(), state.data(), state.size(), 3);
  if (ZSTD_isError(n)) throw FileError(path + ": compressing the checkpoint failed: " + ZSTD_getErrorName(n));
  head.put<std::uint64_t>(state.size());
  head.put<std::uint64_t>(n);
  head.put<std::uint64_t>(crc32_of(state.data(), state.size()));
  // Whole or not at all: a temporary beside the file, renamed into place (replacing an older
  // checkpoint of that name).
  check_output_path(path, true);
  int fd = -1;
  const std::string temporary = create_temporary(path, &fd);
  int error = write_all(fd, head.bytes().data(), head.bytes().size());
  if (!error) error = write_all(fd, packed.data(), n);
  ::close(fd);
  if (error) {
    std::remove(temporary.c_str());
    throw FileError(path + ": cannot write the checkpoint: " + system_error_text(error));
  }
  install_temporary(temporary, path, true);
}

std::vector<std::uint8_t> read_checkpoint(const std::string& key, const std::string& path,
                                          const std::vector<std::pair<std::string, std::string>>& settings) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw CheckpointError(key + " = \"" + path + "\": cannot open the file: " + std::strerror(errno));
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::string where = key + " = \"" + path + "\"";
  StateReader in(bytes.data(), bytes.size(), where);
  char magic[sizeof kMagic];
  in.get_bytes(magic, sizeof magic, "magic");
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    in.fail("magic", "\"VSIMCKPT\" (is this a virtsim checkpoint?)", 0);
  const auto format = in.get<std::uint32_t>("format version");
  if (format != kCheckpointFormatVersion)
    in.fail("format version", std::to_string(kCheckpointFormatVersion) + ", found " + std::to_string(format) +
                                  " (written by another virtsim: save it again with this one)",
            in.offset() - 4);
  const std::uint64_t version_at = in.offset();
  const std::string written_by = in.get_string("virtsim version");
  if (written_by != version())
    in.fail("virtsim version", std::string(version()) + ", found \"" + written_by + "\" (save it again with this virtsim)",
            version_at);
  const auto digest = in.get<std::uint64_t>("functional settings digest");
  const auto count = in.count("functional settings", 16);
  std::map<std::string, std::string> saved;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string k = in.get_string("setting key");
    saved[k] = in.get_string("setting value");
  }
  // The first functional parameter that differs, named with both values.
  std::map<std::string, std::string> mine(settings.begin(), settings.end());
  for (const auto& [k, v] : mine) {
    const auto it = saved.find(k);
    if (it == saved.end())
      throw CheckpointError(where + ": the checkpoint has no value of " + k + " (this run: " + v +
                            "); a checkpoint from another virtsim build?");
    if (it->second != v)
      throw CheckpointError(where + " was saved with " + k + " = " + it->second + ", and this run has " + v +
                            ": a functional parameter must be the saving run's (only timing parameters may differ)");
  }
  for (const auto& [k, v] : saved)
    if (!mine.count(k)) throw CheckpointError(where + ": saved with " + k + " = " + v + ", which this run does not have");
  if (digest != settings_digest(settings)) in.fail("functional settings digest", "the digest of the settings listed");
  const auto raw = in.get<std::uint64_t>("state bytes");
  const auto packed = in.get<std::uint64_t>("compressed state bytes");
  const auto state_digest = in.get<std::uint64_t>("state digest");
  const std::uint64_t body_at = in.offset();
  if (packed != bytes.size() - body_at)
    in.fail("compressed state", std::to_string(packed) + " bytes as the header says, the file has " +
                                    std::to_string(bytes.size() - body_at) + " (truncated?)",
            body_at);
  std::vector<std::uint8_t> state(raw);
  const std::size_t n = ZSTD_decompress(state.data(), state.size(), bytes.data() + body_at, packed);
  if (ZSTD_isError(n) || n != raw)
    in.fail("compressed state", "a zstd frame of " + std::to_string(raw) + " bytes" +
                                    (ZSTD_isError(n) ? std::string(": ") + ZSTD_getErrorName(n) : std::string()),
            body_at);
  if (crc32_of(state.data(), state.size()) != state_digest)
    in.fail("state digest", "the digest of the state (the file is damaged)", body_at);
  return state;
}

}  // namespace virtsim
