// The guest OS model driven without SystemC: a scripted record stream, and a functional
// "vCPU" that runs the kernel's guest events through the reference walk and hands page faults
// back, so every check is against the real page tables in memory.
#include "virtsim/workloads/guest_os.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>

#include "virtsim/common/error.h"
#include "virtsim/workloads/generators.h"

namespace virtsim {
namespace {

class Script final : public ProcessEventSource {
 public:
  std::deque<TraceRecord> records;
  std::size_t given = 0;
  std::optional<TraceRecord> next() override {
    if (records.empty()) return std::nullopt;
    TraceRecord r = records.front();
    records.pop_front();
    ++given;
    return r;
  }
  std::string position(std::uint64_t ahead) const override { return "script, record " + std::to_string(given - ahead); }
  std::deque<std::uint32_t> preempt_to;  // what the timer switches to at its next ticks
  std::optional<std::uint32_t> preempt() override {
    if (preempt_to.empty()) return std::nullopt;
    const std::uint32_t pid = preempt_to.front();
    preempt_to.pop_front();
    return pid;
  }
  std::uint64_t memory_references() const override { return 0; }
  RecordEmitter emit(std::uint32_t pid) { return RecordEmitter(records, pid); }
};

struct Machine {
  explicit Machine(bool pcid = false, const std::string& paging = "4level", bool thp = false,
                   std::int64_t timer_interval = 0,
                   const std::vector<std::pair<std::string, ParamValue>>& more = {})
      : params([&] {
          for (const auto& [key, value] : more)
            registry.set_value("system.kernel." + key, value, {"--set", 0, 0});
          registry.set_value("system.kernel.paging", paging, {"--set", 0, 0});
          registry.set_value("system.kernel.transparent_huge_pages", thp, {"--set", 0, 0});
          if (timer_interval) registry.set_value("system.kernel.timer_interval", timer_interval, {"--set", 0, 0});
          return Scope{&registry, nullptr, "system.kernel"};
        }()),
        os(Scope{}, params, MemoryView::of(memory), frames, pcid) {}

  // Runs vCPU `cpu` until its stream ends, or until `stop` says so after an event; returns
  // the guest events it ran.
  std::vector<GuestEvent> run(unsigned cpu = 0, const std::function<bool()>& stop = nullptr) {
    std::vector<GuestEvent> ran;
    auto& c = cpus.at(cpu);
    while (auto e = os.events(cpu).next()) {
      ran.push_back(*e);
      if (e->kind == GuestEventKind::Instr) {
        if (e->instruction == Instruction::Syscall) c.cpl = 0;
        if (e->instruction == Instruction::Sysret) c.cpl = 3;
        if (e->instruction == Instruction::MovToCr3 && e->address) c.controls.cr3 = e->address & ~(Addr{1} << 63);
        if (e->instruction == Instruction::Iret) c.cpl = c.saved.back(), c.saved.pop_back();
      } else if (e->kind == GuestEventKind::Interrupt) {
        c.saved.push_back(c.cpl);
        c.cpl = 0;
      } else if (e->kind == GuestEventKind::Memory) {
        access(cpu, e->access, e->address);
      } else if (e->kind == GuestEventKind::String) {
        for (std::uint32_t line = 0; line < e->count; ++line) access(cpu, e->access, e->address + 64 * line);
      }
      if (stop && stop()) break;
    }
    return ran;
  }
  Translation access(unsigned cpu, AccessKind kind, Addr va) {
    auto& c = cpus.at(cpu);
    PagingControls controls = c.controls;
    controls.cr3 &= ~Addr{0xfff};
    auto read = MemoryView::of(memory).read;
    Translation t = reference_translate(read, controls, va, kind, c.cpl == 3);
    if (t.fault) {
      EXPECT_EQ(t.fault_kind, FaultKind::PageFault);
      Cycles cost = 0;
      EXPECT_TRUE(os.handle_page_fault(cpu, c.controls.cr3, va, t.error_code, cost)) << to_hex(va);
      t = reference_translate(read, controls, va, kind, c.cpl == 3);
      EXPECT_FALSE(t.fault) << "after the fault at " << to_hex(va) << ": " << describe(t);
    }
    return t;
  }
  void add_cpu(ProcessEventSource& s, bool thread = false) {
    Cpu c;
    c.controls = os.add_cpu(s, thread);
    cpus.push_back(c);
  }
  Addr root(std::uint32_t pid) const {
    for (const auto& [p, cr3] : os.address_spaces())
      if (p == pid) return cr3;
    return 0;
  }

  struct Cpu {
    PagingControls controls;
    unsigned cpl = 3;
    std::vector<unsigned> saved;
  };
  ParamRegistry registry;
  PhysicalMemory memory{Addr{256} << 20};
  FrameAllocator frames{Addr{1} << 20, Addr{256} << 20};
  GuestOsParameters params;
  GuestOs os;
  std::vector<Cpu> cpus;
};

constexpr Addr kHeap = 0x10000000;

unsigned count(const std::vector<GuestEvent>& events, Instruction i) {
  unsigned n = 0;
  for (const auto& e : events) n += e.kind == GuestEventKind::Instr && e.instruction == i;
  return n;
}

TEST(GuestOs, ForkSharesFramesCopyOnWriteAndCopiesOnTheFirstWrite) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  parent.mmap(kHeap, 4 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) parent.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  const auto before = m.os.builder().lookup(m.root(1), kHeap);
  ASSERT_TRUE(before);
  EXPECT_TRUE(before->entry & pte::kWritable);
  m.memory.write64(before->pa + 16, 0x1234abcd);  // the parent's data

  parent.fork(2);
  parent.switch_to(2);
  m.run();
  const auto p0 = m.os.builder().lookup(m.root(1), kHeap), c0 = m.os.builder().lookup(m.root(2), kHeap);
  ASSERT_TRUE(p0 && c0);
  EXPECT_EQ(p0->pa, c0->pa);  // shared ...
  EXPECT_FALSE(p0->entry & pte::kWritable);  // ... read-only in both
  EXPECT_FALSE(c0->entry & pte::kWritable);
  EXPECT_EQ(m.os.forks.count(), 1u);

  // The child writes: a copy of its own, with the parent's data; the parent's page is untouched.
  s.emit(2).store(kHeap + 8);
  m.run();
  const auto c1 = m.os.builder().lookup(m.root(2), kHeap), p1 = m.os.builder().lookup(m.root(1), kHeap);
  EXPECT_NE(c1->pa, p1->pa);
  EXPECT_TRUE(c1->entry & pte::kWritable);
  EXPECT_EQ(m.memory.read64(c1->pa + 16), 0x1234abcdu);
  EXPECT_EQ(p1->pa, before->pa);
  EXPECT_EQ(m.os.cow_copies.count(), 1u);

  // The parent writes its page, no longer shared: made writable in place, no copy.
  s.emit(2).switch_to(1);
  s.emit(1).store(kHeap + 8);
  m.run();
  const auto p2 = m.os.builder().lookup(m.root(1), kHeap);
  EXPECT_EQ(p2->pa, before->pa);
  EXPECT_TRUE(p2->entry & pte::kWritable);
  EXPECT_EQ(m.os.cow_faults.count(), 2u);
  EXPECT_EQ(m.os.cow_copies.count(), 1u);
}

TEST(GuestOs, ExitGivesBackEveryFrameAndTable) {
  Machine m;
  Script s;
  s.emit(1).compute(1);
  m.add_cpu(s);
  m.run();
  const Addr held = m.frames.bytes_allocated();
  auto parent = s.emit(1);
  parent.fork(2);
  parent.switch_to(2);
  auto child = s.emit(2);
  child.exec(2);
  child.mmap(kHeap, 64 * kPageSize4K, 3);
  for (int i = 0; i < 64; ++i) child.store(kHeap + i * kPageSize4K);
  child.exit(2);
  child.switch_to(1);
  parent.compute(1);
  const auto ran = m.run();
  // 64 pages, their tables and the root are back; the child's 16 KiB kernel stack stays in the
  // kernel's cache for the next process, and the slab of area objects its mmap made stays too.
  EXPECT_EQ(m.frames.bytes_allocated(), held + 16 * 1024 + kPageSize4K);
  EXPECT_GT(m.os.tables_freed.count(), 3u);
  EXPECT_EQ(m.os.live_processes(), 1u);
  EXPECT_EQ(m.os.demand_faults.count(), 64u);
  // Fork, exec and exit enter the kernel; two switches return to user mode.
  EXPECT_EQ(count(ran, Instruction::Sysret), count(ran, Instruction::Syscall));
}

TEST(GuestOs, AnExitingProcesssTablesWaitUntilItsVcpuHasSwitchedAway) {
  // Until the queued switch to the kernel's tables has run, the vCPU may still walk the dying
  // process's tables: no other vCPU may be given them before then.
  Machine m;
  Script s;
  auto parent = s.emit(1);
  parent.compute(1);
  parent.fork(2);
  parent.switch_to(2);
  auto child = s.emit(2);
  child.mmap(kHeap, 4 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) child.store(kHeap + i * kPageSize4K);
  child.exit(2);
  child.switch_to(1);
  parent.compute(1);
  m.add_cpu(s);
  Addr before_exit = 0;
  m.run(0, [&] {
    if (m.os.exits.count() == 0) before_exit = m.frames.bytes_allocated();
    return m.os.exits.count() == 1;
  });
  EXPECT_EQ(m.frames.bytes_allocated(), before_exit);  // the exit record has run; nothing freed yet
  m.run();
  // The four data pages and at least the root, PDPT, directory and table are back.
  EXPECT_LE(m.frames.bytes_allocated(), before_exit - 8 * kPageSize4K);
}

TEST(GuestOs, ATimerTickComesAfterTheEventThatBroughtItDueEvenWhenThatEventFaults) {
  // The mmap takes two kernel instructions (SYSCALL, SYSRET), the fork three (and the flush of
  // the parent's TLB), and the tick's handler a few: no other work, which counts towards the
  // timer too.
  Machine m(false, "4level", false, /*timer_interval=*/1000,
            {{"mmap_instructions", std::int64_t{0}}, {"fork_instructions", std::int64_t{0}},
             {"timer_instructions", std::int64_t{0}}, {"switch_instructions", std::int64_t{0}},
             {"memory_references", false}});
  Script s;
  auto one = s.emit(1);
  one.mmap(kHeap, kPageSize4K, 3);
  one.fork(2);
  one.compute(994);
  one.store(kHeap);  // the 1000th instruction: the tick is due, and the store page-faults
  s.emit(2).compute(1);
  s.preempt_to.push_back(2);
  m.add_cpu(s);
  const auto ran = m.run();  // the fault is pid 1's, handled before the tick switches to pid 2
  EXPECT_EQ(m.os.demand_faults.count(), 1u);
  EXPECT_EQ(m.os.preemptions.count(), 1u);
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), kHeap));
  // The fault's #PF entry (vector 14) comes before the timer's (0xec).
  std::vector<std::uint32_t> vectors;
  for (const auto& e : ran)
    if (e.kind == GuestEventKind::Interrupt) vectors.push_back(e.count);
  EXPECT_EQ(vectors, (std::vector<std::uint32_t>{14, 0xec}));
}

