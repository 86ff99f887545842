#pragma once
// The guest OS model: a kernel that turns process-level records (fork, exec, exit, mmap,
// munmap, brk, switch, syscall, interrupt; docs/trace-format.md) into architectural actions on
// real page tables in guest-physical memory, and hands each vCPU the guest events those
// actions take: system calls as SYSCALL ... SYSRET around kernel work (instructions and
// loads/stores in the direct map), context switches as MOV to CR3 (with PCIDs when CR4.PCIDE
// is on), TLB invalidation as INVLPG or a CR3 reload, TLB shootdowns as IPIs (x2APIC ICR
// writes) that interrupt the other vCPUs, timer ticks as interrupts. Page faults come back to
// it through the vCPUs' fault_handler ports: demand paging over the process's memory areas
// (optionally with 2 MiB transparent huge pages), file pages through the page cache
// (page_cache.h), copy-on-write after fork; mprotect and mremap rewrite and move entries.
//
// Page-table work follows Linux 6.1 entry by entry: fork writes every present entry into the
// child's tables and write-protects the parent's writable private entries in place, then
// flushes the parent's TLB (dup_mmap's flush_tlb_mm); exit, exec, munmap and brk clear each
// present entry (zap_pte_range), flush once per mmu_gather batch, then free the tables no area
// covers any more (free_pgtables); context switches pick one of 6 ASIDs per CPU
// (switch_mm_irqs_off, choose_new_asid) and an exiting task leaves its address space loaded
// (lazy TLB) until the teardown's flush. The kernel's own data (struct page array, slab objects
// for areas, tasks and address spaces, kernel stacks) lives at guest-physical addresses it
// reaches through the direct map, so kernel work has a cache and TLB footprint.
//
// Which process runs is the stream's (a trace's captured order, a generator's own: the child
// of fork-and-wait runs until it exits, then the parent) or, for a stream of several runnable
// processes, the timer's: each tick preempts the running process for the next (round robin).
// The kernel checks the order (a record for a process that never started is an error naming
// where it came from).
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <systemc>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/module_scope.h"
#include "virtsim/common/param.h"
#include "virtsim/common/state_stream.h"
#include "virtsim/common/stats.h"
#include "virtsim/memory/frame_array.h"
#include "virtsim/paging/paging.h"
#include "virtsim/workloads/page_cache.h"
#include "virtsim/workloads/trace.h"

namespace virtsim {

// Where the kernel puts things in virtual memory.
struct AddressLayout {
  std::string name;
  Addr user_end = 0;        // user addresses are [0, user_end)
  Addr kernel_base = 0;     // the kernel half every address space shares starts here
  Addr direct_map = 0;      // guest-physical address 0 appears here
  Addr direct_map_max = 0;  // the most guest-physical memory the direct map covers
};
// "linux64" (x86-64: 47-bit user half, direct map at 0xffff888000000000; 56-bit and
// 0xff11000000000000 with 5-level paging), "linux32" (3G/1G split, 896 MiB of low memory
// mapped at 0xc0000000), "windows32" (2G/2G split, system space from 0x80000000). Throws
// ConfigError for another name or a layout the paging mode cannot hold.
AddressLayout address_layout(const std::string& name, TableFormat format);

// What a system call record costs the kernel depends on the kind of work the call does: its
// Linux x86-64 number picks a class, each with its own cost parameter (measured on the
// calibration host, docs/calibration.md); Plain is every number no class claims and costs
// syscall_instructions. Vdso is a call a native program makes through the vDSO without
// entering the kernel (gettimeofday, clock_gettime, time, getcpu), which a capture under
// Valgrind records as a system call. Reads and writes (Read, Write, and their at-an-offset
// FileRead, FileWrite) cost by what the record says they moved and what their descriptor is
// (a file, a pipe, a socket: trace format 5); Epoll and Poll are waits that return at once,
// Wait a wait that may sleep (or, in an older trace, any wait).
enum class SyscallClass : std::uint8_t {
  Plain, Read, Write, FileRead, FileWrite, Wait, Epoll, Poll, Open, Close, Stat, Fstat, Lseek, Vdso
};
constexpr std::size_t kSyscallClasses = 14;
// The class of system call `number` (a flat table lookup; numbers beyond it are Plain).
SyscallClass syscall_class(std::uint64_t number);

// Parameters of the guest kernel (scope "system.kernel"), declared once.
class GuestOsParameters {
 public:
  explicit GuestOsParameters(const Scope& scope);

