#include "virtsim/mmu/physical_memory.h"

#include <stdexcept>
#include <string>

namespace virtsim {

namespace {
[[noreturn]] void out_of_range(Addr address, unsigned length, Addr size) {
  throw std::out_of_range("physical access [" + std::to_string(address) + ", +" + std::to_string(length) +
                          ") outside memory of " + std::to_string(size) + " bytes or across a frame");
}
}  // namespace

void PhysicalMemory::read(Addr address, void* out, unsigned length) const {
  const Addr offset = address & (kPageSize4K - 1);
  if (!contains(address, length) || offset + length > kPageSize4K) out_of_range(address, length, size_);
  const Frame* frame = find_frame(address >> kPageShift4K);
  if (!frame) std::memset(out, 0, length);
  else std::memcpy(out, frame->data() + offset, length);
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

void PhysicalMemory::write(Addr address, const void* in, unsigned length) {
  const Addr offset = address & (kPageSize4K - 1);
  if (!contains(address, length) || offset + length > kPageSize4K) out_of_range(address, length, size_);
  std::memcpy(frame_for_write(address >> kPageShift4K).data() + offset, in, length);
}

Addr FrameAllocator::allocate(std::size_t count, Addr align) {
  if (count == 1 && align == kPageSize4K && !free_.empty()) {
    const Addr frame = free_.back();
    free_.pop_back();
    allocated_ += kPageSize4K;
    return frame;
  }
  const Addr base = (next_ + align - 1) & ~(align - 1);
  const Addr bytes = static_cast<Addr>(count) * kPageSize4K;
  if (base + bytes > end_ || base < next_)
    throw std::runtime_error("out of simulated physical memory: need " + std::to_string(bytes) +
                             " bytes more, " + std::to_string(end_ > next_ ? end_ - next_ : 0) + " left");
  next_ = base + bytes;
  allocated_ += bytes;
  return base;
}

void FrameAllocator::release(Addr frame) {
  if ((frame & (kPageSize4K - 1)) || frame < first_ || frame >= next_)
    throw std::logic_error("release of frame " + std::to_string(frame) + " that was never allocated");
  free_.push_back(frame);
  allocated_ -= kPageSize4K;
}

}  // namespace virtsim
