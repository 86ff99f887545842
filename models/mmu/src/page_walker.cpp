#include "virtsim/mmu/page_walker.h"

#include <stdexcept>

namespace virtsim {

PageWalker::PageWalker(const Scope& scope)
    : VIRTSIM_MEMBER(walks, scope, "walks", "page walks completed (including faulting ones)"),
      VIRTSIM_MEMBER(refs, scope, "references", "page-table entries read by walks"),
      VIRTSIM_MEMBER(faults, scope, "walks", "walks that ended in a page fault"),
      VIRTSIM_MEMBER(cycles, scope, "cycles", "total latency of all walks"),
      VIRTSIM_MEMBER(refs_per_walk, scope, "references", "memory references per walk", 0, 1, 40),
      VIRTSIM_MEMBER(walk_cycles, scope, "cycles", "latency of each walk", 0, 25, 80),
      VIRTSIM_MEMBER(refs_by_level, scope, "references", "entries read per paging level",
                    {"PML4", "PDPT", "PD", "PT"}),
      VIRTSIM_MEMBER(mean_refs_per_walk, scope, "references/walk", "average references per walk", [this] {
        return walks.count() ? static_cast<double>(refs.count()) / static_cast<double>(walks.count()) : 0.0;
      }) {}

void PageWalker::start(const WalkRequest& request) {
  if (state_ == State::ReadEntry) throw std::logic_error("PageWalker::start while a walk is in flight");
  request_ = request;
  outcome_ = WalkOutcome{};
  if (!is_canonical48(request.va)) {
    outcome_.translation.fault = outcome_.translation.non_canonical = true;
    state_ = State::Done;
    return;
  }
  level_ = kLevels4;
  table_ = request.cr3 & pte::kAddressMask;
  rights_ = pte::kWritable | pte::kUser;
  execute_disable_ = false;
  state_ = State::ReadEntry;
}

void PageWalker::finish_fault(std::uint32_t error_code) {
  outcome_.translation.fault = true;
  outcome_.translation.error_code = error_code;
  state_ = State::Done;
}

void PageWalker::step(MemoryPort& port) {
  if (state_ != State::ReadEntry) return;
  std::uint64_t entry = 0;
  outcome_.cycles += port.read_entry(table_ + 8 * table_index(request_.va, level_), entry);
  ++outcome_.refs;
  refs_by_level.add(kLevels4 - level_);

  const std::uint32_t access_bits = access_error_bits(request_.kind, request_.user);
  if (!(entry & pte::kPresent)) return finish_fault(access_bits);
  rights_ &= entry;
  execute_disable_ |= (entry & pte::kExecuteDisable) != 0;
  const bool large = level_ > 1 && (entry & pte::kPageSize);
  if (large && level_ == kLevels4) return finish_fault(pf::kPresent | pf::kReserved | access_bits);
  if (level_ == 1 || large) {
    if (const auto code = permission_fault(rights_, execute_disable_, request_.kind, request_.user))
      return finish_fault(code);
    auto& t = outcome_.translation;
    t.page_shift = leaf_shift(level_);
    const Addr page_mask = (Addr{1} << t.page_shift) - 1;
    t.physical_address = ((entry & pte::kAddressMask) & ~page_mask) | (request_.va & page_mask);
    t.leaf_entry = entry;
    t.writable = (rights_ & pte::kWritable) != 0;
    t.user = (rights_ & pte::kUser) != 0;
    t.executable = !execute_disable_;
    state_ = State::Done;
    return;
  }
  table_ = entry & pte::kAddressMask;
  --level_;
}

const WalkOutcome& PageWalker::walk(const WalkRequest& request, MemoryPort& port) {
  start(request);
  while (state_ == State::ReadEntry) step(port);
  state_ = State::Idle;
  ++walks;
  refs += outcome_.refs;
  cycles += outcome_.cycles;
  if (outcome_.translation.fault) ++faults;
  refs_per_walk.sample(outcome_.refs);
  walk_cycles.sample(static_cast<double>(outcome_.cycles));
  return outcome_;
}

}  // namespace virtsim
