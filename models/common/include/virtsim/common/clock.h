#pragma once
// Conversion between core cycles and SystemC time. Every component of one platform shares
// one Clock, so cycles -> sc_time -> cycles round-trips exactly.
#include <cmath>
#include <systemc>

#include "virtsim/common/units.h"

namespace virtsim {

class Clock {
 public:
  explicit Clock(double frequency_ghz)
      : period_(sc_core::sc_time(std::round(1000.0 / frequency_ghz), sc_core::SC_PS)) {}
  const sc_core::sc_time& period() const { return period_; }
  sc_core::sc_time delay(Cycles cycles) const { return period_ * static_cast<double>(cycles); }
  // Every delay in a platform is a whole number of periods, so integer division is exact.
  Cycles cycles(const sc_core::sc_time& t) const { return t.value() / period_.value(); }

 private:
  sc_core::sc_time period_;
};

}  // namespace virtsim