TEST(GuestOs, MunmapInvalidatesEachPageUpToTheCeilingThenFlushes) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  for (Addr pages : {4, 40}) {
    p.mmap(kHeap, pages * kPageSize4K, 3);
    for (Addr i = 0; i < pages; ++i) p.store(kHeap + i * kPageSize4K);
    p.munmap(kHeap, pages * kPageSize4K);
  }
  m.add_cpu(s);
  const auto ran = m.run();
  EXPECT_EQ(count(ran, Instruction::Invlpg), 4u);  // at most 33 pages: one INVLPG each
  EXPECT_EQ(count(ran, Instruction::MovToCr3), 1u);  // 40: a CR3 reload instead
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap));
  EXPECT_EQ(m.os.pages_unmapped.count(), 44u);
}

// Freeing a page costs page_free_instructions when its last reference goes: a munmap of pages
// the process alone maps frees each; one of pages a forked child still shares frees none.
TEST(GuestOs, APageFreedCostsItsOwnInstructionsOnlyWhenItsLastReferenceGoes) {
  constexpr std::int64_t kFree = 777;  // a count no other kernel work takes here
  Machine m(false, "4level", false, 0, {{"page_free_instructions", kFree}});
  Script s;
  auto p = s.emit(1);
  p.mmap(kHeap, 4 * kPageSize4K, 3);
  for (Addr i = 0; i < 4; ++i) p.store(kHeap + i * kPageSize4K);
  p.munmap(kHeap, 4 * kPageSize4K);  // 4 pages freed
  p.mmap(kHeap, 2 * kPageSize4K, 3);
  for (Addr i = 0; i < 2; ++i) p.store(kHeap + i * kPageSize4K);
  p.fork(2);
  p.munmap(kHeap, 2 * kPageSize4K);  // the child still maps both: none freed
  m.add_cpu(s);
  const auto ran = m.run();
  std::size_t frees = 0;
  for (const auto& e : ran) frees += e.kind == GuestEventKind::Compute && e.count == kFree;
  EXPECT_EQ(frees, 4u);
  EXPECT_EQ(m.os.pages_unmapped.count(), 6u);
}

TEST(GuestOs, ARecordForAProcessThatNeverStartedNamesWhereItCameFrom) {
  Machine m;
  Script s;
  s.emit(1).mmap(kHeap, kPageSize4K, 3);  // names the first process: pid 1
  s.emit(7).exit(7);
  m.add_cpu(s);
  try {
    m.run();
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("process 7"), std::string::npos) << what;
    EXPECT_NE(what.find("script, record 2"), std::string::npos) << what;
  }
}

TEST(GuestOs, ATouchOutsideEveryAreaIsASegmentationFault) {
  Machine m;
  Script s;
  s.emit(1).mmap(kHeap, kPageSize4K, 3);
  s.emit(1).store(kHeap + kPageSize4K);
  m.add_cpu(s);
  EXPECT_THROW(m.run(), FileError);
}

TEST(GuestOs, PcidsKeepAnAddressSpacesEntriesAcrossSwitchesUntilItChanges) {
  Machine m(/*pcid=*/true);
  Script s;
  auto one = s.emit(1);
  one.mmap(kHeap, kPageSize4K, 3);
  one.store(kHeap);
  one.fork(2);
  one.switch_to(2);
  s.emit(2).switch_to(1);  // back: the PCID's entries are still good (bit 63 set)
  m.add_cpu(s);
  auto ran = m.run();
  std::vector<Addr> cr3s;
  for (const auto& e : ran)
    if (e.kind == GuestEventKind::Instr && e.instruction == Instruction::MovToCr3 && e.address) cr3s.push_back(e.address);
  ASSERT_EQ(cr3s.size(), 2u);
  EXPECT_FALSE(cr3s[0] >> 63);  // the child's PCID: first use, flush
  EXPECT_TRUE(cr3s[1] >> 63);   // the parent's again, unchanged since: keep
  EXPECT_NE(cr3s[0] & 0xfff, cr3s[1] & 0xfff);
  // The child's address space changes while the parent runs: switching to it must flush.
  s.emit(2).munmap(kHeap, kPageSize4K);
  s.emit(1).switch_to(2);
  ran = m.run();
  cr3s.clear();
  for (const auto& e : ran)
    if (e.kind == GuestEventKind::Instr && e.instruction == Instruction::MovToCr3 && e.address) cr3s.push_back(e.address);
  ASSERT_EQ(cr3s.size(), 1u);
  EXPECT_FALSE(cr3s[0] >> 63);
}

TEST(GuestOs, MunmapInAThreadShootsDownTheOtherVcpusEntries) {
  Machine m;
  Script a, b;
  a.emit(1).mmap(kHeap, 2 * kPageSize4K, 3);
  a.emit(1).store(kHeap);
  m.add_cpu(a);
  m.add_cpu(b, /*thread=*/true);
  m.run(0);
  a.emit(1).munmap(kHeap, 2 * kPageSize4K);
  b.emit(1).compute(1);
  const auto sender = m.run(0);
  const auto receiver = m.run(1);
  EXPECT_EQ(m.os.shootdown_ipis.count(), 1u);
  unsigned icr_writes = 0;
  for (const auto& e : sender) icr_writes += e.kind == GuestEventKind::Instr && e.instruction == Instruction::Wrmsr && e.count == 0x830;
  EXPECT_EQ(icr_writes, 1u);
  ASSERT_FALSE(receiver.empty());
  EXPECT_EQ(receiver.front().kind, GuestEventKind::Interrupt);
  EXPECT_EQ(receiver.front().count, 0xfbu);
  EXPECT_EQ(count(receiver, Instruction::Invlpg), 1u);  // the one page that was mapped
  EXPECT_EQ(count(receiver, Instruction::Iret), 1u);
}

TEST(GuestOs, TransparentHugePagesMapAnAlignedAreaWithOne2MiBPage) {
  Machine m(false, "4level", /*thp=*/true);
  Script s;
  s.emit(1).mmap(kHeap, 4 * kPageSize2M, 3);
  s.emit(1).store(kHeap + kPageSize2M + 123 * 8);
  m.add_cpu(s);
  m.run();
  const auto leaf = m.os.builder().lookup(m.root(1), kHeap + kPageSize2M);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(leaf->page_size, kPageSize2M);
  EXPECT_EQ(m.os.huge_pages.count(), 1u);
}

TEST(GuestOs, TheTimerTicksEveryIntervalOfInstructions) {
  // A handler of 4 instructions (interrupt, TSC-deadline write, EOI, IRET), which count too.
  Machine m(false, "4level", false, /*timer_interval=*/1000,
            {{"timer_instructions", std::int64_t{0}}, {"memory_references", false}});
  Script s;
  for (int i = 0; i < 35; ++i) s.emit(1).compute(100);  // 3500 instructions: three ticks
  m.add_cpu(s);
  const auto ran = m.run();
  EXPECT_EQ(m.os.timer_interrupts.count(), 3u);
  unsigned ticks = 0, deadline_writes = 0, eois = 0;
  for (const auto& e : ran) {
    ticks += e.kind == GuestEventKind::Interrupt && e.count == 0xec;
    deadline_writes += e.kind == GuestEventKind::Instr && e.instruction == Instruction::Wrmsr && e.count == 0x6e0;
    eois += e.kind == GuestEventKind::Instr && e.instruction == Instruction::Wrmsr && e.count == 0x80b;
  }
  EXPECT_EQ(ticks, 3u);
  EXPECT_EQ(deadline_writes, 3u);
  EXPECT_EQ(eois, 3u);
  EXPECT_EQ(count(ran, Instruction::Iret), 3u);
  // The tick comes after the record that brought it due: the tenth compute record.
  EXPECT_EQ(ran[10].kind, GuestEventKind::Interrupt);
}

