#pragma once
// Byte-addressed memory, zero until written: where a hypervisor keeps its VMXON and VMCS
// regions and the I/O and MSR permission bitmaps the mode switch consults.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "virtsim/vmx/vmx.h"

namespace virtsim {

class ByteMemory {
 public:
  std::uint8_t read(Addr a) const {
    auto it = bytes_.find(a);
    return it == bytes_.end() ? 0 : it->second;
  }
  void write(Addr a, std::uint8_t v) { bytes_[a] = v; }
  void set_bit(Addr base, std::uint64_t bit) { bytes_[base + bit / 8] |= std::uint8_t(1u << (bit % 8)); }
  void clear(Addr base, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) bytes_.erase(base + i);
  }
  void write32(Addr a, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) write(a + i, std::uint8_t(v >> (8 * i)));
  }
  ByteReader reader() const {
    return [this](Addr a) { return read(a); };
  }
  VmxUnit::RegionIo region_io() {
    return [this](Addr a, std::vector<std::uint8_t>& data, bool write_back) {
      for (std::size_t i = 0; i < data.size(); ++i) {
        if (write_back) write(a + i, data[i]);
        else data[i] = read(a + i);
      }
    };
  }

 private:
  std::unordered_map<Addr, std::uint8_t> bytes_;
};

}  // namespace virtsim
