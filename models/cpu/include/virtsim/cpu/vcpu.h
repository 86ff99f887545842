#pragma once
// A virtual CPU: one SystemC thread that executes a guest event stream. Plain instructions
// cost `cpi` cycles each; a memory instruction looks up the L1 DTLB inline (a plain call, the
// hot path), on a miss asks the MMU through the `translate` port, then makes the data access
// through the `data` port (each the target itself when the platform connected it, else the
// TLM socket: tlm_ports.h). Time moves
// only through the quantum keeper: the thread runs ahead of SystemC time and syncs at quantum
// boundaries (Accellera LT style).
#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <vector>
#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "virtsim/common/clock.h"
#include "virtsim/common/debug_trace.h"
#include "virtsim/common/guest_event.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/tlm_ports.h"
#include "virtsim/common/translation_extension.h"
#include "virtsim/common/vcpu_memory_virtualization.h"
#include "virtsim/cpu/interval_core.h"
#include "virtsim/cpu/rings.h"
#include "virtsim/cpu/sensitive_state.h"
#include "virtsim/tlb/tlb.h"
#include "virtsim/tlb/translation_path.h"

namespace virtsim {

// The TLM quantum keeper, with the local time counted in whole cycles. A vCPU's thread does
// not yield between one reset() and the next sync, so SystemC time stands still meanwhile and
// the sync point is a fixed number of cycles ahead: need_sync() is one integer compare, and the
// base class gets the local time (the same sum of whole-cycle delays) when it syncs.
class LocalQuantumKeeper : public tlm_utils::tlm_quantumkeeper {
 public:
  // `cpu_name` names the vCPU in debug-trace lines.
  LocalQuantumKeeper(const Clock& clock, const char* cpu_name) : clock_(clock), cpu_name_(cpu_name) {}
  void inc_cycles(Cycles c) { local_cycles_ += c; }
  Cycles local_cycles() const { return local_cycles_; }  // how far ahead of SystemC time
  bool need_sync() const override { return local_cycles_ >= sync_after_cycles_; }
  void sync() override {
    m_local_time = clock_.delay(local_cycles_);
    tlm_quantumkeeper::sync();  // waits, then reset()
  }
  void reset() override {
    tlm_quantumkeeper::reset();
    local_cycles_ = 0;
    // Whole cycles until the sync point, rounded up: c cycles reach it iff c * period does.
    const auto ahead = (m_next_sync_point - sc_core::sc_time_stamp()).value();
    const auto period = clock_.period().value();
    sync_after_cycles_ = (ahead + period - 1) / period;
    // The thread resumes here after every wait: from now on, debug-trace events are this vCPU's.
    debug_trace::set_running_cpu(cpu_name_, &current_cycle, this);
  }

 private:
  static std::uint64_t current_cycle(const void* self) {
    const auto& keeper = *static_cast<const LocalQuantumKeeper*>(self);
    return keeper.clock_.cycles(sc_core::sc_time_stamp()) + keeper.local_cycles_;
  }

  const Clock& clock_;
  const char* cpu_name_;
  Cycles local_cycles_ = 0;
  Cycles sync_after_cycles_ = 0;
};

class Vcpu : public sc_core::sc_module, private TranslationMissHandler {
 public:
  TranslationInitiatorSocket translate;  // to the MMU
  MemoryInitiatorSocket data;            // loads, stores and fetches
  // Who resolves page faults (the guest kernel). Unbound: every fault ends the run.
  sc_core::sc_port<PageFaultHandler, 1, sc_core::SC_ZERO_OR_MORE_BOUND> fault_handler;
  // The VT-x / AMD-V unit, when the vCPU runs as a guest. Unbound: Instr events run natively.
  sc_core::sc_port<GuestInstructionHandler, 1, sc_core::SC_ZERO_OR_MORE_BOUND> virtualization;
  // The MMU's walk caches, invalidated with the TLBs by INVLPG, MOV to CR3 and INVPCID.
  sc_core::sc_port<WalkCacheControl, 1, sc_core::SC_ZERO_OR_MORE_BOUND> walk_caches;

