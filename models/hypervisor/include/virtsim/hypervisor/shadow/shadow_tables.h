#pragma once
// The hypervisor's shadow page tables (software MMU virtualization, as KVM's shadow MMU and
// VMware's do; Adams & Agesen, ASPLOS 2006, section 2): tables in host-physical memory that
// map guest-virtual addresses straight to host-physical ones, built from the guest's own
// tables as the guest touches its memory. The hardware walker walks these; the guest's tables
// are only data to it.
//
// - A shadow table is derived from one guest table page (its guest-physical page and level),
//   or is "direct" when it splits a guest large page into host pages of host_page_bytes.
//   Shadow roots are cached per guest CR3 (root_cache of them, least recently loaded evicted).
// - Every guest table page some shadow table is derived from is write-tracked: shadow leaves
//   that map it are read-only, so the guest kernel's stores to it fault and are emulated.
//   Every write into guest memory reaches guest_memory_written(), which zaps the shadow entries
//   the written guest entries stand for, so the shadow never disagrees with the guest at a
//   point where the hardware could walk it. Zapped entries are refilled by the next hidden
//   fault (which then sets the guest's A/D bits). The platform's guest memory view notes the
//   guest kernel model's writes when it prepares them (note_guest_write) and the shadow sees
//   each when the vCPU runs its store (guest_store_ran), in program order.
// - A #PF on the shadow is either a hidden fault (the guest maps the address: the shadow is
//   filled and the guest's accessed/dirty flags set, as the hardware walker would), a store to
//   a write-tracked guest table (emulated), or a true guest fault (reflected into the guest).
//   A guest page whose D flag is clear is shadowed read-only, so its first store faults and
//   sets D (dirty-bit emulation).
// - Optionally (out_of_sync) leaf tables go out of sync instead of being write-protected: the
//   guest's writes to them do not trap, and the shadow entries they changed are dropped at the
//   next CR3 load or INVLPG, when a guest that keeps the TLB rules may rely on them.
// - INVLPG zaps the shadow leaf of the address.
// - Write flooding (KVM's detect_write_flooding): a guest table whose page the guest keeps
//   writing while no shadow fault walks through its shadow table is probably being torn down or
//   reused; after write_flooding_threshold emulated writes its shadow table is zapped, so the
//   page is no longer write-protected, and the next shadow fault that needs it rebuilds it.
// - Unprotect and retry (KVM's retry_instruction): a store by an instruction that does not
//   write page tables (REP STOS / REP MOVS zeroing or copying a page that is, or was, a guest
//   page table) is not emulated; the shadow tables of that page are zapped as for write
//   flooding and the instruction re-executed, its store taking one more hidden fault that
//   maps the page writable. A page one of whose shadow tables is a root a vCPU has loaded
//   (KVM would zap it and reload the vCPU's MMU) is emulated instead.
// - Agile paging (models/hypervisor/agile) switches guest table pages to the nested dimension:
//   a shadow link to such a page is a switching entry (kSwitchBit, the guest-physical address
//   of the guest's table, the guest's rights above it), no shadow table follows the page and it
//   is not write-protected; the hardware walks the guest's own tables below the switch.
// Plain C++ over PhysicalMemory: tests drive it without SystemC.
//
// Checkpoints (save_state, load_state; docs/checkpoints.md) hold everything here that is not in
// host memory (the shadow tables' bytes and frames are the memory's and the frame allocator's).
// The hash maps and sets are only looked up, never walked where their order could decide what
// happens next (the noted writes are replayed in the order they were made, the out-of-sync
// entries are kept by table in an ordered map): a run restored with them built in another
// order goes on as the run that saved them.
//
// Leaves out: 32-bit and PAE guests, PCIDs
// (shadow roots carry PCID 0: every CR3 write flushes the non-global TLB entries), and
// reclaiming shadow pages under memory pressure.
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/shadow_paging.h"
#include "virtsim/common/state_stream.h"
#include "virtsim/common/stats.h"
#include "virtsim/paging/paging.h"
#include "virtsim/memory/physical_memory.h"

