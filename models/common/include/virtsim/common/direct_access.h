#pragma once
// A plain-call route to a memory target, beside its TLM socket (DMI-style: the platform sets it
// up when it binds the socket). access() has exactly the effect b_transport has on that target
// (timing, statistics, bytes moved) but returns the latency in cycles instead of annotating an
// sc_time, so the per-reference path has no transaction, no virtual socket hops and no time
// conversion. Initiators left without one (tests wiring their own targets) use the socket.
#include <cstdint>

#include "virtsim/common/memory_access_extension.h"
#include "virtsim/common/units.h"

namespace virtsim {

struct DirectAccessResult {
  bool ok = true;  // false: the target would have answered TLM_ADDRESS_ERROR_RESPONSE
  Cycles cycles = 0;
  std::uint8_t served_by = MemoryAccessExtension::kUnknown;  // as MemoryAccessExtension::served_by
};

class DirectAccess {
 public:
  virtual ~DirectAccess() = default;
  // `data` holds `length` bytes (written for a read, read for a write). Without `data` an
  // access is timed and counted like any other but moves nothing: a read whose value nobody
  // uses (a guest load: the model has no data-dependent behaviour), or a write of what memory
  // already holds (bytes the guest OS model wrote itself).
  virtual DirectAccessResult access(bool write, Addr address, unsigned char* data, unsigned length) = 0;
};

}  // namespace virtsim
