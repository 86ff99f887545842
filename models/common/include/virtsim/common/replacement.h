#pragma once
// Replacement policies for set-associative structures (TLBs, data caches, walk caches), named
// implementations behind one small interface (Ramulator2 style): LRU, tree pseudo-LRU and
// seeded random. State is kept per set; the caller fills invalid ways before asking for a
// victim.
#include <cstdint>
#include <string>
#include <vector>

namespace virtsim {

enum class Replacement : std::uint8_t { Lru, TreePlru, Random };
Replacement parse_replacement(const std::string& name);  // "lru", "plru", "random"
const char* to_string(Replacement policy);
inline const std::vector<std::string>& replacement_choices() {
  static const std::vector<std::string> choices{"lru", "plru", "random"};
  return choices;
}

class ReplacementState {
 public:
  // Throws std::invalid_argument (naming `where`) for tree-PLRU with ways not a power of two
  // up to 64.
  ReplacementState(Replacement policy, std::size_t sets, unsigned ways, std::uint64_t seed, const std::string& where);

  Replacement policy() const { return policy_; }
  // Stamp LRU, the L1 TLBs' case, is the one inline path: a larger body here kept GCC from
  // inlining the TLB lookup around it (the L1 hit microbenchmark took twice as long).
  void touch(std::size_t set, unsigned way) {
    if (stamped_) stamps_[set * ways_ + way] = ++tick_;
    else touch_other(set, way);
  }
  unsigned victim(std::size_t set);

 private:
  // LRU of 12 to 16 ways as one word per set: the ways in order of their last touch, one
  // nibble each, least recent in the lowest. The victim is then one mask instead of a scan of
  // stamps, and the state of a set fits in 8 bytes. It picks what per-way stamps pick: ways
  // never touched are the oldest, in index order, then the rest by their last touch. Fewer
  // ways keep stamps: their scan is short and a stamp is cheaper to touch.
  static constexpr unsigned kMinOrderedWays = 12, kMaxOrderedWays = 16;
  void touch_other(std::size_t set, unsigned way);
  void touch_ordered(std::uint64_t& order, unsigned way) const;
  void touch_plru(std::size_t set, unsigned way);
  Replacement policy_;
  unsigned ways_;
  bool ordered_;  // LRU kept as order words
  bool stamped_;  // LRU kept as one stamp per way
  // LRU: the order word per set (12-16 ways) or one stamp per way; PLRU: one bit tree per set.
  std::vector<std::uint64_t> stamps_;
  std::uint64_t tick_ = 0;
  std::uint64_t random_state_;
};

}  // namespace virtsim
