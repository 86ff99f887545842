// `virtsim trace info|cat|gen|convert`: inspect, print, generate and convert trace files.
#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>

#include "commands.h"
#include "virtsim/common/error.h"
#include "virtsim/common/output_files.h"
#include "virtsim/common/param.h"
#include "virtsim/workloads/lackey.h"
#include "virtsim/workloads/synthetic.h"
#include "virtsim/workloads/trace.h"

namespace virtsim {

namespace {

void show_warning(const TraceReader& reader) {
  if (!reader.warning().empty()) std::fprintf(stderr, "virtsim: warning: %s\n", reader.warning().c_str());
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Refuses, before anything is read or written, an output that would lose data: one of the
// inputs under another name, a file in an input directory (read as an input next time), and
// what no output may be (check_output_path: an existing file without --force, anything but a
// regular file).
void check_trace_output(const std::string& output, bool force, const std::vector<std::string>& inputs) {
  struct stat out {};
  if (::lstat(output.c_str(), &out) == 0 && S_ISREG(out.st_mode))
    for (const auto& input : inputs) {
      struct stat in {};
      if (::stat(input.c_str(), &in) == 0 && same_file(in, out))
        throw FileError(output + ": is the input " + input + " itself; write the trace to another file");
    }
  check_output_path(output, force);
  std::filesystem::path parent = std::filesystem::path(output).parent_path();
  if (parent.empty()) parent = ".";
  struct stat dir {};
  ::stat(parent.c_str(), &dir);
  for (const auto& input : inputs) {
    struct stat in {};
    if (::stat(input.c_str(), &in) == 0 && S_ISDIR(in.st_mode) && same_file(in, dir))
      throw FileError(output + ": is in the input folder " + input +
                      ", whose every file is read as a lackey log");
  }
}

}  // namespace

int trace_info_command(const std::string& path) {
  TraceReader reader(path);
  show_warning(reader);
  std::map<std::string, std::uint64_t> kinds;
  while (auto r = reader.next()) ++kinds[to_string(r->kind)];
  std::printf("%s: virtsim trace, version %u, %" PRIu64 " blocks, %" PRIu64 " records\n", path.c_str(),
              static_cast<unsigned>(reader.version()), reader.blocks_read(), reader.records_read());
  for (const auto& [kind, n] : kinds) std::printf("  %-10s %12" PRIu64 "\n", kind.c_str(), n);
  return 0;
}

int trace_cat_command(const std::string& path, std::uint64_t limit) {
  TraceReader reader(path);
  show_warning(reader);
  std::uint64_t n = 0;
  while (auto r = reader.next()) {
    if (limit && n++ >= limit) break;
    switch (r->kind) {
      case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch:
        std::printf("%s %s %u\n", to_string(r->kind), to_hex(r->address).c_str(), static_cast<unsigned>(r->size));
        break;
      case TraceRecordKind::Syscall:
        std::printf("syscall %" PRIu64, r->count);
        if (r->described)
          std::printf(" bytes %" PRIu64 " object %s buffer %s%s", r->bytes, to_string(r->object),
                      to_hex(r->address).c_str(), r->call_flags & kSyscallMaySleep ? " may_sleep" : "");
        std::printf("\n");
        break;
      case TraceRecordKind::Compute: case TraceRecordKind::Interrupt:
        std::printf("%s %" PRIu64 "\n", to_string(r->kind), r->count);
        break;
      case TraceRecordKind::Instr:
        std::printf("instr %s operand %s value %s size %u\n", to_string(r->instruction), to_hex(r->operand).c_str(),
                    to_hex(r->address).c_str(), static_cast<unsigned>(r->size));
        break;
      case TraceRecordKind::Fork: std::printf("fork %u -> %u\n", r->pid, r->child); break;
      case TraceRecordKind::Mmap:
        std::printf("mmap pid %u %s +%" PRIu64 " prot %u", r->pid, to_hex(r->address).c_str(), r->length, r->prot);
        if (r->map_flags & kMapFile)
          std::printf(" file %u offset %s", r->file, to_hex(r->offset).c_str());
        std::printf("%s%s\n", r->map_flags & kMapShared ? " shared" : "", r->map_flags & kMapTool ? " tool" : "");
        break;
      case TraceRecordKind::Mprotect:
        std::printf("mprotect pid %u %s +%" PRIu64 " prot %u\n", r->pid, to_hex(r->address).c_str(), r->length, r->prot);
        break;
      case TraceRecordKind::Mremap:
        std::printf("mremap pid %u %s +%" PRIu64 " -> %s +%" PRIu64 "\n", r->pid, to_hex(r->address).c_str(), r->length,
                    to_hex(r->new_address).c_str(), r->new_length);
        break;
      case TraceRecordKind::Munmap:
        std::printf("munmap pid %u %s +%" PRIu64 "\n", r->pid, to_hex(r->address).c_str(), r->length);
        break;
      case TraceRecordKind::Brk: std::printf("brk pid %u %s\n", r->pid, to_hex(r->address).c_str()); break;
      case TraceRecordKind::PageTableWrite:
        std::printf("pte_write pid %u %s set %s clear %s\n", r->pid, to_hex(r->address).c_str(),
                    to_hex(r->set_bits).c_str(), to_hex(r->clear_bits).c_str());
        break;
      case TraceRecordKind::Exec: case TraceRecordKind::Exit: case TraceRecordKind::Switch:
        std::printf("%s pid %u\n", to_string(r->kind), r->pid);
        break;
      case TraceRecordKind::RoiBegin: case TraceRecordKind::RoiEnd: std::printf("%s\n", to_string(r->kind)); break;
    }
  }
  return 0;
}

int trace_gen_command(const TraceGenOptions& o) {
  // The options are the synthetic workload's parameters: checked against their declared ranges.
  ParamRegistry registry;
  const auto as_int = [](std::uint64_t v) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX));
  };
  registry.set_value("workload.pattern", o.pattern, ValueSource{"--pattern"});
  registry.set_value("workload.accesses", as_int(o.accesses), ValueSource{"--accesses"});
  registry.set_value("workload.footprint_kib", as_int(o.footprint_kib), ValueSource{"--footprint-kib"});
  SyntheticConfig c = SyntheticParameters(Scope{&registry, nullptr, "workload"}).config();
  c.warmup_accesses = c.accesses / 20;
  check_trace_output(o.output, o.force, {});
  SyntheticWorkload generator(c, o.seed);
  TraceWriter writer(o.output, 1 << 16, o.force);
  while (auto e = generator.next()) writer.write(TraceRecord::from(*e));
  writer.close();
  std::printf("%s: %" PRIu64 " records\n", o.output.c_str(), writer.records());
  return 0;
}

