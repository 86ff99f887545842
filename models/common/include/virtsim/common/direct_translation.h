#pragma once
// A plain-call route to a translation target beside its TLM socket, as DirectAccess is for
// memory targets: the platform sets it up when it binds a vCPU's `translate` socket. resolve()
// has exactly the effect b_transport has on that target (the walk, its statistics, walker
// occupancy) but takes the request's arrival as whole cycles ahead of SystemC time and returns
// the latency in cycles, so a TLB miss makes no transaction and no time conversion.
#include "virtsim/common/translation_extension.h"
#include "virtsim/common/units.h"

namespace virtsim {

class DirectTranslation {
 public:
  virtual ~DirectTranslation() = default;
  // `va` and the request half of `ext` in, the response half out. `local_cycles`: how far the
  // initiator's local time runs ahead of SystemC time when the request is made. Returns the
  // cycles until the response (any wait for a free walker, then the walk).
  virtual Cycles resolve(Addr va, TranslationExtension& ext, Cycles local_cycles) = 0;
};

}  // namespace virtsim
