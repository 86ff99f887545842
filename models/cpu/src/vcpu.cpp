#include "virtsim/cpu/vcpu.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace virtsim {

namespace {
// A guest on bare hardware: every hook of the memory virtualization at its default.
VcpuMemoryVirtualization native_memory;
}  // namespace

Vcpu::Vcpu(const sc_core::sc_module_name& name, const Scope& context, const Clock& clock)
    : sc_core::sc_module(name),
      translate("translate", clock),
      data("data", clock),
      fault_handler("fault_handler"),
      virtualization("virtualization"),
      walk_caches("walk_caches"),
      VIRTSIM_MEMBER(cpi, module_scope(context, *this), 1.0, "cycles/instruction",
          "blocking core: cycles per plain (non-memory) instruction (the interval core dispatches "
          "dispatch_width a cycle instead)", Range{0.0, 100.0}),
      VIRTSIM_MEMBER(cpl, module_scope(context, *this), 3, "ring", "privilege level the workload starts at (3: user); SYSCALL, SYSRET, interrupts and IRET change it",
          Range{0, 3}),
      VIRTSIM_MEMBER(deprivileged_kernel, module_scope(context, *this), false, "",
          "the workload is a guest kernel that a software VMM runs outside ring 0 (no VT-x / AMD-V): sensitive "
          "unprivileged instructions are counted as virtualization holes"),
      VIRTSIM_MEMBER(pcide, module_scope(context, *this), false, "",
          "CR4.PCIDE: CR3[11:0] is a PCID and MOV to CR3 with bit 63 set keeps its TLB entries"),
      VIRTSIM_MEMBER(hlt_wakeup_cycles, module_scope(context, *this), 2000, "cycles",
          "how long HLT halts the vCPU until the interrupt that wakes it, natively and as a guest, whether "
          "HLT exits or not (assumption)",
          Range{0, 1e9}),
      VIRTSIM_MEMBER(string_lines_in_flight, module_scope(context, *this), 10, "lines",
          "cache lines a fast-string instruction (REP STOS / REP MOVS) keeps in flight at once, the L1 data "
          "cache's line fill buffers: its lines' memory time overlaps this many ways, and the interval core "
          "overlaps at most this many long misses in one window. Default: the 10 fill "
          "buffers of Intel's Nehalem through Haswell (Intel Optimization Manual); for other generations, AMD's "
          "included, an assumption",
          Range{1, 64}),
      VIRTSIM_MEMBER(string_store_line_cycles, module_scope(context, *this), 9, "cycles",
          "cycles a fast-string store (REP STOS, REP MOVS's destination) takes per whole 64-byte line that no "
          "cache holds: the line is written without being read first (no read-for-ownership; Intel SDM vol. "
          "3A, 'Out-of-Order Stores For String Operations') and the instruction does not wait for memory, so "
          "the lines go at the core's rate of writing lines out, one after another. Default 9: REP STOSB of a 4 "
          "KiB page no cache holds took 546 TSC cycles on the calibration host, an AMD EPYC (Zen 4) at 2.6 GHz "
          "(virtsim-calibrate's clear_page, docs/calibration.md), 8.5 a line; for other machines an assumption",
          Range{0, 100000}),
      VIRTSIM_MEMBER(core_model, module_scope(context, *this), "interval", "",
          "how the core times instructions: interval, the default (a first-order out-of-order core after "
          "Karkhanis and Smith, ISCA 2004, and Eyerman et al., ACM TOCS 2009: dispatch_width instructions a "
          "cycle, hits hidden, long misses within one rob_entries window overlapped, a fetch's time beyond a hit "
          "stalling the front end, serializing events draining the window; cpi unused; every preset's CPU is out "
          "of order) or blocking (each plain instruction costs cpi "
          "cycles and every access its whole latency, in order: an in-order core that stalls on each access, "
          "an upper bound)",
          {}, {"blocking", "interval"}),
      VIRTSIM_MEMBER(dispatch_width, module_scope(context, *this), 4, "instructions/cycle",
          "interval core: instructions dispatched per cycle. Default: Skylake's 4 (Intel 64 and IA-32 "
          "Architectures Optimization Reference Manual, Skylake microarchitecture); every machine preset "
          "states its own generation's, cited in its file",
          Range{1, 16}),
      VIRTSIM_MEMBER(rob_entries, module_scope(context, *this), 224, "instructions",
          "interval core: reorder-buffer entries, the window within which long misses overlap. "
          "Default: Skylake's 224 (Intel Optimization Reference Manual); every machine preset states its "
          "own generation's, cited in its file",
          Range{1, 4096}),
      VIRTSIM_MEMBER(long_latency_cycles, module_scope(context, *this), 100, "cycles",
          "interval core: an access (translation and data) at least this long is a long miss, charged "
          "in full unless it overlaps an earlier one in its window; shorter ones expose only what "
          "exceeds the ROB-fill time rob_entries / dispatch_width. Default 100, above every cache hit "
          "of the presets (an LLC hit costs 44 with the default caches) and below their memory "
          "accesses (an assumption)",
          Range{1, 100000}),
      rings(module_scope(context, *this).child("rings")),
      tlb_parameters(module_scope(context, *this)),
      tlbs(module_scope(context, *this), tlb_parameters),
      VIRTSIM_MEMBER(instructions, module_scope(context, *this), "instructions", "instructions retired"),
      VIRTSIM_MEMBER(cycles, module_scope(context, *this), "cycles", "cycles elapsed on this vCPU"),
      VIRTSIM_MEMBER(loads, module_scope(context, *this), "accesses", "data loads"),
      VIRTSIM_MEMBER(stores, module_scope(context, *this), "accesses", "data stores"),
      VIRTSIM_MEMBER(fetches, module_scope(context, *this), "accesses", "instruction fetches"),
      VIRTSIM_MEMBER(page_faults, module_scope(context, *this), "faults", "page faults taken"),
      VIRTSIM_MEMBER(privileged_instructions, module_scope(context, *this), "instructions",
          "privileged or sensitive instructions (Instr events) executed"),
      VIRTSIM_MEMBER(general_protection_faults, module_scope(context, *this), "faults",
          "privileged instructions run above CPL 0, natively or as a guest (#GP(0), before any VM exit)"),
      VIRTSIM_MEMBER(virtualization_holes, module_scope(context, *this), "instructions",
          "sensitive unprivileged instructions a deprivileged guest kernel ran without trapping"),
      VIRTSIM_MEMBER(guest_state_digest, module_scope(context, *this), "",
          "hash of what the guest kernel's sensitive instructions returned to it and the IF / IOPL its POPFs left "
          "(52 bits; 0 when it ran none): equal across modes that virtualize it faithfully",
          [this] { return static_cast<double>(guest_view_.digest() & ((std::uint64_t{1} << 52) - 1)); }),
      VIRTSIM_MEMBER(exits, module_scope(context, *this), "exits", "VM exits this vCPU took"),
      VIRTSIM_MEMBER(exit_cycles, module_scope(context, *this), "cycles", "cycles of this vCPU's VM exits"),
      VIRTSIM_MEMBER(interrupts, module_scope(context, *this), "interrupts", "external interrupts delivered (timer, IPIs, devices; vectors 32-255)"),
      VIRTSIM_MEMBER(kernel_instructions, module_scope(context, *this), "instructions", "instructions retired in the guest kernel's ring (CPL 0; 1 under trap-and-emulate)"),
      VIRTSIM_MEMBER(kernel_cycles, module_scope(context, *this), "cycles",
          "cycles spent in the guest kernel's ring (CPL 0; 1 under trap-and-emulate; halted ones included; a page fault's translation counts where it was taken)"),
      VIRTSIM_MEMBER(halted_cycles, module_scope(context, *this), "cycles",
          "cycles halted by HLT until the wake-up interrupt (hlt_wakeup_cycles each)"),
      VIRTSIM_MEMBER(string_instructions, module_scope(context, *this), "instructions",
          "fast-string instructions (a page zeroed or copied by the kernel); their lines count in loads and stores"),
      VIRTSIM_MEMBER(string_lines_unfilled, module_scope(context, *this), "lines",
          "whole lines fast-string stores wrote that no cache held: allocated without a fill from memory, "
          "string_store_line_cycles each"),
      VIRTSIM_MEMBER(user_cycles, module_scope(context, *this), "cycles", "cycles elapsed at CPL 3"),
      VIRTSIM_MEMBER(fetch_stall_cycles, module_scope(context, *this), "cycles",
          "interval core: cycles the front end stalled on instruction fetches beyond a pipelined hit "
          "(included in cycles)"),
      VIRTSIM_MEMBER(fill_buffer_wait_cycles, module_scope(context, *this), "cycles",
          "interval core: cycles L1 misses waited for a free L1D fill buffer, string_lines_in_flight of "
          "them (included in cycles)"),
      VIRTSIM_MEMBER(ipc, module_scope(context, *this), "instructions/cycle", "instructions per cycle",
          [this] { return cycles.count() ? static_cast<double>(instructions.count()) / cycles.count() : 0.0; }),
      clock_(clock),
      quantum_(clock, basename()),
      path_(tlbs) {
  memory_virtualization_ = &native_memory;
  // One counter per sensitive instruction, so that results list which holes the guest fell in.
  wrong_answers_.resize(static_cast<std::size_t>(Instruction::Count));
  for (const Instruction i : all_instructions())
    if (privilege_class(i) == PrivilegeClass::SensitiveUnprivileged)
      wrong_answers_[static_cast<std::size_t>(i)] = std::make_unique<Counter>(
          module_scope(context, *this).child("wrong_answers"), to_string(i), "instructions",
          std::string("times ") + to_string(i) + " gave the guest kernel another answer than bare hardware would "
          "(a virtualization hole under a trap-and-emulate VMM)");
  if (core_model.get() == "interval")
    interval_ = std::make_unique<IntervalCore>(
        IntervalCoreShape{dispatch_width, rob_entries, long_latency_cycles, string_lines_in_flight});
  SC_THREAD(run);
}


