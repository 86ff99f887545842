#pragma once
// The stream of guest events a vCPU executes. Workloads produce it (generators now, traces
// later); the vCPU consumes it one event at a time and never sees where it came from.
#include <cstdint>
#include <optional>
#include <systemc>

#include "virtsim/common/instruction.h"
#include "virtsim/common/shadow_paging.h"
#include "virtsim/common/units.h"

namespace virtsim {

enum class GuestEventKind : std::uint8_t {
  Compute,   // `count` plain instructions with no memory operand
  Memory,    // one instruction making one access of `size` bytes at `address`
  RoiBegin,  // region of interest starts: statistics reset
  RoiEnd,    // region of interest ends: the run stops here
  Instr,     // one instruction that matters to virtualization (`instruction`, operands below)
  Interrupt, // an external interrupt is delivered (`count`: the vector): a ring-0 entry
  String,    // one fast-string instruction (REP STOS, REP MOVS) over `count` 64-byte lines from
             // `address`, each accessed (`access`, `size` bytes at the line's start) as a Memory
             // event would; the vCPU overlaps the lines' memory time
};

struct GuestEvent {
  GuestEventKind kind = GuestEventKind::Compute;
  AccessKind access = AccessKind::Load;
  std::uint8_t size = 8;
  std::uint32_t count = 0;
  Addr address = 0;
  // Instr: which instruction. `count` is the port or MSR (INVPCID: type << 16 | PCID),
  // `address` the value written or the linear address (MOV to CR3: the new CR3, 0 reloads the
  // current one), `size` the I/O access size.
  Instruction instruction = Instruction::Cpuid;
  // Memory store whose value the guest OS model has already written (a page-table entry, a
  // page it zeroed or copied): the access is timed like any store and writes back what the
  // memory holds.
  bool keeps_contents = false;
  // Memory load or store of the instruction whose fetch came just before it (a trace that
  // records fetches, as lackey's does: an instruction's fetch, then its data accesses): not an
  // instruction of its own. Without fetches every access stands for one instruction.
  bool continues_instruction = false;
  // String store: its first / last line is written only in part (a copy into a buffer that
  // does not start / end on a line boundary), so that line is read for ownership as a plain
  // store's is; every other line of a string store is written whole.
  bool partial_first_line = false;
  bool partial_last_line = false;

  static GuestEvent compute(std::uint32_t instructions) { return {GuestEventKind::Compute, AccessKind::Load, 0, instructions, 0}; }
  static GuestEvent memory(AccessKind kind, Addr address, std::uint8_t size = 8) { return {GuestEventKind::Memory, kind, size, 1, address}; }
  static GuestEvent kernel_store(Addr address) {
    GuestEvent e = memory(AccessKind::Store, address, 8);
    e.keeps_contents = true;
    return e;
  }
  // A fast-string pass over `lines` whole cache lines the guest OS model has already written
  // (zeroed or copied) or only reads: a page's worth is one instruction, not one per line.
  static GuestEvent kernel_string(AccessKind kind, Addr address, std::uint32_t lines) {
    GuestEvent e{GuestEventKind::String, kind, 8, lines, address};
    e.keeps_contents = kind == AccessKind::Store;
    return e;
  }
  static GuestEvent roi_begin() { return {GuestEventKind::RoiBegin, AccessKind::Load, 0, 0, 0}; }
  static GuestEvent roi_end() { return {GuestEventKind::RoiEnd, AccessKind::Load, 0, 0, 0}; }
  static GuestEvent interrupt(std::uint32_t vector) { return {GuestEventKind::Interrupt, AccessKind::Load, 0, vector, 0}; }
  static GuestEvent instr(Instruction i, std::uint32_t port_or_msr = 0, Addr value = 0, std::uint8_t size = 1) {
    return {GuestEventKind::Instr, AccessKind::Load, size, port_or_msr, value, i};
  }
};

// The instructions an event counts towards the guest kernel's next timer tick.
inline std::uint64_t tick_instructions(const GuestEvent& e) {
  return e.kind == GuestEventKind::Compute ? e.count : e.continues_instruction ? 0 : 1;
}
// Whether a batch of events ends after `e`: ROI markers and interrupts end one, and so does
// the event whose instructions use up `budget` (which is reduced by them otherwise).
inline bool ends_batch(const GuestEvent& e, std::uint64_t& budget) {
  const std::uint64_t n = tick_instructions(e);
  if (n >= budget) return true;
  budget -= n;
  return e.kind == GuestEventKind::RoiBegin || e.kind == GuestEventKind::RoiEnd || e.kind == GuestEventKind::Interrupt;
}

// A batch of guest events a source wrote into its caller's buffer, with what the source
// counted while making them: the guest kernel's timer tick and the reference count need no
// pass of their own over the batch.
struct EventBatch {
  std::size_t events = 0;
  std::uint64_t instructions = 0;  // tick_instructions() of the events, summed
  std::uint64_t references = 0;    // the Memory events among them

