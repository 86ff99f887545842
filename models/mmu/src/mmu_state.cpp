// Checkpoints of the walk caches' warmed state (walk_caches.h, page_walker.h): out of the
// walker's file.
#include "virtsim/common/set_associative_state.h"
#include "virtsim/mmu/mmu_module.h"

namespace virtsim {

std::string WalkCache::geometry() const {
  if (!enabled_) return "disabled";
  return std::string(prefixes_ ? "prefix" : "entry") + " organization, " + array_.geometry();
}

void WalkCache::save_state(StateWriter& out) const {
  if (enabled_) array_.save_state(out);
}

void WalkCache::load_state(StateReader& in) {
  if (enabled_) array_.load_state(in);
}

namespace {
std::string scope_of(const Counter& statistic) {
  const std::string& name = statistic.name();
  return name.substr(0, name.rfind('.'));
}
}  // namespace

void PageWalker::save_caches(StateWriter& out) const {
  for (const WalkCache* c : {&pwc, &nested_pwc})
    put_structure(out, scope_of(c->lookups), c->geometry(), [&] { c->save_state(out); });
  // The nested TLB with the page levels it has held (which sizes an invalidation looks up).
  put_structure(out, scope_of(nested_tlb.lookups), nested_tlb.geometry(), [&] {
    nested_tlb.save_state(out);
    out.put<std::uint32_t>(nested_tlb_levels_);
  });
}

void PageWalker::load_caches(StateReader& in, std::vector<std::string>& cold) {
  for (WalkCache* c : {&pwc, &nested_pwc})
    get_structure(in, scope_of(c->lookups), c->geometry(), [&] { c->load_state(in); }, cold);
  get_structure(in, scope_of(nested_tlb.lookups), nested_tlb.geometry(), [&] {
    nested_tlb.load_state(in);
    nested_tlb_levels_ = in.get<std::uint32_t>("nested TLB levels held");
  }, cold);
}

void MmuModule::save_state(StateWriter& out) const {
  walker.save_caches(out);
  const std::uint64_t now = sc_core::sc_time_stamp().value(), period = clock_.period().value();
  put_structure(out, scope_of(queued_walks), std::to_string(walker_free_at_.size()) + " walkers", [&] {
    for (std::uint64_t at : walker_free_at_) out.put<std::uint64_t>(at > now ? (at - now) / period : 0);
  });
}

void MmuModule::load_state(StateReader& in, std::vector<std::string>& cold, std::uint64_t start) {
  walker.load_caches(in, cold);
  const std::uint64_t now = start, period = clock_.period().value();
  get_structure(in, scope_of(queued_walks), std::to_string(walker_free_at_.size()) + " walkers", [&] {
    for (std::uint64_t& at : walker_free_at_) at = now + in.get<std::uint64_t>("walker busy cycles") * period;
  }, cold);
}

}  // namespace virtsim
