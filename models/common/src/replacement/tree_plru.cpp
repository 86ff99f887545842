// Tree pseudo-LRU: per set a heap-ordered tree of ways-1 bits; each node points at the half
// that holds the older ways, and a touch turns the nodes on its way's path to point away.
#include <vector>

#include "virtsim/common/error.h"
#include "virtsim/common/replacement.h"
#include "virtsim/common/state_stream.h"

namespace virtsim {
namespace {

class TreePlru final : public ReplacementPolicy {
 public:
  explicit TreePlru(const ReplacementShape& shape) : ways_(shape.ways), bits_(shape.sets, 0) {
    if ((ways_ & (ways_ - 1)) || ways_ > 64)
      throw ConfigError("key '" + shape.where + ".replacement': \"plru\" (tree pseudo-LRU) needs a power-of-two " +
                        "number of ways up to 64, not " + std::to_string(ways_) +
                        "; expected another policy, or other ways");
  }
  void touch(std::size_t set, unsigned way) override {
    std::uint64_t& bits = bits_[set];
    unsigned node = 1;
    for (unsigned span = ways_ / 2; span >= 1; span /= 2) {
      const bool right = way & span;
      if (right) bits &= ~(std::uint64_t{1} << node);
      else bits |= std::uint64_t{1} << node;
      node = 2 * node + (right ? 1 : 0);
    }
  }
  void save_state(StateWriter& out) const override { out.put_bytes(bits_.data(), bits_.size() * 8); }
  void load_state(StateReader& in) override { in.get_bytes(bits_.data(), bits_.size() * 8, "tree PLRU bits"); }
  unsigned victim(std::size_t set) override {
    const std::uint64_t bits = bits_[set];
    unsigned node = 1, way = 0;
    for (unsigned span = ways_ / 2; span >= 1; span /= 2) {
      const bool right = bits & (std::uint64_t{1} << node);
      if (right) way |= span;
      node = 2 * node + (right ? 1 : 0);
    }
    return way;
  }

 private:
  unsigned ways_;
  std::vector<std::uint64_t> bits_;
};

const bool registered = register_replacement("plru", "tree pseudo-LRU", [](const ReplacementShape& shape) {
  return std::unique_ptr<ReplacementPolicy>(new TreePlru(shape));
});

}  // namespace
}  // namespace virtsim
