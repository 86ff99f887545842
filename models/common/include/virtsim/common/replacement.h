#pragma once
// Replacement policies for set-associative structures (TLBs, walk caches, data caches), chosen
// by name from a registry (Ramulator2 style): LRU is built in, every other policy is one file
// in models/common/src/replacement/ that registers itself (register_replacement()) and from
// then on serves every SetAssociative structure. State is kept per set; the owner fills
// invalid ways (the lowest first) before it asks for a victim.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace virtsim {

// The shape a policy is made for; `where` names the structure's parameter scope for errors.
struct ReplacementShape {
  std::size_t sets = 1;
  unsigned ways = 1;
  std::uint64_t seed = 1;
  std::string where;
};

// A registered policy's state for every set of one structure. Called out of line (a virtual
// call per hit, per fill and per victim); LRU, every default structure's policy, stays inline
// in ReplacementState. Measured with callgrind, GUPS with tree-PLRU L1 TLBs and caches and a
// random STLB took 1.8 % more instructions per update than with the switch over three
// built-in policies this replaced.
class StateWriter;
class StateReader;

class ReplacementPolicy {
 public:
  virtual ~ReplacementPolicy() = default;
  // Checkpoints of the warmed state (state_stream.h); a policy that does not override them
  // cannot be checkpointed (std::logic_error).
  virtual void save_state(StateWriter& out) const;
  virtual void load_state(StateReader& in);
  virtual void touch(std::size_t set, unsigned way) = 0;  // a hit on `way`, or its fill
  virtual unsigned victim(std::size_t set) = 0;           // asked only when every way is valid
};

using ReplacementMaker = std::unique_ptr<ReplacementPolicy> (*)(const ReplacementShape& shape);

// Adds a policy under `name` (at static initialization: `const bool registered =
// register_replacement(...)` in the policy's file). `description` follows the name in the
// parameters' help ("tree pseudo-LRU"); empty for none. Throws std::logic_error on a name
// registered twice.
bool register_replacement(const std::string& name, const std::string& description, ReplacementMaker make);
// The registered names, "lru" (the default) first, the rest in alphabetical order.
const std::vector<std::string>& replacement_choices();
// "replacement policy: lru, plru (tree pseudo-LRU) or random (seeded)": every replacement
// parameter's description.
std::string replacement_description();
// Throws std::invalid_argument naming the choices when `name` is not registered.
void check_replacement(const std::string& name);

class ReplacementState {
 public:
  // Throws ConfigError (naming `where`) when the policy refuses the shape, std::invalid_argument
  // for an unknown name. LRU of `min_listed_ways` or more ways keeps a list per set, else of
  // `min_ordered_ways` (up to 16) or more order words, else stamps.
  ReplacementState(const std::string& policy, std::size_t sets, unsigned ways, std::uint64_t seed,
                   const std::string& where, unsigned min_ordered_ways = kMinOrderedWays,
                   unsigned min_listed_ways = kMaxOrderedWays + 1);
  // Where order words pay: the stamps' victim scan grows with the ways, their touch does not.
  // Structures that mostly hit (TLBs) keep stamps below 12 ways; caches that often miss want
  // order words from 2.
  static constexpr unsigned kMinOrderedWays = 12, kMaxOrderedWays = 16;

  // LRU kept as one order word per set (see below), which an owner may update itself.
  bool ordered() const { return ordered_; }
  // LRU kept as a list per set whose least-recent end holds the invalid ways (the owner calls
  // invalidated() for each): the way a fill takes is the list's end, found without a search.
  bool listed() const { return listed_; }
  unsigned least_recent(std::size_t set) const { return static_cast<unsigned>(oldest_[set] - set * ways_); }
  void invalidated(std::size_t set, unsigned way) {
    if (listed_) make_oldest(set, static_cast<std::uint32_t>(set * ways_ + way));
  }
  std::uint64_t& order_word(std::size_t set) { return stamps_[set]; }

