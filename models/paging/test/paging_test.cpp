#include "virtsim/paging/paging.h"

#include <gtest/gtest.h>

namespace virtsim {
namespace {

struct PagingTest : ::testing::Test {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{Addr{1} << 20, Addr{1} << 32};
  PageTableBuilder builder{memory, frames};
  Addr root = builder.new_root();
};

TEST_F(PagingTest, FourKilobytePageWalksFourRealEntries) {
  builder.map(root, 0x7f0000001000, 0x5000000, kPageSize4K);
  const auto t = reference_translate(memory, root, 0x7f0000001abc, AccessKind::Load, true);
  ASSERT_FALSE(t.fault);
  EXPECT_EQ(t.physical_address, 0x5000abcu);
  EXPECT_EQ(t.page_shift, 12u);
  // The entries are where the SDM puts them: PML4 index 254 for 0x7f00_0000_0000.
  const std::uint64_t pml4e = memory.read64(root + 8 * 254);
  EXPECT_TRUE(pml4e & pte::kPresent);
  EXPECT_EQ(table_index(0x7f0000001000, 4), 254u);
  EXPECT_EQ(builder.tables_allocated(), 4u);  // root + PDPT + PD + PT
  EXPECT_EQ(builder.entry_writes(), 4u);
}

TEST_F(PagingTest, LargePagesStopTheWalkEarly) {
  builder.map(root, 0x40000000, 0x80000000, kPageSize1G);
  builder.map(root, 0x200000, 0x1400000, kPageSize2M);
  const auto g = reference_translate(memory, root, 0x7654321f, AccessKind::Load, true);
  ASSERT_FALSE(g.fault);
  EXPECT_EQ(g.page_shift, 30u);
  EXPECT_EQ(g.physical_address, 0x80000000u + 0x3654321fu);
  const auto m = reference_translate(memory, root, 0x2abcde, AccessKind::Store, true);
  ASSERT_FALSE(m.fault);
  EXPECT_EQ(m.page_shift, 21u);
  EXPECT_EQ(m.physical_address, 0x14abcdeu);
  EXPECT_TRUE(memory.read64(root) & pte::kPresent);
}

TEST_F(PagingTest, NotPresentFaultCodes) {
  const auto load = reference_translate(memory, root, 0x1000, AccessKind::Load, true);
  EXPECT_TRUE(load.fault);
  EXPECT_EQ(load.error_code, pf::kUser);
  const auto store = reference_translate(memory, root, 0x1000, AccessKind::Store, false);
  EXPECT_EQ(store.error_code, pf::kWrite);
  const auto fetch = reference_translate(memory, root, 0x1000, AccessKind::Fetch, true);
  EXPECT_EQ(fetch.error_code, pf::kUser | pf::kFetch);
}

TEST_F(PagingTest, ProtectionFaultCodes) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K, MappingFlags{false, true, true, false});   // read-only
  builder.map(root, 0x2000, 0xa000, kPageSize4K, MappingFlags{true, false, true, false});   // supervisor
  builder.map(root, 0x3000, 0xb000, kPageSize4K, MappingFlags{true, true, false, false});   // no execute
  EXPECT_EQ(reference_translate(memory, root, 0x1000, AccessKind::Store, true).error_code,
            pf::kPresent | pf::kWrite | pf::kUser);
  EXPECT_EQ(reference_translate(memory, root, 0x1000, AccessKind::Store, false).error_code,
            pf::kPresent | pf::kWrite);  // CR0.WP=1: supervisor writes obey R/W too
  EXPECT_FALSE(reference_translate(memory, root, 0x1000, AccessKind::Load, true).fault);
  EXPECT_EQ(reference_translate(memory, root, 0x2000, AccessKind::Load, true).error_code, pf::kPresent | pf::kUser);
  EXPECT_FALSE(reference_translate(memory, root, 0x2000, AccessKind::Load, false).fault);
  EXPECT_EQ(reference_translate(memory, root, 0x3000, AccessKind::Fetch, true).error_code,
            pf::kPresent | pf::kUser | pf::kFetch);
  const auto ok = reference_translate(memory, root, 0x3000, AccessKind::Load, true);
  EXPECT_FALSE(ok.executable);
  EXPECT_TRUE(ok.writable);
}

