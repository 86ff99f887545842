#include "virtsim/hypervisor/shadow/shadow_tables.h"

#include <algorithm>
#include <stdexcept>

namespace virtsim {

namespace {
constexpr unsigned kEntries = 512;
// Links between shadow tables are fully permissive: the leaf carries the guest's combined rights.
constexpr std::uint64_t kLinkBits = pte::kPresent | pte::kWritable | pte::kUser | pte::kAccessed;
}  // namespace

ShadowParameters::ShadowParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, false, "",
                     "shadow paging: the hypervisor builds guest-virtual to host-physical tables from the guest's "
                     "(needs system.vmx.mode vmx or svm, system.nested.paging none and 4- or 5-level guest paging)"),
      VIRTSIM_MEMBER(host_page_size, scope, "4k", "",
                     "largest page of a shadow leaf: guest pages larger than this are split", {}, {"4k", "2m"}),
      // KVM keeps the current root and KVM_MMU_NUM_PREV_ROOTS = 3 previous ones
      // (arch/x86/include/asm/kvm_host.h, Linux 4.19 and later).
      VIRTSIM_MEMBER(root_cache, scope, 4, "roots", "shadow roots kept for guest CR3 values (least recent evicted)",
                     Range{1, 1024}),
      VIRTSIM_MEMBER(out_of_sync, scope, false, "",
                     "leaf page tables go out of sync (KVM's unsync pages): the guest's writes to them do not trap, "
                     "and are synchronized at its next CR3 load or INVLPG"),
      // Linux 6.1, arch/x86/kvm/mmu/mmu.c, detect_write_flooding: a shadow page is zapped at its
      // third emulated write (write_flooding_count >= 3) since FNAME(fetch) last walked through it.
      VIRTSIM_MEMBER(write_flooding_threshold, scope, 3, "writes",
                     "emulated guest writes to a shadowed page table, with no shadow fault walking through its shadow "
                     "table in between, after which that shadow table is zapped and the page no longer write-protected "
                     "(KVM's write-flooding detection, 3 in Linux 6.1); loaded roots and out-of-sync leaf tables are exempt; 0: never",
                     Range{0, 1 << 20}),
      VIRTSIM_MEMBER(check, scope, false, "",
                     "check every shadow entry against the guest's tables at each synchronization point: a CR3 load, an INVLPG (slow)") {}

ShadowPageTables::ShadowPageTables(const Scope& scope, PhysicalMemory& host, FrameAllocator& host_frames,
                                   const ShadowConfig& config)
    : VIRTSIM_MEMBER(hidden_faults, scope, "faults", "#PF on the shadow for an address the guest maps: shadow filled"),
      VIRTSIM_MEMBER(guest_faults, scope, "faults", "#PF the guest's own tables give: reflected into the guest"),
      VIRTSIM_MEMBER(writes_emulated, scope, "writes", "guest stores to write-tracked page tables, emulated"),
      VIRTSIM_MEMBER(dirty_emulations, scope, "faults",
                     "first stores to pages shadowed read-only because their guest D flag was clear"),
      VIRTSIM_MEMBER(guest_writes_seen, scope, "writes", "guest writes into write-tracked page-table pages"),
      VIRTSIM_MEMBER(entries_zapped, scope, "entries", "shadow entries cleared because the guest changed its own"),
      VIRTSIM_MEMBER(tables_created, scope, "tables", "shadow tables allocated"),
      VIRTSIM_MEMBER(tables_freed, scope, "tables", "shadow tables freed"),
      VIRTSIM_MEMBER(root_hits, scope, "loads", "CR3 loads that found their shadow root cached"),
      VIRTSIM_MEMBER(root_misses, scope, "loads", "CR3 loads that built a new shadow root"),
      VIRTSIM_MEMBER(roots_evicted, scope, "roots", "cached shadow roots freed to make room"),
      VIRTSIM_MEMBER(invlpg_zaps, scope, "entries", "shadow leaves cleared by the guest's INVLPG"),
      VIRTSIM_MEMBER(unsync_writes, scope, "writes", "guest writes into out-of-sync leaf tables (no trap)"),
      VIRTSIM_MEMBER(syncs, scope, "entries", "shadow entries of out-of-sync leaf tables synchronized"),
      VIRTSIM_MEMBER(write_protects, scope, "entries", "writable shadow leaves made read-only when their page became a page table"),
      VIRTSIM_MEMBER(flood_zaps, scope, "tables",
                     "shadow tables zapped because the guest kept writing their guest table unused (write flooding)"),
      VIRTSIM_MEMBER(unprotect_retries, scope, "faults",
                     "stores by instructions that do not write page tables (REP STOS / MOVS) to a write-protected guest "
                     "page: its shadow tables zapped and the instruction retried instead of emulated (KVM's "
                     "retry_instruction)"),
      VIRTSIM_MEMBER(large_page_splits, scope, "tables", "direct shadow tables splitting a guest page larger than the host page"),
      VIRTSIM_MEMBER(ad_updates, scope, "entries", "guest entries whose accessed/dirty flags the hypervisor set"),
      VIRTSIM_MEMBER(checks, scope, "checks", "invariant checks run (system.shadow.check)"),
      VIRTSIM_MEMBER(live_shadow_tables, scope, "tables", "shadow tables in use at the end",
                     [this] { return static_cast<double>(tables_.size()); }),
      host_(host),
      frames_(host_frames),
      config_(config) {
  if (config.format != TableFormat::Level4 && config.format != TableFormat::Level5)
    throw std::invalid_argument("shadow paging needs 4- or 5-level guest paging");
  if (config.host_page_bytes != kPageSize4K && config.host_page_bytes != kPageSize2M)
    throw std::invalid_argument("shadow paging: host pages are 4 KiB or 2 MiB");
  if (config.guest_base % config.host_page_bytes)
    throw std::invalid_argument("shadow paging: guest memory must start on a host page boundary");
  if (config.root_cache == 0) throw std::invalid_argument("shadow paging: the root cache needs at least one root");
  levels_ = format_info(config.format).levels;
  guest_controls_.format = config.format;
}

