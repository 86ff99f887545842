#pragma once
// One vCPU's private caches as a thin TLM module around CacheHierarchy. The vCPU's data socket
// and its MMU's walker socket both bind to `cpu_side` (their indices say who is asking: data or
// page walk); `memory_side` goes to main memory. Every access adds the hierarchy's latency to
// the annotated delay; one that misses every level is forwarded to memory with b_transport,
// which adds the DRAM latency (system.memory.latency) and counts it. Hits move their bytes
// with debug transport: no time, no memory statistics. The last-level cache is shared: the
// platform owns it and hands it to every vCPU's module.
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include "virtsim/common/clock.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/mmu/cache.h"

namespace virtsim {

class CacheModule : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<CacheModule> cpu_side;
  tlm_utils::simple_initiator_socket<CacheModule> memory_side;

  CacheModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock, Cache& llc,
              unsigned line_bytes, std::uint64_t seed);

  // Who initiates on binding `index` of cpu_side (in binding order); data by default.
  void set_requester(unsigned index, Requester who);

  Param<std::string> walker_entry;
  CacheParameters l1d_parameters;
  CacheParameters l2_parameters;
  Cache l1d;
  Cache l2;

 private:
  void b_transport(int initiator, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int initiator, tlm::tlm_generic_payload& payload);

  const Clock& clock_;
  CacheHierarchy hierarchy_;
  unsigned line_bytes_;
  std::vector<Requester> requesters_;
};

}  // namespace virtsim
