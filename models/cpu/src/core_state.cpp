// Checkpoints of the interval core's state in flight (interval_core.h, vcpu.h): out of the
// vCPU's hot file.
#include "virtsim/common/state_stream.h"
#include "virtsim/cpu/vcpu.h"

namespace virtsim {

namespace {
std::string scope_of(const Counter& statistic) {
  const std::string& name = statistic.name();
  return name.substr(0, name.rfind('.'));
}
}  // namespace

std::string IntervalCore::geometry() const {
  return "interval core, dispatch width " + std::to_string(shape_.dispatch_width) + ", " +
         std::to_string(shape_.rob_entries) + " ROB entries, long latency " + std::to_string(shape_.long_latency) +
         " cycles, " + std::to_string(fill_buffer_free_at_.size()) + " fill buffers";
}

void IntervalCore::save_state(StateWriter& out, Cycles now) const {
  out.put<std::uint64_t>(dispatch_carry_);
  out.put<std::uint8_t>(window_open_);
  out.put<std::uint64_t>(dispatched_ - window_first_);
  out.put<std::uint64_t>(window_longest_);
  out.put<std::uint32_t>(window_misses_);
  out.put<std::uint64_t>(fastest_fetch_);
  out.put<std::uint64_t>(fastest_access_);
  // In ring order from the first to free; a buffer already free counts as free now.
  for (std::size_t k = 0; k < fill_buffer_free_at_.size(); ++k) {
    const Cycles at = fill_buffer_free_at_[(first_buffer_ + k) % fill_buffer_free_at_.size()];
    out.put<std::uint64_t>(at > now ? at - now : 0);
  }
}

void IntervalCore::load_state(StateReader& in, Cycles now) {
  dispatch_carry_ = in.get<std::uint64_t>("core dispatch carry");
  if (dispatch_carry_ >= shape_.dispatch_width) in.fail("core dispatch carry", "less than the dispatch width");
  window_open_ = in.get_bool("core window open");
  window_first_ = dispatched_ - in.get<std::uint64_t>("core window age");
  window_longest_ = in.get<std::uint64_t>("core window latency");
  window_misses_ = in.get<std::uint32_t>("core window misses");
  fastest_fetch_ = in.get<std::uint64_t>("core fastest fetch");
  fastest_access_ = in.get<std::uint64_t>("core fastest access");
  first_buffer_ = 0;
  Cycles last = 0;
  for (Cycles& at : fill_buffer_free_at_) {
    const auto from_now = in.get<std::uint64_t>("core fill buffer");
    if (from_now < last) in.fail("core fill buffer", "free times in ascending order", in.offset() - 8);
    last = from_now;
    at = now + from_now;
  }
}

void Vcpu::save_core_state(StateWriter& out) const {
  put_structure(out, scope_of(cycles), interval_ ? interval_->geometry() : "blocking core", [&] {
    if (interval_) interval_->save_state(out, elapsed_);
  });
}

void Vcpu::load_core_state(StateReader& in, std::vector<std::string>& cold) {
  get_structure(in, scope_of(cycles), interval_ ? interval_->geometry() : "blocking core", [&] {
    if (interval_) interval_->load_state(in, elapsed_);
  }, cold);
}

}  // namespace virtsim
