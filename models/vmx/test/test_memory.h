#pragma once
// Byte-addressed physical memory for the VMX/SVM tests: VMCS regions and permission bitmaps.
#include <cstdint>
#include <map>
#include <vector>

#include "virtsim/vmx/vmx.h"

namespace virtsim::testing_support {

struct TestMemory {
  std::map<Addr, std::uint8_t> bytes;
  std::uint8_t read(Addr a) const {
    auto it = bytes.find(a);
    return it == bytes.end() ? 0 : it->second;
  }
  void set_bit(Addr base, std::uint64_t bit) { bytes[base + bit / 8] |= std::uint8_t(1u << (bit % 8)); }
  ByteReader reader() const {
    return [this](Addr a) { return read(a); };
  }
  VmxUnit::RegionIo region_io() {
    return [this](Addr a, std::vector<std::uint8_t>& data, bool write) {
      for (std::size_t i = 0; i < data.size(); ++i) {
        if (write) bytes[a + i] = data[i];
        else data[i] = read(a + i);
      }
    };
  }
  void put_revision(Addr region, std::uint32_t revision) {
    for (int i = 0; i < 4; ++i) bytes[region + i] = std::uint8_t(revision >> (8 * i));
  }
};

}  // namespace virtsim::testing_support
