#include "virtsim/common/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace virtsim {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("virtsim_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "presets" / "machine");
    sources_.preset_dirs = {(dir_ / "presets").string()};
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& relative, const std::string& text) {
    const auto path = dir_ / relative;
    std::ofstream(path) << text;
    return path.string();
  }
  std::string load_error(const std::string& path) {
    try {
      load_config_file(path, registry_, sources_);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "<no error>";
  }

  fs::path dir_;
  ParamRegistry registry_;
  ConfigSources sources_;
};

TEST_F(ConfigTest, TablesBecomeDottedKeysWithPositions) {
  const auto path = write("exp.toml", "[system]\ncpus = 2\n[system.cpu0.dtlb]\nentries_4k = 128\nname = \"x\"\n");
  load_config_file(path, registry_, sources_);
  Param<std::uint32_t> cpus({&registry_, nullptr, "system"}, "cpus", 1, "", "");
  Param<std::uint32_t> entries({&registry_, nullptr, "system.cpu0.dtlb"}, "entries_4k", 64, "", "");
  EXPECT_EQ(cpus.get(), 2u);
  EXPECT_EQ(entries.get(), 128u);
  // The unknown key is reported with its line and column.
  try {
    registry_.check_all_used();
    FAIL() << "unknown key not reported";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":5:8: unknown key 'system.cpu0.dtlb.name'"), std::string::npos)
        << e.what();
  }
  EXPECT_NE(sources_.text.find("# file: " + path), std::string::npos);
}

TEST_F(ConfigTest, SyntaxErrorNamesFileLineAndColumn) {
  const auto path = write("bad.toml", "[system]\ncpus = = 2\n");
  const auto message = load_error(path);
  EXPECT_NE(message.find(path + ":2:"), std::string::npos) << message;
  EXPECT_NE(message.find("TOML syntax error"), std::string::npos) << message;
}

TEST_F(ConfigTest, MissingFileIsNamed) {
  const auto message = load_error((dir_ / "nope.toml").string());
  EXPECT_NE(message.find("nope.toml: config file not found"), std::string::npos) << message;
}

TEST_F(ConfigTest, PresetLoadsFirstAndTheFileOverrides) {
  write("presets/machine/tiny.toml", "[system]\nclock_ghz = 3.0\ncpus = 4\n");
  const auto path = write("exp.toml", "[machine]\npreset = \"tiny\"\n[system]\ncpus = 2\n");
  load_config_file(path, registry_, sources_);
  Param<double> clock({&registry_, nullptr, "system"}, "clock_ghz", 2.0, "", "");
  Param<std::uint32_t> cpus({&registry_, nullptr, "system"}, "cpus", 1, "", "");
  EXPECT_DOUBLE_EQ(clock.get(), 3.0);
  EXPECT_EQ(cpus.get(), 2u);
  EXPECT_NO_THROW(registry_.check_all_used());
  ASSERT_EQ(sources_.files.size(), 2u);
  EXPECT_NE(sources_.files[0].find("tiny.toml"), std::string::npos);  // preset first
}

TEST_F(ConfigTest, UnknownPresetListsTheAvailableOnes) {
  write("presets/machine/skylake.toml", "");
  write("presets/machine/zen2.toml", "");
  const auto path = write("exp.toml", "[machine]\npreset = \"skylak\"\n");
  const auto message = load_error(path);
  EXPECT_NE(message.find(path + ":2:10: key 'machine.preset': unknown preset \"skylak\"; available: skylake zen2"),
            std::string::npos)
      << message;
}

// Preset names are file names in the preset folders, never paths to other files.
TEST_F(ConfigTest, PresetNamesThatArePathsAreRefused) {
  write("presets/machine/skylake.toml", "");
  write("secret.toml", "[system]\ncpus = 2\n");
  for (const std::string& name :
       std::vector<std::string>{"../../secret", (dir_ / "secret").string(), "Skylake", "sky lake", ""}) {
    const auto path = write("exp.toml", "[machine]\npreset = \"" + name + "\"\n");
    const auto message = load_error(path);
    EXPECT_NE(message.find(path + ":2:10: key 'machine.preset': "), std::string::npos) << message;
    EXPECT_NE(message.find(
                  "is not a preset name; expected a name of lowercase letters, digits, '_' and '-', one of: "
                  "skylake"),
              std::string::npos)
        << message;
  }
  const auto message = load_error(write("exp.toml", "[\"..\"]\npreset = \"skylake\"\n"));
  EXPECT_NE(message.find("presets are named in tables whose names are lowercase letters"), std::string::npos)
      << message;
}

TEST_F(ConfigTest, SetOptionRefusesALineBreak) {
  try {
    apply_set_option("system.cpus=2\nsystem.cpuz=3", registry_);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--set \"system.cpus=2\\nsystem.cpuz=3\": a line break in an assignment; "
              "expected one key=value per --set");
  }
  EXPECT_FALSE(registry_.has_value("system.cpus"));
}

TEST_F(ConfigTest, PresetCycleIsAnError) {
  write("presets/machine/a.toml", "[machine]\npreset = \"b\"\n");
  write("presets/machine/b.toml", "[machine]\npreset = \"a\"\n");
  const auto message = load_error(write("exp.toml", "[machine]\npreset = \"a\"\n"));
  EXPECT_NE(message.find("preset includes itself"), std::string::npos) << message;
}

TEST_F(ConfigTest, ArraysAreNotParameterValues) {
  const auto path = write("exp.toml", "[system]\ncpus = [1, 2]\n");
  const auto message = load_error(path);
  EXPECT_NE(message.find(path + ":2:8: key 'system.cpus': got an array"), std::string::npos) << message;
}

TEST_F(ConfigTest, SetOptionParsesTomlValuesAndBareWords) {
  apply_set_option("a.n=64", registry_);
  apply_set_option("a.f=2.5", registry_);
  apply_set_option("a.b=true", registry_);
  apply_set_option("a.s=lru", registry_);
  apply_set_option("a.q=\"with space\"", registry_);
  EXPECT_EQ(Param<int>({&registry_, nullptr, "a"}, "n", 0, "", "").get(), 64);
  EXPECT_DOUBLE_EQ(Param<double>({&registry_, nullptr, "a"}, "f", 0.0, "", "").get(), 2.5);
  EXPECT_TRUE(Param<bool>({&registry_, nullptr, "a"}, "b", false, "", "").get());
  EXPECT_EQ(Param<std::string>({&registry_, nullptr, "a"}, "s", "", "", "").get(), "lru");
  EXPECT_EQ(Param<std::string>({&registry_, nullptr, "a"}, "q", "", "", "").get(), "with space");
  EXPECT_THROW(apply_set_option("novalue", registry_), ConfigError);
  EXPECT_THROW(apply_set_option("=3", registry_), ConfigError);
}

TEST_F(ConfigTest, TheShippedPresetsParse) {
  // Every preset in the repository must at least be valid TOML.
  ConfigSources shipped;
  shipped.preset_dirs = {std::string(VIRTSIM_SOURCE_DIR) + "/experiments/presets"};
  const auto names = available_presets(shipped.preset_dirs, "machine");
  ASSERT_FALSE(names.empty());
  for (const auto& name : names) {
    ParamRegistry registry;
    EXPECT_NO_THROW(load_config_text("[machine]\npreset = \"" + name + "\"\n", "test", registry, shipped)) << name;
  }
}

}  // namespace
}  // namespace virtsim
