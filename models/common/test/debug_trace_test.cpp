#include "virtsim/common/debug_trace.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>

#include "virtsim/common/error.h"

namespace virtsim::debug_trace {
namespace {

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DebugTrace, KindsParseInAnyOrderAndUnknownOnesListTheValidOnes) {
  EXPECT_EQ(parse_kinds("walk"), unsigned{kWalk});
  EXPECT_EQ(parse_kinds("tlb, exit,walk,"), unsigned{kWalk | kExit | kTlb});
  EXPECT_EQ(error_of([] { parse_kinds("walk,tlbs"); }),
            "--trace: unknown kind 'tlbs'; expected a comma-separated list of walk, exit, tlb");
  EXPECT_NE(error_of([] { parse_kinds(","); }).find("no kind named"), std::string::npos);
}

TEST(DebugTrace, CycleRangesMayBeOpenAtEitherEnd) {
  std::uint64_t first = 1, last = 1;
  parse_cycle_range("100:200", first, last);
  EXPECT_EQ(first, 100u);
  EXPECT_EQ(last, 200u);
  parse_cycle_range(":5", first, last);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, 5u);
  parse_cycle_range("7:", first, last);
  EXPECT_EQ(first, 7u);
  EXPECT_EQ(last, UINT64_MAX);
  for (const std::string bad : {"100", "-1:5", "1:2x", "99999999999999999999:", "5:4", "a:b", "+1:2"})
    EXPECT_NE(error_of([&] { parse_cycle_range(bad, first, last); }).find("--trace-cycles '" + bad + "'"),
              std::string::npos)
        << bad;
}

TEST(DebugTrace, LinesCarryTheRunningCpusCycleAndKeepToTheRange) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  std::uint64_t now = 0;
  set_running_cpu(
      "cpu3", [](const void* clock) { return *static_cast<const std::uint64_t*>(clock); }, &now);
  enable(kExit, 10, 20, out);
  EXPECT_FALSE(on(kWalk));
  EXPECT_TRUE(on(kExit));
  for (now = 5; now <= 25; now += 5) line(kExit, "n=%d", static_cast<int>(now));
  disable();
  EXPECT_FALSE(on(kExit));
  std::rewind(out);
  std::string text(256, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  EXPECT_EQ(text, "cycle 10 cpu3 exit n=10\ncycle 15 cpu3 exit n=15\ncycle 20 cpu3 exit n=20\n");
}

}  // namespace
}  // namespace virtsim::debug_trace
