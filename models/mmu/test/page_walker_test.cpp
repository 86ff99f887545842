#include "virtsim/mmu/page_walker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "virtsim/memory/direct_port.h"
#include "virtsim/memory/hierarchy_port.h"

namespace virtsim {
namespace {

struct WalkerTest : ::testing::Test {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{Addr{1} << 20, Addr{1} << 32};
  PageTableBuilder builder{memory, frames};
  Addr root = builder.new_root();
  StatRegistry stats;
  PageWalker walker{{nullptr, &stats, "mmu.walker"}};
  DirectMemoryPort port{memory, 100, true};
};

TEST_F(WalkerTest, ReferencesAndCyclesPerPageSize) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  builder.map(root, 0x40000000, 0x80000000, kPageSize1G);
  builder.map(root, 0x600000, 0xa00000, kPageSize2M);
  const auto& a = walker.walk(WalkRequest::linear(root, 0x1008, AccessKind::Load, true), port);
  EXPECT_EQ(a.refs, 4u);
  EXPECT_EQ(a.ad_writes, 4u);  // the first use sets A in all four entries
  EXPECT_EQ(a.cycles, 800u);   // four reads and four writes at 100 cycles
  EXPECT_EQ(a.translation.physical_address, 0x9008u);
  EXPECT_EQ(port.reads.front(), root);  // PML4 entry 0 of the root table
  // Second walk: A is set now, so only reads.
  EXPECT_EQ(walker.walk(WalkRequest::linear(root, 0x1008, AccessKind::Load, true), port).cycles, 400u);
  EXPECT_EQ(walker.walk(WalkRequest::linear(root, 0x600010, AccessKind::Load, true), port).refs, 3u);
  EXPECT_EQ(walker.walk(WalkRequest::linear(root, 0x40000010, AccessKind::Load, true), port).refs, 2u);
  EXPECT_EQ(walker.walks.count(), 4u);
  EXPECT_EQ(walker.refs.count(), 13u);
  EXPECT_EQ(walker.refs_by_level.counts(), (std::vector<std::uint64_t>{0, 4, 4, 3, 2}));
  EXPECT_EQ(port.reads.size(), 13u);  // nothing read behind the port's back
}

TEST_F(WalkerTest, AccessedAndDirtyAreRealEntryWrites) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  walker.walk(WalkRequest::linear(root, 0x1000, AccessKind::Load, true), port);
  const auto leaf_slot = port.reads.back();
  EXPECT_TRUE(memory.read64(leaf_slot) & pte::kAccessed);
  EXPECT_FALSE(memory.read64(leaf_slot) & pte::kDirty);
  const auto& store = walker.walk(WalkRequest::linear(root, 0x1000, AccessKind::Store, true), port);
  EXPECT_EQ(store.ad_writes, 1u);
  EXPECT_TRUE(store.translation.dirty);
  EXPECT_TRUE(memory.read64(leaf_slot) & pte::kDirty);
  EXPECT_EQ(walker.ad_writes.count(), 5u);
}

TEST_F(WalkerTest, FaultStopsAtTheMissingLevel) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  const auto& o = walker.walk(WalkRequest::linear(root, 0x3000, AccessKind::Store, true), port);
  EXPECT_TRUE(o.translation.fault);
  EXPECT_EQ(o.translation.fault_kind, FaultKind::PageFault);
  EXPECT_EQ(o.translation.error_code, pf::kWrite | pf::kUser);
  EXPECT_EQ(o.refs, 4u);
  EXPECT_EQ(o.ad_writes, 0u);  // a faulting walk sets no flags
  const auto& far = walker.walk(WalkRequest::linear(root, 0x7f0000000000, AccessKind::Load, true), port);
  EXPECT_EQ(far.refs, 1u);
  EXPECT_EQ(walker.faults.count(), 2u);
  EXPECT_EQ(walker.faults_by_kind.at(0), 2u);
}

TEST_F(WalkerTest, StepByStepStateMachine) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  walker.start(WalkRequest::linear(root, 0x1000, AccessKind::Load, true));
  unsigned steps = 0;
  while (walker.state() == PageWalker::State::GuestEntry) {
    walker.step(port);
    ++steps;
    EXPECT_EQ(port.reads.size(), steps);  // one reference per step
  }
  EXPECT_EQ(steps, 4u);
  EXPECT_EQ(walker.state(), PageWalker::State::Done);
}