ShadowPageTables::~ShadowPageTables() = default;

Addr ShadowPageTables::canonical(Addr va) const {
  const unsigned bits = levels_ == 5 ? 57 : 48;
  const Addr sign = Addr{1} << (bits - 1);
  va &= (Addr{1} << bits) - 1;
  return (va & sign) ? (va | ~((Addr{1} << bits) - 1)) : va;
}

Translation ShadowPageTables::guest_translate(const PagingControls& guest, Addr va, AccessKind kind, bool user) const {
  // Entries beyond guest memory read as not present.
  const auto read = [this](Addr gpa, unsigned) { return gpa + 8 <= config_.guest_bytes ? read_guest(gpa) : 0; };
  return reference_translate(read, guest, va, kind, user);
}

Addr ShadowPageTables::new_table(Addr guest_page, unsigned level, Addr va_base, Addr parent_slot) {
  const Addr table = frames_.allocate(1);
  for (unsigned i = 0; i < kEntries; ++i) host_.write64(table + 8 * i, 0);  // a released frame holds old bytes
  tables_[table] = Table{guest_page, level, va_base, parent_slot};
  ++tables_created;
  if (guest_page != kDirect) track(guest_page, table);
  return table;
}

void ShadowPageTables::free_table(Addr table) {
  const auto it = tables_.find(table);
  if (it == tables_.end()) throw std::logic_error("shadow paging: freeing a table that is not one");
  const Table t = it->second;
  for (unsigned i = 0; i < kEntries; ++i) release_target(t.level, table + 8 * i);
  if (t.guest_page != kDirect) untrack(t.guest_page, table);
  out_of_sync_.erase(table);
  tables_.erase(table);
  frames_.release(table);
  ++tables_freed;
  flush_pending_ = true;
}

void ShadowPageTables::release_target(unsigned level, Addr slot) {
  const std::uint64_t e = host_.read64(slot);
  if (!(e & pte::kPresent)) return;
  const Addr target = e & pte::kAddressMask;
  if (level > 1 && !(e & pte::kPageSize) && (e & kSwitchBit)) return drop_switch_slot(target >> kPageShift4K, slot);
  if (level == 1 || (e & pte::kPageSize)) drop_leaf_ref(target - config_.guest_base, slot);
  else free_table(target);
}

void ShadowPageTables::zap_entry(Addr table, unsigned index) {
  const Addr slot = table + 8 * index;
  if (!(host_.read64(slot) & pte::kPresent)) return;
  release_target(tables_.at(table).level, slot);
  host_.write64(slot, 0);
  ++entries_zapped;
}

