#include "virtsim/paging/paging.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace virtsim {

using paging_detail::above_max_phys;
using paging_detail::bit;
using paging_detail::low_bits;

const char* to_string(TableFormat format) {
  switch (format) {
    case TableFormat::Bits32: return "32bit";
    case TableFormat::Pae: return "pae";
    case TableFormat::Level4: return "4level";
    case TableFormat::Level5: return "5level";
    case TableFormat::Ept4: return "ept4";
    case TableFormat::Ept5: return "ept5";
  }
  return "?";
}

TableFormat parse_table_format(const std::string& name) {
  for (auto f : {TableFormat::Bits32, TableFormat::Pae, TableFormat::Level4, TableFormat::Level5, TableFormat::Ept4,
                 TableFormat::Ept5})
    if (name == to_string(f)) return f;
  throw std::invalid_argument("unknown table format '" + name + "' (expected 32bit, pae, 4level, 5level, ept4 or ept5)");
}

MemoryView MemoryView::of(PhysicalMemory& memory, Addr offset) {
  MemoryView view;
  view.read = [&memory, offset](Addr a, unsigned bytes) {
    std::uint64_t v = 0;
    memory.read(offset + a, &v, bytes);
    return v;
  };
  view.write = [&memory, offset](Addr a, std::uint64_t v, unsigned bytes) { memory.write(offset + a, &v, bytes); };
  view.copy_frames = [&memory, offset](Addr to, Addr from) { memory.copy_data_frame(offset + to, offset + from); };
  view.zero_frames = [&memory, offset](Addr frame) { memory.zero_data_frame(offset + frame); };
  return view;
}

void MemoryView::copy_frame(Addr to, Addr from) const {
  if (copy_frames) return copy_frames(to, from);
  for (Addr off = 0; off < kPageSize4K; off += 8) write(to + off, read(from + off, 8), 8);
}

void MemoryView::zero_frame(Addr frame) const {
  if (zero_frames) return zero_frames(frame);
  for (Addr off = 0; off < kPageSize4K; off += 8) write(frame + off, 0, 8);
}

MemoryView MemoryView::of(const PhysicalMemory& memory) {
  MemoryView view;
  view.read = [&memory](Addr a, unsigned bytes) {
    std::uint64_t v = 0;
    memory.read(a, &v, bytes);
    return v;
  };
  view.write = [](Addr a, std::uint64_t, unsigned) {
    throw std::logic_error("write to read-only memory view at " + to_hex(a));
  };
  return view;
}

// ---- entry decoding ----

std::uint32_t check_access(const PagingControls& controls, const Rights& rights, AccessKind kind, bool user) {
  const bool nx_active = controls.no_execute && controls.format != TableFormat::Bits32;
  bool denied = false;
  if (user) {
    if (!rights.user) denied = true;
    if (kind == AccessKind::Store && !rights.writable) denied = true;
  } else if (kind == AccessKind::Store && controls.write_protect && !rights.writable) {
    denied = true;  // CR0.WP=1: supervisor writes honour R/W
  }
  if (kind == AccessKind::Fetch && nx_active && rights.execute_disable) denied = true;
  return denied ? pf::kPresent | access_error_bits(kind, user, nx_active) : 0;
}

bool load_pae_pdptes(const std::function<std::uint64_t(Addr, unsigned)>& read, PagingControls& controls) {
  const Addr pdpt = controls.cr3 & 0xffffffe0u;  // CR3 bits 31:5 in PAE mode
  bool ok = true;
  for (unsigned i = 0; i < 4; ++i) {
    controls.pdptes[i] = read(pdpt + 8 * i, 8);
    const auto d = decode_entry(TableFormat::Pae, controls.pdptes[i], 3, controls.max_phys_bits, controls.no_execute,
                                controls.page_size_ext);
    if (d.present && d.reserved) ok = false;
  }
  return ok;
}

// ---- reference walks ----

