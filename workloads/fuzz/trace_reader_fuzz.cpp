// libFuzzer target: arbitrary bytes as a trace file, read to the end through TraceReader.
// A bad file must end in a FileError (naming the byte offset); anything else escaping, a
// crash, a hang or a sanitizer report is a bug. Built and run by scripts/fuzz-trace.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

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

}  // namespace

// trace.h reaches SystemC headers (guest events), whose version check needs libsystemc, which
// in turn needs an sc_main; libFuzzer's main() is the one that runs.
int sc_main(int, char*[]) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
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
  return 0;
}
