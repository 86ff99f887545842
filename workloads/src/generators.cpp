#include "virtsim/workloads/generators.h"

#include <algorithm>
#include <sstream>

#include "virtsim/common/error.h"

namespace virtsim {

namespace {
constexpr std::uint32_t kProtRead = 1, kProtWrite = 2, kProtExec = 4;
// Linux x86-64 system call numbers the programs make.
constexpr std::uint64_t kSysRead = 0, kSysWrite = 1, kSysOpen = 2, kSysClose = 3, kSysWait4 = 61;
constexpr Addr kPage = kPageSize4K;
constexpr unsigned kBatch = 256;  // records a step makes at most, roughly: keeps the queue small
}  // namespace

GeneratorParameters::GeneratorParameters(const Scope& scope)
    : VIRTSIM_MEMBER(operations, scope, 1000, "operations",
                     "loop iterations of fork_and_wait (children), syscall_loop (calls), pt_update (mmap/munmap "
                     "rounds), io_loop (requests), kernel_build (jobs) and idle (HLTs)",
                     Range{0, 1e12}),
      fork_parent_pages(scope.child("fork"), "parent_pages", 256, "pages",
                        "fork_and_wait: pages of the parent's heap, all written before forking", Range{1, 1e7}),
      fork_child_writes(scope.child("fork"), "child_writes", 16, "pages",
                        "fork_and_wait: pages of the inherited heap each child writes (copy-on-write faults); with "
                        "workload.fork.exec, pages of its new heap",
                        Range{0, 1e7}),
      fork_exec(scope.child("fork"), "exec", false, "",
                "fork_and_wait: each child execs a new program (fresh address space) instead of writing the heap"),
      syscall_compute(scope.child("syscall"), "compute", 50, "instructions",
                      "syscall_loop: user instructions between two system calls", Range{0, 1e9}),
      pt_update_pages(scope.child("pt_update"), "pages", 16, "pages",
                      "pt_update: pages of each region mapped, touched and unmapped", Range{1, 1e7}),
      io_port(scope.child("io"), "port", 0x3f8, "", "io_loop: the device's I/O port (0x3f8: the serial port, "
                                                   "emulated in user space by a KVM-style hypervisor)",
              Range{0, 65535}),
      io_interrupt_every(scope.child("io"), "interrupt_every", 4, "requests",
                         "io_loop: the device raises a completion interrupt every this many requests", Range{1, 1e9}),
      build_max_pages(scope.child("build"), "max_pages", 256, "pages",
                      "kernel_build: the most pages one job's three processes touch between them (each a demand "
                      "fault); a job touches between 16 and this many. Not faithful in scale: a real compile job "
                      "faults about 3,900 times, so at the default size forks and execs per fault are about 28 "
                      "times the real ones (workloads/README.md)",
                      Range{32, 1e7}),
      build_compute_per_page(scope.child("build"), "compute_per_page", 17000, "instructions",
                             "kernel_build: user instructions per page a job touches; the default makes the kernel's "
                             "share of instructions about 15 % with the default kernel costs, as a real compile's "
                             "share of system time is (13 to 17.5 %, measured: workloads/README.md)",
                             Range{0, 1e9}),
      timeshare_processes(scope.child("timeshare"), "processes", 4, "processes",
                          "timeshare: runnable processes the timer switches between (each updates "
                          "workload.footprint_kib of its own)",
                          Range{2, 4000}),
      syscall_numbers(scope.child("syscall"), "numbers", "39", "",
                      "syscall_loop: the system calls (Linux x86-64 numbers, comma-separated) the loop makes in "
                      "turn; 39 is getpid"),
      syscall_object(scope.child("syscall"), "object", "unset", "",
                     "syscall_loop: what the calls' descriptor refers to (trace format 5's syscall object; none: "
                     "no descriptor); unset, with workload.syscall.bytes 0 and workload.syscall.sleeps off, makes "
                     "records that say nothing of it, as an older trace's",
                     {}, {"unset", "none", "file", "pipe", "socket", "other"}),
      syscall_bytes(scope.child("syscall"), "bytes", 0, "bytes",
                    "syscall_loop: bytes each call moves (its result), copied to or from a user buffer the loop "
                    "mapped and touched first",
                    Range{0, 16777216}),
      syscall_sleeps(scope.child("syscall"), "sleeps", false, "",
                     "syscall_loop: the waits (epoll_wait, poll...) of the loop may sleep (a timeout that is not 0)"),
      VIRTSIM_MEMBER(threads, scope, false, "",
                     "with several vCPUs, each runs a thread of one process (one address space, TLB shootdowns "
                     "on munmap); off, each vCPU runs a process of its own"),
      VIRTSIM_MEMBER(mix, scope, "gups,pointer_chase,fork_and_wait,syscall_loop,pt_update,io_loop,kernel_build", "",
                     "mix: the programs run in turn, each as a child of pid 1 (comma-separated generator names)") {}

// ---- records ----

TraceRecord& RecordEmitter::add(TraceRecordKind kind) {
  TraceRecord r;
  r.kind = kind;
  r.pid = pid_;
  out_.push_back(r);
  return out_.back();
}
void RecordEmitter::compute(std::uint64_t n) {
  if (n) add(TraceRecordKind::Compute).count = n;
}
void RecordEmitter::memory(TraceRecordKind kind, Addr a, std::uint8_t size) {
  TraceRecord& r = add(kind);
  r.address = a;
  r.size = size;
}
void RecordEmitter::syscall(std::uint64_t number) { add(TraceRecordKind::Syscall).count = number; }
void RecordEmitter::syscall(std::uint64_t number, std::uint64_t bytes, SyscallObject object, Addr buffer,
                            std::uint32_t flags) {
  TraceRecord& r = add(TraceRecordKind::Syscall);
  r.count = number;
  r.described = true;
  r.bytes = bytes;
  r.object = object;
  r.address = buffer;
  r.call_flags = flags;
}
void RecordEmitter::instr(Instruction i, std::uint32_t operand, Addr value, std::uint8_t size) {
  TraceRecord& r = add(TraceRecordKind::Instr);
  r.instruction = i;
  r.operand = operand;
  r.address = value;
  r.size = size;
}
void RecordEmitter::interrupt(std::uint32_t vector) { add(TraceRecordKind::Interrupt).count = vector; }
void RecordEmitter::mmap(Addr a, Addr length, std::uint32_t prot) {
  TraceRecord& r = add(TraceRecordKind::Mmap);
  r.address = a;
  r.length = length;
  r.prot = prot;
}
void RecordEmitter::munmap(Addr a, Addr length) {
  TraceRecord& r = add(TraceRecordKind::Munmap);
  r.address = a;
  r.length = length;
}
void RecordEmitter::fork(std::uint32_t child) { add(TraceRecordKind::Fork).child = child; }
void RecordEmitter::exec(std::uint32_t pid) { add(TraceRecordKind::Exec).pid = pid; }
void RecordEmitter::exit(std::uint32_t pid) { add(TraceRecordKind::Exit).pid = pid; }
void RecordEmitter::switch_to(std::uint32_t pid) { add(TraceRecordKind::Switch).pid = pid; }
void RecordEmitter::roi_begin() { add(TraceRecordKind::RoiBegin); }
void RecordEmitter::roi_end() { add(TraceRecordKind::RoiEnd); }

// ---- the programs ----

namespace {

// Maps [base, base + bytes) read-write and writes every page once (demand faults, warm-up).
void map_and_touch(RecordEmitter& e, Addr base, Addr bytes) {
  e.mmap(base, bytes, kProtRead | kProtWrite);
  for (Addr a = base; a < base + bytes; a += kPage) e.store(a);
}

// A program over one footprint: base moved per thread so threads do not share pages.
class FootprintProgram : public ProgramBody {
 public:
  explicit FootprintProgram(const GeneratorContext& c)
      : c_(c), rng_(c.seed), bytes_(std::max<Addr>(kPage, c.shape.footprint_bytes & ~(kPage - 1))) {
    base_ = c.shape.base + Addr{c.thread} * ((bytes_ + kPageSize2M - 1) & ~(kPageSize2M - 1));
  }