namespace {

Addr root_table(const PagingControls& c) {
  return c.format == TableFormat::Bits32 ? (c.cr3 & 0xfffff000u) : (c.cr3 & pte::kAddressMask);
}

Translation page_fault(std::uint32_t code) {
  Translation t;
  t.fault = true;
  t.fault_kind = FaultKind::PageFault;
  t.error_code = code;
  return t;
}

// Normalizes the input address; false when it is not canonical.
bool input_address(TableFormat format, Addr& va) {
  const FormatInfo& info = format_info(format);
  if (info.va_bits == 32) {
    va &= 0xffffffffu;
    return true;
  }
  return is_canonical(va, info.va_bits);
}

// The guest (or 1-D) half, with a hook that turns a table address into the address to read.
template <typename TranslateTable>
Translation walk_1d(const std::function<std::uint64_t(Addr, unsigned)>& read, const PagingControls& c, Addr va,
                    AccessKind kind, bool user, TranslateTable&& table_to_read) {
  const FormatInfo& info = format_info(c.format);
  if (!input_address(c.format, va)) {
    Translation t;
    t.fault = t.non_canonical = true;
    t.fault_kind = FaultKind::GeneralProtection;
    return t;
  }
  const bool nx_active = c.no_execute && c.format != TableFormat::Bits32;
  const std::uint32_t access_bits = access_error_bits(kind, user, nx_active);
  Addr table = root_table(c);
  Rights rights;
  for (unsigned level = info.levels; level >= 1; --level) {
    std::uint64_t entry;
    if (c.format == TableFormat::Pae && level == 3) {
      entry = c.pdptes[table_index(c.format, va, level)];
    } else {
      const Addr slot = table + info.entry_bytes * table_index(c.format, va, level);
      Translation failure;
      const Addr where = table_to_read(slot, failure);
      if (failure.fault) return failure;
      entry = read(where, info.entry_bytes);
    }
    const DecodedEntry d = decode_entry(c.format, entry, level, c.max_phys_bits, c.no_execute, c.page_size_ext);
    if (!d.present) return page_fault(access_bits);
    if (d.reserved) return page_fault(pf::kPresent | pf::kReserved | access_bits);
    rights.combine(d);
    if (d.leaf) {
      if (const auto code = check_access(c, rights, kind, user)) return page_fault(code);
      Translation t;
      t.page_shift = t.mapping_shift = leaf_shift(c.format, level);
      t.physical_address = d.address | (va & ((Addr{1} << t.page_shift) - 1));
      t.leaf_entry = entry;
      t.writable = rights.writable;
      t.user = rights.user;
      t.executable = !rights.execute_disable;
      t.global = entry & pte::kGlobal;
      t.dirty = (entry & pte::kDirty) || kind == AccessKind::Store;
      return t;
    }
    table = d.address;
  }
  throw std::logic_error("walk_1d: no leaf");  // level 1 always decodes as a leaf
}

}  // namespace

Translation reference_translate(const std::function<std::uint64_t(Addr, unsigned)>& read, const PagingControls& c,
                                Addr va, AccessKind kind, bool user) {
  return walk_1d(read, c, va, kind, user, [](Addr slot, Translation&) { return slot; });
}

Translation reference_translate(const std::function<std::uint64_t(Addr)>& read_entry, Addr cr3, Addr va,
                                AccessKind kind, bool user) {
  PagingControls c;
  c.cr3 = cr3;
  return reference_translate([&read_entry](Addr a, unsigned) { return read_entry(a); }, c, va, kind, user);
}

Translation reference_translate(const PhysicalMemory& memory, Addr cr3, Addr va, AccessKind kind, bool user) {
  return reference_translate([&memory](Addr a) { return memory.read64(a); }, cr3, va, kind, user);
}

namespace {

Translation nested_fault(const NestedControls& n, const NestedAccess& a, FaultKind kind, std::uint64_t bits, Addr gpa) {
  Translation t;
  t.fault = true;
  t.fault_kind = kind;
  t.guest_physical_address = gpa;
  if (kind == FaultKind::EptViolation) {
    // Access type (a guest-table access under EPT A/D is both a read and a write), the
    // effective rights, "linear address valid", and final translation vs guest-table access.
    t.exit_qualification = (a.write ? ept::qual::kWrite : 0) | (a.fetch ? ept::qual::kFetch : 0) |
                           ((!a.write && !a.fetch) || a.guest_table_access ? ept::qual::kRead : 0) | bits |
                           ept::qual::kLinearValid | (a.guest_table_access ? 0 : ept::qual::kFinalTranslation);
  } else if (kind == FaultKind::NestedPageFault) {
    t.exit_qualification = bits | pf::kUser | (a.write ? pf::kWrite : 0) | (a.fetch ? pf::kFetch : 0) |
                           (a.guest_table_access ? pf::kNpfGuestTableAccess : pf::kNpfFinalTranslation);
  }
  return t;
}

}  // namespace

