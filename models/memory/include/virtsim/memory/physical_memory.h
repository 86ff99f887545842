#pragma once
// Simulated physical memory: zero until written, and only what is written takes host memory.
// Page tables live here in their real binary layout, so walkers read real entries.
//
// Two kinds of write. The model's own (write(): page-table entries of every format, guest,
// shadow and nested, and the structures the model reads back) always land. Data writes
// (write_data(), and transfer() for the ports: the vCPUs' stores, DMA, the guest kernel's
// page zeroing and copy-on-write copies) land where data bytes are kept (DataBytes::Kept);
// where they are dropped, a data write lands only in a frame that already holds bytes, and a
// frame the model never wrote stays unbacked and reads as zeros. Nothing decides on a data
// page's bytes (loads move none; the state digest keeps them), so a run's timing is the same
// either way, while host memory grows with the page tables instead of the footprint.
//
// Kept data: the whole space is one reservation of host address space (MAP_NORESERVE,
// transparent huge pages advised): the host maps a page when it is first written, and the
// byte at simulated address a is at base + a, found with no lookup. Dropped data, or where the
// host refuses so large a reservation (strict overcommit), frames are 4 KiB blocks found
// through a hash table of the frames that hold bytes (Layout::Frames), allocated at their
// first write, behind a bit per frame that answers for the frames holding none; everything
// else is the same.
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "virtsim/common/state_stream.h"
#include "virtsim/common/units.h"
#include "virtsim/memory/host_memory.h"

namespace virtsim {

class PhysicalMemory {
 public:
  enum class Layout {
    Contiguous,  // one host reservation, where the host gives it (else Frames)
    Frames,      // the table of frames that hold bytes
  };
  enum class DataBytes {
    Kept,     // every write lands: memory reads back what was written, data included
    Dropped,  // data writes land only in frames that hold bytes already (forces Layout::Frames)
  };
  explicit PhysicalMemory(Addr size_bytes, Layout layout = Layout::Contiguous, DataBytes data = DataBytes::Kept);
  ~PhysicalMemory();
  PhysicalMemory(const PhysicalMemory&) = delete;
  PhysicalMemory& operator=(const PhysicalMemory&) = delete;

  Addr size() const { return size_; }
  bool contains(Addr address, unsigned length) const { return address + length <= size_ && address + length >= address; }

  // Accesses must not cross a 4 KiB frame (callers split them); out of range throws.
  // Inline: every data access and walker reference of a run comes through here.
  void read(Addr address, void* out, unsigned length) const {
    const Addr offset = address & (kPageSize4K - 1);
    if (!contains(address, length) || offset + length > kPageSize4K) out_of_range(address, length);
    if (base_) return copy(out, base_ + address, length);
    const Frame* frame = find_frame(address >> kPageShift4K);
    if (!frame) zero(out, length);
    else copy(out, frame->data() + offset, length);
  }
  // The model's write: the frame holds bytes from now on.
  void write(Addr address, const void* in, unsigned length) {
    const Addr offset = address & (kPageSize4K - 1);
    if (!contains(address, length) || offset + length > kPageSize4K) out_of_range(address, length);
    if (base_) return copy(base_ + address, in, length);
    const Addr number = address >> kPageShift4K;
    Frame* frame = const_cast<Frame*>(find_frame(number));
    copy((frame ? *frame : frame_for_write(number)).data() + offset, in, length);
  }
  // A data write: as write() where data bytes are kept; else it lands only in a frame that
  // holds bytes already, and is dropped on any other.
  void write_data(Addr address, const void* in, unsigned length) {
    if (data_ == DataBytes::Kept) return write(address, in, length);
    const Addr offset = address & (kPageSize4K - 1);
    if (!contains(address, length) || offset + length > kPageSize4K) out_of_range(address, length);
    if (Frame* frame = const_cast<Frame*>(find_frame(address >> kPageShift4K))) copy(frame->data() + offset, in, length);
  }
  // A data page's whole contents (a kernel zeroing or copying a page), as write_data().
  void zero_data_frame(Addr frame);
  void copy_data_frame(Addr to, Addr from);
  std::uint64_t read64(Addr address) const {
    std::uint64_t v;
    read(address, &v, 8);
    return v;
  }
  void write64(Addr address, std::uint64_t v) { write(address, &v, 8); }

