#include "virtsim/common/tlm_ports.h"

namespace virtsim {

MemoryInitiatorSocket::MemoryInitiatorSocket(const char* name, const Clock& clock)
    : tlm_utils::simple_initiator_socket<MemoryInitiatorSocket>(name), clock_(clock), port_(this) {
  payload_.set_extension(&served_);
}

// The payload would delete its extensions; this one is a member.
MemoryInitiatorSocket::~MemoryInitiatorSocket() { payload_.clear_extension(&served_); }

void MemoryInitiatorSocket::prepare(bool write, Addr address, unsigned char* data, unsigned length) {
  payload_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  payload_.set_address(address);
  payload_.set_data_ptr(data);
  payload_.set_data_length(length);
  payload_.set_streaming_width(length);
  payload_.set_byte_enable_ptr(nullptr);
  payload_.set_dmi_allowed(false);
  payload_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

MemoryResult MemoryInitiatorSocket::access(bool write, Addr address, unsigned char* data, unsigned length) {
  if (!data) {
    // A transaction carries bytes: a read's go nowhere, and a write's are what memory holds,
    // read first over debug transport (no time, no statistics).
    if (scratch_.size() < length) scratch_.resize(length);
    data = scratch_.data();
    if (write) debug_access(false, address, data, length);
  }
  prepare(write, address, data, length);
  served_.served_by = ServedBy::Flat;
  sc_core::sc_time latency = sc_core::SC_ZERO_TIME;
  (*this)->b_transport(payload_, latency);
  return {clock_.cycles(latency), !payload_.is_response_error(), served_.served_by};
}

bool MemoryInitiatorSocket::debug_access(bool write, Addr address, unsigned char* data, unsigned length) {
  prepare(write, address, data, length);
  return (*this)->transport_dbg(payload_) == length;
}

MemoryTargetSocket::MemoryTargetSocket(const char* name, const Clock& clock, MemoryPort& port)
    : tlm_utils::multi_passthrough_target_socket<MemoryTargetSocket>(name), clock_(clock), default_(port) {
  register_b_transport(this, &MemoryTargetSocket::b_transport);
  register_transport_dbg(this, &MemoryTargetSocket::transport_dbg);
}

void MemoryTargetSocket::serve(unsigned index, MemoryPort& port) {
  if (ports_.size() <= index) ports_.resize(index + 1, nullptr);
  ports_[index] = &port;
}

void MemoryTargetSocket::b_transport(int index, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  if (!payload.is_read() && !payload.is_write()) {
    payload.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
    return;
  }
  const MemoryResult r =
      port_of(index).access(payload.is_write(), payload.get_address(), payload.get_data_ptr(), payload.get_data_length());
  if (!r.ok) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  delay += clock_.delay(r.cycles);
  if (auto* info = payload.get_extension<MemoryAccessExtension>()) info->served_by = r.served_by;
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned int MemoryTargetSocket::transport_dbg(int index, tlm::tlm_generic_payload& payload) {
  if (!payload.is_read() && !payload.is_write()) return 0;
  const unsigned length = payload.get_data_length();
  return port_of(index).debug_access(payload.is_write(), payload.get_address(), payload.get_data_ptr(), length)
             ? length
             : 0;
}

TranslationInitiatorSocket::TranslationInitiatorSocket(const char* name, const Clock& clock)
    : tlm_utils::simple_initiator_socket<TranslationInitiatorSocket>(name), clock_(clock), port_(this) {}

TranslationResult TranslationInitiatorSocket::access(Addr va, TranslationExtension& ext, Cycles local_cycles) {
  // The payload's address is the virtual address; it carries no bytes. It arrives at the
  // initiator's local time (LT style), so the target judges its walkers' occupancy then.
  payload_.set_address(va);
  payload_.set_data_ptr(nullptr);
  payload_.set_data_length(0);
  payload_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  payload_.set_extension(&ext);
  const sc_core::sc_time offset = clock_.delay(local_cycles);
  sc_core::sc_time latency = offset;
  (*this)->b_transport(payload_, latency);
  payload_.clear_extension(&ext);
  return {clock_.cycles(latency - offset), !payload_.is_response_error()};
}

TranslationTargetSocket::TranslationTargetSocket(const char* name, const Clock& clock, TranslationPort& port)
    : tlm_utils::simple_target_socket<TranslationTargetSocket>(name), clock_(clock), port_(port) {
  register_b_transport(this, &TranslationTargetSocket::b_transport);
}

void TranslationTargetSocket::b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  auto* ext = payload.get_extension<TranslationExtension>();
  if (!ext) {
    payload.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  const TranslationResult r = port_.access(payload.get_address(), *ext, clock_.cycles(delay));
  if (!r.ok) {
    payload.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  delay += clock_.delay(r.cycles);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace virtsim