TEST_F(WalkerTest, ReservedBitsFaultWithRsvd) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  builder.map(root, 0x40000000, 0x9000, kPageSize4K);
  PagingControls c;
  c.cr3 = root;
  c.max_phys_bits = 46;
  ASSERT_TRUE(builder.set_raw_entry(root, 0x1000, 1, 0x9000 | pte::kPresent | (Addr{1} << 47)));
  auto request = WalkRequest::linear(root, 0x1000, AccessKind::Load, false);
  request.guest = c;
  const auto& o = walker.walk(request, port);
  EXPECT_EQ(o.translation.error_code, pf::kPresent | pf::kReserved);
  // EFER.NXE = 0: XD is a reserved bit.
  c.max_phys_bits = 52;
  c.no_execute = false;
  ASSERT_TRUE(builder.set_raw_entry(root, 0x40000000, 1, 0x9000 | pte::kPresent | pte::kExecuteDisable));
  request.guest = c;
  request.va = 0x40000000;
  EXPECT_EQ(walker.walk(request, port).translation.error_code, pf::kPresent | pf::kReserved);
  // PS in a PML4E is reserved.
  const Addr slot = root;  // PML4 entry 0
  memory.write64(slot, memory.read64(slot) | pte::kPageSize);
  request.guest.no_execute = true;
  request.va = 0x1000;
  EXPECT_EQ(walker.walk(request, port).translation.error_code, pf::kPresent | pf::kReserved);
}

// ---- 2-D set-ups ----

// Host memory with nested tables that map guest-physical [0, 64 MiB) to host-physical
// [kHostBase, kHostBase + 64 MiB) with 4 KiB (or 2 MiB) pages, and guest tables of one format
// built in guest-physical memory through that mapping.
struct NestedSetup {
  static constexpr Addr kHostBase = Addr{1} << 30;
  static constexpr Addr kGuestSize = Addr{64} << 20;
  PhysicalMemory host{Addr{1} << 33};
  FrameAllocator host_frames{Addr{1} << 20, kHostBase};
  FrameAllocator guest_frames{Addr{1} << 20, kGuestSize};
  PageTableBuilder nested_builder;
  Addr nested_root;
  PageTableBuilder guest_builder;
  Addr guest_root;
  PagingControls guest;
  NestedControls nested;

  NestedSetup(TableFormat guest_format, TableFormat nested_format, Addr nested_page = kPageSize4K)
      : nested_builder(host, host_frames, nested_format),
        nested_root(nested_builder.new_root()),
        guest_builder(MemoryView::of(host, kHostBase), guest_frames, guest_format),
        guest_root(0) {
    for (Addr gpa = 0; gpa < kGuestSize; gpa += nested_page) nested_builder.map(nested_root, gpa, gpa + kHostBase, nested_page);
    guest_root = guest_builder.new_root();
    guest.format = guest_format;
    guest.cr3 = guest_root;
    nested.format = nested_format;
    nested.root = nested_root;
  }
  std::function<std::uint64_t(Addr, unsigned)> reader() {
    return [this](Addr a, unsigned bytes) {
      std::uint64_t v = 0;
      host.read(a, &v, bytes);
      return v;
    };
  }
  // PAE guests: the PDPTE registers, loaded as MOV to CR3 would, through the nested mapping.
  void load_pdptes() {
    if (guest.format == TableFormat::Pae)
      load_pae_pdptes([this](Addr gpa, unsigned bytes) { return reader()(gpa + kHostBase, bytes); }, guest);
  }
  WalkRequest request(Addr va, AccessKind kind = AccessKind::Load, bool user = true) {
    WalkRequest r;
    r.guest = guest;
    r.nested = true;
    r.nested_controls = nested;
    r.va = va;
    r.kind = kind;
    r.user = user;
    return r;
  }
};

struct FormatPair {
  TableFormat guest, nested;
};

class TwoDimensional : public ::testing::TestWithParam<FormatPair> {};

