#pragma once
// The VMX/SVM tests' physical memory: the hypervisor's byte memory, with a helper to plant a
// VMCS revision identifier.
#include "virtsim/vmx/byte_memory.h"

namespace virtsim::testing_support {

struct TestMemory : ByteMemory {
  void put_revision(Addr region, std::uint32_t revision) { write32(region, revision); }
};

}  // namespace virtsim::testing_support
