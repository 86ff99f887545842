#pragma once
// Synthetic guest programs as process record streams for the guest OS model (guest_os.h):
// each maps the memory it uses, warms it up before the region of interest, then loops.
// Deterministic for a seed (SplitMix64). `workload.kind` names one (README, workloads/README.md):
//   gups           random read-modify-write updates over a large footprint (GUPS-like)
//   stream         sequential loads and stores over the footprint
//   pointer_chase  dependent loads along a random cyclic permutation of cache lines
//   fork_and_wait  a parent that forks short children, each writing some of the parent's pages
//                  (copy-on-write faults) or exec'ing, and waits for each to exit
//   syscall_loop   a tight loop of system calls (getpid-like, or reads and writes of a size on a
//                  file, pipe or socket)
//   pt_update      mmap, touch every page, munmap: page-table-update-heavy
//   io_loop        port I/O to a device with its completion interrupts
//   kernel_build   a make-like parent running many short compiler-like processes (fork, exec,
//                  mmap, page faults, file system calls, exit)
//   idle           HLT with a little work between wake-ups
//   mix            one child process of each of the above in turn (the default experiment)
//   timeshare      several processes, each running random updates over a footprint of its own,
//                  all runnable: the kernel's timer ticks switch between them (round robin)
//   first_touch    zero-fill faults, one per page of a fresh area   } the native calibration
//   cow_fault      copy-on-write copies of pages a child shares     } microbenchmarks'
//   pipe_pingpong  round trips of a byte between two processes     } counterparts
// plus the existing `synthetic` (random | stream | hotspot) and `exitbench` generators, wrapped.
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/workloads/guest_os.h"
#include "virtsim/workloads/synthetic.h"

namespace virtsim {

// Parameters of the generators (scope "workload"), declared once. Footprint, accesses and the
// other shared sizes are the synthetic generator's (workload.footprint_kib, workload.accesses,
// workload.compute_per_access, workload.store_fraction, workload.base_address).
class GeneratorParameters {
 public:
  explicit GeneratorParameters(const Scope& scope);
  Param<std::uint64_t> operations;
  Param<std::uint32_t> fork_parent_pages, fork_child_writes;
  Param<bool> fork_exec;
  Param<std::uint32_t> syscall_compute, pt_update_pages, io_port, io_interrupt_every, build_max_pages;
  Param<std::uint32_t> build_compute_per_page;
  Param<std::uint32_t> timeshare_processes;
  Param<std::string> syscall_numbers, syscall_object;
  Param<std::uint64_t> syscall_bytes;
  Param<bool> syscall_sleeps;
  Param<bool> threads;
  Param<std::string> mix;
};

// Appends records for one process.
class RecordEmitter {
 public:
  RecordEmitter(std::deque<TraceRecord>& out, std::uint32_t pid) : out_(out), pid_(pid) {}
  std::uint32_t pid() const { return pid_; }
  void compute(std::uint64_t n);
  void load(Addr a, std::uint8_t size = 8) { memory(TraceRecordKind::Load, a, size); }
  void store(Addr a, std::uint8_t size = 8) { memory(TraceRecordKind::Store, a, size); }
  void fetch(Addr a) { memory(TraceRecordKind::Fetch, a, 4); }
  void memory(TraceRecordKind kind, Addr a, std::uint8_t size);
  void syscall(std::uint64_t number);
  // A system call record that says what it moved (trace format 5's syscall fields).
  void syscall(std::uint64_t number, std::uint64_t bytes, SyscallObject object, Addr buffer, std::uint32_t flags);
  void instr(Instruction i, std::uint32_t operand = 0, Addr value = 0, std::uint8_t size = 1);
  void interrupt(std::uint32_t vector);
  void mmap(Addr a, Addr length, std::uint32_t prot);
  void munmap(Addr a, Addr length);
  void fork(std::uint32_t child);
  void exec(std::uint32_t pid);
  void exit(std::uint32_t pid);
  void switch_to(std::uint32_t pid);
  void roi_begin();
  void roi_end();
  // Another process's records go to the same stream.
  RecordEmitter as(std::uint32_t pid) const { return RecordEmitter(out_, pid); }

