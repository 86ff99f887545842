#pragma once
// x86 page-table formats in their real entry layouts (Intel SDM vol. 3 ch. 4 and 29.3; AMD APM
// vol. 2 5.3-5.4 and 15.25): 32-bit 2-level (4 KiB, 4 MiB with PSE), PAE 3-level, 4-level and
// 5-level (4 KiB, 2 MiB, 1 GiB), Intel EPT (4 or 5 levels) and AMD NPT (the long-mode format).
//
// The builder writes tables into simulated physical memory; reference_translate and
// reference_translate_2d are the zero-time functional walks every timed path is checked
// against. Decoding helpers (decode_entry, check_access) are shared by the references and the
// timed walker so a format is defined once; the timed walker's sequencing, caching and
// invalidation are what the differential tests check.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "virtsim/common/paging_context.h"
#include "virtsim/common/translation.h"
#include "virtsim/common/units.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

namespace pte {
inline constexpr std::uint64_t kPresent = 1ull << 0;
inline constexpr std::uint64_t kWritable = 1ull << 1;
inline constexpr std::uint64_t kUser = 1ull << 2;
inline constexpr std::uint64_t kWriteThrough = 1ull << 3;
inline constexpr std::uint64_t kCacheDisable = 1ull << 4;
inline constexpr std::uint64_t kAccessed = 1ull << 5;
inline constexpr std::uint64_t kDirty = 1ull << 6;
inline constexpr std::uint64_t kPageSize = 1ull << 7;  // PS: this entry maps a large page
inline constexpr std::uint64_t kGlobal = 1ull << 8;
inline constexpr std::uint64_t kExecuteDisable = 1ull << 63;
inline constexpr std::uint64_t kAddressMask = 0x000ffffffffff000ull;  // bits 51:12
}  // namespace pte

// EPT entry bits (SDM vol. 3 section 29.3.2).
namespace ept {
inline constexpr std::uint64_t kRead = 1ull << 0;
inline constexpr std::uint64_t kWrite = 1ull << 1;
inline constexpr std::uint64_t kExecute = 1ull << 2;
inline constexpr unsigned kMemoryTypeShift = 3;  // bits 5:3 of a leaf
inline constexpr std::uint64_t kMemoryTypeMask = 7ull << 3;
inline constexpr std::uint64_t kIgnorePat = 1ull << 6;
inline constexpr std::uint64_t kLargePage = 1ull << 7;
inline constexpr std::uint64_t kAccessed = 1ull << 8;
inline constexpr std::uint64_t kDirty = 1ull << 9;
inline constexpr std::uint64_t kWriteBack = 6;  // memory type WB
// EPTP (SDM 25.6.11): bits 2:0 memory type, 5:3 walk length - 1, bit 6 A/D enable.
inline constexpr std::uint64_t kEptpAccessDirty = 1ull << 6;
// Exit-qualification bits of an EPT violation (SDM 28.2.1, table "Exit Qualification for EPT
// Violations").
namespace qual {
inline constexpr std::uint64_t kRead = 1ull << 0;
inline constexpr std::uint64_t kWrite = 1ull << 1;
inline constexpr std::uint64_t kFetch = 1ull << 2;
inline constexpr std::uint64_t kReadable = 1ull << 3;
inline constexpr std::uint64_t kWritable = 1ull << 4;
inline constexpr std::uint64_t kExecutable = 1ull << 5;
inline constexpr std::uint64_t kLinearValid = 1ull << 7;
inline constexpr std::uint64_t kFinalTranslation = 1ull << 8;  // 0: a guest paging-structure access
}  // namespace qual
}  // namespace ept

// Page-fault error code bits (SDM vol. 3 section 4.7). Also the low bits of an AMD #NPF's
// EXITINFO1, whose bit 32 marks the final gPA translation and bit 33 a guest-table access.
namespace pf {
inline constexpr std::uint32_t kPresent = 1u << 0;  // 0: not present; 1: protection violation
inline constexpr std::uint32_t kWrite = 1u << 1;
inline constexpr std::uint32_t kUser = 1u << 2;
inline constexpr std::uint32_t kReserved = 1u << 3;
inline constexpr std::uint32_t kFetch = 1u << 4;
inline constexpr std::uint64_t kNpfFinalTranslation = 1ull << 32;
inline constexpr std::uint64_t kNpfGuestTableAccess = 1ull << 33;
}  // namespace pf

