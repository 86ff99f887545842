#include "virtsim/mmu/mmu_module.h"

#include <stdexcept>

#include "virtsim/common/translation_extension.h"
#include "virtsim/mmu/walk_request.h"

namespace virtsim {

MmuModule::MmuModule(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      translate("translate", clock, *this),
      memory("memory", clock),
      VIRTSIM_MEMBER(check, module_scope(context, *this), false, "",
                     "compare every walk with the zero-time functional reference walk and stop on a mismatch"),
      walker_parameters(module_scope(context, *this).child("walker")),
      walker(module_scope(context, *this).child("walker"), walker_parameters.config()),
      VIRTSIM_MEMBER(checked, module_scope(context, *this), "walks", "walks compared with the functional reference"),
      VIRTSIM_MEMBER(walkers, module_scope(context, *this), 2, "walkers",
                     "page walks that can be in flight at once (Zen 2 has two hardware walkers: AMD's Family 17h Models 30h+ optimization guide)",
                     Range{1, 64}),
      VIRTSIM_MEMBER(queued_walks, module_scope(context, *this), "walks", "walks that waited for a free walker"),
      VIRTSIM_MEMBER(queue_cycles, module_scope(context, *this), "cycles", "time walks spent waiting for a walker"),
      VIRTSIM_MEMBER(walks_in_flight, module_scope(context, *this), "walkers",
                     "walkers busy when a request arrived", 0, 1, 64),
      clock_(clock),
      walker_free_at_(walkers.get(), 0) {}

[[gnu::hot]] Cycles MmuModule::serve(Addr va, TranslationExtension& ext, std::uint64_t arrival) {
  WalkRequest& request = walker.next_request();
  to_walk_request(va, ext, request);
  const WalkOutcome& outcome = walker.walk(request, memory.port());
  // An agile walk has no functional reference here (its shadow part is the hypervisor's);
  // the shadow tables' checker (system.shadow.check) covers it.
  if (check && !request.nested_controls.agile_switch_bit) check_against_reference(request, outcome.translation);
  to_extension(outcome, ext);
  // Occupancy: the walker that frees up first takes the request. Every time here is a whole
  // number of clock periods, so the cycle counts are exact.
  const std::uint64_t period = clock_.period().value();
  auto slot = walker_free_at_.begin();
  unsigned busy = 0;
  for (auto it = walker_free_at_.begin(); it != walker_free_at_.end(); ++it) {
    if (*it > arrival) ++busy;
    if (*it < *slot) slot = it;
  }
  walks_in_flight.sample(busy);
  std::uint64_t start = arrival;
  Cycles waited = 0;
  if (*slot > arrival) {
    start = *slot;
    waited = (start - arrival) / period;
    ++queued_walks;
    queue_cycles += waited;
  }
  *slot = start + outcome.cycles * period;
  return waited + outcome.cycles;
}

std::uint64_t MmuModule::debug_read(Addr address, unsigned bytes) {
  std::uint64_t value = 0;
  if (!memory.port().debug_access(false, address, reinterpret_cast<unsigned char*>(&value), bytes))
    throw std::runtime_error(std::string(name()) + ": debug read at " + to_hex(address) + " failed");
  return value;
}

void MmuModule::check_against_reference(const WalkRequest& request, const Translation& timed) {
  // Debug transport: no time, no statistics, so checking changes no result.
  const auto read = [this](Addr a, unsigned bytes) { return debug_read(a, bytes); };
  const Translation expected =
      request.nested
          ? reference_translate_2d(read, request.guest, request.nested_controls, request.va, request.kind, request.user)
          : reference_translate(read, request.guest, request.va, request.kind, request.user);
  ++checked;
  if (same_result(timed, expected)) return;
  throw std::runtime_error(std::string(name()) + ": translation check failed for " + to_hex(request.va) + " (cr3 " +
                           to_hex(request.guest.cr3) + "): walker gave " + describe(timed) + ", reference gave " +
                           describe(expected));
}

}  // namespace virtsim
