// The interval core's rules one by one, on a small core: 4-wide, a 16-entry ROB (a 4-cycle
// ROB-fill time), long misses from 100 cycles, 3 of them per window.
#include "virtsim/cpu/interval_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace virtsim {
namespace {

IntervalCoreShape small_core() { return {4, 16, 100, 3}; }

TEST(IntervalCore, PlainInstructionsCostOneCyclePerDispatchWidth) {
  IntervalCore core(small_core());
  EXPECT_EQ(core.dispatch(8), 2u);
  EXPECT_EQ(core.dispatch(3), 0u);  // three instructions short of a cycle: carried
  EXPECT_EQ(core.dispatch(1), 1u);  // the fourth completes it
  EXPECT_EQ(core.dispatch(6), 1u);
  EXPECT_EQ(core.dispatch(2), 1u);  // 6 + 2: the carry is exact
}

// dispatch_one() (the slot of an access or fetch) keeps the same carry as dispatch(1): mixed
// with batches of every size, on cores of every width from 1, each step returns the same cycles.
TEST(IntervalCore, DispatchOneMatchesDispatchOfOneInstruction) {
  for (std::uint32_t width = 1; width <= 6; ++width) {
    IntervalCore one_by_one({width, 16, 100, 3});
    IntervalCore batched({width, 16, 100, 3});
    for (std::uint64_t step = 0; step < 200; ++step) {
      const std::uint64_t batch = (step * 7) % 5;  // 0 to 4 plain instructions between slots
      ASSERT_EQ(one_by_one.dispatch(batch), batched.dispatch(batch));
      ASSERT_EQ(one_by_one.dispatch_one(), batched.dispatch(1)) << "width " << width << ", step " << step;
    }
  }
}

TEST(IntervalCore, HitsCostOnlyTheirDispatchSlot) {
  IntervalCore core(small_core());
  Cycles total = 0;
  for (int i = 0; i < 8; ++i) total += core.access(4);  // ROB fill is 4 cycles: hidden
  EXPECT_EQ(total, 2u);                                 // 8 slots / 4 wide
}

TEST(IntervalCore, ShortMissesExposeWhatExceedsTheRobFillTime) {
  IntervalCore core(small_core());
  EXPECT_EQ(core.rob_fill_cycles(), 4u);
  core.dispatch(3);                       // the next access completes a dispatch cycle
  EXPECT_EQ(core.access(30), 1u + 26u);   // 30 - 4
  EXPECT_EQ(core.windows(), 0u);          // not a long miss
}

TEST(IntervalCore, IndependentLongMissesWithinAWindowOverlap) {
  IntervalCore core(small_core());
  core.dispatch(3);
  EXPECT_EQ(core.access(200), 1u + 200u);  // opens the window: charged in full
  EXPECT_EQ(core.dispatch(4), 1u);
  EXPECT_EQ(core.access(150), 0u);         // 5 instructions later: hidden under the first
  EXPECT_EQ(core.dispatch(2), 0u);
  EXPECT_EQ(core.access(260), 1u + 60u);   // longer: only what it adds to the window
  EXPECT_EQ(core.windows(), 1u);
  EXPECT_EQ(core.overlapped(), 2u);
  // A shorter access inside the open window completes under its miss.
  EXPECT_EQ(core.access(60), 0u);
}

TEST(IntervalCore, AFetchStallsTheFrontEndForWhatItTakesBeyondAPipelinedHit) {
  IntervalCore core(small_core());
  core.dispatch(3);
  EXPECT_EQ(core.fetch(5), 1u);           // the fastest fetch so far: a pipelined hit
  EXPECT_EQ(core.fetch(30), 0u + 25u);    // a miss: not hidden by the ROB, unlike a load's 30
  EXPECT_EQ(core.fetch(4), 0u);           // a faster hit: the new pipelined one
  EXPECT_EQ(core.fetch(4), 0u);
  EXPECT_EQ(core.fetch(204), 1u + 200u);  // a long one is charged in full beyond the hit...
  EXPECT_EQ(core.windows(), 0u);          // ...and opens no window of overlapped data misses
  EXPECT_EQ(core.fetch_stall_cycles(), 25u + 200u);  // 30 - 5 and 204 - 4
}

TEST(IntervalCore, MissesFurtherApartThanTheRobDoNotOverlap) {
  IntervalCore core(small_core());
  core.dispatch(3);
  EXPECT_EQ(core.access(200), 1u + 200u);
  EXPECT_EQ(core.dispatch(15), 3u);        // the next access is the 17th after the miss
  EXPECT_EQ(core.access(200), 1u + 200u);  // beyond the 16-entry ROB: a window of its own
  EXPECT_EQ(core.windows(), 2u);
  EXPECT_EQ(core.overlapped(), 0u);
}

TEST(IntervalCore, AWindowOverlapsAtMostTheOutstandingMisses) {
  IntervalCore core(small_core());
  core.dispatch(3);
  Cycles total = 0;
  for (int i = 0; i < 4; ++i) total += core.access(200);  // back to back, one ROB window
  EXPECT_EQ(total, 1u + 200u + 200u);  // the fourth finds the three miss buffers taken
  EXPECT_EQ(core.windows(), 2u);
  EXPECT_EQ(core.overlapped(), 2u);
}

TEST(IntervalCore, ASerializingEventDrainsTheWindow) {
  IntervalCore core(small_core());
  core.dispatch(3);
  EXPECT_EQ(core.access(200), 1u + 200u);
  core.serialize();  // an exit, a page fault, a privileged instruction
  core.dispatch(3);
  EXPECT_EQ(core.access(200), 1u + 200u);  // next to the first, but after the drain
  EXPECT_EQ(core.windows(), 2u);
}

// Traces carry no register dependences: the model takes every access as independent, so two
// misses of a pointer chase (the second's address loaded by the first) overlap as well.
TEST(IntervalCore, DependentMissesAreTakenAsIndependent) {
  IntervalCore core(small_core());
  core.dispatch(3);
  const Cycles chase = core.access(200) + core.access(200);
  EXPECT_EQ(chase, 1u + 200u);  // a blocking core would take 400 and more
}

// A data access that continues the instruction whose fetch came before it (a captured trace)
// takes no dispatch slot of its own: only its exposed latency counts.
TEST(IntervalCore, AnAccessOfAFetchedInstructionTakesNoDispatchSlot) {
  IntervalCore core(small_core());
  Cycles with_slots = 0, continuing = 0;
  for (int i = 0; i < 400; ++i) with_slots += core.access(4);
  IntervalCore other(small_core());
  for (int i = 0; i < 400; ++i) continuing += other.access(4, false);
  EXPECT_EQ(with_slots, 100u);  // 400 slots at 4 a cycle; L1 hits hidden
  EXPECT_EQ(continuing, 0u);
}

TEST(IntervalCore, L1MissesTheWindowHidesStillShareTheFillBuffers) {
  // A 64-entry ROB (16 cycles to fill) hides a 14-cycle L2 hit; 3 fill buffers; an L1 hit
  // takes 4 cycles, so each L2 hit holds a buffer for 10.
  IntervalCore core({4, 64, 100, 3});
  EXPECT_EQ(core.access(4), 0u);  // learns the pipelined hit (a dispatch slot short of a cycle)
  core.dispatch(3);
  Cycles total = 0;
  for (int i = 0; i < 30; ++i) total += core.access(14);
  // Without the buffers the 30 would cost their 30 dispatch slots (8 cycles); with them, 3 per
  // 10 cycles at most.
  EXPECT_GE(total, 30u / 3u * 10u - 10u);
  EXPECT_GT(core.fill_buffer_wait_cycles(), 0u);
  // Hits hold no buffer and never wait.
  const Cycles waited = core.fill_buffer_wait_cycles();
  for (int i = 0; i < 30; ++i) core.access(4);
  EXPECT_EQ(core.fill_buffer_wait_cycles(), waited);
}

TEST(IntervalCore, FillBuffersFreeAsTheClockMovesOn) {
  IntervalCore core({4, 64, 100, 3});
  core.access(4);
  for (int i = 0; i < 3; ++i) core.access(14);  // every buffer busy
  core.at(1000);                                 // the vCPU's clock, far later
  const Cycles waited = core.fill_buffer_wait_cycles();
  core.access(14);
  EXPECT_EQ(core.fill_buffer_wait_cycles(), waited);
}

// The fill buffers are kept in order of their free times; whatever order they are kept in,
// the waits must be those of taking the buffer that frees first, found by a search of every
// buffer (the reference below), for random latencies, clock jumps and buffer counts.
TEST(IntervalCore, FillBufferWaitsAreThoseOfTheBufferThatFreesFirst) {
  std::uint64_t state = 99;
  const auto next = [&](std::uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (std::uint32_t buffers : {1u, 2u, 3u, 10u}) {
    IntervalCore core({4, 64, 100, buffers});
    std::vector<Cycles> free_at(buffers, 0);
    Cycles now = 0, fastest = ~Cycles{0}, expected_wait = 0;
    for (int step = 0; step < 20000; ++step) {
      if (next(4) == 0) {
        now += next(40);
        core.at(now);
      }
      const Cycles latency = 4 + next(next(10) == 0 ? 300 : 20);  // hits, short misses, long ones
      fastest = std::min(fastest, latency);
      const Cycles before = core.fill_buffer_wait_cycles();
      const Cycles cycles = core.access(latency, false);  // no dispatch slot: the buffer is taken at `now`
      if (latency > fastest || latency >= 100) {
        auto buffer = std::min_element(free_at.begin(), free_at.end());
        const Cycles start = std::max(now, *buffer);
        *buffer = start + (latency - fastest);
        if (latency < 100) expected_wait += start - now;  // long misses do not wait
      }
      now += cycles;
      ASSERT_EQ(core.fill_buffer_wait_cycles(), expected_wait) << buffers << " buffers, step " << step;
      ASSERT_GE(core.fill_buffer_wait_cycles(), before);
    }
  }
}

}  // namespace
}  // namespace virtsim