TEST(GuestOs, KernelWorkBringsTheTimerDueToo) {
  // Ten system calls of 310 instructions each (SYSCALL, 300 of work, 8 accesses, SYSRET) and
  // no user instructions at all: one tick.
  Machine m(false, "4level", false, /*timer_interval=*/2000);
  Script s;
  for (int i = 0; i < 10; ++i) s.emit(1).syscall(39);
  m.add_cpu(s);
  m.run();
  EXPECT_EQ(m.os.syscalls.count(), 10u);
  EXPECT_EQ(m.os.timer_interrupts.count(), 1u);
}

TEST(GuestOs, ATickHandlerLongerThanTheIntervalLetsTheProgramRunBetweenTicks) {
  // The handler (2000 instructions and more) overruns the 100-instruction interval: a tick
  // after every event of the program, never one right after another.
  Machine m(false, "4level", false, /*timer_interval=*/100);
  Script s;
  for (int i = 0; i < 10; ++i) s.emit(1).compute(100);
  m.add_cpu(s);
  const auto ran = m.run();
  EXPECT_EQ(m.os.timer_interrupts.count(), 10u);
  bool program_ran = true;
  for (const auto& e : ran) {
    if (e.kind == GuestEventKind::Interrupt && e.count == 0xec) {
      EXPECT_TRUE(program_ran) << "two ticks with nothing of the program between them";
      program_ran = false;
    }
    if (e.kind == GuestEventKind::Compute && e.count == 100) program_ran = true;
  }
}

bool device_instruction(Instruction i) {
  return i == Instruction::In || i == Instruction::Out || i == Instruction::Hlt;
}

// The CPL each event of `ran` runs at, from a start in user mode.
std::vector<unsigned> cpls(const std::vector<GuestEvent>& ran) {
  std::vector<unsigned> out, saved;
  unsigned cpl = 3;
  for (const auto& e : ran) {
    if (e.kind == GuestEventKind::Interrupt) saved.push_back(cpl), cpl = 0;
    out.push_back(cpl);
    if (e.kind != GuestEventKind::Instr) continue;
    if (e.instruction == Instruction::Syscall) cpl = 0;
    if (e.instruction == Instruction::Sysret) cpl = 3;
    if (e.instruction == Instruction::Iret) cpl = saved.back(), saved.pop_back();
  }
  return out;
}

TEST(GuestOs, ASystemCallsPortIoAndHaltRunInTheKernelBeforeItReturns) {
  Machine m(false, "4level", false, 0, {{"memory_references", false}});
  Script s;
  auto p = s.emit(1);
  p.syscall(1);  // write(): the driver's port I/O
  p.instr(Instruction::Out, 0x3f8, 0x41, 1);
  p.instr(Instruction::In, 0x3fd, 0, 1);
  p.compute(10);
  p.syscall(0);  // a blocking read(): HLT until the device interrupt
  p.instr(Instruction::Hlt);
  p.interrupt(0x41);
  p.compute(20);
  p.interrupt(0x24);  // not after a HLT in a call: taken in user mode
  m.add_cpu(s);
  const auto ran = m.run();
  EXPECT_EQ(m.os.syscalls.count(), 2u);
  EXPECT_EQ(m.os.device_interrupts.count(), 2u);
  const auto ring = cpls(ran);
  std::vector<std::string> order;
  for (std::size_t i = 0; i < ran.size(); ++i) {
    const auto& e = ran[i];
    if (e.kind == GuestEventKind::Instr &&
        device_instruction(e.instruction)) {
      EXPECT_EQ(ring[i], 0u) << "event " << i;
    }
    if (e.kind == GuestEventKind::Instr && e.instruction != Instruction::Wrmsr)
      order.push_back(to_string(e.instruction));
    if (e.kind == GuestEventKind::Interrupt) order.push_back("interrupt " + std::to_string(e.count));
    if (e.kind == GuestEventKind::Compute && (e.count == 10 || e.count == 20)) {
      order.push_back("user " + std::to_string(e.count));
      EXPECT_EQ(ring[i], 3u);
    }
  }
  const std::vector<std::string> want{"syscall", "out", "in", "sysret", "user 10",
                                      "syscall", "hlt", "interrupt 65", "iret", "sysret", "user 20",
                                      "interrupt 36", "iret"};
  EXPECT_EQ(order, want);
}

TEST(GuestOs, IoLoopAndIdleMakeTheirSystemCallsThroughTheKernel) {
  for (const std::string kind : {"io_loop", "idle"}) {
    ParamRegistry registry;
    const GeneratorParameters parameters(Scope{&registry, nullptr, "workload"});
    GeneratorContext context;
    context.operations = 20;
    context.parameters = &parameters;
    GeneratedWorkload workload(kind, context);
    Machine m;
    m.add_cpu(workload);
    const auto ran = m.run();
    EXPECT_EQ(m.os.syscalls.count(), 20u + (kind == "io_loop" ? 1u : 0u)) << kind;  // io_loop maps its buffer
    const auto ring = cpls(ran);
    unsigned device = 0;
    for (std::size_t i = 0; i < ran.size(); ++i) {
      const auto& e = ran[i];
      if (e.kind == GuestEventKind::Instr &&
          device_instruction(e.instruction)) {
        ++device;
        EXPECT_EQ(ring[i], 0u) << kind << " event " << i;
      }
    }
    EXPECT_EQ(device, kind == "io_loop" ? 40u : 20u) << kind;
  }
}

TEST(GuestOs, SystemCallNumbersMapToTheirCostClasses) {
  EXPECT_EQ(syscall_class(0), SyscallClass::Read);      // read
  EXPECT_EQ(syscall_class(45), SyscallClass::Read);     // recvfrom
  EXPECT_EQ(syscall_class(1), SyscallClass::Write);     // write
  EXPECT_EQ(syscall_class(44), SyscallClass::Write);    // sendto
  EXPECT_EQ(syscall_class(17), SyscallClass::FileRead);   // pread64
  EXPECT_EQ(syscall_class(18), SyscallClass::FileWrite);  // pwrite64
  EXPECT_EQ(syscall_class(232), SyscallClass::Epoll);   // epoll_wait
  EXPECT_EQ(syscall_class(441), SyscallClass::Epoll);   // epoll_pwait2
  EXPECT_EQ(syscall_class(7), SyscallClass::Poll);      // poll
  EXPECT_EQ(syscall_class(23), SyscallClass::Poll);     // select
  EXPECT_EQ(syscall_class(257), SyscallClass::Open);    // openat
  EXPECT_EQ(syscall_class(3), SyscallClass::Close);     // close
  EXPECT_EQ(syscall_class(262), SyscallClass::Stat);    // newfstatat
  EXPECT_EQ(syscall_class(5), SyscallClass::Fstat);     // fstat
  EXPECT_EQ(syscall_class(8), SyscallClass::Lseek);     // lseek
  EXPECT_EQ(syscall_class(228), SyscallClass::Vdso);    // clock_gettime
  EXPECT_EQ(syscall_class(96), SyscallClass::Vdso);     // gettimeofday
  EXPECT_EQ(syscall_class(39), SyscallClass::Plain);    // getpid
  EXPECT_EQ(syscall_class(447), SyscallClass::Plain);   // past the last number a class claims
  EXPECT_EQ(syscall_class(1u << 20), SyscallClass::Plain);
}

// The kernel instructions of each system call `numbers` makes, in order, and the CPL each ran at.
std::vector<std::pair<std::uint64_t, unsigned>> charged(Machine& m, const std::vector<std::uint64_t>& numbers) {
  Script s;
  for (const auto n : numbers) s.emit(1).syscall(n);
  m.add_cpu(s);
  const auto ran = m.run();
  const auto ring = cpls(ran);
  std::vector<std::pair<std::uint64_t, unsigned>> out;
  for (std::size_t i = 0; i < ran.size(); ++i)
    if (ran[i].kind == GuestEventKind::Compute) out.emplace_back(ran[i].count, ring[i]);
  return out;
}

TEST(GuestOs, EachSystemCallCostsItsClassesInstructionsAndAnUnsetClassAPlainCalls) {
  Machine m(false, "4level", false, 0,
            {{"memory_references", false}, {"syscall_instructions", std::int64_t{300}},
             {"syscall_read_instructions", std::int64_t{1000}}, {"syscall_write_instructions", std::int64_t{2000}},
             {"syscall_wait_instructions", std::int64_t{3000}}, {"syscall_open_instructions", std::int64_t{4000}},
             {"syscall_close_instructions", std::int64_t{500}}, {"syscall_stat_instructions", std::int64_t{600}},
             {"syscall_fstat_instructions", std::int64_t{700}}, {"syscall_file_read_instructions", std::int64_t{800}},
             {"syscall_file_write_instructions", std::int64_t{900}}});
  const auto got = charged(m, {0, 1, 232, 257, 3, 262, 5, 8, 39, 17, 18});
  const std::vector<std::pair<std::uint64_t, unsigned>> want{{1000, 0}, {2000, 0}, {3000, 0}, {4000, 0},
                                                              {500, 0},  {600, 0},  {700, 0},  {300, 0},
                                                              {300, 0},  {800, 0},  {900, 0}};
  EXPECT_EQ(got, want);  // lseek's class is unset: a plain call's 300
  EXPECT_EQ(m.os.syscalls.count(), 11u);
}

