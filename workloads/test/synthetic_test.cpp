#include "virtsim/workloads/synthetic.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace virtsim {
namespace {

std::vector<GuestEvent> drain(SyntheticWorkload& w) {
  std::vector<GuestEvent> out;
  while (auto e = w.next()) out.push_back(*e);
  return out;
}

SyntheticConfig small(const std::string& pattern) {
  SyntheticConfig c;
  c.pattern = pattern;
  c.footprint_bytes = 1 << 20;
  c.warmup_accesses = 100;
  c.accesses = 5000;
  c.compute_per_access = 2;
  return c;
}

TEST(Synthetic, StreamShapeAndRegionOfInterest) {
  SyntheticWorkload w(small("random"), 7);
  const auto events = drain(w);
  std::size_t memory = 0, compute = 0, roi_begin_at = 0, roi_end_at = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    switch (events[i].kind) {
      case GuestEventKind::Memory:
        ++memory;
        EXPECT_TRUE(w.contains(events[i].address));
        EXPECT_EQ(events[i].address % 8, 0u);
        break;
      case GuestEventKind::Compute: ++compute; EXPECT_EQ(events[i].count, 2u); break;
      case GuestEventKind::RoiBegin: roi_begin_at = memory; break;
      case GuestEventKind::RoiEnd: roi_end_at = i; break;
      case GuestEventKind::Instr: ADD_FAILURE() << "the synthetic workload emits no Instr events"; break;
      case GuestEventKind::Interrupt: ADD_FAILURE() << "the synthetic workload emits no interrupts"; break;
      case GuestEventKind::String: ADD_FAILURE() << "the synthetic workload emits no string instructions"; break;
    }
  }
  EXPECT_EQ(memory, 5100u);
  EXPECT_EQ(compute, 5100u);
  EXPECT_EQ(roi_begin_at, 100u);
  EXPECT_EQ(roi_end_at, events.size() - 1);
  EXPECT_DOUBLE_EQ(w.progress(), 1.0);
}

TEST(Synthetic, DeterministicForASeedAndDifferentAcrossSeeds) {
  SyntheticWorkload a(small("random"), 1), b(small("random"), 1), c(small("random"), 2);
  const auto ea = drain(a), eb = drain(b), ec = drain(c);
  ASSERT_EQ(ea.size(), eb.size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < ea.size(); ++i) {
    EXPECT_EQ(ea[i].address, eb[i].address);
    EXPECT_EQ(ea[i].access, eb[i].access);
    differing += ea[i].address != ec[i].address;
  }
  EXPECT_GT(differing, ea.size() / 4);
}

TEST(Synthetic, StoreFractionIsRespected) {
  auto config = small("random");
  config.store_fraction = 0.25;
  config.accesses = 40000;
  SyntheticWorkload w(config, 3);
  std::size_t stores = 0, total = 0;
  for (const auto& e : drain(w))
    if (e.kind == GuestEventKind::Memory) {
      ++total;
      stores += e.access == AccessKind::Store;
    }
  EXPECT_NEAR(static_cast<double>(stores) / total, 0.25, 0.01);
}

TEST(Synthetic, StreamWalksTheFootprintInOrder) {
  auto config = small("stream");
  config.stride = 4096;
  SyntheticWorkload w(config, 1);
  std::vector<Addr> addresses;
  for (const auto& e : drain(w))
    if (e.kind == GuestEventKind::Memory) addresses.push_back(e.address);
  EXPECT_EQ(addresses[0], config.base);
  EXPECT_EQ(addresses[1], config.base + 4096);
  EXPECT_EQ(addresses[256], config.base);  // wrapped after 1 MiB
}

TEST(Synthetic, HotspotConcentratesAccesses) {
  auto config = small("hotspot");
  config.accesses = 20000;
  SyntheticWorkload w(config, 5);
  const Addr hot_end = config.base + static_cast<Addr>(config.footprint_bytes * config.hot_fraction);
  std::size_t hot = 0, total = 0;
  for (const auto& e : drain(w))
    if (e.kind == GuestEventKind::Memory) {
      ++total;
      hot += e.address < hot_end;
    }
  // 90% go to the hot tenth, and a tenth of the rest lands there by chance: ~91%.
  EXPECT_NEAR(static_cast<double>(hot) / total, 0.91, 0.02);
}

TEST(Synthetic, SplitMixIsTheReferenceSequence) {
  // First outputs of splitmix64 seeded with 0 (Vigna's reference implementation).
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ull);
}

}  // namespace
}  // namespace virtsim

namespace virtsim {
namespace {

bool same(const GuestEvent& a, const GuestEvent& b) {
  return a.kind == b.kind && a.access == b.access && a.size == b.size && a.count == b.count && a.address == b.address;
}

// fill() writes the generator's events straight into a batch: for any batch size and
// instruction budget, and mixed with next(), the stream is the one next() alone gives, a batch
// ends exactly where ends_batch() says, and its counts are its events'.
TEST(Synthetic, BatchesGiveTheSameStreamAsOneEventAtATime) {
  for (const char* pattern : {"random", "stream", "hotspot"}) {
    SyntheticWorkload one(small(pattern), 11);
    const auto expected = drain(one);
    for (std::size_t max : {1u, 2u, 3u, 7u, 256u}) {
      for (std::uint64_t budget : {1ull, 2ull, 5ull, ~0ull}) {
        SyntheticWorkload batched(small(pattern), 11);
        std::vector<GuestEvent> got, batch(max);
        for (int turn = 0;; ++turn) {
          if (turn % 5 == 4) {  // now and then one event through next()
            const GuestEvent* e = batched.next();
            if (!e) break;
            got.push_back(*e);
            continue;
          }
          const EventBatch made = batched.fill(batch.data(), max, budget);
          const std::size_t n = made.events;
          if (!n) break;
          // The counts that come with the batch are its events'.
          std::uint64_t batch_instructions = 0, batch_references = 0;
          for (std::size_t i = 0; i < n; ++i) {
            batch_instructions += tick_instructions(batch[i]);
            batch_references += batch[i].kind == GuestEventKind::Memory;
          }
          ASSERT_EQ(made.instructions, batch_instructions) << pattern;
          ASSERT_EQ(made.references, batch_references) << pattern;
          std::uint64_t left = budget;
          for (std::size_t i = 0; i < n; ++i) {
            const bool ends = ends_batch(batch[i], left);
            if (i + 1 < n) {
              ASSERT_FALSE(ends) << pattern << ": a batch went on past its end at event " << got.size();
            }
            got.push_back(batch[i]);
          }
        }
        ASSERT_EQ(got.size(), expected.size()) << pattern << " max " << max << " budget " << budget;
        for (std::size_t i = 0; i < got.size(); ++i)
          ASSERT_TRUE(same(got[i], expected[i])) << pattern << " max " << max << " budget " << budget << " event " << i;
      }
    }
  }
}

}  // namespace
}  // namespace virtsim
