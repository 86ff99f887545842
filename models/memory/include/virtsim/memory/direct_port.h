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
  MemoryTiming read_entry(Addr address, unsigned bytes, std::uint64_t& value) override {
    value = 0;
    memory_.read(address, &value, bytes);
    if (record_) reads.push_back(address);
    return {latency_, ServedBy::Flat};
  }
  MemoryTiming write_entry(Addr address, unsigned bytes, std::uint64_t value) override {
    memory_.write(address, &value, bytes);
    if (record_) writes.push_back(address);
    return {latency_, ServedBy::Flat};
  }
  std::vector<Addr> reads;   // when recording
  std::vector<Addr> writes;

 private:
  PhysicalMemory& memory_;
  Cycles latency_;
  bool record_;
};

}  // namespace virtsim
