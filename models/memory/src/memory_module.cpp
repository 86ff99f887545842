#include "virtsim/memory/memory_module.h"

namespace virtsim {

MemoryModule::MemoryModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      port("port"),
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
      clock_(clock),
      host_budget_(host_budget_mib, host_budget_mib.name()),
      memory_(static_cast<Addr>(size_mib.get()) << 20),
      latency_cycles_(latency.get()) {
  port.register_b_transport(this, &MemoryModule::b_transport);
  port.register_transport_dbg(this, &MemoryModule::transport_dbg);
}

void MemoryModule::b_transport(int, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  const Addr address = payload.get_address();
  const unsigned length = payload.get_data_length();
  if (!in_one_frame(address, length)) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  if (payload.is_read() || payload.is_write()) {
    access(payload.is_write(), address, payload.get_data_ptr(), length);
  } else {
    bytes += length;  // TLM_IGNORE_COMMAND: no bytes move, but the access takes its time
  }
  delay += clock_.delay(latency_cycles_);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned int MemoryModule::transport_dbg(int, tlm::tlm_generic_payload& payload) {
  const Addr address = payload.get_address();
  const unsigned length = payload.get_data_length();
  if (payload.is_read() || payload.is_write()) {
    if (!move_bytes(payload.is_write(), address, payload.get_data_ptr(), length)) return 0;
  } else if (!in_one_frame(address, length)) {
    return 0;
  }
  return length;
}

}  // namespace virtsim
