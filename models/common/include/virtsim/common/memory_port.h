#pragma once
// One timed memory reference on behalf of the page walker: where it was served and what it
// cost. The memory hierarchy (models/memory) implements it; the walker (models/mmu) uses it.
#include <cstdint>

#include "virtsim/common/units.h"

namespace virtsim {

enum class ServedBy : std::uint8_t { L1, L2, Llc, Dram, Flat };

struct MemoryTiming {
  Cycles cycles = 0;
  ServedBy served_by = ServedBy::Flat;
};

class MemoryPort {
 public:
  virtual ~MemoryPort() = default;
  virtual MemoryTiming read_entry(Addr address, unsigned bytes, std::uint64_t& value) = 0;
  virtual MemoryTiming write_entry(Addr address, unsigned bytes, std::uint64_t value) = 0;
};

}  // namespace virtsim