inline constexpr unsigned kLevels4 = 4;
inline constexpr Addr kPageSize2M = Addr{1} << 21;
inline constexpr Addr kPageSize4M = Addr{1} << 22;
inline constexpr Addr kPageSize1G = Addr{1} << 30;

const char* to_string(TableFormat format);
// "32bit", "pae", "4level", "5level", "ept4", "ept5"; throws std::invalid_argument otherwise.
TableFormat parse_table_format(const std::string& name);

struct FormatInfo {
  unsigned levels;       // tables walked from the root (PAE's PDPT counts, though it is in registers)
  unsigned entry_bytes;  // 4 (32-bit) or 8
  unsigned va_bits;      // input address width
  bool ept;              // EPT entry layout
  unsigned large_levels; // bit L set: level L may map a page (PS / EPT bit 7)
};
namespace paging_detail {
constexpr unsigned bit(unsigned level) { return 1u << level; }
// levels, entry bytes, input bits, EPT layout, levels that may map a page
inline constexpr FormatInfo kFormatInfos[] = {
    {2, 4, 32, false, bit(1) | bit(2)},           // 32-bit: 4 KiB, 4 MiB (PSE)
    {3, 8, 32, false, bit(1) | bit(2)},           // PAE: 4 KiB, 2 MiB
    {4, 8, 48, false, bit(1) | bit(2) | bit(3)},  // 4-level: 4 KiB, 2 MiB, 1 GiB
    {5, 8, 57, false, bit(1) | bit(2) | bit(3)},  // 5-level
    {4, 8, 48, true, bit(1) | bit(2) | bit(3)},   // EPT, 4-level walk
    {5, 8, 57, true, bit(1) | bit(2) | bit(3)},   // EPT, 5-level walk
};
// Bits [51 : max_phys_bits] of an entry: physical-address bits the machine does not have.
inline std::uint64_t above_max_phys(unsigned max_phys_bits) {
  if (max_phys_bits >= 52) return 0;
  return ((std::uint64_t{1} << 52) - 1) & ~((std::uint64_t{1} << max_phys_bits) - 1);
}
inline std::uint64_t low_bits(unsigned from, unsigned to) {  // bits to:from inclusive
  return ((std::uint64_t{1} << (to + 1)) - 1) & ~((std::uint64_t{1} << from) - 1);
}
}  // namespace paging_detail
// Inline, with decode_entry() below: every walk step asks them.
inline const FormatInfo& format_info(TableFormat format) {
  return paging_detail::kFormatInfos[static_cast<unsigned>(format)];
}

// Index bits of each level and the shift of its index in the input address.
inline unsigned index_shift(TableFormat f, unsigned level) {
  return f == TableFormat::Bits32 ? 12 + 10 * (level - 1) : 12 + 9 * (level - 1);
}
inline unsigned index_bits(TableFormat f, unsigned level) {
  if (f == TableFormat::Bits32) return 10;
  if (f == TableFormat::Pae && level == 3) return 2;
  return 9;
}
inline unsigned table_index(TableFormat f, Addr address, unsigned level) {
  return static_cast<unsigned>((address >> index_shift(f, level)) & ((1u << index_bits(f, level)) - 1));
}
// 4-level helpers kept for the common case.
inline unsigned table_index(Addr va, unsigned level) { return table_index(TableFormat::Level4, va, level); }
inline unsigned leaf_shift(unsigned level) { return 12 + 9 * (level - 1); }
inline unsigned leaf_shift(TableFormat f, unsigned level) { return index_shift(f, level); }

// 48-bit canonical: bits 63:47 all equal; 57-bit: bits 63:56 all equal.
inline bool is_canonical(Addr va, unsigned va_bits) {
  const auto high = static_cast<std::int64_t>(va) >> (va_bits - 1);
  return high == 0 || high == -1;
}
inline bool is_canonical48(Addr va) { return is_canonical(va, 48); }

// Attributes of a mapping as its owner asked for it (guest OS, hypervisor or test).
struct MappingFlags {
  bool writable = true;
  bool user = true;
  bool executable = true;
  bool global = false;
};

