#pragma once
// Simulated physical memory: sparse 4 KiB frames, zero until written. Page tables live
// here in their real binary layout, so walkers read real entries.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "virtsim/common/units.h"

namespace virtsim {

class PhysicalMemory {
 public:
  explicit PhysicalMemory(Addr size_bytes) : size_(size_bytes) {}

  Addr size() const { return size_; }
  bool contains(Addr address, unsigned length) const { return address + length <= size_ && address + length >= address; }

  // Accesses must not cross a 4 KiB frame (callers split them); out of range throws.
  void read(Addr address, void* out, unsigned length) const;
  void write(Addr address, const void* in, unsigned length);
  std::uint64_t read64(Addr address) const {
    std::uint64_t v;
    read(address, &v, 8);
    return v;
  }
  void write64(Addr address, std::uint64_t v) { write(address, &v, 8); }

  std::size_t frames_touched() const { return frames_.size(); }

 private:
  using Frame = std::array<std::uint8_t, kPageSize4K>;
  // The frame holding `number`, or nullptr. A small direct-mapped cache of recently used frames
  // sits in front of the hash map (frames never move or go away, so the pointers stay valid).
  const Frame* find_frame(Addr number) const;
  struct RecentFrame {
    Addr number = 0;
    const Frame* frame = nullptr;
  };
  Addr size_;
  std::unordered_map<Addr, std::unique_ptr<Frame>> frames_;  // key: frame number
  mutable std::array<RecentFrame, 1024> recent_{};
};

// Hands out 4 KiB-aligned physical frames, bump-pointer style, and refuses past the end.
class FrameAllocator {
 public:
  FrameAllocator(Addr first, Addr end) : next_(first), end_(end) {}
  // Returns the base of `count` contiguous frames aligned to `align` bytes; throws if full.
  Addr allocate(std::size_t count = 1, Addr align = kPageSize4K);
  Addr bytes_allocated() const { return allocated_; }

 private:
  Addr next_, end_;
  Addr allocated_ = 0;
};

}  // namespace virtsim
