#include "virtsim/common/replacement.h"

#include <stdexcept>

#include "virtsim/common/error.h"

namespace virtsim {

Replacement parse_replacement(const std::string& name) {
  if (name == "lru") return Replacement::Lru;
  if (name == "plru") return Replacement::TreePlru;
  if (name == "random") return Replacement::Random;
  throw std::invalid_argument("unknown replacement policy '" + name + "' (expected lru, plru or random)");
}

const char* to_string(Replacement policy) {
  switch (policy) {
    case Replacement::Lru: return "lru";
    case Replacement::TreePlru: return "plru";
    case Replacement::Random: return "random";
  }
  return "?";
}

ReplacementState::ReplacementState(Replacement policy, std::size_t sets, unsigned ways, std::uint64_t seed,
                                   const std::string& where, unsigned min_ordered_ways)
    : policy_(policy),
      ways_(ways),
      ordered_(uses_order_words(policy, ways, min_ordered_ways)),
      stamped_(policy == Replacement::Lru && !ordered_),
      random_state_(seed | 1) {
  if (policy == Replacement::TreePlru && ((ways & (ways - 1)) || ways > 64))
    throw ConfigError("key '" + where + ".replacement': \"plru\" (tree pseudo-LRU) needs a power-of-two number of "
                      "ways up to 64, not " + std::to_string(ways) + "; expected \"lru\" or \"random\", or other ways");
  if (ordered_) {
    stamps_.assign(sets, fresh_order_word(ways));
  } else {
    stamps_.assign(policy == Replacement::TreePlru ? sets : sets * ways, 0);
  }
}

void ReplacementState::touch_plru(std::size_t set, unsigned way) {
  // Heap-ordered tree of ways-1 bits; each node on the path is set to point away from `way`.
  std::uint64_t& bits = stamps_[set];
  unsigned node = 1;
  for (unsigned span = ways_ / 2; span >= 1; span /= 2) {
    const bool right = way & span;
    if (right) bits &= ~(std::uint64_t{1} << node);
    else bits |= std::uint64_t{1} << node;
    node = 2 * node + (right ? 1 : 0);
  }
}

void ReplacementState::touch_other(std::size_t set, unsigned way) {
  if (ordered_) touch_order_word(stamps_[set], way, ways_);
  else if (policy_ == Replacement::TreePlru) touch_plru(set, way);
}

[[gnu::hot]] unsigned ReplacementState::victim_other(std::size_t set) {
  switch (policy_) {
    case Replacement::Lru: {
      const std::uint64_t* s = &stamps_[set * ways_];
      unsigned oldest = 0;
      for (unsigned way = 1; way < ways_; ++way)
        if (s[way] < s[oldest]) oldest = way;
      return oldest;
    }
    case Replacement::TreePlru: {
      const std::uint64_t bits = stamps_[set];
      unsigned node = 1, way = 0;
      for (unsigned span = ways_ / 2; span >= 1; span /= 2) {
        const bool right = bits & (std::uint64_t{1} << node);
        if (right) way |= span;
        node = 2 * node + (right ? 1 : 0);
      }
      return way;
    }
    case Replacement::Random:
      random_state_ ^= random_state_ << 13;  // xorshift64: deterministic for a seed
      random_state_ ^= random_state_ >> 7;
      random_state_ ^= random_state_ << 17;
      return static_cast<unsigned>(random_state_ % ways_);
  }
  return 0;
}

}  // namespace virtsim
