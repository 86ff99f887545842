#include "process_pool.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

#include "virtsim/common/error.h"

namespace virtsim {

unsigned default_jobs() { return std::max(1u, std::thread::hardware_concurrency()); }

void run_in_processes(const std::vector<std::size_t>& items, unsigned jobs,
                      const std::function<int(std::size_t)>& work,
                      const std::function<std::string(std::size_t)>& name,
                      const std::function<void(std::size_t, const ProcessEnd&)>& done,
                      const std::function<bool()>& stop) {
  std::map<pid_t, std::size_t> running;
  const auto reap_one = [&] {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0) return;
    const std::size_t item = running.at(pid);
    running.erase(pid);
    ProcessEnd end;
    if (WIFSIGNALED(status)) end.signal = WTERMSIG(status);
    else end.exit_status = WEXITSTATUS(status);
    done(item, end);
  };
  for (const std::size_t item : items) {
    while (running.size() >= std::max(1u, jobs)) reap_one();
    if (stop && stop()) break;
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t pid = ::fork();
    if (pid < 0) throw FileError(std::string("cannot start a simulation process: ") + std::strerror(errno));
    if (pid == 0) {
      int rc = 2;
      try {
        rc = work(item);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "virtsim: %s: %s\n", name(item).c_str(), e.what());
      }
      std::fflush(nullptr);
      ::_exit(rc);
    }
    running[pid] = item;
  }
  while (!running.empty()) reap_one();
}

}  // namespace virtsim