 protected:
  // Maps the footprint, then writes every page once (setup_more(), a batch at a time).
  void setup(RecordEmitter& e) override { e.mmap(base_, bytes_, kProtRead | kProtWrite); }
  bool setup_more(RecordEmitter& e) override {
    for (unsigned i = 0; i < kBatch && touched_ < bytes_; ++i, touched_ += kPage) e.store(base_ + touched_);
    return touched_ < bytes_;
  }
  double progress() const override { return c_.shape.accesses ? double(done_) / double(c_.shape.accesses) : 1.0; }
  GeneratorContext c_;
  SplitMix64 rng_;
  Addr bytes_, base_;
  Addr touched_ = 0;  // bytes of the footprint the warm-up has written
  std::uint64_t done_ = 0;
};

class Gups final : public FootprintProgram {
 public:
  using FootprintProgram::FootprintProgram;
  bool step(RecordEmitter& e, std::uint32_t&) override {
    // An update plain_steps() left half made is finished first.
    if (part_ == kLoadNext) e.load(address_);
    if (part_ != kUpdateNext) {
      e.store(address_);
      part_ = kUpdateNext;
      ++done_;
    }
    for (unsigned i = 0; i < kBatch / 3 && done_ < c_.shape.accesses; ++i, ++done_) {
      const Addr a = base_ + (rng_.below(bytes_ / 8) * 8);
      e.compute(c_.shape.compute_per_access);
      e.load(a);
      e.store(a);  // the update: read, modify, write back
    }
    return done_ < c_.shape.accesses;
  }
  // The same updates as events: the harness's random-update case runs through here.
  EventBatch plain_steps(GuestEvent* out, std::size_t max, std::uint64_t budget) override {
    const std::uint32_t compute = static_cast<std::uint32_t>(c_.shape.compute_per_access);
    const std::size_t events_per_update = compute ? 3 : 2;
    const std::uint64_t update_instructions = std::uint64_t{compute} + 2;
    EventBatch batch;
    std::size_t& n = batch.events;
    while (n < max) {
      // Whole updates while their events fit and leave budget (ends_batch() would end none of
      // them): the same events as the steps below, without their state per event.
      while (part_ == kUpdateNext && max - n >= events_per_update &&
             budget - batch.instructions > update_instructions && done_ < c_.shape.accesses) {
        const Addr a = base_ + (rng_.below(bytes_ / 8) * 8);
        if (compute) out[n++] = GuestEvent::compute(compute);
        out[n++] = GuestEvent::memory(AccessKind::Load, a, 8);
        out[n++] = GuestEvent::memory(AccessKind::Store, a, 8);
        batch.instructions += update_instructions;
        batch.references += 2;
        ++done_;
      }
      if (n == max) return batch;
      switch (part_) {
        case kUpdateNext:
          if (done_ >= c_.shape.accesses) return batch;
          address_ = base_ + (rng_.below(bytes_ / 8) * 8);
          part_ = kLoadNext;
          if (!compute) continue;
          out[n] = GuestEvent::compute(compute);
          break;
        case kLoadNext:
          out[n] = GuestEvent::memory(AccessKind::Load, address_, 8);
          part_ = kStoreNext;
          break;
        case kStoreNext:
          out[n] = GuestEvent::memory(AccessKind::Store, address_, 8);
          part_ = kUpdateNext;
          ++done_;
          break;
      }
      if (batch.add(out[n], budget)) return batch;
    }
    return batch;
  }

