// libFuzzer target: arbitrary bytes as one lackey log, converted into a trace that is then
// read back. A bad log must end in a FileError naming the file and line; anything else
// escaping, a crash, a hang or a sanitizer report is a bug. Built and run by scripts/fuzz-trace.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "virtsim/common/error.h"
#include "virtsim/workloads/lackey.h"
#include "virtsim/workloads/trace.h"

// See trace_reader_fuzz.cpp: the SystemC headers need an sc_main; libFuzzer's main() runs.
int sc_main(int, char*[]) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Scratch files under TMPDIR (scripts/fuzz-trace points it into build-fuzz/), one pair per process.
  static const std::string stem =
      (std::filesystem::temp_directory_path() / ("virtsim-lackey-fuzz-" + std::to_string(::getpid()))).string();
  static const std::string log = stem + ".log", trace = stem + ".vst";
  if (std::FILE* f = std::fopen(log.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    __builtin_trap();
  }
  try {
    virtsim::LackeyConvertOptions options;
    options.memory_limit_per_process = 1000;
    {
      virtsim::TraceWriter writer(trace, 4096);
      virtsim::convert_lackey_logs({log}, writer, options);
      writer.close();
    }
    // What the converter writes, the reader must read.
    virtsim::TraceReader reader(trace);
    while (reader.next()) {
    }
  } catch (const virtsim::FileError& e) {
    // A bad log is expected; a trace the converter wrote and the reader rejects is a bug.
    if (std::string(e.what()).rfind(trace, 0) == 0) __builtin_trap();
  }
  return 0;
}
