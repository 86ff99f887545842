#include "virtsim/hypervisor/agile/agile_paging.h"

#include <gtest/gtest.h>

#include "virtsim/memory/direct_port.h"
#include "virtsim/mmu/page_walker.h"

namespace virtsim {
namespace {

constexpr Addr kGuestBase = Addr{256} << 20;  // guest-physical 0 in host memory
constexpr Addr kGuestBytes = Addr{16} << 20;
constexpr Addr kWindow = 0x10000000;  // where the guest kernel sees the page table under test

// Shadow tables, 4 KiB EPT tables over all of guest memory, the policy and a walker without walk
// caches: each memory reference of a walk is counted.
struct AgileTest : ::testing::Test {
  AgileTest()
      : shadow({nullptr, &stats, "shadow"}, host, host_frames,
               {TableFormat::Level4, kGuestBase, kGuestBytes, kPageSize4K, 4, false, 0}),
        policy({nullptr, &stats, "agile"}, shadow, 2) {
    shadow.set_checking(true);
    nested.format = TableFormat::Ept4;
    nested.root = ept.new_root();
    nested.agile_switch_bit = ShadowPageTables::kSwitchBit;
    for (Addr gpa = 0; gpa < kGuestBytes; gpa += kPageSize4K) ept.map(nested.root, gpa, kGuestBase + gpa, kPageSize4K);
    shadow_root = shadow.load_cr3(0, root);
  }
  PhysicalMemory host{Addr{1} << 30};
  FrameAllocator host_frames{Addr{1} << 20, kGuestBase};
  FrameAllocator guest_frames{Addr{1} << 20, kGuestBytes};
  StatRegistry stats;
  ShadowPageTables shadow;
  AgilePolicy policy;
  PageTableBuilder ept{host, host_frames, TableFormat::Ept4};
  NestedControls nested;
  // The guest kernel's writes reach the shadow tables and the policy, as AgilePaging's view does.
  PageTableBuilder guest{ShadowPageTables::watched(shadow.guest_view(),
                                                   [this](Addr gpa, Addr bytes) { policy.memory_written(gpa, bytes); }),
                         guest_frames, TableFormat::Level4};
  Addr root = guest.new_root();
  Addr shadow_root = 0;
  PageWalker walker{{nullptr, &stats, "walker"}};
  DirectMemoryPort port{host, 1};
  unsigned faults = 0;  // #PF the hypervisor saw