 private:
  TraceRecord& add(TraceRecordKind kind);  // a record of this process, appended
  std::deque<TraceRecord>& out_;
  std::uint32_t pid_;
};

// One synthetic program: setup() runs before the region of interest, then step() until it
// returns false. `next_pid` hands out pids for the children it forks.
class ProgramBody {
 public:
  virtual ~ProgramBody() = default;
  virtual void setup(RecordEmitter& e) = 0;
  // The rest of the setup, a batch of records a call, after setup(): false when there is none
  // left (the default). A footprint's warm-up is made this way, so that it never waits in the
  // queue whole (a terabyte's would be 2^28 records).
  virtual bool setup_more(RecordEmitter& /*e*/) { return false; }
  virtual bool step(RecordEmitter& e, std::uint32_t& next_pid) = 0;
  virtual double progress() const = 0;
  // The steady state's compute and memory events written straight to `out` (up to `max`, and
  // up to the event that brings their instructions to `budget`, as ends_batch() ends a batch of
  // them), the very stream step() gives as records, without making records; no events when
  // there are none left this way or the program has no such path (the default). Calls of
  // step() and of this may alternate.
  virtual EventBatch plain_steps(GuestEvent* /*out*/, std::size_t /*max*/, std::uint64_t /*budget*/) { return {}; }
};

struct GeneratorContext {
  SyntheticConfig shape;         // footprint, accesses, compute per access, store fraction, base
  std::uint64_t operations = 0;  // loop iterations of the count-based generators
  std::uint64_t seed = 1;
  unsigned thread = 0;           // vCPU index when the vCPUs run threads of one process
  const GeneratorParameters* parameters = nullptr;
};

// Names `workload.kind` accepts for the generators above.
const std::vector<std::string>& generator_kinds();
std::unique_ptr<ProgramBody> make_program(const std::string& kind, const GeneratorContext& context);

// A generator as a process record source: pid 1 runs the program (or, for `mix`, forks one
// child per program in the list and waits for each).
class GeneratedWorkload final : public ProcessEventSource {
 public:
  GeneratedWorkload(const std::string& kind, const GeneratorContext& context);
  std::optional<TraceRecord> next() override;
  EventBatch plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) override;
  std::string position(std::uint64_t ahead) const override;
  double progress() const override;
  std::uint64_t memory_references() const override { return references_; }
  std::optional<std::uint32_t> preempt() override;

 private:
  bool refill();
  bool refill_timeshare();
  std::string kind_;
  std::vector<std::unique_ptr<ProgramBody>> programs_;
  std::size_t current_ = 0;
  enum class Phase { Setup, Steps, Done } phase_ = Phase::Setup;
  bool steps_begun_ = false;  // the setup's last record (the RoiBegin) has been handed out
  bool setup_begun_ = false;  // setup() has run (setup_more() follows)
  bool mix_, timeshare_;
  // timeshare: process i + 1 runs programs_[i]; records not yet given out, per process.
  std::vector<std::deque<TraceRecord>> backlog_;
  std::vector<bool> finished_;
  std::uint32_t next_pid_ = 2;
  std::uint32_t child_ = 0;  // mix: the running child
  std::deque<TraceRecord> queue_;
  std::uint64_t records_ = 0, references_ = 0;
};

// An existing event generator (synthetic patterns, exit microbenchmarks) as a process record
// source; `footprint` (bytes at `base`, 0: none) is mapped first. `in_kernel`: the events are
// kernel code (runs_in_kernel()), with no footprint to map.
class EventSourceRecords final : public ProcessEventSource {
 public:
  EventSourceRecords(GuestEventSource& events, Addr base, Addr footprint, std::function<double()> progress,
                     bool in_kernel = false)
      : events_(events),
        base_(base),
        footprint_(footprint),
        progress_(std::move(progress)),
        in_kernel_(in_kernel) {}
  std::optional<TraceRecord> next() override;
  EventBatch plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) override;
  std::string position(std::uint64_t ahead) const override {
    return "generator, record " + std::to_string(records_ - ahead - (held_ ? 1 : 0));
  }
  double progress() const override { return progress_ ? progress_() : -1.0; }
  std::uint64_t memory_references() const override { return references_; }
  bool runs_in_kernel() const override { return in_kernel_; }

 private:
  GuestEventSource& events_;
  Addr base_, footprint_;
  std::function<double()> progress_;
  bool in_kernel_;
  bool mapped_ = false;
  std::uint64_t records_ = 0, references_ = 0;
  std::optional<TraceRecord> held_;  // read by plain_events, not one of its records
};

}  // namespace virtsim