void Vcpu::set_memory_virtualization(VcpuMemoryVirtualization& virtualization) {
  memory_virtualization_ = &virtualization;
  read_memory_virtualization(paging_.cr3);
  sample_interval_ = virtualization.sample_interval();
  next_sample_ = sample_interval_;
  virtualization.on_mode_change(cpu_id_, [this] {
    read_memory_virtualization(guest_cr3());
    flush_translations();  // the TLBs hold the old mode's translations
  });
}

void Vcpu::read_memory_virtualization(Addr guest_cr3) {
  tables_replaced_ = memory_virtualization_->replaces_guest_tables();
  guest_cr3_ = guest_cr3;
  paging_.cr3 = tables_replaced_ ? memory_virtualization_->load_cr3(cpu_id_, guest_cr3_) : guest_cr3_;
  const auto walk = memory_virtualization_->nested_walk();
  nested_ = walk.has_value();
  if (walk) {
    nested_paging_ = walk->controls;
    nested_context_ = static_cast<std::uint16_t>(walk->context + vm_nested_context_base_);
  }
  refresh_tags();
}

void Vcpu::sample_memory_virtualization() {
  next_sample_ = elapsed_ + sample_interval_;
  const VcpuMemoryVirtualization::VcpuCounts counts{tlb_misses_ - sampled_tlb_misses_,
                                                    page_faults_taken_ - sampled_page_faults_};
  sampled_tlb_misses_ = tlb_misses_;
  sampled_page_faults_ = page_faults_taken_;
  if (const Cycles spent = memory_virtualization_->sample(cpu_id_, counts)) account_exit({spent, true, false});
}