Translation nested_entry_fault(const NestedControls& n, const NestedAccess& a, const DecodedEntry& d, Addr gpa) {
  if (n.is_ept()) {
    if (!d.present) return nested_fault(n, a, FaultKind::EptViolation, 0, gpa);  // the AND includes this entry's zeros
    return nested_fault(n, a, FaultKind::EptMisconfig, 0, gpa);
  }
  if (!d.present) return nested_fault(n, a, FaultKind::NestedPageFault, 0, gpa);
  return nested_fault(n, a, FaultKind::NestedPageFault, pf::kPresent | pf::kReserved, gpa);
}

Translation nested_leaf_fault(const NestedControls& n, const NestedAccess& a, const Rights& r, Addr gpa) {
  if (n.is_ept())
    return nested_fault(n, a, FaultKind::EptViolation,
                        (r.readable ? ept::qual::kReadable : 0) | (r.writable ? ept::qual::kWritable : 0) |
                            (!r.execute_disable ? ept::qual::kExecutable : 0),
                        gpa);
  return nested_fault(n, a, FaultKind::NestedPageFault, pf::kPresent, gpa);
}

Translation reference_translate_nested(const std::function<std::uint64_t(Addr, unsigned)>& read,
                                       const NestedControls& n, Addr gpa, AccessKind kind, bool guest_table_access) {
  const FormatInfo& info = format_info(n.format);
  const NestedAccess access = nested_access(n, kind, guest_table_access);
  Translation fault;
  Addr table = n.root & pte::kAddressMask;
  Rights rights;
  for (unsigned level = info.levels; level >= 1; --level) {
    const std::uint64_t entry = read(table + 8 * table_index(n.format, gpa, level), 8);
    const DecodedEntry d = decode_entry(n.format, entry, level, n.max_phys_bits, true, true);
    if (nested_entry_faults(n, access, d, gpa, fault)) return fault;
    rights.combine(d);
    if (d.leaf) {
      if (nested_leaf_denies(n, access, rights, gpa, fault)) return fault;
      Translation t;
      t.guest_physical_address = gpa;
      t.page_shift = leaf_shift(n.format, level);
      t.physical_address = d.address | (gpa & ((Addr{1} << t.page_shift) - 1));
      t.leaf_entry = entry;
      t.writable = rights.writable;
      t.user = true;
      t.executable = !rights.execute_disable;
      t.dirty = (entry & (info.ept ? ept::kDirty : pte::kDirty)) || access.write;
      return t;
    }
    table = d.address;
  }
  throw std::logic_error("reference_translate_nested: no leaf");
}

Translation reference_translate_2d(const std::function<std::uint64_t(Addr, unsigned)>& read,
                                   const PagingControls& guest, const NestedControls& nested, Addr va,
                                   AccessKind kind, bool user) {
  // Guest tables live at guest-physical addresses: each entry read needs its own nested walk.
  Translation t = walk_1d(read, guest, va, kind, user, [&](Addr slot_gpa, Translation& failure) {
    const Translation n = reference_translate_nested(read, nested, slot_gpa, AccessKind::Load, true);
    if (n.fault) failure = n;
    return n.physical_address;
  });
  if (t.fault) return t;
  const Addr gpa = t.physical_address;
  const Translation n = reference_translate_nested(read, nested, gpa, kind, false);
  if (n.fault) return n;
  t.guest_physical_address = gpa;
  t.physical_address = n.physical_address;
  t.page_shift = std::min(t.page_shift, n.page_shift);  // a TLB caches the smaller page (splintering)
  t.writable = t.writable && n.writable;
  t.executable = t.executable && n.executable;
  return t;
}

unsigned max_walk_references(TableFormat guest) {
  return guest == TableFormat::Pae ? 2 : format_info(guest).levels;
}

unsigned max_walk_references(TableFormat guest, TableFormat nested) {
  const unsigned n = max_walk_references(guest), m = format_info(nested).levels;
  return n * m + n + m;
}

// ---- builder ----

PageTableBuilder::PageTableBuilder(PhysicalMemory& memory, FrameAllocator& frames, TableFormat format)
    : PageTableBuilder(MemoryView::of(memory), frames, format) {}

PageTableBuilder::PageTableBuilder(MemoryView memory, FrameAllocator& frames, TableFormat format)
    : memory_(std::move(memory)), frames_(frames), format_(format) {}

Addr PageTableBuilder::new_table() {
  const Addr table = frames_.allocate();
  for (Addr offset = 0; offset < kPageSize4K; offset += 8) memory_.write(table + offset, 0, 8);
  ++tables_allocated_;
  return table;
}

