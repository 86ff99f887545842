#pragma once
// A MemoryPort straight onto PhysicalMemory with one fixed latency per reference: what tests,
// benchmarks and analytic checks drive a PageWalker with when no cache hierarchy is wanted.
#include <vector>

#include "virtsim/common/memory_port.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

class DirectMemoryPort : public MemoryPort {
 public:
  DirectMemoryPort(PhysicalMemory& memory, Cycles latency, bool record = false)
      : memory_(memory), latency_(latency), record_(record) {}
  MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
    if (record_) (write ? writes : reads).push_back(address);
    return {latency_, memory_.transfer(write, address, data, length), ServedBy::Flat};
  }
  bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override {
    return memory_.transfer(write, address, data, length);
  }
  std::vector<Addr> reads;   // when recording
  std::vector<Addr> writes;

 private:
  PhysicalMemory& memory_;
  Cycles latency_;
  bool record_;
};

}  // namespace virtsim
