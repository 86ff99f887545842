#include "virtsim/io/dma_module.h"

namespace virtsim {

DmaModule::DmaModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock,
                     DeviceExclusionVector& dev)
    : sc_core::sc_module(name),
      memory("memory"),
      clock_(clock),
      route_(*this),
      engine_(module_scope(context, *this), route_, dev) {
  SC_HAS_PROCESS(DmaModule);
  SC_THREAD(serve);
}

DirectAccessResult DmaModule::through_socket(bool write, Addr address, unsigned char* data, unsigned length) {
  tlm::tlm_generic_payload payload;
  payload.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  payload.set_address(address);
  payload.set_data_ptr(data);
  payload.set_data_length(length);
  payload.set_streaming_width(length);
  payload.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  memory->b_transport(payload, delay);
  return {payload.is_response_ok(), clock_.cycles(delay), MemoryAccessExtension::kUnknown};
}

void DmaModule::serve() {
  for (;;) {
    while (!rung_) sc_core::wait(doorbell_);
    rung_ = false;
    sc_core::wait(clock_.delay(engine_.run()));
  }
}

}  // namespace virtsim
