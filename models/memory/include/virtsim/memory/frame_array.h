#pragma once
// A value per 4 KiB frame of a physical space of any size (a kernel's per-page counts, say),
// zero until set, taking host memory only for the stretches of frames set: a three-level
// table (1 GiB, 256 KiB, frames) whose lower levels are made at their first write. A
// terabyte-sized space with a 16-bit value set on every 2 MiB page costs about 100 MiB, not the
// 512 MiB of a flat array; one set on every 4 KiB page costs about as much as the flat one.
#include <array>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "virtsim/common/units.h"

namespace virtsim {

template <class T>
class FrameArray {
 public:
  // Frames [0, end >> 12).
  explicit FrameArray(Addr end) : frames_(end >> kPageShift4K) {}

  T get(Addr frame) const {
    const Addr n = number(frame);
    const Addr top = n >> (kMidBits + kLeafBits);
    if (top >= mids_.size() || !mids_[top]) return T{};
    const auto& leaf = (*mids_[top])[(n >> kLeafBits) & ((Addr{1} << kMidBits) - 1)];
    return leaf ? (*leaf)[n & ((Addr{1} << kLeafBits) - 1)] : T{};
  }
  // The value of `frame`, for writing (makes its levels).
  T& at(Addr frame) {
    const Addr n = number(frame);
    const Addr top = n >> (kMidBits + kLeafBits);
    if (top >= mids_.size()) mids_.resize(top + 1);
    if (!mids_[top]) mids_[top] = std::make_unique<Mid>();
    auto& leaf = (*mids_[top])[(n >> kLeafBits) & ((Addr{1} << kMidBits) - 1)];
    if (!leaf) leaf = std::make_unique<Leaf>();
    return (*leaf)[n & ((Addr{1} << kLeafBits) - 1)];
  }

 // Calls f(frame address, value) for every frame whose value is not T{}, in address order.
  template <class F>
  void for_each_set(F f) const {
    for (std::size_t top = 0; top < mids_.size(); ++top) {
      if (!mids_[top]) continue;
      for (std::size_t mid = 0; mid < mids_[top]->size(); ++mid) {
        const auto& leaf = (*mids_[top])[mid];
        if (!leaf) continue;
        for (std::size_t i = 0; i < leaf->size(); ++i)
          if ((*leaf)[i] != T{})
            f(static_cast<Addr>((((top << kMidBits) | mid) << kLeafBits) | i) << kPageShift4K, (*leaf)[i]);
      }
    }
  }

 private:
  static constexpr unsigned kLeafBits = 6;  // 64 frames: 256 KiB
  static constexpr unsigned kMidBits = 12;  // 4096 leaves: 1 GiB
  using Leaf = std::array<T, std::size_t{1} << kLeafBits>;
  using Mid = std::array<std::unique_ptr<Leaf>, std::size_t{1} << kMidBits>;
  Addr number(Addr frame) const {
    const Addr n = frame >> kPageShift4K;
    if (n >= frames_) throw std::out_of_range("frame " + std::to_string(frame) + " beyond the frame array");
    return n;
  }
  Addr frames_;
  std::vector<std::unique_ptr<Mid>> mids_;
};

}  // namespace virtsim
