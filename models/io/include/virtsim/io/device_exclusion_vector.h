#pragma once
// The Device Exclusion Vector (AMD64 Architecture Programmer's Manual vol. 2, chapter 15
// "Secure Virtual Machine", section "Device Exclusion Vector (DEV)"): a bitmap in physical
// memory, one bit per 4 KiB page, that the memory controller consults on every access a
// device makes; a set bit refuses the access. Software reaches the DEV's registers through
// the host bridge's DEV_OP / DEV_DATA pair, one function number per register; the model keeps
// the registers that decide an access: DEV_BASE_LO/HI (the bitmap's base, VALID, SIZE), DEV_CR
// (DEV_EN, SL_DEV_EN, INV_CACHE) and the error log (DEV_ERR_STATUS, DEV_ERR_ADDR_LO/HI).
//
// SL_DEV_EN is the "protection of the Secure Loader Block": SKINIT sets it, and while it is set
// the 64 KiB SLB is refused to devices whatever the bitmap says, so the secure loader is safe
// from DMA before it has built a bitmap of its own (it clears SL_DEV_EN once it has).
#include <cstdint>

#include "virtsim/common/memory_port.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"

namespace virtsim {

// DEV function numbers, written to DEV_OP to select what DEV_DATA reads and writes.
enum class DevFunction : unsigned {
  BaseLo = 0,
  BaseHi = 1,
  Map = 2,
  Cap = 3,
  Control = 4,
  ErrorStatus = 5,
  ErrorAddressLo = 6,
  ErrorAddressHi = 7,
};

namespace dev_base {
inline constexpr std::uint32_t kValid = 1u << 0, kProtected = 1u << 1;
inline constexpr unsigned kSizeShift = 2;  // SIZE, bits 6:2
inline constexpr std::uint32_t kSizeMask = 0x1fu << kSizeShift;
inline constexpr std::uint32_t kAddressMask = 0xfffff000u;  // base bits 31:12 (DEV_BASE_HI: 63:32)
}  // namespace dev_base

namespace dev_control {
inline constexpr std::uint32_t kEnable = 1u << 0, kMemoryClear = 1u << 1, kIoSpace = 1u << 2,
                               kMachineCheck = 1u << 3, kInvalidateCache = 1u << 4, kSecureLoaderEnable = 1u << 5,
                               kWalkProbe = 1u << 6;
}  // namespace dev_control

inline constexpr Addr kSecureLoaderBlockBytes = Addr{64} << 10;

class DeviceExclusionVector {
 public:
  // `memory` is the memory side the bitmap is read through (the same port devices use).
  DeviceExclusionVector(const Scope& scope, MemoryPort& memory);

  // DEV_DATA with DEV_OP = `function`. Map and Cap read as zero and ignore writes (one
  // protection domain). Writing DEV_CR with INV_CACHE set needs no work: no DEV cache is
  // modelled, every check reads the bitmap.
  std::uint32_t read(DevFunction function) const;
  void write(DevFunction function, std::uint32_t value);

  // What SKINIT does to the DEV: protect the 64 KiB at `slb_base` and set SL_DEV_EN.
  void protect_secure_loader(Addr slb_base);

  struct Verdict {
    bool allowed = true;
    Cycles cycles = 0;  // reading the bitmap through the memory port
  };
  // One device access to the page holding `address`, checked as the memory controller checks
  // it. A refused one is counted and logged in DEV_ERR_STATUS / DEV_ERR_ADDR.
  Verdict check(Addr address, bool write);

  Addr bitmap_base() const;
  // Physical memory the bitmap covers: the model reads SIZE as 4 GiB << SIZE.
  Addr covered_bytes() const { return (Addr{4} << 30) << ((base_lo_ & dev_base::kSizeMask) >> dev_base::kSizeShift); }
  bool secure_loader_protected() const { return control_ & dev_control::kSecureLoaderEnable; }
  Addr secure_loader_base() const { return slb_base_; }

  Counter checks;
  Counter bitmap_reads;
  Counter refused;
  Counter refused_secure_loader;

 private:
  bool in_secure_loader_block(Addr address) const {
    return secure_loader_protected() && address >= slb_base_ && address - slb_base_ < kSecureLoaderBlockBytes;
  }
  void log_error(Addr address, bool write);

  MemoryPort& memory_;
  std::uint32_t base_lo_ = 0, base_hi_ = 0, control_ = 0;
  std::uint32_t error_status_ = 0;
  Addr error_address_ = 0;
  Addr slb_base_ = 0;
};

}  // namespace virtsim