  SC_HAS_PROCESS(Vcpu);
  Vcpu(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock);

  // Wiring done by the platform before simulation starts.
  void set_workload(GuestEventSource* source) { source_ = source; }
  void set_cr3(Addr cr3) {
    paging_.cr3 = cr3;
    refresh_tags();
  }
  // The paging mode and control bits of the tables the workload runs on (the guest's under
  // nesting), and the nested tables (EPTP / nCR3) when the guest runs under nested paging.
  void set_paging(const PagingControls& paging) {
    paging_ = paging;
    refresh_tags();
  }
  // A checkpoint's paging controls, and the guest's own CR3 when the hypervisor's tables
  // replace the guest's (the controls' CR3 is then the hypervisor's root).
  void restore_paging(const PagingControls& paging, Addr guest_cr3) {
    set_paging(paging);
    if (tables_replaced_) guest_cr3_ = guest_cr3;
  }
  // The guest time the hypervisor's deadlines count in (VirtualizationUnit::elapse's `now`).
  Cycles guest_time() const { return elapsed_; }
  // The memory virtualization (models/hypervisor) this vCPU's guest runs under: its nested
  // tables, its own tables in place of the guest's, and its side of MOV to CR3, INVLPG and
  // page faults. Set after set_paging() and set_cpu_id() (the paging controls' CR3 is the
  // guest's until then). Unset: the guest runs natively.
  void set_memory_virtualization(VcpuMemoryVirtualization& virtualization);
  // The hypervisor's TLB flushes: one guest-virtual page (VT-x: INVVPID individual address;
  // AMD-V: INVLPGA), or all of this guest's mappings (KVM's flush_tlb_all: INVVPID all-context;
  // AMD-V: TLB_CONTROL "flush this ASID", applied at the VMRUN that ends the exit, as the vCPU's
  // next entry); either drops the paging-structure caches that could hold them.
  void flush_translation(Addr va) {
    forget_last_lines();
    flush_translation_entries(va);
    if (walk_caches.size()) walk_caches->invalidate_guest_walk_caches(guest_tag());
  }
  void flush_translation_entries(Addr va) {
    forget_last_lines();
    tlbs.each([&](Tlb& t) { asid_flushes_ ? t.invlpga(va, vpid_) : t.invvpid(0, vpid_, va); });
  }
  // Without a VPID (a software VMM, or tagging off) INVVPID cannot name the guest: a CR4.PGE
  // toggle drops all its entries instead.
  void flush_translations() {
    forget_last_lines();
    tlbs.each([&](Tlb& t) {
      if (asid_flushes_) t.svm_tlb_control(3, vpid_);
      else if (vpid_) t.invvpid(2, vpid_, 0);
      else t.cr4_change(vpid_);
    });
    if (walk_caches.size()) walk_caches->invalidate_all_walk_caches();
  }
  // The hypervisor changed nested (EPT / NPT) entries: INVEPT single-context of this guest's
  // EPTP (AMD-V, without INVEPT: TLB_CONTROL flush-ASID), with the paging-structure caches.
  void flush_nested_translations() {
    forget_last_lines();
    tlbs.each([&](Tlb& t) { asid_flushes_ ? t.svm_tlb_control(3, vpid_) : t.invept(false, nested_context_); });
    if (walk_caches.size()) walk_caches->invalidate_all_walk_caches();
  }
  // AMD-V: the hypervisor flushes with INVLPGA and TLB_CONTROL instead of INVVPID.
  void set_asid_flushes(bool on) { asid_flushes_ = on; }
  // The CR3 the guest believes it has loaded (under shadow paging not the one walked).
  Addr guest_cr3() const { return tables_replaced_ ? guest_cr3_ : paging_.cr3; }
  void set_vpid(std::uint16_t vpid) {
    vpid_ = vpid;
    refresh_tags();
  }
  // Which vCPU this is, as the fault handler knows it.
  void set_cpu_id(unsigned id) { cpu_id_ = id; }
  // What a MOV to CR3 loads besides CR3 (PAE: the PDPTE registers, read from memory).
  void set_cr3_load_action(std::function<void(PagingControls&)> action) { on_cr3_load_ = std::move(action); }
  unsigned current_cpl() const { return ring_.cpl; }
  const GuestStateView& guest_view() const { return guest_view_; }
  // system.cpuN.wrong_answers.<instruction>: 0 for an instruction that is not sensitive.
  std::uint64_t wrong_answers(Instruction i) const {
    const auto& c = wrong_answers_[static_cast<std::size_t>(i)];
    return c ? c->count() : 0;
  }
  const PagingControls& paging() const { return paging_; }
  // Called from the vCPU's thread at its RoiBegin event, after a quantum sync; may wait().
  void set_roi_begin_action(std::function<void()> action) { on_roi_begin_ = std::move(action); }
  // Several vCPUs time-share a physical CPU: the hypervisor's scheduler, called from the vCPU's
  // thread when it starts, at each quantum boundary (after the sync) and when it is done
  // (`done` true); it may wait() while other vCPUs run. Unset: the vCPU has a CPU of its own.
  void set_schedule_action(std::function<void(bool done)> action) { on_schedule_ = std::move(action); }
  // The VM the vCPU belongs to (from 0): its nested contexts (EPTP / nCR3 identities) are
  // numbered apart from other VMs', as their tables are. Set before set_memory_virtualization().
  void set_vm(unsigned vm) { vm_nested_context_base_ = static_cast<std::uint16_t>(vm << 8); }

