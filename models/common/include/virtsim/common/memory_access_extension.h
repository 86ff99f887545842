#pragma once
// Side-band answer of the cache hierarchy: which level served an access. An initiator that
// wants to know (the MMU, for the 2-D reference grid) attaches it; targets that do not model
// caches leave it untouched.
#include <cstdint>
#include <tlm>

namespace virtsim {

struct MemoryAccessExtension : tlm::tlm_extension<MemoryAccessExtension> {
  static constexpr std::uint8_t kUnknown = 0xff;
  std::uint8_t served_by = kUnknown;  // virtsim::ServedBy (memory_port.h): 0 L1, 1 L2, 2 LLC, 3 DRAM

  tlm::tlm_extension_base* clone() const override { return new MemoryAccessExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const MemoryAccessExtension&>(other);
  }
};

}  // namespace virtsim
