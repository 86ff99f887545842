#pragma once
// Simulations side by side: SystemC elaborates once per process, so every run of a
// comparison, sweep point and regression case gets a child process of its own.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace virtsim {

// How a child process ended.
struct ProcessEnd {
  int exit_status = 0;  // 0 when the work succeeded
  int signal = 0;       // the signal that killed it, or 0
  bool ok() const { return signal == 0 && exit_status == 0; }
  // The exit status, or 128 + the signal as a shell reports it.
  int status() const { return signal ? 128 + signal : exit_status; }
};

// Runs work(item) for each of `items`, each in a forked child, at most `jobs` at a time, and
// calls done(item, end) in this process as each child ends. The child's return value is its
// exit status; an exception escaping work() is printed as "virtsim: <name(item)>: <what>"
// and the child exits with status 2. Once stop() (when given) returns true, no further item
// starts; those running are waited for.
void run_in_processes(const std::vector<std::size_t>& items, unsigned jobs,
                      const std::function<int(std::size_t)>& work,
                      const std::function<std::string(std::size_t)>& name,
                      const std::function<void(std::size_t, const ProcessEnd&)>& done,
                      const std::function<bool()>& stop = {});

// One per core.
unsigned default_jobs();

}  // namespace virtsim