// A system call record of trace format 5: what it moved, its descriptor's object, its buffer.
TraceRecord described_call(std::uint64_t number, std::uint64_t bytes, SyscallObject object, Addr buffer = 0,
                           std::uint32_t flags = 0) {
  TraceRecord r;
  r.kind = TraceRecordKind::Syscall;
  r.count = number;
  r.described = true;
  r.bytes = bytes;
  r.object = object;
  r.address = buffer;
  r.call_flags = flags;
  return r;
}

// The kernel instructions each of `calls` is charged, in order.
std::vector<std::uint64_t> charged_calls(Machine& m, const std::vector<TraceRecord>& calls) {
  Script s;
  for (auto r : calls) {
    s.emit(1).compute(1);
    r.pid = 1;
    s.records.push_back(r);
  }
  m.add_cpu(s);
  std::vector<std::uint64_t> out;
  for (const auto& e : m.run())
    if (e.kind == GuestEventKind::Compute && e.count > 1) out.push_back(e.count);
  return out;
}

TEST(GuestOs, AReadOrWriteCostsItsObjectsBasePlusItsLinesAndAnOlderTracesItsClasss) {
  Machine m(false, "4level", false, 0,
            {{"memory_references", false}, {"syscall_instructions", std::int64_t{300}},
             {"syscall_read_instructions", std::int64_t{1000}}, {"syscall_write_instructions", std::int64_t{2000}},
             {"syscall_file_read_instructions", std::int64_t{800}}, {"syscall_file_write_instructions", std::int64_t{900}},
             {"syscall_pipe_read_instructions", std::int64_t{400}}, {"syscall_pipe_write_instructions", std::int64_t{500}},
             {"syscall_socket_line_instructions", std::int64_t{30}}, {"syscall_file_line_instructions", std::int64_t{10}},
             {"syscall_pipe_line_instructions", std::int64_t{20}}, {"syscall_wait_instructions", std::int64_t{6000}},
             {"syscall_epoll_instructions", std::int64_t{700}}, {"syscall_poll_instructions", std::int64_t{600}}});
  TraceRecord old_read;  // an older trace's: no byte count, no object
  old_read.kind = TraceRecordKind::Syscall;
  old_read.count = 0;
  TraceRecord old_pread = old_read, old_wait = old_read;
  old_pread.count = 17;
  old_wait.count = 232;
  const auto got = charged_calls(m, {
      described_call(0, 64, SyscallObject::Pipe),        // a pipe's read of one line
      described_call(1, 4096, SyscallObject::Pipe),      // a pipe's write of 64 lines
      described_call(0, 100, SyscallObject::Socket),     // two lines
      described_call(1, 0, SyscallObject::Socket),       // nothing moved (or failed)
      described_call(0, 4096, SyscallObject::File),      // a read of a file by its plain number
      described_call(18, 65, SyscallObject::File),       // pwrite64
      described_call(17, 64, SyscallObject::None),       // a pread of an unknown descriptor: a file's
      described_call(0, 64, SyscallObject::Other),       // a read of a device: a socket's
      described_call(232, 0, SyscallObject::Other),      // epoll_wait with timeout 0
      described_call(7, 0, SyscallObject::None),         // poll with timeout 0
      described_call(232, 0, SyscallObject::Other, 0, kSyscallMaySleep),
      old_read, old_pread, old_wait});
  EXPECT_EQ(got, (std::vector<std::uint64_t>{400 + 20, 500 + 64 * 20, 1000 + 2 * 30, 2000, 800 + 64 * 10,
                                             900 + 2 * 10, 800 + 10, 1000 + 30, 700, 600, 6000,
                                             1000 + 30,       // 64 bytes, as a socket's
                                             800 + 64 * 10,   // 4 KiB, as a file's
                                             6000}));         // a wait that may sleep
}

TEST(GuestOs, AReadCopiesTheKernelBuffersLinesToTheUsersBufferAndAnOlderTracesCopiesNothing) {
  Machine m;
  Script s;
  RecordEmitter e = s.emit(1);
  e.mmap(0x10000000, 2 * kPageSize4K, 3);
  e.store(0x10000000);
  e.store(0x10001000);
  TraceRecord read = described_call(0, 210, SyscallObject::Pipe, 0x10000ff0);  // crosses a page
  read.pid = 1;
  s.records.push_back(read);
  TraceRecord write = described_call(1, 200, SyscallObject::Pipe, 0x10000000);
  write.pid = 1;
  s.records.push_back(write);
  TraceRecord old_read;
  old_read.kind = TraceRecordKind::Syscall;
  old_read.pid = 1;
  s.records.push_back(old_read);
  m.add_cpu(s);
  std::vector<GuestEvent> strings;
  for (const auto& ev : m.run())
    if (ev.kind == GuestEventKind::String) strings.push_back(ev);
  // The pages zeroed for the faults first (4 KiB each), then the read's two sides and the
  // write's two; nothing for the old read.
  strings.erase(std::remove_if(strings.begin(), strings.end(), [](const GuestEvent& zeroing) { return zeroing.count == 64; }),
                strings.end());
  ASSERT_EQ(strings.size(), 4u);
  const Addr direct = m.os.layout().direct_map;
  // read: the pipe's lines (loads, in the direct map), then the user's (stores) from its line.
  EXPECT_EQ(strings[0].access, AccessKind::Load);
  EXPECT_GE(strings[0].address, direct);
  EXPECT_EQ(strings[0].count, 4u);  // 210 bytes: 4 lines of the pipe's ring
  EXPECT_EQ(strings[1].access, AccessKind::Store);
  EXPECT_EQ(strings[1].address, 0x10000fc0u);
  EXPECT_EQ(strings[1].count, 5u);  // 0x10000fc0 to 0x10001100: 5 lines of the user's buffer
  // Its first and last lines are written only in part (read for ownership); the others whole.
  EXPECT_TRUE(strings[1].partial_first_line);
  EXPECT_TRUE(strings[1].partial_last_line);
  EXPECT_FALSE(strings[0].partial_first_line || strings[0].partial_last_line);
  // write: the user's lines (loads), then the pipe's (stores), where the read started.
  EXPECT_EQ(strings[2].access, AccessKind::Load);
  EXPECT_EQ(strings[2].address, 0x10000000u);
  EXPECT_EQ(strings[3].access, AccessKind::Store);
  EXPECT_EQ(strings[3].address, strings[0].address);
  EXPECT_FALSE(strings[3].partial_first_line || strings[3].partial_last_line);  // the pipe's lines, whole
}

TEST(GuestOs, AVdsoCallRunsInUserModeOnceItsCostIsSetAndIsAPlainSystemCallBefore) {
  Machine plain(false, "4level", false, 0, {{"memory_references", false}, {"syscall_instructions", std::int64_t{300}}});
  EXPECT_EQ(charged(plain, {228, 96}), (std::vector<std::pair<std::uint64_t, unsigned>>{{300, 0}, {300, 0}}));
  EXPECT_EQ(plain.os.syscalls.count(), 2u);
  EXPECT_EQ(plain.os.vdso_calls.count(), 0u);

  Machine vdso(false, "4level", false, 0, {{"memory_references", false}, {"vdso_instructions", std::int64_t{40}}});
  EXPECT_EQ(charged(vdso, {228, 96, 39}),
            (std::vector<std::pair<std::uint64_t, unsigned>>{{40, 3}, {40, 3}, {300, 0}}));
  EXPECT_EQ(vdso.os.syscalls.count(), 1u);  // only getpid entered the kernel
  EXPECT_EQ(vdso.os.vdso_calls.count(), 2u);
}

TEST(GuestOs, SyscallLoopMakesItsNumbersInTurnSaysWhatTheyMoveWhenToldAndRefusesAListThatIsNotOne) {
  ParamRegistry registry;
  registry.set_value("workload.syscall.numbers", std::string("232, 0,1"), {"--set", 0, 0});
  const GeneratorParameters parameters(Scope{&registry, nullptr, "workload"});
  GeneratorContext context;
  context.operations = 6;
  context.parameters = &parameters;
  GeneratedWorkload workload("syscall_loop", context);
  std::vector<std::uint64_t> numbers;
  while (auto r = workload.next())
    if (r->kind == TraceRecordKind::Syscall) numbers.push_back(r->count);
  EXPECT_EQ(numbers, (std::vector<std::uint64_t>{232, 0, 1, 232, 0, 1}));

  // With an object, a size or waits that may sleep, each record says so (trace format 5's
  // fields), its buffer mapped and touched before; left unset, as an older trace's.
  for (const bool described : {false, true}) {
    ParamRegistry r;
    if (described) {
      r.set_value("workload.syscall.object", std::string("pipe"), {"--set", 0, 0});
      r.set_value("workload.syscall.bytes", std::int64_t{5000}, {"--set", 0, 0});
      r.set_value("workload.syscall.sleeps", true, {"--set", 0, 0});
    }
    const GeneratorParameters p(Scope{&r, nullptr, "workload"});
    GeneratorContext c;
    c.operations = 2;
    c.parameters = &p;
    GeneratedWorkload loop("syscall_loop", c);
    std::vector<TraceRecord> calls, maps;
    while (auto record = loop.next()) {
      if (record->kind == TraceRecordKind::Syscall) calls.push_back(*record);
      if (record->kind == TraceRecordKind::Mmap) maps.push_back(*record);
    }
    ASSERT_EQ(calls.size(), 2u);
    for (const auto& call : calls) {
      EXPECT_EQ(call.described, described);
      EXPECT_EQ(call.bytes, described ? 5000u : 0u);
      EXPECT_EQ(call.object, described ? SyscallObject::Pipe : SyscallObject::None);
      EXPECT_EQ(call.call_flags, described ? kSyscallMaySleep : 0u);
    }
    ASSERT_EQ(maps.size(), described ? 2u : 1u);  // the stack's area, then the buffer's 2 pages
    if (described) {
      EXPECT_EQ(calls[0].address, maps[1].address);
      EXPECT_EQ(maps[1].length, 2 * kPageSize4K);
    }
  }

  for (const std::string bad : {"", "0,,1", "read", "12345"}) {
    ParamRegistry r;
    r.set_value("workload.syscall.numbers", bad, {"--set", 0, 0});
    const GeneratorParameters p(Scope{&r, nullptr, "workload"});
    GeneratorContext c;
    c.parameters = &p;
    EXPECT_THROW(GeneratedWorkload("syscall_loop", c), ConfigError) << bad;
  }
}

