#include "virtsim/common/debug_trace.h"

#include <cerrno>
#include <cstdarg>
#include <cstdlib>

#include "virtsim/common/config.h"
#include "virtsim/common/error.h"

namespace virtsim::debug_trace {

unsigned enabled_kinds = 0;

namespace {

struct State {
  std::uint64_t first = 0, last = UINT64_MAX;
  std::FILE* out = stderr;
  const char* cpu = "-";
  CycleReader now = nullptr;
  const void* owner = nullptr;
};
State state;

const char* name_of(Kind kind) {
  for (const auto& k : kinds())
    if (k.kind == kind) return k.name;
  return "?";
}

std::string valid_kinds() {
  std::string out;
  for (const auto& k : kinds()) out += (out.empty() ? "" : ", ") + std::string(k.name);
  return out;
}

std::uint64_t parse_cycle(const std::string& text, const std::string& range) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE)
    throw ConfigError("--trace-cycles '" + range + "': '" + text +
                      "' is not a cycle number; expected START:END, "
                      "e.g. 100000:200000 (either side may be left empty)");
  return value;
}

}  // namespace

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> all = {
      {"walk", kWalk, "each completed page walk: address, 1-D or 2-D, references, walk-cache hits, cycles"},
      {"exit", kExit, "each VM exit: reason (VT-x basic exit reason or AMD-V exit code) and cycles"},
      {"tlb", kTlb, "each TLB miss, and each invalidation or flush with the entries it dropped"},
  };
  return all;
}

unsigned parse_kinds(const std::string& list) {
  unsigned result = 0;
  for (const std::string& item : split_list(list)) {
    bool known = false;
    for (const auto& k : kinds())
      if (item == k.name) {
        result |= k.kind;
        known = true;
      }
    if (!known)
      throw ConfigError("--trace: unknown kind '" + item + "'; expected a comma-separated list of " +
                        valid_kinds());
  }
  if (!result)
    throw ConfigError("--trace: no kind named; expected a comma-separated list of " + valid_kinds());
  return result;
}

void parse_cycle_range(const std::string& range, std::uint64_t& first, std::uint64_t& last) {
  const auto colon = range.find(':');
  if (colon == std::string::npos)
    throw ConfigError("--trace-cycles '" + range +
                      "': expected START:END, e.g. 100000:200000 (either side may be "
                      "left empty)");
  const std::string start = range.substr(0, colon), end = range.substr(colon + 1);
  first = start.empty() ? 0 : parse_cycle(start, range);
  last = end.empty() ? UINT64_MAX : parse_cycle(end, range);
  if (first > last) throw ConfigError("--trace-cycles '" + range + "': START is after END");
}

void enable(unsigned kinds_to_trace, std::uint64_t first, std::uint64_t last, std::FILE* out) {
  state.first = first;
  state.last = last;
  state.out = out;
  enabled_kinds = kinds_to_trace;
}

void disable() {
  enabled_kinds = 0;
  if (state.out) std::fflush(state.out);
}

void set_running_cpu(const char* name, CycleReader now, const void* owner) {
  state.cpu = name;
  state.now = now;
  state.owner = owner;
}

void line(Kind kind, const char* format, ...) {
  const std::uint64_t cycle = state.now ? state.now(state.owner) : 0;
  if (cycle < state.first || cycle > state.last) return;
  std::fprintf(state.out, "cycle %llu %s %s ", static_cast<unsigned long long>(cycle), state.cpu,
               name_of(kind));
  va_list args;
  va_start(args, format);
  std::vfprintf(state.out, format, args);
  va_end(args);
  std::fputc('\n', state.out);
}

}  // namespace virtsim::debug_trace