  Param<std::string> paging, layout;
  Param<bool> transparent_huge_pages, zero_pages, state_digest, memory_references, paravirt_mmu;
  Param<std::uint32_t> syscall_instructions, syscall_lines, fault_instructions, fork_instructions, exec_instructions,
      exit_instructions, mmap_instructions, switch_instructions, interrupt_instructions, shootdown_instructions,
      flush_ceiling, timer_instructions, pv_batch, pte_copy_instructions, pte_zap_instructions,
      page_free_instructions;
  Param<std::uint64_t> timer_interval;
  // Per class of system call (SyscallClass); 0: the class costs syscall_instructions.
  Param<std::uint32_t> syscall_read_instructions, syscall_write_instructions, syscall_file_read_instructions,
      syscall_file_write_instructions, syscall_wait_instructions,
      syscall_open_instructions, syscall_close_instructions, syscall_stat_instructions, syscall_fstat_instructions,
      syscall_lseek_instructions, vdso_instructions, syscall_epoll_instructions, syscall_poll_instructions;
  // Reads and writes by their descriptor's object (a record of trace format 5): the base of a
  // pipe's (a socket's and a file's are syscall_read/write and syscall_file_read/write), and
  // per 64-byte line moved, beyond the copy's own loads and stores.
  Param<std::uint32_t> syscall_pipe_read_instructions, syscall_pipe_write_instructions,
      syscall_socket_line_instructions, syscall_file_line_instructions, syscall_pipe_line_instructions;
  PageCacheParameters page_cache;
};

// A stream of process-level records for one vCPU: a trace file or a generator.
class ProcessEventSource {
 public:
  virtual ~ProcessEventSource() = default;
  // The next record, nullopt at the end of the stream.
  virtual std::optional<TraceRecord> next() = 0;
  // The fast path, for the running process: the records that stand for guest events (memory,
  // compute, instruction, ROI markers), up to `max` of them, written to `out` as those events.
  // Stops where ends_batch() says (after a RoiBegin or RoiEnd, after the event that brings the
  // instructions counted to `budget`) and before any other record, which next() then returns.
  // Returns how many, with their instructions and references; no events when the next record is
  // not one of them, and always for a source without a fast path (next() gives everything).
  virtual EventBatch plain_events(GuestEvent* /*out*/, std::size_t /*max*/, std::uint64_t /*budget*/) { return {}; }
  // Where a record came from, for error messages: the last one read, or with `ahead` the one
  // that many events before the last plain_events() handed out.
  virtual std::string position(std::uint64_t ahead = 0) const = 0;
  // A captured program touches memory its records never mapped (what the loader mapped, the
  // stack): the kernel demand-pages any user address of it. Generators mmap what they use.
  virtual bool implicit_user_memory() const { return false; }
  virtual double progress() const { return -1.0; }  // share done, 0..1; negative: unknown
  // At a timer tick: the process to run next when the stream lets the kernel's timer schedule
  // (it has several runnable processes); nullopt keeps the current one. The stream's next
  // records are then that process's.
  virtual std::optional<std::uint32_t> preempt() { return std::nullopt; }
  virtual std::uint64_t memory_references() const = 0;
  // The stream is kernel code (an exit microbenchmark, as kvm-unit-tests runs its loops at
  // CPL 0): its process enters the kernel with a system call before its first record and
  // never returns to user mode. Such a stream makes no process records.
  virtual bool runs_in_kernel() const { return false; }
};

// Whether a record stands for a guest event of the running process.
inline bool is_plain(TraceRecordKind kind) { return kind <= TraceRecordKind::RoiEnd; }
// A trace file as a process record source.
class TraceRecordSource final : public ProcessEventSource {
 public:
  explicit TraceRecordSource(const std::string& path);
  std::optional<TraceRecord> next() override;
  EventBatch plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) override;
  std::string position(std::uint64_t ahead) const override;
  bool implicit_user_memory() const override { return true; }
  const std::string& warning() const { return reader_.warning(); }  // TraceReader::warning()
  // How far into the file the reader is (unknown for a FIFO).
  double progress() const override;
  std::uint64_t memory_references() const override { return reader_.memory_records_read(); }

