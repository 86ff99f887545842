// A replacement policy registered by name serves every set-associative structure: a TLB, a
// walk cache and a data cache each take their victims from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "virtsim/common/replacement.h"
#include "virtsim/memory/cache.h"
#include "virtsim/mmu/walk_caches.h"
#include "virtsim/tlb/tlb.h"

namespace virtsim {
namespace {

// Most recently used: the way touched last is the victim (the opposite of LRU, so a structure
// that ignored the policy would evict something else). Counts the victims it chose.
std::uint64_t mru_victims = 0;

class MostRecentlyUsed final : public ReplacementPolicy {
 public:
  explicit MostRecentlyUsed(const ReplacementShape& shape) : last_(shape.sets, 0) {}
  void touch(std::size_t set, unsigned way) override { last_[set] = way; }
  unsigned victim(std::size_t set) override {
    ++mru_victims;
    return last_[set];
  }

 private:
  std::vector<unsigned> last_;
};

const bool registered = register_replacement("test-mru", "most recently used, for tests", [](const ReplacementShape& s) {
  return std::unique_ptr<ReplacementPolicy>(new MostRecentlyUsed(s));
});

TEST(RegisteredPolicy, IsAChoiceOfEveryStructure) {
  EXPECT_TRUE(registered);
  const auto& names = replacement_choices();
  EXPECT_NE(std::find(names.begin(), names.end(), "test-mru"), names.end());
  EXPECT_NE(replacement_description().find("test-mru (most recently used, for tests)"), std::string::npos);
}

TEST(RegisteredPolicy, ServesTheTlb) {
  TlbConfig c{{{12, 4, 4}}, 0};  // one fully associative set of 4
  c.replacement = "test-mru";
  Tlb tlb({}, c);
  TlbEntry e;
  e.page_shift = 12;
  for (Addr p = 1; p <= 4; ++p) {
    e.physical_base = p << 20;
    tlb.insert(p << 12, e);
  }
  EXPECT_NE(tlb.lookup(Addr{2} << 12, {}), nullptr);  // page 2 is now the most recent
  const std::uint64_t before = mru_victims;
  tlb.insert(Addr{5} << 12, e);
  EXPECT_EQ(mru_victims, before + 1);
  EXPECT_EQ(tlb.probe(Addr{2} << 12, {}), nullptr);
  for (Addr p : {1, 3, 4, 5}) EXPECT_NE(tlb.probe(p << 12, {}), nullptr) << p;
}

TEST(RegisteredPolicy, ServesTheWalkCache) {
  WalkCacheConfig c;
  c.enabled = true;
  c.entries = c.ways = 4;
  c.replacement = "test-mru";
  WalkCache cache({}, c);
  for (std::uint64_t k = 1; k <= 4; ++k) cache.fill(k, 0, {k, 0});
  EXPECT_NE(cache.lookup(2, 0), nullptr);
  const std::uint64_t before = mru_victims;
  cache.fill(5, 0, {5, 0});
  EXPECT_EQ(mru_victims, before + 1);
  EXPECT_EQ(cache.lookup(2, 0), nullptr);
  for (std::uint64_t k : {1, 3, 4, 5}) EXPECT_NE(cache.lookup(k, 0), nullptr) << k;
}

TEST(RegisteredPolicy, ServesTheDataCache) {
  Cache cache({}, CacheConfig{true, 1, 16, 64, 1, "test-mru", 1});  // one set of 16 lines
  for (Addr line = 0; line < 16; ++line) cache.access(line * 64, false, Requester::Data);
  EXPECT_TRUE(cache.access(5 * 64, false, Requester::Data));
  const std::uint64_t before = mru_victims;
  EXPECT_FALSE(cache.access(16 * 64, false, Requester::Data));
  EXPECT_EQ(mru_victims, before + 1);
  EXPECT_FALSE(cache.contains(5 * 64));
  EXPECT_TRUE(cache.contains(4 * 64));
  EXPECT_TRUE(cache.contains(16 * 64));
}

}  // namespace
}  // namespace virtsim
