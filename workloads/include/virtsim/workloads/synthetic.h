#pragma once
// A small built-in synthetic workload: a warm-up phase, then a region of interest of memory
// instructions over one contiguous footprint, each preceded by a few plain instructions.
// Deterministic for a seed. `virtsim trace gen` writes it as a trace; the generators of
// generators.h (GUPS-like, pointer chasing, fork-and-wait ...) are process record streams.
#include <cstdint>
#include <optional>
#include <string>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/param.h"

namespace virtsim {

// splitmix64: tiny, fast and good enough for address streams; fixed so seeds reproduce
// across compilers (std:: distributions are not portable).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), bound > 0 (Lemire's multiply-shift; bias is negligible here).
  std::uint64_t below(std::uint64_t bound) {
    __extension__ using Wide = unsigned __int128;  // GCC/Clang; __extension__ keeps -Wpedantic quiet
    return static_cast<std::uint64_t>((static_cast<Wide>(next()) * bound) >> 64);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

struct SyntheticConfig {
  std::string pattern = "random";  // random | stream | hotspot
  Addr base = 0x10000000;
  std::uint64_t footprint_bytes = 16ull << 20;
  std::uint64_t warmup_accesses = 10000;
  std::uint64_t accesses = 200000;
  std::uint32_t compute_per_access = 3;
  double store_fraction = 0.3;
  std::uint32_t stride = 64;       // stream: bytes between consecutive accesses
  double hot_fraction = 0.1;       // hotspot: share of the footprint that is hot
  double hot_probability = 0.9;    // hotspot: share of accesses that go to the hot part
};

class SyntheticParameters {
 public:
  explicit SyntheticParameters(const Scope& scope);
  SyntheticConfig config() const;

  Param<std::string> pattern;
  Param<std::uint64_t> base_address, footprint_kib, warmup_accesses, accesses;
  Param<std::uint32_t> compute_per_access, stride;
  Param<double> store_fraction, hot_fraction, hot_probability;
};

class SyntheticWorkload final : public GuestEventSource {
 public:
  SyntheticWorkload(const SyntheticConfig& config, std::uint64_t seed);
  EventBatch fill(GuestEvent* out, std::size_t max, std::uint64_t budget) override;

  const SyntheticConfig& config() const { return config_; }
  std::uint64_t accesses_issued() const { return issued_; }  // warm-up included
  // Share of the memory accesses (warm-up included) issued so far, 0..1.
  double progress() const {
    return static_cast<double>(issued_) / static_cast<double>(config_.warmup_accesses + config_.accesses);
  }
  bool contains(Addr va) const { return va >= config_.base && va < config_.base + config_.footprint_bytes; }

 private:
  const GuestEvent* refill() override;
  bool make(GuestEvent& e);  // the next event of the sequence; false at its end
  // Compute-and-access pairs, the events make() gives without its checks per event, until the
  // next ROI marker is due or `out` has no room for a pair, added to `batch`. Returns whether
  // the batch ended.
  bool fill_steady(GuestEvent* out, EventBatch& batch, std::size_t max, std::uint64_t budget);
  std::uint64_t next_marker() const;  // issued_ at which the next ROI marker is due
  Addr next_address();
  [[gnu::always_inline]] inline Addr address_from(SplitMix64& rng);  // the next address, from `rng`

  enum class Pattern { Random, Stream, Hotspot };
  SyntheticConfig config_;
  Pattern pattern_;  // config_.pattern decoded once, not compared per access
  SplitMix64 rng_;
  std::uint64_t issued_ = 0;   // memory accesses emitted, warm-up included
  Addr stream_offset_ = 0;
  bool compute_pending_ = true;
  bool roi_begun_ = false;
  bool ended_ = false;
  GuestEvent run_[256];  // the events refill() made
};

}  // namespace virtsim