// With every cache off, a 2-D walk makes exactly n*m + n + m references (24 for 4 over 4, 35
// for 5 over 5; PAE guests read no PDPTE, so n = 2), and its latency is the sum of the
// references' latencies.
TEST_P(TwoDimensional, AnalyticReferenceCountWithCachesOff) {
  NestedSetup s(GetParam().guest, GetParam().nested);
  s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize4K);
  s.load_pdptes();
  PageWalker walker({});
  DirectMemoryPort port(s.host, 37, true);
  const auto& first = walker.walk(s.request(0x400abc), port);
  ASSERT_FALSE(first.translation.fault) << describe(first.translation);
  EXPECT_EQ(first.translation.physical_address, 0x800abc + NestedSetup::kHostBase);
  EXPECT_EQ(first.translation.guest_physical_address, 0x800abcu);
  const unsigned expected = max_walk_references(GetParam().guest, GetParam().nested);
  EXPECT_EQ(first.refs, expected);
  EXPECT_EQ(first.cycles, 37u * (first.refs + first.ad_writes));
  // Once the accessed flags are set, the walk is pure reads.
  const auto& second = walker.walk(s.request(0x400abc), port);
  EXPECT_EQ(second.refs, expected);
  EXPECT_EQ(second.ad_writes, 0u);
  EXPECT_EQ(second.cycles, 37u * expected);
  EXPECT_EQ(walker.grid_refs.value(), 2.0 * expected);
}

INSTANTIATE_TEST_SUITE_P(Formats, TwoDimensional,
                         ::testing::Values(FormatPair{TableFormat::Level4, TableFormat::Ept4},
                                           FormatPair{TableFormat::Level5, TableFormat::Ept5},
                                           FormatPair{TableFormat::Level4, TableFormat::Ept5},
                                           FormatPair{TableFormat::Level5, TableFormat::Level4},
                                           FormatPair{TableFormat::Pae, TableFormat::Ept4},
                                           FormatPair{TableFormat::Bits32, TableFormat::Level4},
                                           FormatPair{TableFormat::Level4, TableFormat::Level4}));

TEST(TwoDimensionalWalk, FourOverFourIs24AndFiveOverFiveIs35) {
  EXPECT_EQ(max_walk_references(TableFormat::Level4, TableFormat::Ept4), 24u);
  EXPECT_EQ(max_walk_references(TableFormat::Level5, TableFormat::Ept5), 35u);
  EXPECT_EQ(max_walk_references(TableFormat::Level4), 4u);
}

TEST(TwoDimensionalWalk, LargePagesShortenEitherDimension) {
  {  // guest 2 MiB page: n = 3 -> 3*4 + 3 + 4 = 19
    NestedSetup s(TableFormat::Level4, TableFormat::Ept4);
    s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize2M);
    PageWalker walker({});
    DirectMemoryPort port(s.host, 1);
    const auto& o = walker.walk(s.request(0x412345), port);
    EXPECT_EQ(o.refs, 19u);
    EXPECT_EQ(o.translation.page_shift, 12u);  // the nested mapping is 4 KiB: the TLB caches 4 KiB
  }
  {  // nested 2 MiB pages: m = 3 -> 4*3 + 4 + 3 = 19
    NestedSetup s(TableFormat::Level4, TableFormat::Ept4, kPageSize2M);
    s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize2M);
    PageWalker walker({});
    DirectMemoryPort port(s.host, 1);
    const auto& o = walker.walk(s.request(0x412345), port);
    EXPECT_EQ(o.refs, 3u * 3 + 3 + 3);  // both: n = 3, m = 3
    EXPECT_EQ(o.translation.page_shift, 21u);
    s.guest_builder.map(s.guest_root, 0x1000, 0x2000, kPageSize4K);
    EXPECT_EQ(walker.walk(s.request(0x1000), port).refs, 4u * 3 + 4 + 3);
  }
}

