// `virtsim describe --presets`: every preset file, its comment header and what it sets.
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "experiment.h"
#include "files.h"
#include "virtsim/common/error.h"

namespace virtsim {

namespace {

namespace fs = std::filesystem;

// A key as TOML writes it: bare when it can be, quoted otherwise ("cpu*").
std::string toml_key(const std::string& key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return bare ? key : "\"" + key + "\"";
}

// Every value of `table` as "dotted.key = value", in the file's order.
void flatten(const toml::table& table, const std::string& prefix, std::vector<std::string>& lines) {
  for (auto&& [key, node] : table) {
    const std::string name = (prefix.empty() ? "" : prefix + ".") + toml_key(std::string(key.str()));
    if (const auto* sub = node.as_table()) {
      flatten(*sub, name, lines);
      continue;
    }
    std::ostringstream value;
    node.visit([&value](auto&& v) { value << v; });
    lines.push_back(name + " = " + value.str());
  }
}

// The comment lines at the top of a preset file, without their "# ".
std::vector<std::string> header_comment(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && !line.empty() && line[0] == '#') {
    line.erase(0, line.find_first_not_of('#'));
    if (!line.empty() && line[0] == ' ') line.erase(0, 1);
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

int describe_presets_command() {
  // A preset found in an earlier folder hides one of the same table and name in a later one.
  std::set<std::string> seen;
  std::vector<fs::path> files;
  for (const auto& dir : preset_dirs()) {
    std::error_code ec;
    std::vector<fs::path> tables;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.is_directory()) tables.push_back(entry.path());
    std::sort(tables.begin(), tables.end());
    for (const auto& table : tables) {
      std::vector<fs::path> presets;
      for (const auto& entry : fs::directory_iterator(table, ec))
        if (entry.path().extension() == ".toml") presets.push_back(entry.path());
      std::sort(presets.begin(), presets.end());
      for (const auto& preset : presets)
        if (seen.insert(table.filename().string() + "/" + preset.stem().string()).second)
          files.push_back(preset);
    }
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const fs::path& file = files[i];
    const std::string table = file.parent_path().filename().string(), name = file.stem().string();
    const std::string text = read_file_text(file);
    toml::table parsed;
    try {
      parsed = toml::parse(text, file.string());
    } catch (const toml::parse_error& e) {
      throw ConfigError(file.string() + ": TOML syntax error: " + std::string(e.description()));
    }
    std::printf("%s%s.preset = \"%s\"   (%s)\n", i ? "\n" : "", table.c_str(), name.c_str(), file.c_str());
    for (const auto& line : header_comment(text)) std::printf("  %s\n", line.c_str());
    std::vector<std::string> sets;
    flatten(parsed, "", sets);
    std::printf("  sets:\n");
    for (const auto& line : sets) std::printf("    %s\n", line.c_str());
  }
  if (files.empty()) std::printf("no presets found (looked in the preset folders and VIRTSIM_PRESET_PATH)\n");
  return 0;
}

}  // namespace virtsim
