#pragma once
// Errors that reach the user. Each names where the problem is (file, key, byte offset).
#include <stdexcept>
#include <string>

namespace virtsim {

// Bad user input: config files, --set values, presets, output paths. The CLI prints
// what() and exits with status 2, before anything already written is touched.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The configured platform cannot be built (unbound port, no memory, illegal cycle).
class PlatformError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A result or trace file cannot be read or written.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace virtsim