TEST_F(PagingTest, NonCanonicalAddressesAreGeneralProtectionNotPageFaults) {
  const auto t = reference_translate(memory, root, 0x0000800000000000, AccessKind::Load, true);
  EXPECT_TRUE(t.fault);
  EXPECT_TRUE(t.non_canonical);
  EXPECT_TRUE(is_canonical48(0xffff800000000000));
  EXPECT_FALSE(is_canonical48(0xfff0800000000000));
  EXPECT_THROW(builder.map(root, 0x0000800000000000, 0, kPageSize4K), std::invalid_argument);
}

TEST_F(PagingTest, PageSizeBitInPml4IsReserved) {
  memory.write64(root, 0x200000 | pte::kPresent | pte::kPageSize | pte::kWritable | pte::kUser);
  const auto t = reference_translate(memory, root, 0x1000, AccessKind::Load, true);
  EXPECT_TRUE(t.fault);
  EXPECT_EQ(t.error_code, pf::kPresent | pf::kReserved | pf::kUser);
}

TEST_F(PagingTest, UnmapAndRemap) {
  builder.map(root, 0x1000, 0x9000, kPageSize4K);
  EXPECT_TRUE(builder.unmap(root, 0x1000));
  EXPECT_TRUE(reference_translate(memory, root, 0x1000, AccessKind::Load, true).fault);
  EXPECT_FALSE(builder.unmap(root, 0x1000));
  builder.map(root, 0x1000, 0xc000, kPageSize4K);
  EXPECT_EQ(reference_translate(memory, root, 0x1004, AccessKind::Load, true).physical_address, 0xc004u);
}

TEST_F(PagingTest, MisuseIsRejected) {
  EXPECT_THROW(builder.map(root, 0x1001, 0x9000, kPageSize4K), std::invalid_argument);
  EXPECT_THROW(builder.map(root, 0x1000, 0x9000, 8192), std::invalid_argument);
  EXPECT_THROW(memory.read64(Addr{1} << 33), std::out_of_range);
  EXPECT_THROW(memory.read64(0xffc), std::out_of_range);  // crosses a frame
  FrameAllocator tiny(0x1000, 0x3000);
  EXPECT_EQ(tiny.allocate(), 0x1000u);
  EXPECT_EQ(tiny.allocate(), 0x2000u);
  EXPECT_THROW(tiny.allocate(), std::runtime_error);
}

// ---- the other formats, entry by entry ----

std::function<std::uint64_t(Addr, unsigned)> reader_of(const PhysicalMemory& memory) {
  return [&memory](Addr a, unsigned bytes) {
    std::uint64_t v = 0;
    memory.read(a, &v, bytes);
    return v;
  };
}

TEST(PagingFormats, ThirtyTwoBitTwoLevelWithPse36) {
  PhysicalMemory memory{Addr{1} << 40};
  FrameAllocator frames{0x100000, 0x1000000};
  PageTableBuilder builder{memory, frames, TableFormat::Bits32};
  const Addr root = builder.new_root();
  builder.map(root, 0xc0001000, 0x5000, kPageSize4K, MappingFlags{true, false, true, false});
  builder.map(root, 0x80400000, Addr{0x3} << 32 | 0x400000, kPageSize4M);  // above 4 GiB: PSE-36
  PagingControls c;
  c.format = TableFormat::Bits32;
  c.cr3 = root;
  c.max_phys_bits = 36;
  const auto read = reader_of(memory);
  // 4-byte entries: the PDE for 0xc0001000 is entry 0x300 of the directory.
  EXPECT_NE(std::uint32_t(memory.read64(root + 4 * 0x300)) & pte::kPresent, 0u);
  const auto small = reference_translate(read, c, 0xc0001abc, AccessKind::Load, false);
  EXPECT_EQ(small.physical_address, 0x5abcu);
  EXPECT_EQ(reference_translate(read, c, 0xc0001abc, AccessKind::Load, true).error_code, pf::kPresent | pf::kUser);
  const auto large = reference_translate(read, c, 0x80512345, AccessKind::Store, true);
  EXPECT_EQ(large.physical_address, (Addr{0x3} << 32) | 0x512345);
  EXPECT_EQ(large.page_shift, 22u);
  // Without CR4.PSE the PS bit is ignored: the PDE points to a "page table" (the 4 MiB frame).
  c.page_size_ext = false;
  EXPECT_NE(reference_translate(read, c, 0x80512345, AccessKind::Load, true).page_shift, 22u);
  // Fetches carry no I/D bit in 32-bit paging (no XD there).
  c.page_size_ext = true;
  EXPECT_EQ(reference_translate(read, c, 0x00001000, AccessKind::Fetch, true).error_code, pf::kUser);
  // PSE-36 bits beyond MAXPHYADDR are reserved.
  c.max_phys_bits = 33;
  EXPECT_EQ(reference_translate(read, c, 0x80512345, AccessKind::Load, true).error_code,
            pf::kPresent | pf::kReserved | pf::kUser);
}

