#pragma once
// Small files the sweep runner and the regression suite keep beside their results.
#include <filesystem>
#include <string>

namespace virtsim {

// Writes `text` whole or not at all: a temporary beside `path` (create_temporary: exclusive,
// unpredictable name), then a rename; never onto anything but a regular file. Removes the
// temporaries of `path` that killed processes left. Throws FileError naming the file.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

// The file's bytes ("" when it cannot be read).
std::string read_file_text(const std::filesystem::path& path);

}  // namespace virtsim
