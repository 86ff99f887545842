#pragma once
// A first-order interval model of a superscalar out-of-order core (Karkhanis and Smith, "A
// First-Order Superscalar Processor Model", ISCA 2004; Eyerman, Eeckhout, Karkhanis and Smith,
// "A Mechanistic Performance Model for Superscalar Out-of-Order Processors", ACM TOCS 27(2),
// 2009). Plain C++: the vCPU asks it what each instruction costs beyond the latencies it found.
//
// - Instructions dispatch `dispatch_width` per cycle: n instructions cost n / width cycles
//   (carried exactly, in whole instructions).
// - A memory access whose latency the window can cover costs nothing beyond its dispatch slot:
//   while it is outstanding the core keeps dispatching until the reorder buffer is full, which
//   takes rob_entries / dispatch_width cycles (the ROB-fill time of Karkhanis and Smith's
//   account of a miss that blocks the ROB head). A shorter-than-long access exposes only the
//   part of its latency beyond that time (L1 and TLB hits, L2 hits: nothing).
// - A long-latency event (latency >= long_latency cycles: a last-level miss, a walk whose
//   references miss) costs its full latency, as the mechanistic model charges each
//   non-overlapping long miss the memory latency; but a long event dispatched within
//   rob_entries instructions of the one that opened the current window overlaps it
//   (memory-level parallelism): the window costs its longest event, not the sum. At most
//   `outstanding_misses` events share a window (the L1D's miss buffers); the next opens a new
//   window. A shorter access inside an open window is hidden by the window's miss.
// - An access that misses the L1 (takes longer than the fastest access seen, a pipelined hit)
//   holds one of the same `outstanding_misses` fill buffers for what it takes beyond that hit.
//   With every buffer busy, a short miss waits for the first to free: misses the window hides
//   still cannot complete faster than the buffers turn over (Little's law: at most
//   outstanding_misses of them per their latency). Without this, random accesses over a
//   footprint the L2 or last-level cache holds would run at the dispatch width.
// - An instruction fetch is a front-end event (Karkhanis and Smith: an I-cache miss costs about
//   its latency, whatever the front end's depth; Eyerman et al.'s I-cache and I-TLB miss
//   components): the front end stops until the line arrives, and the window drains while it
//   waits no faster than it refills after, so what a fetch takes beyond a pipelined hit is
//   exposed in full whatever the window holds. The pipelined hit is the fastest fetch seen (an ITLB and
//   L1 hit), learned from the fetches themselves, so the core needs no cache parameter.
// - Traces carry no register dependences: every access of a window is assumed independent of
//   the misses before it (the most overlap the window allows). A pointer chase, whose next
//   address depends on the last miss, runs faster here than on the hardware.
// - A serializing event (a VM exit, a page fault, a privileged instruction, an interrupt, a
//   fast-string instruction) drains the window: no later access overlaps an earlier one.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/common/units.h"

namespace virtsim {

class StateWriter;
class StateReader;

// The vCPU's parameters (dispatch_width, rob_entries, long_latency_cycles,
// string_lines_in_flight) say what each is and where its value comes from.
struct IntervalCoreShape {
  std::uint32_t dispatch_width;      // instructions per cycle
  std::uint32_t rob_entries;         // instructions in flight
  Cycles long_latency;               // latency from which an event is a long miss
  std::uint32_t outstanding_misses;  // long misses one window overlaps
};

class IntervalCore {
 public:
  explicit IntervalCore(const IntervalCoreShape& shape)
      : shape_(shape),
        rob_fill_cycles_(shape.rob_entries / std::max<std::uint32_t>(1, shape.dispatch_width)),
        fill_buffer_free_at_(std::max<std::uint32_t>(1, shape.outstanding_misses), 0) {}

  // The vCPU's cycle count when the next access issues (cycles it charged outside the core
  // included); without it, the core counts only the cycles it returned itself.
  void at(Cycles now) { now_ = now; }

  // Cycles of `n` plain instructions: their dispatch.
  Cycles dispatch(std::uint64_t n) {
    dispatched_ += n;
    const std::uint64_t slots = dispatch_carry_ + n;
    dispatch_carry_ = slots % shape_.dispatch_width;
    return elapse(slots / shape_.dispatch_width);
  }
  // dispatch(1), the slot of every access and fetch, without a division: the carry stays
  // below the width, so one more instruction completes a cycle exactly when it reaches it.
  Cycles dispatch_one() {
    ++dispatched_;
    if (++dispatch_carry_ < shape_.dispatch_width) return 0;
    dispatch_carry_ = 0;
    return elapse(1);
  }