  // Checkpoints of the interval core's state in flight (core_state.cpp), a structure of its own
  // (state_stream.h's put_structure()): with another core model or shape it starts cold.
  void save_core_state(StateWriter& out) const;
  void load_core_state(StateReader& in, std::vector<std::string>& cold);

  // Functional mode (fast-forward and the warming between sampled windows): every event runs
  // through the guest OS model, the TLBs, walk caches and caches as in detailed mode, so their
  // contents and replacement state stay warm, but no latency is accounted: no interval core, no
  // per-reference cycles; time moves one cycle per instruction so deadlines and quanta still come.
  // An access that would hit the most recently used entry of the L1 TLB and the most recently
  // used line of its L1 cache set changes nothing the replacement policies keep, so functional
  // mode skips it (docs/sampling.md).
  void set_functional(bool on) {
    if (functional_ && !on && interval_) interval_->serialize();  // detailed again: an empty window
    functional_ = on;
    shared_l1_tlb_ = &tlbs.l1(AccessKind::Fetch) == &tlbs.l1(AccessKind::Load);
    forget_last_lines();
  }
  bool functional() const { return functional_; }
  // The first cache level the `data` port looks up: its line size and number of sets, so that
  // functional mode knows which line is the most recent of each set; 0 sets when it is not this
  // vCPU's own (another vCPU, or the shared last level, may change it): then nothing is skipped.
  // Unset, the vCPU knows only the last line of all (its own cache of any shape, or none).
  void set_first_cache_level(unsigned line_bytes, std::size_t sets);
  // `phase_end` is called when `references` more guest memory references (a fast-string line
  // each) have started, and returns how many the next phase has (the sampling schedule).
  std::uint64_t references_left() const { return references_left_; }
  void set_reference_countdown(std::uint64_t references, std::function<std::uint64_t()> phase_end) {
    references_left_ = references;
    on_phase_end_ = std::move(phase_end);
  }

  bool finished() const { return finished_; }
  const sc_core::sc_event& finished_event() const { return finished_event_; }
  Cycles local_cycles() const { return cycles.count(); }

  Param<double> cpi;
  Param<std::uint32_t> cpl;
  Param<bool> deprivileged_kernel;
  Param<bool> pcide;
  Param<std::uint32_t> hlt_wakeup_cycles;
  Param<std::uint32_t> string_lines_in_flight;
  Param<std::uint32_t> string_store_line_cycles;
  Param<std::string> core_model;
  Param<std::uint32_t> dispatch_width;
  Param<std::uint32_t> rob_entries;
  Param<std::uint32_t> long_latency_cycles;
  RingParameters rings;
  TlbHierarchyParameters tlb_parameters;
  TlbHierarchy tlbs;  // L1 ITLB, L1 DTLB, STLB

