#pragma once
// Debug trace: one text line per event of the chosen kinds (`virtsim run --trace walk,exit,tlb`),
// in the style of gem5's debug flags. Off by default, and then a hook costs one load and one
// well-predicted branch:
//
//   if (debug_trace::on(debug_trace::kWalk)) debug_trace::line(debug_trace::kWalk, "va=0x%llx", va);
//
// Each line reads "cycle <C> <cpu> <kind> <what happened>", where C is the simulated cycle (from
// time zero, warm-up included) of the vCPU whose thread made the event: its quantum keeper
// publishes itself as the running vCPU each time its thread resumes (see set_running_cpu).
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace virtsim::debug_trace {

enum Kind : unsigned {
  kWalk = 1u << 0,  // a completed page walk
  kExit = 1u << 1,  // a VM exit (VT-x or AMD-V), with its reason and cycles
  kTlb = 1u << 2,   // a TLB miss, invalidation or flush
};

struct KindInfo {
  const char* name;
  Kind kind;
  const char* description;
};
// Every kind, in the order `virtsim run --help` lists them.
const std::vector<KindInfo>& kinds();

// The kinds enabled now (0: tracing off). Read by every hook, so kept a plain global.
extern unsigned enabled_kinds;
inline bool on(Kind kind) {
  return __builtin_expect((enabled_kinds & kind) != 0, 0);
}

// Parses "walk,exit" into kinds; throws ConfigError naming an unknown kind and listing the valid ones.
unsigned parse_kinds(const std::string& list);
// Parses "START:END" (either side may be empty: from the start, to the end), in cycles; throws
// ConfigError for anything else.
void parse_cycle_range(const std::string& range, std::uint64_t& first, std::uint64_t& last);

// Turns tracing on for `kinds` within cycles [first, last], writing to `out` (not owned).
void enable(unsigned kinds, std::uint64_t first, std::uint64_t last, std::FILE* out);
void disable();

// The vCPU whose thread runs now: its name, and how to read its current cycle.
using CycleReader = std::uint64_t (*)(const void* owner);
void set_running_cpu(const char* name, CycleReader now, const void* owner);

// Writes one line (printf-style text after the cycle, cpu and kind) if the running vCPU's cycle
// is within the range. Out of line: only reached with `kind` on.
[[gnu::cold, gnu::format(printf, 2, 3)]] void line(Kind kind, const char* format, ...);

}  // namespace virtsim::debug_trace
