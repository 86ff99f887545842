#include "virtsim/hypervisor/shadow/shadow_tables.h"

#include <gtest/gtest.h>

#include <random>

namespace virtsim {
namespace {

constexpr Addr kGuestBase = Addr{256} << 20;  // guest-physical 0 in host memory
constexpr Addr kGuestBytes = Addr{64} << 20;

// A guest's tables in host memory and the shadow of them (a checkpoint test makes two).
struct ShadowRig {
  explicit ShadowRig(Addr host_page = kPageSize4K, unsigned roots = 4, bool out_of_sync = false,
                      unsigned flooding_threshold = 3)
      : shadow({nullptr, &stats, "shadow"}, host, host_frames,
               {TableFormat::Level4, kGuestBase, kGuestBytes, host_page, roots, out_of_sync, flooding_threshold}) {
    shadow.set_flushes([this](Addr va) { flushed_pages.push_back(va); }, [this] { ++full_flushes; });
    shadow.set_checking(true);
  }
  PhysicalMemory host{Addr{1} << 30};
  FrameAllocator host_frames{Addr{1} << 20, kGuestBase};  // the hypervisor's frames, below the guest
  FrameAllocator guest_frames{Addr{1} << 20, kGuestBytes};
  StatRegistry stats;
  ShadowPageTables shadow;
  PageTableBuilder guest{shadow.guest_view(), guest_frames, TableFormat::Level4};
  Addr root = guest.new_root();
  std::vector<Addr> flushed_pages;
  unsigned full_flushes = 0;
  Addr loaded_cr3 = ~Addr{0}, loaded_root = 0;
  std::uint64_t syncs_seen() const { return shadow.syncs.count(); }

  PagingControls controls(Addr cr3) const {
    PagingControls c;
    c.cr3 = cr3;
    return c;
  }
  Translation guest_walk(Addr cr3, Addr va, AccessKind kind, bool user) const {
    return reference_translate([this](Addr gpa, unsigned) { return host.read64(kGuestBase + gpa); }, controls(cr3), va,
                               kind, user);
  }
  // What the hardware does with the shadow root loaded: a 1-D walk of the shadow tables.
  Translation shadow_walk(Addr shadow_root, Addr va, AccessKind kind, bool user) const {
    return reference_translate([this](Addr a, unsigned) { return host.read64(a); }, controls(shadow_root), va, kind, user);
  }
  // One access as the vCPU makes it: walk, let the hypervisor resolve faults, walk again.
  // Returns the host-physical address reached, or nullopt for a fault reflected to the guest.
  // `string_store`: by an instruction that does not write page tables (REP STOS / MOVS).
  std::optional<Addr> access(Addr cr3, Addr va, AccessKind kind, bool user, ShadowFaultOutcome* last = nullptr,
                             bool string_store = false) {
    // A CR3 write only when the address space changes, as a kernel switching processes makes.
    if (cr3 != loaded_cr3) loaded_root = shadow.load_cr3(0, cr3);
    loaded_cr3 = cr3;
    const Addr shadow_root = loaded_root;
    for (int attempt = 0; attempt < 4; ++attempt) {
      const Translation t = shadow_walk(shadow_root, va, kind, user);
      if (!t.fault) return t.physical_address;
      const ShadowFaultOutcome o = shadow.page_fault(controls(cr3), va, kind, user, string_store);
      if (last) *last = o;
      if (o.resolution == ShadowFaultResolution::GuestFault) return std::nullopt;
      if (o.resolution == ShadowFaultResolution::WriteEmulated) return o.host_address;
    }
    ADD_FAILURE() << "no progress on " << to_hex(va);
    return std::nullopt;
  }
};

struct ShadowTest : ::testing::Test, ShadowRig {
  explicit ShadowTest(Addr host_page = kPageSize4K, unsigned roots = 4, bool out_of_sync = false,
                      unsigned flooding_threshold = 3)
      : ShadowRig(host_page, roots, out_of_sync, flooding_threshold) {}
};

TEST_F(ShadowTest, AHiddenFaultFillsTheShadowAndSetsTheGuestsAccessedFlag) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  EXPECT_EQ(access(root, 0x400123, AccessKind::Load, true), kGuestBase + 0x200123);
  EXPECT_EQ(shadow.hidden_faults.count(), 1u);
  const auto leaf = guest.lookup(root, 0x400000);
  ASSERT_TRUE(leaf);
  EXPECT_TRUE(leaf->entry & pte::kAccessed);
  EXPECT_FALSE(leaf->entry & pte::kDirty);
  // Shadowed read-only while D is clear: the first store faults once and sets D.
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Store, true).fault);
  EXPECT_EQ(access(root, 0x400008, AccessKind::Store, true), kGuestBase + 0x200008);
  EXPECT_EQ(shadow.dirty_emulations.count(), 1u);
  EXPECT_TRUE(guest.lookup(root, 0x400000)->entry & pte::kDirty);
  EXPECT_FALSE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Store, true).fault);
  // Nothing more to fault on.
  EXPECT_EQ(access(root, 0x400010, AccessKind::Store, true), kGuestBase + 0x200010);
  EXPECT_EQ(shadow.hidden_faults.count() + shadow.dirty_emulations.count(), 2u);
}