  Counter instructions;
  Counter cycles;
  Counter loads;
  Counter stores;
  Counter fetches;
  Counter page_faults;
  Counter privileged_instructions;
  Counter general_protection_faults;
  Counter virtualization_holes;
  Formula guest_state_digest;
  Counter exits;
  Counter exit_cycles;
  Counter interrupts;
  Counter kernel_instructions;
  Counter kernel_cycles;
  Counter halted_cycles;
  Counter string_instructions;
  Counter string_lines_unfilled;
  Counter user_cycles;
  Counter fetch_stall_cycles;
  Counter fill_buffer_wait_cycles;
  Formula ipc;

 private:
  void run();
  // Inline into run(): a call per access cost its saving and restoring of registers.
  [[gnu::always_inline]] inline void execute_memory(const GuestEvent& event);
  // The event's access as one piece, or two where it crosses a 4 KiB boundary: their cycles
  // (detailed: access_piece()), or none (kWarm, functional mode: warm_piece()).
  template <bool kWarm = false>
  [[gnu::always_inline]] inline Cycles access_pieces(const GuestEvent& event);
  template <bool kWarm>
  [[gnu::always_inline]] Cycles piece(const GuestEvent& event, Addr va, unsigned size) {
    if constexpr (kWarm) return warm_piece(event.access, va, size, event.keeps_contents, size);
    else return access_piece(event.access, va, size, event.keeps_contents);
  }
  // A fast-string instruction: each line through the access path, their memory time overlapped.
  void execute_string(const GuestEvent& event);
  void execute_instruction(const GuestEvent& event);
  void execute_interrupt(const GuestEvent& event);
  // A privileged instruction above CPL 0: #GP(0), delivered through the guest's IDT.
  void raise_general_protection();
  // The ring change an instruction makes (SYSCALL to 0, SYSRET to 3, IRET back ...).
  void change_ring(Instruction instruction);
  void enter_ring0_gate();  // INT n, an exception or an external interrupt
  void account_exit(const InstructionOutcome& out);
  // The architectural effect of an instruction on the TLBs and walk caches.
  void apply_translation_effects(const GuestEvent& event);
  std::uint32_t guest_tag() const { return (std::uint32_t{vpid_} << 12) | (paging_.cr3 & 0xfff); }
  // Where an access goes (the physical address, or the host address a hypervisor's emulated
  // store landed at) and what finding it cost: TLB lookups, walks and page faults.
  struct TranslatedPiece {
    Addr physical_address;
    Cycles cycles;
  };
  // Inline into execute_memory: with the TLB lookup and the data route it is the whole hot path.
  [[gnu::always_inline]] inline Cycles access_piece(AccessKind kind, Addr va, unsigned size, bool keeps_contents = false);
  [[gnu::always_inline]] inline TranslatedPiece translate_piece(AccessKind kind, Addr va);
  // translate_piece() once the L1 TLB had no usable entry: the STLB, the walk and any page fault.
  TranslatedPiece translate_piece_after_l1_miss(AccessKind kind, Addr va);
  // The data access of a translated piece, through the `data` port.
  [[gnu::always_inline]] inline Cycles access_data(AccessKind kind, Addr pa, unsigned size, bool keeps_contents);
  // A fast-string store's whole line through the `data` port, without its fill: where the
  // caches found it (Dram: nowhere) and the lookups' cycles.
  MemoryResult store_whole_line(Addr pa, unsigned size, bool keeps_contents);
  // Whether line `i` of string event `event` is a store of the whole line.
  static bool whole_line_store(const GuestEvent& event, std::uint32_t i) {
    return event.access == AccessKind::Store && !(i == 0 && event.partial_first_line) &&
           !(i + 1 == event.count && event.partial_last_line);
  }
  // Functional mode's access_piece(): the same TLB and cache state changes, no timing. The
  // translation reuses the stream's remembered page where the L1 TLB lookup would hit its most
  // recently used entry (a lookup that changes nothing); the data access is the port's warm().
  // `stored_bytes`: what a store that keeps contents tells a hypervisor tracking the page.
  [[gnu::always_inline]] inline Cycles warm_piece(AccessKind kind, Addr va, unsigned size, bool keeps_contents,
                                                 unsigned stored_bytes);
  std::uint64_t stored_value() const { return instructions.count() - kernel_instructions.count(); }
  [[noreturn]] void data_access_failed(Addr pa) const;
  // A translation faulted (the `attempt`th time for this access): the guest kernel resolves
  // a page fault and its cost is returned; anything else ends the run.
  Cycles resolve_page_fault(Addr va, int attempt);
  // A #PF, which the memory virtualization may take first (shadow paging: a #PF on the shadow
  // tables; a paravirtual guest: bounced), its exit charged here. Returns whether the guest
  // must handle it; a store the hypervisor emulated leaves its host-physical address in
  // `emulated_at`.
  bool hypervisor_page_fault(AccessKind kind, Addr va, bool user, Addr& emulated_at);
  // An EPT violation / NPF for guest memory the hypervisor maps on demand: mapped, its exit
  // charged; false when the fault is something else (the memory virtualization decides).
  bool populate_nested();
  Cycles translate_miss(Addr va, TranslationExtension& ext) override;
  // Caches what the memory virtualization says of the walks (nested tables, replaced guest
  // tables) and loads the CR3 to walk for guest CR3 `guest_cr3`.
  void read_memory_virtualization(Addr guest_cr3);
  // The memory virtualization's sample of this vCPU's counts (it may switch modes).
  void sample_memory_virtualization();
  // The tags of the current context, kept up to date by everything that changes CR3, the VPID
  // or the nesting (every access looks up the TLBs with them).
  void refresh_tags() {
    ++recent_lines_generation_;  // functional mode's remembered TLB hits were made with the old tags
    tags_ = {static_cast<std::uint16_t>(paging_.cr3 & 0xfff), vpid_, nested_ ? nested_context_ : std::uint16_t{0}};
  }
  // Local time moves on by `c` cycles; syncs at the quantum boundary. Inline: every event.
  // kUserMode: the caller knows the vCPU runs at CPL 3, which is not the kernel's ring.
  static constexpr bool kUserMode = true;
  template <bool kUser = false>
  void advance(Cycles c) {
    elapsed_ += c;
    cycles += c;
    if (kUser) user_cycles += c;
    else if (ring_.in_kernel()) kernel_cycles += c;
    else if (ring_.cpl == 3) user_cycles += c;
    quantum_.inc_cycles(c);
    if (quantum_.need_sync()) [[unlikely]]
      end_quantum();
  }
  // Out of line, so advance() stays small enough to inline where every access calls it.
  [[gnu::noinline]] void end_quantum() {
    quantum_.sync();
    if (on_schedule_) reschedule();
  }
  // The scheduler's turn at a quantum boundary; the quantum restarts after it (time may have
  // passed while other vCPUs ran).
  [[gnu::noinline]] void reschedule() {
    on_schedule_(false);
    forget_last_lines();  // the scheduler may have swapped or flushed this vCPU's TLBs meanwhile
    quantum_.reset();
  }

