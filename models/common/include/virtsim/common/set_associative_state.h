#pragma once
// Checkpoints of a SetAssociative array (set_associative.h), out of the hot path's header: the
// owners' state files include this one.
#include <string>
#include <type_traits>

#include "virtsim/common/set_associative.h"
#include "virtsim/common/state_stream.h"

namespace virtsim {

template <typename Key, typename Entry, Key kKeyBits>
std::string SetAssociative<Key, Entry, kKeyBits>::geometry() const {
  // "64x4 lru (stamps), 8+32-byte slots, listed": sets x ways, the policy and how LRU is kept,
  // the key's and entry's bytes (their layout), a list of valid slots.
  std::string g = std::to_string(sets_) + "x" + std::to_string(ways_) + " " + replacement_.describe() + ", " +
                  std::to_string(sizeof(Key));
  if constexpr (!std::is_empty_v<Entry>) g += "+" + std::to_string(sizeof(Entry));
  g += "-byte slots";
  if (track_valid_) g += ", listed";
  return g;
}

template <typename Key, typename Entry, Key kKeyBits>
void SetAssociative<Key, Entry, kKeyBits>::save_state(StateWriter& out) const {
  for (std::size_t set = 0; set < sets_; ++set) out.put_bytes(row(set), ways_ * sizeof(Key));
  if constexpr (!std::is_empty_v<Entry>) {
    static_assert(std::is_trivially_copyable_v<Entry>, "entries go in as bytes");
    out.put_bytes(entries_.data(), entries_.size() * sizeof(Entry));
  }
  if (track_valid_) {
    out.put<std::uint64_t>(valid_.size());
    out.put_bytes(valid_.data(), valid_.size() * sizeof(std::uint32_t));
  }
  replacement_.save_state(out);
}

template <typename Key, typename Entry, Key kKeyBits>
void SetAssociative<Key, Entry, kKeyBits>::load_state(StateReader& in) {
  std::size_t valid_keys = 0;
  for (std::size_t set = 0; set < sets_; ++set) {
    Key* keys = row(set);
    in.get_bytes(keys, ways_ * sizeof(Key), "keys");
    for (unsigned w = 0; w < ways_; ++w) {
      valid_keys += keys[w] != invalid_;
      if (hint_stride_) hints_[set * hint_stride_ + w] = tag_hint(keys[w]);
    }
  }
  if constexpr (!std::is_empty_v<Entry>) in.get_bytes(entries_.data(), entries_.size() * sizeof(Entry), "entries");
  if (track_valid_) {
    const std::uint64_t at = in.offset();
    valid_.resize(in.count("valid slots", sizeof(std::uint32_t)));
    if (valid_.size() != valid_keys)
      in.fail("valid slots", std::to_string(valid_keys) + " (the valid keys), found " + std::to_string(valid_.size()),
              at);
    in.get_bytes(valid_.data(), valid_.size() * sizeof(std::uint32_t), "valid slots");
    for (std::size_t k = 0; k < valid_.size(); ++k) {
      const std::uint32_t slot = valid_[k];
      if (slot >= sets_ * ways_ || !valid(slot / ways_, slot % ways_))
        in.fail("valid slots", "slots of valid keys, found " + std::to_string(slot), at);
      place_in_valid_[slot] = static_cast<std::uint32_t>(k);
    }
  }
  replacement_.load_state(in);
}

}  // namespace virtsim