[[gnu::hot]] void Vcpu::run() {
  if (!source_) throw std::logic_error(std::string(name()) + ": no workload bound");
  quantum_.reset();
  if (on_schedule_) reschedule();  // wait for a physical CPU
  // A trap-and-emulate VMM runs the guest kernel outside ring 0: the guest sees the VMM's state
  // through the holes from then on.
  ring_.kernel_cpl = virtualization.size() > 0 ? virtualization->guest_kernel_cpl() : 0;
  ring_.cpl = cpl.get() == 0 ? ring_.kernel_cpl : cpl.get();
  guest_view_.deprivilege(ring_.kernel_cpl);
  // CPI as a fixed-point fraction so fractional CPIs accumulate exactly.
  const auto cpi_fixed = static_cast<Cycles>(std::llround(cpi.get() * 1024.0));
  const bool virtualized = virtualization.size() > 0;
  // Plain instructions at CPL 3 on bare hardware, timed by the interval core (every other
  // event of a program's run), skip the other cases' checks: what cannot change during the run
  // is decided here, and per event only what events change (the ring and the mode).
  const bool user_compute_fast_path = interval_ && !virtualized && !sample_interval_ && ring_.kernel_cpl != 3;
  bool in_stream = true;
  while (in_stream) {
    const auto event = source_->next();
    if (!event) break;
    if (event->kind == GuestEventKind::Memory) {  // the most frequent event: tested first
      if (!event->continues_instruction) {
        ++instructions;
        if (ring_.in_kernel()) ++kernel_instructions;
      }
      execute_memory(*event);
      continue;
    }
    if (event->kind == GuestEventKind::Compute && user_compute_fast_path && ring_.cpl == 3 && !functional_) {
      instructions += event->count;
      advance<kUserMode>(interval_->dispatch(event->count));
      continue;
    }
    switch (event->kind) {
      case GuestEventKind::Compute: {
        instructions += event->count;
        if (ring_.in_kernel()) kernel_instructions += event->count;
        if (functional_) {
          advance_functional(event->count);
        } else if (interval_) {
          advance(interval_->dispatch(event->count));
        } else if (cpi_fixed == 1024) {  // CPI 1, the default: nothing to carry
          advance(event->count);
        } else {
          const Cycles scaled = cpi_fixed * event->count + compute_remainder_;
          compute_remainder_ = scaled % 1024;
          advance(scaled / 1024);
        }
        if (virtualized) account_exit(virtualization->elapse(elapsed_));
        if (sample_interval_ && elapsed_ >= next_sample_) sample_memory_virtualization();
        break;
      }
      case GuestEventKind::Memory:  // taken before the switch
        break;
      case GuestEventKind::RoiBegin:
        // Catch up with SystemC time first: the action may wait for the other vCPUs.
        quantum_.sync();
        if (on_roi_begin_) on_roi_begin_();
        quantum_.reset();  // time may have passed in the action: the next quantum starts now
        break;
      case GuestEventKind::RoiEnd:
        in_stream = false;
        break;
      case GuestEventKind::Instr:
        forget_last_lines();
        ++instructions;
        execute_instruction(*event);
        break;
      case GuestEventKind::Interrupt:
        forget_last_lines();
        execute_interrupt(*event);
        break;
      case GuestEventKind::String:
        forget_last_lines();
        execute_string(*event);
        break;
    }
  }
  quantum_.sync();
  if (on_schedule_) on_schedule_(true);  // the physical CPU goes to the next vCPU
  finished_ = true;
  finished_event_.notify(sc_core::SC_ZERO_TIME);
}