TEST(TwoDimensionalWalk, GridCountsEveryCell) {
  NestedSetup s(TableFormat::Level4, TableFormat::Ept4);
  s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize4K);
  StatRegistry stats;
  PageWalker walker({nullptr, &stats, "w"});
  DirectMemoryPort port(s.host, 1);
  walker.walk(s.request(0x400000), port);
  // Rows gL4..gL1 and gPA (1..5), nested columns nL4..nL1 (1..4), guest entry column 5.
  for (std::size_t row = 1; row <= 5; ++row) {
    for (std::size_t col = 1; col <= 4; ++col) EXPECT_EQ(walker.grid_refs.at(row, col), 1u) << row << "," << col;
    EXPECT_EQ(walker.grid_refs.at(row, 5), row == 5 ? 0u : 1u);
  }
  EXPECT_EQ(walker.grid_refs.at(0, 0), 0u);
}

TEST(TwoDimensionalWalk, NestedTlbAndWalkCachesCutReferences) {
  NestedSetup s(TableFormat::Level4, TableFormat::Ept4);
  s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize4K);
  s.guest_builder.map(s.guest_root, 0x401000, 0x900000, kPageSize4K);
  WalkerConfig config;
  config.pwc = {true, false, 24, 24, 2};
  config.nested_pwc = {true, false, 24, 24, 2};
  config.nested_tlb = {true, true, 16, 16, 2};
  PageWalker walker({}, config);
  DirectMemoryPort port(s.host, 100);
  const auto& cold = walker.walk(s.request(0x400000), port);
  // The guest tables sit in one 2 MiB region of guest-physical memory: after the first nested
  // walk (4), each table's nested walk finds nL4..nL2 in the nested PWC (1 each, 3 tables);
  // plus 4 guest entries; the data page is in another 2 MiB region (nL2 and nL1: 2).
  EXPECT_EQ(cold.refs, 4u + 3 * 1 + 4 + 2);
  const auto& warm = walker.walk(s.request(0x401000), port);
  // Guest PML4E..PDE from the guest PWC, their gPAs from the nested TLB; the PTE read (1)
  // plus a nested walk for the new data page whose upper levels hit the nested PWC (1).
  EXPECT_EQ(warm.refs, 2u);
  EXPECT_EQ(warm.translation.physical_address, 0x900000 + NestedSetup::kHostBase);
  EXPECT_EQ(warm.cycles, 100u * (warm.refs + warm.ad_writes) + 2u * warm.cache_hits);
  EXPECT_GT(walker.nested_tlb.hits.count(), 0u);
  walker.flush_nested_caches();
  walker.flush_guest_caches();
  EXPECT_EQ(walker.walk(s.request(0x401000), port).refs, 4u + 3 * 1 + 4 + 2);
}

// A nested TLB entry covers its whole nested page: with 2 MiB nested pages, guest tables and
// data pages that share a 2 MiB guest-physical region share one entry.
TEST(TwoDimensionalWalk, NestedTlbEntryCoversALargeNestedPage) {
  NestedSetup s(TableFormat::Level4, TableFormat::Ept4, kPageSize2M);
  s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize4K);
  s.guest_builder.map(s.guest_root, 0x401000, 0x9ff000, kPageSize4K);  // same 2 MiB nested page
  WalkerConfig config;
  config.nested_tlb = {true, true, 16, 16, 2};
  PageWalker walker({}, config);
  DirectMemoryPort port(s.host, 100);
  // The four guest tables sit in the first 2 MiB of guest-physical memory: one miss, three hits;
  // the data page's 2 MiB region misses.
  walker.walk(s.request(0x400000), port);
  EXPECT_EQ(walker.nested_tlb.hits.count(), 3u);
  EXPECT_EQ(walker.nested_tlb.misses.count(), 2u);
  // Every translation of the second walk hits, the data page's through the entry the first
  // walk's data page filled.
  const auto& warm = walker.walk(s.request(0x401008), port);
  EXPECT_EQ(walker.nested_tlb.hits.count(), 3u + 5);
  EXPECT_EQ(walker.nested_tlb.misses.count(), 2u);
  EXPECT_EQ(warm.refs, 4u);  // the guest entries only
  EXPECT_EQ(warm.translation.physical_address, NestedSetup::kHostBase + 0x9ff008);
  EXPECT_EQ(warm.translation.page_shift, 12u);
}

