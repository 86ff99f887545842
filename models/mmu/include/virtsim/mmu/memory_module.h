#pragma once
// Fixed-latency main memory as a TLM-2.0 LT target. Any number of initiators (vCPU data
// ports, walkers) bind to its one multi-target socket. Reads and writes really move bytes
// in PhysicalMemory; each access adds `latency` cycles to the annotated delay.
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "virtsim/common/clock.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/mmu/physical_memory.h"

namespace virtsim {

class MemoryModule : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<MemoryModule> port;

  MemoryModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock);

  PhysicalMemory& memory() { return memory_; }

  Param<std::uint64_t> size_mib;
  Param<std::uint64_t> latency;

  Counter reads;
  Counter writes;
  Counter bytes;

 private:
  void b_transport(int initiator, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int initiator, tlm::tlm_generic_payload& payload);

  const Clock& clock_;
  PhysicalMemory memory_;
};

}  // namespace virtsim