 private:
  enum Part : std::uint8_t { kUpdateNext, kLoadNext, kStoreNext };
  Part part_ = kUpdateNext;  // what of the update at address_ comes next
  Addr address_ = 0;
};

class Stream final : public FootprintProgram {
 public:
  using FootprintProgram::FootprintProgram;
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < kBatch / 2 && done_ < c_.shape.accesses; ++i, ++done_) {
      e.compute(c_.shape.compute_per_access);
      const Addr a = base_ + offset_;
      if (rng_.unit() < c_.shape.store_fraction) e.store(a);
      else e.load(a);
      offset_ = (offset_ + std::max<Addr>(8, c_.shape.stride)) % bytes_;
    }
    return done_ < c_.shape.accesses;
  }

 private:
  Addr offset_ = 0;
};

class PointerChase final : public FootprintProgram {
 public:
  explicit PointerChase(const GeneratorContext& c) : FootprintProgram(c) {
    nodes_ = 1;
    while (nodes_ * 2 * 64 <= bytes_) nodes_ *= 2;
    node_ = rng_.below(nodes_);
  }
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < kBatch / 2 && done_ < c_.shape.accesses; ++i, ++done_) {
      // A full-period LCG modulo a power of two visits every line once per cycle in an order
      // no prefetcher or TLB locality helps with, and needs no table of next pointers.
      node_ = (node_ * 6364136223846793005ull + 1442695040888963407ull) & (nodes_ - 1);
      e.compute(c_.shape.compute_per_access);
      e.load(base_ + node_ * 64);
    }
    return done_ < c_.shape.accesses;
  }

 private:
  Addr nodes_ = 1, node_ = 0;
};

// Counted loops: progress is iterations done out of `operations`.
class CountedProgram : public ProgramBody {
 public:
  explicit CountedProgram(const GeneratorContext& c) : c_(c), p_(*c.parameters), rng_(c.seed) {}

 protected:
  double progress() const override { return c_.operations ? double(done_) / double(c_.operations) : 1.0; }
  bool more() const { return done_ < c_.operations; }
  Addr base() const { return c_.shape.base + Addr{c_.thread} * (Addr{1} << 28); }
  GeneratorContext c_;
  const GeneratorParameters& p_;
  SplitMix64 rng_;
  std::uint64_t done_ = 0;
};