TraceRecord file_mmap(std::uint32_t pid, Addr address, Addr pages, std::uint32_t prot, std::uint32_t file,
                      std::uint64_t offset, bool shared = false) {
  TraceRecord r;
  r.kind = TraceRecordKind::Mmap;
  r.pid = pid;
  r.address = address;
  r.length = pages * kPageSize4K;
  r.prot = prot;
  r.map_flags = kMapFile | (shared ? kMapShared : 0);
  r.file = file;
  r.offset = offset;
  return r;
}

TraceRecord remap(TraceRecordKind kind, std::uint32_t pid, Addr address, Addr pages, std::uint32_t prot,
                  Addr new_address = 0, Addr new_pages = 0) {
  TraceRecord r;
  r.kind = kind;
  r.pid = pid;
  r.address = address;
  r.length = pages * kPageSize4K;
  r.prot = prot;
  r.new_address = new_address;
  r.new_length = new_pages * kPageSize4K;
  return r;
}

// The kernel's stores to page-table entries at `slots` among `events`.
unsigned stores_to(const Machine& m, const std::vector<GuestEvent>& events, const std::vector<Addr>& slots) {
  unsigned n = 0;
  for (const auto& e : events)
    if (e.kind == GuestEventKind::Memory && e.access == AccessKind::Store)
      n += static_cast<unsigned>(std::count(slots.begin(), slots.end(), e.address - m.os.layout().direct_map));
  return n;
}

// The string instructions among `events` that pass over the whole 4 KiB page at guest-physical
// `frame` with `kind` (clear_page or one side of copy_page).
unsigned string_passes(const Machine& m, const std::vector<GuestEvent>& events, AccessKind kind, Addr frame) {
  unsigned n = 0;
  for (const auto& e : events)
    n += e.kind == GuestEventKind::String && e.access == kind && e.address == m.os.layout().direct_map + frame &&
         e.count == kPageSize4K / 64;
  return n;
}

// The kernel's memory events (one instruction each) that reach the 4 KiB page at `frame`.
unsigned memory_events_into(const Machine& m, const std::vector<GuestEvent>& events, Addr frame) {
  unsigned n = 0;
  const Addr base = m.os.layout().direct_map + frame;
  for (const auto& e : events)
    n += (e.kind == GuestEventKind::Memory || e.kind == GuestEventKind::String) && e.address >= base &&
         e.address < base + kPageSize4K;
  return n;
}

std::vector<Addr> slots_of(const Machine& m, std::uint32_t pid, Addr from, Addr pages) {
  std::vector<Addr> slots;
  for (Addr i = 0; i < pages; ++i)
    if (const auto l = m.os.builder().lookup(m.root(pid), from + i * kPageSize4K)) slots.push_back(l->slot);
  return slots;
}

TEST(GuestOs, AFilesPagesAreSharedByEveryProcessThatMapsIt) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  s.records.push_back(file_mmap(1, kHeap, 32, 1, 5, 0));
  parent.load(kHeap + 8);
  m.add_cpu(s);
  m.run();
  // One read fault: the faulting page and the 15 others of its 64 KiB block, read-only.
  EXPECT_EQ(m.os.page_cache.file_faults.count(), 1u);
  EXPECT_EQ(m.os.page_cache.fault_around_pages.count(), 15u);
  EXPECT_EQ(slots_of(m, 1, kHeap, 32).size(), 16u);
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kWritable);

  // Another program maps pages 0-3 of the file elsewhere: the same frames, four pages around.
  parent.fork(2);
  parent.switch_to(2);
  auto child = s.emit(2);
  child.exec(2);
  s.records.push_back(file_mmap(2, 0x20000000, 4, 1, 5, 0));
  child.load(0x20000000 + kPageSize4K);
  m.run();
  EXPECT_EQ(m.os.builder().lookup(m.root(2), 0x20000000 + kPageSize4K)->pa,
            m.os.builder().lookup(m.root(1), kHeap + kPageSize4K)->pa);
  EXPECT_EQ(m.os.page_cache.fault_around_pages.count(), 15u + 3u);  // clipped to the area
  EXPECT_EQ(m.os.page_cache.page_cache_pages.value(), 16.0);
  EXPECT_EQ(m.os.demand_faults.count(), 2u);
  // The cache keeps its pages when every mapping has gone.
  child.exit(2);
  child.switch_to(1);
  parent.munmap(kHeap, 32 * kPageSize4K);
  m.run();
  EXPECT_EQ(m.os.page_cache.page_cache_pages.value(), 16.0);
}

TEST(GuestOs, ForkCopiesOnlyTheFileAreasThatHoldPagesOfTheirOwn) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  s.records.push_back(file_mmap(1, kHeap, 16, 1, 5, 0));                // read-only text
  s.records.push_back(file_mmap(1, 0x20000000, 16, 3, 6, 0));           // private data
  s.records.push_back(file_mmap(1, 0x30000000, 16, 3, 7, 0, true));     // shared
  parent.load(kHeap);
  parent.load(0x20000000);
  parent.store(0x20000000 + kPageSize4K);  // a copy of its own: the area now has an anon_vma
  parent.load(0x30000000);
  parent.fork(2);
  m.add_cpu(s);
  m.run();
  ASSERT_EQ(m.os.forks.count(), 1u);
  // Only the private data area's entries reach the child; the others fault in again there.
  EXPECT_TRUE(slots_of(m, 2, kHeap, 16).empty());
  EXPECT_TRUE(slots_of(m, 2, 0x30000000, 16).empty());
  EXPECT_EQ(slots_of(m, 2, 0x20000000, 16).size(), slots_of(m, 1, 0x20000000, 16).size());
  // The shared area's entries stay writable in the parent: fork write-protects private pages only.
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), 0x30000000)->entry & pte::kWritable);
}

// A capture's stream: memory no record mapped is the program's (what exec mapped).
class CaptureScript final : public ProcessEventSource {
 public:
  Script script;
  std::optional<TraceRecord> next() override { return script.next(); }
  std::string position(std::uint64_t ahead) const override { return script.position(ahead); }
  std::uint64_t memory_references() const override { return 0; }
  bool implicit_user_memory() const override { return true; }
};

TEST(GuestOs, AReadOfWhatExecMappedFaultsAroundAsAFileMappingAndAWriteIsAnonymous) {
  for (const bool around : {true, false}) {
    Machine m(false, "4level", false, 0, {{"image_fault_around", around}});
    CaptureScript c;
    auto p = c.script.emit(1);
    const Addr image = 0x108000;  // where Valgrind loads a position-independent program
    p.mmap(image + 0x20000, 4 * kPageSize4K, 3);  // an area a record mapped, 32 pages on
    p.load(image + 0x18000);      // the image's text, read
    p.store(image + 0x40000);     // .bss or the like, written
    m.add_cpu(c);
    m.run();
    // With fault-around: the 64 KiB block of the read, ended where the mapped area starts.
    EXPECT_EQ(slots_of(m, 1, image, 0x20).size(), around ? 8u : 1u);
    EXPECT_EQ(m.os.page_cache.file_faults.count(), around ? 1u : 0u);
    EXPECT_EQ(m.os.demand_faults.count(), 2u);
    EXPECT_TRUE(m.os.builder().lookup(m.root(1), image + 0x40000)->entry & pte::kWritable);  // its own page
  }
}

TEST(GuestOs, FaultAroundMapsWhatIsNotMappedYetOneStoreEach) {
  Machine m;
  Script s;
  const Addr area = kHeap + 3 * kPageSize4K;  // starts inside a 64 KiB block
  s.records.push_back(file_mmap(1, area, 40, 1, 1, 0x10000));
  s.emit(1).load(kHeap + 5 * kPageSize4K);
  m.add_cpu(s);
  const auto first = m.run();
  // The window starts at the area and runs 16 pages.
  EXPECT_EQ(slots_of(m, 1, area, 40).size(), 16u);
  // One store per entry (the new table was zeroed whole by a string instruction before).
  EXPECT_EQ(stores_to(m, first, slots_of(m, 1, area, 40)), 16u);
  const Addr table = slots_of(m, 1, area, 40).front() & ~(kPageSize4K - 1);
  EXPECT_EQ(string_passes(m, first, AccessKind::Store, table), 1u);
  // The next fault's aligned block holds 3 pages mapped already: 13 entries written.
  s.emit(1).load(kHeap + 0x13000);
  const auto second = m.run();
  EXPECT_EQ(slots_of(m, 1, area, 40).size(), 29u);
  EXPECT_EQ(m.os.page_cache.fault_around_pages.count(), 15u + 12u);
  EXPECT_EQ(stores_to(m, second, slots_of(m, 1, kHeap + 0x10000, 16)), 13u);
}

