#pragma once
// Valgrind lackey logs (--trace-mem=yes, optionally --trace-syscalls=yes and, with
// --trace-children=yes --log-file=DIR/NAME.%p, one log per process) converted into one trace
// that serializes the processes with the format's process records. The rules are in
// docs/trace-format.md ("Converting lackey logs"). Logs are streamed line by line: only the
// logs of the processes on the current ancestry path are open, whatever their length.
#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/workloads/trace.h"

namespace virtsim {

struct LackeyConvertOptions {
  // Stop after this many memory records (0: convert everything); the trace is still closed
  // properly: every started process gets its exit record, then roi_end.
  std::uint64_t memory_limit = 0;
  // Keep at most this many memory records of each process (0: all); its process records
  // (forks, maps, exit...) are all kept, so a multi-process sample keeps its whole structure.
  std::uint64_t memory_limit_per_process = 0;
  // Number the processes 1 (the root), 2, 3... in fork order instead of their real pids.
  bool renumber_pids = false;
  // The capture host's kernel places an anonymous private mapping whose length is a multiple
  // of 2 MiB on a 2 MiB boundary (for transparent huge pages; Linux 6.7 on), and Valgrind,
  // which places the traced program's mappings itself, does not: a program that needs the
  // alignment (jemalloc) unmaps the unaligned mapping, maps 2 MiB - 4 KiB more and trims both
  // ends, calls a native run does not make. With this set, such a retry is written as the one
  // aligned mmap the native run gets (the area it ends with, one mmap and no munmap).
  bool thp_aligned_anonymous = false;
};

struct LackeyConvertSummary {
  std::uint64_t processes = 0;       // processes that got a switch record
  std::uint64_t records = 0;         // every record written (filled in by the caller)
  std::uint64_t lines = 0;           // log lines read, all logs together
  std::uint64_t memory_records = 0;  // load/store/fetch records written
  bool limited = false;              // stopped at memory_limit
  std::uint64_t processes_capped = 0; // processes cut at memory_limit_per_process
  std::vector<std::string> warnings; // e.g. a forked child without a log
  std::vector<std::string> files;    // the path of each file id of the trace's mmaps (id 1 first)
  // System calls on the objects Valgrind preloads (opening, reading, inspecting and closing
  // them) left out of the trace; their mmaps are written, tagged kMapTool.
  std::uint64_t tool_calls = 0;
  std::uint64_t alignment_retries = 0;  // written as one aligned mmap (thp_aligned_anonymous)
};

// `inputs`: log files, FIFOs or directories (every file in them). With one log it is read
// once, front to back (so it may be a FIFO); with several, each header is read first to learn
// its pid and parent pid, and the root is the one whose parent has no log. Throws FileError
// naming the file and line of bad input.
LackeyConvertSummary convert_lackey_logs(const std::vector<std::string>& inputs, TraceWriter& writer,
                                         const LackeyConvertOptions& options = {});

}  // namespace virtsim
