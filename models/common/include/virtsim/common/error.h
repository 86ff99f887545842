#pragma once
// Errors that reach the user. Each names where the problem is (file, key, byte offset).
#include <stdexcept>
#include <string>

namespace virtsim {

// A problem the user can fix. The CLI prints what() and exits with status 2, before
// anything already written is touched.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: config files, --set values, presets, output paths.
class ConfigError : public UserError {
 public:
  using UserError::UserError;
};

// The configured platform cannot be built (unbound port, no memory, illegal cycle).
class PlatformError : public UserError {
 public:
  using UserError::UserError;
};

// A result or trace file cannot be read or written.
class FileError : public UserError {
 public:
  using UserError::UserError;
};

}  // namespace virtsim