// Linux zeroes a faulted-in page with clear_page and copies one with copy_page (REP STOSB /
// STOSQ, REP MOVSQ): one instruction each over the page, not a store (and a load) per line.
TEST(GuestOs, PagesAreZeroedAndCopiedWithOneStringInstructionEach) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  parent.mmap(kHeap, 4 * kPageSize4K, 3);
  parent.store(kHeap);
  m.add_cpu(s);
  const auto fault = m.run();
  const auto page = m.os.builder().lookup(m.root(1), kHeap);
  ASSERT_TRUE(page);
  EXPECT_EQ(string_passes(m, fault, AccessKind::Store, page->pa), 1u);
  EXPECT_EQ(memory_events_into(m, fault, page->pa), 1u);  // not 64 stores
  // Each new table of the fault was zeroed the same way.
  const Addr table = page->slot & ~(kPageSize4K - 1);
  EXPECT_EQ(string_passes(m, fault, AccessKind::Store, table), 1u);

  parent.fork(2);
  parent.switch_to(2);
  m.run();
  s.emit(2).store(kHeap + 8);
  const auto cow = m.run();
  const auto copy = m.os.builder().lookup(m.root(2), kHeap);
  ASSERT_NE(copy->pa, page->pa);
  EXPECT_EQ(string_passes(m, cow, AccessKind::Load, page->pa), 1u);
  EXPECT_EQ(string_passes(m, cow, AccessKind::Store, copy->pa), 1u);
  EXPECT_EQ(memory_events_into(m, cow, copy->pa), 1u);
}

TEST(GuestOs, FaultAroundCanBeTurnedOff) {
  Machine m(false, "4level", false, 0, {{"fault_around_bytes", std::int64_t{4096}}});
  Script s;
  s.records.push_back(file_mmap(1, kHeap, 32, 1, 1, 0));
  s.emit(1).load(kHeap);
  m.add_cpu(s);
  m.run();
  EXPECT_EQ(slots_of(m, 1, kHeap, 32).size(), 1u);
  EXPECT_EQ(m.os.page_cache.fault_around_pages.count(), 0u);
}

TEST(GuestOs, AWriteToAPrivateFileMappingCopiesTheCachedPage) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  s.records.push_back(file_mmap(1, kHeap, 32, 3, 9, 0));
  p.load(kHeap);
  m.add_cpu(s);
  m.run();
  const auto cached = m.os.builder().lookup(m.root(1), kHeap);
  ASSERT_TRUE(cached);
  EXPECT_FALSE(cached->entry & pte::kWritable);  // read-only, copy-on-write
  m.memory.write64(cached->pa + 16, 0xfeed);  // the file's data
  p.store(kHeap + 8);
  m.run();
  const auto copied = m.os.builder().lookup(m.root(1), kHeap);
  EXPECT_NE(copied->pa, cached->pa);
  EXPECT_TRUE(copied->entry & pte::kWritable);
  EXPECT_EQ(m.memory.read64(copied->pa + 16), 0xfeedu);
  EXPECT_EQ(m.os.cow_copies.count(), 1u);
  // A write to a page not mapped yet copies it at once (do_cow_fault), no fault-around.
  p.store(kHeap + 20 * kPageSize4K);
  m.run();
  EXPECT_EQ(m.os.page_cache.file_cow_copies.count(), 1u);
  EXPECT_EQ(slots_of(m, 1, kHeap + 16 * kPageSize4K, 16).size(), 1u);
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), kHeap + 20 * kPageSize4K)->entry & pte::kWritable);
  // A shared mapping of the same file maps the cached page itself, writable.
  s.records.push_back(file_mmap(1, 0x20000000, 4, 3, 9, 0, true));
  p.store(0x20000000);
  m.run();
  const auto shared = m.os.builder().lookup(m.root(1), 0x20000000);
  EXPECT_EQ(shared->pa, cached->pa);
  EXPECT_TRUE(shared->entry & pte::kWritable);
}

TEST(GuestOs, MprotectRewritesEachPresentEntryOnceAndFlushesIt) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  p.mmap(kHeap, 8 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) p.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  const auto slots = slots_of(m, 1, kHeap, 8);
  ASSERT_EQ(slots.size(), 4u);
  s.records.push_back(remap(TraceRecordKind::Mprotect, 1, kHeap, 8, 1));
  auto ran = m.run();
  EXPECT_EQ(stores_to(m, ran, slots), 4u);
  EXPECT_EQ(count(ran, Instruction::Invlpg), 4u);
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kWritable);
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kExecuteDisable);
  // Writable again: the pages are the process's own, so the entries are writable at once.
  s.records.push_back(remap(TraceRecordKind::Mprotect, 1, kHeap, 2, 7));
  ran = m.run();
  EXPECT_EQ(stores_to(m, ran, slots), 2u);
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kWritable);
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kExecuteDisable);
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap + 2 * kPageSize4K)->entry & pte::kWritable);
  // The rest of the area stays read-only: a write there is a segmentation fault.
  p.store(kHeap + 5 * kPageSize4K);
  EXPECT_THROW(m.run(), FileError);
}

// The capture tool's own mappings (mmap records tagged kMapTool: Valgrind's preloaded object)
// are in the address space, but no call of the program's: no system call's cost, not counted;
// an mprotect or munmap of a range wholly in them is the tool's too, one that reaches past
// them the program's.
TEST(GuestOs, TheCaptureToolsMappingsAreThereButCostAndCountNoCall) {
  Machine m(false, "4level", false, 0, {{"mmap_instructions", std::int64_t{777}}});
  Script s;
  auto p = s.emit(1);
  TraceRecord tool = file_mmap(1, kHeap, 4, 5, 9, 0);
  tool.map_flags |= kMapTool;
  s.records.push_back(tool);
  s.records.push_back(remap(TraceRecordKind::Mprotect, 1, kHeap + 2 * kPageSize4K, 1, 1));  // its RELRO
  p.load(kHeap + 8);
  m.add_cpu(s);
  auto ran = m.run();
  EXPECT_EQ(m.os.tool_mappings.count(), 2u);
  EXPECT_EQ(m.os.mmaps.count(), 0u);
  EXPECT_EQ(m.os.syscalls.count(), 0u);
  for (const auto& e : ran)  // no mmap's cost (system.kernel.mmap_instructions)
    EXPECT_FALSE(e.kind == GuestEventKind::Compute && e.count == 777);
  EXPECT_EQ(m.os.page_cache.file_faults.count(), 1u);  // the area is a mapping of its file
  // The program's own calls count as before.
  p.mmap(kHeap + 16 * kPageSize4K, 2 * kPageSize4K, 3);
  p.munmap(kHeap + 3 * kPageSize4K, 14 * kPageSize4K);  // the tool's last page and the program's area
  p.munmap(kHeap, kPageSize4K);                          // the tool's first page alone
  ran = m.run();
  EXPECT_EQ(m.os.mmaps.count(), 1u);
  EXPECT_EQ(m.os.munmaps.count(), 1u);
  EXPECT_EQ(m.os.tool_mappings.count(), 3u);
  EXPECT_EQ(m.os.syscalls.count(), 2u);
  EXPECT_EQ(std::count_if(ran.begin(), ran.end(),
                          [](const GuestEvent& e) { return e.kind == GuestEventKind::Compute && e.count == 777; }),
            2);
}

TraceRecord pte_write(std::uint32_t pid, Addr address, std::uint64_t set, std::uint64_t clear) {
  TraceRecord r;
  r.kind = TraceRecordKind::PageTableWrite;
  r.pid = pid;
  r.address = address;
  r.set_bits = set;
  r.clear_bits = clear;
  return r;
}

TEST(GuestOs, APageTableWriteRecordStoresToTheEntryItNames) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  p.mmap(kHeap, 4 * kPageSize4K, 3);
  p.store(kHeap);
  m.add_cpu(s);
  m.run();
  const auto slots = slots_of(m, 1, kHeap, 1);
  ASSERT_EQ(slots.size(), 1u);
  const std::uint64_t before = m.os.builder().lookup(m.root(1), kHeap)->entry;
  // Page aging: the accessed bit cleared, one load and one store of the entry, no flush.
  s.records.push_back(pte_write(1, kHeap + 0x123, 0, pte::kAccessed));
  auto ran = m.run();
  EXPECT_EQ(stores_to(m, ran, slots), 1u);
  EXPECT_EQ(count(ran, Instruction::Invlpg), 0u);
  EXPECT_EQ(m.os.builder().lookup(m.root(1), kHeap)->entry, before & ~pte::kAccessed);
  // Writeback cleaning: a dirty bit cleared is flushed, so the next write sets it again (the
  // test's machine has no walker to set it: the record sets it first). One already clear is not.
  s.records.push_back(pte_write(1, kHeap, pte::kDirty, 0));
  s.records.push_back(pte_write(1, kHeap, 0, pte::kDirty));
  s.records.push_back(pte_write(1, kHeap, 0, pte::kDirty));
  ran = m.run();
  EXPECT_EQ(stores_to(m, ran, slots), 3u);
  EXPECT_EQ(count(ran, Instruction::Invlpg), 1u);
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kDirty);
  // A page never touched has no entry: the record writes nothing.
  s.records.push_back(pte_write(1, kHeap + 2 * kPageSize4K, pte::kAccessed, 0));
  ran = m.run();
  EXPECT_TRUE(slots_of(m, 1, kHeap + 2 * kPageSize4K, 1).empty());
  EXPECT_EQ(stores_to(m, ran, slots), 0u);
  // Rights and frames change by mprotect, munmap and the like, never by this record.
  s.records.push_back(pte_write(1, kHeap, pte::kWritable, 0));
  EXPECT_THROW(m.run(), FileError);
}