class ForkAndWait final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter& e) override { map_and_touch(e, base(), Addr{p_.fork_parent_pages} * kPage); }
  bool step(RecordEmitter& e, std::uint32_t& next_pid) override {
    if (!more()) return false;
    const std::uint32_t child = next_pid++;
    e.fork(child);
    e.switch_to(child);  // the parent waits (wait4) and the child runs
    RecordEmitter c = e.as(child);
    const Addr heap_pages = p_.fork_parent_pages;
    if (p_.fork_exec) {
      c.exec(child);
      if (p_.fork_child_writes) map_and_touch(c, base(), Addr{p_.fork_child_writes} * kPage);
    } else {
      for (std::uint32_t i = 0; i < p_.fork_child_writes && heap_pages; ++i) {
        c.compute(20);
        c.store(base() + (rng_.below(heap_pages)) * kPage + 8 * (i % 512));
      }
    }
    c.compute(2000);
    c.exit(child);
    e.switch_to(e.pid());
    e.syscall(kSysWait4);
    // The parent reads a little of its heap before the next child (as a shell does).
    for (unsigned i = 0; i < 16 && heap_pages; ++i) {
      e.compute(30);
      e.load(base() + (i * 7 % heap_pages) * kPage);
    }
    ++done_;
    return more();
  }
};

class SyscallLoop final : public CountedProgram {
 public:
  explicit SyscallLoop(const GeneratorContext& c)
      : CountedProgram(c),
        numbers_(parse_numbers(p_.syscall_numbers)),
        object_(parse_object(p_.syscall_object)),
        described_(p_.syscall_object.get() != "unset" || p_.syscall_bytes || p_.syscall_sleeps) {}
  void setup(RecordEmitter& e) override {
    map_and_touch(e, base(), 16 * kPage);
    // The buffer the calls copy to or from, faulted in before the region of interest.
    if (p_.syscall_bytes) map_and_touch(e, buffer(), (p_.syscall_bytes + kPage - 1) / kPage * kPage);
  }
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < kBatch / 3 && more(); ++i, ++done_) {
      e.compute(p_.syscall_compute);
      e.store(base() + 8 * (done_ % 512));  // the user stack
      const std::uint64_t number = numbers_[done_ % numbers_.size()];
      if (described_)
        e.syscall(number, p_.syscall_bytes, object_, p_.syscall_bytes ? buffer() : 0,
                  p_.syscall_sleeps ? kSyscallMaySleep : 0);
      else
        e.syscall(number);
    }
    return more();
  }

 private:
  static std::vector<std::uint64_t> parse_numbers(const std::string& text) {
    std::vector<std::uint64_t> numbers;
    std::istringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
      const auto first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
      const std::string digits = first == std::string::npos ? "" : item.substr(first, last - first + 1);
      if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
        throw ConfigError("workload.syscall.numbers = \"" + text +
                          "\": expected comma-separated system call numbers (0 to 9999)");
      numbers.push_back(std::stoull(digits));
    }
    if (numbers.empty())
      throw ConfigError("workload.syscall.numbers = \"" + text + "\": expected at least one system call number");
    return numbers;
  }
  static SyscallObject parse_object(const std::string& name) {
    if (name == "file") return SyscallObject::File;
    if (name == "pipe") return SyscallObject::Pipe;
    if (name == "socket") return SyscallObject::Socket;
    if (name == "other") return SyscallObject::Other;
    return SyscallObject::None;  // none or unset (the parameter's choices are checked where it is read)
  }
  Addr buffer() const { return base() + 16 * kPage; }
  std::vector<std::uint64_t> numbers_;
  SyscallObject object_;
  bool described_;
};

class PtUpdate final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter&) override {}
  bool step(RecordEmitter& e, std::uint32_t&) override {
    if (!more()) return false;
    const Addr bytes = Addr{p_.pt_update_pages} * kPage;
    e.mmap(base(), bytes, kProtRead | kProtWrite);
    for (Addr a = base(); a < base() + bytes; a += kPage) {
      e.compute(50);
      e.store(a);
    }
    e.munmap(base(), bytes);
    ++done_;
    return more();
  }
};

class IoLoop final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter& e) override { map_and_touch(e, base(), 4 * kPage); }
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < 16 && more(); ++i, ++done_) {
      e.compute(200);
      e.store(base() + 64 * (done_ % 256));  // the request buffer
      // write(): the driver, in the system call, talks to the device with port I/O.
      e.syscall(kSysWrite);
      e.instr(Instruction::Out, p_.io_port, done_ & 0xff, 1);
      e.instr(Instruction::In, p_.io_port + 5, 0, 1);  // line status
      if ((done_ + 1) % p_.io_interrupt_every == 0) e.interrupt(0x24);  // the serial port's vector (IRQ 4)
    }
    return more();
  }
};

