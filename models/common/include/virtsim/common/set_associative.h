#pragma once
// One set-associative array, the storage of every TLB, walk cache and data cache: sets x ways
// slots, each a key (what a lookup compares; `invalid` marks an empty way) and an entry (what
// the owner keeps beside it; nothing for a data cache), with the replacement policy chosen by
// name (replacement.h). The owner computes the set of a key (its index bits, its page size);
// the array finds ways, picks where a fill goes (the lowest invalid way, else the policy's
// victim), invalidates one way, the ways of a predicate within the sets the owner names, or
// everything. Header-only: lookups are inline in the owners' hot paths.
//
// Layout, for the host's caches: keys in rows of their own (a set's keys are one or two host
// lines; rows of 32-bit keys are padded to a multiple of 4 and 64-byte aligned, so rows of up
// to 16 ways compare four at once with SSE2), entries in a second array read only for a
// matching way, and, on request, a one-byte hash per key (tag_hints.h) so that a set of 64-bit
// keys of up to 32 ways finds its candidate ways with one or two 16-byte compares.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "virtsim/common/replacement.h"
#include "virtsim/common/tag_hints.h"

namespace virtsim {

class StateWriter;
class StateReader;

struct NoEntry {};  // the entry of an array whose key says everything (a data cache's tags)

// kKeyBits: the bits of a stored key that identify it; a data cache keeps a line's dirty flag
// in a key's top bit, outside them.
template <typename Key, typename Entry = NoEntry, Key kKeyBits = ~Key{0}>
class SetAssociative {
  static_assert(std::is_unsigned_v<Key>, "keys are unsigned integers");

 public:
  struct Shape {
    std::size_t sets = 1;
    unsigned ways = 1;
    Key invalid = ~Key{0};  // the key of an empty way; no valid key equals it in kKeyBits
    std::string replacement = "lru";
    std::uint64_t seed = 1;      // for policies that draw (random)
    std::string where;           // the owner's parameter scope, for errors
    unsigned min_ordered_ways = ReplacementState::kMinOrderedWays;  // LRU order words from here
    unsigned min_listed_ways = ReplacementState::kMaxOrderedWays + 1;  // LRU lists from here
    bool hints = false;          // keep key hashes (64-bit keys, up to 32 ways)
    bool track_valid = false;    // keep a list of the valid slots: sparse invalidations visit only them
  };

  explicit SetAssociative(const Shape& shape)
      : ways_(shape.ways),
        sets_(shape.sets),
        invalid_(shape.invalid),
        row_(sizeof(Key) == 4 ? (shape.ways + 3) / 4 * 4 : shape.ways),
        hint_stride_(!shape.hints || shape.ways > kWideTagHintStride ? 0
                     : shape.ways <= kTagHintStride                   ? kTagHintStride
                                                                      : kWideTagHintStride),
        track_valid_(shape.track_valid),
        replacement_(shape.replacement, shape.sets, shape.ways, shape.seed, shape.where, shape.min_ordered_ways,
                     shape.min_listed_ways) {
    key_storage_.assign(sets_ * row_ + 64 / sizeof(Key), invalid_);  // + one host line of slack for the alignment
    const auto base = reinterpret_cast<std::uintptr_t>(key_storage_.data());
    keys_ = key_storage_.data() + (64 - base % 64) % 64 / sizeof(Key);
    if constexpr (!std::is_empty_v<Entry>) entries_.assign(sets_ * ways_, Entry{});
    hints_.assign(sets_ * hint_stride_, tag_hint(invalid_));
    if (track_valid_) {
      valid_.reserve(sets_ * ways_);
      place_in_valid_.assign(sets_ * ways_, 0);
    }
  }

  // Keeps a pointer into its own storage, which a move keeps and a copy would not.
  SetAssociative(const SetAssociative&) = delete;
  SetAssociative& operator=(const SetAssociative&) = delete;
  SetAssociative(SetAssociative&&) = default;
  SetAssociative& operator=(SetAssociative&&) = default;

  // Checkpoints of the warmed state, defined in set_associative_state.h (included only where a
  // checkpoint is written or read): the shape as text, and every key, entry, valid-slot list
  // and the policy's state. load_state() expects the shape geometry() describes.
  std::string geometry() const;
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  std::size_t sets() const { return sets_; }
  unsigned ways() const { return ways_; }
  ReplacementState& replacement() { return replacement_; }
  bool hashed() const { return hint_stride_ != 0; }

  // ---- reading ----
  Key* row(std::size_t set) { return keys_ + set * row_; }
  const Key* row(std::size_t set) const { return keys_ + set * row_; }
  bool valid(std::size_t set, unsigned way) const { return row(set)[way] != invalid_; }
  Entry& entry(std::size_t set, unsigned way) { return entries_[set * ways_ + way]; }
  const Entry& entry(std::size_t set, unsigned way) const { return entries_[set * ways_ + way]; }