TEST(PagingFormats, PaeUsesThePdpteRegisters) {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{0x100000, 0x1000000};
  PageTableBuilder builder{memory, frames, TableFormat::Pae};
  const Addr root = builder.new_root();
  builder.map(root, 0x40001000, 0x7000, kPageSize4K);
  builder.map(root, 0xc0200000, 0x800000, kPageSize2M, MappingFlags{true, true, false, false});
  EXPECT_THROW(builder.map(root, 0x40000000, 0x40000000, kPageSize1G), std::invalid_argument);
  PagingControls c;
  c.format = TableFormat::Pae;
  c.cr3 = root;
  const auto read = reader_of(memory);
  ASSERT_TRUE(load_pae_pdptes(read, c));
  // A PDPTE carries only P and the address: R/W and U/S are reserved there.
  EXPECT_EQ(c.pdptes[1] & ~pte::kAddressMask, pte::kPresent);
  EXPECT_EQ(reference_translate(read, c, 0x40001008, AccessKind::Load, true).physical_address, 0x7008u);
  EXPECT_EQ(reference_translate(read, c, 0xc0234567, AccessKind::Load, true).physical_address, 0x834567u);
  EXPECT_EQ(reference_translate(read, c, 0xc0234567, AccessKind::Fetch, true).error_code,
            pf::kPresent | pf::kUser | pf::kFetch);
  // The registers, not memory, decide: a changed PDPT has no effect until CR3 is reloaded.
  memory.write64(root + 8, 0);
  EXPECT_FALSE(reference_translate(read, c, 0x40001008, AccessKind::Load, true).fault);
  ASSERT_TRUE(load_pae_pdptes(read, c));
  EXPECT_EQ(reference_translate(read, c, 0x40001008, AccessKind::Load, true).error_code, pf::kUser);
  // A reserved bit in a PDPTE makes the CR3 load fail (#GP).
  memory.write64(root + 24, memory.read64(root + 24) | pte::kWritable);  // PDPTE 3 (present)
  EXPECT_FALSE(load_pae_pdptes(read, c));
}

TEST(PagingFormats, FiveLevelCanonicalAndDepth) {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{0x100000, 0x10000000};
  PageTableBuilder builder{memory, frames, TableFormat::Level5};
  const Addr root = builder.new_root();
  const Addr high = Addr{0x00ff} << 48;  // needs the fifth level: bits 56:48
  builder.map(root, high | 0x1000, 0x9000, kPageSize4K);
  PagingControls c;
  c.format = TableFormat::Level5;
  c.cr3 = root;
  const auto read = reader_of(memory);
  EXPECT_EQ(reference_translate(read, c, high | 0x1234, AccessKind::Load, true).physical_address, 0x9234u);
  EXPECT_EQ(builder.tables_allocated(), 5u);
  EXPECT_TRUE(is_canonical(0xff00000000000000, 57));
  EXPECT_FALSE(is_canonical(0xfe00000000000000, 57));
  EXPECT_TRUE(reference_translate(read, c, 0x0100000000000000, AccessKind::Load, true).non_canonical);
  EXPECT_THROW(builder.map(root, 0x0200000000000000, 0, kPageSize4K), std::invalid_argument);
}

