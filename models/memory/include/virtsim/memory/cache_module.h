#pragma once
// One vCPU's private caches as a thin SystemC module around CacheHierarchy. Its requesters'
// ports, data_port() (the vCPU's loads, stores and fetches) and walk_port() (the page walker's
// entry references), look an access up in the hierarchy and add its latency; one that misses
// every level goes on to main memory through `memory_side`, whose latency it adds and which
// counts it. A hit's bytes move untimed and uncounted (debug transport, or straight into the
// memory's direct memory when it grants it). The last-level cache is shared: the platform
// owns it and hands it to every vCPU's module.
//
// Over TLM, the vCPU's data socket and its MMU's memory socket bind to `cpu_side`, whose
// bindings set_requester() maps to those two ports; the platform connects each initiator to
// its port directly as well.
#include <systemc>
#include <vector>

#include "virtsim/common/clock.h"
#include "virtsim/common/memory_port.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/tlm_ports.h"
#include "virtsim/memory/cache.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

class CacheModule : public sc_core::sc_module {
 public:
  MemoryTargetSocket cpu_side;
  MemoryInitiatorSocket memory_side;

  CacheModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock, Cache& llc,
              unsigned line_bytes, std::uint64_t seed);

  // Who initiates on binding `index` of cpu_side (in binding order); data by default.
  void set_requester(unsigned index, Requester who);
  // The requesters' ports: the vCPU's data accesses and the page walker's references.
  MemoryPort& data_port() { return data_port_; }
  MemoryPort& walk_port() { return walk_port_; }

  Param<std::string> walker_entry;
  CacheParameters l1d_parameters;
  CacheParameters l2_parameters;
  Cache l1d;
  Cache l2;

 private:
  // The hierarchy's timing of one access: an access that spans two lines looks both up, and
  // the slower one decides.
  [[gnu::always_inline]] CacheTiming look_up(Requester who, bool write, Addr first, unsigned length) {
    // Past its line's end when the offset in the line and the length together exceed a line
    // (a mask when the line size is a power of two, as Cache requires of enabled caches).
    const Addr offset = line_shift_ ? first & (line_bytes_ - 1) : first % line_bytes_;
    if (offset + length > line_bytes_) [[unlikely]]
      return look_up_two_lines(who, write, first, first + length - 1);
    return hierarchy_.access(first, write, who);
  }
  // Out of line: rare (the vCPU's accesses are aligned words), and the inline path stays small.
  [[gnu::noinline]] CacheTiming look_up_two_lines(Requester who, bool write, Addr first, Addr last) {
    CacheTiming timing = hierarchy_.access(first, write, who);
    const CacheTiming second = hierarchy_.access(last, write, who);
    if (second.cycles > timing.cycles) timing = second;
    return timing;
  }
  // One access of a requester; inline, as every data access and walker reference of a run
  // takes it.
  [[gnu::always_inline]] MemoryResult serve(Requester who, bool write, Addr address, unsigned char* data,
                                            unsigned length) {
    // With direct memory the host bytes are found and prefetched first: the host's own miss on
    // them (random over a large footprint, nearly always one) then overlaps the cache model's
    // lookups instead of following them. A load's prefetch matters most: loads move no bytes,
    // but the store of a read-modify-write that follows finds the line in the host's caches.
    // Where finding them is a frame-table lookup, an access that moves no bytes skips it, and
    // one that does looks its frame up once, whichever level serves it.
    PhysicalMemory* direct = memory_side.direct_memory();
    std::uint8_t* host = direct && (data || direct->contiguous()) ? direct->host_bytes(address) : nullptr;
    if (host) __builtin_prefetch(host);
    const CacheTiming timing = look_up(who, write, address, length);
    MemoryResult r{timing.cycles, true, timing.served_by};
    if (timing.served_by == ServedBy::Dram) {  // main memory times and counts the miss
      const MemoryResult m = memory_side.port().access(write, address, direct ? nullptr : data, length);
      r.cycles += m.cycles;
      r.ok = m.ok && (!direct || direct->transfer_at(write, address, data, length, host));
    } else {  // a hit's bytes move untimed
      r.ok = direct ? direct->transfer_at(write, address, data, length, host)
                    : memory_side.port().debug_access(write, address, data, length);
    }
    return r;
  }
  // The hierarchy's lookups and fills (tags, replacement, dirty bits, the levels' counts) as
  // serve() makes them, then the bytes moved untimed: main memory sees no transaction and counts
  // nothing (its fixed latency keeps no state). Returns the lookups' timing and whether the bytes
  // moved. Inline into the ports' warm(), as serve() is into their access().
  [[gnu::always_inline]] MemoryResult look_up_then_move_untimed(Requester who, bool write, Addr address,
                                                                unsigned char* data, unsigned length) {
    const CacheTiming timing = look_up(who, write, address, length);
    PhysicalMemory* direct = memory_side.direct_memory();
    const bool ok = direct ? direct->transfer(write, address, data, length)
                           : memory_side.port().debug_access(write, address, data, length);
    return {timing.cycles, ok, timing.served_by};
  }
  // A fast-string store of a whole line: looked up (and allocated, dirty) as a store is, but a
  // miss reads nothing from memory: the line's bytes land untimed.
  MemoryResult serve_whole_line(Requester who, Addr address, unsigned char* data, unsigned length) {
    return look_up_then_move_untimed(who, true, address, data, length);
  }
  // A functional access of a requester: no latency.
  [[gnu::always_inline]] bool warm(Requester who, bool write, Addr address, unsigned char* data, unsigned length) {
    return look_up_then_move_untimed(who, write, address, data, length).ok;
  }

  // One port per requester, which each instance knows at compile time (its path through the
  // hierarchy is then a constant); final, so serve() is inlined into the one virtual call.
  template <Requester kWho>
  struct Port final : MemoryPort {
    explicit Port(CacheModule& cache) : cache(cache) {}
    [[gnu::hot]] MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
      return cache.serve(kWho, write, address, data, length);
    }
    MemoryResult store_whole_line(Addr address, unsigned char* data, unsigned length) override {
      return cache.serve_whole_line(kWho, address, data, length);
    }
    bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override {
      return cache.memory_side.port().debug_access(write, address, data, length);
    }
    bool warm(bool write, Addr address, unsigned char* data, unsigned length) override {
      return cache.warm(kWho, write, address, data, length);
    }
    CacheModule& cache;
  };

  CacheHierarchy hierarchy_;
  unsigned line_bytes_;
  unsigned line_shift_ = 0;  // 0: not a power of two
  Port<Requester::Data> data_port_{*this};
  Port<Requester::Walk> walk_port_{*this};
};

}  // namespace virtsim