// One job as `make` runs a compile (measured on the development host, workloads/README.md): make
// forks and execs the gcc driver, which forks and execs cc1, then as, waiting for each. Per job
// the measured counts are 3 processes, 3 execs, about 3,900 minor faults, 2,190 system calls,
// 111 mmaps and 7 munmaps, with 13 to 17.5 % of the time in the kernel. The job here is scaled
// down to between 16 and workload.build.max_pages touched pages, keeping the system calls and
// mmaps per page of the measurement, and user work per page set by build.compute_per_page; its
// 3 processes are not scaled (they cannot be), so forks and execs per fault are about 28 times
// the real ones at the default size.
class KernelBuild final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter& e) override { map_and_touch(e, base(), 64 * kPage); }
  bool step(RecordEmitter& e, std::uint32_t& next_pid) override {
    if (!more()) return false;
    const Addr pages = 16 + rng_.below(Addr{p_.build_max_pages} - 16);
    // The driver's share of the pages, as's, and cc1 the rest (most of a compile).
    const Addr driver_pages = std::max<Addr>(4, pages / 10), as_pages = std::max<Addr>(4, pages * 15 / 100);
    const std::uint32_t driver = next_pid++;
    e.fork(driver);  // make's clone3
    e.switch_to(driver);
    RecordEmitter d = e.as(driver);
    run_tool(d, driver, driver_pages);
    for (const Addr tool_pages : {std::max<Addr>(4, pages - driver_pages - as_pages), as_pages}) {
      const std::uint32_t tool = next_pid++;
      d.fork(tool);  // the driver's vfork of cc1, then of as
      d.switch_to(tool);
      RecordEmitter t = d.as(tool);
      run_tool(t, tool, tool_pages);
      t.exit(tool);
      d.switch_to(driver);
      d.syscall(kSysWait4);
    }
    d.exit(driver);
    e.switch_to(e.pid());
    e.syscall(kSysWait4);
    e.store(base() + 8 * (done_ % 4096));
    ++done_;
    return more();
  }

 private:
  // A freshly exec'd program that touches `pages` pages: text run over, data areas (one mmap per
  // 35 pages touched, 111 per 3,900 faults measured) written, then worked on, with 9 system
  // calls per 16 pages (2,190 per 3,900 measured) spread through its run.
  void run_tool(RecordEmitter& c, std::uint32_t pid, Addr pages) {
    c.exec(pid);
    const Addr text = 0x400000, heap = base();
    const Addr text_pages = std::max<Addr>(2, pages / 4), heap_pages = std::max<Addr>(2, pages - text_pages);
    c.mmap(text, text_pages * kPage, kProtRead | kProtExec);
    const Addr areas = std::max<Addr>(1, pages / 35), area_pages = (heap_pages + areas - 1) / areas;
    for (Addr a = 0; a < areas; ++a) c.mmap(heap + a * area_pages * kPage, area_pages * kPage, kProtRead | kProtWrite);
    const std::uint64_t syscalls = pages * 9 / 16, accesses = 2 * pages;
    const std::uint64_t compute = std::uint64_t{p_.build_compute_per_page} * pages / accesses;
    std::uint64_t made = 0;
    for (Addr i = 0; i < text_pages; ++i) c.fetch(text + i * kPage);
    for (Addr i = 0; i < heap_pages; ++i) c.store(heap + i * kPage);
    for (std::uint64_t i = 0; i < accesses; ++i) {
      c.compute(compute);
      if (i % 4 == 0) c.fetch(text + rng_.below(text_pages) * kPage + 64 * (i % 64));
      const Addr a = heap + rng_.below(heap_pages) * kPage + 8 * rng_.below(512);
      if (rng_.unit() < 0.4) c.store(a);
      else c.load(a);
      for (; made < syscalls * (i + 1) / accesses; ++made) c.syscall(made % 3 == 0 ? kSysOpen : made % 3 == 1 ? kSysRead : kSysClose);
    }
    if (areas > 1) c.munmap(heap + (areas - 1) * area_pages * kPage, area_pages * kPage);  // a temporary buffer freed
  }
};

class Idle final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter&) override {}
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < 16 && more(); ++i, ++done_) {
      e.compute(1000);
      // A blocking read: in the system call the kernel idles with HLT until the device
      // interrupt wakes it, then returns.
      e.syscall(kSysRead);
      e.instr(Instruction::Hlt);
      e.interrupt(0x41);
    }
    return more();
  }
};

