#include "virtsim/common/replacement.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace virtsim {
namespace {

// LRU as per-way timestamps, the plain definition the packed order word must agree with:
// the victim is the way touched least recently (never-touched ways first, lowest index first).
class StampLru {
 public:
  explicit StampLru(unsigned ways) : stamps_(ways, 0) {}
  void touch(unsigned way) { stamps_[way] = ++tick_; }
  unsigned victim() const {
    unsigned oldest = 0;
    for (unsigned way = 1; way < stamps_.size(); ++way)
      if (stamps_[way] < stamps_[oldest]) oldest = way;
    return oldest;
  }

 private:
  std::vector<std::uint64_t> stamps_;
  std::uint64_t tick_ = 0;
};

// Every form (stamps, order words from 12 ways as TLBs keep them, order words from 2 ways as
// caches keep them, through touch() and touch_inline()) picks the victims the definition does.
void expect_lru_matches_timestamps(unsigned min_ordered_ways, bool inline_touch) {
  for (unsigned ways : {1u, 2u, 3u, 4u, 8u, 12u, 15u, 16u, 17u, 24u}) {
    const std::size_t sets = 3;
    ReplacementState lru("lru", sets, ways, 1, "test", min_ordered_ways);
    std::vector<StampLru> reference(sets, StampLru(ways));
    std::uint64_t rng = 12345;
    for (int step = 0; step < 20000; ++step) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      const std::size_t set = (rng >> 20) % sets;
      ASSERT_EQ(lru.victim(set), reference[set].victim())
          << ways << " ways, ordered from " << min_ordered_ways << ", step " << step;
      // Mostly touch the victim (a fill), sometimes any way (a hit).
      const unsigned way = (rng >> 40) % 4 == 0 ? static_cast<unsigned>((rng >> 8) % ways) : lru.victim(set);
      if (inline_touch) lru.touch_inline(set, way);
      else lru.touch(set, way);
      reference[set].touch(way);
    }
  }
}

TEST(Replacement, LruMatchesTimestampsForEveryWayCount) {
  expect_lru_matches_timestamps(ReplacementState::kMinOrderedWays, false);
}

TEST(Replacement, LruAsOrderWordsFromTwoWaysMatchesTimestamps) {
  expect_lru_matches_timestamps(2, false);
  expect_lru_matches_timestamps(2, true);
}

}  // namespace
}  // namespace virtsim
