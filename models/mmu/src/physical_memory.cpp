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

const PhysicalMemory::Frame* PhysicalMemory::find_frame(Addr number) const {
  RecentFrame& slot = recent_[number % recent_.size()];
  if (slot.frame && slot.number == number) return slot.frame;
  const auto it = frames_.find(number);
  if (it == frames_.end()) return nullptr;  // absent frames are not remembered: they may appear
  slot = {number, it->second.get()};
  return slot.frame;
}

void PhysicalMemory::write(Addr address, const void* in, unsigned length) {
  const Addr offset = address & (kPageSize4K - 1);
  if (!contains(address, length) || offset + length > kPageSize4K) out_of_range(address, length, size_);
  const Addr number = address >> kPageShift4K;
  Frame* frame = const_cast<Frame*>(find_frame(number));
  if (!frame) {
    auto& owned = frames_[number];
    owned = std::make_unique<Frame>(Frame{});
    frame = owned.get();
  }
  std::memcpy(frame->data() + offset, in, length);
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