void ShadowPageTables::track(Addr guest_page, Addr table) {
  const bool was_protected = protected_page(guest_page);
  derived_[guest_page].push_back(table);
  if (was_protected || !protected_page(guest_page)) return;
  // The page just became a page table the shadow follows: no shadow leaf may let the guest
  // write it without a fault any more.
  if (const auto it = leaves_.find(guest_page); it != leaves_.end()) {
    for (const LeafRef& ref : it->second) {
      const std::uint64_t e = host_.read64(ref.slot);
      if (!(e & pte::kWritable)) continue;
      host_.write64(ref.slot, e & ~(pte::kWritable | pte::kDirty));
      ++write_protects;
      if (flush_page_) flush_page_(ref.va);
    }
  }
  // A 2 MiB shadow leaf over it is split on its next fault.
  if (const auto it = large_leaves_.find(guest_page >> 9); it != large_leaves_.end()) {
    const std::vector<LeafRef> refs = it->second;
    for (const LeafRef& ref : refs) {
      drop_leaf_ref((guest_page >> 9) << 21, ref.slot);
      host_.write64(ref.slot, 0);
      ++write_protects;
      flush_pending_ = true;
    }
  }
}

void ShadowPageTables::untrack(Addr guest_page, Addr table) {
  const auto it = derived_.find(guest_page);
  if (it == derived_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), table), v.end());
  if (v.empty()) derived_.erase(it);
}

void ShadowPageTables::add_leaf_ref(Addr gpa, Addr slot, Addr va) {
  // 2 MiB leaves are only made for 2 MiB-aligned guest frames.
  if (host_.read64(slot) & pte::kPageSize) large_leaves_[gpa >> 21].push_back({slot, va});
  else leaves_[gpa >> kPageShift4K].push_back({slot, va});
}

void ShadowPageTables::drop_leaf_ref(Addr gpa, Addr slot) {
  for (auto* map : {&leaves_, &large_leaves_}) {
    const Addr key = map == &leaves_ ? gpa >> kPageShift4K : gpa >> 21;
    const auto it = map->find(key);
    if (it == map->end()) continue;
    auto& v = it->second;
    const auto before = v.size();
    v.erase(std::remove_if(v.begin(), v.end(), [slot](const LeafRef& r) { return r.slot == slot; }), v.end());
    const bool found = v.size() != before;
    if (v.empty()) map->erase(it);  // v is gone with it
    if (found) return;
  }
}

bool ShadowPageTables::protected_page(Addr guest_page) const {
  const auto it = derived_.find(guest_page);
  if (it == derived_.end()) return false;
  if (!config_.out_of_sync) return true;
  for (const Addr table : it->second)
    if (tables_.at(table).level > 1) return true;  // only leaf tables go out of sync
  return false;
}

bool ShadowPageTables::pinned_root(Addr table) const {
  if (tables_.at(table).parent_slot != 0) return false;
  const auto root = std::find_if(roots_.begin(), roots_.end(), [table](const Root& r) { return r.table == table; });
  if (root == roots_.end()) throw std::logic_error("shadow paging: a table without a parent that is no cached root");
  return std::find(current_.begin(), current_.end(), root->guest_cr3) != current_.end() ||
         std::find(listed_.begin(), listed_.end(), root->guest_cr3) != listed_.end();
}

void ShadowPageTables::zap_table(Addr table) {
  const Addr parent_slot = tables_.at(table).parent_slot;
  if (parent_slot != 0) {
    host_.write64(parent_slot, 0);
  } else {
    roots_.erase(std::find_if(roots_.begin(), roots_.end(), [table](const Root& r) { return r.table == table; }));
  }
  free_table(table);
}

void ShadowPageTables::detect_write_flooding(Addr guest_page) {
  if (config_.write_flooding_threshold == 0) return;
  const auto it = derived_.find(guest_page);
  if (it == derived_.end()) return;
  const std::vector<Addr> shadows = it->second;  // zapping untracks
  for (const Addr table : shadows) {
    const auto t = tables_.find(table);
    if (t == tables_.end()) continue;  // went with a table zapped before it
    Table& shadowed = t->second;
    // KVM 6.1 exempts leaf tables because they go out of sync instead; here only when they do.
    if (config_.out_of_sync && shadowed.level == 1) continue;
    if (++shadowed.emulated_writes < config_.write_flooding_threshold) continue;
    if (pinned_root(table)) continue;
    zap_table(table);
    ++flood_zaps;
  }
}

bool ShadowPageTables::unprotect(Addr guest_page) {
  const auto it = derived_.find(guest_page);
  if (it == derived_.end()) return true;
  const std::vector<Addr> shadows = it->second;  // zapping untracks
  for (const Addr table : shadows)
    if (pinned_root(table)) return false;
  for (const Addr table : shadows)
    if (tables_.count(table)) zap_table(table);  // else went with a table zapped before it
  return true;
}

void ShadowPageTables::drop_switch_slot(Addr guest_page, Addr slot) {
  const auto it = switch_slots_.find(guest_page);
  if (it == switch_slots_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), slot), v.end());
  if (v.empty()) switch_slots_.erase(it);
}

