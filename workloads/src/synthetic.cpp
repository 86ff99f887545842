#include "virtsim/workloads/synthetic.h"

#include <algorithm>
#include <stdexcept>

namespace virtsim {

SyntheticParameters::SyntheticParameters(const Scope& scope)
    : VIRTSIM_MEMBER(pattern, scope, "random", "", "address pattern of the memory accesses", {},
              {"random", "stream", "hotspot"}),
      VIRTSIM_MEMBER(base_address, scope, 0x10000000, "bytes", "virtual address where the footprint starts",
                   Range{4096, 140737488355328.0 /* 2^47: user half of a 48-bit space */}),
      VIRTSIM_MEMBER(footprint_kib, scope, 16384, "KiB", "size of the memory the workload touches",
                    Range{4, 1ull << 32}),  // 4 TiB, as system.memory.size_mib
      VIRTSIM_MEMBER(warmup_accesses, scope, 10000, "accesses", "memory accesses before the region of interest",
                      Range{0, 1e12}),
      VIRTSIM_MEMBER(accesses, scope, 200000, "accesses", "memory accesses in the region of interest", Range{1, 1e12}),
      VIRTSIM_MEMBER(compute_per_access, scope, 3, "instructions",
                         "plain instructions before each memory access", Range{0, 1000000}),
      VIRTSIM_MEMBER(stride, scope, 64, "bytes", "stream pattern: distance between consecutive accesses",
             Range{8, 1 << 30}),
      VIRTSIM_MEMBER(store_fraction, scope, 0.3, "ratio", "share of accesses that are stores", Range{0.0, 1.0}),
      VIRTSIM_MEMBER(hot_fraction, scope, 0.1, "ratio", "hotspot pattern: share of the footprint that is hot",
                   Range{0.0001, 1.0}),
      VIRTSIM_MEMBER(hot_probability, scope, 0.9, "ratio",
                      "hotspot pattern: share of accesses that go to the hot part", Range{0.0, 1.0}) {}

SyntheticConfig SyntheticParameters::config() const {
  SyntheticConfig c;
  c.pattern = pattern;
  c.base = base_address.get() & ~(kPageSize4K - 1);
  c.footprint_bytes = footprint_kib.get() << 10;
  c.warmup_accesses = warmup_accesses;
  c.accesses = accesses;
  c.compute_per_access = compute_per_access;
  c.store_fraction = store_fraction;
  c.stride = stride;
  c.hot_fraction = hot_fraction;
  c.hot_probability = hot_probability;
  return c;
}

SyntheticWorkload::SyntheticWorkload(const SyntheticConfig& config, std::uint64_t seed)
    : config_(config),
      pattern_(config.pattern == "stream"    ? Pattern::Stream
               : config.pattern == "hotspot" ? Pattern::Hotspot
                                             : Pattern::Random),
      rng_(seed) {
  if (config.pattern != "stream" && config.pattern != "hotspot" && config.pattern != "random")
    throw std::invalid_argument("synthetic workload: unknown pattern '" + config.pattern + "'");
}

Addr SyntheticWorkload::next_address() { return address_from(rng_); }

inline Addr SyntheticWorkload::address_from(SplitMix64& rng) {
  const std::uint64_t slots = config_.footprint_bytes / 8;  // 8-byte aligned accesses
  std::uint64_t offset;
  if (pattern_ == Pattern::Stream) {
    offset = stream_offset_;
    stream_offset_ = (stream_offset_ + config_.stride) % config_.footprint_bytes;
    offset &= ~Addr{7};
  } else if (pattern_ == Pattern::Hotspot) {
    const std::uint64_t hot_slots = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(slots * config_.hot_fraction));
    offset = rng.unit() < config_.hot_probability ? rng.below(hot_slots) * 8 : rng.below(slots) * 8;
  } else {
    offset = rng.below(slots) * 8;
  }
  return config_.base + offset;
}

bool SyntheticWorkload::make(GuestEvent& e) {
  if (ended_) return false;
  if (!roi_begun_ && issued_ == config_.warmup_accesses) {
    roi_begun_ = true;
    e = GuestEvent::roi_begin();
    return true;
  }
  if (issued_ == config_.warmup_accesses + config_.accesses) {
    ended_ = true;
    e = GuestEvent::roi_end();
    return true;
  }
  if (compute_pending_ && config_.compute_per_access > 0) {
    compute_pending_ = false;
    e = GuestEvent::compute(config_.compute_per_access);
    return true;
  }
  compute_pending_ = true;
  ++issued_;
  const AccessKind kind = rng_.unit() < config_.store_fraction ? AccessKind::Store : AccessKind::Load;
  e = GuestEvent::memory(kind, next_address(), 8);
  return true;
}

std::uint64_t SyntheticWorkload::next_marker() const {
  return roi_begun_ ? config_.warmup_accesses + config_.accesses : config_.warmup_accesses;
}

bool SyntheticWorkload::fill_steady(GuestEvent* out, EventBatch& batch, std::size_t max, std::uint64_t budget) {
  // The state lives in locals here (the writes to `out` could alias the members and `batch`).
  const std::uint32_t compute = config_.compute_per_access;
  const double store_fraction = config_.store_fraction;
  const std::uint64_t marker = next_marker();
  SplitMix64 rng = rng_;
  std::uint64_t issued = issued_, instructions = batch.instructions;
  std::size_t i = batch.events;
  bool compute_pending = compute_pending_;
  bool ended = false;
  // ends_batch(): compute and memory events end a batch only by their instructions.
  while (!ended && issued < marker && i + 1 < max) {
    if (compute_pending && compute > 0) {
      compute_pending = false;
      out[i++] = GuestEvent::compute(compute);
      instructions += compute;
      if ((ended = instructions >= budget)) break;
    }
    compute_pending = true;
    ++issued;
    const AccessKind kind = rng.unit() < store_fraction ? AccessKind::Store : AccessKind::Load;
    out[i++] = GuestEvent::memory(kind, address_from(rng), 8);
    ended = ++instructions >= budget;
  }
  batch.events = i;
  batch.instructions = instructions;
  batch.references += issued - issued_;  // one memory event per access
  rng_ = rng;
  issued_ = issued;
  compute_pending_ = compute_pending;
  return ended;
}

EventBatch SyntheticWorkload::fill(GuestEvent* out, std::size_t max, std::uint64_t budget) {
  EventBatch batch;
  while (batch.events < max && next_ != end_)  // what next() has not handed out yet comes first
    if (batch.add(out[batch.events] = *next_++, budget)) return batch;
  while (batch.events < max) {
    if (!ended_ && issued_ < next_marker() && batch.events + 1 < max) {
      if (fill_steady(out, batch, max, budget)) return batch;
      continue;
    }
    if (!make(out[batch.events])) break;
    if (batch.add(out[batch.events], budget)) break;
  }
  return batch;
}

const GuestEvent* SyntheticWorkload::refill() {
  // next_ == end_ here, so fill() starts with new events; runs end at ROI markers, nothing else.
  const std::size_t n = fill(run_, std::size(run_), ~std::uint64_t{0}).events;
  if (!n) return nullptr;
  next_ = run_ + 1;
  end_ = run_ + n;
  return run_;
}

}  // namespace virtsim
