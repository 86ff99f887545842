// Checkpoints of simulated physical memory and its frame allocators (physical_memory.h).
#include <algorithm>
#include <array>
#include <cstring>

#include <sys/mman.h>

#include "virtsim/memory/physical_memory.h"

namespace virtsim {

namespace {
bool all_zero(const std::uint8_t* bytes) {
  static const std::array<std::uint8_t, kPageSize4K> zeros{};
  return std::memcmp(bytes, zeros.data(), kPageSize4K) == 0;
}
}  // namespace

// Frames layout: every frame that holds bytes (a zero one too: under DataBytes::Dropped it still
// takes data writes). Contiguous: every frame with a nonzero byte (the others read as zero either
// way). Frame numbers ascend, so the same memory gives the same bytes.
void PhysicalMemory::save_state(StateWriter& out) const {
  out.put_tag("PMEM");
  out.put<std::uint64_t>(size_);
  out.put<std::uint8_t>(data_ == DataBytes::Kept);
  std::vector<std::pair<Addr, const std::uint8_t*>> frames;
  if (base_) {
    for (Addr a = 0; a < size_; a += kPageSize4K)
      if (!all_zero(base_ + a)) frames.emplace_back(a >> kPageShift4K, base_ + a);
  } else {
    for (const Slot& slot : slots_)
      if (slot.key) frames.emplace_back(slot.key - 1, slot.frame->data());
    std::sort(frames.begin(), frames.end());
  }
  out.put<std::uint64_t>(frames.size());
  for (const auto& [number, bytes] : frames) {
    out.put<std::uint64_t>(number);
    out.put_bytes(bytes, kPageSize4K);
  }
}

void PhysicalMemory::load_state(StateReader& in) {
  in.expect_tag("PMEM");
  const auto size = in.get<std::uint64_t>("memory size");
  if (size != size_) in.fail("memory size", std::to_string(size_) + " bytes, found " + std::to_string(size), in.offset() - 8);
  if (in.get_bool("byte-exact data") != (data_ == DataBytes::Kept))
    in.fail("byte-exact data", "the data-bytes mode of this run's memory", in.offset() - 1);
  if (base_) {
    std::memset(base_, 0, size_);
  } else {
    // The frames this run held before the checkpoint's replace them (their bytes are not reused).
    slots_.assign(std::size_t{1} << kInitialSlotBits, Slot{});
    shift_ = 64 - kInitialSlotBits;
    held_ = 0;
    // And their bits: the host drops the pages of bits and maps zeroed ones at the next write.
    madvise(held_bits_, bits_bytes_, MADV_DONTNEED);
  }
  const auto n = in.count("frame count", 8 + kPageSize4K);
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto number = in.get<std::uint64_t>("frame number");
    if (number >= (size_ >> kPageShift4K))
      in.fail("frame number", "a frame below " + std::to_string(size_ >> kPageShift4K) + ", found " +
                                  std::to_string(number), in.offset() - 8);
    std::uint8_t* to = base_ ? base_ + (number << kPageShift4K) : frame_for_write(number).data();
    in.get_bytes(to, kPageSize4K, "frame bytes");
  }
}

void FrameAllocator::save_state(StateWriter& out) const {
  out.put_tag("FRAM");
  out.put<std::uint64_t>(first_);
  out.put<std::uint64_t>(end_);
  out.put<std::uint64_t>(next_);
  out.put<std::uint64_t>(allocated_);
  out.put<std::uint64_t>(free_.size());
  for (Addr f : free_) out.put<std::uint64_t>(f);
}

void FrameAllocator::load_state(StateReader& in) {
  in.expect_tag("FRAM");
  const auto first = in.get<std::uint64_t>("allocator first frame");
  const auto end = in.get<std::uint64_t>("allocator end");
  if (first != first_ || end != end_)
    in.fail("allocator range", "frames [" + std::to_string(first_) + ", " + std::to_string(end_) + "), found [" +
                                   std::to_string(first) + ", " + std::to_string(end) + ")", in.offset() - 16);
  const Addr next = in.get<std::uint64_t>("allocator next frame");
  const Addr allocated = in.get<std::uint64_t>("allocator bytes held");
  if (next < first_ || next > end_ || allocated > next - first_)
    in.fail("allocator state", "a next frame within the range and no more bytes held than handed out");
  if (budget_ && allocated > allocated_) budget_->taken(allocated - allocated_);
  next_ = next;
  allocated_ = allocated;
  free_.resize(in.count("free frame count", 8));
  for (Addr& f : free_) f = in.get<std::uint64_t>("free frame");
}

}  // namespace virtsim
