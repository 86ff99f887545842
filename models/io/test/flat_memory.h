#pragma once
// The io tests' memory side: PhysicalMemory behind a MemoryPort with one fixed latency,
// counting its accesses, so a test can tell exactly what the engine's time is made of.
#include <cstring>
#include <vector>

#include "virtsim/common/memory_port.h"
#include "virtsim/io/dma_engine.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim::testing_support {

struct FlatMemory : MemoryPort {
  static constexpr Cycles kLatency = 100;
  PhysicalMemory memory{Addr{16} << 20, PhysicalMemory::Layout::Frames};
  std::uint64_t accesses = 0;

  MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
    if (!memory.transfer(write, address, data, length)) return {0, false, ServedBy::Flat};
    ++accesses;
    return {kLatency, true, ServedBy::Flat};
  }
  bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override {
    return memory.transfer(write, address, data, length);
  }
  // Bytes as a driver writes them: any length, across pages.
  void put(Addr address, const std::vector<unsigned char>& bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) memory.write(address + i, &bytes[i], 1);
  }
  std::vector<unsigned char> get(Addr address, std::size_t length) {
    std::vector<unsigned char> out(length);
    for (std::size_t i = 0; i < length; ++i) memory.read(address + i, &out[i], 1);
    return out;
  }
  void put_descriptor(Addr at, Addr source, Addr destination, std::uint32_t length) {
    unsigned char raw[dma_descriptor::kBytes] = {};
    const std::uint32_t control = dma_descriptor::kOwn;
    std::memcpy(raw + dma_descriptor::kSource, &source, 8);
    std::memcpy(raw + dma_descriptor::kDestination, &destination, 8);
    std::memcpy(raw + dma_descriptor::kLength, &length, 4);
    std::memcpy(raw + dma_descriptor::kControl, &control, 4);
    memory.write(at, raw, dma_descriptor::kBytes);
  }
  std::uint32_t read32(Addr address) {
    std::uint32_t v = 0;
    memory.read(address, &v, 4);
    return v;
  }
};

// Bytes that differ from their neighbours, so a shifted or short copy shows.
inline std::vector<unsigned char> pattern(std::size_t length, unsigned seed) {
  std::vector<unsigned char> out(length);
  for (std::size_t i = 0; i < length; ++i) out[i] = static_cast<unsigned char>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  return out;
}

}  // namespace virtsim::testing_support