// An access that crosses a 4 KiB boundary is two translations and two accesses.
template <bool kWarm>
inline Cycles Vcpu::access_pieces(const GuestEvent& event) {
  const Addr first = event.address;
  const Addr boundary = (first | (kPageSize4K - 1)) + 1;
  if (first + event.size <= boundary) return piece<kWarm>(event, first, event.size);
  const auto head = static_cast<unsigned>(boundary - first);
  const Cycles c = piece<kWarm>(event, first, head);
  return c + piece<kWarm>(event, boundary, event.size - head);
}

inline void Vcpu::execute_memory(const GuestEvent& event) {
  count_reference();
  if (functional_) [[unlikely]]
    return warm_memory(event);
  serialized_ = false;  // set by an exit or a page fault of this access (interval model)
  ++*counts_by_access_[static_cast<std::size_t>(event.access)];
  const Cycles c = access_pieces(event);
  if (!interval_) return advance(c);
  // The interval model's usual access, a load or store that neither faulted nor exited, here;
  // fetches and serialized accesses out of line.
  const bool new_instruction = !event.continues_instruction;
  if (!serialized_ && event.access != AccessKind::Fetch) [[likely]]
    return advance_overlapped_access(c, new_instruction);
  advance_interval(c, new_instruction, event.access == AccessKind::Fetch);
}

inline void Vcpu::warm_memory(const GuestEvent& event) {
  // Most functional accesses change nothing: one piece on the page the stream's L1 TLB lookup
  // last hit, on the most recent line of its cache set (a store: a writable, dirty entry and a
  // dirty line, not under shadow paging). Those end here, inline; warm_piece() does the rest.
  const Addr va = event.address;
  const WarmPage& page = event.access == AccessKind::Fetch ? fetch_page_ : data_page_;
  const bool store = event.access == AccessKind::Store;
  // The page first: a stream that moved to another page goes on at once.
  const bool unchanged = (va >> kPageShift4K) == page.page && (!store || (page.stores && !tables_replaced_)) &&
                         on_recent_line(page.frame | (va & (kPageSize4K - 1)), event.size, store);
  if (!unchanged) warm_memory_pieces(event);
  if (!event.continues_instruction) advance_functional(1);
}

void Vcpu::warm_memory_pieces(const GuestEvent& event) { access_pieces<true>(event); }

void Vcpu::set_first_cache_level(unsigned line_bytes, std::size_t sets) {
  // A power-of-two line size and number of sets index the memo as the cache indexes itself;
  // anything else keeps one entry, which every line shares (exact for any geometry, as a
  // line's set is always its memo entry's).
  const bool indexable = line_bytes && !(line_bytes & (line_bytes - 1)) && sets && !(sets & (sets - 1));
  recent_line_shift_ = 0;
  while (indexable && (1u << recent_line_shift_) < line_bytes) ++recent_line_shift_;
  if (!indexable) recent_line_shift_ = 6;
  recent_set_mask_ = indexable ? sets - 1 : 0;
  recent_lines_.assign(recent_set_mask_ + 1, RecentLine{});
  recent_lines_kept_ = sets > 0;
}

void Vcpu::advance_interval(Cycles latency, bool new_instruction, bool fetch) {
  // An access that faulted or exited is serial: the window drains and nothing of it overlaps.
  if (serialized_) {
    serialized_ = false;
    interval_->serialize();
    return advance((new_instruction ? interval_->dispatch(1) : 0) + latency);
  }
  if (!fetch) return advance_overlapped_access(latency, new_instruction);
  const Cycles before = interval_->fetch_stall_cycles();
  advance(interval_->fetch(latency));
  fetch_stall_cycles += interval_->fetch_stall_cycles() - before;
}

void Vcpu::execute_string(const GuestEvent& event) {
  count_references(event.count);
  ++instructions;
  ++string_instructions;
  if (ring_.in_kernel()) ++kernel_instructions;
  constexpr Addr kLineBytes = 64;
  string_store_ = event.access == AccessKind::Store;
  if (functional_) {
    for (std::uint32_t i = 0; i < event.count; ++i)
      warm_piece(event.access, event.address + i * kLineBytes, event.size, event.keeps_contents, kLineBytes);
    string_store_ = false;
    return advance_functional(1);
  }
  (event.access == AccessKind::Store ? stores : loads) += event.count;
  // Each line is found as any access is (TLBs, walks, page faults, a hypervisor's traps: in
  // order, not overlapped), then reaches the caches as any access does; the line fills overlap
  // up to the fill buffers' number, so the lines' memory time is divided by it, but the
  // instruction takes at least as long as its slowest line. A whole line stored is not read
  // first (fast strings write a destination line without its read-for-ownership: Intel SDM
  // vol. 3A, "Out-of-Order Stores For String Operations"): found in a cache it costs that
  // cache's time as any line; found in none it waits for nothing and goes out at the core's
  // rate, string_store_line_cycles a line, in series with the other such lines.
  Cycles finding = 0, memory = 0, slowest = 0, unfilled = 0;
  for (std::uint32_t i = 0; i < event.count; ++i) {
    const TranslatedPiece t = translate_piece(event.access, event.address + i * kLineBytes);
    finding += t.cycles;
    Cycles c;
    if (whole_line_store(event, i)) {
      const MemoryResult r = store_whole_line(t.physical_address, event.size, event.keeps_contents);
      if (r.served_by == ServedBy::Dram) {
        ++string_lines_unfilled;
        unfilled += string_store_line_cycles;
        c = 0;
      } else {
        c = r.cycles;
      }
    } else {
      c = access_data(event.access, t.physical_address, event.size, event.keeps_contents);
    }
    if (event.keeps_contents && tables_replaced_) memory_virtualization_->guest_store_ran(t.physical_address, kLineBytes);
    memory += c;
    slowest = std::max(slowest, c);
  }
  string_store_ = false;
  const Cycles in_flight = std::max<Cycles>(1, std::min<Cycles>(event.count, string_lines_in_flight));
  advance(finding + std::max(slowest, memory / in_flight + unfilled));
  if (interval_) drain();
}

