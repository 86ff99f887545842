#pragma once
// A MemoryPort through a CacheHierarchy onto PhysicalMemory: what tests and benchmarks drive a
// PageWalker with when the walker's references should compete with data in the caches, as
// they do in the simulator (where CacheModule does the same over TLM).
#include "virtsim/common/memory_port.h"
#include "virtsim/memory/cache.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

class HierarchyMemoryPort : public MemoryPort {
 public:
  HierarchyMemoryPort(PhysicalMemory& memory, CacheHierarchy& caches) : memory_(memory), caches_(caches) {}
  MemoryTiming read_entry(Addr address, unsigned bytes, std::uint64_t& value) override {
    value = 0;
    memory_.read(address, &value, bytes);
    const CacheTiming t = caches_.access(address, false, Requester::Walk);
    return {t.cycles, t.served_by};
  }
  MemoryTiming write_entry(Addr address, unsigned bytes, std::uint64_t value) override {
    memory_.write(address, &value, bytes);
    const CacheTiming t = caches_.access(address, true, Requester::Walk);
    return {t.cycles, t.served_by};
  }

 private:
  PhysicalMemory& memory_;
  CacheHierarchy& caches_;
};

}  // namespace virtsim
