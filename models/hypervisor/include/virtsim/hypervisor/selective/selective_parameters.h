#pragma once
// Selective paging's parameters and statistics (selective_paging.h), declared in every run.
#include <cstdint>
#include <string>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"

namespace virtsim {

// Declared once (scope "system.selective"), with the statistics every run has.
class SelectivePagingParameters {
 public:
  explicit SelectivePagingParameters(const Scope& scope);
  Param<bool> enabled;
  Param<std::string> start;
  Param<std::uint64_t> interval_cycles;
  Param<double> tlb_miss_cycles;
  Param<double> guest_fault_cycles;
  Param<double> margin;
  Param<std::uint64_t> switch_cycles;
  Param<std::uint64_t> drop_table_cycles;
  Counter switches_to_shadow;
  Counter switches_to_nested;
  Counter intervals_shadow;
  Counter intervals_nested;
  Counter switching_cycles;
};

}  // namespace virtsim