  // Cycles of one memory instruction whose translation and data took `latency` cycles in
  // all: its dispatch slot and the part of the latency the window does not hide.
  Cycles access(Cycles latency, bool new_instruction = true) {
    // A data access of an instruction whose fetch came before it takes no dispatch slot of its own.
    const Cycles base = new_instruction ? dispatch_one() : 0;
    fastest_access_ = std::min(fastest_access_, latency);
    const bool in_window = window_open_ && dispatched_ - window_first_ < shape_.rob_entries;
    if (latency < shape_.long_latency) {
      const Cycles wait = latency > fastest_access_ ? take_fill_buffer(latency - fastest_access_) : 0;
      fill_buffer_wait_cycles_ += wait;
      if (in_window && latency <= window_longest_) return base + elapse(wait);
      return base + elapse(wait + (latency > rob_fill_cycles_ ? latency - rob_fill_cycles_ : 0));
    }
    take_fill_buffer(latency - fastest_access_);  // no wait: the window bounds how many overlap
    if (in_window && window_misses_ < shape_.outstanding_misses) {
      ++window_misses_;
      ++overlapped_;
      const Cycles extra = latency > window_longest_ ? latency - window_longest_ : 0;
      window_longest_ = std::max(window_longest_, latency);
      return base + elapse(extra);
    }
    window_open_ = true;
    window_first_ = dispatched_;
    window_longest_ = latency;
    window_misses_ = 1;
    ++windows_;
    return base + elapse(latency);
  }

  // Cycles of one instruction fetch whose translation and cache access took `latency`: its
  // dispatch slot and what it took beyond the fastest fetch, a pipelined hit.
  Cycles fetch(Cycles latency) {
    fastest_fetch_ = std::min(fastest_fetch_, latency);
    const Cycles stall = latency - fastest_fetch_;
    fetch_stall_cycles_ += stall;
    return dispatch_one() + elapse(stall);
  }

  // A serializing event: the window drains; nothing later overlaps what came before.
  void serialize() { window_open_ = false; }

  // Checkpoints of the state in flight (core_state.cpp): the open window, the dispatch carry,
  // the fill buffers' free times (relative to `now`, the vCPU's cycle count, so the loading run
  // continues them from its own), and the fastest hit and fetch learned.
  std::string geometry() const;
  void save_state(StateWriter& out, Cycles now) const;
  void load_state(StateReader& in, Cycles now);

  std::uint64_t windows() const { return windows_; }        // windows of long misses opened
  std::uint64_t overlapped() const { return overlapped_; }  // long misses hidden in an open window
  Cycles rob_fill_cycles() const { return rob_fill_cycles_; }
  Cycles fetch_stall_cycles() const { return fetch_stall_cycles_; }  // front-end stalls of fetches
  Cycles fill_buffer_wait_cycles() const { return fill_buffer_wait_cycles_; }  // short misses' waits for a buffer

 private:
  Cycles elapse(Cycles cycles) {
    now_ += cycles;
    return cycles;
  }
  // An L1 miss issuing now takes the fill buffer that frees first and holds it for
  // `occupancy` cycles from when it gets it; returns the cycles it waited. The buffers are
  // interchangeable, so only the multiset of their free times matters: kept in order in a
  // ring, the first frees first, and its new time, usually the latest, goes in at the end
  // without a search of every buffer.
  Cycles take_fill_buffer(Cycles occupancy) {
    const std::size_t n = fill_buffer_free_at_.size();
    const Cycles start = std::max(now_, fill_buffer_free_at_[first_buffer_]);
    const Cycles done = start + occupancy;
    std::size_t slot = first_buffer_;  // the ring's last place now
    first_buffer_ = first_buffer_ + 1 == n ? 0 : first_buffer_ + 1;
    while (slot != first_buffer_) {  // later free times move one place up, past `done`
      const std::size_t before = slot == 0 ? n - 1 : slot - 1;
      if (fill_buffer_free_at_[before] <= done) break;
      fill_buffer_free_at_[slot] = fill_buffer_free_at_[before];
      slot = before;
    }
    fill_buffer_free_at_[slot] = done;
    return start - now_;
  }

  IntervalCoreShape shape_;
  Cycles rob_fill_cycles_;
  std::uint64_t dispatched_ = 0;     // instructions dispatched so far
  std::uint64_t dispatch_carry_ = 0; // instructions short of a whole cycle
  bool window_open_ = false;
  std::uint64_t window_first_ = 0;   // the instruction that opened the window
  Cycles window_longest_ = 0;
  std::uint32_t window_misses_ = 0;
  std::uint64_t windows_ = 0;
  std::uint64_t overlapped_ = 0;
  Cycles fastest_fetch_ = ~Cycles{0};  // a pipelined fetch: the fastest seen
  Cycles fetch_stall_cycles_ = 0;
  Cycles now_ = 0;                       // the core's clock (at(), and every cycle it returned)
  // When each L1D fill buffer frees, in order from first_buffer_ round the ring.
  std::vector<Cycles> fill_buffer_free_at_;
  std::size_t first_buffer_ = 0;
  Cycles fastest_access_ = ~Cycles{0};   // a pipelined L1 hit: the fastest access seen
  Cycles fill_buffer_wait_cycles_ = 0;
};

}  // namespace virtsim