  // Bit w set when way w may hold `key` (up to 32 ways): exact for 32-bit keys (compared in
  // kKeyBits), the ways whose hash matches for hashed arrays. Arrays without either scan.
  [[gnu::always_inline]] unsigned candidates(std::size_t set, Key key) const {
    if constexpr (sizeof(Key) == 4) {
      if (ways_ <= 16) return ways_equal<kKeyBits>(row(set), key);
    }
    const std::uint8_t* hints = &hints_[set * hint_stride_];
    if (hint_stride_ == kTagHintStride) return tag_hint_matches(hints, key, ways_);
    return tag_hint_matches_wide(hints, key, ways_);
  }
  // The lowest way holding `key` (in kKeyBits) for which holds(way) is true, or -1.
  template <typename Holds>
  [[gnu::always_inline]] int find(std::size_t set, Key key, Holds holds) const {
    const Key* keys = row(set);
    const auto match = [&](unsigned w) { return (keys[w] & kKeyBits) == key && holds(w); };
    if (uses_candidates()) return first_holding_way(candidates(set, key), match);
    for (unsigned w = 0; w < ways_; ++w)
      if (match(w)) return static_cast<int>(w);
    return -1;
  }
  int find(std::size_t set, Key key) const {
    return find(set, key, [](unsigned) { return true; });
  }
  // The lowest invalid way of the set, or ways() when it is full.
  unsigned free_way(std::size_t set) const {
    const int way = find(set, invalid_ & kKeyBits);
    return way < 0 ? ways_ : static_cast<unsigned>(way);
  }

  // find() and free_way() at once (what a fill asks): one pass over a set that is scanned.
  template <typename Holds>
  int find_and_free(std::size_t set, Key key, Holds holds, unsigned& free) const {
    if (uses_candidates()) {
      free = free_way(set);
      return find(set, key, holds);
    }
    const Key* keys = row(set);
    int found = -1;
    free = ways_;
    for (unsigned w = 0; w < ways_; ++w) {
      if (keys[w] == invalid_) {
        if (free == ways_) free = w;
      } else if ((keys[w] & kKeyBits) == key && holds(w)) {
        found = static_cast<int>(w);
      }
    }
    return found;
  }

  // ---- updating ----
  // A hit: the policy's touch, in its small inline form (stamp LRU inline, the rest out of
  // line) or its larger one.
  void touch(std::size_t set, unsigned way) { replacement_.touch(set, way); }
  void touch_inline(std::size_t set, unsigned way) { replacement_.touch_inline(set, way); }
  void touch_listed_first(std::size_t set, unsigned way) { replacement_.touch_listed_first(set, way); }
  // Where a fill of the set goes: the lowest invalid way, else the policy's victim (`evicts`
  // says which).
  unsigned way_to_fill(std::size_t set, bool& evicts) {
    if (replacement_.listed()) {  // the list's least-recent end: an invalid way while there is one
      const unsigned way = replacement_.least_recent(set);
      evicts = valid(set, way);
      return way;
    }
    return way_to_fill(set, free_way(set), evicts);
  }
  // The same when the lowest invalid way is known (find_and_free()).
  unsigned way_to_fill(std::size_t set, unsigned free, bool& evicts) {
    evicts = free == ways_;
    return evicts ? replacement_.victim(set) : free;
  }
  // Writes `key` into the way (an invalid way becomes valid) and touches it as filled.
  void fill(std::size_t set, unsigned way, Key key) {
    if (track_valid_ && !valid(set, way)) add_valid(set * ways_ + way);
    set_key(set, way, key);
    replacement_.touch_filled(set, way);
  }
  // Makes a valid way invalid. Its replacement state stays: an invalid way is filled before
  // any victim is asked for, and the fill touches it.
  void invalidate(std::size_t set, unsigned way) {
    if (track_valid_) remove_valid(set * ways_ + way);
    set_key(set, way, invalid_);
    replacement_.invalidated(set, way);
  }
  // Invalidates every valid way of `set` for which drop(set, way) is true; returns how many.
  template <typename Drop>
  std::size_t invalidate_in_set(std::size_t set, Drop drop) {
    std::size_t dropped = 0;
    for (unsigned w = 0; w < ways_; ++w)
      if (valid(set, w) && drop(set, w)) {
        invalidate(set, w);
        ++dropped;
      }
    return dropped;
  }
  // The same for the ways of `set` that hold `key` (in kKeyBits): an invalidation by address
  // reads only the candidates of one compare of hashes (or of 32-bit keys), or one scan of keys.
  template <typename Drop>
  std::size_t invalidate_key_in_set(std::size_t set, Key key, Drop drop) {
    std::size_t dropped = 0;
    const auto visit = [&](unsigned w) {
      if ((row(set)[w] & kKeyBits) == key && drop(set, w)) {
        invalidate(set, w);
        ++dropped;
      }
    };
    if (uses_candidates()) {
      for (unsigned c = candidates(set, key); c; c &= c - 1) visit(static_cast<unsigned>(__builtin_ctz(c)));
    } else {
      for (unsigned w = 0; w < ways_; ++w) visit(w);
    }
    return dropped;
  }
  // The same over every set: the valid list when the array keeps one (only what was filled),
  // else every slot.
  template <typename Drop>
  std::size_t invalidate_if(Drop drop) {
    std::size_t dropped = 0;
    if (track_valid_) {
      for (std::size_t k = 0; k < valid_.size();) {  // an invalidation moves the last slot to k
        const std::uint32_t slot = valid_[k];
        if (drop(slot / ways_, slot % ways_)) {
          invalidate(slot / ways_, slot % ways_);
          ++dropped;
        } else {
          ++k;
        }
      }
      return dropped;
    }
    for (std::size_t set = 0; set < sets_; ++set) dropped += invalidate_in_set(set, drop);
    return dropped;
  }
  // Every way invalid; returns how many were valid.
  std::size_t flush() {
    if (track_valid_) {
      const std::size_t n = valid_.size();
      while (!valid_.empty()) invalidate(valid_.back() / ways_, valid_.back() % ways_);
      return n;
    }
    std::size_t n = 0;  // every way invalid: any LRU list order keeps them at its least-recent end
    for (std::size_t set = 0; set < sets_; ++set) {
      Key* keys = row(set);
      for (unsigned w = 0; w < ways_; ++w) n += keys[w] != invalid_;
      std::fill_n(keys, ways_, invalid_);
      if (hint_stride_) std::fill_n(&hints_[set * hint_stride_], ways_, tag_hint(invalid_));
    }
    return n;
  }
  std::size_t valid_count() const {
    if (track_valid_) return valid_.size();
    std::size_t n = 0;
    for (std::size_t set = 0; set < sets_; ++set)
      for (unsigned w = 0; w < ways_; ++w) n += valid(set, w);
    return n;
  }
  // Calls visit(set, way) for every valid way, in slot order.
  template <typename Visit>
  void for_each_valid(Visit visit) const {
    for (std::size_t set = 0; set < sets_; ++set)
      for (unsigned w = 0; w < ways_; ++w)
        if (valid(set, w)) visit(set, w);
  }