MemoryResult Vcpu::store_whole_line(Addr pa, unsigned size, bool keeps_contents) {
  unsigned char* bytes = nullptr;
  if (!keeps_contents) {  // as access_data's store
    data_buffer_ = stored_value();
    bytes = reinterpret_cast<unsigned char*>(&data_buffer_);
  }
  const MemoryResult done = data.port().store_whole_line(pa, bytes, size);
  if (!done.ok) [[unlikely]]
    data_access_failed(pa);
  return done;
}

[[gnu::hot]] void Vcpu::account_exit(const InstructionOutcome& out) {
  if (out.exited) {
    forget_last_lines();
    if (interval_) drain();
    ++exits;
    exit_cycles += out.cycles;
    // Without VPID / ASID both the exit and the entry flush the guest's (VPID 0) mappings.
    if (out.flush_untagged_tlb) tlbs.each([](Tlb& t) { t.transition_flush(); });
  }
  if (out.cycles) advance(out.cycles);
}

void Vcpu::apply_translation_effects(const GuestEvent& event) {
  const TlbTags current = tags_;
  switch (event.instruction) {
    case Instruction::Invlpg:
      memory_virtualization_->invlpg(guest_cr3(), event.address);
      if (tables_replaced_ && vpid_)  // the hypervisor emulated it (KVM's flush_tlb_gva): INVVPID or INVLPGA
        flush_translation_entries(event.address);
      else
        tlbs.each([&](Tlb& t) { t.invlpg(event.address, current); });
      if (walk_caches.size()) walk_caches->invalidate_guest_walk_caches(guest_tag());
      break;
    case Instruction::MovToCr3: {
      // The value is the new CR3 (bit 63: keep the PCID's entries); 0 reloads the current one,
      // as a benchmark loop does.
      // Under shadow paging the hypervisor loads the shadow root of the guest's new CR3, whose
      // PCID bits it does not keep: every load flushes the non-global entries.
      const bool pcid_on = pcide && !tables_replaced_;
      const bool no_flush = pcid_on && (event.address >> 63);
      if (tables_replaced_) {
        // A reload of the same CR3 is a CR3 write the hypervisor sees too (it synchronizes).
        if (event.address) guest_cr3_ = event.address & ~(Addr{1} << 63);
        paging_.cr3 = memory_virtualization_->load_cr3(cpu_id_, guest_cr3_);
        refresh_tags();
      } else if (event.address) {
        paging_.cr3 = event.address & ~(Addr{1} << 63);
        if (on_cr3_load_) on_cr3_load_(paging_);
        refresh_tags();
      }
      if (tables_replaced_ && vpid_)  // the hypervisor's flush for the load it emulated: the guest's non-global entries
        tlbs.each([&](Tlb& t) { asid_flushes_ ? t.svm_tlb_control(7, vpid_) : t.invvpid(3, vpid_, 0); });
      else
        tlbs.each([&](Tlb& t) { t.mov_to_cr3(static_cast<std::uint16_t>(paging_.cr3 & 0xfff), pcid_on, no_flush, vpid_); });
      if (!no_flush && walk_caches.size()) walk_caches->invalidate_guest_walk_caches(guest_tag());
      break;
    }
    case Instruction::Invpcid:
      // `count` holds the type (0-3) and the PCID: type in bits 31:16, PCID in 11:0.
      tlbs.each([&](Tlb& t) {
        t.invpcid(event.count >> 16, static_cast<std::uint16_t>(event.count & 0xfff), event.address, vpid_);
      });
      if (walk_caches.size()) walk_caches->invalidate_all_walk_caches();
      break;
    default:
      break;
  }
}

void Vcpu::enter_ring0_gate() {
  // Through an interrupt or trap gate; the handler's IRET returns to the ring saved here.
  return_cpls_.push_back(static_cast<std::uint8_t>(ring_.cpl));
  ring_.interrupt();
}

