// Checkpoints of a cache's warmed state (cache.h): out of the access path's file.
#include "virtsim/common/set_associative_state.h"
#include "virtsim/memory/cache.h"

namespace virtsim {

std::string Cache::geometry() const {
  if (!config_.enabled) return "disabled";
  return std::to_string(config_.line_bytes) + "-byte lines, " + lines_.geometry();
}

void Cache::save_state(StateWriter& out) const {
  if (config_.enabled) lines_.save_state(out);
}

void Cache::load_state(StateReader& in) {
  if (config_.enabled) lines_.load_state(in);
}

}  // namespace virtsim