TEST_F(ShadowTest, ATrueGuestFaultIsReflectedWithTheGuestsErrorCode) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K, {false, true, true, false});
  ShadowFaultOutcome o;
  EXPECT_FALSE(access(root, 0x900000, AccessKind::Load, true, &o));
  EXPECT_EQ(o.resolution, ShadowFaultResolution::GuestFault);
  EXPECT_EQ(o.guest_error_code, guest_walk(root, 0x900000, AccessKind::Load, true).error_code);
  EXPECT_FALSE(access(root, 0x400000, AccessKind::Store, true, &o));  // read-only in the guest
  EXPECT_EQ(o.guest_error_code, guest_walk(root, 0x400000, AccessKind::Store, true).error_code);
  EXPECT_EQ(o.guest_error_code, pf::kPresent | pf::kWrite | pf::kUser);
  EXPECT_EQ(shadow.guest_faults.count(), 2u);
}

TEST_F(ShadowTest, AGuestEntryWriteDropsTheShadowEntryItStoodFor) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  ASSERT_EQ(access(root, 0x400000, AccessKind::Load, true), kGuestBase + 0x200000);
  guest.map(root, 0x400000, 0x300000, kPageSize4K);  // remapped, as after copy-on-write
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).fault);
  EXPECT_GE(shadow.entries_zapped.count(), 1u);
  EXPECT_EQ(access(root, 0x400000, AccessKind::Load, true), kGuestBase + 0x300000);
  guest.unmap(root, 0x400000);
  EXPECT_FALSE(access(root, 0x400000, AccessKind::Load, true));
}

TEST_F(ShadowTest, GuestPageTablesAreWriteProtectedAndTheirStoresEmulated) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  const Addr table = guest.lookup(root, 0x400000)->slot & ~Addr{0xfff};  // the guest's L1 table
  const Addr window = 0x10000000;                                        // where its kernel sees it
  guest.map(root, window, table, kPageSize4K, {true, false, false, false});
  ASSERT_TRUE(access(root, 0x400000, AccessKind::Load, true));  // the shadow now follows that table
  ASSERT_TRUE(shadow.write_tracked(table));
  ShadowFaultOutcome o;
  EXPECT_EQ(access(root, window + 8, AccessKind::Store, false, &o), kGuestBase + table + 8);
  EXPECT_EQ(o.resolution, ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(shadow.writes_emulated.count(), 1u);
  EXPECT_EQ(access(root, window + 16, AccessKind::Load, false), kGuestBase + table + 16);  // loads need no trap
  EXPECT_EQ(shadow.writes_emulated.count(), 1u);
}

// A guest L1 table the shadow follows, and a kernel window onto it at 0x10000000 (whose own
// shadow path does not pass through that table). Returns the table.
Addr shadowed_table_with_window(ShadowTest& t) {
  t.guest.map(t.root, 0x400000, 0x200000, kPageSize4K);
  t.guest.map(t.root, 0x401000, 0x201000, kPageSize4K);
  const Addr table = t.guest.lookup(t.root, 0x400000)->slot & ~Addr{0xfff};
  t.guest.map(t.root, 0x10000000, table, kPageSize4K, {true, false, false, false});
  EXPECT_TRUE(t.access(t.root, 0x400000, AccessKind::Load, true));
  EXPECT_TRUE(t.shadow.write_tracked(table));
  return table;
}

ShadowFaultResolution kernel_store(ShadowTest& t, Addr offset) {
  ShadowFaultOutcome o{ShadowFaultResolution::Filled};  // stays so when nothing faults
  EXPECT_TRUE(t.access(t.root, 0x10000000 + offset, AccessKind::Store, false, &o));
  return o.resolution;
}