TEST(TwoDimensionalWalk, EptViolationOnTheFinalAccessAndOnAGuestTable) {
  NestedSetup s(TableFormat::Level4, TableFormat::Ept4);
  s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize4K);
  s.guest_builder.map(s.guest_root, 0x401000, NestedSetup::kGuestSize + 0x5000, kPageSize4K);  // gPA unmapped
  PageWalker walker({});
  DirectMemoryPort port(s.host, 1);
  const auto& o = walker.walk(s.request(0x401010, AccessKind::Store), port);
  EXPECT_EQ(o.translation.fault_kind, FaultKind::EptViolation);
  EXPECT_EQ(o.translation.guest_physical_address, NestedSetup::kGuestSize + 0x5010);
  EXPECT_EQ(o.translation.exit_qualification, ept::qual::kWrite | ept::qual::kLinearValid | ept::qual::kFinalTranslation);
  // The data page read-only in EPT: a store violates with the effective rights "readable".
  ASSERT_TRUE(s.nested_builder.protect(s.nested_root, 0x800000, MappingFlags{false, true, false, false}));
  const auto& ro = walker.walk(s.request(0x400000, AccessKind::Store), port);
  EXPECT_EQ(ro.translation.fault_kind, FaultKind::EptViolation);
  EXPECT_EQ(ro.translation.exit_qualification, ept::qual::kWrite | ept::qual::kReadable | ept::qual::kLinearValid |
                                                   ept::qual::kFinalTranslation);
  // A write-only EPT entry is a misconfiguration, not a violation.
  ASSERT_TRUE(s.nested_builder.set_raw_entry(s.nested_root, 0x800000, 1,
                                              (0x800000 + NestedSetup::kHostBase) | ept::kWrite | (6 << 3)));
  EXPECT_EQ(walker.walk(s.request(0x400000), port).translation.fault_kind, FaultKind::EptMisconfig);
  // Every result equals the functional reference.
  for (Addr va : {Addr{0x400000}, Addr{0x401010}, Addr{0x402000}})
    for (auto kind : {AccessKind::Load, AccessKind::Store, AccessKind::Fetch}) {
      const auto expected = reference_translate_2d(s.reader(), s.guest, s.nested, va, kind, true);
      EXPECT_TRUE(same_result(walker.walk(s.request(va, kind), port).translation, expected)) << std::hex << va;
    }
}

TEST(TwoDimensionalWalk, NestedPageFaultExitInfo) {
  NestedSetup s(TableFormat::Level4, TableFormat::Level4);
  s.guest_builder.map(s.guest_root, 0x400000, NestedSetup::kGuestSize + 0x3000, kPageSize4K);
  PageWalker walker({});
  DirectMemoryPort port(s.host, 1);
  const auto& o = walker.walk(s.request(0x400008, AccessKind::Fetch), port);
  EXPECT_EQ(o.translation.fault_kind, FaultKind::NestedPageFault);
  EXPECT_EQ(o.translation.exit_qualification, pf::kUser | pf::kFetch | pf::kNpfFinalTranslation);
  EXPECT_EQ(o.translation.guest_physical_address, NestedSetup::kGuestSize + 0x3008);
  // A guest table outside the nested mapping: EXITINFO1 bit 33.
  s.guest.cr3 = NestedSetup::kGuestSize + 0x10000;
  const auto& table = walker.walk(s.request(0x400008), port);
  EXPECT_EQ(table.translation.fault_kind, FaultKind::NestedPageFault);
  EXPECT_EQ(table.translation.exit_qualification, pf::kUser | pf::kNpfGuestTableAccess);
  EXPECT_EQ(table.refs, 3u);  // nested PML4E and PDPTE present, the PDE for 64 MiB absent
}

TEST(TwoDimensionalWalk, GuestPageFaultComesBeforeNestedChecks) {
  NestedSetup s(TableFormat::Level4, TableFormat::Ept4);
  s.guest_builder.map(s.guest_root, 0x400000, 0x800000, kPageSize4K, MappingFlags{false, true, true, false});
  PageWalker walker({});
  DirectMemoryPort port(s.host, 1);
  const auto& o = walker.walk(s.request(0x400000, AccessKind::Store), port);
  EXPECT_EQ(o.translation.fault_kind, FaultKind::PageFault);
  EXPECT_EQ(o.translation.error_code, pf::kPresent | pf::kWrite | pf::kUser);
  EXPECT_EQ(o.refs, 4u * 4 + 4);  // the guest walk completed, the final nested walk never ran
}