namespace virtsim {

struct ShadowConfig {
  TableFormat format = TableFormat::Level4;  // the guest's: Level4 or Level5
  Addr guest_base = 0;                       // host-physical address of guest-physical 0
  Addr guest_bytes = 0;                      // guest-physical memory [0, guest_bytes)
  Addr host_page_bytes = kPageSize4K;        // 4 KiB or 2 MiB: the largest shadow leaf
  unsigned root_cache = 4;                   // shadow roots kept for guest CR3 values
  // Leaf tables (level 1) out of sync, as KVM's unsync pages: guest pages holding them are not
  // write-protected, the guest's writes to them are noted, and the shadow entries they change
  // are dropped at the next CR3 load or INVLPG.
  bool out_of_sync = false;
  // Emulated guest writes to a shadowed table's page, with no shadow fault walking through the
  // table in between, that zap the shadow table (write flooding); 0: never. Leaf tables that go
  // out of sync and roots a vCPU has loaded (or may load without an exit) are never zapped.
  unsigned write_flooding_threshold = 3;
};

// Declared once (scope "system.shadow").
class ShadowParameters {
 public:
  explicit ShadowParameters(const Scope& scope);
  Param<bool> enabled;
  Param<std::string> host_page_size;
  Param<std::uint32_t> root_cache;
  Param<bool> out_of_sync;
  Param<std::uint32_t> write_flooding_threshold;
  Param<bool> check;
};

class ShadowPageTables final : public ShadowPagingControl {
 public:
  ShadowPageTables(const Scope& scope, PhysicalMemory& host, FrameAllocator& host_frames, const ShadowConfig& config);
  ~ShadowPageTables() override;
  ShadowPageTables(const ShadowPageTables&) = delete;
  ShadowPageTables& operator=(const ShadowPageTables&) = delete;

  // ShadowPagingControl.
  Addr load_cr3(unsigned cpu, Addr guest_cr3) override;
  ShadowFaultOutcome page_fault(const PagingControls& guest, Addr va, AccessKind kind, bool user,
                                bool may_unprotect) override;
  void invlpg(Addr guest_cr3, Addr va) override;
  std::vector<Addr> cr3_target_roots(std::size_t n) override;

  // The guest (its kernel model) wrote [gpa, gpa + bytes) of its memory.
  void guest_memory_written(Addr gpa, Addr bytes);
  // The same write, noted when the guest kernel model prepares it but seen by the shadow only
  // when the guest's store of it runs (guest_store_ran), so that the shadow follows the guest's
  // page-table changes in program order: a leaf table's clears trap before the clear of the
  // entry above it unlinks its shadow. Writes into pages no shadow table follows are not kept
  // (a shadow built before the store runs reads what the guest wrote). A write no store
  // announces is seen at the next CR3 load or INVLPG, or when a shadow fault walks its entry.
  void note_guest_write(Addr gpa, Addr bytes);
  // A guest store to [gpa, gpa + bytes) that the guest kernel model wrote ahead has run: the
  // earliest noted write it overlaps (in each page) is seen now.
  void guest_store_ran(Addr gpa, Addr bytes);
  // Guest writes noted and not yet seen (tests).
  std::size_t writes_pending() const { return pending_count_; }
  // Guest-physical memory as the guest kernel model writes it: every write also reaches
  // guest_memory_written(), as the write-protection traps would in hardware.
  MemoryView guest_view();
  // `plain` with every write (word, frame copy, frame zeroing) also reported to `written`.
  static MemoryView watched(MemoryView plain, std::function<void(Addr gpa, Addr bytes)> written);
  // How the hypervisor flushes the vCPUs' TLBs and paging-structure caches (INVVPID in KVM):
  // one guest-virtual page, after it write-protected a shadow leaf; everything of the guest,
  // after it zapped a shadow table (the walk caches may hold pointers into it).
  void set_flushes(std::function<void(Addr va)> page, std::function<void()> all) {
    flush_page_ = std::move(page);
    flush_all_ = std::move(all);
  }
  // Runs check() at every synchronization point (a CR3 load, an INVLPG) and throws on a
  // disagreement.
  void set_checking(bool on) { checking_ = on; }