TEST_F(ShadowTest, AGuestTableWrittenAndNotUsedIsUnshadowedAtTheThirdEmulatedWrite) {
  const Addr table = shadowed_table_with_window(*this);
  EXPECT_EQ(kernel_store(*this, 0x800), ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(kernel_store(*this, 0x808), ShadowFaultResolution::WriteEmulated);
  EXPECT_TRUE(shadow.write_tracked(table));
  EXPECT_EQ(kernel_store(*this, 0x810), ShadowFaultResolution::WriteEmulated);
  EXPECT_FALSE(shadow.write_tracked(table));  // flooded: its shadow table is gone
  EXPECT_EQ(shadow.flood_zaps.count(), 1u);
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).fault);
  // The next store takes one hidden fault that makes the kernel's leaf writable; then none.
  const auto hidden = shadow.hidden_faults.count(), dirty = shadow.dirty_emulations.count();
  EXPECT_EQ(kernel_store(*this, 0x818), ShadowFaultResolution::Filled);
  EXPECT_EQ(shadow.hidden_faults.count(), hidden + 1);
  EXPECT_EQ(shadow.dirty_emulations.count(), dirty);
  EXPECT_FALSE(shadow_walk(shadow.cached_root(root), 0x10000820, AccessKind::Store, false).fault);
  EXPECT_EQ(shadow.writes_emulated.count(), 3u);
  // The walk that needs the table again rebuilds its shadow and write-protects it again.
  EXPECT_EQ(access(root, 0x400000, AccessKind::Load, true), kGuestBase + 0x200000);
  EXPECT_TRUE(shadow.write_tracked(table));
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x10000820, AccessKind::Store, false).fault);
  EXPECT_EQ(kernel_store(*this, 0x820), ShadowFaultResolution::WriteEmulated);
}

