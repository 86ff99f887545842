#include "virtsim/mmu/mmu_module.h"

#include <stdexcept>

#include "virtsim/common/translation_extension.h"

namespace virtsim {

MmuModule::MmuModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      translate("translate"),
      memory("memory"),
      VIRTSIM_MEMBER(check, module_scope(context, *this), false, "",
                     "compare every walk with the zero-time functional reference walk and stop on a mismatch"),
      walker(module_scope(context, *this).child("walker")),
      VIRTSIM_MEMBER(checked, module_scope(context, *this), "walks", "walks compared with the functional reference"),
      clock_(clock) {
  translate.register_b_transport(this, &MmuModule::b_transport);
}

void MmuModule::b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  auto* ext = payload.get_extension<TranslationExtension>();
  if (!ext) {
    payload.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  const WalkRequest request{ext->cr3, payload.get_address(), ext->kind, ext->cpl == 3};
  const WalkOutcome& outcome = walker.walk(request, *this);
  const Translation& t = outcome.translation;
  if (check) check_against_reference(request, t);
  ext->fault = t.fault;
  ext->error_code = t.error_code;
  ext->physical_address = t.physical_address;
  ext->page_shift = static_cast<std::uint8_t>(t.page_shift);
  ext->leaf_entry = t.leaf_entry;
  ext->global = (t.leaf_entry & pte::kGlobal) != 0;
  ext->writable = t.writable;
  ext->user = t.user;
  ext->executable = t.executable;
  ext->walk_refs = outcome.refs;
  ext->walk_cycles = outcome.cycles;
  delay += clock_.delay(outcome.cycles);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

std::uint64_t MmuModule::debug_read(Addr address) {
  std::uint64_t value = 0;
  debug_read_.set_command(tlm::TLM_READ_COMMAND);
  debug_read_.set_address(address);
  debug_read_.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
  debug_read_.set_data_length(8);
  if (memory->transport_dbg(debug_read_) != 8)
    throw std::runtime_error(std::string(name()) + ": debug read at " + to_hex(address) + " failed");
  return value;
}

void MmuModule::check_against_reference(const WalkRequest& request, const Translation& timed) {
  // Debug transport: no time, no statistics, so checking changes no result.
  const Translation expected = reference_translate([this](Addr a) { return debug_read(a); }, request.cr3, request.va,
                                                   request.kind, request.user);
  ++checked;
  if (timed.fault == expected.fault && timed.error_code == expected.error_code &&
      timed.physical_address == expected.physical_address && timed.page_shift == expected.page_shift)
    return;
  throw std::runtime_error(std::string(name()) + ": translation check failed for " + to_hex(request.va) + " (cr3 " +
                           to_hex(request.cr3) + "): walker gave " +
                           (timed.fault ? "fault " + std::to_string(timed.error_code) : to_hex(timed.physical_address)) +
                           ", reference gave " +
                           (expected.fault ? "fault " + std::to_string(expected.error_code)
                                           : to_hex(expected.physical_address)));
}

Cycles MmuModule::read_entry(Addr address, std::uint64_t& value) {
  entry_read_.set_command(tlm::TLM_READ_COMMAND);
  entry_read_.set_address(address);
  entry_read_.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
  entry_read_.set_data_length(8);
  entry_read_.set_streaming_width(8);
  entry_read_.set_byte_enable_ptr(nullptr);
  entry_read_.set_dmi_allowed(false);
  entry_read_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time latency = sc_core::SC_ZERO_TIME;
  memory->b_transport(entry_read_, latency);
  if (entry_read_.is_response_error())
    throw std::runtime_error(std::string(name()) + ": page-table read at physical address " +
                             to_hex(address) + " failed: " + entry_read_.get_response_string());
  return clock_.cycles(latency);
}

}  // namespace virtsim
