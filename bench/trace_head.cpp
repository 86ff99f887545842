// The first N memory references of a trace (loads, stores and fetches) with every record before
// the Nth, written as a trace of its own: a shorter run of a captured program, cut where the
// capture's own --limit would have stopped it (processes still running are left so).
//
// Usage: virtsim_trace_head TRACE OUTPUT N
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "virtsim/workloads/trace.h"

[[maybe_unused]] static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

// sc_main: libsystemc (linked through the workloads library) supplies main().
int sc_main(int argc, char** argv) {
  using namespace virtsim;
  char* end = nullptr;
  const unsigned long long limit = argc == 4 ? std::strtoull(argv[3], &end, 10) : 0;
  if (argc != 4 || !end || *end || !limit) {
    std::fprintf(stderr, "virtsim_trace_head: error: expected TRACE OUTPUT N (N: memory references, at least 1)\n");
    return 2;
  }
  try {
    TraceReader in(argv[1]);
    TraceWriter out(argv[2]);
    unsigned long long memory = 0;
    while (memory < limit) {
      const auto r = in.next();
      if (!r) break;
      out.write(*r);
      memory += r->kind == TraceRecordKind::Load || r->kind == TraceRecordKind::Store ||
                r->kind == TraceRecordKind::Fetch;
    }
    out.close();
    std::printf("%llu memory references, %llu records\n", memory, static_cast<unsigned long long>(out.records()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "virtsim_trace_head: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
