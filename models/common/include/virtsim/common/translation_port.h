#pragma once
// The one way a model asks for a translation, as MemoryPort is for memory: an initiator (the
// vCPU, on a TLB miss) calls access() on a TranslationPort, and the MMU implements it in plain
// C++. Bound directly or through a TLM socket (tlm_ports.h), the walk, its statistics and the
// walkers' occupancy are the same.
#include "virtsim/common/translation_extension.h"
#include "virtsim/common/units.h"

namespace virtsim {

struct TranslationResult {
  Cycles cycles = 0;  // until the response: any wait for a free walker, then the walk
  bool ok = true;     // false: the target could not take the request (a TLM error response)
};

class TranslationPort {
 public:
  virtual ~TranslationPort() = default;
  // `va` and the request half of `ext` in, its response half out. `local_cycles`: how far the
  // initiator's local time runs ahead of SystemC time when it makes the request.
  virtual TranslationResult access(Addr va, TranslationExtension& ext, Cycles local_cycles) = 0;
};

}  // namespace virtsim
