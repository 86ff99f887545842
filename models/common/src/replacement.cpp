#include "virtsim/common/replacement.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "virtsim/common/error.h"
#include "virtsim/common/state_stream.h"

namespace virtsim {

namespace {
struct Registered {
  std::string description;
  ReplacementMaker make;  // nullptr: LRU, built into ReplacementState
};
// Function-local, so policies may register from any file's static initialization.
std::map<std::string, Registered>& registry() {
  static std::map<std::string, Registered> policies{{"lru", {"", nullptr}}};
  return policies;
}
}  // namespace

bool register_replacement(const std::string& name, const std::string& description, ReplacementMaker make) {
  if (!make || !registry().emplace(name, Registered{description, make}).second)
    throw std::logic_error("replacement policy '" + name + "' registered twice or without a maker");
  return true;
}

const std::vector<std::string>& replacement_choices() {
  static std::vector<std::string> names;
  names.assign({"lru"});
  for (const auto& [name, policy] : registry())
    if (name != "lru") names.push_back(name);  // std::map: alphabetical
  return names;
}

std::string replacement_description() {
  const auto& names = replacement_choices();
  std::string text = "replacement policy: ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
    if (const std::string& d = registry().at(names[i]).description; !d.empty()) text += " (" + d + ")";
  }
  return text;
}

void check_replacement(const std::string& name) {
  if (registry().count(name)) return;
  std::string expected;
  for (const auto& n : replacement_choices()) expected += (expected.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown replacement policy '" + name + "' (expected " + expected + ")");
}

ReplacementState::ReplacementState(const std::string& policy, std::size_t sets, unsigned ways, std::uint64_t seed,
                                   const std::string& where, unsigned min_ordered_ways, unsigned min_listed_ways)
    : ways_(ways),
      lru_(policy == "lru"),
      listed_(lru_ && (ways > kMaxOrderedWays || ways >= min_listed_ways)),
      ordered_(!listed_ && uses_order_words(lru_, ways, min_ordered_ways)),
      stamped_(lru_ && !ordered_ && !listed_) {
  check_replacement(policy);
  policy_ = policy;
  if (!lru_) {
    other_ = registry().at(policy).make(ReplacementShape{sets, ways, seed, where});
    return;
  }
  if (ordered_) {
    stamps_.assign(sets, fresh_order_word(ways));
  } else if (stamped_) {
    stamps_.assign(sets * ways, 0);
  } else {
    older_.resize(sets * ways);
    newer_.resize(sets * ways);
    oldest_.resize(sets);
    newest_.resize(sets);
    for (std::size_t set = 0; set < sets; ++set) {
      const auto base = static_cast<std::uint32_t>(set * ways);
      for (std::uint32_t w = 0; w < ways; ++w) {
        older_[base + w] = base + w - (w > 0);  // the ends' own links are never read
        newer_[base + w] = base + w + (w + 1 < ways);
      }
      oldest_[set] = base;
      newest_[set] = base + ways - 1;
    }
  }
}

void ReplacementState::touch_other(std::size_t set, unsigned way) {
  if (ordered_) touch_order_word(stamps_[set], way, ways_);
  else if (listed_) make_newest(set, static_cast<std::uint32_t>(set * ways_ + way));
  else other_->touch(set, way);
}

[[gnu::hot]] unsigned ReplacementState::stamp_victim(std::size_t set) const {
  const std::uint64_t* s = &stamps_[set * ways_];
  unsigned oldest = 0;
  for (unsigned way = 1; way < ways_; ++way)
    if (s[way] < s[oldest]) oldest = way;
  return oldest;
}

void ReplacementPolicy::save_state(StateWriter&) const {
  throw std::logic_error("this replacement policy keeps no checkpoint of its state");
}
void ReplacementPolicy::load_state(StateReader&) {
  throw std::logic_error("this replacement policy keeps no checkpoint of its state");
}

std::string ReplacementState::describe() const {
  if (!lru_) return policy_;
  return listed_ ? "lru (lists)" : ordered_ ? "lru (order words)" : "lru (stamps)";
}

namespace {
template <typename T>
void put_all(StateWriter& out, const std::vector<T>& values) {
  out.put_bytes(values.data(), values.size() * sizeof(T));
}
template <typename T>
void get_all(StateReader& in, std::vector<T>& values, const char* field) {
  in.get_bytes(values.data(), values.size() * sizeof(T), field);
}
}  // namespace

// The vectors' sizes follow from the geometry, which the structure checked before.
void ReplacementState::save_state(StateWriter& out) const {
  if (other_) return other_->save_state(out);
  put_all(out, stamps_);
  out.put<std::uint64_t>(tick_);
  put_all(out, older_);
  put_all(out, newer_);
  put_all(out, oldest_);
  put_all(out, newest_);
}

void ReplacementState::load_state(StateReader& in) {
  if (other_) return other_->load_state(in);
  get_all(in, stamps_, "replacement stamps");
  tick_ = in.get<std::uint64_t>("replacement tick");
  get_all(in, older_, "replacement list");
  get_all(in, newer_, "replacement list");
  get_all(in, oldest_, "replacement list ends");
  get_all(in, newest_, "replacement list ends");
  const std::size_t slots = older_.size();
  const auto out_of_range = [&](const std::vector<std::uint32_t>& links) {
    return std::any_of(links.begin(), links.end(), [&](std::uint32_t s) { return s >= slots; });
  };
  if (out_of_range(older_) || out_of_range(newer_) || out_of_range(oldest_) || out_of_range(newest_))
    in.fail("replacement list", "slots below " + std::to_string(slots));
}

}  // namespace virtsim
