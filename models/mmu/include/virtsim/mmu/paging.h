#pragma once
// x86 4-level (IA-32e) paging in its real entry layout (Intel SDM vol. 3 ch. 4; REFERENCE.md):
// 9 index bits per level, 8-byte entries, 512 per 4 KiB table, 4 KiB / 2 MiB / 1 GiB pages.
// The builder writes tables into PhysicalMemory; reference_translate is the zero-time
// functional walk every timed path is checked against. (The other paging modes and EPT/NPT
// formats come with the address-translation issue.)
#include <cstdint>
#include <functional>

#include "virtsim/common/units.h"
#include "virtsim/mmu/physical_memory.h"

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

// Page-fault error code bits (SDM vol. 3 section 4.7).
namespace pf {
inline constexpr std::uint32_t kPresent = 1u << 0;  // 0: not present; 1: protection violation
inline constexpr std::uint32_t kWrite = 1u << 1;
inline constexpr std::uint32_t kUser = 1u << 2;
inline constexpr std::uint32_t kReserved = 1u << 3;
inline constexpr std::uint32_t kFetch = 1u << 4;
}  // namespace pf

inline constexpr unsigned kLevels4 = 4;
inline constexpr Addr kPageSize2M = Addr{1} << 21;
inline constexpr Addr kPageSize1G = Addr{1} << 30;

// Index of `va` into the table at `level` (4 = PML4 ... 1 = PT).
inline unsigned table_index(Addr va, unsigned level) { return static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 0x1ff); }
// Page shift of a leaf at `level`: 12 (PT), 21 (PD with PS), 30 (PDPT with PS).
inline unsigned leaf_shift(unsigned level) { return 12 + 9 * (level - 1); }
// 48-bit canonical: bits 63:47 all equal.
inline bool is_canonical48(Addr va) {
  const auto high = static_cast<std::int64_t>(va) >> 47;
  return high == 0 || high == -1;
}

// Attributes of a mapping as the guest asked for it.
struct MappingFlags {
  bool writable = true;
  bool user = true;
  bool executable = true;
  bool global = false;
};

// Builds and edits 4-level page tables in physical memory. Intermediate tables are made
// fully permissive (P, R/W, U/S set) so the leaf decides, as Linux does.
class PageTableBuilder {
 public:
  PageTableBuilder(PhysicalMemory& memory, FrameAllocator& frames);

  Addr new_root();  // a zeroed PML4; its address is a CR3 value
  // Maps [va, va + page_size) to pa; page_size is 4 KiB, 2 MiB or 1 GiB, both aligned to it.
  // Replaces an existing leaf for the same page. Throws std::invalid_argument on misuse.
  void map(Addr root, Addr va, Addr pa, Addr page_size, MappingFlags flags = {});
  // Clears the leaf mapping va; returns false if nothing was mapped there.
  bool unmap(Addr root, Addr va);
  std::uint64_t entry_writes() const { return entry_writes_; }
  std::uint64_t tables_allocated() const { return tables_allocated_; }

 private:
  Addr new_table();
  PhysicalMemory& memory_;
  FrameAllocator& frames_;
  std::uint64_t entry_writes_ = 0;
  std::uint64_t tables_allocated_ = 0;
};

// Result of a translation, timed or functional.
struct Translation {
  bool fault = false;
  bool non_canonical = false;    // the address is not canonical: #GP, not #PF
  std::uint32_t error_code = 0;  // page-fault error code when fault
  Addr physical_address = 0;
  unsigned page_shift = 12;
  std::uint64_t leaf_entry = 0;
  // Rights combined over every level (what a TLB entry caches).
  bool writable = false;
  bool user = false;
  bool executable = false;
};

// The error-code bits that describe the access itself: W/R, U/S and I/D.
inline std::uint32_t access_error_bits(AccessKind kind, bool user) {
  return (kind == AccessKind::Store ? pf::kWrite : 0u) | (user ? pf::kUser : 0u) |
         (kind == AccessKind::Fetch ? pf::kFetch : 0u);
}

// Permission check of a present leaf's combined rights for one access (CR0.WP=1, EFER.NXE=1).
// `rights` is the AND of R/W and U/S over all levels and the OR of XD.
std::uint32_t permission_fault(std::uint64_t rights_rw_us, bool execute_disable, AccessKind kind, bool user);

// Zero-time functional walk; the oracle for every timed translation path. `read_entry`
// returns the 8-byte entry at a physical address with no timing and no side effects.
Translation reference_translate(const std::function<std::uint64_t(Addr)>& read_entry, Addr cr3, Addr va,
                                AccessKind kind, bool user);
Translation reference_translate(const PhysicalMemory& memory, Addr cr3, Addr va, AccessKind kind, bool user);

}  // namespace virtsim