TEST(GuestOs, MremapMovesEachEntryAndFlushesTheOldAddresses) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  p.mmap(kHeap, 4 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) p.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  const auto old_slots = slots_of(m, 1, kHeap, 4);
  const Addr frame = m.os.builder().lookup(m.root(1), kHeap + kPageSize4K)->pa;
  const Addr to = 0x30000000;
  s.records.push_back(remap(TraceRecordKind::Mremap, 1, kHeap, 4, 0, to, 8));
  const auto ran = m.run();
  const auto new_slots = slots_of(m, 1, to, 8);
  ASSERT_EQ(new_slots.size(), 4u);
  EXPECT_EQ(stores_to(m, ran, old_slots), 4u);  // cleared
  EXPECT_EQ(stores_to(m, ran, new_slots), 4u);  // written
  EXPECT_EQ(count(ran, Instruction::Invlpg), 4u);
  EXPECT_EQ(m.os.builder().lookup(m.root(1), to + kPageSize4K)->pa, frame);
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), to)->entry & pte::kWritable);
  EXPECT_TRUE(slots_of(m, 1, kHeap, 4).empty());
  EXPECT_EQ(m.os.demand_faults.count(), 4u);
  // The area grew to 8 pages; the old addresses are no longer mapped.
  p.store(to + 6 * kPageSize4K);
  m.run();
  EXPECT_EQ(m.os.demand_faults.count(), 5u);
  // Shrinking in place unmaps the tail.
  s.records.push_back(remap(TraceRecordKind::Mremap, 1, to, 8, 0, to, 2));
  m.run();
  EXPECT_EQ(slots_of(m, 1, to, 8).size(), 2u);
  p.store(kHeap);
  EXPECT_THROW(m.run(), FileError);
}

TEST(GuestOs, BrkGrowthOnlyChangesTheArea) {
  Machine m;
  Script s;
  const auto brk = [&](Addr address) {
    TraceRecord r;
    r.kind = TraceRecordKind::Brk;
    r.pid = 1;
    r.address = address;
    s.records.push_back(r);
  };
  brk(kHeap);
  brk(kHeap + 2 * kPageSize4K);
  s.emit(1).store(kHeap);
  m.add_cpu(s);
  m.run();
  const auto slots = slots_of(m, 1, kHeap, 1);
  brk(kHeap + 64 * kPageSize4K);
  const auto ran = m.run();
  EXPECT_EQ(stores_to(m, ran, slots), 0u);
  EXPECT_EQ(count(ran, Instruction::Invlpg), 0u);
  EXPECT_EQ(slots_of(m, 1, kHeap, 64).size(), 1u);
  s.emit(1).store(kHeap + 63 * kPageSize4K);  // inside the grown heap
  m.run();
  EXPECT_EQ(m.os.demand_faults.count(), 2u);
  EXPECT_EQ(m.os.page_cache.file_faults.count(), 0u);  // the grown heap is still anonymous memory
  EXPECT_EQ(m.os.page_cache.file_cow_copies.count(), 0u);
}

TEST(GuestOs, ThirtyTwoBitLayoutsKeepUserAreasBelowTheKernel) {
  for (const char* paging : {"32bit", "pae"}) {
    Machine m(false, paging);
    Script s;
    s.emit(1).mmap(0xc0000000ull, kPageSize4K, 3);  // the kernel's quarter under 3G/1G
    m.add_cpu(s);
    EXPECT_THROW(m.run(), FileError) << paging;
  }
}

// A generator's steady state may skip records (ProgramBody::plain_steps): for any batch size
// and instruction budget, and mixed with next(), plain_events() gives the stream that next()
// alone gives, and a batch ends exactly where ends_batch() says.
// The kernel's stores (direct-map addresses) into the 4 KiB page-table page at guest-physical `table`.
unsigned stores_into(const GuestOs& os, const std::vector<GuestEvent>& events, Addr table) {
  unsigned n = 0;
  const Addr base = os.layout().direct_map + table;
  for (const auto& e : events)
    n += e.kind == GuestEventKind::Memory && e.access == AccessKind::Store && e.address >= base &&
         e.address < base + kPageSize4K;
  return n;
}

std::vector<Addr> cr3_loads(const std::vector<GuestEvent>& events) {
  std::vector<Addr> out;
  for (const auto& e : events)
    if (e.kind == GuestEventKind::Instr && e.instruction == Instruction::MovToCr3 && e.address) out.push_back(e.address);
  return out;
}

TEST(GuestOs, AForkWriteProtectsAParentEntryACopyOnWriteReuseMadeWritableAgain) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  parent.mmap(kHeap, 4 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) parent.store(kHeap + i * kPageSize4K);
  parent.fork(2);
  parent.switch_to(2);
  s.emit(2).exit(2);
  s.emit(2).switch_to(1);
  parent.store(kHeap);  // the only user now: wp_page_reuse makes the entry writable in place
  m.add_cpu(s);
  m.run();
  EXPECT_EQ(m.os.cow_copies.count(), 0u);
  const auto reused = m.os.builder().lookup(m.root(1), kHeap);
  ASSERT_TRUE(reused);
  EXPECT_TRUE(reused->entry & pte::kWritable);
  const Addr table = reused->slot & ~Addr{0xfff};

  parent.fork(3);
  const auto ran = m.run();
  // One store into the parent's table (the one writable entry, protected again), and the
  // child's entries all go into tables of its own.
  EXPECT_EQ(stores_into(m.os, ran, table), 1u);
  EXPECT_FALSE(m.os.builder().lookup(m.root(1), kHeap)->entry & pte::kWritable);
  // dup_mmap's flush_tlb_mm: the parent's whole address space, not page by page.
  EXPECT_EQ(count(ran, Instruction::Invlpg), 0u);
  EXPECT_EQ(count(ran, Instruction::MovToCr3), 1u);
}

TEST(GuestOs, ExitClearsEveryPresentEntryBeforeItsTablesAreFreed) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  parent.compute(1);
  parent.fork(2);
  parent.switch_to(2);
  auto child = s.emit(2);
  child.mmap(kHeap, 8 * kPageSize4K, 3);
  for (int i = 0; i < 8; ++i) child.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  const auto leaf = m.os.builder().lookup(m.root(2), kHeap);
  ASSERT_TRUE(leaf);
  const Addr table = leaf->slot & ~Addr{0xfff};
  child.exit(2);
  child.switch_to(1);
  const auto ran = m.run();
  // A store into the table per present entry (zap_pte_range).
  EXPECT_EQ(stores_into(m.os, ran, table), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(m.memory.read64(leaf->slot + 8 * i), 0u);
  // The stores come while the dying address space is still loaded (lazy TLB), before the
  // switch to the kernel's own tables that stands for the teardown's flush.
  std::size_t last_store = 0, kernel_cr3 = 0;
  for (std::size_t i = 0; i < ran.size(); ++i) {
    const auto& e = ran[i];
    if (e.kind == GuestEventKind::Memory && e.access == AccessKind::Store &&
        e.address - m.os.layout().direct_map - table < kPageSize4K)
      last_store = i;
    if (e.kind == GuestEventKind::Instr && e.instruction == Instruction::MovToCr3 && e.address && !kernel_cr3)
      kernel_cr3 = i;
  }
  EXPECT_LT(last_store, kernel_cr3);
  EXPECT_GE(m.os.entries_cleared.count(), 8u + 3u);  // the leaves, and the entries of the freed tables
}

TEST(GuestOs, MunmapOfEveryAreaATableCoversFreesTheTable) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  p.mmap(kHeap + kPageSize2M, 4 * kPageSize4K, 3);  // a neighbour in the same directory
  p.store(kHeap + kPageSize2M);
  p.mmap(kHeap, 4 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) p.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  const auto leaf = m.os.builder().lookup(m.root(1), kHeap);
  ASSERT_TRUE(leaf);
  const Addr held = m.frames.bytes_allocated();
  p.munmap(kHeap, 4 * kPageSize4K);
  p.compute(1);
  m.run();
  // The table of [kHeap, kHeap + 2 MiB) is gone with its four pages; the neighbour's stays.
  EXPECT_EQ(m.os.tables_freed.count(), 1u);
  EXPECT_EQ(m.frames.bytes_allocated(), held - 5 * kPageSize4K);
  EXPECT_TRUE(m.os.builder().lookup(m.root(1), kHeap + kPageSize2M));
}

