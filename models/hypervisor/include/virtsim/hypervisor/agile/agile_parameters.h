#pragma once
// Agile paging's parameters (system.agile.*), declared in every run with every strategy's.
#include <cstdint>

#include "virtsim/common/param.h"

namespace virtsim {

// Declared once (scope "system.agile").
class AgileParameters {
 public:
  explicit AgileParameters(const Scope& scope);
  Param<bool> enabled;
  Param<std::uint32_t> switch_writes;
  Param<std::uint64_t> revert_interval_cycles;
};

}  // namespace virtsim