TEST_F(ShadowTest, AShadowFaultThroughAGuestTableRestartsItsWriteFloodingCount) {
  const Addr table = shadowed_table_with_window(*this);
  EXPECT_EQ(kernel_store(*this, 0x800), ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(kernel_store(*this, 0x808), ShadowFaultResolution::WriteEmulated);
  ASSERT_TRUE(access(root, 0x401000, AccessKind::Load, true));  // a hidden fault through the table
  EXPECT_EQ(kernel_store(*this, 0x810), ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(kernel_store(*this, 0x818), ShadowFaultResolution::WriteEmulated);
  EXPECT_TRUE(shadow.write_tracked(table));
  EXPECT_EQ(shadow.flood_zaps.count(), 0u);
  EXPECT_EQ(kernel_store(*this, 0x820), ShadowFaultResolution::WriteEmulated);
  EXPECT_FALSE(shadow.write_tracked(table));
}

TEST_F(ShadowTest, ALoadedShadowRootIsNeverUnshadowedByWriteFlooding) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  guest.map(root, 0x10000000, root, kPageSize4K, {true, false, false, false});
  ASSERT_TRUE(access(root, 0x400000, AccessKind::Load, true));
  for (Addr offset = 0x800; offset < 0x840; offset += 8)
    EXPECT_EQ(kernel_store(*this, offset), ShadowFaultResolution::WriteEmulated);
  EXPECT_TRUE(shadow.write_tracked(root));
  EXPECT_EQ(shadow.flood_zaps.count(), 0u);
}

TEST_F(ShadowTest, ACachedRootNoVcpuHasLoadedLeavesTheCacheWhenFlooded) {
  // An exited process's root, still cached, whose page the kernel now writes from another space.
  const Addr old_root = guest.new_root();
  guest.map(old_root, 0x400000, 0x200000, kPageSize4K);
  ASSERT_TRUE(access(old_root, 0x400000, AccessKind::Load, true));
  guest.map(root, 0x10000000, old_root, kPageSize4K, {true, false, false, false});
  EXPECT_EQ(kernel_store(*this, 0x800), ShadowFaultResolution::WriteEmulated);  // loads `root`
  EXPECT_EQ(kernel_store(*this, 0x808), ShadowFaultResolution::WriteEmulated);
  EXPECT_NE(shadow.cached_root(old_root), 0u);
  EXPECT_EQ(kernel_store(*this, 0x810), ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(shadow.cached_root(old_root), 0u);
  EXPECT_FALSE(shadow.write_tracked(old_root));
  EXPECT_EQ(shadow.flood_zaps.count(), 1u);
}

// KVM's retry_instruction: a REP STOS / MOVS line into a guest table page is not emulated.
TEST_F(ShadowTest, AStringStoreUnprotectsAGuestTablePageAndIsRetriedWhileAPlainStoreIsEmulated) {
  const Addr table = shadowed_table_with_window(*this);
  EXPECT_EQ(kernel_store(*this, 0x800), ShadowFaultResolution::WriteEmulated);  // a MOV to an entry
  EXPECT_TRUE(shadow.write_tracked(table));
  const auto emulated = shadow.writes_emulated.count(), hidden = shadow.hidden_faults.count();
  // The page zeroed line by line: the first line's fault unprotects the page, its retry takes
  // one hidden fault that maps the page writable, and no other line faults.
  ShadowFaultOutcome first;
  EXPECT_EQ(access(root, 0x10000000, AccessKind::Store, false, &first, true), kGuestBase + table);
  EXPECT_EQ(shadow.unprotect_retries.count(), 1u);
  EXPECT_FALSE(shadow.write_tracked(table));
  EXPECT_EQ(shadow.hidden_faults.count(), hidden + 1);
  for (Addr line = 64; line < kPageSize4K; line += 64)
    EXPECT_FALSE(shadow_walk(shadow.cached_root(root), 0x10000000 + line, AccessKind::Store, false).fault);
  EXPECT_EQ(shadow.writes_emulated.count(), emulated);
  EXPECT_EQ(shadow.flood_zaps.count(), 0u);  // unprotected, not flooded
  // The walk that needs the table again write-protects it again; a plain store is emulated.
  EXPECT_EQ(access(root, 0x400000, AccessKind::Load, true), kGuestBase + 0x200000);
  EXPECT_TRUE(shadow.write_tracked(table));
  EXPECT_EQ(kernel_store(*this, 0x808), ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(shadow.unprotect_retries.count(), 1u);
}

TEST_F(ShadowTest, AStringStoreToTheLoadedRootsPageIsEmulated) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  guest.map(root, 0x10000000, root, kPageSize4K, {true, false, false, false});
  ASSERT_TRUE(access(root, 0x400000, AccessKind::Load, true));
  ShadowFaultOutcome o;
  EXPECT_EQ(access(root, 0x10000800, AccessKind::Store, false, &o, true), kGuestBase + root + 0x800);
  EXPECT_EQ(o.resolution, ShadowFaultResolution::WriteEmulated);
  EXPECT_TRUE(shadow.write_tracked(root));
  EXPECT_EQ(shadow.unprotect_retries.count(), 0u);
}

struct ShadowWithoutFloodDetection : ShadowTest {
  ShadowWithoutFloodDetection() : ShadowTest(kPageSize4K, 4, false, 0) {}
};

TEST_F(ShadowWithoutFloodDetection, AThresholdOfZeroKeepsEveryGuestTableWriteProtected) {
  const Addr table = shadowed_table_with_window(*this);
  for (Addr offset = 0x800; offset < 0x900; offset += 8)
    EXPECT_EQ(kernel_store(*this, offset), ShadowFaultResolution::WriteEmulated);
  EXPECT_TRUE(shadow.write_tracked(table));
  EXPECT_EQ(shadow.flood_zaps.count(), 0u);
}

// The guest kernel model writes its tables when it prepares an exit; the shadow sees each write
// when the store of it runs. The leaf clears run first and trap, since the shadow still follows
// their table; the clear of the directory entry above it, run last, unlinks that shadow.
TEST_F(ShadowWithoutFloodDetection, AnExitsLeafClearsTrapBeforeTheClearAboveUnlinksTheirTable) {
  const Addr table = shadowed_table_with_window(*this);
  PageTableBuilder prepared{ShadowPageTables::watched(MemoryView::of(host, kGuestBase),
                                                      [this](Addr gpa, Addr bytes) { shadow.note_guest_write(gpa, bytes); }),
                            guest_frames, TableFormat::Level4};
  ASSERT_TRUE(prepared.unmap(root, 0x400000));
  ASSERT_TRUE(prepared.unmap(root, 0x401000));
  std::vector<Addr> freed, cleared;
  prepared.release_unused_tables(root, 0x400000, 0x600000, &freed, cleared);
  ASSERT_EQ(freed, std::vector<Addr>{table});
  ASSERT_EQ(cleared.size(), 1u);
  const Addr directory = cleared[0] & ~Addr{0xfff};  // the page directory that linked the table
  ASSERT_EQ(cleared[0], directory + 8 * 2);
  guest.map(root, 0x10001000, directory, kPageSize4K, {true, false, false, false});  // the kernel's window onto it
  EXPECT_EQ(shadow.writes_pending(), 3u);
  EXPECT_FALSE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).fault);  // not yet seen
  // The stores run in the order the kernel made them, each seen as it runs.
  for (const Addr offset : {Addr{0}, Addr{8}}) {
    EXPECT_EQ(kernel_store(*this, offset), ShadowFaultResolution::WriteEmulated);
    shadow.guest_store_ran(table + offset, 8);
    EXPECT_TRUE(shadow.write_tracked(table));
  }
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).fault);
  ShadowFaultOutcome o;
  EXPECT_TRUE(access(root, 0x10001000 + 8 * 2, AccessKind::Store, false, &o));
  EXPECT_EQ(o.resolution, ShadowFaultResolution::WriteEmulated);
  shadow.guest_store_ran(directory + 8 * 2, 8);
  EXPECT_FALSE(shadow.write_tracked(table));  // its shadow went with the link
  EXPECT_EQ(shadow.writes_emulated.count(), 3u);
  EXPECT_EQ(shadow.writes_pending(), 0u);
}