  // Functional mode: `n` instructions' worth of time, with no statistic of it.
  void advance_functional(Cycles n) {
    elapsed_ += n;
    quantum_.inc_cycles(n);
    if (quantum_.need_sync()) {
      quantum_.sync();
      if (on_schedule_) reschedule();  // vCPUs sharing a physical CPU take turns as in detailed mode
    }
  }
  // count_references(1), every access's: no loop over the phases it may end.
  void count_reference() {
    while (references_left_ == 0) [[unlikely]]
      references_left_ = on_phase_end_();
    --references_left_;
  }
  // `n` references start: the phase ends first when its references have all started.
  void count_references(std::uint64_t n) {
    while (n > 0) {
      if (references_left_ == 0) [[unlikely]]
        references_left_ = on_phase_end_();
      const std::uint64_t now = std::min(n, references_left_);
      references_left_ -= now;
      n -= now;
    }
  }
  // execute_memory() in functional mode: the same lookups and fills, their cycles dropped.
  // Inline: the accesses that change nothing end in it; the others take warm_memory_pieces().
  [[gnu::always_inline]] inline void warm_memory(const GuestEvent& event);
  [[gnu::noinline]] void warm_memory_pieces(const GuestEvent& event);
  // Anything but a plain access (an instruction, an interrupt, an exit, a flush) may change the
  // TLBs or the ring: the next access of each stream is looked up again.
  void forget_last_lines() {
    ++recent_lines_generation_;
    fetch_page_.page = kNoLine;
    data_page_.page = kNoLine;
  }

