#pragma once
// One vCPU's private caches as a thin TLM module around CacheHierarchy. The vCPU's data socket
// and its MMU's walker socket both bind to `cpu_side` (their indices say who is asking: data or
// page walk); `memory_side` goes to main memory. Every access adds the hierarchy's latency to
// the annotated delay; one that misses every level is forwarded to memory with b_transport,
// which adds the DRAM latency (system.memory.latency) and counts it. Hits move their bytes
// with debug transport: no time, no memory statistics. The last-level cache is shared: the
// platform owns it and hands it to every vCPU's module.
//
// Beside the sockets, data_route() is the vCPU's access as a plain call (DirectAccess), and
// walk_port() the walker's entry references as plain calls (MemoryPort); the platform hands
// them to the vCPU and the MMU it binds here. With
// set_direct_memory() full misses reach main memory the same way. Timing, statistics and
// bytes are those of b_transport.
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include <systemc>
#include <tlm>
#include <vector>

#include "virtsim/common/clock.h"
#include "virtsim/common/direct_access.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/memory_port.h"
#include "virtsim/memory/cache.h"
#include "virtsim/memory/memory_module.h"

namespace virtsim {

class CacheModule : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<CacheModule> cpu_side;
  tlm_utils::simple_initiator_socket<CacheModule> memory_side;

  CacheModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock, Cache& llc,
              unsigned line_bytes, std::uint64_t seed);

  // Who initiates on binding `index` of cpu_side (in binding order); data by default.
  void set_requester(unsigned index, Requester who);
  // The plain-call route of the data requester (the vCPU), and main memory's, for full misses.
  DirectAccess& data_route() { return data_route_; }
  // The page walker's references, as the walk requester's b_transport would time and count
  // them; one out of range throws (the MMU would answer it the same way over its socket).
  MemoryPort& walk_port() { return walk_port_; }
  void set_direct_memory(MemoryModule* memory) { direct_memory_ = memory; }

  Param<std::string> walker_entry;
  CacheParameters l1d_parameters;
  CacheParameters l2_parameters;
  Cache l1d;
  Cache l2;

 private:
  void b_transport(int initiator, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int initiator, tlm::tlm_generic_payload& payload);
  // The hierarchy's timing of one access: an access that spans two lines looks both up, and
  // the slower one decides.
  [[gnu::always_inline]] CacheTiming look_up(Requester who, bool write, Addr first, unsigned length) {
    const Addr last = first + (length ? length - 1 : 0);
    if (line_of(first) != line_of(last)) return look_up_two_lines(who, write, first, last);
    return hierarchy_.access(first, write, who);
  }
  // Out of line: rare (the vCPU's accesses are aligned words), and the inline path stays small.
  [[gnu::noinline]] CacheTiming look_up_two_lines(Requester who, bool write, Addr first, Addr last) {
    CacheTiming timing = hierarchy_.access(first, write, who);
    const CacheTiming second = hierarchy_.access(last, write, who);
    if (second.cycles > timing.cycles) timing = second;
    return timing;
  }
  // A shift when the line size is a power of two (Cache requires it of enabled caches).
  Addr line_of(Addr address) const { return line_shift_ ? address >> line_shift_ : address / line_bytes_; }
  // What b_transport does, as a plain call; inline, as every data access and walker reference
  // of a run takes it.
  [[gnu::always_inline]] DirectAccessResult direct_access(Requester who, bool write, Addr address,
                                                          unsigned char* data, unsigned length) {
    if (!direct_memory_)
      return memory_through_socket(look_up(who, write, address, length), write, address, data, length);
    // The host bytes are found and prefetched first: the host's own miss on them (random over
    // a large footprint, nearly always one) then overlaps the cache model's lookups instead of
    // following them. A load's prefetch matters most: loads move no bytes, but the store of a
    // read-modify-write that follows finds the line in the host's caches.
    std::uint8_t* host = direct_memory_->memory().host_bytes(address);
    if (host) __builtin_prefetch(host);
    const CacheTiming timing = look_up(who, write, address, length);
    DirectAccessResult r{true, timing.cycles, static_cast<std::uint8_t>(timing.served_by)};
    if (timing.served_by == ServedBy::Dram) {
      const DirectAccessResult m = direct_memory_->access(write, address, data, length, host);
      r.ok = m.ok;
      r.cycles += m.cycles;
    } else {
      r.ok = direct_memory_->move_bytes(write, address, data, length, host);
    }
    return r;
  }
  // The same with no plain route to memory: the transaction b_transport would send.
  DirectAccessResult memory_through_socket(const CacheTiming& timing, bool write, Addr address, unsigned char* data,
                                           unsigned length);

  // One route per requester, which each instance knows at compile time (its path through the
  // hierarchy is then a constant).
  template <Requester kWho>
  struct Route final : DirectAccess {
    explicit Route(CacheModule& cache) : cache(cache) {}
    [[gnu::hot]] DirectAccessResult access(bool write, Addr address, unsigned char* data,
                                           unsigned length) override {
      return cache.direct_access(kWho, write, address, data, length);
    }
    CacheModule& cache;
  };

  // The walker's route as a MemoryPort: one virtual call per entry reference, not the MMU's
  // port forwarding to the route.
  struct WalkPort final : MemoryPort {
    explicit WalkPort(CacheModule& cache) : cache(cache) {}
    [[gnu::hot]] MemoryTiming read_entry(Addr address, unsigned bytes, std::uint64_t& value) override {
      value = 0;
      return entry(false, address, bytes, value);
    }
    MemoryTiming write_entry(Addr address, unsigned bytes, std::uint64_t value) override {
      return entry(true, address, bytes, value);
    }
    [[gnu::always_inline]] MemoryTiming entry(bool write, Addr address, unsigned bytes,
                                              std::uint64_t& value) {
      const DirectAccessResult r = cache.direct_access(Requester::Walk, write, address,
                                                       reinterpret_cast<unsigned char*>(&value), bytes);
      if (!r.ok) [[unlikely]]
        cache.entry_access_failed(write, address);
      return {r.cycles, static_cast<ServedBy>(r.served_by)};
    }
    CacheModule& cache;
  };
  [[noreturn]] void entry_access_failed(bool write, Addr address) const;

  const Clock& clock_;
  CacheHierarchy hierarchy_;
  unsigned line_bytes_;
  unsigned line_shift_ = 0;  // 0: not a power of two
  std::vector<Requester> requesters_;
  Route<Requester::Data> data_route_{*this};
  WalkPort walk_port_{*this};
  MemoryModule* direct_memory_ = nullptr;  // unset: full misses of direct accesses use memory_side
  tlm::tlm_generic_payload memory_payload_;  // for those
};

}  // namespace virtsim
