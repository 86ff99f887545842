#include "virtsim/common/set_associative.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

using Array = SetAssociative<std::uint64_t, int>;

Array::Shape shape(std::size_t sets, unsigned ways, const std::string& policy, bool hints = false,
                   bool track_valid = false, std::uint64_t seed = 1) {
  Array::Shape s;
  s.sets = sets;
  s.ways = ways;
  s.replacement = policy;
  s.seed = seed;
  s.where = "test";
  s.hints = hints;
  s.track_valid = track_valid;
  return s;
}

// Fills key into its set (key % sets) the way an owner does; returns the way it went to.
unsigned fill(Array& a, std::uint64_t key, int value = 0) {
  const std::size_t set = key % a.sets();
  bool evicts;
  const unsigned way = a.way_to_fill(set, evicts);
  a.fill(set, way, key);
  a.entry(set, way) = value;
  return way;
}

bool holds(const Array& a, std::uint64_t key) { return a.find(key % a.sets(), key) >= 0; }

TEST(SetAssociative, LookupFindsWhatWasFilledWithItsEntry) {
  for (bool hints : {false, true}) {
    Array a(shape(4, 8, "lru", hints));
    for (std::uint64_t k = 0; k < 32; ++k) fill(a, k, static_cast<int>(100 + k));
    for (std::uint64_t k = 0; k < 32; ++k) {
      const int way = a.find(k % 4, k);
      ASSERT_GE(way, 0) << k;
      EXPECT_EQ(a.entry(k % 4, static_cast<unsigned>(way)), static_cast<int>(100 + k));
    }
    EXPECT_FALSE(holds(a, 32));
    EXPECT_EQ(a.valid_count(), 32u);
  }
}

TEST(SetAssociative, FillsTheLowestInvalidWayBeforeAskingForAVictim) {
  Array a(shape(1, 4, "random", false, false, 7));
  for (unsigned k = 0; k < 4; ++k) EXPECT_EQ(fill(a, k), k);
  a.invalidate(0, 2);
  a.invalidate(0, 1);
  EXPECT_EQ(fill(a, 10), 1u);
  EXPECT_EQ(fill(a, 11), 2u);
  bool evicts = false;
  a.way_to_fill(0, evicts);
  EXPECT_TRUE(evicts);
}

// Victim order per policy in one 4-way set after filling keys 0-3 and touching way 0 again.
// LRU: the ways in order of their last touch, 1 2 3 0. Tree PLRU (root bit: the older half;
// one bit per half: its older way): way 0's touch points the root right and the right half's
// bit, last set by way 3's fill, at way 2; each fill then turns the path away from itself.
TEST(SetAssociative, VictimOrderPerPolicy) {
  for (auto [policy, order] : {std::pair{"lru", std::vector<unsigned>{1, 2, 3, 0}},
                               std::pair{"plru", std::vector<unsigned>{2, 1, 3, 0}}}) {
    Array a(shape(1, 4, policy));
    for (std::uint64_t k = 0; k < 4; ++k) fill(a, k);
    a.touch(0, 0);
    std::vector<unsigned> victims;
    for (std::uint64_t k = 4; k < 8; ++k) victims.push_back(fill(a, k));
    EXPECT_EQ(victims, order) << policy;
  }
}

TEST(SetAssociative, RandomIsTheSeededSequence) {
  // The same xorshift64 the policy documents, from seed | 1.
  std::uint64_t state = 5 | 1;
  Array a(shape(1, 8, "random", false, false, 5));
  for (std::uint64_t k = 0; k < 8; ++k) fill(a, k);
  for (std::uint64_t k = 8; k < 100; ++k) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    EXPECT_EQ(fill(a, k), state % 8) << k;
  }
}

// LRU is kept three ways (stamps, order words, lists: from 17 ways, or from any number when
// the owner asks, as walk caches do); each gives the same victims, and fills invalid ways first.
TEST(SetAssociative, LruFormsAgreeForEveryWayCount) {
  for (unsigned min_listed : {17u, 1u}) {
    for (unsigned ways : {2u, 4u, 11u, 12u, 16u, 17u, 24u, 32u, 40u}) {
      Array::Shape s = shape(1, ways, "lru", true);
      s.min_listed_ways = min_listed;
      Array a(s);
      EXPECT_EQ(a.replacement().listed(), ways >= min_listed);
      for (std::uint64_t k = 0; k < ways; ++k) fill(a, k);
      // Touch the even ways again: the odd ones are now the oldest, in index order.
      for (unsigned w = 0; w < ways; w += 2) a.touch_inline(0, w);
      for (unsigned w = 1; w < ways; w += 2) EXPECT_EQ(fill(a, 1000 + w), w) << ways << " ways";
      // An invalidated way is filled before anything is evicted.
      a.invalidate(0, ways - 1);
      bool evicts = true;
      EXPECT_EQ(a.way_to_fill(0, evicts), ways - 1) << ways << " ways";
      EXPECT_FALSE(evicts);
    }
  }
}

