#pragma once
// Fixed-latency main memory as a TLM-2.0 LT target. Any number of initiators (vCPU data
// ports, walkers) bind to its one multi-target socket. Reads and writes really move bytes
// in PhysicalMemory; each access adds `latency` cycles to the annotated delay.
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "virtsim/common/clock.h"
#include "virtsim/common/direct_access.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

class MemoryModule : public sc_core::sc_module, public DirectAccess {
 public:
  tlm_utils::multi_passthrough_target_socket<MemoryModule> port;

  MemoryModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock);

  PhysicalMemory& memory() { return memory_; }

  // What b_transport does, as a plain call (DirectAccess): the bytes, the counts, the latency.
  DirectAccessResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
    return access(write, address, data, length, nullptr);
  }
  // The same with `host`, where the bytes live in host memory, when the caller has looked it
  // up already (PhysicalMemory::host_bytes(address)); null: look it up here. move_bytes() too.
  DirectAccessResult access(bool write, Addr address, unsigned char* data, unsigned length,
                            std::uint8_t* host) {
    if (!in_one_frame(address, length)) return {false, 0, MemoryAccessExtension::kUnknown};
    if (data) move(write, address, data, length, host);
    ++(write ? writes : reads);
    bytes += length;
    return {true, latency_cycles_, MemoryAccessExtension::kUnknown};
  }
  // What transport_dbg does: the bytes only, no time and no statistics. False when out of range.
  bool move_bytes(bool write, Addr address, unsigned char* data, unsigned length,
                  std::uint8_t* host = nullptr) {
    if (!in_one_frame(address, length)) return false;
    if (data) move(write, address, data, length, host);
    return true;
  }

  Param<std::uint64_t> size_mib;
  Param<std::uint64_t> latency;
  Param<std::uint64_t> host_budget_mib;
  HostMemoryBudget& host_budget() { return host_budget_; }

  Counter reads;
  Counter writes;
  Counter bytes;

 private:
  void b_transport(int initiator, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int initiator, tlm::tlm_generic_payload& payload);

  void move(bool write, Addr address, unsigned char* data, unsigned length, std::uint8_t* host) {
    if (!host) {  // a frame never written: write() allocates it, read() gives zeros
      if (write) memory_.write(address, data, length);
      else memory_.read(address, data, length);
    } else if (write) {
      PhysicalMemory::copy(host, data, length);
    } else {
      PhysicalMemory::copy(data, host, length);
    }
  }
  bool in_one_frame(Addr address, unsigned length) const {
    return memory_.contains(address, length) && (address & (kPageSize4K - 1)) + length <= kPageSize4K;
  }

  const Clock& clock_;
  HostMemoryBudget host_budget_;
  PhysicalMemory memory_;
  Cycles latency_cycles_;  // `latency`, read once
};

}  // namespace virtsim