 private:
  std::string path_;
  TraceReader reader_;
  std::uint64_t file_bytes_ = 0;  // 0: not a regular file
  std::optional<TraceRecord> held_;  // read by plain_events, not one of its records
};

// The guest kernel as plain C++: tests drive it without SystemC.
class GuestOs {
 public:
  // A read's and a write's kernel instructions on one kind of object (a socket, a file, a
  // pipe): a base each and a cost per 64-byte line moved.
  struct IoCost {
    std::uint32_t read = 0, write = 0, per_line = 0;
  };
  // `memory` reads and writes guest-physical memory; `frames` hands out its frames.
  GuestOs(const Scope& scope, const GuestOsParameters& parameters, MemoryView memory, FrameAllocator& frames,
          bool pcid);
  ~GuestOs();

  // Adds a vCPU that runs `source`; its first record's process (pid 1 unless a switch names
  // another) starts on it. With `thread_of_cpu0` its processes share vCPU 0's address space
  // (threads of one process). Returns the paging controls the vCPU starts with.
  PagingControls add_cpu(ProcessEventSource& source, bool thread_of_cpu0 = false);
  // The guest events vCPU `cpu` runs.
  GuestEventSource& events(unsigned cpu);
  // A page fault of vCPU `cpu`. Returns false when the fault is a real error for the program
  // (nothing to page in); throws with the process and stream position for a segmentation fault.
  bool handle_page_fault(unsigned cpu, Addr cr3, Addr va, std::uint32_t error_code, Cycles& cost);

  TableFormat format() const { return builder_.format(); }
  const AddressLayout& layout() const { return layout_; }
  // The PAE PDPTEs a MOV to CR3 loads (other formats: nothing to do).
  void load_cr3(PagingControls& controls) const;
  double progress() const;
  // Guest memory references issued so far, the programs' and the kernel's, warm-up included.
  std::uint64_t memory_references() const;
  std::size_t live_processes() const { return processes_.size(); }
  const PageTableBuilder& builder() const { return builder_; }
  // Where the kernel reaches the struct page of guest-physical `frame`: its direct-map address.
  Addr page_struct_address(Addr frame) const { return layout_.direct_map + page_struct(frame); }
  // Every live process's CR3 (tests compare final page-table contents through them).
  std::vector<std::pair<std::uint32_t, Addr>> address_spaces() const;
  // A hash of every live address space's leaf entries and user pages, in guest-physical
  // terms: the same for the same run under any memory virtualization. It takes in what the
  // guest kernel learnt of its processor state, when it learnt anything (`cpu_state`: nonzero).
  std::uint64_t digest() const;
  void set_cpu_state_digest(std::function<std::uint64_t()> cpu_state) { cpu_state_digest_ = std::move(cpu_state); }
  // Checkpoints (guest_os_state.cpp): the kernel's processes, address spaces, areas, slabs,
  // page cache and per-vCPU state, not its statistics. Saving needs every vCPU between records
  // (nothing queued or read ahead); otherwise it throws CheckpointError saying what is pending.
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  Counter processes_created;
  Counter forks;
  Counter execs;
  Counter exits;
  Counter syscalls;
  Counter mmaps;
  Counter munmaps;
  Counter tool_mappings;
  Counter vdso_calls;
  Counter context_switches;
  Counter demand_faults;
  Counter cow_faults;
  Counter cow_copies;
  Counter huge_pages;
  Counter spurious_faults;
  Counter pages_unmapped;
  Counter invlpgs;
  Counter tlb_flushes;
  Counter shootdown_ipis;
  Counter timer_interrupts;
  Counter preemptions;
  Counter device_interrupts;
  Counter pcid_reuses;
  Counter asid_evictions;
  Counter entries_cleared;
  Counter kernel_references;
  Counter pv_hypercalls;
  Counter pv_updates;
  Counter tables_freed;
  Counter frames_freed;
  Formula frames_in_use;
  Formula state_digest;
  PageCache page_cache;  // file pages, and the statistics of file faults

