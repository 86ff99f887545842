#pragma once
// The result of a translation, timed (the walker's) or functional (the reference walks of
// models/paging), in one form every model can use: the MMU returns it, the TLM translation
// extension carries it, TLBs cache from it and the checkers compare it.
#include <cstdint>
#include <string>

#include "virtsim/common/paging_context.h"
#include "virtsim/common/units.h"

namespace virtsim {

const char* to_string(FaultKind kind);

struct Translation {
  bool fault = false;
  FaultKind fault_kind = FaultKind::None;
  bool non_canonical = false;    // the address is not canonical: #GP, not #PF
  std::uint32_t error_code = 0;  // page-fault error code when fault_kind == PageFault
  std::uint64_t exit_qualification = 0;  // EPT violation qualification, or NPF EXITINFO1
  Addr guest_physical_address = 0;       // 2-D: the gPA of the final access, or the faulting gPA
  Addr physical_address = 0;             // (host-)physical address when !fault
  unsigned page_shift = 12;              // size of the mapping a TLB may cache (2-D: the smaller)
  unsigned mapping_shift = 12;           // size of the (guest) page-table mapping
  std::uint64_t leaf_entry = 0;          // the (guest) leaf entry as read
  // Rights combined over every level of both dimensions (what a TLB entry caches).
  bool writable = false;
  bool user = false;
  bool executable = false;
  bool global = false;
  bool dirty = false;  // the leaf's D bit is set (after this access's update)
};

// Same result, compared by tests and the run-time checker.
bool same_result(const Translation& a, const Translation& b);
std::string describe(const Translation& t);

}  // namespace virtsim