  // Counts `e`, the event written after the batch's others; returns whether the batch ends
  // after it, as ends_batch() says for a batch of at most `budget` instructions.
  bool add(const GuestEvent& e, std::uint64_t budget) {
    std::uint64_t left = budget - instructions;  // the batch has not ended: instructions < budget
    ++events;
    instructions += tick_instructions(e);
    references += e.kind == GuestEventKind::Memory;
    return ends_batch(e, left);
  }
  // Appends `more`, the batch of events written after these.
  EventBatch& operator+=(const EventBatch& more) {
    events += more.events;
    instructions += more.instructions;
    references += more.references;
    return *this;
  }
};


// A source of guest events for one vCPU. next() returns the next event, or nullptr at the
// end of the stream; the event stays valid until the next call. Sources hand out runs of
// events from a buffer of their own, so the vCPU's per-event cost is an inline pointer bump;
// refill() makes the next run when one is used up.
class GuestEventSource {
 public:
  virtual ~GuestEventSource() = default;
  const GuestEvent* next() { return next_ != end_ ? next_++ : refill(); }
  // The next events as a batch written to `out` (up to `max`, ending as ends_batch() says for
  // `budget` instructions); no events at the end of the stream. Sources that make events
  // cheaply write them there directly instead of into a run of their own.
  virtual EventBatch fill(GuestEvent* out, std::size_t max, std::uint64_t budget) {
    EventBatch batch;
    while (batch.events < max) {
      const GuestEvent* e = next();
      if (!e) break;
      out[batch.events] = *e;
      if (batch.add(out[batch.events], budget)) break;
    }
    return batch;
  }

 protected:
  // Returns the next event and sets [next_, end_) to the events after it that are ready
  // (possibly none), or returns nullptr at the end of the stream.
  virtual const GuestEvent* refill() = 0;
  const GuestEvent* next_ = nullptr;
  const GuestEvent* end_ = nullptr;
};

// A source that makes one event at a time (tests, the exit microbenchmarks).
class SingleEventSource : public GuestEventSource {
 protected:
  virtual std::optional<GuestEvent> next_event() = 0;

 private:
  const GuestEvent* refill() final {
    auto e = next_event();
    if (!e) return nullptr;
    event_ = *e;
    return &event_;
  }
  GuestEvent event_;
};

// Called through a vCPU's `fault_handler` port when a translation faults: resolves it (e.g.
// demand paging) and returns its cost. Returns false if the fault is fatal (a real
// segmentation fault for the workload). An sc_interface, so the binding is checked at
// elaboration like any other port.
class PageFaultHandler : public virtual sc_core::sc_interface {
 public:
  // `cpu`: the faulting vCPU's index (the kernel queues the work it does on that vCPU).
  virtual bool handle_page_fault(unsigned cpu, Addr cr3, Addr virtual_address, std::uint32_t error_code,
                                 Cycles& cost) = 0;
};

// Called through a vCPU's `virtualization` port for each Instr event when the vCPU runs as a
// guest: the VT-x / AMD-V unit decides whether it exits and returns what it cost (the
// instruction itself, or exit + hypervisor handler + entry).
// VMCALL's hypercall number (the event's address) for a paravirtual kernel's batched
// page-table updates, as Xen numbers __HYPERVISOR_mmu_update; the event's count is the number
// of updates.
inline constexpr Addr kHypercallMmuUpdate = 1;
// A paravirtual kernel's stand-in for a sensitive instruction (POPF, SGDT...): the hypervisor
// gives it its own virtual state. The event's count is the instruction << 24 | its operand.
inline constexpr Addr kHypercallVirtualCpuState = 2;

struct InstructionOutcome {
  Cycles cycles = 0;
  bool exited = false;
  bool flush_untagged_tlb = false;  // the transitions flushed the TLB (no VPID / ASID)
};
class GuestInstructionHandler : public virtual sc_core::sc_interface {
 public:
  // The ring the guest kernel runs in: 0 but under a trap-and-emulate VMM, which deprivileges it.
  virtual unsigned guest_kernel_cpl() const { return 0; }
  virtual InstructionOutcome execute(const GuestEvent& event, unsigned cpl, Cycles now) = 0;
  // Guest time has reached `now`: events the hardware raises on its own (the VMX-preemption
  // timer) happen here. Returns their cost (zero outcome when nothing happened).
  virtual InstructionOutcome elapse(Cycles now) = 0;
  // An external interrupt (`vector`) arrives for the guest: it exits (external-interrupt
  // exiting) unless the hypervisor posts interrupts to it.
  virtual InstructionOutcome deliver_interrupt(std::uint32_t vector, Cycles now) = 0;
  // A guest instruction raised exception `vector` (a #GP of a privileged instruction above
  // CPL 0): the guest's IDT delivers it, after an exit only where the exception bitmap (VT-x)
  // or the exception intercepts (AMD-V) select the vector.
  virtual InstructionOutcome raise_exception(std::uint32_t vector, Cycles now) = 0;
  // Under shadow paging: a #PF on the shadow tables at `va` exits (the exception bitmap has
  // #PF), and the hypervisor resolved it as `how` (its handler's cost depends on that, and
  // its loads go to the page-table entries `how` lists).
  virtual InstructionOutcome page_fault_exit(const ShadowFaultOutcome& how, std::uint32_t error_code, Addr va,
                                             Cycles now) = 0;
  // Under nested paging filled lazily: the walk's EPT violation (VMX) or nested page fault
  // (SVM) at guest-physical `gpa` exits, and the hypervisor maps the page.
  virtual InstructionOutcome nested_fault_exit(std::uint64_t qualification, Addr gpa, Cycles now) = 0;
};

}  // namespace virtsim