 private:
  struct Vma {
    Addr start = 0, end = 0;
    bool writable = true, executable = false;
    std::uint32_t file = 0;  // the trace's file id; 0: anonymous
    bool shared = false;     // MAP_SHARED (of a file)
    bool tool = false;       // the capture tool's own mapping (an mmap record tagged kMapTool)
    Addr file_delta = 0;     // a file area's file offset of address a is a + file_delta
    Addr object = 0;  // guest-physical address of its vm_area_struct (0: none, an implicit area)
    // Linux's anon_vma: the area maps pages of its own (an anonymous area always; a private
    // file area once it copied a file page). fork copies the entries of such areas only.
    bool own_pages = false;
    bool copied_at_fork() const { return file == 0 || own_pages; }
  };
  struct Mm {
    std::uint64_t id = 0;  // Linux's context.ctx_id: never reused
    Addr root = 0;
    Addr object = 0;           // guest-physical address of its mm_struct
    std::map<Addr, Vma> vmas;  // by start; never overlapping
    Addr brk_start = 0, brk = 0;
    bool implicit_user = false;
    std::uint64_t generation = 0;   // Linux's tlb_gen: bumped whenever a mapping loses rights or goes away
    std::uint64_t active_cpus = 0;  // bit c: loaded in vCPU c's CR3, lazily too (mm_cpumask)
    unsigned users = 0;             // processes (threads) sharing it
  };
  struct Process {
    std::uint32_t pid = 0;
    std::shared_ptr<Mm> mm;
    Addr kernel_stack = 0;  // guest-physical base of its kernel stack
    Addr task = 0;          // guest-physical address of its task_struct
  };
  // A slab cache of fixed-size kernel objects: slabs of `slab_pages` frames carved into
  // `per_slab` objects. Slabs are never given back (Linux keeps them until memory pressure).
  struct Slab {
    Addr object_bytes = 0;
    unsigned per_slab = 0, slab_pages = 0;
    std::vector<Addr> free;
  };
  // One of the ASIDs (PCIDs) a vCPU hands out (Linux's cpu_tlbstate.ctxs): whose entries it
  // holds and up to which generation of that address space.
  struct AsidSlot {
    std::uint64_t mm = 0, generation = 0;
  };
  // Linux's TLB_NR_DYN_ASIDS (arch/x86/include/asm/tlbflush.h).
  static constexpr unsigned kDynamicAsids = 6;
  // An mmu_gather: the range whose entries were cleared since its last flush.
  struct TlbGather {
    Addr start = ~Addr{0}, end = 0, stride = ~Addr{0};
    std::size_t pages = 0;
  };
  class CpuStream;
  struct Cpu {
    unsigned index = 0;
    ProcessEventSource* source = nullptr;
    std::unique_ptr<CpuStream> stream;
    Process* current = nullptr;
    std::deque<GuestEvent> pending;   // kernel work and interrupts, run before the next record
    std::vector<Addr> deferred_free;  // frames freed once the pending events ran (mmu_gather)
    std::uint64_t since_tick = 0;     // instructions since the last timer interrupt, the kernel's too
    bool tick_due = false;            // the timer fires once the events handed out have run
    std::size_t tick_events = 0;      // events of the running tick's handler not yet handed out
    std::optional<TraceRecord> held;  // the source's next record, read while looking past a system call
    Addr per_cpu = 0;                 // guest-physical base of its per-CPU data
    AsidSlot asids[kDynamicAsids];
    unsigned next_asid = 0;
    std::shared_ptr<Mm> loaded;  // the address space CR3 holds (Linux's loaded_mm); null: the kernel's
    unsigned loaded_asid = 0;
    bool in_kernel = false;  // between a kernel entry and its return to user mode
    std::uint32_t pv_queued = 0;  // paravirtual MMU: page-table updates not yet sent
    bool named = false;      // a record has named the first process's pid
  };
  friend class CpuStream;
  // Events vCPU `cpu`'s stream handed out that have not run (a checkpoint needs none).
  std::uint64_t events_ahead(const Cpu& cpu) const;