// Reads and writes physical memory on behalf of a builder or a functional walk. The guest's
// builder uses a view that places guest-physical addresses in host memory.
struct MemoryView {
  std::function<std::uint64_t(Addr, unsigned)> read;      // address, bytes (4 or 8)
  std::function<void(Addr, std::uint64_t, unsigned)> write;
  // Whole 4 KiB data frames at once (a kernel zeroing or copying a data page; through
  // PhysicalMemory they are data writes, dropped where it drops data bytes); when unset,
  // copy_frame() and zero_frame() go word by word through read and write.
  std::function<void(Addr to, Addr from)> copy_frames;
  std::function<void(Addr frame)> zero_frames;
  void copy_frame(Addr to, Addr from) const;
  void zero_frame(Addr frame) const;
  // Address a of the view is `offset` + a of `memory` (guest-physical memory placed in host
  // memory at `offset`, say).
  static MemoryView of(PhysicalMemory& memory, Addr offset = 0);
  static MemoryView of(const PhysicalMemory& memory);  // write throws
};

// Builds and edits page tables of any format in memory. Intermediate entries are fully
// permissive (P, R/W, U/S; EPT R/W/X) so the leaf decides, as Linux and KVM do.
class PageTableBuilder {
 public:
  PageTableBuilder(PhysicalMemory& memory, FrameAllocator& frames, TableFormat format = TableFormat::Level4);
  PageTableBuilder(MemoryView memory, FrameAllocator& frames, TableFormat format);

  TableFormat format() const { return format_; }
  // A zeroed root table; its address is a CR3 / EPTP / nCR3 value (PAE: the PDPT's).
  Addr new_root();
  // Maps [va, va + page_size) to pa. Sizes: 4 KiB; 4 MiB (32-bit); 2 MiB and 1 GiB (others;
  // 1 GiB not in PAE). Both addresses aligned to the size. Replaces an existing mapping of the
  // same page; a large page over a finer table replaces the table's entry. Throws
  // std::invalid_argument on misuse.
  void map(Addr root, Addr va, Addr pa, Addr page_size, MappingFlags flags = {});
  // Clears the leaf mapping va; returns false if nothing was mapped there.
  bool unmap(Addr root, Addr va);
  // Rewrites the rights of an existing leaf; returns false if va is unmapped.
  bool protect(Addr root, Addr va, MappingFlags flags);
  // Writes a raw entry value at `level` on va's path (tests use it to plant reserved bits or
  // misconfigurations). Returns false if the path does not reach that level.
  bool set_raw_entry(Addr root, Addr va, unsigned level, std::uint64_t value);

  // A present leaf mapping as the tables hold it.
  struct Leaf {
    Addr va = 0;         // base of the page
    Addr page_size = 0;
    Addr pa = 0;         // base of the frame(s) it maps
    Addr slot = 0;       // physical address of the entry
    unsigned level = 0;
    std::uint64_t entry = 0;
  };
  std::optional<Leaf> lookup(Addr root, Addr va) const;
  // Calls `visit` for every present leaf whose page starts in [begin, end), in address order
  // (the upper half of a canonical space counts from its sign-extended base).
  void for_each_leaf(Addr root, Addr begin, Addr end, const std::function<void(const Leaf&)>& visit) const;
  // Rewrites a leaf's raw entry value (the caller keeps what it wants of A/D and software bits).
  void write_leaf(const Leaf& leaf, std::uint64_t entry) { write_entry(leaf.slot, entry); }
  // Copies the root-table entries that cover [begin, end) from one root to another: the kernel
  // half that every address space shares. The tables below are shared, not copied.
  void share_root_entries(Addr from_root, Addr to_root, Addr begin, Addr end);
  // Frees every table reached through the root entries covering [begin, end) and clears those
  // entries (the leaves' frames are the caller's to free first); frees the root itself too when
  // `release_root`. Returns the number of tables freed. With `freed_tables` the tables' frames
  // are appended there instead, for the caller to free once no CPU can walk them any more.
  std::size_t release_tables(Addr root, Addr begin, Addr end, bool release_root,
                             std::vector<Addr>* freed_tables = nullptr);
  // Frees the tables below the root whose whole span lies in [floor, ceiling), as Linux's
  // free_pgtables does for the range an unmap emptied, clearing the entry that pointed at each
  // (every table's, not only the topmost one's; each cleared entry's address goes to
  // `cleared_slots`). PAE page directories stay (their PDPTEs are present for good). The
  // caller has cleared the leaves first. Returns the number of tables freed; `freed_tables`
  // as for release_tables.
  std::size_t release_unused_tables(Addr root, Addr floor, Addr ceiling, std::vector<Addr>* freed_tables,
                                    std::vector<Addr>& cleared_slots);
  // Called for every table map() adds, with its address and the address of the entry that now
  // points at it (the guest OS model charges the kernel's zeroing and that store).
  void set_table_added(std::function<void(Addr table, Addr slot)> hook) { table_added_ = std::move(hook); }
  // The bits of a leaf the architecture leaves to software (SDM vol. 3 4.5: bits 11:9 ignored).
  static constexpr std::uint64_t kSoftwareBits = 7ull << 9;
  unsigned entry_bytes() const;

