#pragma once
// Side-band answer of a memory target over TLM: which level served an access (the MMU's
// walker needs it for the 2-D reference grid). The memory adapters (tlm_ports.h) attach it and
// fill it from MemoryResult::served_by.
#include <cstdint>
#include <tlm>

#include "virtsim/common/memory_port.h"

namespace virtsim {

struct MemoryAccessExtension : tlm::tlm_extension<MemoryAccessExtension> {
  ServedBy served_by = ServedBy::Flat;

  tlm::tlm_extension_base* clone() const override { return new MemoryAccessExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const MemoryAccessExtension&>(other);
  }
};

}  // namespace virtsim