bool ShadowPageTables::switch_to_nested(Addr guest_page) {
  if (nested_pages_.count(guest_page)) return false;
  const auto it = derived_.find(guest_page);
  const std::vector<Addr> shadows = it == derived_.end() ? std::vector<Addr>{} : it->second;  // zapping untracks
  for (const Addr table : shadows)
    if (tables_.at(table).parent_slot == 0) return false;
  nested_pages_.insert(guest_page);
  for (const Addr table : shadows)
    if (tables_.count(table)) zap_table(table);  // else went with a table zapped before it
  finish("a switch to nested", false);
  return true;
}

void ShadowPageTables::switch_to_shadow(Addr guest_page) {
  if (!nested_pages_.erase(guest_page)) return;
  const auto it = switch_slots_.find(guest_page);
  if (it != switch_slots_.end()) {
    for (const Addr slot : it->second) host_.write64(slot, 0);
    entries_zapped += it->second.size();
    switch_slots_.erase(it);
    flush_pending_ = true;  // the walk caches may hold the switching entries
  }
  finish("a switch to shadow", false);
}

bool ShadowPageTables::reaches_switch(Addr guest_cr3, Addr va) const {
  Addr table = cached_root(guest_cr3);
  for (unsigned level = levels_; table && level > 1; --level) {
    const std::uint64_t e = host_.read64(table + 8 * table_index(config_.format, va, level));
    if (!(e & pte::kPresent) || (e & pte::kPageSize)) return false;
    if (e & kSwitchBit) return true;
    table = e & pte::kAddressMask;
  }
  return false;
}

bool ShadowPageTables::range_protected(Addr gpa, Addr bytes) const {
  for (Addr page = gpa >> kPageShift4K; page < (gpa + bytes) >> kPageShift4K; ++page)
    if (protected_page(page)) return true;
  return false;
}

void ShadowPageTables::resync() {
  if (out_of_sync_.empty()) return;
  const auto pending = std::move(out_of_sync_);
  out_of_sync_.clear();
  for (const auto& [table, indices] : pending) {
    if (!tables_.count(table)) continue;
    for (const unsigned index : indices) zap_entry(table, index);
    syncs += indices.size();
  }
}

Addr ShadowPageTables::cached_root(Addr guest_cr3) const {
  for (const Root& r : roots_)
    if (r.guest_cr3 == (guest_cr3 & pte::kAddressMask)) return r.table;
  return 0;
}

Addr ShadowPageTables::root_of(Addr guest_cr3) {
  for (auto it = roots_.begin(); it != roots_.end(); ++it) {
    if (it->guest_cr3 != guest_cr3) continue;
    roots_.splice(roots_.begin(), roots_, it);
    return roots_.front().table;
  }
  return 0;
}

Addr ShadowPageTables::load_cr3(unsigned cpu, Addr guest_cr3_value) {
  const Addr guest_cr3 = guest_cr3_value & pte::kAddressMask;
  if (current_.size() <= cpu) current_.resize(cpu + 1, ~Addr{0});
  current_[cpu] = guest_cr3;
  see_pending_writes();
  resync();
  if (const Addr table = root_of(guest_cr3)) {
    tables_.at(table).emulated_writes = 0;  // in use again (KVM's kvm_mmu_new_pgd)
    ++root_hits;
    finish("MOV to CR3", true);
    return table;
  }
  ++root_misses;
  // Evict the least recently loaded roots no vCPU has loaded.
  for (auto it = roots_.end(); roots_.size() >= config_.root_cache && it != roots_.begin();) {
    --it;
    if (std::find(current_.begin(), current_.end(), it->guest_cr3) != current_.end()) continue;
    if (std::find(listed_.begin(), listed_.end(), it->guest_cr3) != listed_.end()) continue;
    free_table(it->table);
    it = roots_.erase(it);
    ++roots_evicted;
  }
  const Addr table = new_table(guest_cr3 >> kPageShift4K, levels_, 0, 0);
  roots_.push_front({guest_cr3, table});
  finish("MOV to CR3", true);
  return table;
}

std::size_t ShadowPageTables::drop_all() {
  const std::size_t before = tables_.size();
  for (const Root& r : roots_) free_table(r.table);
  roots_.clear();
  current_.clear();
  listed_.clear();
  out_of_sync_.clear();
  if (!tables_.empty()) throw std::logic_error("shadow paging: a shadow table no root reaches");
  finish("dropping every shadow table", false);
  return before;
}

std::vector<Addr> ShadowPageTables::cr3_target_roots(std::size_t n) {
  listed_.clear();
  for (const Root& r : roots_) {
    if (listed_.size() == n) break;
    listed_.push_back(r.guest_cr3);
  }
  return listed_;
}