Addr PageTableBuilder::new_root() { return new_table(); }

void PageTableBuilder::write_entry(Addr slot, std::uint64_t value) {
  memory_.write(slot, value, format_info(format_).entry_bytes);
  ++entry_writes_;
}

std::uint64_t PageTableBuilder::table_entry(Addr next) const {
  if (format_info(format_).ept) return next | ept::kRead | ept::kWrite | ept::kExecute;
  return next | pte::kPresent | pte::kWritable | pte::kUser;
}

std::uint64_t PageTableBuilder::leaf_entry(Addr pa, unsigned level, MappingFlags flags) const {
  if (format_info(format_).ept) {
    std::uint64_t e = pa | ept::kRead | (ept::kWriteBack << ept::kMemoryTypeShift);
    if (flags.writable) e |= ept::kWrite;
    if (flags.executable) e |= ept::kExecute;
    if (level > 1) e |= ept::kLargePage;
    return e;
  }
  std::uint64_t e = pte::kPresent;
  if (format_ == TableFormat::Bits32 && level == 2)
    e |= (pa & 0xffc00000u) | ((pa >> 32) << 13);  // PSE-36 layout
  else
    e |= pa;
  if (flags.writable) e |= pte::kWritable;
  if (flags.user) e |= pte::kUser;
  if (flags.global) e |= pte::kGlobal;
  if (level > 1) e |= pte::kPageSize;
  if (!flags.executable && format_ != TableFormat::Bits32) e |= pte::kExecuteDisable;
  return e;
}

bool PageTableBuilder::present(std::uint64_t entry) const {
  return format_info(format_).ept ? (entry & 7) != 0 : (entry & pte::kPresent) != 0;
}

bool PageTableBuilder::is_leaf(std::uint64_t entry, unsigned level) const {
  return decode_entry(format_, entry, level, 52, true, true).leaf;
}

Addr PageTableBuilder::entry_address(std::uint64_t entry, unsigned level) const {
  return decode_entry(format_, entry, level, 52, true, true).address;
}

void PageTableBuilder::map(Addr root, Addr va, Addr pa, Addr page_size, MappingFlags flags) {
  const FormatInfo& info = format_info(format_);
  unsigned leaf_level = 0;
  for (unsigned level = 1; level <= info.levels; ++level)
    if ((info.large_levels & (1u << level)) && page_size == (Addr{1} << leaf_shift(format_, level))) leaf_level = level;
  if (format_ == TableFormat::Pae && leaf_level == 3) leaf_level = 0;
  if (!leaf_level)
    throw std::invalid_argument(std::string("map: page size ") + std::to_string(page_size) + " is not available in " +
                                to_string(format_) + " tables");
  if ((va | pa) & (page_size - 1)) throw std::invalid_argument("map: address not aligned to its page size");
  if (info.va_bits == 32 && (va >> 32)) throw std::invalid_argument("map: input address wider than 32 bits");
  if (info.va_bits > 32 && !is_canonical(va, info.va_bits))
    throw std::invalid_argument("map: virtual address is not canonical");
  if (format_ == TableFormat::Bits32 && leaf_level == 1 && (pa >> 32))
    throw std::invalid_argument("map: 32-bit paging maps 4 KiB pages below 4 GiB only");

  Addr table = format_ == TableFormat::Bits32 ? (root & 0xfffff000u) : (root & pte::kAddressMask);
  for (unsigned level = info.levels; level > leaf_level; --level) {
    const Addr slot = table + info.entry_bytes * table_index(format_, va, level);
    std::uint64_t entry = memory_.read(slot, info.entry_bytes);
    if (!present(entry) || is_leaf(entry, level)) {
      // Absent, or a large page being replaced by a finer mapping: give it a new table.
      const Addr next = new_table();
      entry = (format_ == TableFormat::Pae && level == 3) ? (next | pte::kPresent) : table_entry(next);
      write_entry(slot, entry);
      if (table_added_) table_added_(next, slot);
    }
    table = entry_address(entry, level);
  }
  write_entry(table + info.entry_bytes * table_index(format_, va, leaf_level), leaf_entry(pa, leaf_level, flags));
}

