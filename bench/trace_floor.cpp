// The floor of trace-driven simulation: decode a trace into guest events exactly as the guest
// OS model reads it (TraceRecordSource: runs of plain records into a 256-event buffer, any
// other record alone) and look up the L1 DTLB for each memory reference, nothing else. Whatever
// the full simulation of the same trace costs beyond this is the model; beside virtsim_floor
// (the same lookups on references already decoded) it shows what reading the trace costs.
// bench/throughput divides the two rates.
//
// Usage: virtsim_trace_floor TRACE [repeats]   (prints the best of `repeats` passes)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <string>
#include <time.h>

#include "virtsim/tlb/tlb.h"
#include "virtsim/workloads/guest_os.h"

// SystemC prints its banner before sc_main; silence it during static initialization.
[[maybe_unused]] static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

namespace virtsim {
namespace {

struct Pass {
  std::uint64_t references = 0;
  std::uint64_t hits = 0;
  double seconds = 0;      // wall
  double cpu_seconds = 0;  // this thread's CPU time: steadier on a shared machine
};

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

Pass run_once(const std::string& path) {
  // The default experiment's (Skylake) L1 DTLB; a miss fills an identity mapping of the page,
  // so the TLB holds what the simulator's would.
  Tlb dtlb({}, {{{12, 64, 4}, {21, 32, 4}, {30, 4, 4}}, 0});
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  TraceRecordSource trace(path);
  Pass pass;
  GuestEvent run[256];  // the guest OS model's run length
  for (;;) {
    const std::size_t n = trace.plain_events(run, std::size(run), ~std::uint64_t{0}).events;
    if (n == 0) {
      if (!trace.next()) break;  // a process record: the guest OS model's work, not the floor's
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const GuestEvent& event = run[i];
      if (event.kind != GuestEventKind::Memory) continue;
      ++pass.references;
      if (dtlb.lookup(event.address, {})) {
        ++pass.hits;
        continue;
      }
      TlbEntry entry;
      entry.physical_base = event.address & ~(kPageSize4K - 1);
      dtlb.insert(event.address, entry);
    }
  }
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pass.cpu_seconds = thread_cpu_seconds() - cpu_start;
  return pass;
}

}  // namespace
}  // namespace virtsim

// SystemC links in main(); this tool needs no simulation kernel, only the entry point.
int sc_main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TRACE [repeats]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  try {
    virtsim::Pass best, best_cpu;  // the fastest pass by wall time and by CPU time
    for (int i = 0; i < repeats; ++i) {
      const virtsim::Pass pass = virtsim::run_once(argv[1]);
      if (i == 0 || pass.seconds < best.seconds) best = pass;
      if (i == 0 || pass.cpu_seconds < best_cpu.cpu_seconds) best_cpu = pass;
    }
    std::printf("memory references %llu, L1 DTLB hits %llu, best of %d: %.4f s wall, %.4f s CPU\n",
                static_cast<unsigned long long>(best.references), static_cast<unsigned long long>(best.hits),
                repeats, best.seconds, best_cpu.cpu_seconds);
    const auto rate = [](std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s / 1e6 : 0.0; };
    std::printf("floor %.2f M memory references/s (wall)\n", rate(best.references, best.seconds));
    std::printf("floor %.2f M memory references/s (CPU time)\n", rate(best_cpu.references, best_cpu.cpu_seconds));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