ShadowFaultOutcome ShadowPageTables::page_fault(const PagingControls& guest, Addr va, AccessKind kind, bool user,
                                                bool may_unprotect) {
  guest_controls_ = guest;
  const Addr guest_cr3 = guest.cr3 & pte::kAddressMask;
  // 1. The guest's own walk decides: a fault there is the guest's.
  const Translation t = guest_translate(guest, va, kind, user);
  if (t.fault) {
    ++guest_faults;
    finish("a guest page fault", false);
    ShadowFaultOutcome fault;
    fault.resolution = ShadowFaultResolution::GuestFault;
    fault.guest_error_code = t.error_code;
    return fault;
  }
  ShadowFaultOutcome out;
  // 2. Its entries, and the accessed/dirty flags the hardware walker would have set in them.
  Addr slots[6] = {};
  std::uint64_t entries[6] = {};
  unsigned leaf_level = 1;
  Addr table = guest_cr3;
  for (unsigned level = levels_;; --level) {
    slots[level] = table + 8 * table_index(config_.format, va, level);
    entries[level] = read_guest(slots[level]);
    out.touch(host_of(slots[level]));
    if (level == 1 || (level <= 3 && (entries[level] & pte::kPageSize))) {
      leaf_level = level;
      break;
    }
    table = entries[level] & pte::kAddressMask;
  }
  // The guest already holds what its not yet run stores will write: the shadow entries this
  // fault walks see those writes first, so that they follow the guest's entries it read.
  for (unsigned level = levels_; level >= leaf_level; --level) guest_store_ran(slots[level], 8);
  const bool guest_dirty_was_clear = !(entries[leaf_level] & pte::kDirty);
  for (unsigned level = levels_; level >= leaf_level; --level) {
    std::uint64_t want = entries[level] | pte::kAccessed;
    if (level == leaf_level && kind == AccessKind::Store) want |= pte::kDirty;
    if (want == entries[level]) continue;
    write_guest(slots[level], want);
    entries[level] = want;
    ++ad_updates;
  }
  // 3. The shadow leaf: the guest's page, or the host-page piece of it holding va; a piece
  //    holding a write-tracked page table is split down to 4 KiB.
  const Addr guest_page_bytes = Addr{1} << leaf_shift(config_.format, leaf_level);
  Addr piece = std::min(guest_page_bytes, config_.host_page_bytes);
  Addr gpa_base = t.physical_address & ~(piece - 1);
  if (piece > kPageSize4K && range_protected(gpa_base, piece)) {
    piece = kPageSize4K;
    gpa_base = t.physical_address & ~(piece - 1);
  }
  const unsigned shadow_leaf_level = piece == kPageSize4K ? 1 : 2;
  Addr shadow = root_of(guest_cr3);
  if (!shadow) shadow = load_cr3(0, guest_cr3);  // a walk under a CR3 no vCPU loaded: tests only
  // Every shadow table this fault walks through is in use: its write-flooding count restarts.
  for (unsigned level = levels_; level > shadow_leaf_level; --level) {
    tables_.at(shadow).emulated_writes = 0;
    const unsigned index = table_index(config_.format, va, level);
    const Addr slot = shadow + 8 * index;
    std::uint64_t e = host_.read64(slot);
    out.touch(slot);
    const bool guest_table_below = level > leaf_level;  // else the guest maps a large page here
    const Addr child_guest = guest_table_below ? (entries[level] & pte::kAddressMask) >> kPageShift4K : kDirect;
    if (guest_table_below && nested_pages_.count(child_guest)) {
      // Agile paging: the guest's table below is walked in the nested dimension. The switching
      // entry carries the rights of the guest's entries above it, which no walk reads.
      bool writable = true, user_ok = true, no_execute = false;
      for (unsigned above = levels_; above >= level; --above) {
        writable = writable && (entries[above] & pte::kWritable);
        user_ok = user_ok && (entries[above] & pte::kUser);
        no_execute = no_execute || (entries[above] & pte::kExecuteDisable);
      }
      std::uint64_t link = (child_guest << kPageShift4K) | pte::kPresent | pte::kAccessed | kSwitchBit;
      if (writable) link |= pte::kWritable;
      if (user_ok) link |= pte::kUser;
      if (no_execute) link |= pte::kExecuteDisable;
      if (e != link) {
        if (e & pte::kPresent) zap_entry(shadow, index);
        host_.write64(slot, link);
        switch_slots_[child_guest].push_back(slot);
      }
      ++hidden_faults;
      finish("a hidden page fault", false);
      return out;
    }
    if ((e & pte::kPresent) && !(e & pte::kPageSize) && (e & kSwitchBit)) {
      zap_entry(shadow, index);  // its guest page went back to shadow
      e = 0;
    }
    if ((e & pte::kPresent) && !(e & pte::kPageSize)) {
      const Table& child = tables_.at(e & pte::kAddressMask);
      if (child.guest_page != child_guest)
        throw std::logic_error("shadow paging: a shadow link at level " + std::to_string(level) + " for " + to_hex(va) +
                               " no longer follows the guest's table");
    } else {
      if (e & pte::kPresent) zap_entry(shadow, index);  // a 2 MiB leaf where a split is needed now
      if (!guest_table_below) ++large_page_splits;
      const Addr va_base = tables_.at(shadow).va_base + (Addr{index} << index_shift(config_.format, level));
      const Addr child = new_table(child_guest, level - 1, va_base, slot);
      e = child | kLinkBits;
      host_.write64(slot, e);
    }
    shadow = e & pte::kAddressMask;
  }
  tables_.at(shadow).emulated_writes = 0;
  const unsigned index = table_index(config_.format, va, shadow_leaf_level);
  const Addr slot = shadow + 8 * index;
  const std::uint64_t old = host_.read64(slot);
  out.touch(slot);
  const bool writable = t.writable && (entries[leaf_level] & pte::kDirty) && !range_protected(gpa_base, piece);
  std::uint64_t leaf = (config_.guest_base + gpa_base) | pte::kPresent | pte::kAccessed;
  if (writable) leaf |= pte::kWritable | pte::kDirty;
  if (t.user) leaf |= pte::kUser;
  if (!t.executable) leaf |= pte::kExecuteDisable;
  if (entries[leaf_level] & pte::kGlobal) leaf |= pte::kGlobal;
  if (shadow_leaf_level > 1) leaf |= pte::kPageSize;
  // (A read-only leaf over a page that stopped being a shadowed table is a plain hidden fault.)
  const bool dirty_fault = kind == AccessKind::Store && guest_dirty_was_clear && (old & pte::kPresent) &&
                           (old & pte::kAddressMask) == (leaf & pte::kAddressMask) && !(old & pte::kWritable);
  if (old & pte::kPresent) zap_entry(shadow, index);
  host_.write64(slot, leaf);
  add_leaf_ref(gpa_base, slot, canonical(va & ~(piece - 1)));
  const Addr guest_page = t.physical_address >> kPageShift4K;
  if (kind == AccessKind::Store && protected_page(guest_page) && may_unprotect && unprotect(guest_page)) {
    // Not an instruction that writes page tables: the page is no longer a table the shadow
    // follows, and the retried store takes a hidden fault on the read-only leaf just made.
    ++unprotect_retries;
    out.resolution = ShadowFaultResolution::Unprotected;
  } else if (kind == AccessKind::Store && protected_page(guest_page)) {
    // A store to a page table the shadow follows: the hypervisor emulates it, and sees the
    // entry the guest kernel model wrote for it (noted when prepared) before it judges flooding,
    // as KVM's kvm_mmu_pte_write does.
    ++writes_emulated;
    guest_store_ran(t.physical_address, 8);
    out.resolution = ShadowFaultResolution::WriteEmulated;
    out.host_address = config_.guest_base + t.physical_address;
    // The leaf just made stays read-only: after a zap the next store takes a hidden fault.
    detect_write_flooding(guest_page);
  } else if (dirty_fault) {
    ++dirty_emulations;
  } else {
    ++hidden_faults;
  }
  finish("a hidden page fault", false);
  return out;
}

