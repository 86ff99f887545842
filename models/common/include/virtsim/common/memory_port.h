#pragma once
// The one way a model reaches memory: an initiator (the vCPU's data accesses, the page
// walker's entry references, a cache's misses, a DMA engine) calls access() on a MemoryPort,
// and a target (the cache hierarchy, main memory, a test's flat memory) implements it in plain
// C++. Whether a port is the target itself (the platform connects them directly) or a TLM
// socket to it (tlm_ports.h: the initiator adapter sends b_transport, the target adapter turns
// it back into access()), timing, statistics and bytes are the same.
#include <cstdint>

#include "virtsim/common/units.h"

namespace virtsim {

class PhysicalMemory;  // models/memory

enum class ServedBy : std::uint8_t { L1, L2, Llc, Dram, Flat };

// What one access cost and where it was served. `ok` false: nothing is at that address (a TLM
// target answers TLM_ADDRESS_ERROR_RESPONSE). Cycles first: the whole result comes back in two
// registers.
struct MemoryResult {
  Cycles cycles = 0;
  bool ok = true;
  ServedBy served_by = ServedBy::Flat;
};

class MemoryPort {
 public:
  virtual ~MemoryPort() = default;
  // A timed access of `length` bytes at `address` (`data` is written for a read, read for a
  // write). Without `data` the access is timed and counted like any other but moves nothing:
  // a read whose value nobody uses (a guest load: the model has no data-dependent
  // behaviour), or a write of what memory already holds (bytes the guest OS model wrote).
  virtual MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) = 0;
  // A fast-string store of one whole line (`address` its start, `length` the line's bytes):
  // a cache takes the line without reading it from below (no read-for-ownership), so nothing
  // below a miss is asked and the result's cycles are the lookups' only, its `served_by` where
  // the line was found (Dram: in no cache). A port without caches makes it a plain write.
  virtual MemoryResult store_whole_line(Addr address, unsigned char* data, unsigned length) {
    return access(true, address, data, length);
  }
  // The bytes only, in no time and counted nowhere (TLM's debug transport); false when nothing
  // is at that address.
  virtual bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) = 0;
  // A functional access (functional mode's, as gem5's functional accesses are): the state
  // changes of access() that a later timed access depends on (cache tags and replacement) and
  // the bytes, but no timing and no count of main memory's; false as access()'s `ok`. By
  // default access() with its timing dropped, for targets whose timing keeps no state.
  virtual bool warm(bool write, Addr address, unsigned char* data, unsigned length) {
    return access(write, address, data, length).ok;
  }
  // The simulated physical memory behind this port when its bytes may be moved there directly
  // (what TLM's DMI grants): a cache hit's bytes go there without a call through the port.
  // Null when they may not.
  virtual PhysicalMemory* direct_memory() { return nullptr; }

  // A page-table entry of 4 or 8 bytes, as the walker reads and writes it. A reference to
  // where no memory is ends the run: the tables the walk follows point there.
  MemoryResult read_entry(Addr address, unsigned bytes, std::uint64_t& value) {
    value = 0;
    const MemoryResult r = access(false, address, reinterpret_cast<unsigned char*>(&value), bytes);
    if (!r.ok) [[unlikely]]
      entry_access_failed(false, address);
    return r;
  }
  MemoryResult write_entry(Addr address, unsigned bytes, std::uint64_t value) {
    const MemoryResult r = access(true, address, reinterpret_cast<unsigned char*>(&value), bytes);
    if (!r.ok) [[unlikely]]
      entry_access_failed(true, address);
    return r;
  }

 private:
  [[noreturn, gnu::cold]] static void entry_access_failed(bool write, Addr address);
};

}  // namespace virtsim
