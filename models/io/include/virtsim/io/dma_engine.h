#pragma once
// A descriptor-driven DMA engine on the memory side: a driver writes descriptors (source,
// destination, length) into a ring in simulated physical memory and hands each to the engine
// by setting its OWN bit; the engine reads them in ring order and copies the bytes through the
// memory port, every burst checked by the Device Exclusion Vector for both the page it reads
// and the page it writes. A refused burst aborts the descriptor: the engine writes DONE and
// ERROR into it, the bytes it moved so far into TRANSFERRED, and halts until restarted.
//
// Descriptor layout (the model's own, 32 bytes, 32-byte aligned so it never crosses a frame):
//   0  source physical address (8 bytes)     16 length in bytes (4)     24 bytes transferred (4)
//   8  destination physical address (8)      20 control/status (4)      28 reserved (4)
#include <cstdint>
#include <vector>

#include "virtsim/common/memory_port.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/io/device_exclusion_vector.h"

namespace virtsim {

namespace dma_descriptor {
inline constexpr unsigned kSource = 0, kDestination = 8, kLength = 16, kControl = 20, kTransferred = 24;
inline constexpr unsigned kBytes = 32;
// Control/status bits: OWN (the driver hands the descriptor to the engine; the engine clears
// it when done), DONE, ERROR (aborted: a DEV refusal or an address outside memory).
inline constexpr std::uint32_t kOwn = 1u << 0, kDone = 1u << 1, kError = 1u << 2;
}  // namespace dma_descriptor

class DmaEngine {
 public:
  DmaEngine(const Scope& scope, MemoryPort& memory, DeviceExclusionVector& dev);

  // The ring: `entries` descriptors from `base` (32-byte aligned); the head restarts at 0.
  void set_ring(Addr base, unsigned entries);
  // Processes owned descriptors from the head until one is not owned, or one aborts (the
  // engine then halts: run() does nothing until restart()). Returns the cycles it took: its
  // memory accesses one after another (one outstanding access: an assumption).
  Cycles run();
  void restart() { halted_ = false; }
  bool halted() const { return halted_; }
  unsigned head() const { return head_; }

  Param<std::uint64_t> burst_bytes;

  Counter descriptors_completed;
  Counter descriptors_aborted;
  Counter bytes_copied;
  Counter bursts;
  Counter cycles_busy;

 private:
  // One descriptor, `raw` its 32 bytes as read; false when it aborted.
  bool execute(Addr descriptor, const unsigned char* raw, Cycles& cycles);
  void write32(Addr address, std::uint32_t value, Cycles& cycles);

  MemoryPort& memory_;
  DeviceExclusionVector& dev_;
  Addr ring_base_ = 0;
  unsigned ring_entries_ = 0;
  unsigned head_ = 0;
  bool halted_ = false;
  std::vector<unsigned char> buffer_;  // one burst
};

}  // namespace virtsim