void ShadowPageTables::invlpg(Addr guest_cr3, Addr va) {
  see_pending_writes();
  resync();
  Addr table = root_of(guest_cr3 & pte::kAddressMask);
  Addr parent = 0;
  unsigned parent_index = 0;
  for (unsigned level = levels_; table; --level) {
    const unsigned index = table_index(config_.format, va, level);
    const std::uint64_t e = host_.read64(table + 8 * index);
    if (!(e & pte::kPresent) || (level > 1 && !(e & pte::kPageSize) && (e & kSwitchBit))) break;  // below a switch: the guest's
    if (level == 1 || (e & pte::kPageSize)) {
      // A piece of a split guest large page: the whole split goes, as the guest's page does.
      if (parent && tables_.at(table).guest_page == kDirect) zap_entry(parent, parent_index);
      else zap_entry(table, index);
      ++invlpg_zaps;
      break;
    }
    parent = table;
    parent_index = index;
    table = e & pte::kAddressMask;
  }
  finish("INVLPG", true);
}

void ShadowPageTables::guest_memory_written(Addr gpa, Addr bytes) {
  if (bytes == 0) return;
  for (Addr page = gpa >> kPageShift4K; page <= (gpa + bytes - 1) >> kPageShift4K; ++page) {
    const auto it = derived_.find(page);
    if (it == derived_.end()) continue;
    ++guest_writes_seen;
    const Addr from = std::max(gpa, page << kPageShift4K) - (page << kPageShift4K);
    const Addr to = std::min(gpa + bytes, (page + 1) << kPageShift4K) - (page << kPageShift4K);
    const std::vector<Addr> shadows = it->second;  // zapping may untrack tables of this page
    for (const Addr table : shadows) {
      const auto t = tables_.find(table);
      if (t == tables_.end()) continue;
      if (config_.out_of_sync && t->second.level == 1) {
        // No trap: noted, and synchronized at the next CR3 load or INVLPG.
        auto& pending = out_of_sync_[table];
        for (Addr index = from / 8; index < (to + 7) / 8; ++index) pending.push_back(static_cast<unsigned>(index));
        ++unsync_writes;
        continue;
      }
      for (Addr index = from / 8; index < (to + 7) / 8; ++index) zap_entry(table, static_cast<unsigned>(index));
    }
  }
  finish("a guest page-table write", false);
}