  // Interval model: a memory instruction's `latency` (translation and data), overlapped as the
  // out-of-order window allows unless it faulted or exited; a fetch stalls the front end.
  void advance_interval(Cycles latency, bool new_instruction, bool fetch);
  // Interval model: a load or store that neither faulted nor exited, overlapped as the window
  // allows. Inline: nearly every access of a run takes it.
  void advance_overlapped_access(Cycles latency, bool new_instruction) {
    interval_->at(elapsed_);
    const Cycles before = interval_->fill_buffer_wait_cycles();
    advance(interval_->access(latency, new_instruction));
    fill_buffer_wait_cycles += interval_->fill_buffer_wait_cycles() - before;
  }
  // Interval model: a serializing event; an access it happens inside is not overlapped.
  void drain() {
    serialized_ = true;
    interval_->serialize();
  }

  const Clock& clock_;
  Counter* const counts_by_access_[3] = {&loads, &stores, &fetches};  // by AccessKind: an index, no branch
  GuestEventSource* source_ = nullptr;
  std::function<void()> on_roi_begin_;
  std::function<void(bool)> on_schedule_;
  std::uint16_t vm_nested_context_base_ = 0;
  std::function<void(PagingControls&)> on_cr3_load_;
  unsigned cpu_id_ = 0;
  RingState ring_;
  GuestStateView guest_view_;  // what the guest kernel learns of its processor state
  std::vector<std::unique_ptr<Counter>> wrong_answers_;  // by instruction; set for the sensitive ones
  std::vector<std::uint8_t> return_cpls_;  // CPLs to return to, one per interrupt being handled
  PagingControls paging_;
  bool nested_ = false;
  NestedControls nested_paging_;
  std::uint16_t nested_context_ = 0;
  std::uint16_t vpid_ = 0;
  VcpuMemoryVirtualization* memory_virtualization_;  // never null: native by default
  bool tables_replaced_ = false;                     // memory_virtualization_->replaces_guest_tables()
  bool asid_flushes_ = false;
  // A fast-string store is running: its instruction writes no page tables, so the hypervisor
  // may unprotect a page it faults on and retry it (KVM's retry_instruction).
  bool string_store_ = false;
  // The instruction (its number) and address last retried so: the same fault again is
  // emulated (KVM's last_retry_eip / last_retry_addr guard against a retry loop).
  std::uint64_t last_retry_instruction_ = 0;
  Addr last_retry_va_ = 0;
  Addr guest_cr3_ = 0;  // tables replaced: the guest's CR3 (paging_.cr3 is the hypervisor's root)
  Cycles sample_interval_ = 0;  // memory_virtualization_->sample_interval()
  Cycles next_sample_ = 0;
  std::uint64_t tlb_misses_ = 0;  // translations that missed the TLBs (walks asked for)
  // Page faults taken since the run began: unlike the page_faults statistic, not reset where the
  // region of interest begins, so a sample that spans that point counts no negative number.
  std::uint64_t page_faults_taken_ = 0;
  std::uint64_t sampled_tlb_misses_ = 0, sampled_page_faults_ = 0;  // at the last sample
  TlbTags tags_;
  Cycles compute_remainder_ = 0;  // fractional-CPI carry, in 1/1024 cycles
  // Cycles since the run began, never reset: the clock of the hypervisor's deadlines (timers,
  // reclaims, samples), which the `cycles` statistic cannot be, as it restarts at the region of
  // interest (a deadline set in the warm-up would pass only that much later in the region).
  Cycles elapsed_ = 0;
  // core_model = "interval": the out-of-order core's overlap; null for the blocking model.
  std::unique_ptr<IntervalCore> interval_;
  // An exit or a page fault happened during the current instruction (interval model: it drains
  // the window and its cycles are not overlapped).
  bool serialized_ = false;
  LocalQuantumKeeper quantum_;
  TranslationPath path_;
  TranslationExtension translation_;
  std::uint64_t data_buffer_ = 0;  // the bytes a store writes
  bool functional_ = false;
  static constexpr Addr kNoLine = ~Addr{0};
  // Functional mode: per set of the first cache level (set_first_cache_level()), the line this
  // vCPU's last access to the set reached, which is therefore its most recent line, and whether
  // it is dirty. An entry holds only while its generation is the current one: anything that may
  // reach the cache other than the vCPU's own plain accesses (a walk, a fault, an exit, a string
  // instruction, detailed mode) starts a new generation.
  struct RecentLine {
    Addr line = kNoLine;  // physical address >> recent_line_shift_
    std::uint64_t generation = 0;
    bool dirty = false;
  };
  std::vector<RecentLine> recent_lines_ = std::vector<RecentLine>(1);
  std::size_t recent_set_mask_ = 0;   // sets - 1 of the first level (a power of two), 0: one set
  unsigned recent_line_shift_ = 6;    // log2 of its line size
  std::uint64_t recent_lines_generation_ = 1;
  bool recent_lines_kept_ = true;  // false: the first level is shared, no line is known
  // Whether an access of `size` bytes at `pa` stays on the line its cache set last reached in
  // this generation (a store: a dirty one), so that its lookup would change nothing.
  bool on_recent_line(Addr pa, unsigned size, bool store) const {
    const Addr line = pa >> recent_line_shift_;
    const RecentLine& recent = recent_lines_[line & recent_set_mask_];
    return ((pa + size - 1) >> recent_line_shift_) == line && recent.line == line &&
           recent.generation == recent_lines_generation_ && (!store || recent.dirty);
  }
  // warm_piece()'s data access: skipped where on_recent_line(), else the port's warm(); the memo
  // of recent lines follows it.
  [[gnu::always_inline]] inline void warm_data(bool store, Addr pa, unsigned size, bool keeps_contents);
  // Functional mode: a stream's last 4 KiB page while its L1 TLB entry is the one the last
  // lookup of that TLB hit (most recently used), with where it maps and whether a store may use it.
  struct WarmPage {
    Addr page = kNoLine;  // va >> 12
    Addr frame = 0;       // the physical address of the page's first byte
    bool stores = false;  // the entry is writable and dirty
  };
  WarmPage fetch_page_, data_page_;
  // Functional mode: per stream, pages whose L1 TLB lookup hit and the entry it found, by the
  // page's low bits; one holds while its generation is the recent lines' (no fill or
  // invalidation since), so the same lookup is Tlb::hit_again() at the entry's position (found
  // only then: most remembered pages of a random stream are never looked up again in time).
  struct HitPage {
    Addr page = kNoLine;  // va >> 12
    std::uint64_t generation = 0;
    const TlbEntry* entry = nullptr;
  };
  static constexpr std::size_t kHitPages = 16;
  std::array<HitPage, kHitPages> fetch_hit_pages_, data_hit_pages_;
  bool shared_l1_tlb_ = false;  // no ITLB: fetches look up the DTLB too
  // References left in the current sampling phase (never reaching 0 without a schedule).
  std::uint64_t references_left_ = ~std::uint64_t{0};
  std::function<std::uint64_t()> on_phase_end_;
  bool finished_ = false;
  sc_core::sc_event finished_event_;
};

}  // namespace virtsim
