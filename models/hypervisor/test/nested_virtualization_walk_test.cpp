// The L2 guest's walks under nested virtualization, with every memory reference counted (a
// walker without walk caches): nested EPT walks L2's tables and the shadow EPT in two
// dimensions; shadow-on-EPT walks L1's shadow tables through L0's EPT, also in two. Each first
// touch of a page under nested EPT is two EPT violations: L1's (reflected) and L0's (the shadow
// EPT filled).
#include <gtest/gtest.h>

#include "virtsim/hypervisor/registry.h"
#include "virtsim/memory/direct_port.h"
#include "virtsim/mmu/page_walker.h"

namespace virtsim {
namespace {

constexpr Addr kGuestBytes = Addr{16} << 20;
constexpr Addr kMarker = 0x5a5a5a5a12345678;

struct L2Guest {
  explicit L2Guest(const std::string& memory) {
    params.set_value("system.vmx.mode", std::string("vmx"), ValueSource{"test"});
    params.set_value("system.nested.paging", std::string("ept4"), ValueSource{"test"});
    params.set_value("system.nested_virt.memory", memory, ValueSource{"test"});
    parameters = std::make_unique<MemoryVirtualizationParameters>(system, "system.kernel.paravirt_mmu");
    transitions = std::make_unique<TransitionParameters>(system.child("vmx"));
    hypervisor = std::make_unique<HypervisorParameters>(system.child("hypervisor"));
    guest_memory_mib = std::make_unique<Param<std::uint64_t>>(system, "guest_memory_mib", 16, "MiB", "guest memory");
    const MemoryVirtualizationSetup setup{system, *parameters, *transitions, *hypervisor, *guest_memory_mib, host,
                                          [](Addr) {}, [] {}, [] {}};
    strategy = configured_memory_virtualization(*parameters).make(setup);
    guest_memory = strategy->map_guest_memory(host_frames, kGuestBytes);
    strategy->attach_guest({TableFormat::Level4, "test"}, host_frames);
    guest = std::make_unique<PageTableBuilder>(guest_memory, guest_frames, TableFormat::Level4);
    root = guest->new_root();
  }
  double stat(const std::string& name) const { return stats.find(name) ? stats.find(name)->value() : -1; }

  // One load as the vCPU makes it: EPT violations and #PFs go to the strategy until the walk
  // completes; the outcome of the last walk.
  WalkOutcome load(Addr va) {
    VcpuMemoryVirtualization& view = strategy->vcpu_view(0);
    WalkRequest r;
    r.guest.cr3 = view.replaces_guest_tables() ? view.load_cr3(0, root) : root;
    r.nested = true;
    r.nested_controls = view.nested_walk()->controls;
    r.va = va;
    r.kind = AccessKind::Load;
    for (int attempt = 0; attempt < 16; ++attempt) {
      const WalkOutcome out = walker.walk(r, port);
      if (!out.translation.fault) return out;
      if (out.translation.fault_kind == FaultKind::EptViolation) {
        ++ept_violations;
        if (!view.nested_fault(out.translation.guest_physical_address)) return out;
        continue;
      }
      PagingControls controls;
      controls.cr3 = root;
      const auto handled = view.page_fault(controls, va, AccessKind::Load, false, false, out.translation.error_code);
      if (!handled || handled->resolution == ShadowFaultResolution::GuestFault) return out;
      ++shadow_faults;
    }
    ADD_FAILURE() << "no progress on " << to_hex(va);
    return {};
  }

  ParamRegistry params;
  StatRegistry stats;
  Scope system{&params, &stats, "system"};
  std::unique_ptr<MemoryVirtualizationParameters> parameters;
  std::unique_ptr<TransitionParameters> transitions;
  std::unique_ptr<HypervisorParameters> hypervisor;
  std::unique_ptr<Param<std::uint64_t>> guest_memory_mib;
  PhysicalMemory host{Addr{1} << 30};
  FrameAllocator host_frames{Addr{1} << 20, Addr{1} << 30};
  FrameAllocator guest_frames{Addr{1} << 20, kGuestBytes};
  std::unique_ptr<MemoryVirtualization> strategy;
  MemoryView guest_memory;
  std::unique_ptr<PageTableBuilder> guest;
  Addr root = 0;
  PageWalker walker{{nullptr, &stats, "walker"}};
  DirectMemoryPort port{host, 1};
  unsigned ept_violations = 0, shadow_faults = 0;
};

TEST(NestedEptWalk, IsAnOrdinaryTwoDimensionalWalkOverTheShadowEpt) {
  L2Guest l2("nested_ept");
  l2.guest->map(l2.root, 0x400000, 0x200000, kPageSize4K);
  l2.guest_memory.write(0x200008, kMarker, 8);
  const WalkOutcome first = l2.load(0x400008);
  ASSERT_FALSE(first.translation.fault);
  // Five L2 pages (four table pages and the data page), two violations each: L1's, then L0's.
  EXPECT_EQ(l2.ept_violations, 10u);
  EXPECT_EQ(l2.stat("system.nested_virt.l1_ept_fills"), 5);
  EXPECT_EQ(l2.stat("system.nested_virt.shadow_ept_fills"), 5);
  EXPECT_EQ(first.refs, 24u);  // 4 guest levels x (4 EPT + 1) + 4 for the data page
  EXPECT_EQ(l2.host.read64(first.translation.physical_address), kMarker);
  const WalkOutcome again = l2.load(0x400008);
  EXPECT_EQ(again.refs, 24u);
  EXPECT_EQ(l2.ept_violations, 10u);
}

TEST(ShadowOnEptWalk, WalksL1sShadowTablesThroughL0sEpt) {
  L2Guest l2("shadow_on_ept");
  l2.guest->map(l2.root, 0x400000, 0x200000, kPageSize4K);
  l2.guest_memory.write(0x200008, kMarker, 8);
  const WalkOutcome first = l2.load(0x400008);
  ASSERT_FALSE(first.translation.fault);
  EXPECT_GE(l2.shadow_faults, 1u);  // L1 fills its shadow tables (a hidden fault, reflected to L1)
  EXPECT_GT(l2.ept_violations, 0u);  // L0 maps the shadow tables' and the page's frames
  EXPECT_EQ(l2.stat("system.nested_virt.l0_ept_fills"), l2.ept_violations);
  EXPECT_EQ(first.refs, 24u);  // 4 shadow levels x (4 EPT + 1) + 4 for the data page
  EXPECT_EQ(l2.host.read64(first.translation.physical_address), kMarker);
}

}  // namespace
}  // namespace virtsim
