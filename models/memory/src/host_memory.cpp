#include "virtsim/memory/host_memory.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace virtsim {

HostMemoryBudget::HostMemoryBudget(std::uint64_t mib, std::string key)
    : bytes_(mib ? mib << 20 : automatic_bytes()), automatic_(mib == 0), key_(std::move(key)) {}

std::uint64_t HostMemoryBudget::automatic_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string name;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> name >> kib >> unit)
    if (name == "MemAvailable:") return (kib << 10) / 2;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) / 2 : 0;
}

std::uint64_t HostMemoryBudget::resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string HostMemoryBudget::describe() const {
  return key_ + " = " + std::to_string(bytes_ >> 20) + " MiB" +
         (automatic_ ? " (automatic: half of the host's available memory at startup)" : "");
}

void HostMemoryBudget::check() const {
  const std::uint64_t resident = resident_bytes();
  if (resident > bytes_)
    throw HostMemoryExceeded("host memory budget exceeded: the simulator holds " +
                             std::to_string(resident >> 20) + " MiB of host memory, more than " + describe() +
                             "; simulate less memory (a smaller workload.footprint_kib or "
                             "system.guest_memory_mib) or raise the budget");
}

}  // namespace virtsim