TEST_F(ShadowTest, AGuestWriteNoStoreAnnouncesIsSeenAtTheNextCr3Load) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  ASSERT_TRUE(access(root, 0x400000, AccessKind::Load, true));
  PageTableBuilder prepared{ShadowPageTables::watched(MemoryView::of(host, kGuestBase),
                                                      [this](Addr gpa, Addr bytes) { shadow.note_guest_write(gpa, bytes); }),
                            guest_frames, TableFormat::Level4};
  ASSERT_TRUE(prepared.unmap(root, 0x400000));
  EXPECT_EQ(shadow.writes_pending(), 1u);
  shadow.load_cr3(0, root);  // checked: the shadow agrees with the guest again
  EXPECT_EQ(shadow.writes_pending(), 0u);
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).fault);
}

TEST_F(ShadowTest, APageThatBecomesATableLosesItsWritableShadowMappings) {
  // A second address space whose L1 table sits in a page the first one maps writable.
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  const Addr other = guest.new_root();
  guest.map(other, 0x400000, 0x210000, kPageSize4K);
  const Addr other_table = guest.lookup(other, 0x400000)->slot & ~Addr{0xfff};
  guest.map(root, 0x20000000, other_table, kPageSize4K, {true, false, false, false});
  ASSERT_EQ(access(root, 0x20000000, AccessKind::Store, false), kGuestBase + other_table);
  EXPECT_FALSE(shadow.write_tracked(other_table));
  EXPECT_EQ(access(other, 0x400000, AccessKind::Load, true), kGuestBase + 0x210000);  // now the shadow follows it
  EXPECT_TRUE(shadow.write_tracked(other_table));
  EXPECT_EQ(shadow.write_protects.count(), 1u);
  EXPECT_EQ(flushed_pages, std::vector<Addr>{0x20000000});
  ShadowFaultOutcome o;
  EXPECT_TRUE(access(root, 0x20000000, AccessKind::Store, false, &o));
  EXPECT_EQ(o.resolution, ShadowFaultResolution::WriteEmulated);
}

TEST_F(ShadowTest, RootsAreCachedPerGuestCr3AndLoadedOnesAreNeverEvicted) {
  std::vector<Addr> roots{root};
  for (int i = 0; i < 5; ++i) roots.push_back(guest.new_root());
  const Addr first = shadow.load_cr3(1, roots[0]);  // vCPU 1 keeps this one loaded
  for (std::size_t i = 1; i < roots.size(); ++i) shadow.load_cr3(0, roots[i]);
  EXPECT_EQ(shadow.cached_root(roots[0]), first);
  EXPECT_EQ(shadow.cached_root(roots[1]), 0u);  // the least recent of the others went
  EXPECT_EQ(shadow.roots_evicted.count(), 2u);
  EXPECT_EQ(shadow.root_misses.count(), 6u);
  EXPECT_EQ(shadow.load_cr3(0, roots[5]), shadow.cached_root(roots[5]));
  EXPECT_EQ(shadow.root_hits.count(), 1u);
}

TEST_F(ShadowTest, InvlpgDropsTheLeafOfItsAddress) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  ASSERT_TRUE(access(root, 0x400000, AccessKind::Load, true));
  shadow.invlpg(root, 0x400000);
  EXPECT_EQ(shadow.invlpg_zaps.count(), 1u);
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).fault);
}

TEST_F(ShadowTest, AGuestLargePageIsSplitIntoHostPages) {
  guest.map(root, 0x40000000, 0x1000000, kPageSize2M);
  EXPECT_EQ(access(root, 0x40123456, AccessKind::Load, true), kGuestBase + 0x1123456);
  EXPECT_EQ(shadow.large_page_splits.count(), 1u);
  EXPECT_EQ(access(root, 0x40000000, AccessKind::Load, true), kGuestBase + 0x1000000);
  EXPECT_EQ(shadow.hidden_faults.count(), 2u);  // one per 4 KiB piece touched
  const Addr shadow_root = shadow.cached_root(root);
  EXPECT_FALSE(shadow_walk(shadow_root, 0x40000000, AccessKind::Load, true).fault);
  shadow.invlpg(root, 0x40000000);  // the guest's whole large page goes
  EXPECT_TRUE(shadow_walk(shadow_root, 0x40123000, AccessKind::Load, true).fault);
}

