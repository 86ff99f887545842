#include "virtsim/mmu/paging.h"

#include <stdexcept>
#include <string>

namespace virtsim {

PageTableBuilder::PageTableBuilder(PhysicalMemory& memory, FrameAllocator& frames)
    : memory_(memory), frames_(frames) {}

Addr PageTableBuilder::new_table() {
  const Addr table = frames_.allocate();
  // Frames come zeroed from PhysicalMemory unless reused; clear explicitly to be sure.
  for (Addr offset = 0; offset < kPageSize4K; offset += 8) memory_.write64(table + offset, 0);
  ++tables_allocated_;
  return table;
}

Addr PageTableBuilder::new_root() { return new_table(); }

void PageTableBuilder::map(Addr root, Addr va, Addr pa, Addr page_size, MappingFlags flags) {
  unsigned leaf_level;
  if (page_size == kPageSize4K) leaf_level = 1;
  else if (page_size == kPageSize2M) leaf_level = 2;
  else if (page_size == kPageSize1G) leaf_level = 3;
  else throw std::invalid_argument("page size " + std::to_string(page_size) + " is not 4 KiB, 2 MiB or 1 GiB");
  if ((va | pa) & (page_size - 1)) throw std::invalid_argument("map: address not aligned to its page size");
  if (!is_canonical48(va)) throw std::invalid_argument("map: virtual address is not canonical");

  Addr table = root & pte::kAddressMask;
  for (unsigned level = kLevels4; level > leaf_level; --level) {
    const Addr slot = table + 8 * table_index(va, level);
    std::uint64_t entry = memory_.read64(slot);
    if (!(entry & pte::kPresent) || (entry & pte::kPageSize)) {
      // Absent, or a large page being replaced by a finer mapping: give it a new table.
      entry = new_table() | pte::kPresent | pte::kWritable | pte::kUser;
      memory_.write64(slot, entry);
      ++entry_writes_;
    }
    table = entry & pte::kAddressMask;
  }
  std::uint64_t leaf = pa | pte::kPresent;
  if (flags.writable) leaf |= pte::kWritable;
  if (flags.user) leaf |= pte::kUser;
  if (!flags.executable) leaf |= pte::kExecuteDisable;
  if (flags.global) leaf |= pte::kGlobal;
  if (leaf_level > 1) leaf |= pte::kPageSize;
  memory_.write64(table + 8 * table_index(va, leaf_level), leaf);
  ++entry_writes_;
}

bool PageTableBuilder::unmap(Addr root, Addr va) {
  Addr table = root & pte::kAddressMask;
  for (unsigned level = kLevels4; level >= 1; --level) {
    const Addr slot = table + 8 * table_index(va, level);
    const std::uint64_t entry = memory_.read64(slot);
    if (!(entry & pte::kPresent)) return false;
    if (level == 1 || (entry & pte::kPageSize)) {
      memory_.write64(slot, 0);
      ++entry_writes_;
      return true;
    }
    table = entry & pte::kAddressMask;
  }
  return false;
}

std::uint32_t permission_fault(std::uint64_t rights, bool execute_disable, AccessKind kind, bool user) {
  bool denied = false;
  if (user && !(rights & pte::kUser)) denied = true;
  if (kind == AccessKind::Store && !(rights & pte::kWritable)) denied = true;  // CR0.WP=1
  if (kind == AccessKind::Fetch && execute_disable) denied = true;            // EFER.NXE=1
  return denied ? pf::kPresent | access_error_bits(kind, user) : 0;
}

Translation reference_translate(const PhysicalMemory& memory, Addr cr3, Addr va, AccessKind kind, bool user) {
  return reference_translate([&memory](Addr a) { return memory.read64(a); }, cr3, va, kind, user);
}

Translation reference_translate(const std::function<std::uint64_t(Addr)>& read_entry, Addr cr3, Addr va,
                                AccessKind kind, bool user) {
  Translation result;
  if (!is_canonical48(va)) {
    result.fault = result.non_canonical = true;
    return result;
  }
  Addr table = cr3 & pte::kAddressMask;
  std::uint64_t rights = pte::kWritable | pte::kUser;
  bool execute_disable = false;
  for (unsigned level = kLevels4; level >= 1; --level) {
    const std::uint64_t entry = read_entry(table + 8 * table_index(va, level));
    if (!(entry & pte::kPresent)) {
      result.fault = true;
      result.error_code = access_error_bits(kind, user);
      return result;
    }
    rights &= entry;
    execute_disable |= (entry & pte::kExecuteDisable) != 0;
    const bool large = level > 1 && (entry & pte::kPageSize);
    if (large && level == kLevels4) {  // PS is reserved in a PML4E
      result.fault = true;
      result.error_code = pf::kPresent | pf::kReserved | access_error_bits(kind, user);
      return result;
    }
    if (level == 1 || large) {
      if (const auto code = permission_fault(rights, execute_disable, kind, user)) {
        result.fault = true;
        result.error_code = code;
        return result;
      }
      const unsigned shift = leaf_shift(level);
      const Addr page_mask = (Addr{1} << shift) - 1;
      result.physical_address = ((entry & pte::kAddressMask) & ~page_mask) | (va & page_mask);
      result.page_shift = shift;
      result.leaf_entry = entry;
      result.writable = (rights & pte::kWritable) != 0;
      result.user = (rights & pte::kUser) != 0;
      result.executable = !execute_disable;
      return result;
    }
    table = entry & pte::kAddressMask;
  }
  return result;
}

}  // namespace virtsim