  // Checkpoints (replacement.cpp, out of line): the policy and how LRU is kept, as text (a
  // structure's geometry), and the state of every set.
  std::string describe() const;
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  static bool uses_order_words(bool lru, unsigned ways, unsigned min_ordered_ways) {
    return lru && ways >= (min_ordered_ways < 2 ? 2 : min_ordered_ways) && ways <= kMaxOrderedWays;
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
  // The same with the order-word and list forms inline too, for owners whose hot path is the
  // replacement update (caches, walk caches); TLBs keep touch() small.
  void touch_inline(std::size_t set, unsigned way) {
    if (stamped_) stamps_[set * ways_ + way] = ++tick_;
    else if (ordered_) touch_order_word(stamps_[set], way, ways_);
    else if (listed_) make_newest(set, static_cast<std::uint32_t>(set * ways_ + way));
    else touch_other(set, way);
  }
  // The same for owners that keep lists (walk caches): their form is tested first.
  void touch_listed_first(std::size_t set, unsigned way) {
    if (listed_) make_newest(set, static_cast<std::uint32_t>(set * ways_ + way));
    else touch_inline(set, way);
  }
  // touch_inline() of the way just filled (with order words: fill_order_word()).
  void touch_filled(std::size_t set, unsigned way) {
    if (ordered_) return fill_order_word(stamps_[set], way, ways_);
    if (listed_) return make_newest(set, static_cast<std::uint32_t>(set * ways_ + way));
    if (other_) return other_->touch(set, way);
    stamps_[set * ways_ + way] = ++tick_;
  }
  // Asked only when every way of the set is valid.
  unsigned victim(std::size_t set) {
    if (ordered_) return order_word_victim(stamps_[set]);
    if (listed_) return static_cast<unsigned>(oldest_[set] - set * ways_);
    if (other_) return other_->victim(set);
    return stamp_victim(set);
  }

 private:
  // LRU of 12 to 16 ways as one word per set: the ways in order of their last touch, one
  // nibble each, least recent in the lowest. The victim is then one mask instead of a scan of
  // stamps, and the state of a set fits in 8 bytes. It picks what per-way stamps pick: ways
  // never touched are the oldest, in index order, then the rest by their last touch. Fewer
  // ways keep stamps, unless the owner asks otherwise: their scan is short and a stamp is
  // cheaper to touch. More than 16 (or from the owner's `min_listed_ways`) keep a list per set
  // (below).
  void touch_other(std::size_t set, unsigned way);
  unsigned stamp_victim(std::size_t set) const;
  unsigned ways_;
  bool lru_;
  bool listed_;   // LRU kept as a list per set
  bool ordered_;  // LRU kept as order words
  bool stamped_;  // LRU kept as one stamp per way
  // LRU: the order word per set (12-16 ways) or one stamp per way.
  std::vector<std::uint64_t> stamps_;
  std::uint64_t tick_ = 0;
  // LRU of more than 16 ways (and every walk cache's) as a list per set through its
  // slots (set * ways + way), so the victim is the list's end instead of a scan of stamps.
  // Never-touched ways start at the least-recent end in index order, as stamps order them.
  std::vector<std::uint32_t> older_, newer_;    // per slot: its neighbours toward the LRU and the MRU end
  std::vector<std::uint32_t> oldest_, newest_;  // per set: the slots at the two ends
  void make_newest(std::size_t set, std::uint32_t slot) {
    const std::uint32_t newest = newest_[set];
    if (slot == newest) return;
    const std::uint32_t newer = newer_[slot];  // exists: slot is not the newest
    if (slot == oldest_[set]) oldest_[set] = newer;
    else newer_[older_[slot]] = newer;
    older_[newer] = older_[slot];
    older_[slot] = newest;
    newer_[newest] = slot;
    newest_[set] = slot;
  }
  void make_oldest(std::size_t set, std::uint32_t slot) {
    const std::uint32_t oldest = oldest_[set];
    if (slot == oldest) return;
    const std::uint32_t older = older_[slot];  // exists: slot is not the oldest
    if (slot == newest_[set]) newest_[set] = older;
    else older_[newer_[slot]] = older;
    newer_[older] = newer_[slot];
    newer_[slot] = oldest;
    older_[oldest] = slot;
    oldest_[set] = slot;
  }
  std::unique_ptr<ReplacementPolicy> other_;  // a registered policy other than LRU
  std::string policy_;                          // its name (checkpoints)
};

}  // namespace virtsim