struct ShadowLargeHostPages : ShadowTest {
  ShadowLargeHostPages() : ShadowTest(kPageSize2M) {}
};

TEST_F(ShadowLargeHostPages, AGuestLargePageIsOneShadowLeafUnlessItHoldsAPageTable) {
  guest.map(root, 0x40000000, 0x1000000, kPageSize2M);
  EXPECT_EQ(access(root, 0x40123456, AccessKind::Load, true), kGuestBase + 0x1123456);
  EXPECT_EQ(access(root, 0x40000000, AccessKind::Load, true), kGuestBase + 0x1000000);
  EXPECT_EQ(shadow.hidden_faults.count(), 1u);
  EXPECT_EQ(shadow.large_page_splits.count(), 0u);
  // A guest page table inside that 2 MiB: the large shadow leaf goes, and the pieces come back
  // at 4 KiB with the table's page read-only.
  const Addr other = guest.new_root();
  guest.map(other, 0x1000000 + 0x5000, 0x300000, kPageSize4K);
  const Addr table = guest.lookup(other, 0x1005000)->slot & ~Addr{0xfff};
  ASSERT_LT(table, Addr{0x200000});  // below the large page: move one into it by hand
  // Place the other space's L1 table in the large page: copy and relink it.
  const Addr moved = 0x1000000 + 0x7000;
  for (Addr off = 0; off < 0x1000; off += 8) host.write64(kGuestBase + moved + off, host.read64(kGuestBase + table + off));
  ASSERT_TRUE(guest.set_raw_entry(other, 0x1005000, 2, moved | pte::kPresent | pte::kWritable | pte::kUser));
  EXPECT_EQ(access(other, 0x1005000, AccessKind::Load, true), kGuestBase + 0x300000);
  EXPECT_TRUE(shadow.write_tracked(moved));
  EXPECT_TRUE(shadow_walk(shadow.cached_root(root), 0x40000000, AccessKind::Load, true).fault);
  ShadowFaultOutcome o;
  EXPECT_EQ(access(root, 0x40007010, AccessKind::Store, true, &o), kGuestBase + moved + 0x10);
  EXPECT_EQ(o.resolution, ShadowFaultResolution::WriteEmulated);
  EXPECT_EQ(access(root, 0x40008000, AccessKind::Store, true), kGuestBase + 0x1008000);
}

TEST_F(ShadowTest, TheCheckerFindsAShadowLeafWithMoreRightsThanTheGuest) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K, {false, true, true, false});
  ASSERT_TRUE(access(root, 0x400000, AccessKind::Load, true));
  EXPECT_TRUE(shadow.check().empty());
  // Corrupt the shadow leaf behind the hypervisor's back.
  Addr table = shadow.cached_root(root);
  for (unsigned level = 4; level > 1; --level) table = host.read64(table + 8 * table_index(0x400000, level)) & pte::kAddressMask;
  const Addr slot = table + 8 * table_index(0x400000, 1);
  host.write64(slot, host.read64(slot) | pte::kWritable);
  const auto problems = shadow.check();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems.front().find("written without a fault"), std::string::npos);
  EXPECT_THROW(shadow.load_cr3(0, root), std::runtime_error);  // checking is on
}

// Random guest activity: maps, remaps, protections, unmaps, INVLPGs and switches between
// address spaces, with accesses of every kind. The shadow must give exactly the guest's
// translation (or the guest's fault) every time, and the checker runs after every step. With
// `flush_after_changes` the guest keeps the TLB rules: an INVLPG after every change of an
// entry (what out-of-sync leaf tables rely on).
struct ActivityTally {
  unsigned translated = 0, faults = 0;
};