void Vcpu::change_ring(Instruction instruction) {
  switch (instruction) {
    case Instruction::Syscall: ring_.syscall(); break;
    case Instruction::Sysenter: ring_.sysenter(); break;
    case Instruction::Sysret: ring_.sysret(); break;
    case Instruction::Sysexit: ring_.sysexit(); break;
    case Instruction::SoftwareInterrupt: enter_ring0_gate(); break;
    case Instruction::Iret:
      if (!return_cpls_.empty()) {
        ring_.iret(return_cpls_.back());
        return_cpls_.pop_back();
      }
      break;
    default: break;
  }
}

void Vcpu::execute_instruction(const GuestEvent& event) {
  if (interval_) drain();
  ++privileged_instructions;
  if (ring_.in_kernel()) ++kernel_instructions;
  const unsigned at_cpl = ring_.cpl;
  const bool guest = virtualization.size() > 0;
  // Faults that depend on the privilege level come before the instruction's VM exit (Intel SDM
  // vol. 3C 26.1.1, AMD APM vol. 2 15.7): above CPL 0 a privileged instruction raises #GP in a
  // guest as it does natively, whatever the controls say. Under trap-and-emulate the guest
  // kernel's #GP goes to the VMM, which emulates the instruction (the handler charges it), and
  // its sensitive unprivileged instructions are holes; `deprivileged_kernel` counts them
  // natively too (a kernel with no unit bound, its answers unchanged).
  const bool deprivileged_guest_kernel = ring_.kernel_cpl > 0 && at_cpl == ring_.kernel_cpl;
  const PrivilegeOutcome privilege = check_privilege(event.instruction, at_cpl, 0,
                                                     (deprivileged_kernel && !guest) || deprivileged_guest_kernel);
  if (privilege == PrivilegeOutcome::GeneralProtection) {
    if (!deprivileged_guest_kernel) return raise_general_protection();
    ++general_protection_faults;  // the VMM takes it and emulates the instruction below
  }
  const bool sensitive = privilege_class(event.instruction) == PrivilegeClass::SensitiveUnprivileged;
  if (ring_.in_kernel()) {
    if (sensitive) {
      if (guest_view_.sensitive(event.instruction, event.address, privilege == PrivilegeOutcome::VirtualizationHole))
        ++*wrong_answers_[static_cast<std::size_t>(event.instruction)];
    } else {
      guest_view_.privileged(event.instruction, event.address);
    }
    if (event.instruction == Instruction::Vmcall && event.address == kHypercallVirtualCpuState)
      guest_view_.sensitive(static_cast<Instruction>(event.count >> 24), event.count & 0xffffff, false);
  }
  if (privilege == PrivilegeOutcome::VirtualizationHole) {
    ++virtualization_holes;  // runs without trapping, on the VMM's state (guest_view_ has the result)
    advance(1);
    return;
  }
  // The instruction's effect holds whether it runs in the guest or the hypervisor emulates it.
  apply_translation_effects(event);
  change_ring(event.instruction);
  // Natively one cycle; as a guest the VT-x / AMD-V unit decides whether it exits and what
  // that costs. A ring transition that does not exit costs its transition instead, as natively.
  InstructionOutcome out{1, false, false};
  if (guest) out = virtualization->execute(event, at_cpl, elapsed_);
  if (out.exited) {
    account_exit(out);
  } else {
    const Cycles ring_cycles = rings.transition_cycles(event.instruction);
    advance(ring_cycles ? ring_cycles : out.cycles);
  }
  // HLT waits for its wake-up interrupt, natively, in guest mode, or in the host after an exit.
  if (event.instruction == Instruction::Hlt) {
    halted_cycles += hlt_wakeup_cycles;
    advance(hlt_wakeup_cycles);
  }
}

void Vcpu::raise_general_protection() {
  ++general_protection_faults;
  // #GP(0) goes through the IDT to the kernel's handler, which returns past the instruction
  // (its work, a signal to the program, is not modelled); it has no other effect.
  constexpr std::uint32_t kGeneralProtection = 13;
  if (virtualization.size() > 0)
    account_exit(virtualization->raise_exception(kGeneralProtection, elapsed_));
  advance(Cycles{rings.interrupt_cycles} + rings.iret_cycles);
}

void Vcpu::execute_interrupt(const GuestEvent& event) {
  // Vectors below 32 are exceptions (the kernel's #PF entry), the others external interrupts.
  if (interval_) drain();
  enter_ring0_gate();
  if (event.count >= 32) {
    ++interrupts;
    if (virtualization.size() > 0) account_exit(virtualization->deliver_interrupt(event.count, elapsed_));
  }
  advance(rings.interrupt_cycles);
}

inline Cycles Vcpu::access_piece(AccessKind kind, Addr va, unsigned size, bool keeps_contents) {
  const TranslatedPiece t = translate_piece(kind, va);
  const Cycles c = t.cycles + access_data(kind, t.physical_address, size, keeps_contents);
  if (keeps_contents && tables_replaced_) memory_virtualization_->guest_store_ran(t.physical_address, size);
  return c;
}