  Layout layout() const { return base_ ? Layout::Contiguous : Layout::Frames; }
  DataBytes data_bytes() const { return data_; }
  // From now on data writes land everywhere (a run that reads data bytes back, such as the
  // state digest). Data dropped before stays dropped: call it before the run's first store.
  void keep_data_bytes() { data_ = DataBytes::Kept; }
  // 4 KiB frames that hold bytes in host memory (frame table only; 0 with the one reservation).
  std::size_t frames_held() const { return held_; }
  // Checkpoints (memory_state.cpp): every frame that holds a nonzero byte, and back; loading
  // first drops every frame this memory held.
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);
  // Where the byte at `address` lives in host memory; null when `address` is out of range, or
  // (frame table only) while its frame holds no bytes. What it points to is read and
  // written as read() and write() would, up to the end of the frame.
  std::uint8_t* host_bytes(Addr address) {
    if (base_) return address < size_ ? base_ + address : nullptr;
    if (address >= size_) return nullptr;
    Frame* frame = const_cast<Frame*>(find_frame(address >> kPageShift4K));
    return frame ? frame->data() + (address & (kPageSize4K - 1)) : nullptr;
  }
  // read() or write_data() of an access that may fail: false, and nothing moved, when
  // [address, address + length) is not inside memory and one frame. Without `data` only the
  // check.
  bool transfer(bool write, Addr address, unsigned char* data, unsigned length) {
    return transfer_at(write, address, data, length, data ? host_bytes(address) : nullptr);
  }
  // transfer() of a caller that has looked up host_bytes(address) already, `host`: null where
  // no frame holds bytes there, so a data write is dropped without a second lookup (or lands
  // in a new frame where data bytes are kept) and a read gives zeros.
  bool transfer_at(bool write, Addr address, unsigned char* data, unsigned length, std::uint8_t* host) {
    if (!contains(address, length) || (address & (kPageSize4K - 1)) + length > kPageSize4K) return false;
    if (!data) return true;
    if (host) {
      if (write) copy(host, data, length);
      else copy(data, host, length);
    } else if (!write) {
      zero(data, length);
    } else if (data_ == DataBytes::Kept) {
      this->write(address, data, length);
    }
    return true;
  }
  // Whether host_bytes() is a sum (the one reservation) rather than a frame-table lookup.
  bool contiguous() const { return base_ != nullptr; }
  // 8 bytes (a data word, a 64-bit entry) is nearly every access: one move, not a memcpy call.
  static void copy(void* to, const void* from, unsigned length) {
    if (length == 8) std::memcpy(to, from, 8);
    else std::memcpy(to, from, length);
  }

 private:
  using Frame = std::array<std::uint8_t, kPageSize4K>;
  static void zero(void* to, unsigned length) {
    if (length == 8) std::memset(to, 0, 8);
    else std::memset(to, 0, length);
  }
  // The frames that hold bytes, by frame number: open addressing with linear probing, at most
  // half full, so a lookup is a multiply and one or two probes, and the table takes 32 bytes
  // or less per frame held however thinly the frames spread over the space (page tables lie
  // one per 2 MiB of a big footprint: a table indexed by address would cost more than they).
  struct Slot {
    Addr key = 0;  // frame number + 1; 0: empty
    Frame* frame = nullptr;
  };
  std::size_t slot_of(Addr number) const { return static_cast<std::size_t>((number * 0x9e3779b97f4a7c15ull) >> shift_); }
  // `number` must be inside memory (the held bits cover it).
  const Frame* find_frame(Addr number) const {
    if (!((held_bits_[number >> 6] >> (number & 63)) & 1)) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = slot_of(number);; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.key == number + 1) return slot.frame;
      if (!slot.key) return nullptr;
    }
  }
  void grow();  // doubles the table
  // Frames are carved, in the order they are first written, from 2 MiB slabs of
  // zeroed host memory (transparent huge pages where the host gives them): a random walk over
  // simulated memory then misses the host TLB far less than with one heap block per frame.
  static constexpr std::size_t kSlabBytes = std::size_t{2} << 20;
  Frame* new_frame();
  std::vector<void*> slabs_;
  std::size_t slab_frames_left_ = 0;
  Frame& frame_for_write(Addr number);  // allocates the frame, which holds no bytes yet
  [[noreturn]] void out_of_range(Addr address, unsigned length) const;
  Addr size_;
  std::uint8_t* base_ = nullptr;  // the reservation, when the host gave it
  std::size_t reserved_bytes_ = 0;
  DataBytes data_;
  static constexpr unsigned kInitialSlotBits = 10;
  std::vector<Slot> slots_ = std::vector<Slot>(std::size_t{1} << kInitialSlotBits);
  unsigned shift_ = 64 - kInitialSlotBits;
  std::size_t held_ = 0;
  // Frame table only: a bit per frame of the space, set once the frame holds bytes, so that
  // the lookup of a frame that holds none (a data access anywhere in a big footprint) needs no
  // probe of the table. Zeroed by the host as it maps its pages, which it does only where a
  // bit is set (a bit covers 4 KiB, a page of bits 128 MiB of the space).
  std::uint64_t* held_bits_ = nullptr;
  std::size_t bits_bytes_ = 0;
  void reserve();  // the one reservation, where the host gives it (base_ stays null else)
};

// Hands out 4 KiB-aligned physical frames, bump-pointer style, and refuses past the end.
// Released single frames go on a free list that later single-frame requests take from first
// (last released, first reused, as a kernel's per-CPU page lists do); contiguous runs always
// come from the bump pointer.
class FrameAllocator {
 public:
  FrameAllocator(Addr first, Addr end) : first_(first), next_(first), end_(end) {}
  // Frames handed out count towards `budget` (the host memory their bytes will take once written).
  void set_budget(HostMemoryBudget* budget) { budget_ = budget; }
  // Returns the base of `count` contiguous frames aligned to `align` bytes; throws if full.
  Addr allocate(std::size_t count = 1, Addr align = kPageSize4K);
  // Gives back one 4 KiB frame that allocate() handed out.
  void release(Addr frame);
  Addr bytes_allocated() const { return allocated_; }  // currently held
  void save_state(StateWriter& out) const;  // memory_state.cpp
  void load_state(StateReader& in);
  Addr first() const { return first_; }
  Addr end() const { return end_; }
  std::size_t free_frames() const { return free_.size(); }

 private:
  Addr first_, next_, end_;
  Addr allocated_ = 0;
  std::vector<Addr> free_;
  HostMemoryBudget* budget_ = nullptr;
};

}  // namespace virtsim