  std::uint64_t entry_writes() const { return entry_writes_; }
  std::uint64_t tables_allocated() const { return tables_allocated_; }
  std::uint64_t tables_released() const { return tables_released_; }

 private:
  Addr root_table(Addr root) const;
  // With `cleared_slots`, the entries of `table` that point at tables are cleared too.
  std::size_t release_below(Addr table, unsigned level, std::vector<Addr>* freed_tables,
                            std::vector<Addr>* cleared_slots = nullptr);
  std::size_t release_unused_below(Addr table, unsigned level, Addr base, Addr floor, Addr ceiling,
                                   std::vector<Addr>* freed_tables, std::vector<Addr>& cleared_slots);
  void free_table(Addr table, std::vector<Addr>* freed_tables);
  void visit_table(Addr table, unsigned level, Addr base, Addr begin, Addr end,
                   const std::function<void(const Leaf&)>& visit) const;
  // The root entries [first, last] whose span intersects [begin, end).
  void root_index_range(Addr begin, Addr end, unsigned& first, unsigned& last) const;
  Addr new_table();
  std::uint64_t table_entry(Addr next_table) const;
  std::uint64_t leaf_entry(Addr pa, unsigned level, MappingFlags flags) const;
  bool present(std::uint64_t entry) const;
  bool is_leaf(std::uint64_t entry, unsigned level) const;
  Addr entry_address(std::uint64_t entry, unsigned level) const;  // next table or page base
  // The slot of va's entry at `level`, or 0 when the path ends above it (not present or leaf).
  Addr find_slot(Addr root, Addr va, unsigned level) const;
  // The present leaf mapping va: its slot, level and value; false when there is none.
  bool find_leaf(Addr root, Addr va, Addr& slot, unsigned& level, std::uint64_t& entry) const;
  void write_entry(Addr slot, std::uint64_t value);

  MemoryView memory_;
  FrameAllocator& frames_;
  TableFormat format_;
  std::uint64_t entry_writes_ = 0;
  std::uint64_t tables_allocated_ = 0;
  std::uint64_t tables_released_ = 0;
  std::function<void(Addr, Addr)> table_added_;
};

// The error-code bits that describe the access itself: W/R, U/S and I/D.
inline std::uint32_t access_error_bits(AccessKind kind, bool user, bool fetch_bit = true) {
  return (kind == AccessKind::Store ? pf::kWrite : 0u) | (user ? pf::kUser : 0u) |
         (kind == AccessKind::Fetch && fetch_bit ? pf::kFetch : 0u);
}

