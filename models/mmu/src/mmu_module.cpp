#include "virtsim/mmu/mmu_module.h"

#include <stdexcept>

#include "virtsim/common/translation_extension.h"

namespace virtsim {

MmuModule::MmuModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      translate("translate"),
      memory("memory"),
      walker(module_scope(context, *this).child("walker")),
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