// Valgrind lackey logs, one per process (workloads/include/virtsim/workloads/lackey.h).
int trace_convert_command(const std::vector<std::string>& inputs, const std::string& output,
                          std::uint64_t limit, std::uint64_t limit_per_process, bool renumber_pids,
                          bool thp_aligned_anonymous, bool force) {
  LackeyConvertOptions options;
  options.renumber_pids = renumber_pids;
  options.thp_aligned_anonymous = thp_aligned_anonymous;
  options.memory_limit = limit;
  options.memory_limit_per_process = limit_per_process;
  check_trace_output(output, force, inputs);
  LackeyConvertSummary summary;
  {
    // On an error the writer removes its temporary: `output` is replaced by whole traces only.
    TraceWriter writer(output, 1 << 16, force);
    summary = convert_lackey_logs(inputs, writer, options);
    writer.close();
    summary.records = writer.records();
  }
  for (const auto& warning : summary.warnings) std::fprintf(stderr, "virtsim: warning: %s\n", warning.c_str());
  std::string cut;
  if (summary.limited) cut += ", stopped at --limit";
  if (summary.processes_capped) cut += ", " + std::to_string(summary.processes_capped) + " processes cut at --limit-per-process";
  std::printf("%s: %" PRIu64 " records (%" PRIu64 " processes, %" PRIu64 " memory records%s) from %" PRIu64 " lines\n",
              output.c_str(), summary.records, summary.processes, summary.memory_records, cut.c_str(), summary.lines);
  if (summary.tool_calls)
    std::printf("  %" PRIu64 " system calls on the objects Valgrind preloads left out (their mmaps tagged tool)\n",
                summary.tool_calls);
  if (summary.alignment_retries)
    std::printf("  %" PRIu64 " alignment retries written as the one aligned mmap of a native run\n",
                summary.alignment_retries);
  // The trace names mapped files by id only: their paths.
  for (std::size_t i = 0; i < summary.files.size(); ++i) std::printf("  file %zu: %s\n", i + 1, summary.files[i].c_str());
  return 0;
}

}  // namespace virtsim