// The native calibration microbenchmarks' counterparts (workloads/calibrate): the region of
// interest holds only the operations the native program times.

// The child a program forks in setup(), before the region of interest, which hands out no pids:
// far above those next_pid hands out, so a mix's later children never collide with it.
std::uint32_t setup_child_pid(std::uint32_t parent) { return (1u << 30) + parent; }

// `operations` first-touch (zero-fill) faults: one area mapped before the region of interest,
// then a write to each of its pages. An area as large is touched and unmapped before it, so the
// faults zero frames freed a moment ago (the kernel's per-CPU free lists hand them back), as in
// a loop over areas, not frames no one ever wrote.
class FirstTouch final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter& e) override {
    const Addr bytes = Addr{c_.operations} * kPage;
    map_and_touch(e, base(), bytes);
    e.munmap(base(), bytes);
    e.mmap(base(), bytes, kProtRead | kProtWrite);
  }
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < kBatch / 2 && more(); ++i, ++done_) {
      e.compute(5);  // the loop around the write
      e.store(base() + done_ * kPage);
    }
    return more();
  }
};

// `operations` copy-on-write faults: the parent writes its pages, forks a child that never
// runs again (it waits, keeping every page shared), then writes each page once more.
class CowFault final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter& e) override {
    map_and_touch(e, base(), Addr{c_.operations} * kPage);
    e.fork(setup_child_pid(e.pid()));
  }
  bool step(RecordEmitter& e, std::uint32_t&) override {
    for (unsigned i = 0; i < kBatch / 2 && more(); ++i, ++done_) {
      e.compute(5);
      e.store(base() + done_ * kPage);
    }
    return more();
  }
};

// `operations` one-byte round trips through two pipes between two processes on one CPU: each
// writes, then blocks in read and the kernel switches to the other.
class PipePingpong final : public CountedProgram {
 public:
  using CountedProgram::CountedProgram;
  void setup(RecordEmitter& e) override {
    map_and_touch(e, base(), kPage);  // the stack holding the byte, shared copy-on-write after the fork
    peer_ = setup_child_pid(e.pid());
    e.fork(peer_);
    // The parent blocks in its first read; the peer takes its page (its copy-on-write fault)
    // and blocks in its own. A switch record is that blocking read: a kernel entry in which
    // the kernel switches to the other process, whose read then returns.
    e.switch_to(peer_);
    RecordEmitter p = e.as(peer_);
    p.store(base());
    p.switch_to(e.pid());
  }
  bool step(RecordEmitter& e, std::uint32_t&) override {
    RecordEmitter p = e.as(peer_);
    for (unsigned i = 0; i < kBatch / 8 && more(); ++i, ++done_) {
      round_half(e, peer_);
      round_half(p, e.pid());
    }
    return more();
  }

 private:
  // One process's half of a round trip: its read has returned the byte, it writes it back
  // (waking the other), then reads again and blocks: the kernel switches to the other.
  void round_half(RecordEmitter& e, std::uint32_t other) const {
    e.load(base());
    e.compute(5);
    e.syscall(kSysWrite, 1, SyscallObject::Pipe, base(), 0);  // the byte, into the pipe
    e.switch_to(other);
  }
  std::uint32_t peer_ = 0;
};

}  // namespace

const std::vector<std::string>& generator_kinds() {
  static const std::vector<std::string> kinds = {"gups",     "stream",  "pointer_chase", "fork_and_wait", "syscall_loop",
                                                 "pt_update", "io_loop", "kernel_build",  "idle",          "mix",
                                                 "timeshare", "first_touch", "cow_fault", "pipe_pingpong"};
  return kinds;
}

std::unique_ptr<ProgramBody> make_program(const std::string& kind, const GeneratorContext& c) {
  if (kind == "gups") return std::make_unique<Gups>(c);
  if (kind == "stream") return std::make_unique<Stream>(c);
  if (kind == "pointer_chase") return std::make_unique<PointerChase>(c);
  if (kind == "fork_and_wait") return std::make_unique<ForkAndWait>(c);
  if (kind == "syscall_loop") return std::make_unique<SyscallLoop>(c);
  if (kind == "pt_update") return std::make_unique<PtUpdate>(c);
  if (kind == "io_loop") return std::make_unique<IoLoop>(c);
  if (kind == "kernel_build") return std::make_unique<KernelBuild>(c);
  if (kind == "idle") return std::make_unique<Idle>(c);
  if (kind == "first_touch") return std::make_unique<FirstTouch>(c);
  if (kind == "cow_fault") return std::make_unique<CowFault>(c);
  if (kind == "pipe_pingpong") return std::make_unique<PipePingpong>(c);
  std::string names;
  for (const auto& k : generator_kinds())
    if (k != "mix") names += (names.empty() ? "" : ", ") + k;
  throw ConfigError("unknown generator '" + kind + "' (expected one of " + names + ")");
}

