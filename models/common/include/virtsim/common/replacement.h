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
  // up to 64. `min_ordered_ways`: LRU of this many ways (up to 16) or more keeps order words.
  ReplacementState(Replacement policy, std::size_t sets, unsigned ways, std::uint64_t seed, const std::string& where,
                   unsigned min_ordered_ways = kMinOrderedWays);
  // Where order words pay: the stamps' victim scan grows with the ways, their touch does not.
  // Structures that mostly hit (TLBs) keep stamps below 12 ways; caches that often miss want
  // order words from 2.
  static constexpr unsigned kMinOrderedWays = 12, kMaxOrderedWays = 16;

  Replacement policy() const { return policy_; }

  // LRU order words (see below) for owners that keep each set's word themselves, beside their
  // other state of that set (a cache: one host cache line per set instead of several).
  static bool uses_order_words(Replacement policy, unsigned ways, unsigned min_ordered_ways) {
    return policy == Replacement::Lru && ways >= (min_ordered_ways < 2 ? 2 : min_ordered_ways) && ways <= kMaxOrderedWays;
  }
  static std::uint64_t fresh_order_word(unsigned ways) {
    std::uint64_t in_index_order = 0;  // nothing touched yet: way 0 is the least recent
    for (unsigned way = 0; way < ways; ++way) in_index_order |= std::uint64_t{way} << (4 * way);
    return in_index_order;
  }
  static unsigned order_word_victim(std::uint64_t order) { return static_cast<unsigned>(order & 0xf); }
  static void touch_order_word(std::uint64_t& order, unsigned way, unsigned ways) {
    if (((order >> (4 * (ways - 1))) & 0xf) == way) return;  // already the most recent: a hit again
    move_to_most_recent(order, way, ways);
  }
  // The same without the test: it leaves a word whose most recent way is `way` as it is, so
  // an owner that would rather not branch on the set's state calls it for hits and fills.
  static void move_to_most_recent(std::uint64_t& order, unsigned way, unsigned ways) {
    const unsigned top = 4 * (ways - 1);
    constexpr std::uint64_t kOnes = 0x1111111111111111ull;
    // The nibble holding `way` is the lowest zero nibble of order ^ (way in every nibble).
    const std::uint64_t x = order ^ (kOnes * way);
    const std::uint64_t zeros = (x - kOnes) & ~x & (kOnes << 3);
    // The nibbles above it move down one; the top one, now zero (nothing is above the last
    // way's nibble), takes `way`. `below` masks the nibbles under it: the lowest bit of
    // `zeros` is that nibble's bit 3.
    const std::uint64_t below = ((zeros & (~zeros + 1)) >> 3) - 1;
    order = (order & below) | ((order >> 4) & ~below) | (std::uint64_t{way} << top);
  }
  // touch_order_word() of the way just filled: that way is always the least recent one (the
  // victim, or the first never-touched way), so the word just rotates.
  static void fill_order_word(std::uint64_t& order, unsigned way, unsigned ways) {
    if ((order & 0xf) == way) order = (order >> 4) | (std::uint64_t{way} << (4 * (ways - 1)));
    else touch_order_word(order, way, ways);
  }
  // Stamp LRU, the L1 TLBs' case, is the one inline path: a larger body here kept GCC from
  // inlining the TLB lookup around it (the L1 hit microbenchmark took twice as long).
  void touch(std::size_t set, unsigned way) {
    if (stamped_) stamps_[set * ways_ + way] = ++tick_;
    else touch_other(set, way);
  }
  // The same with the order-word form inline too, for owners whose hot path is the
  // replacement update (caches); TLBs keep touch() small.
  void touch_inline(std::size_t set, unsigned way) {
    if (stamped_) stamps_[set * ways_ + way] = ++tick_;
    else if (ordered_) touch_order_word(stamps_[set], way, ways_);
    else touch_other(set, way);
  }
  // touch_inline() of the way just filled (with order words: fill_order_word()).
  void touch_filled(std::size_t set, unsigned way) {
    if (ordered_) return fill_order_word(stamps_[set], way, ways_);
    touch_inline(set, way);
  }
  unsigned victim(std::size_t set) {
    if (ordered_) return order_word_victim(stamps_[set]);
    return victim_other(set);
  }

 private:
  // LRU of 12 to 16 ways as one word per set: the ways in order of their last touch, one
  // nibble each, least recent in the lowest. The victim is then one mask instead of a scan of
  // stamps, and the state of a set fits in 8 bytes. It picks what per-way stamps pick: ways
  // never touched are the oldest, in index order, then the rest by their last touch. Fewer
  // ways keep stamps, unless the owner asks otherwise: their scan is short and a stamp is
  // cheaper to touch.
  void touch_other(std::size_t set, unsigned way);
  unsigned victim_other(std::size_t set);
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
