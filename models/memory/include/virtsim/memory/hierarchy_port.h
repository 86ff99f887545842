#pragma once
// A MemoryPort through a CacheHierarchy onto PhysicalMemory: what tests and benchmarks drive a
// PageWalker with when the walker's references should compete with data in the caches, as
// they do in the simulator (where CacheModule::walk_port() does the same).
#include "virtsim/common/memory_port.h"
#include "virtsim/memory/cache.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

class HierarchyMemoryPort : public MemoryPort {
 public:
  HierarchyMemoryPort(PhysicalMemory& memory, CacheHierarchy& caches) : memory_(memory), caches_(caches) {}
  MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
    if (!memory_.transfer(write, address, data, length)) return {0, false, ServedBy::Flat};
    const CacheTiming t = caches_.access(address, write, Requester::Walk);
    return {t.cycles, true, t.served_by};
  }
  bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override {
    return memory_.transfer(write, address, data, length);
  }

 private:
  PhysicalMemory& memory_;
  CacheHierarchy& caches_;
};

}  // namespace virtsim
