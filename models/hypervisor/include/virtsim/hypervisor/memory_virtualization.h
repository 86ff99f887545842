#pragma once
// A memory virtualization scheme as the platform builds it: one strategy per scheme (native,
// shadow paging, nested paging, a paravirtual MMU, binary translation), each owning its
// configuration checks, its tables, its side of the faults and exits, and its statistics.
// The platform (System) asks the registry (registry.h) for the strategy the configuration
// names and calls the hooks below at fixed points of its construction; it has no code of its
// own for any scheme. Each vCPU sees the strategy through a VcpuMemoryVirtualization.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/param.h"
#include "virtsim/common/state_stream.h"
#include "virtsim/common/vcpu_memory_virtualization.h"
#include "virtsim/hypervisor/agile/agile_parameters.h"
#include "virtsim/hypervisor/nested/nested_paging.h"
#include "virtsim/hypervisor/selective/selective_parameters.h"
#include "virtsim/hypervisor/shadow/shadow_tables.h"
#include "virtsim/hypervisor/trap_emulate/trap_emulate.h"
#include "virtsim/paging/paging.h"
#include "virtsim/memory/physical_memory.h"
#include "virtsim/vmx/binary_translation.h"
#include "virtsim/vmx/nested_virtualization.h"
#include "virtsim/vmx/virtualization_unit.h"

namespace virtsim {

// The parameters of every strategy, declared whichever one runs, so that every key is known,
// checked and listed by `virtsim describe`: system.nested.*, system.shadow.*, system.bt.*,
// system.selective.*, system.agile.*, system.trap_emulate.*, system.nested_virt.*.
// A paravirtual MMU is the guest kernel's choice (system.kernel.paravirt_mmu, declared by the
// guest kernel model); it is read here only to choose the strategy.
class MemoryVirtualizationParameters {
 public:
  // `system`: the system's scope; `paravirt_key`: the guest kernel's paravirt_mmu key.
  MemoryVirtualizationParameters(const Scope& system, const std::string& paravirt_key);
  NestedPagingParameters nested;
  ShadowParameters shadow;
  BinaryTranslationParameters bt;
  SelectivePagingParameters selective;
  AgileParameters agile;
  TrapEmulateParameters trap_emulate;
  NestedVirtualizationParameters nested_virt;  // an L2 guest (nested virtualization) and its memory
  bool paravirt_mmu = false;
  std::string paravirt_key;
};

// What the platform gives a strategy.
struct MemoryVirtualizationSetup {
  Scope system;  // the system's scope: a strategy's statistics go under it
  MemoryVirtualizationParameters& parameters;
  const TransitionParameters& transitions;  // VT-x / AMD-V, or none
  const HypervisorParameters& hypervisor;
  const Param<std::uint64_t>& guest_memory_mib;
  PhysicalMemory& host_memory;
  // The hypervisor's TLB flushes (INVVPID) on every vCPU: one guest-virtual page, or all.
  std::function<void(Addr)> flush_page;
  std::function<void()> flush_all;
  // Nested (EPT / NPT) entries changed: INVEPT single-context (AMD-V: TLB_CONTROL) on every vCPU.
  std::function<void()> flush_nested;
};

// The guest kernel's paging, for the strategies that build on the guest's tables.
struct GuestPaging {
  TableFormat format;
  std::string setting;  // `system.kernel.paging = "..."`, for messages
};

class MemoryVirtualization {
 public:
  virtual ~MemoryVirtualization() = default;
  // Whether guest-physical memory is a region the hypervisor backs with host frames (a
  // guest on bare hardware runs in host memory from address 0).
  virtual bool backs_guest_memory() const { return true; }
  // Lays guest-physical memory [0, guest_bytes) out in host memory, taking what it needs from
  // the hypervisor's `host_frames`; returns that memory as the guest kernel writes it.
  virtual MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) = 0;
  // The guest kernel is built: checks that need its paging, and the tables built from it.
  virtual void attach_guest(const GuestPaging& /*guest*/, FrameAllocator& /*host_frames*/) {}
  // How the VT-x / AMD-V units charge this scheme's exits: whether #PF exits are shadow
  // paging's, and whether the guest kernel's page-table updates are hypercalls.
  virtual bool shadow_page_faults() const { return false; }
  virtual bool paravirtual() const { return false; }
  // The VT-x / AMD-V units are built (one per vCPU; none for a native guest).
  virtual void attach_virtualization_units(const std::vector<VirtualizationUnit*>& /*units*/) {}
  // What vCPU `cpu` sees of the scheme.
  virtual VcpuMemoryVirtualization& vcpu_view(unsigned cpu) = 0;
  // A software VMM's own handler of the vCPU's privileged instructions (binary translation),
  // made for vCPU `cpu`; nothing when the platform graph binds the VT-x / AMD-V unit.
  virtual GuestInstructionHandler* instruction_handler(unsigned /*cpu*/) { return nullptr; }
  // Checkpoints (docs/checkpoints.md): whether checkpoints hold this scheme's state, and that
  // state beside guest memory and the host frames (saved after the vCPUs' paging controls;
  // loading replaces what the loading run's construction made).
  virtual bool checkpointable() const { return false; }
  virtual void save_state(StateWriter& /*out*/) const {}
  virtual void load_state(StateReader& /*in*/) {}
};

// The bytes of a page size as the parameters name it: "4k", "2m", "4m" or "1g".
Addr page_bytes_of(const std::string& size);

}  // namespace virtsim
