// Checkpoints of the VT-x / AMD-V unit's deadlines (virtualization_unit.h): out of the unit's
// hot file. A deadline is held as cycles from the vCPU's guest time where the region of interest
// begins, so a run from the checkpoint, whose guest time starts again at 0, reaches it at the
// same point of the region; one already due stays due.
#include "virtsim/vmx/virtualization_unit.h"

namespace virtsim {

namespace {
void put_deadline(StateWriter& out, Cycles deadline, Cycles now) {
  out.put<std::uint64_t>(deadline > now ? deadline - now : 0);
}
}  // namespace

void VirtualizationUnit::save_deadlines(StateWriter& out, Cycles now) const {
  out.put_tag("VTXU");
  put_deadline(out, next_look_, now);
  put_deadline(out, next_reclaim_, now);
  put_deadline(out, next_timer_, now);
  out.put<std::uint64_t>(reclaim_draws_);
  out.put<std::uint64_t>(recent_fills_.size());
  for (const Addr gpa : recent_fills_) out.put<std::uint64_t>(gpa);
}

void VirtualizationUnit::load_deadlines(StateReader& in, Cycles now) {
  in.expect_tag("VTXU");
  next_look_ = now + in.get<std::uint64_t>("next periodic look");
  next_reclaim_ = now + in.get<std::uint64_t>("next reclaim");
  next_timer_ = now + in.get<std::uint64_t>("next VMX-preemption timer exit");
  reclaim_draws_ = in.get<std::uint64_t>("reclaim draws");
  const std::uint64_t at = in.offset();
  const auto fills = in.count("recent nested fills", 8);
  if (fills > kRecentFills) in.fail("recent nested fills", "at most " + std::to_string(kRecentFills), at);
  recent_fills_.resize(fills);
  for (Addr& gpa : recent_fills_) gpa = in.get<std::uint64_t>("recent nested fill");
}

}  // namespace virtsim
