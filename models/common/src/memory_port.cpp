#include "virtsim/common/memory_port.h"

#include <stdexcept>
#include <string>

namespace virtsim {

void MemoryPort::entry_access_failed(bool write, Addr address) {
  throw std::runtime_error(std::string("page-table ") + (write ? "write" : "read") + " at physical address " +
                           to_hex(address) + " failed: no memory there");
}

}  // namespace virtsim
