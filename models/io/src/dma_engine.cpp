#include "virtsim/io/dma_engine.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace virtsim {

DmaEngine::DmaEngine(const Scope& scope, MemoryPort& memory, DeviceExclusionVector& dev)
    : VIRTSIM_MEMBER(burst_bytes, scope, 64, "bytes",
                     "largest piece of a copy moved by one read and one write (assumption: a cache line); a burst "
                     "never crosses a 4 KiB page, so each is checked by the DEV on its own",
                     Range{1, 4096}),
      VIRTSIM_MEMBER(descriptors_completed, scope, "descriptors", "descriptors copied in full"),
      VIRTSIM_MEMBER(descriptors_aborted, scope, "descriptors",
                     "descriptors aborted (a burst refused by the DEV, or outside memory)"),
      VIRTSIM_MEMBER(bytes_copied, scope, "bytes", "bytes copied"),
      VIRTSIM_MEMBER(bursts, scope, "bursts", "bursts copied (one read and one write each)"),
      VIRTSIM_MEMBER(cycles_busy, scope, "cycles",
                     "cycles the engine spent: descriptor reads and write-backs, DEV bitmap reads, bursts"),
      memory_(memory),
      dev_(dev),
      buffer_(burst_bytes.get()) {}

void DmaEngine::set_ring(Addr base, unsigned entries) {
  if (base % dma_descriptor::kBytes) throw std::invalid_argument("DMA ring base is not 32-byte aligned");
  ring_base_ = base;
  ring_entries_ = entries;
  head_ = 0;
  halted_ = false;
}

void DmaEngine::write32(Addr address, std::uint32_t value, Cycles& cycles) {
  cycles += memory_.access(true, address, reinterpret_cast<unsigned char*>(&value), 4).cycles;
}

Cycles DmaEngine::run() {
  Cycles cycles = 0;
  for (unsigned done = 0; !halted_ && done < ring_entries_; ++done) {
    const Addr descriptor = ring_base_ + Addr{head_} * dma_descriptor::kBytes;
    unsigned char raw[dma_descriptor::kBytes];
    cycles += memory_.access(false, descriptor, raw, dma_descriptor::kBytes).cycles;
    std::uint32_t control;
    std::memcpy(&control, raw + dma_descriptor::kControl, 4);
    if (!(control & dma_descriptor::kOwn)) break;
    halted_ = !execute(descriptor, raw, cycles);
    head_ = (head_ + 1) % ring_entries_;
  }
  cycles_busy += cycles;
  return cycles;
}

bool DmaEngine::execute(Addr descriptor, const unsigned char* raw, Cycles& cycles) {
  Addr source, destination;
  std::uint32_t length;
  std::memcpy(&source, raw + dma_descriptor::kSource, 8);
  std::memcpy(&destination, raw + dma_descriptor::kDestination, 8);
  std::memcpy(&length, raw + dma_descriptor::kLength, 4);

  std::uint32_t moved = 0;
  bool ok = true;
  while (ok && moved < length) {
    const Addr from = source + moved, to = destination + moved;
    const Addr room = std::min(kPageSize4K - (from & (kPageSize4K - 1)), kPageSize4K - (to & (kPageSize4K - 1)));
    const unsigned burst = static_cast<unsigned>(std::min<Addr>({buffer_.size(), length - moved, room}));
    const DeviceExclusionVector::Verdict read_ok = dev_.check(from, false);
    cycles += read_ok.cycles;
    const DeviceExclusionVector::Verdict write_ok = read_ok.allowed ? dev_.check(to, true) : read_ok;
    if (read_ok.allowed) cycles += write_ok.cycles;
    if (!read_ok.allowed || !write_ok.allowed) {
      ok = false;
      break;
    }
    const MemoryResult r = memory_.access(false, from, buffer_.data(), burst);
    const MemoryResult w = r.ok ? memory_.access(true, to, buffer_.data(), burst) : r;
    cycles += r.cycles + (r.ok ? w.cycles : 0);
    if (!r.ok || !w.ok) {
      ok = false;
      break;
    }
    moved += burst;
    ++bursts;
  }
  bytes_copied += moved;
  ++(ok ? descriptors_completed : descriptors_aborted);
  write32(descriptor + dma_descriptor::kTransferred, moved, cycles);
  write32(descriptor + dma_descriptor::kControl, dma_descriptor::kDone | (ok ? 0 : dma_descriptor::kError), cycles);
  return ok;
}

}  // namespace virtsim