GeneratedWorkload::GeneratedWorkload(const std::string& kind, const GeneratorContext& context)
    : kind_(kind), mix_(kind == "mix"), timeshare_(kind == "timeshare") {
  if (timeshare_) {
    const unsigned n = context.parameters->timeshare_processes;
    for (unsigned i = 0; i < n; ++i) {
      GeneratorContext c = context;
      c.seed = context.seed + 0x9e37 * (i + 1);
      c.thread = context.thread * n + i;  // footprints apart, per process (and per vCPU)
      programs_.push_back(make_program("gups", c));
    }
    backlog_.resize(n);
    finished_.assign(n, false);
    return;
  }
  if (!mix_) {
    programs_.push_back(make_program(kind, context));
    return;
  }
  std::stringstream list(context.parameters->mix.get());
  std::string name;
  std::uint64_t n = 0;
  while (std::getline(list, name, ',')) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (name.empty()) continue;
    if (name == "mix") throw ConfigError(context.parameters->mix.name() + ": a mix cannot contain itself");
    GeneratorContext c = context;
    c.seed = context.seed + 0x9e37 * ++n;
    try {
      programs_.push_back(make_program(name, c));
    } catch (const ConfigError& e) {
      throw ConfigError(context.parameters->mix.name() + " = \"" + context.parameters->mix.get() + "\": " + e.what());
    }
  }
  if (programs_.empty()) throw ConfigError(context.parameters->mix.name() + " names no generator");
}

bool GeneratedWorkload::refill_timeshare() {
  RecordEmitter init(queue_, 1);
  const std::uint32_t n = static_cast<std::uint32_t>(programs_.size());
  switch (phase_) {
    case Phase::Setup:
      // pid 1 forks the others; each maps and warms its own footprint; then pid 1 runs.
      for (std::uint32_t pid = 2; pid <= n; ++pid) init.fork(pid);
      for (std::uint32_t pid = 1; pid <= n; ++pid) {
        if (pid > 1) init.switch_to(pid);
        RecordEmitter e = init.as(pid);
        programs_[pid - 1]->setup(e);
        while (programs_[pid - 1]->setup_more(e)) {
        }
      }
      init.switch_to(1);
      init.roi_begin();
      current_ = 0;
      phase_ = Phase::Steps;
      return true;
    case Phase::Steps: {
      auto& mine = backlog_[current_];
      if (mine.empty() && !finished_[current_]) {
        RecordEmitter e(mine, static_cast<std::uint32_t>(current_ + 1));
        finished_[current_] = !programs_[current_]->step(e, next_pid_);
      }
      if (!mine.empty()) {
        queue_.push_back(mine.front());
        mine.pop_front();
        return true;
      }
      // The running process is done: the next unfinished one runs (it would block in wait()).
      for (std::uint32_t i = 1; i <= n; ++i) {
        const std::size_t candidate = (current_ + i) % n;
        if (!finished_[candidate] || !backlog_[candidate].empty()) {
          current_ = candidate;
          init.switch_to(static_cast<std::uint32_t>(candidate + 1));
          return true;
        }
      }
      init.roi_end();
      phase_ = Phase::Done;
      return true;
    }
    case Phase::Done: return false;
  }
  return false;
}

std::optional<std::uint32_t> GeneratedWorkload::preempt() {
  // Not before the setup's records (every process's warm-up) have all been handed out.
  if (!timeshare_ || phase_ != Phase::Steps || !steps_begun_) return std::nullopt;
  // Round robin over the processes with work left; the preempted one keeps its backlog.
  const std::size_t n = programs_.size();
  for (std::size_t i = 1; i <= n; ++i) {
    const std::size_t candidate = (current_ + i) % n;
    if (!finished_[candidate] || !backlog_[candidate].empty()) {
      // Records already handed to the queue belong to the old process: give them back.
      while (!queue_.empty()) {
        backlog_[current_].push_front(queue_.back());
        queue_.pop_back();
      }
      current_ = candidate;
      return static_cast<std::uint32_t>(candidate + 1);
    }
  }
  return std::nullopt;
}

