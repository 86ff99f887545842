// Seeded random replacement: one xorshift64 generator per structure, so a seed gives the same
// victims on every host.
#include "virtsim/common/replacement.h"
#include "virtsim/common/state_stream.h"

namespace virtsim {
namespace {

class SeededRandom final : public ReplacementPolicy {
 public:
  explicit SeededRandom(const ReplacementShape& shape) : ways_(shape.ways), state_(shape.seed | 1) {}
  void touch(std::size_t, unsigned) override {}
  void save_state(StateWriter& out) const override { out.put<std::uint64_t>(state_); }
  void load_state(StateReader& in) override {
    state_ = in.get<std::uint64_t>("random replacement state");
    if (!state_) in.fail("random replacement state", "a nonzero xorshift state");
  }
  unsigned victim(std::size_t) override {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return static_cast<unsigned>(state_ % ways_);
  }

 private:
  unsigned ways_;
  std::uint64_t state_;
};

const bool registered = register_replacement("random", "seeded", [](const ReplacementShape& shape) {
  return std::unique_ptr<ReplacementPolicy>(new SeededRandom(shape));
});

}  // namespace
}  // namespace virtsim
