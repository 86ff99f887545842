// The floor of any simulation of a reference stream: the references already decoded in memory
// (a vector of guest events, filled before the clock starts) and one L1 DTLB lookup each, a
// miss filling an identity mapping of the page; nothing else. virtsim_trace_floor adds the
// trace's decoding to this; the full simulation adds the model.
//
// Usage: virtsim_floor TRACE [repeats]           the memory records of a trace
//        virtsim_floor --random N [repeats]      N random 8-byte loads over 64 KiB (the
//                                                TLB-hit stream of bench/throughput)
// Prints the best of `repeats` passes over the decoded references.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <time.h>
#include <vector>

#include "virtsim/tlb/tlb.h"
#include "virtsim/workloads/trace.h"

// SystemC prints its banner before sc_main; silence it during static initialization.
[[maybe_unused]] static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

namespace virtsim {
namespace {

struct Pass {
  std::uint64_t references = 0;
  std::uint64_t hits = 0;
  Addr checksum = 0;       // of the translated addresses, so the lookups cannot be left out
  double seconds = 0;      // wall
  double cpu_seconds = 0;  // this thread's CPU time: steadier on a shared machine
};

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

std::vector<GuestEvent> decode_trace(const std::string& path) {
  std::vector<GuestEvent> events;
  TraceReader trace(path);
  GuestEvent event;
  TraceRecord other;
  for (int got; (got = trace.next_event(event, other)) >= 0;)
    if (got == 1 && event.kind == GuestEventKind::Memory) events.push_back(event);
  return events;
}

std::vector<GuestEvent> random_loads(std::uint64_t n) {
  std::vector<GuestEvent> events(n);
  std::uint64_t state = 1;
  constexpr Addr kBase = Addr{1} << 30, kFootprint = 64 * 1024;
  for (GuestEvent& e : events) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    e = GuestEvent::memory(AccessKind::Load, kBase + ((state >> 20) % kFootprint & ~Addr{7}));
  }
  return events;
}

Pass run_once(const std::vector<GuestEvent>& events) {
  // The default experiment's (Skylake) L1 DTLB, as the simulator's.
  Tlb dtlb({}, {{{12, 64, 4}, {21, 32, 4}, {30, 4, 4}}, 0});
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  Pass pass;
  for (const GuestEvent& event : events) {
    if (const TlbEntry* e = dtlb.lookup(event.address, {})) {
      pass.checksum += e->translate(event.address);
      continue;
    }
    TlbEntry entry;
    entry.physical_base = event.address & ~(kPageSize4K - 1);
    dtlb.insert(event.address, entry);
    pass.checksum += event.address;
  }
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pass.cpu_seconds = thread_cpu_seconds() - cpu_start;
  pass.references = events.size();
  pass.hits = dtlb.hits.count();
  return pass;
}

}  // namespace
}  // namespace virtsim

// SystemC links in main(); this tool needs no simulation kernel, only the entry point.
int sc_main(int argc, char** argv) {
  const auto usage = [&] {
    std::fprintf(stderr, "usage: %s TRACE [repeats] | %s --random N [repeats]\n", argv[0], argv[0]);
    return 2;
  };
  if (argc < 2) return usage();
  const bool random = std::string(argv[1]) == "--random";
  if (random && argc < 3) return usage();
  const int repeats_at = random ? 3 : 2;
  const int repeats = argc > repeats_at ? std::max(1, std::atoi(argv[repeats_at])) : 3;
  try {
    std::vector<virtsim::GuestEvent> events;
    if (random) {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(argv[2], &end, 10);
      if (!end || *end || n == 0) {
        std::fprintf(stderr, "%s: error: --random N: expected a whole number >= 1, got '%s'\n", argv[0], argv[2]);
        return 2;
      }
      events = virtsim::random_loads(n);
    } else {
      events = virtsim::decode_trace(argv[1]);
    }
    virtsim::Pass best, best_cpu;  // the fastest pass by wall time and by CPU time
    for (int i = 0; i < repeats; ++i) {
      const virtsim::Pass pass = virtsim::run_once(events);
      if (i == 0 || pass.seconds < best.seconds) best = pass;
      if (i == 0 || pass.cpu_seconds < best_cpu.cpu_seconds) best_cpu = pass;
    }
    std::printf("memory references %llu, L1 DTLB hits %llu (checksum %llx), best of %d: %.4f s wall, %.4f s CPU\n",
                static_cast<unsigned long long>(best.references), static_cast<unsigned long long>(best.hits),
                static_cast<unsigned long long>(best.checksum), repeats, best.seconds, best_cpu.cpu_seconds);
    const auto rate = [](std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s / 1e6 : 0.0; };
    std::printf("floor %.2f M memory references/s (wall)\n", rate(best.references, best.seconds));
    std::printf("floor %.2f M memory references/s (CPU time)\n", rate(best_cpu.references, best_cpu.cpu_seconds));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
    return 1;
  }
  return 0;
}
