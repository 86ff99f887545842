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
  void touch(std::size_t set, unsigned way) {
    if (policy_ == Replacement::Lru) stamps_[set * ways_ + way] = ++tick_;
    else if (policy_ == Replacement::TreePlru) touch_plru(set, way);
  }
  unsigned victim(std::size_t set);

 private:
  void touch_plru(std::size_t set, unsigned way);
  Replacement policy_;
  unsigned ways_;
  std::vector<std::uint64_t> stamps_;  // LRU: one stamp per way; PLRU: one bit tree per set
  std::uint64_t tick_ = 0;
  std::uint64_t random_state_;
};

}  // namespace virtsim