  // The invariant: every present shadow leaf of every cached root agrees with the guest's
  // tables (present there, the same page, no more rights: writable only if the guest's walk
  // allows stores, D is set and the page is not write-tracked) and every shadow table's links
  // follow its guest table. Returns the disagreements found (empty: consistent).
  std::vector<std::string> check() const;

  // The shadow root cached for a guest CR3, 0 if none (tests).
  Addr cached_root(Addr guest_cr3) const;
  // Whether the guest page holding `gpa` is write-protected (a page table the shadow follows,
  // and in sync).
  bool write_tracked(Addr gpa) const { return protected_page(gpa >> kPageShift4K); }
  std::size_t live_tables() const { return tables_.size(); }
  // Frees every shadow table and forgets every root and loaded CR3 (the guest leaves shadow
  // paging), then flushes the vCPUs' TLBs; returns how many tables went. The next load_cr3()
  // starts an empty root that shadow faults fill again.
  std::size_t drop_all();

  // Checkpoints (shadow_state.cpp): the roots and the loaded CR3s, every shadow table and the
  // guest pages it follows, the shadow leaves by guest page, the out-of-sync entries, the noted
  // guest writes not yet seen, and agile paging's switched pages. Loading replaces what the
  // loading run's boot made; the tables' bytes come back with host memory.
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  // Agile paging. The bit of a shadow link that makes the walk switch to the nested dimension
  // (bit 11, ignored by the hardware in long-mode entries).
  static constexpr std::uint64_t kSwitchBit = std::uint64_t{1} << 11;
  // Puts guest table page `guest_page` in the nested dimension: its shadow tables are zapped
  // and the next hidden fault through a link to it makes a switching entry. False when it is
  // already there or one of its shadow tables is a root (a root stays shadowed).
  bool switch_to_nested(Addr guest_page);
  // Back to shadow: the switching entries to it are zapped, the next hidden faults rebuild its
  // shadow tables (write-protecting it again).
  void switch_to_shadow(Addr guest_page);
  bool nested_mode(Addr guest_page) const { return nested_pages_.count(guest_page) != 0; }
  // Whether a switching entry links `guest_page` (under shadow paging it would be tracked).
  bool switched_into(Addr guest_page) const { return switch_slots_.count(guest_page) != 0; }
  const std::unordered_set<Addr>& nested_pages() const { return nested_pages_; }
  // Whether the shadow walk of `va` under `guest_cr3` reaches a switching entry (a fault of
  // that walk is then in the guest's own tables).
  bool reaches_switch(Addr guest_cr3, Addr va) const;
  // The guest's own walk of `va` (functional, no side effects).
  Translation guest_walk(const PagingControls& guest, Addr va, AccessKind kind, bool user) const {
    return guest_translate(guest, va, kind, user);
  }

  Counter hidden_faults;
  Counter guest_faults;
  Counter writes_emulated;
  Counter dirty_emulations;
  Counter guest_writes_seen;
  Counter entries_zapped;
  Counter tables_created;
  Counter tables_freed;
  Counter root_hits;
  Counter root_misses;
  Counter roots_evicted;
  Counter invlpg_zaps;
  Counter unsync_writes;
  Counter syncs;
  Counter write_protects;
  Counter flood_zaps;
  Counter unprotect_retries;
  Counter large_page_splits;
  Counter ad_updates;
  Counter checks;
  Formula live_shadow_tables;

 private:
  static constexpr Addr kDirect = ~Addr{0};  // a shadow table that splits a guest large page
  struct Table {
    Addr guest_page = kDirect;  // guest-physical page it is derived from
    unsigned level = 0;         // paging level of its entries (4: the root of a 4-level walk)
    Addr va_base = 0;           // first guest-virtual address it covers
    Addr parent_slot = 0;       // host-physical address of the entry linking it, 0 for a root
    unsigned emulated_writes = 0;  // to its guest page since a shadow fault last walked through it
  };
  struct LeafRef {
    Addr slot = 0;  // host-physical address of the shadow leaf entry
    Addr va = 0;    // the guest-virtual page it maps
  };
  struct Root {
    Addr guest_cr3 = 0;  // guest-physical root table
    Addr table = 0;      // host-physical shadow root
  };