  // One access as the vCPU makes it; the outcome of its last walk.
  WalkOutcome access(Addr va, AccessKind kind, bool user) {
    WalkRequest r;
    r.guest.cr3 = shadow_root;
    r.nested = true;
    r.nested_controls = nested;
    r.va = va;
    r.kind = kind;
    r.user = user;
    for (int attempt = 0; attempt < 4; ++attempt) {
      const WalkOutcome out = walker.walk(r, port);
      if (!out.translation.fault || shadow.reaches_switch(root, va)) return out;
      ++faults;
      PagingControls guest_controls;
      guest_controls.cr3 = root;
      const ShadowFaultOutcome o = shadow.page_fault(guest_controls, va, kind, user, false);
      if (o.resolution == ShadowFaultResolution::GuestFault) return out;
      if (o.resolution == ShadowFaultResolution::WriteEmulated) {
        policy.write_trapped((o.host_address - kGuestBase) >> kPageShift4K);
        WalkOutcome emulated;
        emulated.translation.physical_address = o.host_address;
        return emulated;
      }
    }
    ADD_FAILURE() << "no progress on " << to_hex(va);
    return {};
  }
  // The guest table page at `level` on va's path.
  Addr guest_table(Addr va, unsigned level) const {
    Addr table = root;
    for (unsigned l = 4; l > level; --l)
      table = host.read64(kGuestBase + table + 8 * table_index(TableFormat::Level4, va, l)) & pte::kAddressMask;
    return table;
  }
};

// Switching at the link to the guest's level-N table, the walk reads 4 - N shadow entries, then
// for each of the N guest levels a 4-level nested walk of its table's address and the entry
// itself, then the 4-level nested walk of the data page: (4 - N) + 5N + 4 references (N = 0:
// the shadow walk's 4; the full 2-D walk would be 24).
TEST_F(AgileTest, AWalkThatSwitchesAtLevelNMakesTheReferencesOfTheFormula) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  EXPECT_EQ(access(0x400123, AccessKind::Load, true).refs, 4u);  // all shadow
  EXPECT_EQ(walker.agile_nested_levels.at(0), 2u);            // the faulting walk and this one
  for (unsigned n = 1; n <= 3; ++n) {
    SCOPED_TRACE("N = " + std::to_string(n));
    ASSERT_TRUE(shadow.switch_to_nested(guest_table(0x400000, n) >> kPageShift4K));
    const WalkOutcome out = access(0x400123, AccessKind::Load, true);
    ASSERT_FALSE(out.translation.fault);
    EXPECT_EQ(out.translation.physical_address, kGuestBase + 0x200123);
    EXPECT_EQ(out.refs, (4 - n) + 5 * n + 4);
    EXPECT_EQ(walker.agile_nested_levels.at(n), 1u);
    EXPECT_TRUE(shadow.check().empty());
    shadow.switch_to_shadow(guest_table(0x400000, n) >> kPageShift4K);
    EXPECT_EQ(access(0x400123, AccessKind::Load, true).refs, 4u);
  }
  // A root stays shadowed.
  EXPECT_FALSE(shadow.switch_to_nested(root >> kPageShift4K));
}

// With the guest-dimension prefix cache on, a walk that hits the prefix of the switched table
// resumes in two dimensions: the nested walk of the L1 table's address, its entry, and the
// nested walk of the data page (4 + 1 + 4).
TEST_F(AgileTest, APrefixCacheHitPastTheSwitchResumesTheWalkInTwoDimensions) {
  WalkerConfig config;
  config.pwc = {true, true, 24, 24, 2};
  PageWalker cached({nullptr, &stats, "cached"}, config);
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  guest.map(root, 0x401000, 0x201000, kPageSize4K);
  ASSERT_TRUE(shadow.switch_to_nested(guest_table(0x400000, 1) >> kPageShift4K));
  ASSERT_FALSE(access(0x400000, AccessKind::Load, true).translation.fault);  // makes the switching entry
  WalkRequest r;
  r.guest.cr3 = shadow_root;
  r.nested = true;
  r.nested_controls = nested;
  r.va = 0x400000;
  EXPECT_EQ(cached.walk(r, port).refs, 12u);  // cold: 3 + 5 + 4
  r.va = 0x401000;
  const WalkOutcome& warm = cached.walk(r, port);
  EXPECT_EQ(warm.translation.physical_address, kGuestBase + 0x201000);
  EXPECT_EQ(warm.refs, 9u);
  EXPECT_EQ(cached.agile_nested_levels.at(1), 2u);
}

TEST_F(AgileTest, AStoreInTheNestedPartSetsTheGuestsDirtyFlag) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  ASSERT_TRUE(shadow.switch_to_nested(guest_table(0x400000, 1) >> kPageShift4K));
  EXPECT_FALSE(access(0x400000, AccessKind::Store, true).translation.fault);
  EXPECT_TRUE(guest.lookup(root, 0x400000)->entry & pte::kDirty);
}