inline Cycles Vcpu::warm_piece(AccessKind kind, Addr va, unsigned size, bool keeps_contents, unsigned stored_bytes) {
  const bool fetch = kind == AccessKind::Fetch, store = kind == AccessKind::Store;
  WarmPage& page = fetch ? fetch_page_ : data_page_;
  const Addr number = va >> kPageShift4K;
  Addr pa;
  // Under shadow paging a store may be one the hypervisor tracks: always looked up.
  if (number == page.page && (!store || (page.stores && !tables_replaced_))) {
    pa = page.frame | (va & (kPageSize4K - 1));
  } else {
    // Without an ITLB both streams look up the DTLB: this lookup may make the other stream's
    // entry no longer the most recently used, so its page is looked up again.
    if (shared_l1_tlb_) (fetch ? data_page_ : fetch_page_).page = kNoLine;
    // The L1 TLB lookup: the same hit as before without the scan where the entries have not
    // changed since (a lookup only reorders them).
    Tlb& l1 = tlbs.l1(kind);
    HitPage& hit = (fetch ? fetch_hit_pages_ : data_hit_pages_)[number % kHitPages];
    const TlbEntry* e;
    if (hit.page == number && hit.generation == recent_lines_generation_) {
      e = l1.hit_again(l1.position_of(hit.entry));
    } else {
      e = l1.lookup(va, tags_);
      if (e) hit = {number, recent_lines_generation_, e};
    }
    if (TranslationPath::usable(e, kind, ring_.cpl == 3)) {
      pa = e->translate(va);
      page = {number, pa & ~(kPageSize4K - 1), e->writable && e->dirty};
    } else {
      // The fill (or a fault, or an emulated store) decides what the L1 TLB holds now: the
      // page's next access looks it up, hits and remembers it. The walk's references (and a
      // fault's handling) may have reached the first cache level.
      pa = translate_piece_after_l1_miss(kind, va).physical_address;
      page.page = kNoLine;
      ++recent_lines_generation_;
    }
  }
  warm_data(store, pa, size, keeps_contents);
  if (keeps_contents && tables_replaced_) memory_virtualization_->guest_store_ran(pa, stored_bytes);
  return 0;
}

inline void Vcpu::warm_data(bool store, Addr pa, unsigned size, bool keeps_contents) {
  const Addr line = pa >> recent_line_shift_;
  const Addr last_line = (pa + size - 1) >> recent_line_shift_;
  // A hit on the most recent line of its set leaves LRU, tree pseudo-LRU and random replacement
  // as they are, and a store to a dirty line the dirty bit: the lookup is skipped, its
  // statistics with it (and a skipped store's bytes, which nothing reads back).
  if (on_recent_line(pa, size, store)) return;
  RecentLine& recent = recent_lines_[line & recent_set_mask_];
  const bool known = recent.line == line && recent.generation == recent_lines_generation_;
  unsigned char* bytes = nullptr;
  if (store && !keeps_contents) {
    data_buffer_ = stored_value();
    bytes = reinterpret_cast<unsigned char*>(&data_buffer_);
  }
  if (!data.port().warm(store, pa, bytes, size)) [[unlikely]]
    data_access_failed(pa);
  if (!recent_lines_kept_) return;
  if (line == last_line) {
    recent = {line, recent_lines_generation_, store || (known && recent.dirty)};
  } else {  // two lines: the second's set is the one whose most recent line is known
    recent.line = kNoLine;
    recent_lines_[last_line & recent_set_mask_] = {last_line, recent_lines_generation_, store};
  }
}

inline Vcpu::TranslatedPiece Vcpu::translate_piece(AccessKind kind, Addr va) {
  // The common case inline: a usable L1 TLB entry; the rest (STLB, walk, page faults) out of line.
  if (const TlbEntry* e = path_.l1_hit(va, kind, ring_.cpl == 3, tags_)) return {e->translate(va), path_.l1_hit_cycles(kind)};
  return translate_piece_after_l1_miss(kind, va);
}

[[gnu::hot]] Vcpu::TranslatedPiece Vcpu::translate_piece_after_l1_miss(AccessKind kind, Addr va) {
  const bool user = ring_.cpl == 3;
  // Only the access kind here: the rest of the request is filled on a TLB miss, off the hit path.
  translation_.kind = kind;
  PathResult r = path_.translate_beyond_l1(va, kind, user, tags_, translation_, *this);
  Cycles c = r.cycles;
  for (int guest_faults = 0, attempts = 0; r.fault; ++attempts) {
    // Under shadow paging a fault may take a hidden fault, the guest's fault and another
    // hidden fault before the access goes through; nested paging filled lazily an EPT
    // violation per guest table and one for the page. Far more makes no progress.
    if (attempts > 16) throw std::runtime_error(std::string(name()) + ": no progress translating " + to_hex(va));
    Addr emulated_at = 0;
    if (!populate_nested() && hypervisor_page_fault(kind, va, user, emulated_at))
      c += resolve_page_fault(va, guest_faults++);
    if (emulated_at) return {emulated_at, c};
    translation_.kind = kind;
    r = path_.translate(va, kind, user, tags_, translation_, *this);  // the whole lookup again
    c += r.cycles;
  }
  return {r.physical_address, c};
}