  Addr host_of(Addr gpa) const { return config_.guest_base + gpa; }
  std::uint64_t read_guest(Addr gpa) const { return host_.read64(host_of(gpa)); }
  void write_guest(Addr gpa, std::uint64_t v) { host_.write64(host_of(gpa), v); }
  Addr new_table(Addr guest_page, unsigned level, Addr va_base, Addr parent_slot);
  void free_table(Addr table);  // with everything below it
  void zap_entry(Addr table, unsigned index);
  // What the present entry at `slot` (of a table of `level`) holds goes: a leaf's reference, or
  // the table it links with everything below. The entry itself is left as it is.
  void release_target(unsigned level, Addr slot);
  Translation guest_translate(const PagingControls& guest, Addr va, AccessKind kind, bool user) const;
  void track(Addr guest_page, Addr table);
  void untrack(Addr guest_page, Addr table);
  void add_leaf_ref(Addr gpa_page, Addr slot, Addr va);
  void drop_leaf_ref(Addr gpa_page, Addr slot);
  bool range_protected(Addr gpa, Addr bytes) const;  // a write-protected page in the range
  bool protected_page(Addr guest_page) const;
  // An emulated write to `guest_page`: counts it against the page's shadow tables and zaps
  // those that reach the write-flooding threshold.
  void detect_write_flooding(Addr guest_page);
  // A cached root a vCPU has loaded or may load without an exit (CR3-target list): it stays.
  bool pinned_root(Addr table) const;
  // Unlinks and frees a shadow table with everything below it, as KVM's
  // kvm_mmu_prepare_zap_page; a root leaves the cache. Not for a pinned root.
  void zap_table(Addr table);
  // Zaps every shadow table of `guest_page` so that it is no longer write-protected (KVM's
  // kvm_mmu_unprotect_page); false, with nothing zapped, when one of them is a pinned root.
  bool unprotect(Addr guest_page);
  void resync();  // drops the shadow entries out-of-sync guest writes changed
  // Every noted write not yet seen, in the order the guest made them.
  void see_pending_writes();
  Addr root_of(Addr guest_cr3);
  Addr canonical(Addr va) const;
  // The pending flush, then check() when checking at a synchronization point.
  void finish(const char* where, bool synchronization_point);
  void check_table(Addr guest_cr3, Addr table, std::vector<std::string>& problems) const;

  PhysicalMemory& host_;
  FrameAllocator& frames_;
  ShadowConfig config_;
  unsigned levels_ = 4;
  std::list<Root> roots_;                                   // most recently loaded first
  std::unordered_map<Addr, Table> tables_;                  // by host-physical frame
  std::unordered_map<Addr, std::vector<Addr>> derived_;     // guest page -> shadow tables of it
  std::unordered_map<Addr, std::vector<LeafRef>> leaves_;   // guest 4 KiB page -> shadow leaves mapping it
  std::unordered_map<Addr, std::vector<LeafRef>> large_leaves_;  // guest 2 MiB frame -> 2 MiB shadow leaves
  std::vector<Addr> current_;  // the guest CR3 each vCPU has loaded
  std::vector<Addr> listed_;   // the guest CR3s in the CR3-target list: their roots stay
  std::map<Addr, std::vector<unsigned>> out_of_sync_;  // leaf table -> entries the guest changed (walked in order)
  struct PendingWrite {
    std::uint64_t order = 0;  // when the guest kernel model made it
    Addr gpa = 0;
    Addr bytes = 0;  // within one page
  };
  std::unordered_map<Addr, std::deque<PendingWrite>> pending_writes_;  // guest page -> noted writes, in order
  std::size_t pending_count_ = 0;
  std::uint64_t next_write_order_ = 0;
  std::function<void(Addr)> flush_page_;
  std::function<void()> flush_all_;
  bool flush_pending_ = false;  // a shadow table went away: flush everything before returning
  bool checking_ = false;
  PagingControls guest_controls_;  // the guest's last seen control bits (for check())
  std::unordered_set<Addr> nested_pages_;                      // agile: guest table pages in the nested dimension
  std::unordered_map<Addr, std::vector<Addr>> switch_slots_;   // agile: guest page -> switching entries to it
  void drop_switch_slot(Addr guest_page, Addr slot);
};

}  // namespace virtsim
