// libFuzzer target: arbitrary bytes as a trace file, read to the end through TraceReader.
// A bad file must end in a FileError (naming the byte offset); anything else escaping, a
// crash, a hang or a sanitizer report is a bug. Built and run by scripts/fuzz-trace.
// The checksums (versions 2 on) would stop nearly every mutated input at its first block, so each
// input is also read with its checksums made right, to reach the record decoder.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "virtsim/common/error.h"
#include "virtsim/workloads/trace.h"

namespace {

// TraceReader reads a path: each input goes to one scratch file per fuzzing process, under
// TMPDIR (scripts/fuzz-trace points it into build-fuzz/).
const std::string& scratch_path() {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("virtsim-trace-fuzz-" + std::to_string(::getpid()) + ".vst")).string();
  return path;
}

void read_through(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    std::perror(path.c_str());
    __builtin_trap();
  }
  try {
    virtsim::TraceReader reader(path);
    std::uint64_t records = 0;
    while (auto record = reader.next()) {
      ++records;
      (void)record->guest_event();
      (void)reader.record_offset();
    }
    if (records != reader.records_read()) __builtin_trap();
  } catch (const virtsim::FileError&) {
    // the expected outcome for most inputs
  }
}

std::uint32_t u32_at(const std::vector<std::uint8_t>& v, std::size_t at) {
  std::uint32_t x;
  std::memcpy(&x, v.data() + at, 4);
  return x;
}

// The blocks' and the trailer's checksums of a trace of version 2 on set as the writer sets them
// (docs/trace-format.md), as far as the block sizes lead. False for anything else.
bool repair_checksums(std::vector<std::uint8_t>& v) {
  if (v.size() < 16 || v[8] < 2 || v[8] > virtsim::kTraceVersion || v[9] != 0) return false;
  std::uint32_t trailer = virtsim::trace_checksum(0, v.data(), 16);
  std::size_t at = 16;
  while (at + 16 <= v.size()) {
    const std::uint32_t compressed = u32_at(v, at);
    if (compressed == 0) {
      if (at + 24 <= v.size()) {
        const std::uint32_t sum = virtsim::trace_checksum(trailer, v.data() + at, 20);
        std::memcpy(v.data() + at + 20, &sum, 4);
      }
      break;
    }
    if (compressed > v.size() - at - 16) break;
    const std::uint32_t sum = virtsim::trace_checksum(virtsim::trace_checksum(0, v.data() + at, 12),
                                                      v.data() + at + 16, compressed);
    std::memcpy(v.data() + at + 12, &sum, 4);
    trailer = virtsim::trace_checksum(trailer, &sum, 4);
    at += 16 + compressed;
  }
  return true;
}

}  // namespace

// trace.h reaches SystemC headers (guest events), whose version check needs libsystemc, which
// in turn needs an sc_main; libFuzzer's main() is the one that runs.
int sc_main(int, char*[]) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  read_through(data, size);
  std::vector<std::uint8_t> repaired(data, data + size);
  if (repair_checksums(repaired)) read_through(repaired.data(), repaired.size());
  return 0;
}
