#include "virtsim/mmu/physical_memory.h"

#include <stdexcept>
#include <string>

namespace virtsim {

void PhysicalMemory::out_of_range(Addr address, unsigned length) const {
  throw std::out_of_range("physical access [" + std::to_string(address) + ", +" + std::to_string(length) +
                          ") outside memory of " + std::to_string(size_) + " bytes or across a frame");
}

PhysicalMemory::Frame& PhysicalMemory::frame_for_write(Addr number) {
  const Addr top = number >> kChunkBits;
  if (top >= chunks_.size()) chunks_.resize(top + 1);
  if (!chunks_[top]) chunks_[top] = std::make_unique<Chunk>(std::size_t{1} << kChunkBits);
  auto& frame = (*chunks_[top])[number & ((Addr{1} << kChunkBits) - 1)];
  if (!frame) {
    frame = std::make_unique<Frame>();  // value-initialized: zero, as memory reads before any write
    ++frames_touched_;
  }
  return *frame;
}

Addr FrameAllocator::allocate(std::size_t count, Addr align) {
  const Addr base = (next_ + align - 1) & ~(align - 1);
  const Addr bytes = static_cast<Addr>(count) * kPageSize4K;
  if (base + bytes > end_ || base < next_)
    throw std::runtime_error("out of simulated physical memory: need " + std::to_string(bytes) +
                             " bytes more, " + std::to_string(end_ > next_ ? end_ - next_ : 0) + " left");
  next_ = base + bytes;
  allocated_ += bytes;
  return base;
}

}  // namespace virtsim
