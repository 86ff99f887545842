#pragma once
// The host memory a run may hold (system.memory.host_budget_mib), checked against the
// process's resident set: a run that would outgrow the machine stops with an error naming the
// budget instead of meeting the host's OOM killer.
#include <cstdint>
#include <exception>
#include <string>

namespace virtsim {

// The resident set outgrew the budget during the simulation. Not a std::runtime_error, so
// that no model mistakes it for running out of simulated memory.
class HostMemoryExceeded : public std::exception {
 public:
  explicit HostMemoryExceeded(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

class HostMemoryBudget {
 public:
  // `mib` = 0: automatic_bytes(). `key` names the parameter in messages.
  HostMemoryBudget(std::uint64_t mib, std::string key);
  // Half of the host's MemAvailable now (/proc/meminfo), or half of its physical memory where
  // that is missing.
  static std::uint64_t automatic_bytes();
  // The process's resident set (/proc/self/statm); 0 where the host does not say.
  static std::uint64_t resident_bytes();

  std::uint64_t bytes() const { return bytes_; }
  // "system.memory.host_budget_mib = 11264 (automatic: half of MemAvailable)".
  std::string describe() const;
  // Throws HostMemoryExceeded when the resident set is above the budget.
  void check() const;
  // Counts `bytes` more taken for simulated memory, and checks every kCheckBytes of them.
  void taken(std::uint64_t bytes) {
    if ((since_check_ += bytes) < kCheckBytes) return;
    since_check_ = 0;
    check();
  }

 private:
  static constexpr std::uint64_t kCheckBytes = std::uint64_t{1} << 20;
  std::uint64_t bytes_;
  bool automatic_;
  std::string key_;
  std::uint64_t since_check_ = 0;
};

}  // namespace virtsim
