#include "virtsim/memory/memory_module.h"

namespace virtsim {

MemoryModule::MemoryModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      port("port", clock, *this),
      VIRTSIM_MEMBER(size_mib, module_scope(context, *this), 4096, "MiB", "size of simulated physical memory",
               Range{1, 1 << 22}),
      VIRTSIM_MEMBER(latency, module_scope(context, *this), 100, "cycles", "latency of every access",
              Range{0, 100000}),
      VIRTSIM_MEMBER(host_budget_mib, module_scope(context, *this), 0, "MiB",
                     "host memory the simulator may hold (its resident set); 0: half of the host's available "
                     "memory at startup (MemAvailable in /proc/meminfo, else half of physical memory). A workload "
                     "footprint above it is refused before the run; a run that outgrows it stops with status "
                     "partial (exit status 1)"),
      VIRTSIM_MEMBER(reads, module_scope(context, *this), "accesses", "read transactions served"),
      VIRTSIM_MEMBER(writes, module_scope(context, *this), "accesses", "write transactions served"),
      VIRTSIM_MEMBER(bytes, module_scope(context, *this), "bytes", "bytes moved"),
      host_budget_(host_budget_mib, host_budget_mib.name()),
      memory_(static_cast<Addr>(size_mib.get()) << 20),
      latency_cycles_(latency.get()) {}

}  // namespace virtsim