void ShadowPageTables::note_guest_write(Addr gpa, Addr bytes) {
  if (bytes == 0) return;
  for (Addr page = gpa >> kPageShift4K; page <= (gpa + bytes - 1) >> kPageShift4K; ++page) {
    if (!derived_.count(page)) continue;
    const Addr from = std::max(gpa, page << kPageShift4K);
    const Addr to = std::min(gpa + bytes, (page + 1) << kPageShift4K);
    pending_writes_[page].push_back({next_write_order_++, from, to - from});
    ++pending_count_;
  }
}

void ShadowPageTables::guest_store_ran(Addr gpa, Addr bytes) {
  if (pending_count_ == 0 || bytes == 0) return;
  for (Addr page = gpa >> kPageShift4K; page <= (gpa + bytes - 1) >> kPageShift4K; ++page) {
    const auto it = pending_writes_.find(page);
    if (it == pending_writes_.end()) continue;
    // The store makes the earliest noted write it overlaps (stores run in the order the writes
    // were made, so it is usually the first one noted); a later write to the same bytes waits
    // for its own store.
    auto& writes = it->second;
    const auto due = std::find_if(writes.begin(), writes.end(), [gpa, bytes](const PendingWrite& w) {
      return w.gpa < gpa + bytes && gpa < w.gpa + w.bytes;
    });
    if (due == writes.end()) continue;
    const PendingWrite w = *due;
    writes.erase(due);
    if (writes.empty()) pending_writes_.erase(it);
    --pending_count_;
    guest_memory_written(w.gpa, w.bytes);  // may zap shadow tables, never notes a write
  }
}

void ShadowPageTables::see_pending_writes() {
  if (pending_count_ == 0) return;
  std::vector<PendingWrite> all;
  all.reserve(pending_count_);
  for (const auto& [page, writes] : pending_writes_) all.insert(all.end(), writes.begin(), writes.end());
  pending_writes_.clear();
  pending_count_ = 0;
  std::sort(all.begin(), all.end(), [](const PendingWrite& a, const PendingWrite& b) { return a.order < b.order; });
  for (const PendingWrite& w : all) guest_memory_written(w.gpa, w.bytes);
}

MemoryView ShadowPageTables::watched(MemoryView plain, std::function<void(Addr, Addr)> written) {
  MemoryView view = plain;
  view.write = [plain, written](Addr gpa, std::uint64_t v, unsigned bytes) {
    plain.write(gpa, v, bytes);
    written(gpa, bytes);
  };
  view.copy_frames = [plain, written](Addr to, Addr from) {
    plain.copy_frame(to, from);
    written(to, kPageSize4K);
  };
  view.zero_frames = [plain, written](Addr frame) {
    plain.zero_frame(frame);
    written(frame, kPageSize4K);
  };
  return view;
}

MemoryView ShadowPageTables::guest_view() {
  return watched(MemoryView::of(host_, config_.guest_base),
                 [this](Addr gpa, Addr bytes) { guest_memory_written(gpa, bytes); });
}

void ShadowPageTables::finish(const char* where, bool synchronization_point) {
  if (flush_pending_) {
    flush_pending_ = false;
    if (flush_all_) flush_all_();
  }
  if (!checking_ || !synchronization_point) return;
  ++checks;
  const std::vector<std::string> problems = check();
  if (!problems.empty())
    throw std::runtime_error(std::string("shadow paging: the shadow disagrees with the guest after ") + where + ": " +
                             problems.front() + " (" + std::to_string(problems.size()) + " disagreements)");
}