// One step of random guest activity over `spaces`; `step` names it in failures.
void random_step(ShadowRig& t, std::mt19937_64& rng, const std::vector<Addr>& spaces, Addr pages,
                 bool flush_after_changes, int step, ActivityTally& tally) {
  const auto pick = [&](Addr n) { return static_cast<Addr>(rng() % n); };
  const Addr cr3 = spaces[pick(spaces.size())];
  const Addr va = 0x400000 + pick(pages) * kPageSize4K + (pick(2) ? 0x40000000 : 0) + pick(512) * 8;
  const Addr page = va & ~Addr{0xfff};
  bool changed = true;
  switch (pick(8)) {
    case 0:
      t.guest.map(cr3, page, 0x100000 + pick(4096) * kPageSize4K, kPageSize4K, {pick(3) != 0, pick(4) != 0, true, false});
      break;
    case 1: t.guest.unmap(cr3, page); break;
    case 2: t.guest.protect(cr3, page, {pick(2) != 0, true, true, false}); break;
    case 3: t.shadow.invlpg(cr3, va); break;
    default: {
      changed = false;
      const auto kind = static_cast<AccessKind>(pick(3));
      const bool user = pick(4) != 0;
      const Translation expected = t.guest_walk(cr3, va, kind, user);
      const auto got = t.access(cr3, va, kind, user);
      if (expected.fault) {
        EXPECT_FALSE(got) << "step " << step;
        ++tally.faults;
      } else {
        ASSERT_TRUE(got) << "step " << step;
        EXPECT_EQ(*got, kGuestBase + expected.physical_address) << "step " << step;
        ++tally.translated;
      }
    }
  }
  if (changed && flush_after_changes) t.shadow.invlpg(cr3, va);
}

// Random guest activity: maps, remaps, protections, unmaps, INVLPGs and switches between
// address spaces, with accesses of every kind. The shadow must give exactly the guest's
// translation (or the guest's fault) every time, and the checker runs after every step. With
// `flush_after_changes` the guest keeps the TLB rules: an INVLPG after every change of an
// entry (what out-of-sync leaf tables rely on).
void random_guest_activity(ShadowTest& t, bool flush_after_changes, unsigned space_count = 3, Addr pages = 64) {
  std::mt19937_64 rng(7);
  std::vector<Addr> spaces{t.root};
  while (spaces.size() < space_count) spaces.push_back(t.guest.new_root());
  ActivityTally tally;
  for (int step = 0; step < 4000; ++step) {
    random_step(t, rng, spaces, pages, flush_after_changes, step, tally);
    const auto problems = t.shadow.check();  // after every step, not only at synchronization points
    ASSERT_TRUE(problems.empty()) << "step " << step << ": " << problems.front();
  }
  EXPECT_GT(tally.translated, 300u);
  EXPECT_GT(tally.faults, 100u);
  EXPECT_GT(t.shadow.entries_zapped.count(), 100u);
  EXPECT_GT(t.shadow.checks.count(), 400u);  // the INVLPGs and CR3 loads checked on their own
}

// A checkpoint in the middle of random activity: a shadow restored into another instance (with
// host memory and both frame allocators) goes on exactly as the one that saved it: the same
// statistics, the same shadow state and the same host memory after as many steps again.
void restored_shadow_goes_on_as_the_saved_one(ShadowRig& a, ShadowRig& b, bool flush_after_changes) {
  std::mt19937_64 rng(11);
  std::vector<Addr> spaces{a.root};  // more than the root cache holds: roots evicted and rebuilt
  while (spaces.size() < 6) spaces.push_back(a.guest.new_root());
  ActivityTally tally;
  for (int step = 0; step < 1500; ++step) random_step(a, rng, spaces, 64, flush_after_changes, step, tally);
  StateWriter saved;
  a.host.save_state(saved);
  a.host_frames.save_state(saved);
  a.guest_frames.save_state(saved);
  a.shadow.save_state(saved);
  StateReader in(saved.bytes().data(), saved.bytes().size(), "shadow checkpoint");
  b.host.load_state(in);
  b.host_frames.load_state(in);
  b.guest_frames.load_state(in);
  b.shadow.load_state(in);
  ASSERT_TRUE(in.at_end());
  b.loaded_cr3 = a.loaded_cr3;
  b.loaded_root = a.loaded_root;
  ASSERT_TRUE(b.shadow.check().empty());
  const auto counters = [](const ShadowPageTables& s) {
    return std::vector<std::uint64_t>{s.hidden_faults.count(),  s.guest_faults.count(),  s.writes_emulated.count(),
                                      s.dirty_emulations.count(), s.entries_zapped.count(), s.tables_created.count(),
                                      s.tables_freed.count(),     s.root_misses.count(),   s.roots_evicted.count(),
                                      s.syncs.count(),            s.flood_zaps.count(),    s.write_protects.count()};
  };
  const std::vector<std::uint64_t> a_before = counters(a.shadow), b_before = counters(b.shadow);
  std::mt19937_64 rng_b = rng;
  ActivityTally tally_b;
  for (int step = 1500; step < 3000; ++step) {
    random_step(a, rng, spaces, 64, flush_after_changes, step, tally);
    random_step(b, rng_b, spaces, 64, flush_after_changes, step, tally_b);
  }
  std::vector<std::uint64_t> a_after = counters(a.shadow), b_after = counters(b.shadow);
  for (std::size_t i = 0; i < a_after.size(); ++i) {
    a_after[i] -= a_before[i];
    b_after[i] -= b_before[i];
  }
  EXPECT_EQ(a_after, b_after);
  EXPECT_GT(a_after[5], 10u);  // tables made and freed after the checkpoint: frames reused
  EXPECT_GT(a_after[6], 10u);
  StateWriter end_a, end_b;
  for (auto [t, out] : {std::pair<ShadowRig*, StateWriter*>{&a, &end_a}, {&b, &end_b}}) {
    t->host.save_state(*out);
    t->host_frames.save_state(*out);
    t->shadow.save_state(*out);
  }
  EXPECT_TRUE(end_a.bytes() == end_b.bytes());
}