TEST(PagingFormats, EptEntriesAndMisconfigurations) {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{0x100000, 0x1000000};
  PageTableBuilder builder{memory, frames, TableFormat::Ept4};
  const Addr root = builder.new_root();
  builder.map(root, 0x200000, 0x3000000, kPageSize2M, MappingFlags{false, true, true, false});
  builder.map(root, 0x1000, 0x5000, kPageSize4K, MappingFlags{true, true, false, false});
  NestedControls n;
  n.format = TableFormat::Ept4;
  n.root = root;
  const auto read = reader_of(memory);
  const auto big = reference_translate_nested(read, n, 0x234567, AccessKind::Fetch, false);
  EXPECT_EQ(big.physical_address, 0x3034567u);
  EXPECT_EQ(big.page_shift, 21u);
  EXPECT_EQ(big.leaf_entry & ept::kMemoryTypeMask, ept::kWriteBack << ept::kMemoryTypeShift);
  const auto store = reference_translate_nested(read, n, 0x234567, AccessKind::Store, false);
  EXPECT_EQ(store.fault_kind, FaultKind::EptViolation);
  EXPECT_EQ(store.exit_qualification, ept::qual::kWrite | ept::qual::kReadable | ept::qual::kExecutable |
                                          ept::qual::kLinearValid | ept::qual::kFinalTranslation);
  EXPECT_EQ(reference_translate_nested(read, n, 0x1000, AccessKind::Fetch, false).fault_kind, FaultKind::EptViolation);
  // Not present (bits 2:0 clear): a violation whose rights bits are all zero.
  const auto absent = reference_translate_nested(read, n, 0x7000, AccessKind::Load, true);
  EXPECT_EQ(absent.exit_qualification, ept::qual::kRead | ept::qual::kLinearValid);
  // Misconfigurations: write without read, an invalid memory type, reserved bits in a non-leaf.
  ASSERT_TRUE(builder.set_raw_entry(root, 0x1000, 1, 0x5000 | ept::kWrite | (6u << 3)));
  EXPECT_EQ(reference_translate_nested(read, n, 0x1000, AccessKind::Load, false).fault_kind, FaultKind::EptMisconfig);
  ASSERT_TRUE(builder.set_raw_entry(root, 0x1000, 1, 0x5000 | ept::kRead | (2u << 3)));
  EXPECT_EQ(reference_translate_nested(read, n, 0x1000, AccessKind::Load, false).fault_kind, FaultKind::EptMisconfig);
  ASSERT_TRUE(builder.set_raw_entry(root, 0x1000, 1, 0x5000 | ept::kExecute | (6u << 3)));
  EXPECT_EQ(reference_translate_nested(read, n, 0x1000, AccessKind::Fetch, false).physical_address, 0x5000u);
  n.execute_only = false;  // a processor without execute-only support
  EXPECT_EQ(reference_translate_nested(read, n, 0x1000, AccessKind::Fetch, false).fault_kind, FaultKind::EptMisconfig);
  n.execute_only = true;
  memory.write64(root, memory.read64(root) | (1u << 4));  // PML4E bit 4: reserved in a non-leaf
  EXPECT_EQ(reference_translate_nested(read, n, 0x1000, AccessKind::Load, false).fault_kind, FaultKind::EptMisconfig);
}

TEST(PagingFormats, EptAccessDirtyMakesGuestTableAccessesWrites) {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{0x100000, 0x1000000};
  PageTableBuilder builder{memory, frames, TableFormat::Ept4};
  const Addr root = builder.new_root();
  builder.map(root, 0x1000, 0x5000, kPageSize4K, MappingFlags{false, true, true, false});  // read-only
  NestedControls n;
  n.root = root;
  const auto read = reader_of(memory);
  EXPECT_FALSE(reference_translate_nested(read, n, 0x1000, AccessKind::Load, true).fault);
  n.access_dirty = true;
  const auto t = reference_translate_nested(read, n, 0x1000, AccessKind::Load, true);
  EXPECT_EQ(t.fault_kind, FaultKind::EptViolation);
  EXPECT_EQ(t.exit_qualification & (ept::qual::kRead | ept::qual::kWrite | ept::qual::kFinalTranslation),
            ept::qual::kRead | ept::qual::kWrite);
}