// ---- differential tests: random tables in every mode, walker vs functional reference ----

struct ModeCase {
  TableFormat guest;
  TableFormat nested_format;
  bool prefix_caches;
};

class WalkerDifferential : public ::testing::TestWithParam<ModeCase> {};

TEST_P(WalkerDifferential, AgreesWithTheReference) {
  const ModeCase m = GetParam();
  NestedSetup s(m.guest, m.nested_format);
  std::mt19937_64 rng(7);
  const FormatInfo& info = format_info(m.guest);
  const Addr space = info.va_bits == 32 ? (Addr{1} << 32) : (Addr{1} << 34);
  std::vector<Addr> sizes{kPageSize4K};
  if (m.guest == TableFormat::Bits32) sizes.push_back(kPageSize4M);
  else sizes.push_back(kPageSize2M);
  if (m.guest == TableFormat::Level4 || m.guest == TableFormat::Level5) sizes.push_back(kPageSize1G);
  std::vector<Addr> mapped;
  auto map_random = [&] {
    const Addr size = sizes[rng() % 8 == 0 ? rng() % sizes.size() : 0];
    const Addr va = (rng() % space) & ~(size - 1);
    // Mostly inside the nested mapping, sometimes outside (nested faults).
    const Addr gpa_space = rng() % 16 == 0 ? NestedSetup::kGuestSize * 2 : NestedSetup::kGuestSize;
    const Addr pa = (rng() % gpa_space) & ~(size - 1);
    s.guest_builder.map(s.guest_root, va, pa, size,
                        MappingFlags{rng() % 4 != 0, rng() % 4 != 0, rng() % 4 != 0, rng() % 8 == 0});
    mapped.push_back(va);
  };
  for (int i = 0; i < 1500; ++i) map_random();
  // some nested pages read-only or no-execute
    for (int i = 0; i < 200; ++i)
      s.nested_builder.protect(s.nested_root, (rng() % NestedSetup::kGuestSize) & ~(kPageSize4K - 1),
                               MappingFlags{rng() % 2 == 0, true, rng() % 2 == 0, false});
  s.load_pdptes();

  WalkerConfig config;
  config.pwc = {true, m.prefix_caches, 32, 8, 2};
  config.nested_pwc = {true, m.prefix_caches, 32, 8, 2};
  config.nested_tlb = {true, true, 16, 16, 2};
  PageWalker walker({}, config);
  DirectMemoryPort port(s.host, 1);
  const auto read = s.reader();
  for (int i = 0; i < 60000; ++i) {
    if (i % 5000 == 4999) {  // change the tables, then invalidate as software must
      map_random();
      s.guest_builder.unmap(s.guest_root, mapped[rng() % mapped.size()]);
      s.load_pdptes();
      walker.flush_guest_caches();
      walker.flush_nested_caches();
    }
    // Half the accesses near mapped pages, half anywhere.
    const Addr va = i % 2 ? mapped[rng() % mapped.size()] + (rng() % kPageSize2M) : rng() % space;
    const auto kind = static_cast<AccessKind>(rng() % 3);
    const bool user = rng() % 2;
    const auto expected = reference_translate_2d(read, s.guest, s.nested, va, kind, user);
    const auto& got = walker.walk(s.request(va, kind, user), port).translation;
    ASSERT_TRUE(same_result(got, expected))
        << "access " << i << " va " << to_hex(va) << ": walker " << describe(got) << ", reference " << describe(expected);
  }
  EXPECT_GT(walker.faults.count(), 0u);
  EXPECT_LT(walker.faults.count(), walker.walks.count());
}

INSTANTIATE_TEST_SUITE_P(
    Modes, WalkerDifferential,
    ::testing::Values(ModeCase{TableFormat::Level4, TableFormat::Ept4, false},
                      ModeCase{TableFormat::Level4, TableFormat::Ept4, true},
                      ModeCase{TableFormat::Level5, TableFormat::Ept5, false},
                      ModeCase{TableFormat::Pae, TableFormat::Level4, false},
                      ModeCase{TableFormat::Bits32, TableFormat::Ept4, true},
                      ModeCase{TableFormat::Level4, TableFormat::Level4, true}));

