// `virtsim trace info|cat|gen|convert`: inspect, print, generate and convert trace files.
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "commands.h"
#include "virtsim/common/error.h"
#include "virtsim/workloads/lackey.h"
#include "virtsim/workloads/synthetic.h"
#include "virtsim/workloads/trace.h"

namespace virtsim {

int trace_info_command(const std::string& path) {
  TraceReader reader(path);
  std::map<std::string, std::uint64_t> kinds;
  while (auto r = reader.next()) ++kinds[to_string(r->kind)];
  std::printf("%s: virtsim trace, version %u, %" PRIu64 " blocks, %" PRIu64 " records\n", path.c_str(),
              static_cast<unsigned>(reader.version()), reader.blocks_read(), reader.records_read());
  for (const auto& [kind, n] : kinds) std::printf("  %-10s %12" PRIu64 "\n", kind.c_str(), n);
  return 0;
}

int trace_cat_command(const std::string& path, std::uint64_t limit) {
  TraceReader reader(path);
  std::uint64_t n = 0;
  while (auto r = reader.next()) {
    if (limit && n++ >= limit) break;
    switch (r->kind) {
      case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch:
        std::printf("%s %s %u\n", to_string(r->kind), to_hex(r->address).c_str(), static_cast<unsigned>(r->size));
        break;
      case TraceRecordKind::Compute: case TraceRecordKind::Syscall: case TraceRecordKind::Interrupt:
        std::printf("%s %" PRIu64 "\n", to_string(r->kind), r->count);
        break;
      case TraceRecordKind::Instr:
        std::printf("instr %s operand %s value %s size %u\n", to_string(r->instruction), to_hex(r->operand).c_str(),
                    to_hex(r->address).c_str(), static_cast<unsigned>(r->size));
        break;
      case TraceRecordKind::Fork: std::printf("fork %u -> %u\n", r->pid, r->child); break;
      case TraceRecordKind::Mmap:
        std::printf("mmap pid %u %s +%" PRIu64 " prot %u\n", r->pid, to_hex(r->address).c_str(), r->length, r->prot);
        break;
      case TraceRecordKind::Munmap:
        std::printf("munmap pid %u %s +%" PRIu64 "\n", r->pid, to_hex(r->address).c_str(), r->length);
        break;
      case TraceRecordKind::Brk: std::printf("brk pid %u %s\n", r->pid, to_hex(r->address).c_str()); break;
      case TraceRecordKind::Exec: case TraceRecordKind::Exit: case TraceRecordKind::Switch:
        std::printf("%s pid %u\n", to_string(r->kind), r->pid);
        break;
      case TraceRecordKind::RoiBegin: case TraceRecordKind::RoiEnd: std::printf("%s\n", to_string(r->kind)); break;
    }
  }
  return 0;
}

int trace_gen_command(const TraceGenOptions& o) {
  SyntheticConfig c;
  if (o.pattern != "random" && o.pattern != "stream" && o.pattern != "hotspot")
    throw ConfigError("--pattern " + o.pattern + ": expected random, stream or hotspot");
  c.pattern = o.pattern;
  c.accesses = o.accesses;
  c.warmup_accesses = o.accesses / 20;
  c.footprint_bytes = o.footprint_kib << 10;
  SyntheticWorkload generator(c, o.seed);
  TraceWriter writer(o.output);
  while (auto e = generator.next()) writer.write(TraceRecord::from(*e));
  writer.close();
  std::printf("%s: %" PRIu64 " records\n", o.output.c_str(), writer.records());
  return 0;
}

// Valgrind lackey logs, one per process (workloads/include/virtsim/workloads/lackey.h).
int trace_convert_command(const std::vector<std::string>& inputs, const std::string& output, std::uint64_t limit,
                          std::uint64_t limit_per_process, bool renumber_pids) {
  LackeyConvertOptions options;
  options.renumber_pids = renumber_pids;
  options.memory_limit = limit;
  options.memory_limit_per_process = limit_per_process;
  LackeyConvertSummary summary;
  {
    TraceWriter writer(output);
    try {
      summary = convert_lackey_logs(inputs, writer, options);
      writer.close();
    } catch (...) {
      // No half-converted trace left behind to be mistaken for a whole one.
      try {
        writer.close();
      } catch (...) {
      }
      std::remove(output.c_str());
      throw;
    }
    summary.records = writer.records();
  }
  for (const auto& warning : summary.warnings) std::fprintf(stderr, "virtsim: warning: %s\n", warning.c_str());
  std::string cut;
  if (summary.limited) cut += ", stopped at --limit";
  if (summary.processes_capped) cut += ", " + std::to_string(summary.processes_capped) + " processes cut at --limit-per-process";
  std::printf("%s: %" PRIu64 " records (%" PRIu64 " processes, %" PRIu64 " memory records%s) from %" PRIu64 " lines\n",
              output.c_str(), summary.records, summary.processes, summary.memory_records, cut.c_str(), summary.lines);
  return 0;
}

}  // namespace virtsim