// One entry decoded for its level. `reserved` means a reserved bit is set (a #PF with RSVD, or
// an EPT misconfiguration); for EPT, `misconfigured` also covers the invalid permission and
// memory-type combinations.
struct DecodedEntry {
  bool present = false;
  bool leaf = false;
  bool reserved = false;
  Addr address = 0;       // next table, or the page base for a leaf
  bool writable = false;  // R/W (EPT: W)
  bool user = false;      // U/S (EPT: always true)
  bool readable = true;   // EPT R
  bool execute_disable = false;  // XD (EPT: !X)
};
// Inline: every walk step decodes an entry (and the walker passes constants for the nested ones).
inline DecodedEntry decode_entry(TableFormat format, std::uint64_t entry, unsigned level, unsigned max_phys_bits,
                                 bool no_execute, bool page_size_ext) {
  using paging_detail::above_max_phys;
  using paging_detail::bit;
  using paging_detail::low_bits;
  DecodedEntry d;
  const FormatInfo& info = format_info(format);
  if (info.ept) {
    d.present = (entry & (ept::kRead | ept::kWrite | ept::kExecute)) != 0;
    if (!d.present) return d;
    d.readable = entry & ept::kRead;
    d.writable = entry & ept::kWrite;
    d.user = true;
    d.execute_disable = !(entry & ept::kExecute);
    const bool large_bit = entry & ept::kLargePage;
    d.leaf = level == 1 || (large_bit && (info.large_levels & bit(level)));
    std::uint64_t reserved = above_max_phys(max_phys_bits);
    if (!d.leaf) reserved |= low_bits(3, 7);  // non-leaf: bits 7:3 reserved (incl. bit 7 at the top)
    if (d.leaf && level > 1) reserved |= low_bits(12, leaf_shift(format, level) - 1);
    bool misconfigured = (entry & reserved) != 0;
    if (!d.readable && d.writable) misconfigured = true;  // write-only or write+execute
    if (d.leaf) {
      const auto type = (entry & ept::kMemoryTypeMask) >> ept::kMemoryTypeShift;
      if (type == 2 || type == 3 || type == 7) misconfigured = true;
    }
    d.reserved = misconfigured;
    d.address = entry & pte::kAddressMask & ~low_bits(0, leaf_shift(format, d.leaf ? level : 1) - 1);
    return d;
  }

  d.present = entry & pte::kPresent;
  if (!d.present) return d;
  if (format == TableFormat::Bits32) {
    d.writable = entry & pte::kWritable;
    d.user = entry & pte::kUser;
    d.leaf = level == 1 || (level == 2 && page_size_ext && (entry & pte::kPageSize));
    if (d.leaf && level == 2) {
      // PSE-36: PDE bits 20:13 hold physical-address bits 39:32 (up to MAXPHYADDR); bit 21 is
      // reserved (SDM table 4-4).
      const unsigned high_bits = std::min(40u, max_phys_bits) - 32;
      const std::uint64_t high = (entry >> 13) & 0xff;
      d.reserved = (entry & (1u << 21)) || (high >> high_bits) != 0;
      d.address = (entry & 0xffc00000u) | (high << 32);
    } else {
      d.address = entry & 0xfffff000u;
    }
    return d;
  }

  std::uint64_t reserved = above_max_phys(max_phys_bits);
  if (!no_execute) reserved |= pte::kExecuteDisable;
  if (format == TableFormat::Pae && level == 3) {
    // A PAE PDPTE has no rights: bits 2:1 and 8:5 are reserved (SDM table 4-8); bit 63 too.
    reserved |= low_bits(1, 2) | low_bits(5, 8) | pte::kExecuteDisable;
    d.writable = d.user = true;
    d.reserved = (entry & reserved) != 0;
    d.address = entry & pte::kAddressMask;
    return d;
  }
  d.writable = entry & pte::kWritable;
  d.user = entry & pte::kUser;
  d.execute_disable = no_execute && (entry & pte::kExecuteDisable);
  const bool ps = entry & pte::kPageSize;
  if (ps && !(info.large_levels & bit(level)) && level > 1) reserved |= pte::kPageSize;  // PS in a PML4E/PML5E
  d.leaf = level == 1 || (ps && (info.large_levels & bit(level)));
  if (d.leaf && level > 1) reserved |= low_bits(13, leaf_shift(format, level) - 1);  // bit 12 is PAT
  d.reserved = (entry & reserved) != 0;
  d.address = entry & pte::kAddressMask & ~low_bits(0, leaf_shift(format, d.leaf ? level : 1) - 1);
  return d;
}

// Rights accumulated down a walk.
struct Rights {
  bool writable = true;
  bool user = true;
  bool readable = true;
  bool execute_disable = false;
  void combine(const DecodedEntry& e) {
    writable &= e.writable;
    user &= e.user;
    readable &= e.readable;
    execute_disable |= e.execute_disable;
  }
};

// Permission check of a 1-D leaf's combined rights for one access (SDM 4.6; SMEP, SMAP and
// protection keys are not modelled). Returns the error code, 0 when allowed.
std::uint32_t check_access(const PagingControls& controls, const Rights& rights, AccessKind kind, bool user);

