#include "virtsim/io/dma_module.h"

namespace virtsim {

DmaModule::DmaModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock,
                     DeviceExclusionVector& dev)
    : sc_core::sc_module(name),
      memory("memory", clock),
      clock_(clock),
      route_(memory),
      engine_(module_scope(context, *this), route_, dev) {
  SC_HAS_PROCESS(DmaModule);
  SC_THREAD(serve);
}

void DmaModule::serve() {
  for (;;) {
    while (!rung_) sc_core::wait(doorbell_);
    rung_ = false;
    sc_core::wait(clock_.delay(engine_.run()));
  }
}

}  // namespace virtsim
