#include "virtsim/mmu/page_walker.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "virtsim/common/debug_trace.h"

namespace virtsim {

namespace {

// A walk-cache value's aux word: the rights' four bytes as they are in memory in its low 32
// bits (one move each way, not four tests), the nested TLB's page shift above them.
static_assert(sizeof(Rights) == 4 && std::is_trivially_copyable_v<Rights>);
std::uint64_t pack(const Rights& r) {
  std::uint32_t bits;
  std::memcpy(&bits, &r, sizeof bits);
  return bits;
}
Rights unpack(std::uint64_t aux) {
  Rights r;
  const auto bits = static_cast<std::uint32_t>(aux);
  std::memcpy(static_cast<void*>(&r), &bits, sizeof r);
  return r;
}
constexpr unsigned kAuxShiftBit = 32;  // where the nested TLB's page shift sits in aux
// A prefix-cache entry of an agile walk's nested part: its table is guest-physical.
constexpr std::uint64_t kAuxTwoDimensional = std::uint64_t{1} << 40;
// Nested-TLB key: the nested page's shift in the top byte, its page number below, so one entry
// covers a whole 4 KiB, 2 MiB or 1 GiB nested page.
std::uint64_t nested_tlb_key(Addr gpa, unsigned page_shift) {
  return (std::uint64_t{page_shift} << 56) | (gpa >> page_shift);
}
// Prefix-cache key: the level in the top byte, the input-address bits the levels above
// `level` (inclusive) translate below it.
std::uint64_t prefix_key(TableFormat f, Addr address, unsigned level) {
  return (std::uint64_t{level} << 56) | ((address >> index_shift(f, level)) & ((std::uint64_t{1} << 56) - 1));
}

const std::vector<std::string> kGridRows{"gL5", "gL4", "gL3", "gL2", "gL1", "gPA"};
const std::vector<std::string> kGridColumns{"nL5", "nL4", "nL3", "nL2", "nL1", "entry"};

}  // namespace

WalkRequest WalkRequest::linear(Addr cr3, Addr va, AccessKind kind, bool user) {
  WalkRequest r;
  r.guest.cr3 = cr3;
  r.va = va;
  r.kind = kind;
  r.user = user;
  return r;
}

WalkerParameters::WalkerParameters(const Scope& scope)
    // Defaults: the page walk cache and nested TLB of Bhargava et al. (ASPLOS 2008, section 5):
    // PWC 24 entries fully associative, 2 cycles; nested TLB 16 entries fully associative,
    // 2 cycles. 24 is not a power-of-two set count only when set-associative; fully
    // associative (ways = entries) has one set.
    : pwc(scope.child("pwc"), true, 24, 24, 2, {"entry", "prefix"}, "guest-dimension page walk cache"),
      nested_pwc(scope.child("nested_pwc"), true, 24, 24, 2, {"entry", "prefix"},
                 "nested-dimension page walk cache"),
      nested_tlb(scope.child("nested_tlb"), true, 16, 16, 2, {}, "nested TLB (guest-physical to host-physical)") {}

WalkerConfig WalkerParameters::config() const { return {pwc.config(), nested_pwc.config(), nested_tlb.config()}; }

PageWalker::PageWalker(const Scope& scope, const WalkerConfig& config)
    : pwc(scope.child("pwc"), config.pwc),
      nested_pwc(scope.child("nested_pwc"), config.nested_pwc),
      nested_tlb(scope.child("nested_tlb"), config.nested_tlb),
      VIRTSIM_MEMBER(walks, scope, "walks", "page walks completed (including faulting ones)"),
      VIRTSIM_MEMBER(walks_2d, scope, "walks", "walks through nested (EPT/NPT) tables"),
      VIRTSIM_MEMBER(refs, scope, "references", "page-table entries read from memory by walks"),
      VIRTSIM_MEMBER(ad_writes, scope, "writes", "accessed/dirty flag updates written to entries"),
      VIRTSIM_MEMBER(faults, scope, "walks", "walks that ended in a fault"),
      VIRTSIM_MEMBER(cycles, scope, "cycles", "total latency of all walks"),
      VIRTSIM_MEMBER(refs_per_walk, scope, "references", "memory references per walk", 0, 1, 40),
      VIRTSIM_MEMBER(walk_cycles, scope, "cycles", "latency of each walk", 0, 5, 1000),  // 5-cycle buckets: a CDF fine enough to tell a cache hit from a miss
      VIRTSIM_MEMBER(refs_by_level, scope, "references", "guest-dimension entries read per paging level",
                     {"L5", "L4", "L3", "L2", "L1"}),
      VIRTSIM_MEMBER(agile_nested_levels, scope, "walks",
                     "agile paging walks by the number of guest levels read in the nested dimension (0: the whole "
                     "walk in the shadow tables)",
                     {"0", "1", "2", "3", "4", "5"}),
      VIRTSIM_MEMBER(faults_by_kind, scope, "walks", "walks ending in each kind of fault",
                     {"page fault", "general protection", "EPT violation", "EPT misconfiguration",
                      "nested page fault"}),
      VIRTSIM_MEMBER(grid_refs, scope, "references",
                     "memory references per cell of the 2-D walk (guest step x nested level)", kGridRows, kGridColumns),
      VIRTSIM_MEMBER(grid_cache_hits, scope, "hits", "walk-cache hits that replaced references, per grid cell",
                     kGridRows, kGridColumns),
      VIRTSIM_MEMBER(grid_l1_hits, scope, "references", "references served by the L1 data cache, per grid cell",
                     kGridRows, kGridColumns),
      VIRTSIM_MEMBER(grid_l2_hits, scope, "references", "references served by the L2 cache, per grid cell", kGridRows,
                     kGridColumns),
      VIRTSIM_MEMBER(grid_llc_hits, scope, "references", "references served by the last-level cache, per grid cell",
                     kGridRows, kGridColumns),
      VIRTSIM_MEMBER(grid_dram, scope, "references", "references served by DRAM, per grid cell", kGridRows,
                     kGridColumns),
      VIRTSIM_MEMBER(mean_refs_per_walk, scope, "references/walk", "average references per walk", [this] {
        return walks.count() ? static_cast<double>(refs.count()) / static_cast<double>(walks.count()) : 0.0;
      }),
      served_cells_{grid_l1_hits.cell_data(), grid_l2_hits.cell_data(), grid_llc_hits.cell_data(),
                    grid_dram.cell_data(), flat_cells_.data()} {}

std::size_t PageWalker::guest_row() const {
  if (state_ == State::NestedEntry && purpose_ == Purpose::FinalData) return kDataRow;
  return 5 - level_;
}

[[gnu::hot]] void PageWalker::record_reference(std::size_t row, std::size_t column, const MemoryResult& timing) {
  ++outcome_.refs;
  outcome_.cycles += timing.cycles;
  grid_refs.add(row, column);
  // Indexed, not switched: which level serves a reference is as random as the workload.
  served_cells_[static_cast<unsigned>(timing.served_by)][row * (kEntryColumn + 1) + column] += 1;
}

void PageWalker::fail(const Translation& t) {
  outcome_.translation = t;
  state_ = State::Done;
}

void PageWalker::page_fault(std::uint32_t error_code, bool add_access_bits) {
  const PagingControls& c = request_.guest;
  const bool nx_active = c.no_execute && c.format != TableFormat::Bits32;
  Translation t;
  t.fault = true;
  t.fault_kind = FaultKind::PageFault;
  t.error_code = error_code | (add_access_bits ? access_error_bits(request_.kind, request_.user, nx_active) : 0u);
  fail(t);
}

[[gnu::hot]] void PageWalker::start(const WalkRequest& request) {
  if (state_ == State::GuestEntry || state_ == State::NestedEntry)
    throw std::logic_error("PageWalker::start while a walk is in flight");
  if (&request != &request_) request_ = request;  // the MMU writes its requests in place (next_request())
  // The translation is written whole when the walk ends (finish_walk() or fail()).
  outcome_.refs = outcome_.ad_writes = outcome_.cache_hits = 0;
  outcome_.cycles = 0;
  port_ = nullptr;
  // guest_slots_ needs no clearing: finish_walk() reads only the levels from
  // first_read_level_ down, each of which this walk writes before it reads the entry.
  guest_info_ = &format_info(request.guest.format);
  nested_info_ = request.nested ? &format_info(request.nested_controls.format) : nullptr;
  if (nested_info_ && !request.nested_controls.is_ept() && request.nested_controls.format != TableFormat::Level4 &&
      request.nested_controls.format != TableFormat::Level5)
    throw std::invalid_argument("nested tables must be EPT or long-mode (NPT) tables");

  agile_ = request.nested && request.nested_controls.agile_switch_bit != 0;
  two_d_ = request.nested && !agile_;
  nested_levels_ = 0;
  va_ = request.va;
  if (guest_info_->va_bits == 32) {
    va_ &= 0xffffffffu;
  } else if (!is_canonical(va_, guest_info_->va_bits)) {
    Translation t;
    t.fault = t.non_canonical = true;
    t.fault_kind = FaultKind::GeneralProtection;
    return fail(t);
  }
  const PagingControls& c = request.guest;
  level_ = guest_info_->levels;
  table_ = c.format == TableFormat::Bits32 ? (c.cr3 & 0xfffff000u) : (c.cr3 & pte::kAddressMask);
  rights_ = Rights{};
  unsigned top = guest_info_->levels;
  if (c.format == TableFormat::Pae) {
    // The PDPTE comes from the registers loaded at MOV to CR3: no memory reference.
    const std::uint64_t entry = c.pdptes[table_index(c.format, va_, 3)];
    const DecodedEntry d = decode_entry(c.format, entry, 3, c.max_phys_bits, c.no_execute, c.page_size_ext);
    if (!d.present) return page_fault(0, true);
    if (d.reserved) return page_fault(pf::kPresent | pf::kReserved, true);
    table_ = d.address;
    level_ = top = 2;
  }
  // Prefix caches: the deepest level that hits skips every reference above it.
  if (pwc.caches_prefixes()) {
    for (unsigned level = 2; level <= top; ++level) {
      if (const auto* hit = pwc.lookup(prefix_key(c.format, va_, level), request.guest_tag)) {
        table_ = hit->address;
        rights_ = unpack(hit->aux);
        level_ = level - 1;
        if (agile_ && (hit->aux & kAuxTwoDimensional)) two_d_ = true;  // resumes past the switch
        outcome_.cycles += pwc.config().hit_cycles;
        ++outcome_.cache_hits;
        grid_cache_hits.add(5 - level, kEntryColumn);
        break;
      }
    }
  }
  first_read_level_ = level_;
  begin_guest_level();
}

[[gnu::hot]] void PageWalker::begin_guest_level() {
  const Addr slot = table_ + guest_info_->entry_bytes * table_index(request_.guest.format, va_, level_);
  if (!two_d_) {
    guest_slots_[level_] = slot;
    state_ = State::GuestEntry;
    return;
  }
  begin_nested(slot, Purpose::GuestTable);
}

[[gnu::hot]] void PageWalker::step(MemoryPort& port) {
  port_ = &port;
  switch (state_) {
    case State::GuestEntry: return read_guest_entry(port, guest_slots_[level_]);
    case State::NestedEntry: return nested_step(port);
    case State::Idle:
    case State::Done: return;
  }
}

[[gnu::hot]] void PageWalker::read_guest_entry(MemoryPort& port, Addr host_slot) {
  const PagingControls& c = request_.guest;
  const bool entry_cache = pwc.caches_entries();
  std::uint64_t entry = 0;
  bool from_memory = true;
  if (entry_cache) {
    if (const auto* hit = pwc.lookup(host_slot, request_.guest_tag)) {
      entry = hit->address;
      from_memory = false;
      outcome_.cycles += pwc.config().hit_cycles;
      ++outcome_.cache_hits;
      grid_cache_hits.add(5 - level_, kEntryColumn);
    }
  }
  if (from_memory) {
    record_reference(5 - level_, kEntryColumn, port.read_entry(host_slot, guest_info_->entry_bytes, entry));
    refs_by_level.add(5 - level_);
  }
  if (agile_ && two_d_) ++nested_levels_;
  guest_entries_[level_] = entry;

  const DecodedEntry d = decode_entry(c.format, entry, level_, c.max_phys_bits, c.no_execute, c.page_size_ext);
  if (!d.present) return page_fault(0, true);
  if (d.reserved) return page_fault(pf::kPresent | pf::kReserved, true);
  rights_.combine(d);
  if (d.leaf) {
    if (const auto code = check_access(c, rights_, request_.kind, request_.user)) return page_fault(code, false);
    leaf_level_ = level_;
    guest_page_shift_ = leaf_shift(c.format, level_);
    final_gpa_ = d.address | (va_ & ((Addr{1} << guest_page_shift_) - 1));
    if (two_d_) return begin_nested(final_gpa_, Purpose::FinalData);
    return finish_walk(port);
  }
  // The agile switch: the shadow entry holds the guest-physical address of the guest's table
  // below, and the walk goes on in two dimensions (GuestEntry -> NestedEntry for that table).
  const bool switching = agile_ && !two_d_ && (entry & request_.nested_controls.agile_switch_bit);
  // Both fills follow a lookup of their key that missed: this step's, or start()'s for each
  // level below the deepest prefix hit. An agile walk's prefixes past the switch say so: a hit
  // on one resumes the walk in two dimensions.
  if (from_memory && entry_cache) pwc.fill_missed(host_slot, request_.guest_tag, {entry, 0});
  if (pwc.caches_prefixes())
    pwc.fill_missed(prefix_key(c.format, va_, level_), request_.guest_tag,
                    {d.address, pack(rights_) | (agile_ && (two_d_ || switching) ? kAuxTwoDimensional : 0)});
  table_ = d.address;
  --level_;
  if (switching) two_d_ = true;
  begin_guest_level();
}

[[gnu::hot]] void PageWalker::begin_nested(Addr gpa, Purpose purpose) {
  const NestedControls& n = request_.nested_controls;
  purpose_ = purpose;
  nested_gpa_ = gpa;
  state_ = State::NestedEntry;
  const std::size_t row = purpose == Purpose::FinalData ? kDataRow : 5 - level_;
  nested_tlb_missed_ = true;
  if (nested_tlb.enabled()) {
    // Only the page sizes the nested TLB has ever held can hit: a lookup tries each of them.
    std::array<std::uint64_t, 3> keys;
    std::size_t sizes = 0;
    for (unsigned level = 1; level <= keys.size(); ++level)
      if (nested_tlb_levels_ & (1u << level)) keys[sizes++] = nested_tlb_key(gpa, leaf_shift(level));
    if (const auto* hit = nested_tlb.lookup_any(keys.data(), sizes, request_.nested_tag)) {
      nested_tlb_missed_ = false;
      const NestedAccess access = nested_access(n, purpose == Purpose::FinalData ? request_.kind : AccessKind::Load,
                                                purpose == Purpose::GuestTable);
      Translation denied;
      const Rights r = unpack(hit->aux);
      // An entry without the rights this access needs is re-walked, which reports the fault.
      if (!nested_leaf_denies(n, access, r, gpa, denied)) {
        outcome_.cycles += nested_tlb.config().hit_cycles;
        ++outcome_.cache_hits;
        grid_cache_hits.add(row, nested_column(1));
        const auto shift = static_cast<unsigned>(hit->aux >> kAuxShiftBit);
        return finish_nested(hit->address | (gpa & ((Addr{1} << shift) - 1)), shift, r.writable,
                             !r.execute_disable);
      }
    }
  }
  nested_level_ = nested_info_->levels;
  nested_table_ = n.root & pte::kAddressMask;
  nested_rights_ = Rights{};
  if (nested_pwc.caches_prefixes()) {
    for (unsigned level = 2; level <= nested_info_->levels; ++level) {
      if (const auto* hit = nested_pwc.lookup(prefix_key(n.format, gpa, level), request_.nested_tag)) {
        nested_table_ = hit->address;
        nested_rights_ = unpack(hit->aux);
        nested_level_ = level - 1;
        outcome_.cycles += nested_pwc.config().hit_cycles;
        ++outcome_.cache_hits;
        grid_cache_hits.add(row, nested_column(level));
        break;
      }
    }
  }
  nested_first_read_level_ = nested_level_;
}

[[gnu::hot]] void PageWalker::nested_step(MemoryPort& port) {
  const NestedControls& n = request_.nested_controls;
  const std::size_t row = purpose_ == Purpose::FinalData ? kDataRow : 5 - level_;
  const Addr slot = nested_table_ + 8 * table_index(n.format, nested_gpa_, nested_level_);
  const bool entry_cache = nested_pwc.caches_entries();
  std::uint64_t entry = 0;
  bool from_memory = true;
  if (entry_cache) {
    if (const auto* hit = nested_pwc.lookup(slot, request_.nested_tag)) {
      entry = hit->address;
      from_memory = false;
      outcome_.cycles += nested_pwc.config().hit_cycles;
      ++outcome_.cache_hits;
      grid_cache_hits.add(row, nested_column(nested_level_));
    }
  }
  if (from_memory) record_reference(row, nested_column(nested_level_), port.read_entry(slot, 8, entry));
  nested_slots_[nested_level_] = slot;
  nested_entries_[nested_level_] = entry;

  const NestedAccess access = nested_access(n, purpose_ == Purpose::FinalData ? request_.kind : AccessKind::Load,
                                            purpose_ == Purpose::GuestTable);
  const DecodedEntry d = decode_entry(n.format, entry, nested_level_, n.max_phys_bits, true, true);
  Translation fault;
  if (nested_entry_faults(n, access, d, nested_gpa_, fault)) return fail(fault);
  nested_rights_.combine(d);
  if (d.leaf) {
    if (nested_leaf_denies(n, access, nested_rights_, nested_gpa_, fault)) return fail(fault);
    const unsigned shift = leaf_shift(n.format, nested_level_);
    const Addr hpa = d.address | (nested_gpa_ & ((Addr{1} << shift) - 1));
    if (nested_tlb.enabled()) {
      const WalkCache::Value value{hpa & ~((Addr{1} << shift) - 1),
                                   pack(nested_rights_) | (std::uint64_t{shift} << kAuxShiftBit)};
      const std::uint64_t key = nested_tlb_key(nested_gpa_, shift);
      // After a miss there is nothing to refresh (a size never held was not looked up, and has
      // no entry either); an entry that lacked the rights is refreshed.
      if (nested_tlb_missed_) nested_tlb.fill_missed(key, request_.nested_tag, value);
      else nested_tlb.fill(key, request_.nested_tag, value);
      nested_tlb_levels_ |= 1u << nested_level_;
    }
    // Accessed/dirty flags of the nested entries this walk read: always for NPT (long-mode
    // tables), for EPT only when the EPTP enables them.
    if (!n.is_ept() || n.access_dirty) {
      const std::uint64_t accessed = n.is_ept() ? ept::kAccessed : pte::kAccessed;
      const std::uint64_t dirty = n.is_ept() ? ept::kDirty : pte::kDirty;
      for (unsigned level = nested_first_read_level_; level >= nested_level_; --level) {
        if (!nested_slots_[level]) continue;
        std::uint64_t want = nested_entries_[level] | accessed;
        if (level == nested_level_ && access.write) want |= dirty;
        if (want == nested_entries_[level]) continue;
        outcome_.cycles += port.write_entry(nested_slots_[level], 8, want).cycles;
        ++outcome_.ad_writes;
        if (level != nested_level_ && entry_cache) nested_pwc.fill(nested_slots_[level], request_.nested_tag, {want, 0});
      }
    }
    return finish_nested(hpa, shift, nested_rights_.writable, !nested_rights_.execute_disable);
  }
  // As in read_guest_entry(): this step's lookup, or begin_nested()'s, missed these keys.
  if (from_memory && entry_cache) nested_pwc.fill_missed(slot, request_.nested_tag, {entry, 0});
  if (nested_pwc.caches_prefixes())
    nested_pwc.fill_missed(prefix_key(n.format, nested_gpa_, nested_level_), request_.nested_tag,
                    {d.address, pack(nested_rights_)});
  nested_table_ = d.address;
  --nested_level_;
}

[[gnu::hot]] void PageWalker::finish_nested(Addr hpa, unsigned page_shift, bool writable, bool executable) {
  if (purpose_ == Purpose::GuestTable) {
    guest_slots_[level_] = hpa;
    state_ = State::GuestEntry;
    return;
  }
  nested_page_shift_ = page_shift;
  nested_writable_ = writable;
  nested_executable_ = executable;
  final_hpa_ = hpa;
  // The final translation always follows a guest entry read, made inside step(port).
  if (!port_) throw std::logic_error("PageWalker: final nested translation outside step()");
  finish_walk(*port_);
}

[[gnu::hot]] void PageWalker::finish_walk(MemoryPort& port) {
  // Accessed flags on every guest entry this walk read, dirty on the leaf for a store (SDM
  // 4.8). Entries a prefix-cache hit skipped already have A set: only such entries are cached.
  const std::uint64_t leaf = guest_entries_[leaf_level_];
  for (unsigned level = first_read_level_; level >= leaf_level_; --level) {
    if (!guest_slots_[level]) continue;
    std::uint64_t want = guest_entries_[level] | pte::kAccessed;
    if (level == leaf_level_ && request_.kind == AccessKind::Store) want |= pte::kDirty;
    if (want == guest_entries_[level]) continue;
    outcome_.cycles += port.write_entry(guest_slots_[level], guest_info_->entry_bytes, want).cycles;
    ++outcome_.ad_writes;
    if (level != leaf_level_ && pwc.caches_entries())
      pwc.fill(guest_slots_[level], request_.guest_tag, {want, 0});
  }
  Translation& t = outcome_.translation;
  t = Translation{};
  t.leaf_entry = leaf;
  t.page_shift = t.mapping_shift = guest_page_shift_;
  t.writable = rights_.writable;
  t.user = rights_.user;
  t.executable = !rights_.execute_disable;
  t.global = leaf & pte::kGlobal;
  t.dirty = (leaf & pte::kDirty) || request_.kind == AccessKind::Store;
  if (two_d_) {
    t.guest_physical_address = final_gpa_;
    t.physical_address = final_hpa_;
    t.page_shift = std::min(guest_page_shift_, nested_page_shift_);
    t.writable = t.writable && nested_writable_;
    t.executable = t.executable && nested_executable_;
  } else {
    t.physical_address = final_gpa_;
  }
  state_ = State::Done;
}

[[gnu::hot]] const WalkOutcome& PageWalker::walk(const WalkRequest& request, MemoryPort& port) {
  start(request);
  while (state_ != State::Done) step(port);
  state_ = State::Idle;
  ++walks;
  if (two_d_) ++walks_2d;
  if (agile_) agile_nested_levels.add(nested_levels_);
  refs += outcome_.refs;
  ad_writes += outcome_.ad_writes;
  cycles += outcome_.cycles;
  if (outcome_.translation.fault) {
    ++faults;
    faults_by_kind.add(static_cast<std::size_t>(outcome_.translation.fault_kind) - 1);
  }
  refs_per_walk.sample(outcome_.refs);
  walk_cycles.sample(static_cast<double>(outcome_.cycles));
  if (debug_trace::on(debug_trace::kWalk)) trace_walk(request);
  return outcome_;
}

void PageWalker::trace_walk(const WalkRequest& request) const {
  const Translation& t = outcome_.translation;
  debug_trace::line(debug_trace::kWalk, "va=0x%llx %s refs=%u cache_hits=%u ad_writes=%u cycles=%llu %s",
                    static_cast<unsigned long long>(request.va), request.nested ? "2d" : "1d",
                    outcome_.refs, outcome_.cache_hits, outcome_.ad_writes,
                    static_cast<unsigned long long>(outcome_.cycles),
                    t.fault ? "fault" : t.page_shift >= 30 ? "page=1G" : t.page_shift >= 21 ? "page=2M" : "page=4K");
}

}  // namespace virtsim