inline Cycles Vcpu::access_data(AccessKind kind, Addr pa, unsigned size, bool keeps_contents) {
  // Stores write the user-mode instruction count (copy-on-write and the checks of it see real
  // bytes; a kernel that runs other code, a paravirtual one, writes the same data); loads, and
  // stores that keep what memory holds, move no bytes.
  unsigned char* bytes = nullptr;
  if (kind == AccessKind::Store && !keeps_contents) {
    data_buffer_ = stored_value();
    bytes = reinterpret_cast<unsigned char*>(&data_buffer_);
  }
  const MemoryResult done = data.port().access(kind == AccessKind::Store, pa, bytes, size);
  if (!done.ok) [[unlikely]]
    data_access_failed(pa);
  return done.cycles;
}

Cycles Vcpu::resolve_page_fault(Addr va, int attempt) {
  if (translation_.result.fault_kind != FaultKind::PageFault)
    throw std::runtime_error(std::string(name()) + ": translation of " + to_hex(va) +
                             " ended in a fault the guest cannot handle (kind " +
                             std::to_string(static_cast<unsigned>(translation_.result.fault_kind)) + ", guest-physical address " +
                             to_hex(translation_.result.guest_physical_address) + ")");
  ++page_faults;
  ++page_faults_taken_;
  if (interval_) drain();
  Cycles handler_cost = 0;
  if (attempt > 0 || fault_handler.size() == 0 ||
      !fault_handler->handle_page_fault(cpu_id_, guest_cr3(), va, translation_.result.error_code, handler_cost))
    throw std::runtime_error(std::string(name()) + ": unhandled page fault at virtual address " + to_hex(va) +
                             " (error code " + std::to_string(translation_.result.error_code) + ")");
  return handler_cost;
}

bool Vcpu::populate_nested() {
  const FaultKind kind = translation_.result.fault_kind;
  if (kind != FaultKind::EptViolation && kind != FaultKind::NestedPageFault) return false;
  if (!memory_virtualization_->nested_fault(translation_.result.guest_physical_address)) return false;
  if (virtualization.size() > 0)
    account_exit(virtualization->nested_fault_exit(translation_.result.exit_qualification,
                                                   translation_.result.guest_physical_address, elapsed_));
  return true;
}

bool Vcpu::hypervisor_page_fault(AccessKind kind, Addr va, bool user, Addr& emulated_at) {
  if (translation_.result.fault_kind != FaultKind::PageFault) return true;  // reported there
  PagingControls guest = paging_;
  guest.cr3 = guest_cr3();
  const bool retried_here_before = last_retry_instruction_ == instructions.count() && last_retry_va_ == va;
  const std::optional<ShadowFaultOutcome> handled = memory_virtualization_->page_fault(
      guest, va, kind, user, string_store_ && !retried_here_before, translation_.result.error_code);
  if (!handled) return true;  // the guest's own, straight away
  const ShadowFaultOutcome& o = *handled;
  // Each fault that reaches the emulator clears the guard or sets it to this retry.
  if (o.resolution == ShadowFaultResolution::WriteEmulated || o.resolution == ShadowFaultResolution::Unprotected) {
    const bool retried = o.resolution == ShadowFaultResolution::Unprotected;
    last_retry_instruction_ = retried ? instructions.count() : 0;
    last_retry_va_ = retried ? va : 0;
  }
  if (virtualization.size() > 0)
    account_exit(virtualization->page_fault_exit(o, translation_.result.error_code, va, elapsed_));
  if (o.resolution == ShadowFaultResolution::WriteEmulated) emulated_at = o.host_address;
  if (o.resolution != ShadowFaultResolution::GuestFault) return false;
  translation_.result.error_code = o.guest_error_code;  // the guest's handler sees its own walk's code
  return true;
}

void Vcpu::data_access_failed(Addr pa) const {
  throw std::runtime_error(std::string(name()) + ": data access at physical address " + to_hex(pa) +
                           " failed: no memory there");
}

Cycles Vcpu::translate_miss(Addr va, TranslationExtension& ext) {
  // `ext` is translation_.
  // Every request field is set here and the MMU sets every response field.
  ++tlb_misses_;
  ext.paging = paging_;
  ext.nested = nested_;
  ext.nested_paging = nested_paging_;
  ext.nested_context = nested_context_;
  ext.vpid = vpid_;
  ext.guest_mode = nested_;
  ext.pcid = static_cast<std::uint16_t>(paging_.cr3 & 0xfff);
  ext.cpl = static_cast<std::uint8_t>(ring_.cpl);
  // ext.kind: set by the access path.
  // The request arrives at the vCPU's local time offset (LT style), so the MMU judges its
  // walker occupancy at that time, not at the quantum's start.
  const TranslationResult r = translate.port().access(va, ext, quantum_.local_cycles());
  if (!r.ok) throw std::runtime_error(std::string(name()) + ": translation request failed");
  return r.cycles;
}

}  // namespace virtsim
