#pragma once
// Names of parameters and statistics follow the SystemC hierarchy: a module declares them
// in module_scope(context, *this), whose path is the module's full name ("system.cpu0").
#include <systemc>

#include "virtsim/common/param.h"

namespace virtsim {

// `context` supplies the registries; its path is ignored.
inline Scope module_scope(const Scope& context, const sc_core::sc_object& self) {
  return Scope{context.params, context.stats, self.name()};
}

}  // namespace virtsim
