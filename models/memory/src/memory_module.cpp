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
                     "memory at startup (MemAvailable in /proc/meminfo, else half of physical memory). With "
                     "byte_exact_data on, a workload footprint above it is refused before the run; a run that "
                     "outgrows it stops with status partial (exit status 1)"),
      VIRTSIM_MEMBER(byte_exact_data, module_scope(context, *this), false, "",
                     "keep every data byte in host memory (the workload's stores, DMA, the kernel's page zeroing "
                     "and copy-on-write copies), so that memory reads back what was written everywhere; off, only "
                     "frames the model itself writes hold bytes (page tables of every format, structures the model "
                     "reads back), data writes to other frames are timed and counted but their bytes dropped (such "
                     "a frame reads as zeros), and host memory grows with the page tables instead of the "
                     "footprint. Timing is the same either way; system.kernel.state_digest turns it on (the "
                     "digest hashes the user pages' bytes)"),
      VIRTSIM_MEMBER(reads, module_scope(context, *this), "accesses", "read transactions served"),
      VIRTSIM_MEMBER(writes, module_scope(context, *this), "accesses", "write transactions served"),
      VIRTSIM_MEMBER(bytes, module_scope(context, *this), "bytes", "bytes moved"),
      host_budget_(host_budget_mib, host_budget_mib.name()),
      memory_(static_cast<Addr>(size_mib.get()) << 20, PhysicalMemory::Layout::Contiguous,
              byte_exact_data ? PhysicalMemory::DataBytes::Kept : PhysicalMemory::DataBytes::Dropped),
      latency_cycles_(latency.get()) {}

}  // namespace virtsim