  // The next event of vCPU `cpu` once its stream's run of events is used up (CpuStream::refill).
  const GuestEvent* refill(Cpu& cpu);
  void run_record(Cpu& cpu, const TraceRecord& r);
  void adopt_first_pid(Cpu& cpu, std::uint32_t pid);
  [[noreturn]] void fail(const Cpu& cpu, const std::string& what) const;
  Process& process(const Cpu& cpu, std::uint32_t pid, const char* record);
  // `task`: its task_struct when the caller made it (fork's copy); else a new one.
  Process& start_process(Cpu& cpu, std::uint32_t pid, std::shared_ptr<Mm> mm, Addr task = 0);
  void give_pae_directories(Addr root, Addr end);
  std::shared_ptr<Mm> new_mm(bool implicit_user);
  void release_mm(Cpu& cpu, const std::shared_ptr<Mm>& mm);
  // Whether [begin, end) lies wholly in the capture tool's own areas.
  bool tool_range(const Mm& mm, Addr begin, Addr end) const;
  void unmap_range(Cpu& cpu, Mm& mm, Addr begin, Addr end);
  // zap_pte_range: clears the present leaves whose pages start in [begin, end) (a huge page
  // partly inside too), flushing `gather` whenever it holds an mmu_gather's worth of pages.
  void zap_range(Cpu& cpu, Mm& mm, Addr begin, Addr end, TlbGather& gather);
  // tlb_flush_mmu: the flush of what `gather` holds, if anything; empties it.
  void flush_gather(Cpu& cpu, Mm& mm, TlbGather& gather);
  // free_pgtables: frees the tables whose span lies in [floor, ceiling) (no area left there).
  void free_pgtables(Cpu& cpu, Mm& mm, Addr floor, Addr ceiling);
  // The kernel's zeroing of a table map() just added, its struct page and the entry pointing at it.
  void table_added(Addr table, Addr slot);
  // Kernel objects: struct page of a frame, slab objects, and the loads and stores of their lines.
  Addr page_struct(Addr frame) const { return memmap_ + (frame >> kPageShift4K) * kStructPageBytes; }
  Addr slab_alloc(Slab& slab);
  void slab_free(Cpu& cpu, Slab& slab, Addr object);
  void touch(Cpu& cpu, AccessKind kind, Addr object, Addr bytes);
  void copy_object(Cpu& cpu, Addr from, Addr to, Addr bytes);
  // A new vm_area_struct for `v` (vm_area_alloc and its fields written).
  void new_vma_object(Cpu& cpu, Vma& v);
  // A new address space's kernel work: its mm_struct written (a copy of `from`'s with fork,
  // else cleared) and pgd_alloc's zeroed root with the kernel half copied in.
  void charge_new_mm(Cpu& cpu, Mm& mm, const Mm* from);
  void add_vma(Cpu& cpu, Mm& mm, Addr start, Addr end, bool writable, bool executable);
  const Vma* find_vma(const Mm& mm, Addr va) const;
  // File-backed memory (page_cache.h): a not-present fault in a file area, and a page of
  // it mapped from the cache (read-only, copy-on-write in a writable private area).
  void file_fault(Cpu& cpu, Mm& mm, const Vma& vma, Addr va, bool write);
  // A captured program's memory no record mapped, read at `va`: `area` becomes the private file
  // mapping exec made there (system.kernel.image_fault_around).
  void image_area(const Mm& mm, Addr va, Vma& area) const;
  void map_file_page(Cpu& cpu, Mm& mm, const Vma& vma, Addr page);
  Addr file_frame(Cpu& cpu, const Vma& vma, Addr page);  // the cached frame of an area's page
  // mprotect and mremap records: the areas and every present entry of the range.
  void mprotect_record(Cpu& cpu, Mm& mm, const TraceRecord& r);
  void mremap_record(Cpu& cpu, Mm& mm, const TraceRecord& r);
  void split_vma(Cpu& cpu, Mm& mm, Addr at);  // the area holding `at` becomes two areas meeting there
  // A fault's kernel memory traffic to find the area: the mm's lock, the area's object.
  void fault_lookup(Cpu& cpu, const Mm& mm, const Vma* vma);
  // Kernel work on `cpu`, as events appended to its pending queue.
  // program_call: a call of the program's, counted in syscalls (not the capture tool's).
  void enter_kernel(Cpu& cpu, bool program_call = true);
  void leave_kernel(Cpu& cpu);
  void kernel_work(Cpu& cpu, std::uint32_t instructions, unsigned lines);
  void kernel_access(Cpu& cpu, AccessKind kind, Addr gpa);
  // Linux's clear_page and copy_page (REP STOSB / STOSQ, REP MOVSQ; arch/x86/lib): a 4 KiB
  // page as fast-string instructions through the direct map, not a store or load per line.
  void clear_page(Cpu& cpu, Addr frame);
  void copy_page(Cpu& cpu, Addr from, Addr to);
  void kernel_string(Cpu& cpu, AccessKind kind, Addr frame);
  // A read or write record (SyscallClass Read, Write, FileRead, FileWrite): its kernel work by
  // what it moved and its descriptor's object, and the copy between the user's buffer and the
  // kernel's (copy_to_user / copy_from_user: fast-string moves of the lines on both sides).
  void io_call(Cpu& cpu, const TraceRecord& r, SyscallClass c);
  void copy_user(Cpu& cpu, bool to_user, unsigned kind, Addr buffer, std::uint64_t bytes);
  // The kernel's store of a page-table entry it just wrote at `slot`: a store through the
  // direct map, or with a paravirtual MMU an update queued for the next mmu_update hypercall.
  void page_table_store(Cpu& cpu, Addr slot);
  // Paravirtual MMU: the queued updates as one mmu_update hypercall (VMCALL), before anything
  // that needs them in place (a return to user mode, a CR3 load, a TLB invalidation).
  void flush_pv_updates(Cpu& cpu);
  // A context switch's MOV to CR3 (`cr3` with bit 63 for a PCID kept), the queued updates first.
  void load_address_space(Cpu& cpu, Addr cr3);
  void switch_to(Cpu& cpu, Process* next);
  // switch_mm_irqs_off: loads `mm` on `cpu` (nothing when it is already loaded and current).
  void switch_mm(Cpu& cpu, const std::shared_ptr<Mm>& mm);
  // choose_new_asid: the vCPU's ASID slot of `mm`, or the next one round robin (flushing it).
  unsigned choose_asid(Cpu& cpu, const Mm& mm, bool& need_flush);
  // The CR3 value for `mm` on `cpu` (its root, with the PCID of its ASID when PCIDs are on).
  Addr cr3_of(Cpu& cpu, const Mm& mm, bool& no_flush);
  // A vCPU that has `mm` loaded but does not run it (lazy TLB) switches to the kernel's tables.
  void leave_lazy_mm(Cpu& cpu);
  // After `mm` lost mappings or rights for `pages` pages at `addresses`: INVLPG each (or a
  // flush above the ceiling) here, and a shootdown IPI to every other vCPU that has it loaded.
  void flush_tlbs(Cpu& cpu, Mm& mm, const std::vector<Addr>& addresses);
  // flush_tlb_mm_range: the pages of [start, end) in steps of `stride` (INVLPG each up to the
  // ceiling, else a flush of the address space); `all` flushes the whole address space.
  void flush_tlb_range(Cpu& cpu, Mm& mm, Addr start, Addr end, Addr stride, bool all = false);
  void queue_flush(Cpu& target, const Mm& mm, Addr start, Addr end, Addr stride, bool all);
  Addr allocate_frame(Addr page_size);
  void put_frame(Cpu& cpu, Addr frame, Addr page_size);
  std::uint16_t& refcount(Addr frame) { return refcounts_.at(frame); }
  void fork_process(Cpu& cpu, Process& parent, std::uint32_t child_pid);
  void exec_process(Cpu& cpu, Process& p);
  void exit_process(Cpu& cpu, Process& p);
  // A system call's device work: the port I/O and HLT records right after its record, run in
  // the kernel before the call returns.
  void run_device_work(Cpu& cpu);
  void device_interrupt(Cpu& cpu, const TraceRecord& r);
  // Counts instructions, user and kernel, towards the next timer tick, which fires once they
  // have run. A tick's own handler counts too (the timer runs in time), but cannot bring the
  // next tick due: its interrupt is masked until the handler's IRET, and after it at least one
  // event of what it interrupted runs, however short the interval.
  void count_towards_tick(Cpu& cpu, std::uint64_t instructions) {
    if (timer_interval_ && (cpu.since_tick += instructions) >= timer_interval_ && !cpu.tick_events)
      cpu.tick_due = true;
  }
  void timer_tick(Cpu& cpu);

