#pragma once
// Fixed-latency main memory: a MemoryPort in plain C++ (access() moves the bytes in
// PhysicalMemory, counts them and takes `latency` cycles), and the TLM target adapter `port`
// around it, to which any number of initiators bind. Its accesses are data writes: where
// `byte_exact_data` is off, a store into a frame the model never wrote is timed and counted,
// and its bytes dropped. It grants direct memory (the cache
// module moves a hit's bytes straight there).
#include <systemc>

#include "virtsim/common/clock.h"
#include "virtsim/common/memory_port.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/tlm_ports.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

// MemoryPort first: a call through it needs no adjustment of `this`.
class MemoryModule : public MemoryPort, public sc_core::sc_module {
 public:
  MemoryTargetSocket port;

  MemoryModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock);

  PhysicalMemory& memory() { return memory_; }

  MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) final {
    if (!memory_.transfer(write, address, data, length)) return {0, false, ServedBy::Flat};
    ++(write ? writes : reads);
    bytes += length;
    return {latency_cycles_, true, ServedBy::Flat};
  }
  bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) final {
    return memory_.transfer(write, address, data, length);
  }
  // Fixed latency keeps no state: a functional access moves the bytes only.
  bool warm(bool write, Addr address, unsigned char* data, unsigned length) final {
    return memory_.transfer(write, address, data, length);
  }
  PhysicalMemory* direct_memory() final { return &memory_; }

  Param<std::uint64_t> size_mib;
  Param<std::uint64_t> latency;
  Param<std::uint64_t> host_budget_mib;
  Param<bool> byte_exact_data;
  HostMemoryBudget& host_budget() { return host_budget_; }

  Counter reads;
  Counter writes;
  Counter bytes;

 private:
  HostMemoryBudget host_budget_;
  PhysicalMemory memory_;
  Cycles latency_cycles_;  // `latency`, read once
};

}  // namespace virtsim