// PAE: the PDPTE registers MOV to CR3 loads; false if one has a reserved bit (a #GP).
bool load_pae_pdptes(const std::function<std::uint64_t(Addr, unsigned)>& read, PagingControls& controls);

// Zero-time functional 1-D walk: no timing, no side effects (A/D bits are not written).
Translation reference_translate(const std::function<std::uint64_t(Addr, unsigned)>& read,
                                const PagingControls& controls, Addr va, AccessKind kind, bool user);
// 4-level convenience forms used by the guest OS model and tests.
Translation reference_translate(const std::function<std::uint64_t(Addr)>& read_entry, Addr cr3, Addr va,
                                AccessKind kind, bool user);
Translation reference_translate(const PhysicalMemory& memory, Addr cr3, Addr va, AccessKind kind, bool user);

// What a nested-dimension access needs: guest paging-structure accesses are reads, or writes
// when EPT A/D flags are on (SDM 29.3.5); NPT accesses are user accesses (APM 15.25.5).
struct NestedAccess {
  bool write = false;
  bool fetch = false;
  bool guest_table_access = false;
};
inline NestedAccess nested_access(const NestedControls& n, AccessKind kind, bool guest_table_access) {
  NestedAccess a;
  a.guest_table_access = guest_table_access;
  a.write = kind == AccessKind::Store || (guest_table_access && n.is_ept() && n.access_dirty);
  a.fetch = kind == AccessKind::Fetch && !guest_table_access;
  return a;
}
// The faults the two verdicts below report (kind, exit qualification / EXITINFO1, gPA); out of
// line, as a walk seldom takes them.
Translation nested_entry_fault(const NestedControls& nested, const NestedAccess& access, const DecodedEntry& entry,
                               Addr gpa);
Translation nested_leaf_fault(const NestedControls& nested, const NestedAccess& access, const Rights& rights, Addr gpa);
// The nested verdicts shared by the reference and the timed walker. Each returns true and fills
// `fault` when the access faults. Inline: every nested step asks them.
// An entry faults when it is not present, or reserved bits are set (EPT: also when it grants
// neither read nor write and execute-only is not supported: a misconfiguration).
inline bool nested_entry_faults(const NestedControls& n, const NestedAccess& a, const DecodedEntry& d, Addr gpa,
                                Translation& fault) {
  const bool usable = n.is_ept() ? d.present && !d.reserved && (d.readable || d.writable || n.execute_only)
                                 : d.present && !d.reserved;
  if (usable) return false;
  fault = nested_entry_fault(n, a, d, gpa);
  return true;
}
// A leaf denies a write without W, a fetch with XD, and (EPT) a read, or a guest-table access,
// without R; an NPT leaf denies every access without U (nested accesses are user accesses).
inline bool nested_leaf_denies(const NestedControls& n, const NestedAccess& a, const Rights& r, Addr gpa,
                               Translation& fault) {
  const bool denied = n.is_ept() ? (a.write && !r.writable) || (a.fetch && r.execute_disable) ||
                                       (((!a.write && !a.fetch) || a.guest_table_access) ? !r.readable : false)
                                 : !r.user || (a.write && !r.writable) || (a.fetch && r.execute_disable);
  if (!denied) return false;
  fault = nested_leaf_fault(n, a, r, gpa);
  return true;
}

// Zero-time functional nested translation of one guest-physical address. `guest_table_access`:
// the access reads a guest paging-structure entry (not the final data access).
Translation reference_translate_nested(const std::function<std::uint64_t(Addr, unsigned)>& read,
                                       const NestedControls& nested, Addr gpa, AccessKind kind,
                                       bool guest_table_access);
// Zero-time functional 2-D walk: guest tables at guest-physical addresses, each translated
// through the nested tables; faults of either dimension reported as the hardware reports them.
Translation reference_translate_2d(const std::function<std::uint64_t(Addr, unsigned)>& read,
                                   const PagingControls& guest, const NestedControls& nested, Addr va,
                                   AccessKind kind, bool user);

// The most memory references a walk can make: n for 1-D, n*m + n + m for 2-D (PAE guests read
// no PDPT entry from memory, so n is 2 for them).
unsigned max_walk_references(TableFormat guest);
unsigned max_walk_references(TableFormat guest, TableFormat nested);

}  // namespace virtsim