  const GuestOsParameters& p_;
  MemoryView memory_;
  FrameAllocator& frames_;
  PageTableBuilder builder_;
  AddressLayout layout_;
  Addr page_offset_mask_ = 0;  // of the user page size (THP)
  bool pcid_ = false;
  std::uint64_t timer_interval_ = 0;  // instructions; 0: no timer
  // Kernel instructions of a system call record, by SyscallClass.
  std::array<std::uint32_t, kSyscallClasses> syscall_cost_{};
  std::array<IoCost, 3> io_costs_{};  // by object: socket, file, pipe
  // The kernel's buffers reads and writes copy from and to, by object (socket, file, pipe):
  // contiguous frames allocated at the first such call, and where the next read and the next
  // write of each start (moving on by what each call moved, round the buffer).
  struct IoBuffer {
    Addr base = 0;
    Addr pages = 0;
    Addr cursor[2] = {0, 0};  // [0]: reads, [1]: writes
  };
  std::array<IoBuffer, 3> io_buffers_{};
  Addr kernel_root_ = 0;       // swapper_pg_dir: the kernel half only
  Addr direct_map_bytes_ = 0;  // guest-physical memory the direct map covers
  FrameArray<std::uint16_t> refcounts_{0};  // per guest-physical frame: mappings of it
  // The struct page array (64 bytes a frame, as on x86-64) over every guest-physical frame,
  // allocated at boot like Linux's memmap; reached through the direct map.
  static constexpr Addr kStructPageBytes = 64;
  Addr memmap_ = 0;
  Slab vma_slab_, task_slab_, mm_slab_;
  Cpu* table_cpu_ = nullptr;  // the vCPU whose kernel work map() is adding tables for
  std::vector<Addr> free_kernel_stacks_;
  std::map<std::pair<unsigned, std::uint32_t>, Process> processes_;  // (pid namespace, pid)
  std::vector<std::unique_ptr<Cpu>> cpus_;
  std::function<std::uint64_t()> cpu_state_digest_;
  std::uint64_t kernel_references_issued_ = 0;  // not reset at the region of interest
  std::uint64_t next_mm_id_ = 1;
};

// The guest kernel as a SystemC module: the vCPUs' fault_handler ports bind to it.
class GuestKernel final : public sc_core::sc_module, public PageFaultHandler {
 public:
  GuestKernel(const sc_core::sc_module_name& name, const Scope& context, MemoryView memory, FrameAllocator& frames,
              bool pcid);
  GuestOsParameters parameters;
  GuestOs os;
  bool handle_page_fault(unsigned cpu, Addr cr3, Addr va, std::uint32_t error_code, Cycles& cost) override {
    return os.handle_page_fault(cpu, cr3, va, error_code, cost);
  }
};

}  // namespace virtsim