std::vector<std::string> ShadowPageTables::check() const {
  std::vector<std::string> problems;
  for (const Root& r : roots_) check_table(r.guest_cr3, r.table, problems);
  return problems;
}

void ShadowPageTables::check_table(Addr guest_cr3, Addr table, std::vector<std::string>& problems) const {
  const auto found = tables_.find(table);
  if (found == tables_.end()) {
    problems.push_back("a link to " + to_hex(table) + ", which is no shadow table");
    return;
  }
  const Table& t = found->second;
  const auto pending = out_of_sync_.find(table);
  for (unsigned i = 0; i < kEntries; ++i) {
    const std::uint64_t e = host_.read64(table + 8 * i);
    if (!(e & pte::kPresent)) continue;
    // An out-of-sync entry may disagree until the next synchronization point.
    if (pending != out_of_sync_.end() && std::find(pending->second.begin(), pending->second.end(), i) != pending->second.end())
      continue;
    const Addr va = canonical(t.va_base + (Addr{i} << index_shift(config_.format, t.level)));
    const bool leaf = t.level == 1 || (e & pte::kPageSize);
    if (!leaf && (e & kSwitchBit)) {
      const Addr target = (e & pte::kAddressMask) >> kPageShift4K;
      if (!nested_pages_.count(target))
        problems.push_back("a switching entry for " + to_hex(va) + " to a guest table that is not in the nested dimension");
      if (t.guest_page != kDirect) {
        const std::uint64_t g = read_guest((t.guest_page << kPageShift4K) + 8 * i);
        if (!(g & pte::kPresent) || (g & pte::kPageSize) || (g & pte::kAddressMask) >> kPageShift4K != target)
          problems.push_back("a switching entry for " + to_hex(va) + " does not follow the guest's entry " + to_hex(g));
        if ((e & pte::kWritable) && !(g & pte::kWritable))
          problems.push_back("a switching entry lets " + to_hex(va) + " be written, the guest's entry does not");
        if ((e & pte::kUser) && !(g & pte::kUser)) problems.push_back("a switching entry gives user access to " + to_hex(va));
      }
      continue;
    }
    if (!leaf) {
      const auto child = tables_.find(e & pte::kAddressMask);
      if (child == tables_.end() || child->second.level != t.level - 1) {
        problems.push_back("level-" + std::to_string(t.level) + " link for " + to_hex(va) + " to no table of the level below");
        continue;
      }
      if (t.guest_page != kDirect) {
        const std::uint64_t g = read_guest((t.guest_page << kPageShift4K) + 8 * i);
        const bool guest_large = t.level <= 3 && (g & pte::kPageSize);
        const Addr expected = !(g & pte::kPresent) ? ~Addr{1} : guest_large ? kDirect : (g & pte::kAddressMask) >> kPageShift4K;
        if (child->second.guest_page != expected)
          problems.push_back("level-" + std::to_string(t.level) + " link for " + to_hex(va) +
                             " does not follow the guest's entry " + to_hex(g));
      } else if (child->second.guest_page != kDirect) {
        problems.push_back("a split of a guest large page links to a guest table at " + to_hex(va));
      }
      check_table(guest_cr3, e & pte::kAddressMask, problems);
      continue;
    }
    PagingControls c = guest_controls_;
    c.cr3 = guest_cr3;
    const Translation g = guest_translate(c, va, AccessKind::Load, false);
    const Addr piece = Addr{1} << index_shift(config_.format, t.level);
    if (g.fault) {
      problems.push_back("shadow maps " + to_hex(va) + ", the guest does not");
      continue;
    }
    const Addr gpa = g.physical_address & ~(piece - 1);
    if ((e & pte::kAddressMask) != config_.guest_base + gpa)
      problems.push_back("shadow maps " + to_hex(va) + " to " + to_hex(e & pte::kAddressMask) + ", the guest to gpa " +
                         to_hex(gpa));
    if ((e & pte::kWritable) && (!g.writable || !g.dirty || range_protected(gpa, piece)))
      problems.push_back("shadow lets " + to_hex(va) + " be written without a fault");
    if ((e & pte::kUser) && !g.user) problems.push_back("shadow gives user access to " + to_hex(va));
    if (!(e & pte::kExecuteDisable) && !g.executable) problems.push_back("shadow lets " + to_hex(va) + " execute");
  }
}

}  // namespace virtsim
