#include "virtsim/io/device_exclusion_vector.h"

namespace virtsim {

DeviceExclusionVector::DeviceExclusionVector(const Scope& scope, MemoryPort& memory)
    : VIRTSIM_MEMBER(checks, scope, "accesses", "device accesses checked against the DEV"),
      VIRTSIM_MEMBER(bitmap_reads, scope, "accesses",
                     "bitmap bytes read through the memory port (no DEV cache is modelled: one per check the bitmap "
                     "decides)"),
      VIRTSIM_MEMBER(refused, scope, "accesses", "device accesses refused (by the bitmap or the SLB protection)"),
      VIRTSIM_MEMBER(refused_secure_loader, scope, "accesses",
                     "of those, refused because they fell in the Secure Loader Block while SL_DEV_EN was set"),
      memory_(memory) {}

std::uint32_t DeviceExclusionVector::read(DevFunction function) const {
  switch (function) {
    case DevFunction::BaseLo: return base_lo_;
    case DevFunction::BaseHi: return base_hi_;
    case DevFunction::Control: return control_;
    case DevFunction::ErrorStatus: return error_status_;
    case DevFunction::ErrorAddressLo: return static_cast<std::uint32_t>(error_address_);
    case DevFunction::ErrorAddressHi: return static_cast<std::uint32_t>(error_address_ >> 32);
    case DevFunction::Map: case DevFunction::Cap: return 0;
  }
  return 0;
}

void DeviceExclusionVector::write(DevFunction function, std::uint32_t value) {
  switch (function) {
    case DevFunction::BaseLo: base_lo_ = value; break;
    case DevFunction::BaseHi: base_hi_ = value; break;
    // INV_CACHE is a command, not state: it reads back as zero.
    case DevFunction::Control: control_ = value & ~dev_control::kInvalidateCache; break;
    case DevFunction::ErrorStatus: error_status_ = value; break;  // software clears the log
    case DevFunction::ErrorAddressLo: case DevFunction::ErrorAddressHi: break;  // read-only
    case DevFunction::Map: case DevFunction::Cap: break;
  }
}

void DeviceExclusionVector::protect_secure_loader(Addr slb_base) {
  slb_base_ = slb_base & ~(kSecureLoaderBlockBytes - 1);
  control_ |= dev_control::kSecureLoaderEnable;
}

Addr DeviceExclusionVector::bitmap_base() const {
  return (Addr{base_hi_} << 32) | (base_lo_ & dev_base::kAddressMask);
}

DeviceExclusionVector::Verdict DeviceExclusionVector::check(Addr address, bool write) {
  ++checks;
  Verdict verdict;
  if (in_secure_loader_block(address)) {
    ++refused_secure_loader;
    log_error(address, write);
    verdict.allowed = false;
    return verdict;
  }
  if (!(control_ & dev_control::kEnable) || !(base_lo_ & dev_base::kValid) || address >= covered_bytes())
    return verdict;
  const Addr page = address >> kPageShift4K;
  unsigned char byte = 0;
  const MemoryResult r = memory_.access(false, bitmap_base() + page / 8, &byte, 1);
  ++bitmap_reads;
  verdict.cycles = r.cycles;
  if (r.ok && !((byte >> (page % 8)) & 1)) return verdict;
  // A bitmap byte outside memory refuses too: the DEV fails closed.
  log_error(address, write);
  verdict.allowed = false;
  return verdict;
}

void DeviceExclusionVector::log_error(Addr address, bool write) {
  ++refused;
  // The model's encoding of DEV_ERR_STATUS: bit 0 an error is logged, bit 1 it was a write.
  error_status_ = 1u | (write ? 2u : 0u);
  error_address_ = address;
}

}  // namespace virtsim
