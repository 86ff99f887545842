#include "virtsim/memory/cache_module.h"

namespace virtsim {

// Defaults: Skylake-S as tabulated by AnandTech ("The Intel Skylake-X Review", 2017, cache
// comparison): L1D 32 KiB 8-way 4 cycles, L2 256 KiB 4-way 11 cycles. Hit latencies here are
// incremental (a hit at a level pays the lookups of the levels above it too): 4 and 11 - 4.
CacheModule::CacheModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock, Cache& llc,
                         unsigned line_bytes, std::uint64_t seed)
    : sc_core::sc_module(name),
      cpu_side("cpu_side", clock, data_port_),
      memory_side("memory_side", clock),
      VIRTSIM_MEMBER(walker_entry, module_scope(context, *this), "l1d", "",
                     "where page-walk references enter the hierarchy: l1d, or l2 (bypassing the L1D)", {},
                     {"l1d", "l2"}),
      l1d_parameters(module_scope(context, *this).child("l1d"), {32, 8, 4}, "L1 data cache"),
      l2_parameters(module_scope(context, *this).child("l2"), {256, 4, 7}, "private L2 cache"),
      l1d(module_scope(context, *this).child("l1d"), l1d_parameters.config(line_bytes, seed)),
      l2(module_scope(context, *this).child("l2"), l2_parameters.config(line_bytes, seed + 1)),
      hierarchy_(l1d, l2, llc, 0, walker_entry.get() == "l2"),
      line_bytes_(line_bytes) {
  if (line_bytes > 1 && !(line_bytes & (line_bytes - 1)))
    while ((1u << line_shift_) < line_bytes) ++line_shift_;
}

void CacheModule::set_requester(unsigned index, Requester who) {
  if (who == Requester::Walk) cpu_side.serve(index, walk_port_);
  else cpu_side.serve(index, data_port_);
}

}  // namespace virtsim
