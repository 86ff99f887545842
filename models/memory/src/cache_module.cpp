#include "virtsim/memory/cache_module.h"

#include <stdexcept>
#include <string>

#include "virtsim/common/memory_access_extension.h"

namespace virtsim {

// Defaults: Skylake-S as tabulated by AnandTech ("The Intel Skylake-X Review", 2017, cache
// comparison): L1D 32 KiB 8-way 4 cycles, L2 256 KiB 4-way 11 cycles. Hit latencies here are
// incremental (a hit at a level pays the lookups of the levels above it too): 4 and 11 - 4.
CacheModule::CacheModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock, Cache& llc,
                         unsigned line_bytes, std::uint64_t seed)
    : sc_core::sc_module(name),
      cpu_side("cpu_side"),
      memory_side("memory_side"),
      VIRTSIM_MEMBER(walker_entry, module_scope(context, *this), "l1d", "",
                     "where page-walk references enter the hierarchy: l1d, or l2 (bypassing the L1D)", {},
                     {"l1d", "l2"}),
      l1d_parameters(module_scope(context, *this).child("l1d"), {32, 8, 4}, "L1 data cache"),
      l2_parameters(module_scope(context, *this).child("l2"), {256, 4, 7}, "private L2 cache"),
      l1d(module_scope(context, *this).child("l1d"), l1d_parameters.config(line_bytes, seed)),
      l2(module_scope(context, *this).child("l2"), l2_parameters.config(line_bytes, seed + 1)),
      clock_(clock),
      hierarchy_(l1d, l2, llc, 0, walker_entry.get() == "l2"),
      line_bytes_(line_bytes) {
  if (line_bytes > 1 && !(line_bytes & (line_bytes - 1)))
    while ((1u << line_shift_) < line_bytes) ++line_shift_;
  cpu_side.register_b_transport(this, &CacheModule::b_transport);
  cpu_side.register_transport_dbg(this, &CacheModule::transport_dbg);
}

void CacheModule::set_requester(unsigned index, Requester who) {
  if (requesters_.size() <= index) requesters_.resize(index + 1, Requester::Data);
  requesters_[index] = who;
}

void CacheModule::b_transport(int initiator, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  const auto index = static_cast<std::size_t>(initiator);
  const Requester who = index < requesters_.size() ? requesters_[index] : Requester::Data;
  const CacheTiming timing = look_up(who, payload.is_write(), payload.get_address(), payload.get_data_length());
  if (auto* info = payload.get_extension<MemoryAccessExtension>())
    info->served_by = static_cast<std::uint8_t>(timing.served_by);
  delay += clock_.delay(timing.cycles);
  if (timing.served_by == ServedBy::Dram) {
    memory_side->b_transport(payload, delay);  // adds the DRAM latency
    return;
  }
  if (memory_side->transport_dbg(payload) != payload.get_data_length()) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

DirectAccessResult CacheModule::memory_through_socket(const CacheTiming& timing, bool write, Addr address,
                                                      unsigned char* data, unsigned length) {
  DirectAccessResult r{true, timing.cycles, static_cast<std::uint8_t>(timing.served_by)};
  tlm::tlm_generic_payload& p = memory_payload_;
  p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  p.set_address(address);
  p.set_data_ptr(data);
  p.set_data_length(length);
  p.set_streaming_width(length);
  p.set_byte_enable_ptr(nullptr);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  if (timing.served_by == ServedBy::Dram) {
    sc_core::sc_time latency = sc_core::SC_ZERO_TIME;
    memory_side->b_transport(p, latency);
    r.ok = !p.is_response_error();
    r.cycles += clock_.cycles(latency);
  } else {
    r.ok = memory_side->transport_dbg(p) == length;
  }
  return r;
}

void CacheModule::entry_access_failed(bool write, Addr address) const {
  throw std::runtime_error(std::string(name()) + ": page-table " + (write ? "write" : "read") +
                           " at physical address " + to_hex(address) + " failed: no memory there");
}

unsigned int CacheModule::transport_dbg(int, tlm::tlm_generic_payload& payload) {
  return memory_side->transport_dbg(payload);
}

}  // namespace virtsim