// An invalidation restricted to one set visits only that set: the predicate is asked only for
// its valid ways.
TEST(SetAssociative, InvalidateInSetTouchesOnlyThatSet) {
  Array a(shape(8, 2, "lru", false, true));
  for (std::uint64_t k = 0; k < 16; ++k) fill(a, k);
  std::vector<std::size_t> asked;
  const std::size_t dropped = a.invalidate_in_set(3, [&](std::size_t set, unsigned) {
    asked.push_back(set);
    return true;
  });
  EXPECT_EQ(dropped, 2u);
  EXPECT_EQ(asked, (std::vector<std::size_t>{3, 3}));
  EXPECT_FALSE(holds(a, 3));
  EXPECT_FALSE(holds(a, 11));
  EXPECT_EQ(a.valid_count(), 14u);
}

TEST(SetAssociative, InvalidateKeyInSetAsksOnlyForTheWaysHoldingTheKey) {
  for (bool hints : {false, true}) {
    Array a(shape(4, 8, "lru", hints, true));
    for (std::uint64_t k = 0; k < 32; ++k) fill(a, k, static_cast<int>(k));
    // Set 2 holds keys 2, 6, ..., 30 in ways 0-7; a second entry of key 6 (another context,
    // say) evicts key 2 from way 0.
    EXPECT_EQ(fill(a, 6, 99), 0u);
    std::vector<unsigned> asked;
    const std::size_t dropped = a.invalidate_key_in_set(2, 6, [&](std::size_t, unsigned w) {
      asked.push_back(w);
      return true;
    });
    EXPECT_EQ(dropped, 2u);
    EXPECT_EQ(asked, (std::vector<unsigned>{0, 1}));
    EXPECT_FALSE(holds(a, 6));
    EXPECT_EQ(a.valid_count(), 30u);
  }
}

TEST(SetAssociative, InvalidateIfVisitsOnlyValidSlotsWhenTracked) {
  Array a(shape(64, 4, "lru", false, true));
  fill(a, 5, 1);
  fill(a, 70, 2);
  fill(a, 133, 1);
  unsigned asked = 0;
  const std::size_t dropped = a.invalidate_if([&](std::size_t set, unsigned way) {
    ++asked;
    return a.entry(set, way) == 1;
  });
  EXPECT_EQ(asked, 3u);
  EXPECT_EQ(dropped, 2u);
  EXPECT_TRUE(holds(a, 70));
  EXPECT_FALSE(holds(a, 5));
}

TEST(SetAssociative, FlushEmptiesEverything) {
  for (bool track : {false, true}) {
    Array a(shape(4, 4, "lru", true, track));
    for (std::uint64_t k = 0; k < 12; ++k) fill(a, k);
    EXPECT_EQ(a.flush(), 12u);
    EXPECT_EQ(a.valid_count(), 0u);
    for (std::uint64_t k = 0; k < 12; ++k) EXPECT_FALSE(holds(a, k));
    EXPECT_EQ(fill(a, 0), 0u);  // the lowest way again
  }
}

TEST(SetAssociative, ThirtyTwoBitKeysCompareInTheirKeyBits) {
  // A data cache keeps a dirty flag in bit 31 of its keys.
  SetAssociative<std::uint32_t, NoEntry, 0x7fffffffu>::Shape s;
  s.sets = 2;
  s.ways = 8;
  s.invalid = ~std::uint32_t{0};
  SetAssociative<std::uint32_t, NoEntry, 0x7fffffffu> a(s);
  a.fill(1, 0, 42u | 0x80000000u);
  EXPECT_EQ(a.find(1, 42u), 0);
  EXPECT_EQ(a.free_way(1), 1u);
  EXPECT_EQ(a.candidates(1, 42u), 1u);
}

TEST(SetAssociative, UnknownPolicyAndRefusedShapeAreErrors) {
  EXPECT_THROW(Array(shape(1, 4, "fifo-that-is-not-there")), std::invalid_argument);
  EXPECT_THROW(Array(shape(1, 12, "plru")), ConfigError);  // tree PLRU needs a power of two
}

TEST(ReplacementRegistry, ListsTheBuiltInPoliciesAndDescribesThem) {
  const auto& names = replacement_choices();
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(names.front(), "lru");
  EXPECT_EQ(replacement_description(), "replacement policy: lru, plru (tree pseudo-LRU) or random (seeded)");
}

}  // namespace
}  // namespace virtsim