TEST(GuestOs, AGatherFlushesTheRangeItClearedOnce) {
  Machine m;
  Script s;
  auto p = s.emit(1);
  p.mmap(kHeap, 10 * kPageSize4K, 3);
  p.store(kHeap);
  p.store(kHeap + 9 * kPageSize4K);
  p.munmap(kHeap, 10 * kPageSize4K);
  m.add_cpu(s);
  auto ran = m.run();
  // flush_tlb_mm_range covers the gather's range: ten pages, each invalidated.
  EXPECT_EQ(count(ran, Instruction::Invlpg), 10u);
  p.mmap(kHeap, 100 * kPageSize4K, 3);
  for (int i = 0; i < 34; ++i) p.store(kHeap + i * kPageSize4K);
  p.munmap(kHeap, 100 * kPageSize4K);
  ran = m.run();
  EXPECT_EQ(count(ran, Instruction::Invlpg), 0u);  // 34 pages, above the ceiling of 33: one flush
  EXPECT_EQ(count(ran, Instruction::MovToCr3), 1u);
}

TEST(GuestOs, AGatherFlushesWhenItIsFullAndAgainAtTheEnd) {
  // 9,698 pages fill one mmu_gather (8 on the stack, 19 batches of 510): the first 9,698 of
  // 9,699 cleared pages are flushed as one (above the ceiling: a CR3 reload), the last alone.
  Machine m;
  Script s;
  auto p = s.emit(1);
  const Addr pages = 9699;
  p.mmap(kHeap, pages * kPageSize4K, 3);
  for (Addr i = 0; i < pages; ++i) p.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  p.munmap(kHeap, pages * kPageSize4K);
  const auto ran = m.run();
  EXPECT_EQ(count(ran, Instruction::MovToCr3), 1u);
  EXPECT_EQ(count(ran, Instruction::Invlpg), 1u);
  EXPECT_EQ(m.os.pages_unmapped.count(), pages);
}

TEST(GuestOs, TheSeventhAddressSpaceOnAVcpuTakesAnAsidAndFlushes) {
  Machine m(/*pcid=*/true);
  Script s;
  auto one = s.emit(1);
  one.compute(1);
  for (std::uint32_t pid = 2; pid <= 7; ++pid) one.fork(pid);
  one.switch_to(2);
  for (std::uint32_t pid = 2; pid < 7; ++pid) s.emit(pid).switch_to(pid + 1);
  m.add_cpu(s);
  m.run();
  EXPECT_EQ(m.os.asid_evictions.count(), 1u);  // pid 7 took pid 1's ASID
  s.emit(7).switch_to(1);
  s.emit(1).switch_to(7);
  const auto cr3s = cr3_loads(m.run());
  ASSERT_EQ(cr3s.size(), 2u);
  EXPECT_FALSE(cr3s[0] >> 63);  // pid 1 lost its ASID: a new one, flushed
  EXPECT_EQ(m.os.asid_evictions.count(), 2u);
  EXPECT_TRUE(cr3s[1] >> 63);   // pid 7 kept its own: no flush
  for (Addr cr3 : cr3s) {
    EXPECT_GE(cr3 & 0xfff, 1u);  // PCIDs 1 to 6
    EXPECT_LE(cr3 & 0xfff, 6u);
  }
}

TEST(GuestOs, KernelDataIsReachedAtDirectMapAddresses) {
  Machine m;
  Script s;
  auto parent = s.emit(1);
  parent.mmap(kHeap, 4 * kPageSize4K, 3);
  for (int i = 0; i < 4; ++i) parent.store(kHeap + i * kPageSize4K);
  m.add_cpu(s);
  m.run();
  parent.fork(2);
  const auto ran = m.run();
  std::set<Addr> stored;
  unsigned loads = 0;
  for (const auto& e : ran) {
    if (e.kind != GuestEventKind::Memory) continue;
    EXPECT_GE(e.address, m.os.layout().direct_map);
    if (e.access == AccessKind::Store) stored.insert(e.address);
    else ++loads;
  }
  // Each shared page's struct page takes the new reference.
  for (int i = 0; i < 4; ++i) {
    const auto leaf = m.os.builder().lookup(m.root(1), kHeap + i * kPageSize4K);
    ASSERT_TRUE(leaf);
    EXPECT_TRUE(stored.count(m.os.page_struct_address(leaf->pa))) << i;
  }
  // dup_task_struct, dup_mm and the area's copy read the parent's objects line by line
  // (5888, 1600 and 192 bytes), besides the entries and struct pages.
  EXPECT_GE(loads, 92u + 25u + 3u + 4u);
}

TEST(GeneratedWorkload, PlainEventBatchesGiveTheSameStreamAsRecordsOneAtATime) {
  ParamRegistry registry;
  const GeneratorParameters parameters(Scope{&registry, nullptr, "workload"});
  GeneratorContext context;
  context.shape.footprint_bytes = 1 << 20;
  context.shape.accesses = 700;
  context.seed = 5;
  context.parameters = &parameters;
  const auto event_of = [](const TraceRecord& r) { return r.guest_event(); };
  for (const std::uint32_t compute : {0u, 3u}) {
    context.shape.compute_per_access = compute;
    GeneratedWorkload one("gups", context);
    std::vector<TraceRecord> expected;
    while (auto r = one.next()) expected.push_back(*r);
    ASSERT_GT(expected.size(), 1400u);
    for (const std::size_t max : {1u, 2u, 5u, 256u}) {
      for (const std::uint64_t budget : {1ull, 2ull, 4ull, ~0ull}) {
        GeneratedWorkload batched("gups", context);
        std::vector<GuestEvent> batch(max);
        std::size_t at = 0;
        for (int turn = 0;; ++turn) {
          if (turn % 3 == 2) {  // now and then a record through next(), as the guest OS takes them
            auto r = batched.next();
            if (!r) break;
            ASSERT_LT(at, expected.size());
            ASSERT_EQ(r->kind, expected[at].kind) << "record " << at;
            ASSERT_EQ(r->address, expected[at].address) << "record " << at;
            ASSERT_EQ(r->count, expected[at].count) << "record " << at;
            ++at;
            continue;
          }
          const EventBatch made = batched.plain_events(batch.data(), max, budget);
          const std::size_t n = made.events;
          if (!n) {
            if (!batched.next()) break;  // a process record (the setup's mmap) comes through next()
            ++at;
            continue;
          }
          // The counts that come with the batch are its events'.
          std::uint64_t batch_instructions = 0, batch_references = 0;
          for (std::size_t i = 0; i < n; ++i) {
            batch_instructions += tick_instructions(batch[i]);
            batch_references += batch[i].kind == GuestEventKind::Memory;
          }
          ASSERT_EQ(made.instructions, batch_instructions);
          ASSERT_EQ(made.references, batch_references);
          std::uint64_t left = budget;
          for (std::size_t i = 0; i < n; ++i, ++at) {
            const bool ends = ends_batch(batch[i], left);
            if (i + 1 < n) {
              ASSERT_FALSE(ends) << "a batch went on past its end at record " << at;
            }
            ASSERT_LT(at, expected.size());
            const auto want = event_of(expected[at]);
            ASSERT_TRUE(want) << "record " << at << " is not a plain event";
            ASSERT_EQ(batch[i].kind, want->kind) << "record " << at << " max " << max << " budget " << budget;
            ASSERT_EQ(batch[i].access, want->access) << "record " << at;
            ASSERT_EQ(batch[i].address, want->address) << "record " << at;
            ASSERT_EQ(batch[i].count, want->count) << "record " << at;
          }
        }
        EXPECT_EQ(at, expected.size()) << "compute " << compute << " max " << max << " budget " << budget;
        EXPECT_EQ(batched.memory_references(), one.memory_references());
      }
    }
  }
}

// The calibration microbenchmarks' counterparts make one event of their kind per operation:
// a zero-fill fault, a copy-on-write copy, or a round trip of two switches, two writes and
// two reads between two processes.
TEST(GeneratedWorkload, CalibrationGeneratorsMakeOneOperationOfTheirKindPerIteration) {
  ParamRegistry registry;
  const GeneratorParameters parameters(Scope{&registry, nullptr, "workload"});
  GeneratorContext context;
  context.operations = 40;
  context.shape.base = kHeap;
  context.parameters = &parameters;
  {
    GeneratedWorkload workload("first_touch", context);
    Machine m;
    m.add_cpu(workload);
    m.run();
    // The measured faults zero frames a warm-up area of as many pages freed before them, as
    // the native benchmark's faults take pages its previous area freed.
    EXPECT_EQ(m.os.pages_unmapped.count(), 40u);
    EXPECT_EQ(m.os.demand_faults.count(), 2u * 40u);
    EXPECT_EQ(m.os.cow_faults.count(), 0u);
  }
  {
    GeneratedWorkload workload("cow_fault", context);
    Machine m;
    m.add_cpu(workload);
    m.run();
    EXPECT_EQ(m.os.forks.count(), 1u);
    EXPECT_EQ(m.os.demand_faults.count(), 40u);  // the warm-up before the fork
    EXPECT_EQ(m.os.cow_faults.count(), 40u);
    EXPECT_EQ(m.os.cow_copies.count(), 40u);     // the child still shares every page
  }
  {
    GeneratedWorkload workload("pipe_pingpong", context);
    Machine m;
    m.add_cpu(workload);
    const auto ran = m.run();
    EXPECT_EQ(m.os.forks.count(), 1u);
    EXPECT_EQ(m.os.context_switches.count(), 2u + 2u * 40u);  // the peer's first read, then two per trip
    // Kernel entries: mmap, fork and the two first blocking reads, then per round trip two
    // writes and two blocking reads (each a switch), as natively.
    EXPECT_EQ(count(ran, Instruction::Syscall), 4u + 4u * 40u);
  }
}

}  // namespace
}  // namespace virtsim
