#pragma once
// Nested paging (Intel EPT, AMD NPT/RVI): the hypervisor backs guest-physical memory with one
// host region and maps it in its nested tables, which the hardware walks after each guest
// table (the 2-D walk). Mapped before the run, or page by page at EPT violations / nested
// page faults (as KVM does).
#include <string>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"

namespace virtsim {

// Declared once (scope "system.nested").
class NestedPagingParameters {
 public:
  explicit NestedPagingParameters(const Scope& scope);
  Param<std::string> paging;
  Param<std::string> page_size;
  Param<bool> access_dirty;
  Param<std::string> populate;
  // Declared with the parameters so that every run has it (0 unless nested paging fills lazily).
  Counter pages_mapped;
};

}  // namespace virtsim