  // Writes a key as it is (a data cache's dirty flag in it), hash included.
  void set_key(std::size_t set, unsigned way, Key key) {
    row(set)[way] = key;
    if (hint_stride_) hints_[set * hint_stride_ + way] = tag_hint(key);
  }

  // Bit w set when the bits `kMask` of way w of a row of at most 16 32-bit keys are `value`
  // (padding ways included): rows of 4, 8, 12 and 16 ways compare in one go.
  template <Key kMask = ~Key{0}>
  [[gnu::always_inline]] unsigned ways_equal(const Key* keys, Key value) const {
    static_assert(sizeof(Key) == 4, "SSE2 compares of 32-bit keys");
#if defined(__SSE2__)
    const __m128i wanted = _mm_set1_epi32(static_cast<int>(value));
    const auto equal = [&](std::size_t group) {
      __m128i ways = _mm_load_si128(reinterpret_cast<const __m128i*>(keys + group));
      if constexpr (kMask != ~Key{0}) ways = _mm_and_si128(ways, _mm_set1_epi32(static_cast<int>(kMask)));
      return _mm_cmpeq_epi32(ways, wanted);
    };
    const __m128i none = _mm_setzero_si128();
    switch (row_) {
      case 4: return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(equal(0))));
      case 8: return static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(_mm_packs_epi32(equal(0), equal(4)), none)));
      case 12:
        return static_cast<unsigned>(_mm_movemask_epi8(
            _mm_packs_epi16(_mm_packs_epi32(equal(0), equal(4)), _mm_packs_epi32(equal(8), none))));
      default:
        return static_cast<unsigned>(_mm_movemask_epi8(
            _mm_packs_epi16(_mm_packs_epi32(equal(0), equal(4)), _mm_packs_epi32(equal(8), equal(12)))));
    }
#else
    unsigned mask = 0;
    for (std::size_t way = 0; way < row_; ++way) mask |= unsigned{(keys[way] & kMask) == value} << way;
    return mask;
#endif
  }

 private:
  bool uses_candidates() const {
    if constexpr (sizeof(Key) == 4) return ways_ <= 16;
    return hint_stride_ != 0;
  }
  void add_valid(std::size_t slot) {
    place_in_valid_[slot] = static_cast<std::uint32_t>(valid_.size());
    valid_.push_back(static_cast<std::uint32_t>(slot));
  }
  void remove_valid(std::size_t slot) {
    const std::uint32_t last = valid_.back();
    valid_[place_in_valid_[slot]] = last;
    place_in_valid_[last] = place_in_valid_[slot];
    valid_.pop_back();
  }

  unsigned ways_;
  std::size_t sets_;
  Key invalid_;
  std::size_t row_;           // keys per row: the ways, padded to 4 for 32-bit keys
  unsigned hint_stride_;      // hash bytes per set; 0: no hashes
  bool track_valid_;
  std::vector<Key> key_storage_;  // the rows, 64-byte aligned within it
  Key* keys_ = nullptr;
  std::vector<Entry> entries_;
  std::vector<std::uint8_t> hints_;
  // The valid slots (set * ways + way), in no order, and each valid slot's place among them.
  std::vector<std::uint32_t> valid_, place_in_valid_;
  ReplacementState replacement_;
};

}  // namespace virtsim
