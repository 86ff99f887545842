#include "virtsim/mmu/memory_module.h"

namespace virtsim {

MemoryModule::MemoryModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      port("port"),
      VIRTSIM_MEMBER(size_mib, module_scope(context, *this), 4096, "MiB", "size of simulated physical memory",
               Range{1, 1 << 22}),
      VIRTSIM_MEMBER(latency, module_scope(context, *this), 100, "cycles", "latency of every access",
              Range{0, 100000}),
      VIRTSIM_MEMBER(reads, module_scope(context, *this), "accesses", "read transactions served"),
      VIRTSIM_MEMBER(writes, module_scope(context, *this), "accesses", "write transactions served"),
      VIRTSIM_MEMBER(bytes, module_scope(context, *this), "bytes", "bytes moved"),
      clock_(clock),
      memory_(static_cast<Addr>(size_mib.get()) << 20) {
  port.register_b_transport(this, &MemoryModule::b_transport);
  port.register_transport_dbg(this, &MemoryModule::transport_dbg);
}

void MemoryModule::b_transport(int, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  const Addr address = payload.get_address();
  const unsigned length = payload.get_data_length();
  const Addr offset = address & (kPageSize4K - 1);
  if (!memory_.contains(address, length) || offset + length > kPageSize4K) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  if (payload.is_read()) {
    memory_.read(address, payload.get_data_ptr(), length);
    ++reads;
  } else if (payload.is_write()) {
    memory_.write(address, payload.get_data_ptr(), length);
    ++writes;
  }
  bytes += length;
  delay += clock_.delay(latency);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned int MemoryModule::transport_dbg(int, tlm::tlm_generic_payload& payload) {
  const Addr address = payload.get_address();
  const unsigned length = payload.get_data_length();
  if (!memory_.contains(address, length) || (address & (kPageSize4K - 1)) + length > kPageSize4K) return 0;
  if (payload.is_read()) memory_.read(address, payload.get_data_ptr(), length);
  else if (payload.is_write()) memory_.write(address, payload.get_data_ptr(), length);
  return length;
}

}  // namespace virtsim