Addr PageTableBuilder::find_slot(Addr root, Addr va, unsigned target_level) const {
  const FormatInfo& info = format_info(format_);
  Addr table = root_table(root);
  for (unsigned level = info.levels; level >= 1; --level) {
    const Addr slot = table + info.entry_bytes * table_index(format_, va, level);
    if (level == target_level) return slot;
    const std::uint64_t entry = memory_.read(slot, info.entry_bytes);
    if (!present(entry)) return 0;
    const DecodedEntry d = decode_entry(format_, entry, level, 52, true, true);  // once per level
    if (d.leaf) return 0;
    table = d.address;
  }
  return 0;
}

bool PageTableBuilder::find_leaf(Addr root, Addr va, Addr& slot, unsigned& level, std::uint64_t& entry) const {
  // One walk from the root, decoding each entry once.
  const FormatInfo& info = format_info(format_);
  Addr table = root_table(root);
  for (level = info.levels; level >= 1; --level) {
    slot = table + info.entry_bytes * table_index(format_, va, level);
    entry = memory_.read(slot, info.entry_bytes);
    if (!present(entry)) return false;
    const DecodedEntry d = decode_entry(format_, entry, level, 52, true, true);
    if (d.leaf) return true;
    table = d.address;
  }
  return false;
}

bool PageTableBuilder::unmap(Addr root, Addr va) {
  Addr slot;
  unsigned level;
  std::uint64_t entry;
  if (!find_leaf(root, va, slot, level, entry)) return false;
  write_entry(slot, 0);
  return true;
}

bool PageTableBuilder::protect(Addr root, Addr va, MappingFlags flags) {
  Addr slot;
  unsigned level;
  std::uint64_t entry;
  if (!find_leaf(root, va, slot, level, entry)) return false;
  write_entry(slot, leaf_entry(entry_address(entry, level), level, flags));
  return true;
}

bool PageTableBuilder::set_raw_entry(Addr root, Addr va, unsigned level, std::uint64_t value) {
  const Addr slot = find_slot(root, va, level);
  if (!slot) return false;
  write_entry(slot, value);
  return true;
}

// ---- enumeration, sharing and teardown (the guest OS model's fork, exit and munmap) ----

unsigned PageTableBuilder::entry_bytes() const { return format_info(format_).entry_bytes; }

Addr PageTableBuilder::root_table(Addr root) const {
  return format_ == TableFormat::Bits32 ? (root & 0xfffff000u) : (root & pte::kAddressMask);
}

std::optional<PageTableBuilder::Leaf> PageTableBuilder::lookup(Addr root, Addr va) const {
  Leaf leaf;
  if (!find_leaf(root, va, leaf.slot, leaf.level, leaf.entry)) return std::nullopt;
  leaf.page_size = Addr{1} << leaf_shift(format_, leaf.level);
  leaf.va = va & ~(leaf.page_size - 1);
  leaf.pa = entry_address(leaf.entry, leaf.level);
  return leaf;
}

void PageTableBuilder::root_index_range(Addr begin, Addr end, unsigned& first, unsigned& last) const {
  const unsigned top = format_info(format_).levels;
  first = table_index(format_, begin, top);
  last = table_index(format_, end - 1, top);
}

void PageTableBuilder::visit_table(Addr table, unsigned level, Addr base, Addr begin, Addr end,
                                   const std::function<void(const Leaf&)>& visit) const {
  const FormatInfo& info = format_info(format_);
  const Addr span = Addr{1} << index_shift(format_, level);
  const unsigned entries = 1u << index_bits(format_, level);
  for (unsigned i = 0; i < entries; ++i) {
    Addr va = base + span * i;
    // The top level of a canonical space: the upper half starts at its sign-extended base.
    if (level == info.levels && info.va_bits > 32 && (va >> (info.va_bits - 1)) & 1) va |= ~((Addr{1} << info.va_bits) - 1);
    if (va + span - 1 < begin || va >= end) continue;
    const std::uint64_t entry = memory_.read(table + info.entry_bytes * i, info.entry_bytes);
    if (!present(entry)) continue;
    const DecodedEntry d = decode_entry(format_, entry, level, 52, true, true);
    if (d.leaf) {
      if (va < begin) continue;
      Leaf leaf;
      leaf.va = va;
      leaf.page_size = span;
      leaf.pa = d.address;
      leaf.slot = table + info.entry_bytes * i;
      leaf.level = level;
      leaf.entry = entry;
      visit(leaf);
    } else {
      visit_table(d.address, level - 1, va, begin, end, visit);
    }
  }
}

void PageTableBuilder::for_each_leaf(Addr root, Addr begin, Addr end,
                                     const std::function<void(const Leaf&)>& visit) const {
  if (begin >= end) return;
  visit_table(root_table(root), format_info(format_).levels, 0, begin, end, visit);
}