TEST(ShadowCheckpoint, RestoredShadowGoesOnAsTheSavedOne) {
  ShadowRig a, b;
  restored_shadow_goes_on_as_the_saved_one(a, b, false);
}

TEST(ShadowCheckpoint, RestoredOutOfSyncShadowGoesOnAsTheSavedOne) {
  ShadowRig a(kPageSize4K, 4, true), b(kPageSize4K, 4, true);
  restored_shadow_goes_on_as_the_saved_one(a, b, true);
}

TEST(ShadowCheckpoint, AStateOfOtherPagingLevelsIsRefusedNamingTheField) {
  ShadowRig a;
  StateWriter saved;
  a.shadow.save_state(saved);
  saved.bytes()[4] = 5;  // the levels, after the section tag
  StateReader in(saved.bytes().data(), saved.bytes().size(), "x.ckpt");
  try {
    a.shadow.load_state(in);
    FAIL() << "loaded";
  } catch (const CheckpointError& e) {
    EXPECT_STREQ(e.what(), "x.ckpt: byte 4 (shadow paging levels): expected 4 (this run's guest paging)");
  }
}

TEST_F(ShadowTest, RandomGuestActivityAlwaysTranslatesAsTheGuestsTables) { random_guest_activity(*this, false); }

struct ShadowOutOfSync : ShadowTest {
  ShadowOutOfSync() : ShadowTest(kPageSize4K, 4, true) {}
};

TEST_F(ShadowOutOfSync, LeafTablesAreNotWriteProtectedAndSyncAtTheNextInvlpg) {
  guest.map(root, 0x400000, 0x200000, kPageSize4K);
  ASSERT_EQ(access(root, 0x400000, AccessKind::Load, true), kGuestBase + 0x200000);
  const Addr l1 = guest.lookup(root, 0x400000)->slot & ~Addr{0xfff};
  EXPECT_FALSE(shadow.write_tracked(l1));  // a leaf table: out of sync, not write-protected
  EXPECT_TRUE(shadow.write_tracked(root));  // the root (a level-4 table) is
  guest.map(root, 0x400000, 0x300000, kPageSize4K);  // no trap: the shadow still has the old page
  EXPECT_EQ(shadow.unsync_writes.count(), 1u);
  EXPECT_EQ(shadow_walk(shadow.cached_root(root), 0x400000, AccessKind::Load, true).physical_address,
            kGuestBase + 0x200000);
  shadow.invlpg(root, 0x400000);  // the guest's flush: synchronized
  EXPECT_EQ(shadow.syncs.count(), 1u);
  EXPECT_EQ(access(root, 0x400000, AccessKind::Load, true), kGuestBase + 0x300000);
  // A kernel store to the leaf table needs no emulation.
  guest.map(root, 0x10000000, l1, kPageSize4K, {true, false, false, false});
  ShadowFaultOutcome o;
  EXPECT_EQ(access(root, 0x10000000, AccessKind::Store, false, &o), kGuestBase + l1);
  EXPECT_EQ(shadow.writes_emulated.count(), 0u);
}

TEST_F(ShadowOutOfSync, RandomGuestActivityThatKeepsTheTlbRulesTranslatesAsTheGuestsTables) {
  // One address space over 8 pages: most changes are followed by an access to the page before
  // any CR3 load, so only the INVLPGs synchronize them.
  random_guest_activity(*this, true, 1, 8);
  EXPECT_GT(syncs_seen(), 500u);
}

}  // namespace
}  // namespace virtsim
