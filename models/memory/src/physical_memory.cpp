#include "virtsim/memory/physical_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace virtsim {

void PhysicalMemory::out_of_range(Addr address, unsigned length) const {
  throw std::out_of_range("physical access [" + std::to_string(address) + ", +" + std::to_string(length) +
                          ") outside memory of " + std::to_string(size_) + " bytes or across a frame");
}

PhysicalMemory::PhysicalMemory(Addr size_bytes, Layout layout, DataBytes data) : size_(size_bytes), data_(data) {
  // Dropped data needs to know which frames hold bytes: the frame table says.
  if (layout == Layout::Contiguous && data == DataBytes::Kept) reserve();
  if (base_) return;
  const Addr frames = (size_bytes + kPageSize4K - 1) >> kPageShift4K;
  bits_bytes_ = static_cast<std::size_t>(std::max<Addr>(1, (frames + 63) / 64) * sizeof(std::uint64_t));
  void* bits = mmap(nullptr, bits_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (bits == MAP_FAILED) throw std::bad_alloc();
  held_bits_ = static_cast<std::uint64_t*>(bits);
}

void PhysicalMemory::reserve() {
  // Rounded up to whole huge pages. Nothing is committed: the host maps a page at its first
  // write (a read of a page never written maps the shared zero page).
  const Addr bytes = (size_ + kSlabBytes - 1) & ~Addr{kSlabBytes - 1};
  if (bytes == 0 || bytes > (Addr{1} << 46)) return;  // more than a 47-bit host space can spare
  void* raw = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return;  // the frame table instead
  madvise(raw, bytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages work the same
  base_ = static_cast<std::uint8_t*>(raw);
  reserved_bytes_ = bytes;
}

PhysicalMemory::Frame& PhysicalMemory::frame_for_write(Addr number) {
  if (2 * (held_ + 1) > slots_.size()) grow();
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = slot_of(number);
  while (slots_[i].key) i = (i + 1) & mask;
  slots_[i] = {number + 1, new_frame()};  // zero, as memory reads before any write
  held_bits_[number >> 6] |= std::uint64_t{1} << (number & 63);
  ++held_;
  return *slots_[i].frame;
}

void PhysicalMemory::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  --shift_;
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (!slot.key) continue;
    std::size_t i = slot_of(slot.key - 1);
    while (slots_[i].key) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

void PhysicalMemory::zero_data_frame(Addr frame) {
  static const Frame zeros{};
  write_data(frame, zeros.data(), kPageSize4K);
}

void PhysicalMemory::copy_data_frame(Addr to, Addr from) {
  Frame bytes;
  read(from, bytes.data(), kPageSize4K);
  write_data(to, bytes.data(), kPageSize4K);
}

PhysicalMemory::Frame* PhysicalMemory::new_frame() {
  if (slab_frames_left_ == 0) {
    // Twice the size, then trim to a 2 MiB-aligned slab, so the host can back it with one huge page.
    void* raw = mmap(nullptr, 2 * kSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kSlabBytes - 1) & ~(std::uintptr_t{kSlabBytes} - 1);
    if (aligned > start) munmap(raw, aligned - start);
    if (aligned + kSlabBytes < start + 2 * kSlabBytes)
      munmap(reinterpret_cast<void*>(aligned + kSlabBytes), start + 2 * kSlabBytes - aligned - kSlabBytes);
    void* slab = reinterpret_cast<void*>(aligned);
    madvise(slab, kSlabBytes, MADV_HUGEPAGE);  // advice only: 4 KiB pages work the same
    slabs_.push_back(slab);
    slab_frames_left_ = kSlabBytes / sizeof(Frame);
  }
  auto* base = static_cast<Frame*>(slabs_.back());
  return base + (kSlabBytes / sizeof(Frame) - slab_frames_left_--);
}

PhysicalMemory::~PhysicalMemory() {
  if (base_) munmap(base_, reserved_bytes_);
  if (held_bits_) munmap(held_bits_, bits_bytes_);
  for (void* slab : slabs_) munmap(slab, kSlabBytes);
}

Addr FrameAllocator::allocate(std::size_t count, Addr align) {
  if (count == 1 && align == kPageSize4K && !free_.empty()) {
    const Addr frame = free_.back();
    free_.pop_back();
    allocated_ += kPageSize4K;
    if (budget_) budget_->taken(kPageSize4K);
    return frame;
  }
  const Addr base = (next_ + align - 1) & ~(align - 1);
  const Addr bytes = static_cast<Addr>(count) * kPageSize4K;
  if (base + bytes > end_ || base < next_)
    throw std::runtime_error("out of simulated physical memory: need " + std::to_string(bytes) +
                             " bytes more, " + std::to_string(end_ > next_ ? end_ - next_ : 0) + " left");
  next_ = base + bytes;
  allocated_ += bytes;
  if (budget_) budget_->taken(bytes);
  return base;
}

void FrameAllocator::release(Addr frame) {
  if ((frame & (kPageSize4K - 1)) || frame < first_ || frame >= next_)
    throw std::logic_error("release of frame " + std::to_string(frame) + " that was never allocated");
  free_.push_back(frame);
  allocated_ -= kPageSize4K;
}

}  // namespace virtsim