void PageTableBuilder::share_root_entries(Addr from_root, Addr to_root, Addr begin, Addr end) {
  unsigned first, last;
  root_index_range(begin, end, first, last);
  const unsigned bytes = format_info(format_).entry_bytes;
  for (unsigned i = first; i <= last; ++i) {
    const std::uint64_t entry = memory_.read(root_table(from_root) + bytes * i, bytes);
    if (entry) write_entry(root_table(to_root) + bytes * i, entry);
  }
}

void PageTableBuilder::free_table(Addr table, std::vector<Addr>* freed_tables) {
  if (freed_tables) freed_tables->push_back(table);
  else frames_.release(table);
  ++tables_released_;
}

std::size_t PageTableBuilder::release_below(Addr table, unsigned level, std::vector<Addr>* freed_tables,
                                            std::vector<Addr>* cleared_slots) {
  // `table` is a table at `level`; free the tables under its non-leaf entries, then it.
  std::size_t freed = 0;
  if (level > 1) {
    const unsigned bytes = format_info(format_).entry_bytes;
    const unsigned entries = 1u << index_bits(format_, level);
    for (unsigned i = 0; i < entries; ++i) {
      const std::uint64_t entry = memory_.read(table + bytes * i, bytes);
      if (!present(entry) || is_leaf(entry, level)) continue;
      freed += release_below(entry_address(entry, level), level - 1, freed_tables, cleared_slots);
      if (cleared_slots) {
        write_entry(table + bytes * i, 0);
        cleared_slots->push_back(table + bytes * i);
      }
    }
  }
  free_table(table, freed_tables);
  return freed + 1;
}

std::size_t PageTableBuilder::release_tables(Addr root, Addr begin, Addr end, bool release_root,
                                             std::vector<Addr>* freed_tables) {
  const FormatInfo& info = format_info(format_);
  const Addr table = root_table(root);
  std::size_t freed = 0;
  if (begin < end) {
    unsigned first, last;
    root_index_range(begin, end, first, last);
    for (unsigned i = first; i <= last; ++i) {
      const Addr slot = table + info.entry_bytes * i;
      const std::uint64_t entry = memory_.read(slot, info.entry_bytes);
      if (!present(entry)) continue;
      if (!is_leaf(entry, info.levels))
        freed += release_below(entry_address(entry, info.levels), info.levels - 1, freed_tables);
      write_entry(slot, 0);
    }
  }
  if (release_root) {
    free_table(table, freed_tables);
    ++freed;
  }
  return freed;
}

std::size_t PageTableBuilder::release_unused_below(Addr table, unsigned level, Addr base, Addr floor, Addr ceiling,
                                                   std::vector<Addr>* freed_tables,
                                                   std::vector<Addr>& cleared_slots) {
  const FormatInfo& info = format_info(format_);
  const Addr span = Addr{1} << index_shift(format_, level);
  const unsigned entries = 1u << index_bits(format_, level);
  std::size_t freed = 0;
  for (unsigned i = 0; i < entries; ++i) {
    Addr va = base + span * i;
    if (level == info.levels && info.va_bits > 32 && (va >> (info.va_bits - 1)) & 1) va |= ~((Addr{1} << info.va_bits) - 1);
    if (va + span - 1 < floor || va >= ceiling) continue;
    const Addr slot = table + info.entry_bytes * i;
    const std::uint64_t entry = memory_.read(slot, info.entry_bytes);
    if (!present(entry) || is_leaf(entry, level)) continue;
    const bool pae_directory = format_ == TableFormat::Pae && level == info.levels;
    if (va >= floor && va + span - 1 <= ceiling - 1 && !pae_directory) {
      freed += release_below(entry_address(entry, level), level - 1, freed_tables, &cleared_slots);
      write_entry(slot, 0);
      cleared_slots.push_back(slot);
    } else if (level > 2) {
      freed += release_unused_below(entry_address(entry, level), level - 1, va, floor, ceiling, freed_tables, cleared_slots);
    }
  }
  return freed;
}

std::size_t PageTableBuilder::release_unused_tables(Addr root, Addr floor, Addr ceiling,
                                                    std::vector<Addr>* freed_tables,
                                                    std::vector<Addr>& cleared_slots) {
  if (floor >= ceiling) return 0;
  return release_unused_below(root_table(root), format_info(format_).levels, 0, floor, ceiling, freed_tables,
                              cleared_slots);
}

}  // namespace virtsim
