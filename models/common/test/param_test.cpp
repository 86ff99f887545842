#include "virtsim/common/param.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

namespace virtsim {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Param, DefaultWhenNotConfigured) {
  ParamRegistry registry;
  Scope scope{&registry, nullptr, "system.cpu0"};
  Param<std::uint32_t> entries(scope, "entries", 64, "entries", "TLB entries", Range{1, 4096});
  EXPECT_EQ(entries.get(), 64u);
  EXPECT_EQ(entries.name(), "system.cpu0.entries");
  ASSERT_EQ(registry.specs().size(), 1u);
  EXPECT_EQ(registry.specs()[0].unit, "entries");
  EXPECT_NO_THROW(registry.check_all_used());
}

TEST(Param, ConfiguredValueWinsAndLastSetWins) {
  ParamRegistry registry;
  registry.set_value("system.cpu0.entries", std::int64_t{32}, {"a.toml", 1, 1});
  registry.set_value("system.cpu0.entries", std::int64_t{128}, {"b.toml", 2, 1});
  Param<std::uint32_t> entries({&registry, nullptr, "system.cpu0"}, "entries", 64, "", "", Range{1, 4096});
  EXPECT_EQ(entries.get(), 128u);
  EXPECT_NO_THROW(registry.check_all_used());  // the overridden one counts as used too
}

TEST(Param, WildcardMatchesOneComponent) {
  EXPECT_TRUE(key_matches("system.cpu*.dtlb.entries", "system.cpu12.dtlb.entries"));
  EXPECT_TRUE(key_matches("system.*.dtlb.entries", "system.cpu0.dtlb.entries"));
  EXPECT_FALSE(key_matches("system.*.entries", "system.cpu0.dtlb.entries"));
  EXPECT_FALSE(key_matches("system.cpu*", "system.cpu0.dtlb"));
  EXPECT_TRUE(key_matches("a.b", "a.b"));
  EXPECT_FALSE(key_matches("a.b", "a.bc"));

  ParamRegistry registry;
  registry.set_value("system.cpu*.cpi", 2.5, {"x.toml", 3, 1});
  Param<double> cpi0({&registry, nullptr, "system.cpu0"}, "cpi", 1.0, "", "");
  Param<double> cpi1({&registry, nullptr, "system.cpu1"}, "cpi", 1.0, "", "");
  EXPECT_DOUBLE_EQ(cpi0.get(), 2.5);
  EXPECT_DOUBLE_EQ(cpi1.get(), 2.5);
}

TEST(Param, WrongTypeNamesFileLineKeyAndExpectation) {
  ParamRegistry registry;
  registry.set_value("system.cpus", std::string("four"), {"exp.toml", 7, 8});
  const auto message = error_of([&] { Param<std::uint32_t>({&registry, nullptr, "system"}, "cpus", 1, "vCPUs", "", Range{1, 64}); });
  EXPECT_NE(message.find("exp.toml:7:8"), std::string::npos) << message;
  EXPECT_NE(message.find("'system.cpus'"), std::string::npos) << message;
  EXPECT_NE(message.find("got a string"), std::string::npos) << message;
  EXPECT_NE(message.find("an integer in [1, 64]"), std::string::npos) << message;
}

TEST(Param, OutOfRangeIsAnError) {
  ParamRegistry registry;
  registry.set_value("system.cpus", std::int64_t{65}, {"exp.toml", 2, 1});
  const auto message = error_of([&] { Param<std::uint32_t>({&registry, nullptr, "system"}, "cpus", 1, "", "", Range{1, 64}); });
  EXPECT_NE(message.find("value 65 is out of range"), std::string::npos) << message;
  ParamRegistry negative;
  negative.set_value("x.n", std::int64_t{-1}, {"--set x.n"});
  const auto unsigned_message = error_of([&] { Param<std::uint64_t>({&negative, nullptr, "x"}, "n", 1, "", ""); });
  EXPECT_NE(unsigned_message.find("out of range"), std::string::npos) << unsigned_message;
  EXPECT_NE(unsigned_message.find("--set x.n"), std::string::npos) << unsigned_message;
}

TEST(Param, NumericCoercions) {
  ParamRegistry registry;
  registry.set_value("x.f", std::int64_t{3}, {"t"});
  registry.set_value("x.i", 4.0, {"t"});
  registry.set_value("x.j", 4.5, {"t"});
  Param<double> f({&registry, nullptr, "x"}, "f", 1.0, "", "");
  Param<int> i({&registry, nullptr, "x"}, "i", 1, "", "");
  EXPECT_DOUBLE_EQ(f.get(), 3.0);
  EXPECT_EQ(i.get(), 4);
  const auto message = error_of([&] { Param<int>({&registry, nullptr, "x"}, "j", 1, "", ""); });
  EXPECT_NE(message.find("got a float 4.5"), std::string::npos) << message;
}