TEST_F(AgileTest, AGuestFaultInTheNestedPartIsTheGuestsOwn) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K, {false, true, true, false});
  ASSERT_TRUE(shadow.switch_to_nested(guest_table(0x400000, 1) >> kPageShift4K));
  ASSERT_FALSE(access(0x400000, AccessKind::Load, true).translation.fault);
  const unsigned before = faults;
  const WalkOutcome out = access(0x401000, AccessKind::Load, true);  // not mapped in that table
  EXPECT_TRUE(out.translation.fault);
  EXPECT_EQ(out.translation.error_code, pf::kUser);
  EXPECT_EQ(faults, before);  // no exit: the hypervisor never saw it
  const WalkOutcome store = access(0x400000, AccessKind::Store, true);  // read-only in the guest
  EXPECT_EQ(store.translation.error_code, pf::kPresent | pf::kWrite | pf::kUser);
}

// The policy: a page table whose writes keep trapping moves to the nested dimension and its
// writes stop trapping; once the guest stops writing it, it goes back to shadow.
TEST_F(AgileTest, AFrequentlyWrittenTableSwitchesToNestedAndBack) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  const Addr table = guest_table(0x400000, 1);
  guest.map(root, kWindow, table, kPageSize4K, {true, false, false, false});
  ASSERT_FALSE(access(0x400000, AccessKind::Load, true).translation.fault);
  ASSERT_TRUE(shadow.write_tracked(table));
  const auto kernel_pte_store = [&](Addr va, Addr gpa) {
    access(kWindow + 8 * ((va >> 12) & 511), AccessKind::Store, false);
    guest.map(root, va, gpa, kPageSize4K);  // the store itself, through the kernel's memory view
  };
  kernel_pte_store(0x401000, 0x201000);
  EXPECT_EQ(shadow.writes_emulated.count(), 1u);
  EXPECT_EQ(policy.switches_to_nested.count(), 0u);
  kernel_pte_store(0x402000, 0x202000);
  EXPECT_EQ(shadow.writes_emulated.count(), 2u);
  EXPECT_EQ(policy.switches_to_nested.count(), 1u);
  EXPECT_TRUE(shadow.nested_mode(table >> kPageShift4K));
  EXPECT_FALSE(shadow.write_tracked(table));
  // The next walk through the table switches at level 2 and reads the guest's L1 table nested.
  EXPECT_EQ(access(0x402000, AccessKind::Load, true).translation.physical_address, kGuestBase + 0x202000);
  EXPECT_EQ(walker.agile_nested_levels.at(1), 1u);
  // Its writes no longer trap: one hidden fault makes the kernel's read-only view writable,
  // then none.
  const auto emulated = shadow.writes_emulated.count();
  kernel_pte_store(0x403000, 0x203000);
  const unsigned faults_after_first = faults;
  for (Addr page = 4; page < 10; ++page) kernel_pte_store(0x400000 + page * kPageSize4K, 0x200000 + page * kPageSize4K);
  EXPECT_EQ(shadow.writes_emulated.count(), emulated);
  EXPECT_EQ(faults, faults_after_first);
  EXPECT_EQ(policy.traps_avoided.count(), 7u);
  // The guest sees its new mappings without any exit.
  EXPECT_EQ(access(0x409000, AccessKind::Load, true).translation.physical_address, kGuestBase + 0x209000);
  EXPECT_EQ(faults, faults_after_first);
  EXPECT_TRUE(shadow.check().empty());
  // The hypervisor's first look sees the table written and keeps it nested.
  policy.look();
  EXPECT_EQ(policy.switches_to_shadow.count(), 0u);
  // No write until the next: back to shadow, write-protected again, walks one-dimensional.
  policy.look();
  EXPECT_EQ(policy.switches_to_shadow.count(), 1u);
  EXPECT_FALSE(shadow.nested_mode(table >> kPageShift4K));
  const WalkOutcome out = access(0x409000, AccessKind::Load, true);
  EXPECT_EQ(out.translation.physical_address, kGuestBase + 0x209000);
  EXPECT_EQ(out.refs, 4u);
  EXPECT_TRUE(shadow.write_tracked(table));
  EXPECT_TRUE(shadow.check().empty());
}

}  // namespace
}  // namespace virtsim
