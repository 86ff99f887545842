#pragma once
// The DMA engine as a thin SystemC module: a driver rings the doorbell (its MMIO write to the
// engine), the module's thread runs the ring (DmaEngine::run) and takes the time its memory
// accesses took before it answers the next ring. The engine reaches memory through the
// `memory` socket's port: the memory's own when the owner connected it beside the binding,
// else b_transport (tlm_ports.h); timing and counts are the same. The DEV belongs to the memory side (the
// host bridge), so its owner hands it in and every device's engine is checked by the same one.
#include <systemc>

#include "virtsim/common/clock.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/tlm_ports.h"
#include "virtsim/io/dma_engine.h"

namespace virtsim {

class DmaModule : public sc_core::sc_module {
 public:
  MemoryInitiatorSocket memory;

  DmaModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock,
            DeviceExclusionVector& dev);

  DmaEngine& engine() { return engine_; }
  // Latched: a ring before the thread waits (before the simulation starts) is not lost.
  void ring_doorbell() {
    rung_ = true;
    doorbell_.notify(sc_core::SC_ZERO_TIME);
  }

 private:
  // The engine's way to memory, whichever port `memory` gives at the time.
  struct Route final : MemoryPort {
    MemoryInitiatorSocket& socket;
    explicit Route(MemoryInitiatorSocket& s) : socket(s) {}
    MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
      return socket.port().access(write, address, data, length);
    }
    bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override {
      return socket.port().debug_access(write, address, data, length);
    }
  };
  void serve();

  const Clock& clock_;
  Route route_;
  DmaEngine engine_;
  sc_core::sc_event doorbell_;
  bool rung_ = false;
};

}  // namespace virtsim