TEST(Param, StringChoicesAreEnforced) {
  ParamRegistry registry;
  registry.set_value("tlb.policy", std::string("fifo"), {"t.toml", 1, 1});
  const auto message = error_of(
      [&] { Param<std::string>({&registry, nullptr, "tlb"}, "policy", "lru", "", "", {}, {"lru", "plru"}); });
  EXPECT_NE(message.find("got \"fifo\""), std::string::npos) << message;
  EXPECT_NE(message.find("one of \"lru\", \"plru\""), std::string::npos) << message;
}

TEST(Param, UnknownKeyGetsDidYouMean) {
  ParamRegistry registry;
  registry.set_value("system.cpu0.dtlb.entires_4k", std::int64_t{32}, {"exp.toml", 5, 1});
  Param<std::uint32_t> entries({&registry, nullptr, "system.cpu0.dtlb"}, "entries_4k", 64, "", "");
  Param<std::uint32_t> ways({&registry, nullptr, "system.cpu0.dtlb"}, "ways_4k", 4, "", "");
  EXPECT_EQ(entries.get(), 64u);  // the misspelt key did not apply
  const auto message = error_of([&] { registry.check_all_used(); });
  EXPECT_NE(message.find("exp.toml:5:1: unknown key 'system.cpu0.dtlb.entires_4k'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'system.cpu0.dtlb.entries_4k'"), std::string::npos) << message;
}

TEST(Param, ResolvedJsonListsEveryParameter) {
  ParamRegistry registry;
  registry.set_value("a.name", std::string("q\"uote"), {"t"});
  Param<std::string> name({&registry, nullptr, "a"}, "name", "x", "", "");
  Param<bool> flag({&registry, nullptr, "a"}, "flag", true, "", "");
  Param<double> ratio({&registry, nullptr, "a"}, "ratio", 2.0, "", "");
  EXPECT_EQ(registry.resolved_json(), "{\"a.name\": \"q\\\"uote\", \"a.flag\": true, \"a.ratio\": 2.0}");
}

TEST(Param, DeclaringTwiceIsAProgrammingError) {
  ParamRegistry registry;
  Param<int> first({&registry, nullptr, "a"}, "n", 1, "", "");
  EXPECT_THROW(Param<int>({&registry, nullptr, "a"}, "n", 1, "", ""), std::logic_error);
}

TEST(Param, WithoutRegistryTheDefaultApplies) {
  Param<int> n({nullptr, nullptr, "a"}, "n", 7, "", "");
  EXPECT_EQ(n.get(), 7);
}

TEST(Param, NonFiniteNumbersAreRefusedNamingTheKey) {
  for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    ParamRegistry registry;
    registry.set_value("w.fraction", bad, {"exp.toml", 4, 12});
    registry.set_value("w.count", bad, {"exp.toml", 5, 9});
    const auto message = error_of([&] {
      Param<double>({&registry, nullptr, "w"}, "fraction", 0.5, "ratio", "");
    });
    EXPECT_NE(message.find("exp.toml:4:12: key 'w.fraction': got "), std::string::npos) << message;
    EXPECT_NE(message.find("not a finite number"), std::string::npos) << message;
    EXPECT_EQ(message.find("null"), std::string::npos) << message;
    const auto count = error_of([&] { Param<int>({&registry, nullptr, "w"}, "count", 1, "", ""); });
    EXPECT_NE(count.find("exp.toml:5:9: key 'w.count': got a float " + std::string(std::isnan(bad) ? "nan"
                                                                                   : bad > 0       ? "inf"
                                                                                                   : "-inf")),
              std::string::npos)
        << count;
  }
}

// A value a later one overrides is still checked: a comparison's modes override
// system.vmx.mode, and "vtx" was silently ignored.
TEST(Param, AnOverriddenValueMustBeValidToo) {
  ParamRegistry registry;
  registry.set_value("system.vmx.mode", std::string("vtx"), {"--set system.vmx.mode"});
  registry.set_value("system.vmx.mode", std::string("vmx"), {"--set system.vmx.mode"});
  const auto message = error_of([&] {
    Param<std::string>({&registry, nullptr, "system.vmx"}, "mode", "none", "", "", {},
                       {"none", "vmx", "svm"});
  });
  EXPECT_NE(message.find("--set system.vmx.mode: key 'system.vmx.mode': got \"vtx\""), std::string::npos)
      << message;
}

TEST(Param, ConflictsNameTheKeyTheConfigSet) {
  ParamRegistry registry;
  registry.set_value("system.*.ways", std::int64_t{3}, {"exp.toml", 7, 1});
  const Scope scope{&registry, nullptr, "system.dtlb"};
  auto message = error_of([&] {
    throw_config_conflict(scope, {"entries", "ways"}, "64 entries do not divide into 3 ways");
  });
  EXPECT_EQ(message, "exp.toml:7:1: key 'system.dtlb.ways': 64 entries do not divide into 3 ways");
  message = error_of([&] { throw_config_conflict(scope, {"size"}, "too big"); });
  EXPECT_EQ(message, "key 'system.dtlb.size': too big");  // a default: no source to name
}

}  // namespace
}  // namespace virtsim