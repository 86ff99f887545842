#pragma once
// The DMA engine as a thin SystemC module: a driver rings the doorbell (its MMIO write to the
// engine), the module's thread runs the ring (DmaEngine::run) and takes the time its memory
// accesses took before it answers the next ring. Its `memory` socket binds to the memory
// module's port, and beside it, as for every memory initiator of the platform, the memory's
// plain-call route (set_direct_memory): the engine's accesses are then timed and counted as
// main-memory traffic exactly as over the socket. The DEV belongs to the memory side (the
// host bridge), so its owner hands it in and every device's engine is checked by the same one.
#include <tlm_utils/simple_initiator_socket.h>

#include <systemc>
#include <tlm>

#include "virtsim/common/clock.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/io/dma_engine.h"

namespace virtsim {

class DmaModule : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<DmaModule> memory;

  DmaModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock,
            DeviceExclusionVector& dev);

  void set_direct_memory(DirectAccess* direct) { route_.direct = direct; }
  DmaEngine& engine() { return engine_; }
  // Latched: a ring before the thread waits (before the simulation starts) is not lost.
  void ring_doorbell() {
    rung_ = true;
    doorbell_.notify(sc_core::SC_ZERO_TIME);
  }

 private:
  // The engine's way to memory: the plain call when there is one, else b_transport.
  struct Route : DirectAccess {
    DmaModule& owner;
    DirectAccess* direct = nullptr;
    explicit Route(DmaModule& m) : owner(m) {}
    DirectAccessResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
      return direct ? direct->access(write, address, data, length) : owner.through_socket(write, address, data, length);
    }
  };
  DirectAccessResult through_socket(bool write, Addr address, unsigned char* data, unsigned length);
  void serve();

  const Clock& clock_;
  Route route_;
  DmaEngine engine_;
  sc_core::sc_event doorbell_;
  bool rung_ = false;
};

}  // namespace virtsim