bool GeneratedWorkload::refill() {
  if (timeshare_) return refill_timeshare();
  RecordEmitter init(queue_, 1);
  switch (phase_) {
    case Phase::Setup:
      if (!mix_ && !setup_begun_) {
        setup_begun_ = true;
        programs_.front()->setup(init);
        return true;
      }
      if (!mix_ && programs_.front()->setup_more(init)) return true;
      init.roi_begin();
      phase_ = Phase::Steps;
      return true;
    case Phase::Steps: {
      if (!mix_) {
        if (!programs_.front()->step(init, next_pid_)) {
          init.roi_end();
          phase_ = Phase::Done;
        }
        return true;
      }
      if (!child_) {
        // pid 1 forks the next program's process and waits for it.
        child_ = next_pid_++;
        init.fork(child_);
        init.switch_to(child_);
        RecordEmitter child = init.as(child_);
        programs_[current_]->setup(child);
        return true;
      }
      RecordEmitter child = init.as(child_);
      if (programs_[current_]->setup_more(child)) return true;
      if (programs_[current_]->step(child, next_pid_)) return true;
      child.exit(child_);
      init.switch_to(1);
      child_ = 0;
      if (++current_ == programs_.size()) {
        init.roi_end();
        phase_ = Phase::Done;
      }
      return true;
    }
    case Phase::Done: return false;
  }
  return false;
}

std::optional<TraceRecord> GeneratedWorkload::next() {
  while (queue_.empty())
    if (!refill()) return std::nullopt;
  TraceRecord r = queue_.front();
  queue_.pop_front();
  ++records_;
  if (r.kind == TraceRecordKind::RoiBegin) steps_begun_ = true;
  if (r.kind == TraceRecordKind::Load || r.kind == TraceRecordKind::Store || r.kind == TraceRecordKind::Fetch) ++references_;
  return r;
}

EventBatch GeneratedWorkload::plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) {
  EventBatch batch;
  while (batch.events < max) {
    // The steady state of a single program may skip records (plain_steps); nothing else is
    // queued then, so the order is that of next().
    if (queue_.empty() && !mix_ && !timeshare_ && phase_ == Phase::Steps) {
      const EventBatch made =
          programs_.front()->plain_steps(out + batch.events, max - batch.events, budget - batch.instructions);
      batch += made;
      if (batch.instructions >= budget) break;  // by their instructions, the only way plain steps end it
      if (made.events) continue;
    }
    // The programs make more records only when the queue is empty, as next() does.
    if (queue_.empty() && !refill()) break;
    if (queue_.empty()) continue;
    const TraceRecord& r = queue_.front();
    if (!is_plain(r.kind)) break;
    GuestEvent& e = out[batch.events];
    e = *r.guest_event();
    queue_.pop_front();
    if (e.kind == GuestEventKind::RoiBegin) steps_begun_ = true;
    if (batch.add(e, budget)) break;
  }
  records_ += batch.events;
  references_ += batch.references;
  return batch;
}

std::string GeneratedWorkload::position(std::uint64_t ahead) const {
  return kind_ + " generator, record " + std::to_string(records_ - ahead);
}

double GeneratedWorkload::progress() const {
  if (programs_.empty()) return 1.0;
  if (phase_ == Phase::Done) return 1.0;
  if (timeshare_) {
    double done = 0;
    for (const auto& p : programs_) done += p->progress();
    return done / static_cast<double>(programs_.size());
  }
  return (static_cast<double>(current_) + programs_[std::min(current_, programs_.size() - 1)]->progress()) /
         static_cast<double>(mix_ ? programs_.size() : 1);
}

std::optional<TraceRecord> EventSourceRecords::next() {
  if (held_) {
    std::optional<TraceRecord> r;
    r.swap(held_);
    return r;
  }
  if (!mapped_) {
    mapped_ = true;
    if (footprint_) {
      TraceRecord r;
      r.kind = TraceRecordKind::Mmap;
      r.pid = 1;
      r.address = base_;
      r.length = footprint_;
      r.prot = kProtRead | kProtWrite;
      ++records_;
      return r;
    }
  }
  const GuestEvent* e = events_.next();
  if (!e) return std::nullopt;
  ++records_;
  if (e->kind == GuestEventKind::Memory) ++references_;
  return TraceRecord::from(*e);
}

EventBatch EventSourceRecords::plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) {
  if (!mapped_ || held_) return {};  // the mapping, or a held record, comes first from next()
  EventBatch batch = events_.fill(out, max, budget);
  records_ += batch.events;
  if (batch.events && out[batch.events - 1].kind == GuestEventKind::Interrupt) {  // a device interrupt: kernel work, a record
    const GuestEvent& interrupt = out[--batch.events];
    held_ = TraceRecord::from(interrupt);
    batch.instructions -= tick_instructions(interrupt);
  }
  references_ += batch.references;
  return batch;
}

}  // namespace virtsim