TEST(PagingFormats, SupervisorWritesFollowCr0Wp) {
  PhysicalMemory memory{Addr{1} << 32};
  FrameAllocator frames{0x100000, 0x1000000};
  PageTableBuilder builder{memory, frames};
  const Addr root = builder.new_root();
  builder.map(root, 0x1000, 0x5000, kPageSize4K, MappingFlags{false, true, true, false});
  PagingControls c;
  c.cr3 = root;
  const auto read = reader_of(memory);
  EXPECT_EQ(reference_translate(read, c, 0x1000, AccessKind::Store, false).error_code, pf::kPresent | pf::kWrite);
  c.write_protect = false;
  EXPECT_FALSE(reference_translate(read, c, 0x1000, AccessKind::Store, false).fault);
  EXPECT_TRUE(reference_translate(read, c, 0x1000, AccessKind::Store, true).fault);  // user writes still fault
}

TEST(PagingFormats, ParseAndName) {
  for (auto f : {TableFormat::Bits32, TableFormat::Pae, TableFormat::Level4, TableFormat::Level5, TableFormat::Ept4,
                 TableFormat::Ept5})
    EXPECT_EQ(parse_table_format(to_string(f)), f);
  EXPECT_THROW(parse_table_format("6level"), std::invalid_argument);
}

// Where physical memory drops data bytes, page tables of every format still round-trip: the
// builder's entries are the model's writes, so exactly the tables hold bytes, and data stored
// into a frame before it became a table is not in it.
TEST(PagingFormats, TablesOfEveryFormatRoundTripWhereDataBytesAreDropped) {
  for (const TableFormat format : {TableFormat::Bits32, TableFormat::Pae, TableFormat::Level4, TableFormat::Level5,
                                   TableFormat::Ept4, TableFormat::Ept5}) {
    PhysicalMemory memory{Addr{1} << 36, PhysicalMemory::Layout::Frames, PhysicalMemory::DataBytes::Dropped};
    FrameAllocator frames{0x100000, Addr{1} << 36};
    PageTableBuilder builder{memory, frames, format};
    const Addr root = builder.new_root();
    const bool narrow = format == TableFormat::Bits32 || format == TableFormat::Pae;
    std::vector<std::pair<Addr, Addr>> mapped;
    for (Addr i = 0; i < 200; ++i) {
      const Addr va = (narrow ? 0x40000000 : 0x7f0000000000) + i * 0x801000;
      const Addr pa = frames.allocate();
      // Data (every bit set) in the page, and in the next frame, which the map may make a table.
      std::uint64_t data = 0xffffffffffffffffull;
      ASSERT_TRUE(memory.transfer(true, pa + 8, reinterpret_cast<unsigned char*>(&data), 8));
      ASSERT_TRUE(memory.transfer(true, pa + kPageSize4K, reinterpret_cast<unsigned char*>(&data), 8));
      builder.map(root, va, pa, kPageSize4K);
      mapped.emplace_back(va, pa);
    }
    EXPECT_EQ(memory.frames_held(), builder.tables_allocated()) << to_string(format);
    for (const auto& [va, pa] : mapped) {
      const auto leaf = builder.lookup(root, va);
      ASSERT_TRUE(leaf) << to_string(format) << " " << to_hex(va);
      EXPECT_EQ(leaf->pa, pa) << to_string(format);
      EXPECT_EQ(memory.read64(pa + 8), 0u);  // never backed: zeros, not the store's bits
    }
    if (format == TableFormat::Level4)
      for (const auto& [va, pa] : mapped)
        EXPECT_EQ(reference_translate(memory, root, va + 0x10, AccessKind::Load, true).physical_address, pa + 0x10);
  }
}

}  // namespace
}  // namespace virtsim