// 1-D differential over every paging mode with the page walk cache on.
class OneDimensionalDifferential : public ::testing::TestWithParam<std::pair<TableFormat, bool>> {};

TEST_P(OneDimensionalDifferential, AgreesWithTheReference) {
  const auto [format, prefix] = GetParam();
  PhysicalMemory memory{Addr{1} << 41};
  FrameAllocator frames{Addr{1} << 20, Addr{1} << 31};
  PageTableBuilder builder{memory, frames, format};
  const Addr root = builder.new_root();
  std::mt19937_64 rng(11);
  const FormatInfo& info = format_info(format);
  const Addr space = info.va_bits == 32 ? (Addr{1} << 32) : (Addr{1} << 36);
  std::vector<Addr> sizes{kPageSize4K, format == TableFormat::Bits32 ? kPageSize4M : kPageSize2M};
  if (format == TableFormat::Level4 || format == TableFormat::Level5) sizes.push_back(kPageSize1G);
  std::vector<Addr> mapped;
  auto map_random = [&] {
    const Addr size = sizes[rng() % 6 == 0 ? rng() % sizes.size() : 0];
    const Addr va = (rng() % space) & ~(size - 1);
    const Addr pa_space = format == TableFormat::Bits32 && size == kPageSize4K ? (Addr{1} << 32) : (Addr{1} << 40);
    const Addr pa = (rng() % pa_space) & ~(size - 1);
    builder.map(root, va, pa, size, MappingFlags{rng() % 4 != 0, rng() % 4 != 0, rng() % 4 != 0, rng() % 8 == 0});
    mapped.push_back(va);
  };
  for (int i = 0; i < 2000; ++i) map_random();
  PagingControls c;
  c.format = format;
  c.cr3 = root;
  c.write_protect = true;
  const auto read = [&memory](Addr a, unsigned bytes) {
    std::uint64_t v = 0;
    memory.read(a, &v, bytes);
    return v;
  };
  if (format == TableFormat::Pae) {
    ASSERT_TRUE(load_pae_pdptes(read, c));
  }
  WalkerConfig config;
  config.pwc = {true, prefix, 32, 4, 2};
  PageWalker walker({}, config);
  DirectMemoryPort port(memory, 1);
  for (int i = 0; i < 100000; ++i) {
    if (i % 10000 == 9999) {
      map_random();
      builder.unmap(root, mapped[rng() % mapped.size()]);
      c.write_protect = rng() % 2;  // CR0.WP both ways
      if (format == TableFormat::Pae) {
    ASSERT_TRUE(load_pae_pdptes(read, c));
  }
      walker.flush_guest_caches();
    }
    const Addr va = i % 2 ? mapped[rng() % mapped.size()] + (rng() % kPageSize2M) : rng() % space;
    const auto kind = static_cast<AccessKind>(rng() % 3);
    const bool user = rng() % 2;
    WalkRequest request;
    request.guest = c;
    request.va = va;
    request.kind = kind;
    request.user = user;
    const auto expected = reference_translate(read, c, va, kind, user);
    const auto& got = walker.walk(request, port).translation;
    ASSERT_TRUE(same_result(got, expected))
        << "access " << i << " va " << to_hex(va) << ": walker " << describe(got) << ", reference " << describe(expected);
  }
  EXPECT_GT(walker.faults.count(), 0u);
  EXPECT_LT(walker.faults.count(), walker.walks.count());
  EXPECT_GT(walker.pwc.hits.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, OneDimensionalDifferential,
                         ::testing::Values(std::pair{TableFormat::Bits32, false}, std::pair{TableFormat::Bits32, true},
                                           std::pair{TableFormat::Pae, false}, std::pair{TableFormat::Pae, true},
                                           std::pair{TableFormat::Level4, false},
                                           std::pair{TableFormat::Level4, true},
                                           std::pair{TableFormat::Level5, false},
                                           std::pair{TableFormat::Level5, true}));

// A walk cache agrees with a plain per-set LRU list of (key, tag) pairs for every geometry:
// fully associative of 16, 24 and 32 entries (hash-compared), 40 (scanned) and 4 sets of 8,
// on a random stream of lookups, fills and context flushes. A fill of a key the cache does not
// hold goes through fill_missed() (the walker's fill after a missed lookup) every other time.
TEST(WalkCache, AgreesWithAPlainLruListForEveryGeometry) {
  struct Geometry { unsigned entries, ways; };
  for (const Geometry g : {Geometry{16, 16}, Geometry{24, 24}, Geometry{32, 32}, Geometry{40, 40}, Geometry{32, 8}}) {
    StatRegistry stats;
    WalkCache cache({nullptr, &stats, "pwc"}, {true, true, g.entries, g.ways, 2});
    const unsigned sets = g.entries / g.ways;
    struct Line { std::uint64_t key; std::uint32_t tag; Addr value; };
    std::vector<std::vector<Line>> lru(sets);  // most recent last
    std::mt19937_64 rng(g.entries * 131 + g.ways);
    for (int i = 0; i < 20000; ++i) {
      const std::uint64_t key = rng() % (g.entries * 2);
      const auto tag = static_cast<std::uint32_t>(rng() % 2);
      auto& set = lru[key % sets];
      const auto it = std::find_if(set.begin(), set.end(), [&](const Line& l) { return l.key == key && l.tag == tag; });
      const unsigned action = rng() % 16;
      if (action == 0) {  // a context's entries go
        cache.flush_tag(tag);
        for (auto& s : lru) s.erase(std::remove_if(s.begin(), s.end(), [&](const Line& l) { return l.tag == tag; }), s.end());
      } else if (action < 8) {
        const auto* hit = cache.lookup(key, tag);
        ASSERT_EQ(hit != nullptr, it != set.end()) << g.entries << "x" << g.ways << " step " << i;
        if (hit) {
          ASSERT_EQ(hit->address, it->value);
          const Line l = *it;
          set.erase(it);
          set.push_back(l);
        }
      } else {
        const Addr value = rng();
        if (it == set.end() && action % 2) cache.fill_missed(key, tag, {value, 0});
        else cache.fill(key, tag, {value, 0});
        if (it != set.end()) set.erase(it);
        else if (set.size() == g.ways) set.erase(set.begin());
        set.push_back({key, tag, value});
      }
    }
  }
}

// A 4-level walk through the hierarchy: its latency is exactly the sum of what each of its
// references cost, and page-table entries and data share the caches.
TEST(WalkThroughCaches, WalkLatencyIsTheSumOfItsReferences) {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{Addr{1} << 20, Addr{1} << 32};
  PageTableBuilder builder{memory, frames};
  const Addr root = builder.new_root();
  builder.map(root, 0x400000, 0x800000, kPageSize4K);
  Cache l1({}, CacheConfig{true, 32, 8, 64, 4, "lru", 1}), l2({}, CacheConfig{true, 256, 4, 64, 7, "lru", 1}),
      llc({}, CacheConfig{true, 2048, 16, 64, 33, "lru", 1});
  CacheHierarchy h(l1, l2, llc, 100, false);
  HierarchyMemoryPort port(memory, h);
  PageWalker walker({});
  const auto& cold = walker.walk(WalkRequest::linear(root, 0x400000, AccessKind::Load, true), port);
  // Four reads from DRAM, then four accessed-flag writes that hit the L1D lines just filled.
  EXPECT_EQ(cold.cycles, 4u * (4 + 7 + 33 + 100) + 4u * 4);
  const auto& warm = walker.walk(WalkRequest::linear(root, 0x400000, AccessKind::Load, true), port);
  EXPECT_EQ(warm.cycles, 4u * 4);
  EXPECT_EQ(walker.grid_l1_hits.value(), 4.0);
  EXPECT_EQ(walker.grid_dram.value(), 4.0);
  // Data evicting the page-table lines: a sweep over 64 KiB of the same L1D sets.
  for (Addr a = 0; a < 64 * 1024; a += 64) h.access(0x10000000 + a, false, Requester::Data);
  const auto& after = walker.walk(WalkRequest::linear(root, 0x400000, AccessKind::Load, true), port);
  EXPECT_EQ(after.cycles, 4u * (4 + 7));  // the entries now come from the L2
  EXPECT_EQ(l1.misses_by_requester.at(1), 8u);
}

}  // namespace
}  // namespace virtsim
