// Checkpoints of a SetAssociative array (set_associative_state.h) and of the structures made of
// them (state_stream.h's put_structure()): an array restored from a save goes on exactly as the
// one saved, with every policy and LRU form; a structure of another geometry is skipped and named.
#include "virtsim/common/set_associative_state.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace virtsim {
namespace {

using Array = SetAssociative<std::uint64_t, std::uint64_t>;

Array::Shape shape(std::size_t sets, unsigned ways, const std::string& policy, bool hints, bool track_valid) {
  Array::Shape s;
  s.sets = sets;
  s.ways = ways;
  s.replacement = policy;
  s.seed = 7;
  s.where = "test";
  s.hints = hints;
  s.track_valid = track_valid;
  return s;
}

// One step of an owner's traffic: a lookup that touches on a hit and fills on a miss (what it
// evicts recorded), now and then an invalidation of one key or of a predicate.
void step(Array& a, std::mt19937_64& random, std::vector<std::uint64_t>& seen) {
  const std::uint64_t key = random() % (a.sets() * a.ways() * 3);
  const std::size_t set = key % a.sets();
  const unsigned what = random() % 16;
  if (what == 0) {
    a.invalidate_key_in_set(set, key, [](std::size_t, unsigned) { return true; });
  } else if (what == 1 && random() % 8 == 0) {
    a.invalidate_if([&](std::size_t s, unsigned w) { return a.entry(s, w) % 5 == key % 5; });
  } else if (const int way = a.find(set, key); way >= 0) {
    a.touch(set, static_cast<unsigned>(way));
    seen.push_back(static_cast<std::uint64_t>(way));
  } else {
    bool evicts;
    const unsigned fill = a.way_to_fill(set, evicts);
    seen.push_back(fill + (evicts ? 1000 * (a.row(set)[fill] + 1) : 0));
    a.fill(set, fill, key);
    a.entry(set, fill) = key * 3;
  }
}

TEST(SetAssociativeState, RestoredArrayGoesOnAsTheSavedOne) {
  struct Case {
    std::size_t sets;
    unsigned ways;
    const char* policy;
    bool hints, track_valid;
  };
  // LRU as stamps (4 ways), order words (12), lists (24); tree PLRU; seeded random; hashed
  // keys and listed valid slots on and off.
  for (const Case& c : {Case{8, 4, "lru", false, false}, Case{8, 4, "lru", true, true},
                        Case{4, 12, "lru", true, false}, Case{2, 24, "lru", true, true},
                        Case{8, 8, "plru", false, true}, Case{8, 4, "random", true, false}}) {
    SCOPED_TRACE(std::string(c.policy) + " " + std::to_string(c.ways) + " ways");
    Array saved(shape(c.sets, c.ways, c.policy, c.hints, c.track_valid));
    std::mt19937_64 random(3);
    std::vector<std::uint64_t> before;
    for (int i = 0; i < 5000; ++i) step(saved, random, before);
    StateWriter out;
    saved.save_state(out);
    Array restored(shape(c.sets, c.ways, c.policy, c.hints, c.track_valid));
    EXPECT_EQ(saved.geometry(), restored.geometry());
    StateReader in(out.bytes().data(), out.bytes().size(), "test");
    restored.load_state(in);
    EXPECT_TRUE(in.at_end());
    EXPECT_EQ(restored.valid_count(), saved.valid_count());
    std::mt19937_64 random_a(11), random_b(11);
    std::vector<std::uint64_t> after_saved, after_restored;
    for (int i = 0; i < 5000; ++i) {
      step(saved, random_a, after_saved);
      step(restored, random_b, after_restored);
    }
    EXPECT_EQ(after_saved, after_restored);
    for (std::size_t set = 0; set < c.sets; ++set)
      for (unsigned w = 0; w < c.ways; ++w) {
        EXPECT_EQ(saved.row(set)[w], restored.row(set)[w]);
        if (saved.valid(set, w)) EXPECT_EQ(saved.entry(set, w), restored.entry(set, w));
      }
  }
}

TEST(SetAssociativeState, GeometryNamesShapeAndPolicy) {
  EXPECT_EQ(Array(shape(64, 4, "lru", false, true)).geometry(), "64x4 lru (stamps), 8+8-byte slots, listed");
  EXPECT_EQ(Array(shape(8, 16, "lru", false, false)).geometry(), "8x16 lru (order words), 8+8-byte slots");
  EXPECT_EQ(Array(shape(8, 4, "plru", false, false)).geometry(), "8x4 plru, 8+8-byte slots");
  EXPECT_EQ((SetAssociative<std::uint32_t>(SetAssociative<std::uint32_t>::Shape{4, 2}).geometry()),
            "4x2 lru (stamps), 4-byte slots");
}

TEST(SetAssociativeState, ValidListThatDisagreesWithTheKeysIsRefused) {
  Array a(shape(4, 4, "lru", false, true));
  std::mt19937_64 random(5);
  std::vector<std::uint64_t> seen;
  for (int i = 0; i < 100; ++i) step(a, random, seen);
  StateWriter out;
  a.save_state(out);
  // The count of valid slots follows the 16 keys and 16 entries.
  std::uint64_t count;
  std::memcpy(&count, out.bytes().data() + 16 * 16, 8);
  ++count;
  std::memcpy(out.bytes().data() + 16 * 16, &count, 8);
  Array b(shape(4, 4, "lru", false, true));
  StateReader in(out.bytes().data(), out.bytes().size(), "x.ckpt");
  try {
    b.load_state(in);
    FAIL() << "a valid list longer than the valid keys was taken";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("x.ckpt: byte 256 (valid slots): expected"), std::string::npos) << e.what();
  }
}

TEST(SetAssociativeState, StructureOfAnotherGeometryIsSkippedAndNamed) {
  StateWriter out;
  put_structure(out, "system.cpu0.dtlb", "64x4", [&] { out.put<std::uint64_t>(42); });
  put_structure(out, "system.llc", "8192x16", [&] { out.put<std::uint32_t>(7); });
  StateReader in(out.bytes().data(), out.bytes().size(), "x.ckpt");
  std::vector<std::string> cold;
  std::uint64_t first = 0;
  std::uint32_t second = 0;
  EXPECT_FALSE(get_structure(in, "system.cpu0.dtlb", "128x4", [&] { first = in.get<std::uint64_t>("x"); }, cold));
  EXPECT_TRUE(get_structure(in, "system.llc", "8192x16", [&] { second = in.get<std::uint32_t>("y"); }, cold));
  EXPECT_TRUE(in.at_end());
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(second, 7u);
  ASSERT_EQ(cold.size(), 1u);
  EXPECT_EQ(cold[0], "system.cpu0.dtlb starts cold: the checkpoint's has 64x4, this run's 128x4");
  // Of a TLB's arrays, only those that differ.
  EXPECT_EQ(geometry_difference("4 KiB 16x4; 2 MiB 8x4", "4 KiB 32x4; 2 MiB 8x4"),
            "the checkpoint's has 4 KiB 16x4, this run's 4 KiB 32x4");
  EXPECT_EQ(geometry_difference("4 KiB 16x4", "4 KiB 16x4; 2 MiB 8x4"),
            "the checkpoint's has 4 KiB 16x4, this run's 4 KiB 16x4; 2 MiB 8x4");
  // Another structure where one is expected: the layout differs, an error.
  StateReader again(out.bytes().data(), out.bytes().size(), "x.ckpt");
  EXPECT_THROW(get_structure(again, "system.cpu1.dtlb", "64x4", [] {}, cold), CheckpointError);
}

}  // namespace
}  // namespace virtsim
