#include "virtsim/workloads/guest_os.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <stdexcept>

#include "virtsim/common/error.h"

namespace virtsim {

namespace {
// Vectors Linux uses (arch/x86/include/asm/irq_vectors.h): the local APIC timer and the
// function-call IPI that carries a TLB shootdown.
constexpr std::uint32_t kTimerVector = 0xec;
constexpr std::uint32_t kCallFunctionVector = 0xfb;
constexpr std::uint32_t kDeviceVector = 0x41;
// x2APIC MSRs (SDM vol. 3 11.12): the interrupt command register sends an IPI, EOI ends an
// interrupt, TSC_DEADLINE arms the next timer tick.
constexpr std::uint32_t kX2apicIcr = 0x830;
constexpr std::uint32_t kX2apicEoi = 0x80b;
constexpr std::uint32_t kTscDeadline = 0x6e0;
// Our copy-on-write mark: a software bit of the leaf (bits 11:9 are the OS's).
constexpr std::uint64_t kCowBit = 1ull << 9;
// The page-cache file of what exec mapped in a captured program (trace file ids count from 1).
constexpr std::uint32_t kImageFile = 0xffffffffu;
constexpr Addr kKernelStackBytes = 16 * 1024;
constexpr Addr kLine = 64;
// Pages one mmu_gather holds before it must flush (Linux 6.1 include/asm-generic/tlb.h): the
// on-stack bundle of 8, then at most 10000 / MAX_GATHER_BATCH batch pages of
// MAX_GATHER_BATCH = (4096 - 16) / 8 = 510 page pointers each (19 x 510).
constexpr std::size_t kGatherPages = 8 + 19 * 510;
// Kernel object sizes as this host's slab caches report them (/proc/slabinfo, Linux 6.18):
// object size with alignment, objects per slab, pages per slab.
constexpr Addr kVmaBytes = 192, kTaskBytes = 5888, kMmBytes = 1600;

// The kernel buffers reads and writes copy from and to, by object: a socket's buffer (an
// assumption: 16 pages of skb data), a window of the page cache (an assumption: 16 pages), a
// pipe's ring (Linux 6.1 include/linux/pipe_fs_i.h: PIPE_DEF_BUFFERS, 16 pages).
enum IoKind : unsigned { kSocketIo = 0, kFileIo = 1, kPipeIo = 2 };
constexpr Addr kIoBufferPages = 16;
// What an older trace's read or write (no byte count) is taken to move: the size its class's
// cost was measured at before byte counts existed (a loopback TCP read or write of 64 bytes,
// a pread or pwrite of a 4 KiB page).
constexpr std::uint64_t kUndescribedSocketBytes = 64, kUndescribedFileBytes = 4096;

Addr round_up(Addr v, Addr a) { return (v + a - 1) & ~(a - 1); }
Addr round_down(Addr v, Addr a) { return v & ~(a - 1); }

// Kernel instructions per SyscallClass: a class whose parameter is 0 costs a plain call.
// A read's and a write's base and the cost per line moved, by IoKind; a base at 0 costs a plain call.
std::array<GuestOs::IoCost, 3> io_costs(const GuestOsParameters& p) {
  const std::uint32_t plain = p.syscall_instructions;
  const auto or_plain = [plain](std::uint32_t v) { return v ? v : plain; };
  std::array<GuestOs::IoCost, 3> cost{};
  cost[kSocketIo] = {or_plain(p.syscall_read_instructions), or_plain(p.syscall_write_instructions),
                     p.syscall_socket_line_instructions};
  cost[kFileIo] = {or_plain(p.syscall_file_read_instructions), or_plain(p.syscall_file_write_instructions),
                   p.syscall_file_line_instructions};
  cost[kPipeIo] = {or_plain(p.syscall_pipe_read_instructions), or_plain(p.syscall_pipe_write_instructions),
                   p.syscall_pipe_line_instructions};
  return cost;
}

std::array<std::uint32_t, kSyscallClasses> syscall_costs(const GuestOsParameters& p) {
  const std::uint32_t plain = p.syscall_instructions;
  const auto or_plain = [plain](std::uint32_t v) { return v ? v : plain; };
  std::array<std::uint32_t, kSyscallClasses> cost{};
  cost.fill(plain);  // Plain, and Vdso when it enters the kernel
  cost[static_cast<std::size_t>(SyscallClass::Read)] = or_plain(p.syscall_read_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Write)] = or_plain(p.syscall_write_instructions);
  cost[static_cast<std::size_t>(SyscallClass::FileRead)] = or_plain(p.syscall_file_read_instructions);
  cost[static_cast<std::size_t>(SyscallClass::FileWrite)] = or_plain(p.syscall_file_write_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Wait)] = or_plain(p.syscall_wait_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Open)] = or_plain(p.syscall_open_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Close)] = or_plain(p.syscall_close_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Stat)] = or_plain(p.syscall_stat_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Fstat)] = or_plain(p.syscall_fstat_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Lseek)] = or_plain(p.syscall_lseek_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Epoll)] = or_plain(p.syscall_epoll_instructions);
  cost[static_cast<std::size_t>(SyscallClass::Poll)] = or_plain(p.syscall_poll_instructions);
  return cost;
}
}  // namespace

SyscallClass syscall_class(std::uint64_t number) {
  // Linux x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl) of the calls each class's
  // calibration benchmark stands for: reads and receives, writes and sends (of any descriptor),
  // reads and writes at an offset (of a file only: a pipe or socket refuses them), waits for ready
  // descriptors (epoll's, and poll's and select's), opens, close, stats by path (newfstatat
  // with a path, access checks walk the path too) and of an open descriptor, lseek, and the
  // vDSO's calls.
  static const auto table = [] {
    std::array<SyscallClass, 448> t{};
    const auto put = [&t](SyscallClass c, std::initializer_list<unsigned> numbers) {
      for (const unsigned n : numbers) t[n] = c;
    };
    put(SyscallClass::Read, {0, 19, 45, 47, 299});
    put(SyscallClass::Write, {1, 20, 44, 46, 307});
    put(SyscallClass::FileRead, {17, 295, 327});
    put(SyscallClass::FileWrite, {18, 296, 328});
    put(SyscallClass::Epoll, {232, 281, 441});
    put(SyscallClass::Poll, {7, 23, 270, 271});
    put(SyscallClass::Open, {2, 85, 257, 437});
    put(SyscallClass::Close, {3});
    put(SyscallClass::Stat, {4, 6, 21, 262, 269, 332, 439});
    put(SyscallClass::Fstat, {5});
    put(SyscallClass::Lseek, {8});
    put(SyscallClass::Vdso, {96, 201, 228, 229, 309});
    return t;
  }();
  return number < table.size() ? table[number] : SyscallClass::Plain;
}

AddressLayout address_layout(const std::string& name, TableFormat format) {
  const bool wide = format == TableFormat::Level4 || format == TableFormat::Level5;
  AddressLayout l;
  l.name = name;
  if (name == "linux64") {
    if (!wide) throw ConfigError("system.kernel.layout = \"linux64\" needs 4level or 5level paging (system.kernel.paging)");
    if (format == TableFormat::Level5) {
      l.user_end = Addr{1} << 56;
      l.kernel_base = 0xff00000000000000ull;
      l.direct_map = 0xff11000000000000ull;
    } else {
      l.user_end = Addr{1} << 47;
      l.kernel_base = 0xffff800000000000ull;
      l.direct_map = 0xffff888000000000ull;
    }
    l.direct_map_max = Addr{64} << 40;
  } else if (name == "linux32" || name == "windows32") {
    if (wide) throw ConfigError("system.kernel.layout = \"" + name + "\" needs 32bit or pae paging (system.kernel.paging)");
    const bool linux = name == "linux32";
    l.user_end = linux ? 0xc0000000ull : 0x80000000ull;
    l.kernel_base = l.user_end;
    l.direct_map = l.user_end;
    // Linux maps 896 MiB of low memory (the rest is highmem); the 2G/2G split leaves room for 1 GiB.
    l.direct_map_max = linux ? Addr{896} << 20 : Addr{1} << 30;
  } else {
    throw ConfigError("system.kernel.layout = \"" + name + "\": expected auto, linux64, linux32 or windows32");
  }
  return l;
}

// Kernel work defaults are the model's assumptions, not measured figures, and one to two orders of
// magnitude below the kernels measured (docs/calibration.md): the shipped machine presets set them
// in their generated blocks. They stay small because the unit tests and the regression cases on
// the default machine use them as small, fixed kernel work around the hardware they check. The
// flush ceiling is Linux's tlb_single_page_flush_ceiling (33).
GuestOsParameters::GuestOsParameters(const Scope& scope)
    : VIRTSIM_MEMBER(paging, scope, "4level", "", "paging mode of the kernel's page tables (CR0/CR4/EFER as Linux sets them for it)",
                     {}, {"32bit", "pae", "4level", "5level"}),
      VIRTSIM_MEMBER(layout, scope, "auto", "",
                     "address-space layout: linux64, linux32 (3G/1G), windows32 (2G/2G); auto picks linux64 for "
                     "4level/5level paging and linux32 otherwise",
                     {}, {"auto", "linux64", "linux32", "windows32"}),
      VIRTSIM_MEMBER(transparent_huge_pages, scope, false, "",
                     "anonymous memory is faulted in as 2 MiB pages (4 MiB with 32bit paging) where an aligned huge "
                     "page fits in the area"),
      VIRTSIM_MEMBER(zero_pages, scope, true, "", "a page faulted in is zeroed with stores through the direct map"),
      VIRTSIM_MEMBER(state_digest, scope, false, "",
                     "report kernel.state_digest: a hash of every live address space's leaf entries (A/D flags "
                     "included) and user pages, equal across native, shadow and nested paging for the same run"),
      VIRTSIM_MEMBER(memory_references, scope, true, "",
                     "the kernel's work loads and stores through the direct map (its stack, per-CPU data, page-table "
                     "entries, pages it zeroes or copies); off, kernel work is instructions only"),
      VIRTSIM_MEMBER(paravirt_mmu, scope, false, "",
                     "a paravirtualized kernel (Xen style): its page-table updates go to the hypervisor as batched "
                     "mmu_update hypercalls instead of stores into the tables (needs system.vmx.mode vmx or svm)"),
      VIRTSIM_MEMBER(syscall_instructions, scope, 300, "instructions",
                     "kernel instructions of a plain system call (assumption, about 6x below the kernels measured; "
                     "every shipped machine preset but prescott sets the calibration host's fitted 1776 "
                     "(epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_lines, scope, 8, "lines",
                     "cache lines of kernel stack and per-CPU data a system call touches (assumption)", Range{0, 1e6}),
      VIRTSIM_MEMBER(fault_instructions, scope, 1000, "instructions",
                     "kernel instructions to resolve a page fault, besides zeroing or copying the page (assumption, "
                     "about 20x below the kernels measured; every shipped machine preset but prescott sets the "
                     "calibration host's fitted 21420 (epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(fork_instructions, scope, 20000, "instructions",
                     "kernel instructions of a fork besides copying the page tables (assumption, about 20x below the "
                     "kernels measured; every shipped machine preset but prescott sets the calibration host's fitted "
                     "461623 (epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(exec_instructions, scope, 50000, "instructions",
                     "kernel instructions of an exec besides tearing down the old address space (assumption, about "
                     "100x below the kernels measured; every shipped machine preset but prescott sets the "
                     "calibration host's fitted 4977686 (epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(exit_instructions, scope, 10000, "instructions",
                     "kernel instructions of an exit besides tearing down the address space (assumption, about 60x "
                     "below the kernels measured; every shipped machine preset but prescott sets the calibration "
                     "host's fitted 610921 (epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(mmap_instructions, scope, 1000, "instructions",
                     "kernel instructions of mmap, munmap or brk besides the page-table work (assumption, about 35x "
                     "below the kernels measured; every shipped machine preset but prescott sets the calibration "
                     "host's fitted 36638 (epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(switch_instructions, scope, 2000, "instructions",
                     "kernel instructions of a context switch (assumption, about 15x below the kernels measured; "
                     "every shipped machine preset but prescott sets the calibration host's fitted 32966 "
                     "(epyc-kvm.toml, docs/calibration.md))",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(interrupt_instructions, scope, 500, "instructions",
                     "kernel instructions of a device interrupt handler (assumption)", Range{0, 1e8}),
      VIRTSIM_MEMBER(shootdown_instructions, scope, 300, "instructions",
                     "kernel instructions of the TLB-shootdown IPI handler on the receiving vCPU (assumption)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(flush_ceiling, scope, 33, "pages",
                     "an invalidation of more pages than this flushes the address space's TLB entries instead "
                     "(Linux tlb_single_page_flush_ceiling)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(timer_instructions, scope, 2000, "instructions", "kernel instructions of a timer tick (assumption)",
                     Range{0, 1e8}),
      // Linux batches a PV kernel's hypercalls in a multicall buffer of MC_BATCH = 32 entries
      // (arch/x86/xen/multicalls.h).
      VIRTSIM_MEMBER(pv_batch, scope, 32, "updates",
                     "paravirtual MMU: page-table updates per mmu_update hypercall at most", Range{1, 1e6}),
      VIRTSIM_MEMBER(pte_copy_instructions, scope, 40, "instructions",
                     "kernel instructions per present entry fork copies (copy_present_pte and the page's reference "
                     "counts), besides its loads and stores (assumption until the calibration preset sets it)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(pte_zap_instructions, scope, 60, "instructions",
                     "kernel instructions per present entry exit, exec, munmap and brk clear (zap_pte_range, the "
                     "reverse-map update and the page's release through mmu_gather), besides its loads and stores "
                     "(assumption until the calibration preset sets it)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(page_free_instructions, scope, 0, "instructions",
                     "kernel instructions to free a page whose last reference goes (release_pages: off its LRU "
                     "list, its memory-cgroup charge dropped, onto the per-CPU free list), besides its loads and "
                     "stores; 0: folded into the other costs (the default, an assumption; the calibration preset "
                     "fits it)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(timer_interval, scope, 8000000, "instructions",
                     "instructions, user and kernel, between timer interrupts (4 ms, Linux HZ=250, at 2 GHz and "
                     "CPI 1); 0: no timer",
                     Range{0, 1e15}),
      VIRTSIM_MEMBER(syscall_read_instructions, scope, 0, "instructions",
                     "kernel instructions of a read-class system call (read, readv, recvfrom, recvmsg, recvmmsg); 0: "
                     "syscall_instructions (the calibration preset sets it from a measured read)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_write_instructions, scope, 0, "instructions",
                     "kernel instructions of a write-class system call (write, writev, sendto, sendmsg, sendmmsg); "
                     "0: syscall_instructions (the calibration preset sets it from a measured write)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_file_read_instructions, scope, 0, "instructions",
                     "kernel instructions of a read at an offset, of a file (pread64, preadv, preadv2); 0: "
                     "syscall_instructions (the calibration preset sets it from a measured pread of a cached file)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_file_write_instructions, scope, 0, "instructions",
                     "kernel instructions of a write at an offset, of a file (pwrite64, pwritev, pwritev2); 0: "
                     "syscall_instructions (the calibration preset sets it from a measured pwrite over cached pages)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_wait_instructions, scope, 0, "instructions",
                     "kernel instructions of a wait for ready descriptors that may sleep (epoll_wait, epoll_pwait, "
                     "epoll_pwait2, poll, ppoll, select, pselect6 with a timeout that is not 0; in a trace older than "
                     "format 5, any); 0: syscall_instructions (the calibration preset sets it from a measured wait "
                     "that sleeps)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_open_instructions, scope, 0, "instructions",
                     "kernel instructions of an open (open, openat, openat2, creat); 0: syscall_instructions (the "
                     "calibration preset sets it from a measured openat)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_close_instructions, scope, 0, "instructions",
                     "kernel instructions of a close; 0: syscall_instructions (the calibration preset sets it from a "
                     "measured close)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_stat_instructions, scope, 0, "instructions",
                     "kernel instructions of a stat by path (stat, lstat, newfstatat, statx, access, faccessat); 0: "
                     "syscall_instructions (the calibration preset sets it from a measured newfstatat)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_fstat_instructions, scope, 0, "instructions",
                     "kernel instructions of an fstat; 0: syscall_instructions (the calibration preset sets it from a "
                     "measured fstat)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_lseek_instructions, scope, 0, "instructions",
                     "kernel instructions of an lseek; 0: syscall_instructions (the calibration preset sets it from a "
                     "measured lseek)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(vdso_instructions, scope, 0, "instructions",
                     "user instructions of a call the vDSO serves without entering the kernel (gettimeofday, "
                     "clock_gettime, time, getcpu); 0: such a call is a system call of syscall_instructions, as "
                     "under a kernel without a vDSO (the calibration preset sets it from a measured clock_gettime)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_epoll_instructions, scope, 0, "instructions",
                     "kernel instructions of an epoll wait that cannot sleep (epoll_wait, epoll_pwait, epoll_pwait2 "
                     "with timeout 0; trace format 5); 0: syscall_instructions (the calibration preset sets it from a "
                     "measured epoll_wait that returns at once)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_poll_instructions, scope, 0, "instructions",
                     "kernel instructions of a poll or select that cannot sleep (poll, ppoll, select, pselect6 with "
                     "timeout 0; trace format 5); 0: syscall_instructions (the calibration preset sets it from a "
                     "measured poll that returns at once)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_pipe_read_instructions, scope, 0, "instructions",
                     "kernel instructions of a read of a pipe (trace format 5), beyond its per-line cost; 0: "
                     "syscall_instructions (the calibration preset sets it from a measured 64-byte pipe read)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_pipe_write_instructions, scope, 0, "instructions",
                     "kernel instructions of a write to a pipe (trace format 5), beyond its per-line cost; 0: "
                     "syscall_instructions (the calibration preset sets it from a measured 64-byte pipe write)",
                     Range{0, 1e8}),
      VIRTSIM_MEMBER(syscall_socket_line_instructions, scope, 0, "instructions",
                     "kernel instructions per 64-byte line a read or write of a socket (or of a descriptor the trace "
                     "does not know) moves, beyond the copy's loads and stores (the calibration preset sets it from "
                     "a measured 4 KiB loopback TCP read)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(syscall_file_line_instructions, scope, 0, "instructions",
                     "kernel instructions per 64-byte line a read or write of a regular file moves, beyond the "
                     "copy's loads and stores (the calibration preset sets it from a measured 64 KiB pread)",
                     Range{0, 1e6}),
      VIRTSIM_MEMBER(syscall_pipe_line_instructions, scope, 0, "instructions",
                     "kernel instructions per 64-byte line a read or write of a pipe moves, beyond the copy's loads "
                     "and stores (the calibration preset sets it from a measured 4 KiB pipe read)",
                     Range{0, 1e6}),
      page_cache(scope) {}

TraceRecordSource::TraceRecordSource(const std::string& path) : path_(path), reader_(path) {
  std::error_code error;
  if (std::filesystem::is_regular_file(path, error)) file_bytes_ = std::filesystem::file_size(path, error);
}

double TraceRecordSource::progress() const {
  if (!file_bytes_) return -1.0;
  return std::min(1.0, static_cast<double>(reader_.record_offset()) / static_cast<double>(file_bytes_));
}

std::optional<TraceRecord> TraceRecordSource::next() {
  if (held_) {
    std::optional<TraceRecord> r;
    r.swap(held_);
    return r;
  }
  return reader_.next();
}

EventBatch TraceRecordSource::plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) {
  // One block at most, so that every record of the run has the block offset position() gives.
  EventBatch batch;
  TraceRecord other;
  while (batch.events < max && !held_ && (batch.events == 0 || reader_.records_left_in_block() > 0)) {
    // The plain records of the block in one go, then whatever ends them one at a time.
    const EventBatch plain =
        reader_.next_plain_events(out + batch.events, max - batch.events, budget - batch.instructions);
    batch += plain;
    // Plain records end a batch only by their instructions reaching the budget.
    if (batch.instructions >= budget || batch.events == max) break;
    if (plain.events > 0 && reader_.records_left_in_block() == 0) break;
    GuestEvent& e = out[batch.events];
    const int got = reader_.next_event(e, other);
    if (got < 0) break;
    if (got == 0) {
      held_ = other;
      break;
    }
    if (batch.add(e, budget)) break;
  }
  return batch;
}

std::string TraceRecordSource::position(std::uint64_t ahead) const {
  const std::uint64_t record = reader_.records_read() - ahead - (held_ ? 1 : 0);
  return path_ + ", record " + std::to_string(record) + " (in the block at byte " +
         std::to_string(reader_.record_offset()) + ")";
}

// The per-vCPU view the vCPU pulls guest events from. Plain events of the running process come
// in runs straight from the record source; kernel work, interrupts and process records go one
// event at a time through the vCPU's pending queue.
class GuestOs::CpuStream final : public GuestEventSource {
 public:
  CpuStream(GuestOs& os, Cpu& cpu) : os_(os), cpu_(cpu) {}
  // Kernel work is being queued for this vCPU (a page fault, a shootdown IPI): the rest of the
  // run it is in waits behind that work, as records not yet read would.
  void interrupt_run() {
    if (next_ == end_) return;
    resume_begin_ = next_;
    resume_end_ = end_;
    next_ = end_ = nullptr;
  }
  // Events handed out and not yet run.
  std::uint64_t ahead() const {
    return static_cast<std::uint64_t>((end_ - next_) + (resume_end_ - resume_begin_));
  }
  // The vCPU has taken its last event (the stream's end or its RoiEnd) and stopped: work queued
  // for it now would never run. The last event handed out is next_[-1], or single_ when it came
  // alone.
  bool stopped() const {
    return ended_ || (next_ ? next_[-1] : single_).kind == GuestEventKind::RoiEnd;
  }

 private:
  friend class GuestOs;
  const GuestEvent* refill() override {
    const GuestEvent* e = os_.refill(cpu_);
    ended_ = !e;
    return e;
  }
  const GuestEvent* give(const GuestEvent& e) {
    single_ = e;
    next_ = end_ = nullptr;
    return &single_;
  }
  GuestOs& os_;
  Cpu& cpu_;
  GuestEvent run_[256];
  GuestEvent single_;
  const GuestEvent* resume_begin_ = nullptr;
  const GuestEvent* resume_end_ = nullptr;
  bool ended_ = false;
};

GuestEventSource& GuestOs::events(unsigned cpu) { return *cpus_.at(cpu)->stream; }
std::uint64_t GuestOs::events_ahead(const Cpu& cpu) const { return cpu.stream->ahead(); }
GuestOs::~GuestOs() = default;

GuestOs::GuestOs(const Scope& scope, const GuestOsParameters& parameters, MemoryView memory, FrameAllocator& frames,
                 bool pcid)
    : VIRTSIM_MEMBER(processes_created, scope, "processes", "processes started (first ones and forks)"),
      VIRTSIM_MEMBER(forks, scope, "forks", "fork system calls (copy-on-write address-space copies)"),
      VIRTSIM_MEMBER(execs, scope, "execs", "exec system calls (address space replaced)"),
      VIRTSIM_MEMBER(exits, scope, "exits", "processes that exited (address space torn down)"),
      VIRTSIM_MEMBER(syscalls, scope, "syscalls",
                     "system calls of every kind, the process records' included (the capture tool's aside)"),
      VIRTSIM_MEMBER(mmaps, scope, "calls", "mmap system calls of the programs (mmap records not tagged tool)"),
      VIRTSIM_MEMBER(munmaps, scope, "calls", "munmap system calls of the programs (of a range not all the tool's)"),
      VIRTSIM_MEMBER(tool_mappings, scope, "records",
                     "mmap, mprotect and munmap records of the capture tool's own mappings (Valgrind's preloaded "
                     "objects): applied at no system call's cost, not counted as calls"),
      VIRTSIM_MEMBER(vdso_calls, scope, "calls",
                     "syscall records the vDSO serves in user mode (with system.kernel.vdso_instructions set)"),
      VIRTSIM_MEMBER(context_switches, scope, "switches", "context switches (MOV to CR3 to another address space)"),
      VIRTSIM_MEMBER(demand_faults, scope, "faults", "page faults that mapped a new page"),
      VIRTSIM_MEMBER(cow_faults, scope, "faults", "write faults on copy-on-write pages"),
      VIRTSIM_MEMBER(cow_copies, scope, "faults", "copy-on-write faults that copied the page (still shared)"),
      VIRTSIM_MEMBER(huge_pages, scope, "pages", "transparent huge pages faulted in"),
      VIRTSIM_MEMBER(spurious_faults, scope, "faults", "faults another vCPU had already resolved (stale TLB entry)"),
      VIRTSIM_MEMBER(pages_unmapped, scope, "pages", "leaf mappings removed by munmap, brk, exec and exit"),
      VIRTSIM_MEMBER(invlpgs, scope, "instructions", "INVLPGs the kernel issued"),
      VIRTSIM_MEMBER(tlb_flushes, scope, "flushes", "address-space TLB flushes (CR3 reloads) the kernel issued"),
      VIRTSIM_MEMBER(shootdown_ipis, scope, "IPIs", "TLB-shootdown IPIs sent to other vCPUs"),
      VIRTSIM_MEMBER(timer_interrupts, scope, "interrupts", "timer interrupts"),
      VIRTSIM_MEMBER(preemptions, scope, "switches", "timer ticks that switched to another runnable process"),
      VIRTSIM_MEMBER(device_interrupts, scope, "interrupts", "device interrupts (interrupt records)"),
      VIRTSIM_MEMBER(pcid_reuses, scope, "switches", "context switches that kept the TLB entries of the PCID (CR3 bit 63)"),
      VIRTSIM_MEMBER(asid_evictions, scope, "switches",
                     "context switches that took one of a vCPU's 6 ASIDs from another address space (and flushed it)"),
      VIRTSIM_MEMBER(entries_cleared, scope, "entries",
                     "page-table entries the kernel cleared: leaves (zap) and entries of freed tables (free_pgtables)"),
      VIRTSIM_MEMBER(kernel_references, scope, "accesses", "kernel loads and stores in the direct map"),
      VIRTSIM_MEMBER(pv_hypercalls, scope, "hypercalls", "paravirtual MMU: mmu_update hypercalls made"),
      VIRTSIM_MEMBER(pv_updates, scope, "updates", "paravirtual MMU: page-table updates those hypercalls carried"),
      VIRTSIM_MEMBER(tables_freed, scope, "tables", "page-table pages freed"),
      VIRTSIM_MEMBER(frames_freed, scope, "frames", "4 KiB frames given back to the allocator"),
      VIRTSIM_MEMBER(frames_in_use, scope, "frames", "guest-physical frames held by processes, page tables and the kernel",
                     [this] { return static_cast<double>(frames_.bytes_allocated() / kPageSize4K); }),
      VIRTSIM_MEMBER(state_digest, scope, "", "system.kernel.state_digest: the guest's final state hash (52 bits; 0 when off)",
                     [this] { return p_.state_digest ? static_cast<double>(digest() & ((std::uint64_t{1} << 52) - 1)) : 0.0; }),
      page_cache(scope, parameters.page_cache,
                 [this] {
                   const Addr frame = allocate_frame(kPageSize4K);  // the cache's reference
                   memory_.zero_frame(frame);
                   return frame;
                 }),
      p_(parameters),
      memory_(std::move(memory)),
      frames_(frames),
      builder_(memory_, frames_, parse_table_format(parameters.paging)),
      pcid_(pcid && (builder_.format() == TableFormat::Level4 || builder_.format() == TableFormat::Level5)),
      timer_interval_(parameters.timer_interval),
      syscall_cost_(syscall_costs(parameters)),
      io_costs_(io_costs(parameters)) {
  const TableFormat f = builder_.format();
  const bool wide = f == TableFormat::Level4 || f == TableFormat::Level5;
  layout_ = address_layout(parameters.layout.get() == "auto" ? (wide ? "linux64" : "linux32") : parameters.layout.get(), f);
  const Addr huge = f == TableFormat::Bits32 ? kPageSize4M : kPageSize2M;
  page_offset_mask_ = parameters.transparent_huge_pages ? huge - 1 : kPageSize4K - 1;
  refcounts_ = FrameArray<std::uint16_t>(frames_.end());

  // swapper_pg_dir: the direct map of guest-physical memory in large global supervisor pages,
  // which every address space shares through its root's kernel half.
  kernel_root_ = builder_.new_root();
  give_pae_directories(kernel_root_, Addr{4} << 30);
  direct_map_bytes_ = round_down(std::min(frames_.end(), layout_.direct_map_max), huge);
  const MappingFlags kernel_data{true, false, false, true};
  for (Addr gpa = 0; gpa < direct_map_bytes_; gpa += huge)
    builder_.map(kernel_root_, layout_.direct_map + gpa, gpa, huge, kernel_data);
  const Addr memmap_bytes = (frames_.end() >> kPageShift4K) * kStructPageBytes;
  memmap_ = frames_.allocate(static_cast<std::size_t>(round_up(memmap_bytes, kPageSize4K) / kPageSize4K));
  vma_slab_ = Slab{kVmaBytes, 21, 1, {}};
  task_slab_ = Slab{kTaskBytes, 5, 8, {}};
  mm_slab_ = Slab{kMmBytes, 20, 8, {}};
  builder_.set_table_added([this](Addr table, Addr slot) { table_added(table, slot); });
}

PagingControls GuestOs::add_cpu(ProcessEventSource& source, bool thread_of_cpu0) {
  auto cpu = std::make_unique<Cpu>();
  cpu->index = static_cast<unsigned>(cpus_.size());
  if (cpu->index >= 64) throw ConfigError("the guest OS model runs at most 64 vCPUs");
  cpu->source = &source;
  cpu->stream = std::make_unique<CpuStream>(*this, *cpu);
  cpu->per_cpu = allocate_frame(kPageSize4K);
  Cpu& c = *cpu;
  cpus_.push_back(std::move(cpu));
  std::shared_ptr<Mm> mm;
  if (thread_of_cpu0 && c.index > 0 && cpus_.front()->current) mm = cpus_.front()->current->mm;
  else mm = new_mm(source.implicit_user_memory());
  Process& first = start_process(c, 1, mm);
  c.current = &first;
  if (source.runs_in_kernel()) enter_kernel(c);
  mm->active_cpus |= std::uint64_t{1} << c.index;
  PagingControls controls;
  controls.format = builder_.format();
  bool no_flush = false;
  controls.cr3 = cr3_of(c, *mm, no_flush);
  c.loaded = mm;
  controls.no_execute = controls.format != TableFormat::Bits32;
  load_cr3(controls);
  return controls;
}

void GuestOs::load_cr3(PagingControls& controls) const {
  if (controls.format == TableFormat::Pae) load_pae_pdptes(memory_.read, controls);
}

double GuestOs::progress() const {
  double done = 0;
  unsigned known = 0;
  for (const auto& c : cpus_) {
    const double p = c->source->progress();
    if (p >= 0) done += p, ++known;
  }
  return known ? done / known : -1.0;
}

std::uint64_t GuestOs::memory_references() const {
  std::uint64_t n = kernel_references_issued_;
  for (const auto& c : cpus_) n += c->source->memory_references();
  return n;
}

std::uint64_t GuestOs::digest() const {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](std::uint64_t v) {
    h = (h ^ v) * 0x100000001b3ull;
    h ^= h >> 29;
  };
  for (const auto& [pid, root] : address_spaces()) {
    mix(pid);
    builder_.for_each_leaf(root, 0, ~Addr{0}, [&](const PageTableBuilder::Leaf& l) {
      mix(l.va);
      mix(l.entry);
      if (l.va < layout_.user_end)
        for (Addr off = 0; off < l.page_size; off += 8) mix(memory_.read(l.pa + off, 8));
    });
  }
  if (const std::uint64_t cpu_state = cpu_state_digest_ ? cpu_state_digest_() : 0) mix(cpu_state);
  return h;
}

std::vector<std::pair<std::uint32_t, Addr>> GuestOs::address_spaces() const {
  std::vector<std::pair<std::uint32_t, Addr>> out;
  for (const auto& [key, p] : processes_) out.emplace_back(p.pid, p.mm->root);
  return out;
}

void GuestOs::fail(const Cpu& cpu, const std::string& what) const {
  throw FileError("guest OS: " + what + " (vCPU " + std::to_string(cpu.index) + ", " +
                  cpu.source->position(cpu.stream->ahead()) + ")");
}

// ---- frames ----

Addr GuestOs::allocate_frame(Addr page_size) {
  const Addr frame = page_size == kPageSize4K ? frames_.allocate() : frames_.allocate(page_size / kPageSize4K, page_size);
  refcount(frame) = 1;
  return frame;
}

Addr GuestOs::slab_alloc(Slab& slab) {
  if (slab.free.empty()) {
    const Addr base = frames_.allocate(slab.slab_pages, kPageSize4K);
    for (unsigned i = slab.per_slab; i-- > 0;) slab.free.push_back(base + i * slab.object_bytes);
  }
  const Addr object = slab.free.back();
  slab.free.pop_back();
  return object;
}

void GuestOs::slab_free(Cpu& cpu, Slab& slab, Addr object) {
  if (!object) return;
  kernel_access(cpu, AccessKind::Store, object);  // the slab's free pointer goes into the object
  slab.free.push_back(object);
}

void GuestOs::touch(Cpu& cpu, AccessKind kind, Addr object, Addr bytes) {
  for (Addr line = round_down(object, kLine); line < object + bytes; line += kLine) kernel_access(cpu, kind, line);
}

void GuestOs::copy_object(Cpu& cpu, Addr from, Addr to, Addr bytes) {
  for (Addr off = 0; off < bytes; off += kLine) {
    kernel_access(cpu, AccessKind::Load, from + off);
    kernel_access(cpu, AccessKind::Store, to + off);
  }
}

void GuestOs::new_vma_object(Cpu& cpu, Vma& v) {
  v.object = slab_alloc(vma_slab_);
  touch(cpu, AccessKind::Store, v.object, kVmaBytes);  // vm_area_alloc zeroes it, then its fields are set
}

void GuestOs::table_added(Addr table, Addr slot) {
  if (!table_cpu_) return;  // the boot's tables: no kernel work to charge
  Cpu& cpu = *table_cpu_;
  // pte_alloc and friends: a zeroed page (its struct page set up), then the entry above it.
  kernel_access(cpu, AccessKind::Store, page_struct(table));
  clear_page(cpu, table);
  page_table_store(cpu, slot);
}

void GuestOs::charge_new_mm(Cpu& cpu, Mm& mm, const Mm* from) {
  if (from) copy_object(cpu, from->object, mm.object, kMmBytes);  // dup_mm copies the parent's mm_struct
  else touch(cpu, AccessKind::Store, mm.object, kMmBytes);        // mm_alloc clears it
  // pgd_alloc: a zeroed root whose kernel half is copied from swapper_pg_dir.
  const Addr root = mm.root & ~Addr{0xfff};
  kernel_access(cpu, AccessKind::Store, page_struct(root));
  clear_page(cpu, root);
  // The kernel's share of the root: the upper half of a 4- or 5-level root, the entries from
  // kernel_base up of a 32-bit directory, the last PDPTE of a PAE one.
  const TableFormat f = builder_.format();
  const Addr kernel_bytes = f == TableFormat::Pae      ? 8
                            : f == TableFormat::Bits32 ? ((Addr{1} << 32) - layout_.kernel_base) >> 22 << 2
                                                       : kPageSize4K / 2;
  const Addr offset = (f == TableFormat::Pae ? 32 : kPageSize4K) - kernel_bytes;
  touch(cpu, AccessKind::Load, (kernel_root_ & ~Addr{0xfff}) + offset, kernel_bytes);
  touch(cpu, AccessKind::Store, root + offset, kernel_bytes);
}

void GuestOs::put_frame(Cpu& cpu, Addr frame, Addr page_size) {
  std::uint16_t& n = refcount(frame);
  if (n == 0) throw std::logic_error("guest OS: frame " + to_hex(frame) + " freed twice");
  kernel_access(cpu, AccessKind::Load, page_struct(frame));  // the reference count and map count drop
  kernel_access(cpu, AccessKind::Store, page_struct(frame));
  if (--n) return;
  if (p_.page_free_instructions) cpu.pending.push_back(GuestEvent::compute(p_.page_free_instructions));
  // Freed only after this vCPU ran the invalidations queued for it (Linux's mmu_gather).
  for (Addr a = frame; a < frame + page_size; a += kPageSize4K) cpu.deferred_free.push_back(a);
}

// ---- processes and address spaces ----

void GuestOs::give_pae_directories(Addr root, Addr end) {
  // PAE: every PDPTE below `end` present from the start (as Linux does), so the PDPTE
  // registers loaded at MOV to CR3 stay valid whatever is mapped later.
  if (builder_.format() != TableFormat::Pae) return;
  for (Addr quarter = 0; (quarter << 30) < end; ++quarter) {
    builder_.map(root, quarter << 30, 0, kPageSize4K);
    builder_.unmap(root, quarter << 30);
  }
}

std::shared_ptr<GuestOs::Mm> GuestOs::new_mm(bool implicit_user) {
  auto mm = std::make_shared<Mm>();
  mm->id = next_mm_id_++;
  mm->root = builder_.new_root();
  mm->object = slab_alloc(mm_slab_);
  mm->implicit_user = implicit_user;
  give_pae_directories(mm->root, layout_.kernel_base);  // the user quarters: directories of its own
  builder_.share_root_entries(kernel_root_, mm->root, layout_.kernel_base, ~Addr{0});
  return mm;
}

GuestOs::Process& GuestOs::start_process(Cpu& cpu, std::uint32_t pid, std::shared_ptr<Mm> mm, Addr task) {
  const auto key = std::make_pair(cpu.index, pid);
  if (processes_.count(key)) fail(cpu, "process " + std::to_string(pid) + " started twice");
  Process& p = processes_[key];
  p.pid = pid;
  p.mm = std::move(mm);
  ++p.mm->users;
  if (!free_kernel_stacks_.empty()) {
    p.kernel_stack = free_kernel_stacks_.back();
    free_kernel_stacks_.pop_back();
  } else {
    p.kernel_stack = frames_.allocate(kKernelStackBytes / kPageSize4K, kKernelStackBytes);
  }
  p.task = task ? task : slab_alloc(task_slab_);
  ++processes_created;
  return p;
}

GuestOs::Process& GuestOs::process(const Cpu& cpu, std::uint32_t pid, const char* record) {
  const auto it = processes_.find({cpu.index, pid});
  if (it == processes_.end())
    fail(cpu, std::string("a ") + record + " record names process " + std::to_string(pid) +
                  ", which never started or has exited (events out of order)");
  return it->second;
}

const GuestOs::Vma* GuestOs::find_vma(const Mm& mm, Addr va) const {
  auto it = mm.vmas.upper_bound(va);
  if (it == mm.vmas.begin()) return nullptr;
  --it;
  return va < it->second.end ? &it->second : nullptr;
}

void GuestOs::add_vma(Cpu& cpu, Mm& mm, Addr start, Addr end, bool writable, bool executable) {
  if (end <= start || end > layout_.user_end)
    fail(cpu, "memory area [" + to_hex(start) + ", " + to_hex(end) + ") is outside the user address space of layout " +
                  layout_.name + " (which ends at " + to_hex(layout_.user_end) + ")");
  unmap_range(cpu, mm, start, end);  // MAP_FIXED semantics: whatever was there goes
  Vma& v = mm.vmas[start] = Vma{start, end, writable, executable};
  new_vma_object(cpu, v);
}

bool GuestOs::tool_range(const Mm& mm, Addr begin, Addr end) const {
  // Every page of [begin, end) in an area of the capture tool's (areas never overlap).
  Addr covered = round_down(begin, kPageSize4K);
  const Addr last = round_up(end, kPageSize4K);
  if (covered >= last) return false;
  auto it = mm.vmas.upper_bound(covered);
  if (it == mm.vmas.begin()) return false;
  for (--it; it != mm.vmas.end() && covered < last; ++it) {
    if (it->second.start > covered || it->second.end <= covered || !it->second.tool) return false;
    covered = it->second.end;
  }
  return covered >= last;
}

void GuestOs::unmap_range(Cpu& cpu, Mm& mm, Addr begin, Addr end) {
  // Trim or split the areas that overlap [begin, end): each is read; a split copies it into a
  // new object (__split_vma), a trimmed one has its bounds rewritten, a removed one is freed.
  bool overlapped = false;
  for (auto it = mm.vmas.begin(); it != mm.vmas.end();) {
    Vma v = it->second;
    if (v.end <= begin || v.start >= end) {
      ++it;
      continue;
    }
    overlapped = true;
    if (v.object) kernel_access(cpu, AccessKind::Load, v.object);
    it = mm.vmas.erase(it);
    Addr keep = v.object;
    if (v.start < begin) {
      Vma& low = mm.vmas[v.start] = v;
      low.end = begin;
      if (keep) kernel_access(cpu, AccessKind::Store, keep);
      keep = 0;
    }
    if (v.end > end) {
      Vma& high = mm.vmas[end] = v;
      high.start = end;
      high.object = keep;
      if (v.object && !keep) {
        high.object = slab_alloc(vma_slab_);
        copy_object(cpu, v.object, high.object, kVmaBytes);
      } else if (keep) {
        kernel_access(cpu, AccessKind::Store, keep);
      }
      keep = 0;
    }
    if (keep) slab_free(cpu, vma_slab_, keep);
  }
  // No area there, nothing mapped (a captured program's pages outside its areas aside): as
  // Linux's munmap and mmap of a free range, no page-table work.
  if (!overlapped && !mm.implicit_user) return;
  // unmap_region: zap the range, free the tables nothing maps any more (between the areas on
  // either side), then the one flush of the gather.
  TlbGather gather;
  zap_range(cpu, mm, begin, end, gather);
  Addr floor = begin, ceiling = end;
  if (!mm.implicit_user) {  // a captured program's pages outside any area keep their tables
    const auto next = mm.vmas.lower_bound(end);
    ceiling = next == mm.vmas.end() ? layout_.user_end : next->second.start;
    floor = next == mm.vmas.begin() ? 0 : std::prev(next)->second.end;
  }
  free_pgtables(cpu, mm, floor, ceiling);
  flush_gather(cpu, mm, gather);
}

void GuestOs::zap_range(Cpu& cpu, Mm& mm, Addr begin, Addr end, TlbGather& gather) {
  // A huge page partly inside is dropped whole: the area lost part of it.
  std::vector<PageTableBuilder::Leaf> leaves;
  const Addr from = round_down(begin, page_offset_mask_ + 1);
  builder_.for_each_leaf(mm.root, from, end, [&](const PageTableBuilder::Leaf& l) {
    if (l.va + l.page_size > begin) leaves.push_back(l);
  });
  if (leaves.empty()) return;
  cpu.pending.push_back(GuestEvent::compute(std::uint64_t{p_.pte_zap_instructions} * leaves.size()));
  for (const auto& l : leaves) {
    // ptep_get_and_clear: the entry read (its dirty bit with it) and cleared in place, a store
    // a shadow-paging VMM watching the table traps; then the page's reverse map and reference.
    kernel_access(cpu, AccessKind::Load, l.slot);
    builder_.write_leaf(l, 0);
    page_table_store(cpu, l.slot);
    ++entries_cleared;
    put_frame(cpu, l.pa, l.page_size);
    ++pages_unmapped;
    gather.start = std::min(gather.start, l.va);
    gather.end = std::max(gather.end, l.va + l.page_size);
    gather.stride = std::min(gather.stride, l.page_size);
    if (++gather.pages == kGatherPages) flush_gather(cpu, mm, gather);
  }
}

void GuestOs::flush_gather(Cpu& cpu, Mm& mm, TlbGather& gather) {
  if (gather.pages) flush_tlb_range(cpu, mm, gather.start, gather.end, gather.stride);
  gather = TlbGather{};
}

void GuestOs::free_pgtables(Cpu& cpu, Mm& mm, Addr floor, Addr ceiling) {
  // The tables wait, with the frames, for the flush and the switch away queued before them.
  std::vector<Addr> cleared;
  const std::uint64_t before = builder_.tables_released();
  const std::size_t first_freed = cpu.deferred_free.size();
  builder_.release_unused_tables(mm.root, floor, ceiling, &cpu.deferred_free, cleared);
  tables_freed += builder_.tables_released() - before;
  for (Addr slot : cleared) {
    kernel_access(cpu, AccessKind::Load, slot);
    page_table_store(cpu, slot);
  }
  entries_cleared += cleared.size();
  for (std::size_t i = first_freed; i < cpu.deferred_free.size(); ++i)
    kernel_access(cpu, AccessKind::Store, page_struct(cpu.deferred_free[i]));
}

void GuestOs::release_mm(Cpu& cpu, const std::shared_ptr<Mm>& mm) {
  kernel_access(cpu, AccessKind::Load, mm->object);  // mmput: the user count drops
  kernel_access(cpu, AccessKind::Store, mm->object);
  if (--mm->users) return;
  // exit_mmap: every area zapped (each read, then freed), every user table freed, then the
  // gather's flush: a vCPU that still has the address space loaded while running nothing
  // (lazy TLB, as the exiting one has) switches to the kernel's tables instead.
  TlbGather gather;
  for (auto& [start, v] : mm->vmas)
    if (v.object) kernel_access(cpu, AccessKind::Load, v.object);
  zap_range(cpu, *mm, 0, layout_.user_end, gather);
  free_pgtables(cpu, *mm, 0, layout_.user_end);
  // Nobody runs it any more: every vCPU that has it loaded does so lazily, and the flush (an
  // IPI to the others, tables having been freed) moves each to the kernel's tables.
  flush_tlb_range(cpu, *mm, 0, layout_.user_end, kPageSize4K, true);
  for (auto& [start, v] : mm->vmas) slab_free(cpu, vma_slab_, v.object);
  mm->vmas.clear();
  // The root (and PAE's directories) go last, with the rest once this vCPU has run the switch.
  const std::uint64_t before = builder_.tables_released();
  const std::size_t first_freed = cpu.deferred_free.size();
  builder_.release_tables(mm->root, 0, layout_.user_end, true, &cpu.deferred_free);
  tables_freed += builder_.tables_released() - before;
  for (std::size_t i = first_freed; i < cpu.deferred_free.size(); ++i)
    kernel_access(cpu, AccessKind::Store, page_struct(cpu.deferred_free[i]));
  slab_free(cpu, mm_slab_, mm->object);
  mm->object = 0;
}

// ---- kernel work as guest events ----

void GuestOs::kernel_access(Cpu& cpu, AccessKind kind, Addr gpa) {
  // Memory beyond the direct map (32-bit highmem) is reached through temporary mappings the
  // model leaves out.
  if (gpa >= direct_map_bytes_ || !p_.memory_references) return;
  cpu.pending.push_back(kind == AccessKind::Store ? GuestEvent::kernel_store(layout_.direct_map + gpa)
                                                  : GuestEvent::memory(kind, layout_.direct_map + gpa, 8));
  ++kernel_references;
  ++kernel_references_issued_;
}

void GuestOs::clear_page(Cpu& cpu, Addr frame) { kernel_string(cpu, AccessKind::Store, frame); }

void GuestOs::copy_page(Cpu& cpu, Addr from, Addr to) {
  // REP MOVSQ's loads and stores as two passes, the source's lines then the destination's
  // (the same lines and overlapped time; one instruction more than the copy's one).
  kernel_string(cpu, AccessKind::Load, from);
  kernel_string(cpu, AccessKind::Store, to);
}

void GuestOs::kernel_string(Cpu& cpu, AccessKind kind, Addr frame) {
  if (frame >= direct_map_bytes_ || !p_.memory_references) return;  // as kernel_access
  constexpr std::uint32_t lines = kPageSize4K / kLine;
  cpu.pending.push_back(GuestEvent::kernel_string(kind, layout_.direct_map + frame, lines));
  kernel_references += lines;
  kernel_references_issued_ += lines;
}

void GuestOs::page_table_store(Cpu& cpu, Addr slot) {
  if (!p_.paravirt_mmu) return kernel_access(cpu, AccessKind::Store, slot);
  // The request (entry address and value) goes into the per-CPU multicall buffer instead.
  kernel_access(cpu, AccessKind::Store, cpu.per_cpu + kPageSize4K / 2 + 16 * (cpu.pv_queued % 128));
  if (++cpu.pv_queued >= p_.pv_batch) flush_pv_updates(cpu);
}

void GuestOs::flush_pv_updates(Cpu& cpu) {
  if (!cpu.pv_queued) return;
  // Xen's __HYPERVISOR_mmu_update is hypercall 1; `count` carries the number of updates.
  cpu.pending.push_back(GuestEvent::instr(Instruction::Vmcall, cpu.pv_queued, kHypercallMmuUpdate));
  ++pv_hypercalls;
  pv_updates += cpu.pv_queued;
  cpu.pv_queued = 0;
}

void GuestOs::load_address_space(Cpu& cpu, Addr cr3) {
  flush_pv_updates(cpu);  // a paravirtual kernel's updates land before the switch
  cpu.pending.push_back(GuestEvent::instr(Instruction::MovToCr3, 0, cr3));
  ++context_switches;
}

void GuestOs::enter_kernel(Cpu& cpu, bool program_call) {
  if (cpu.in_kernel) return;  // already there (after an exit, before the next process runs)
  cpu.pending.push_back(GuestEvent::instr(Instruction::Syscall));
  cpu.in_kernel = true;
  if (program_call) ++syscalls;
}

void GuestOs::leave_kernel(Cpu& cpu) {
  flush_pv_updates(cpu);
  cpu.pending.push_back(GuestEvent::instr(Instruction::Sysret));
  cpu.in_kernel = false;
}

void GuestOs::kernel_work(Cpu& cpu, std::uint32_t instructions, unsigned lines) {
  if (instructions) cpu.pending.push_back(GuestEvent::compute(instructions));
  // Alternate between the top of the current task's kernel stack and the per-CPU data.
  const Addr stack_top = cpu.current ? cpu.current->kernel_stack + kKernelStackBytes : cpu.per_cpu + kPageSize4K;
  for (unsigned i = 0; i < lines; ++i) {
    if (i % 2 == 0) kernel_access(cpu, AccessKind::Store, stack_top - kLine * (i / 2 + 1));
    else kernel_access(cpu, AccessKind::Load, cpu.per_cpu + kLine * ((i / 2) % (kPageSize4K / kLine)));
  }
}

unsigned GuestOs::choose_asid(Cpu& cpu, const Mm& mm, bool& need_flush) {
  if (!pcid_) {  // without PCIDs every CR3 load flushes
    need_flush = true;
    return 0;
  }
  for (unsigned asid = 0; asid < kDynamicAsids; ++asid) {
    AsidSlot& slot = cpu.asids[asid];
    if (slot.mm != mm.id) continue;
    need_flush = slot.generation < mm.generation;
    slot.generation = mm.generation;
    return asid;
  }
  // No slot of its own on this vCPU: the next one round robin, whoever had it.
  const unsigned asid = cpu.next_asid;
  cpu.next_asid = (asid + 1) % kDynamicAsids;
  if (cpu.asids[asid].mm) ++asid_evictions;
  cpu.asids[asid] = AsidSlot{mm.id, mm.generation};
  need_flush = true;
  return asid;
}

Addr GuestOs::cr3_of(Cpu& cpu, const Mm& mm, bool& no_flush) {
  bool need_flush = true;
  const unsigned asid = choose_asid(cpu, mm, need_flush);
  no_flush = !need_flush;
  cpu.loaded_asid = asid;
  // Linux's kern_pcid: ASID n runs as PCID n + 1 (PCID 0 is the kernel's own tables').
  return pcid_ ? mm.root | (asid + 1) : mm.root;
}

void GuestOs::switch_mm(Cpu& cpu, const std::shared_ptr<Mm>& mm) {
  // The address space of the mm_struct and the next task's saved state are read, the vCPU's
  // bit in the mm's CPU mask set.
  kernel_access(cpu, AccessKind::Load, mm->object);
  if (cpu.loaded == mm) {
    // Lazy TLB: still loaded from before the vCPU ran nothing (an exit that left it loaded).
    // Any flush of it meanwhile would have switched the vCPU to init_mm (flush_tlb_range), so
    // its TLB entries are still good: no CR3 load.
    return;
  }
  if (cpu.loaded) cpu.loaded->active_cpus &= ~(std::uint64_t{1} << cpu.index);
  bool no_flush = false;
  const Addr cr3 = cr3_of(cpu, *mm, no_flush);
  if (no_flush) ++pcid_reuses;
  load_address_space(cpu, cr3 | (no_flush ? Addr{1} << 63 : 0));
  kernel_access(cpu, AccessKind::Store, mm->object + kMmBytes - kLine);
  mm->active_cpus |= std::uint64_t{1} << cpu.index;
  cpu.loaded = mm;
}

void GuestOs::leave_lazy_mm(Cpu& cpu) {
  if (!cpu.loaded) return;
  cpu.loaded->active_cpus &= ~(std::uint64_t{1} << cpu.index);
  cpu.loaded = nullptr;
  load_address_space(cpu, kernel_root_);  // switch_mm_irqs_off to init_mm
}

void GuestOs::switch_to(Cpu& cpu, Process* next) {
  Process* prev = cpu.current;
  if (prev == next) return;
  kernel_work(cpu, p_.switch_instructions, 4);
  // __switch_to: the stack pointer saved into the previous task, loaded from the next.
  if (prev) kernel_access(cpu, AccessKind::Store, prev->task);
  cpu.current = next;
  if (!next) return;  // nothing to run: the address space stays loaded (lazy TLB)
  kernel_access(cpu, AccessKind::Load, next->task);
  switch_mm(cpu, next->mm);
}

void GuestOs::queue_flush(Cpu& target, const Mm& mm, Addr start, Addr end, Addr stride, bool all) {
  const Addr pages = all ? ~Addr{0} : (end - start) / stride;
  if (pages > p_.flush_ceiling) {
    // A CR3 reload without bit 63 drops the PCID's (or, without PCIDs, every) non-global entry.
    target.pending.push_back(GuestEvent::instr(Instruction::MovToCr3, 0, 0));
    ++tlb_flushes;
  } else {
    for (Addr va = start; va < end; va += stride) target.pending.push_back(GuestEvent::instr(Instruction::Invlpg, 0, va));
    invlpgs += pages;
  }
  // The vCPU's ASID of the address space is now up to date.
  for (AsidSlot& slot : target.asids)
    if (slot.mm == mm.id) slot.generation = mm.generation;
}

void GuestOs::flush_tlbs(Cpu& cpu, Mm& mm, const std::vector<Addr>& addresses) {
  if (addresses.empty()) return;
  const auto [low, high] = std::minmax_element(addresses.begin(), addresses.end());
  flush_tlb_range(cpu, mm, *low, *high + kPageSize4K, kPageSize4K);
}

void GuestOs::flush_tlb_range(Cpu& cpu, Mm& mm, Addr start, Addr end, Addr stride, bool all) {
  flush_pv_updates(cpu);  // the updates land before any invalidation of what they changed
  ++mm.generation;  // vCPUs that do not have it loaded flush when they next switch to it
  if (mm.active_cpus & (std::uint64_t{1} << cpu.index)) {
    if (cpu.current && cpu.current->mm.get() == &mm) queue_flush(cpu, mm, start, end, stride, all);
    else leave_lazy_mm(cpu);  // loaded, but lazily: flush_tlb_func switches to init_mm instead
  }
  for (auto& other : cpus_) {
    if (other.get() == &cpu || !(mm.active_cpus & (std::uint64_t{1} << other->index))) continue;
    // A vCPU that has stopped uses no TLB any more and would never take the IPI.
    if (other->stream->stopped()) continue;
    // The sender writes the ICR (one IPI per target); the target takes the interrupt, flushes
    // and ends it with an EOI, before the rest of the run it is in.
    other->stream->interrupt_run();
    cpu.pending.push_back(GuestEvent::instr(Instruction::Wrmsr, kX2apicIcr, (std::uint64_t{other->index} << 32) | kCallFunctionVector));
    ++shootdown_ipis;
    other->pending.push_back(GuestEvent::interrupt(kCallFunctionVector));
    other->pending.push_back(GuestEvent::compute(p_.shootdown_instructions));
    if (other->current && other->current->mm.get() == &mm) queue_flush(*other, mm, start, end, stride, all);
    else leave_lazy_mm(*other);
    other->pending.push_back(GuestEvent::instr(Instruction::Wrmsr, kX2apicEoi, 0));
    other->pending.push_back(GuestEvent::instr(Instruction::Iret));
  }
}

// ---- process records ----

void GuestOs::fork_process(Cpu& cpu, Process& parent, std::uint32_t child_pid) {
  ++forks;
  enter_kernel(cpu);
  kernel_work(cpu, p_.fork_instructions, p_.syscall_lines);
  table_cpu_ = &cpu;
  // dup_task_struct copies the parent's task_struct; dup_mm its mm_struct, then each area's
  // vm_area_struct (dup_mmap), whose entries copy_page_range copies.
  const Addr task = slab_alloc(task_slab_);
  copy_object(cpu, parent.task, task, kTaskBytes);
  auto mm = new_mm(parent.mm->implicit_user);
  charge_new_mm(cpu, *mm, parent.mm.get());
  mm->vmas = parent.mm->vmas;
  for (auto& [start, v] : mm->vmas) {
    if (!v.object) continue;
    const Addr from = v.object;
    v.object = slab_alloc(vma_slab_);
    copy_object(cpu, from, v.object, kVmaBytes);
  }
  mm->brk_start = parent.mm->brk_start;
  mm->brk = parent.mm->brk;
  // copy_present_pte: every present leaf goes into the child's tables; a writable private
  // page becomes read-only copy-on-write, in the parent's live entry too (a store into a
  // table a shadow-paging VMM may be watching), whenever the parent's entry is writable.
  std::vector<PageTableBuilder::Leaf> leaves;
  builder_.for_each_leaf(parent.mm->root, 0, layout_.user_end, [&](const PageTableBuilder::Leaf& l) { leaves.push_back(l); });
  if (!leaves.empty()) cpu.pending.push_back(GuestEvent::compute(std::uint64_t{p_.pte_copy_instructions} * leaves.size()));
  for (const auto& l : leaves) {
    // vma_needs_copy: a file area without pages of its own (a shared one, or a private one
    // holding only page-cache pages) is not copied; the child faults its pages in again.
    const Vma* area = find_vma(*parent.mm, l.va);
    if (area && !area->copied_at_fork()) continue;
    std::uint64_t entry = l.entry;
    kernel_access(cpu, AccessKind::Load, l.slot);
    const bool writable = entry & pte::kWritable;
    if (writable || (entry & kCowBit)) {
      entry = (entry & ~pte::kWritable) | kCowBit;
      if (writable) {
        builder_.write_leaf(l, entry);
        page_table_store(cpu, l.slot);
      }
    }
    // The child's entry: same frame, same rights, not yet accessed (pte_mkold; a private
    // page keeps its dirty bit).
    const MappingFlags flags{false, true, !(entry & pte::kExecuteDisable), false};
    builder_.map(mm->root, l.va, l.pa, l.page_size, flags);
    if (const auto child_leaf = builder_.lookup(mm->root, l.va)) {
      builder_.write_leaf(*child_leaf, entry & ~pte::kAccessed);
      page_table_store(cpu, child_leaf->slot);
    }
    ++refcount(l.pa);
    // get_page and the map count: the page's struct page.
    kernel_access(cpu, AccessKind::Load, page_struct(l.pa));
    kernel_access(cpu, AccessKind::Store, page_struct(l.pa));
  }
  table_cpu_ = nullptr;
  // dup_mmap ends with flush_tlb_mm of the parent: its whole address space, every fork.
  flush_tlb_range(cpu, *parent.mm, 0, layout_.user_end, kPageSize4K, true);
  start_process(cpu, child_pid, std::move(mm), task);
  leave_kernel(cpu);
}

void GuestOs::exec_process(Cpu& cpu, Process& p) {
  ++execs;
  enter_kernel(cpu);
  kernel_work(cpu, p_.exec_instructions, p_.syscall_lines);
  auto old = p.mm;
  table_cpu_ = &cpu;
  p.mm = new_mm(old->implicit_user);
  charge_new_mm(cpu, *p.mm, nullptr);
  table_cpu_ = nullptr;
  ++p.mm->users;
  // exec_mmap: the new address space is loaded (activate_mm) before the old one goes.
  if (cpu.current == &p) switch_mm(cpu, p.mm);
  release_mm(cpu, old);
  leave_kernel(cpu);
}

void GuestOs::exit_process(Cpu& cpu, Process& p) {
  ++exits;
  enter_kernel(cpu);
  kernel_work(cpu, p_.exit_instructions, p_.syscall_lines);
  // exit_mm: the task lets go of its address space but the vCPU keeps it loaded (lazy TLB);
  // the last user's teardown clears its entries, then switches to init_mm (release_mm).
  if (cpu.current == &p) {
    kernel_access(cpu, AccessKind::Store, p.task);
    cpu.current = nullptr;
  }
  release_mm(cpu, p.mm);
  free_kernel_stacks_.push_back(p.kernel_stack);
  slab_free(cpu, task_slab_, p.task);  // the parent's wait reaps it (release_task)
  // Still in the kernel: the sysret belongs to whichever process runs next, so none here.
  processes_.erase({cpu.index, p.pid});
}

void GuestOs::timer_tick(Cpu& cpu) {
  cpu.since_tick = 0;
  ++timer_interrupts;
  // The local APIC timer fires; the handler re-arms the TSC deadline, schedules (switching to
  // the next runnable process, if the stream has one) and ends with an EOI.
  cpu.pending.push_back(GuestEvent::interrupt(kTimerVector));
  kernel_work(cpu, p_.timer_instructions, p_.syscall_lines);
  cpu.pending.push_back(GuestEvent::instr(Instruction::Wrmsr, kTscDeadline, 0));
  if (const auto next = cpu.source->preempt()) {
    Process& p = process(cpu, *next, "preempting switch");
    if (&p != cpu.current) {
      ++preemptions;
      switch_to(cpu, &p);
    }
  }
  cpu.pending.push_back(GuestEvent::instr(Instruction::Wrmsr, kX2apicEoi, 0));
  cpu.pending.push_back(GuestEvent::instr(Instruction::Iret));
}

void GuestOs::adopt_first_pid(Cpu& cpu, std::uint32_t pid) {
  // The first process starts as pid 1; a stream whose first process record names another pid
  // (a capture's real pid) gives it that one.
  if (cpu.named) return;
  cpu.named = true;
  const auto it = processes_.find({cpu.index, 1});
  if (pid == 1 || it == processes_.end() || processes_.count({cpu.index, pid})) return;
  const bool current = cpu.current == &it->second;
  auto node = processes_.extract(it);
  node.key() = {cpu.index, pid};
  node.mapped().pid = pid;
  auto inserted = processes_.insert(std::move(node));
  if (current) cpu.current = &inserted.position->second;
}

void GuestOs::run_record(Cpu& cpu, const TraceRecord& r) {
  switch (r.kind) {
    case TraceRecordKind::Switch: case TraceRecordKind::Fork: case TraceRecordKind::Exec: case TraceRecordKind::Exit:
    case TraceRecordKind::Mmap: case TraceRecordKind::Munmap: case TraceRecordKind::Brk:
    case TraceRecordKind::Mprotect: case TraceRecordKind::Mremap: case TraceRecordKind::PageTableWrite:
      adopt_first_pid(cpu, r.pid);
      break;
    default:
      break;
  }
  switch (r.kind) {
    case TraceRecordKind::Switch: {
      // The running process blocks or yields (a system call), or has exited (already in the
      // kernel); the next one returns to user mode.
      Process& next = process(cpu, r.pid, "switch");
      if (&next == cpu.current && !cpu.in_kernel) return;
      enter_kernel(cpu);
      switch_to(cpu, &next);
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::Fork: {
      Process& parent = process(cpu, r.pid, "fork");
      if (processes_.count({cpu.index, r.child})) fail(cpu, "fork of process " + std::to_string(r.child) + ", which already exists");
      fork_process(cpu, parent, r.child);
      return;
    }
    case TraceRecordKind::Exec: exec_process(cpu, process(cpu, r.pid, "exec")); return;
    case TraceRecordKind::Exit: {
      Process& p = process(cpu, r.pid, "exit");
      exit_process(cpu, p);
      return;
    }
    case TraceRecordKind::Mmap: {
      // The capture tool's own mapping is set up as any area is, but it is no call of the
      // program's: no system call's cost, not counted (a native run does not have it).
      Process& p = process(cpu, r.pid, "mmap");
      const bool tool = r.map_flags & kMapTool;
      enter_kernel(cpu, !tool);
      if (tool) ++tool_mappings;
      else {
        ++mmaps;
        kernel_work(cpu, p_.mmap_instructions, p_.syscall_lines);
      }
      const Addr start = round_down(r.address, kPageSize4K);
      add_vma(cpu, *p.mm, start, round_up(r.address + r.length, kPageSize4K), r.prot & 2, r.prot & 4);
      Vma& area = p.mm->vmas[start];
      area.tool = tool;
      if (r.map_flags & kMapFile) {
        area.file = r.file;
        area.shared = r.map_flags & kMapShared;
        area.file_delta = r.offset - start;
      }
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::Mprotect: case TraceRecordKind::Mremap: {
      Process& p = process(cpu, r.pid, to_string(r.kind));
      // The dynamic loader's mprotect of the tool's object (its RELRO) is the tool's too.
      const bool tool = r.kind == TraceRecordKind::Mprotect && tool_range(*p.mm, r.address, r.address + r.length);
      enter_kernel(cpu, !tool);
      if (tool) ++tool_mappings;
      else kernel_work(cpu, p_.mmap_instructions, p_.syscall_lines);
      if (r.kind == TraceRecordKind::Mprotect) mprotect_record(cpu, *p.mm, r);
      else mremap_record(cpu, *p.mm, r);
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::PageTableWrite: {
      // The kernel rewrites a present leaf entry in place (page aging clears accessed bits,
      // writeback cleaning dirty ones): a load and a store of the entry, the store being what
      // a hypervisor that shadows the tables traps. A cleared dirty bit is flushed from the
      // TLB, which would otherwise not set it again; a cleared accessed bit is not (Linux's
      // x86 ptep_clear_flush_young does not flush). Nothing mapped there: nothing to write.
      if ((r.set_bits | r.clear_bits) & ~kPageTableWriteBits)
        fail(cpu, "page-table write at " + to_hex(r.address) + ": only the accessed and dirty bits (0x60) may change");
      Process& p = process(cpu, r.pid, "pte_write");
      const Addr va = round_down(r.address, kPageSize4K);
      std::optional<PageTableBuilder::Leaf> leaf;
      builder_.for_each_leaf(p.mm->root, round_down(va, page_offset_mask_ + 1), va + kPageSize4K,
                             [&](const PageTableBuilder::Leaf& l) {
                               if (l.va <= va && va - l.va < l.page_size) leaf = l;
                             });
      if (!leaf) return;
      enter_kernel(cpu);
      kernel_access(cpu, AccessKind::Load, leaf->slot);
      builder_.write_leaf(*leaf, (leaf->entry | r.set_bits) & ~r.clear_bits);
      page_table_store(cpu, leaf->slot);
      if (r.clear_bits & leaf->entry & pte::kDirty) flush_tlbs(cpu, *p.mm, {leaf->va});
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::Munmap: {
      Process& p = process(cpu, r.pid, "munmap");
      const bool tool = tool_range(*p.mm, r.address, r.address + r.length);
      enter_kernel(cpu, !tool);
      if (tool) ++tool_mappings;
      else {
        ++munmaps;
        kernel_work(cpu, p_.mmap_instructions, p_.syscall_lines);
      }
      unmap_range(cpu, *p.mm, round_down(r.address, kPageSize4K), round_up(r.address + r.length, kPageSize4K));
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::Brk: {
      Process& p = process(cpu, r.pid, "brk");
      Mm& mm = *p.mm;
      enter_kernel(cpu);
      kernel_work(cpu, p_.mmap_instructions, p_.syscall_lines);
      if (!mm.brk_start) {
        mm.brk_start = mm.brk = round_up(r.address, kPageSize4K);  // the first brk places the heap
      } else {
        const Addr old_end = round_up(mm.brk, kPageSize4K), new_end = round_up(std::max(r.address, mm.brk_start), kPageSize4K);
        if (new_end < old_end) unmap_range(cpu, mm, new_end, old_end);
        mm.brk = std::max(r.address, mm.brk_start);
        if (new_end > mm.brk_start) {
          // The heap is one area [brk_start, brk); growing it keeps the pages it has and
          // rewrites its end in place (a new area the first time).
          const auto heap = mm.vmas.find(mm.brk_start);
          const Addr object = heap != mm.vmas.end() ? heap->second.object : 0;
          if (new_end > layout_.user_end) fail(cpu, "brk to " + to_hex(r.address) + " beyond the user address space");
          Vma heap_area{mm.brk_start, new_end};  // anonymous, writable
          heap_area.object = object;
          Vma& v = mm.vmas[mm.brk_start] = heap_area;
          if (object) kernel_access(cpu, AccessKind::Store, object);
          else new_vma_object(cpu, v);
        }
      }
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::Syscall: {
      if (!cpu.current) fail(cpu, "a syscall record with no process running");
      const SyscallClass c = syscall_class(r.count);
      if (c == SyscallClass::Vdso && p_.vdso_instructions) {  // natively no kernel entry
        ++vdso_calls;
        cpu.pending.push_back(GuestEvent::compute(p_.vdso_instructions));
        return;
      }
      enter_kernel(cpu);
      if (c == SyscallClass::Read || c == SyscallClass::Write || c == SyscallClass::FileRead ||
          c == SyscallClass::FileWrite) {
        io_call(cpu, r, c);
      } else {
        // A wait that may sleep, or any wait of an older trace (which does not say), costs a
        // sleeping one's.
        const bool waits = c == SyscallClass::Epoll || c == SyscallClass::Poll;
        const bool sleeps = waits && (!r.described || (r.call_flags & kSyscallMaySleep));
        kernel_work(cpu, syscall_cost_[static_cast<std::size_t>(sleeps ? SyscallClass::Wait : c)], p_.syscall_lines);
      }
      run_device_work(cpu);
      leave_kernel(cpu);
      return;
    }
    case TraceRecordKind::Interrupt:
      device_interrupt(cpu, r);
      return;
    default:
      // A plain record with no process running (refill hands the others to the vCPU):
      // only the region of interest's markers need none (a capture ends after its last exit).
      if (r.kind != TraceRecordKind::RoiBegin && r.kind != TraceRecordKind::RoiEnd)
        fail(cpu, std::string("a ") + to_string(r.kind) +
                      " record with no process running (after an exit, a switch must name the next)");
      cpu.pending.push_back(*r.guest_event());
      return;
  }
}

void GuestOs::io_call(Cpu& cpu, const TraceRecord& r, SyscallClass c) {
  const bool reads = c == SyscallClass::Read || c == SyscallClass::FileRead;
  const bool at_offset = c == SyscallClass::FileRead || c == SyscallClass::FileWrite;
  // A descriptor the trace does not know (or a device's) is taken as its number's usual one:
  // a file for the calls at an offset, a socket for the others (what the classes cost before
  // traces said).
  const unsigned kind = r.object == SyscallObject::File   ? kFileIo
                        : r.object == SyscallObject::Pipe ? kPipeIo
                        : r.object == SyscallObject::Socket ? kSocketIo
                        : at_offset                       ? kFileIo
                                                          : kSocketIo;
  const std::uint64_t bytes = r.described ? r.bytes : kind == kFileIo ? kUndescribedFileBytes : kUndescribedSocketBytes;
  const IoCost& cost = io_costs_[kind];
  const std::uint32_t base = reads ? cost.read : cost.write, per_line = cost.per_line;
  const std::uint64_t lines = (bytes + kLine - 1) / kLine;
  kernel_work(cpu, static_cast<std::uint32_t>(std::min<std::uint64_t>(base + per_line * lines, UINT32_MAX)),
              p_.syscall_lines);
  // An older trace's call has no buffer to copy: its cost is the instructions alone, as before.
  if (r.described && bytes) copy_user(cpu, reads, kind, r.address, bytes);
}

void GuestOs::copy_user(Cpu& cpu, bool to_user, unsigned kind, Addr buffer, std::uint64_t bytes) {
  if (!p_.memory_references) return;
  // The user's side: the lines of its buffer (none known for a vectored call: the iovec's
  // buffers are behind a pointer the trace does not follow). The source's lines go first.
  const Addr first = round_down(buffer, kLine), end = round_up(buffer + bytes, kLine);
  const auto user_lines = static_cast<std::uint32_t>(std::min<Addr>((end - first) / kLine, UINT32_MAX));
  GuestEvent user = GuestEvent::kernel_string(to_user ? AccessKind::Store : AccessKind::Load, first, user_lines);
  user.keeps_contents = false;  // the program's own memory: what the copy writes is its data
  user.partial_first_line = to_user && buffer != first;  // lines the copy writes only in part
  user.partial_last_line = to_user && buffer + bytes != end;
  const auto user_side = [&] {
    if (!buffer) return;
    cpu.pending.push_back(user);
    kernel_references += user_lines;
    kernel_references_issued_ += user_lines;
  };
  if (!to_user) user_side();
  // The kernel's side, from where the last call of this direction ended, round the buffer: a
  // fast-string pass over its lines in each contiguous piece. (A call larger than the buffer
  // goes round it again, as a pipe writer refilling it would.)
  IoBuffer& b = io_buffers_[kind];
  if (!b.pages) {
    b.pages = kIoBufferPages;
    b.base = frames_.allocate(static_cast<std::size_t>(b.pages), kPageSize4K);
  }
  const Addr size = b.pages * kPageSize4K;
  Addr& cursor = b.cursor[to_user ? 0 : 1];
  const AccessKind kernel_side = to_user ? AccessKind::Load : AccessKind::Store;
  std::uint64_t left = round_up(bytes, kLine);
  while (left) {
    const Addr piece = std::min<Addr>(left, size - cursor);
    const auto lines = static_cast<std::uint32_t>(piece / kLine);
    cpu.pending.push_back(GuestEvent::kernel_string(kernel_side, layout_.direct_map + b.base + cursor, lines));
    kernel_references += lines;
    kernel_references_issued_ += lines;
    cursor = (cursor + piece) % size;
    left -= piece;
  }
  if (to_user) user_side();
}

void GuestOs::device_interrupt(Cpu& cpu, const TraceRecord& r) {
  ++device_interrupts;
  cpu.pending.push_back(GuestEvent::interrupt(static_cast<std::uint32_t>(r.count ? r.count : kDeviceVector)));
  kernel_work(cpu, p_.interrupt_instructions, p_.syscall_lines);
  cpu.pending.push_back(GuestEvent::instr(Instruction::Wrmsr, kX2apicEoi, 0));
  cpu.pending.push_back(GuestEvent::instr(Instruction::Iret));
}

void GuestOs::run_device_work(Cpu& cpu) {
  // A driver's IN and OUT, and a HLT that idles a blocking call until its device interrupts:
  // the interrupt record after the HLT is taken in the kernel, and the call returns after it.
  // The first other record waits, held, for the next refill.
  bool halted = false;
  while (auto r = cpu.source->next()) {
    const bool device = r->kind == TraceRecordKind::Instr &&
                        (r->instruction == Instruction::In || r->instruction == Instruction::Out ||
                         r->instruction == Instruction::Hlt);
    if (device) {
      cpu.pending.push_back(*r->guest_event());
      halted = r->instruction == Instruction::Hlt;
    } else if (halted && r->kind == TraceRecordKind::Interrupt) {
      device_interrupt(cpu, *r);
      halted = false;
    } else {
      cpu.held = std::move(r);
      return;
    }
  }
}

[[gnu::hot]] const GuestEvent* GuestOs::refill(Cpu& cpu) {
  CpuStream& stream = *cpu.stream;
  for (;;) {
    if (!cpu.pending.empty()) {
      const GuestEvent* e = stream.give(cpu.pending.front());
      cpu.pending.pop_front();
      count_towards_tick(cpu, tick_instructions(*e));  // kernel work takes time too
      if (cpu.tick_events) --cpu.tick_events;
      return e;
    }
    if (stream.resume_begin_ != stream.resume_end_) {
      // The rest of a run that kernel work interrupted.
      const GuestEvent* first = stream.resume_begin_;
      stream.next_ = first + 1;
      stream.end_ = stream.resume_end_;
      stream.resume_begin_ = stream.resume_end_ = nullptr;
      return first;
    }
    if (cpu.tick_due && !cpu.held) {
      // After the event that brought it due has run: the tick may switch to another process
      // (a record held past a system call is the current process's, so it goes first).
      cpu.tick_due = false;
      timer_tick(cpu);
      cpu.tick_events = cpu.pending.size();  // the queue was empty: all of it is the handler
      continue;
    }
    if (!cpu.deferred_free.empty()) {
      // Everything queued has run: the invalidations that made these frames unreachable too.
      for (Addr frame : cpu.deferred_free) {
        frames_.release(frame);
        ++frames_freed;
      }
      cpu.deferred_free.clear();
    }
    // The common case, plain records of the running process, go to the vCPU as a run; a timer
    // tick they bring due waits for them.
    if (cpu.current && !cpu.held) {
      // Past the interval (the kernel's work overran it during a tick's handler): one event,
      // then the tick.
      const std::uint64_t budget = !timer_interval_ ? ~std::uint64_t{0}
                                   : cpu.since_tick < timer_interval_ ? timer_interval_ - cpu.since_tick : 1;
      const EventBatch batch = cpu.source->plain_events(stream.run_, std::size(stream.run_), budget);
      if (batch.events) {
        count_towards_tick(cpu, batch.instructions);
        stream.next_ = stream.run_ + 1;
        stream.end_ = stream.run_ + batch.events;
        return stream.run_;
      }
    }
    std::optional<TraceRecord> r;
    r.swap(cpu.held);
    if (!r) r = cpu.source->next();
    if (!r) return nullptr;  // the end of the stream (a vCPU stops at its RoiEnd before)
    if (cpu.current && is_plain(r->kind)) {  // from a source without the fast path
      const GuestEvent* e = stream.give(*r->guest_event());
      count_towards_tick(cpu, tick_instructions(*e));
      return e;
    }
    run_record(cpu, *r);
  }
}

// ---- page faults ----

bool GuestOs::handle_page_fault(unsigned cpu_index, Addr cr3, Addr va, std::uint32_t error_code, Cycles& cost) {
  Cpu& cpu = *cpus_.at(cpu_index);
  cpu.stream->interrupt_run();  // the handler's work runs before the rest of the run
  cost = 0;
  if (!cpu.current) fail(cpu, "page fault at " + to_hex(va) + " with no process running");
  Process& p = *cpu.current;
  Mm& mm = *p.mm;
  const Addr root = cr3 & ~Addr{0xfff};
  if (root != mm.root && root != kernel_root_)
    fail(cpu, "page fault under CR3 " + to_hex(cr3) + ", which is not process " + std::to_string(p.pid) + "'s");
  const bool write = error_code & pf::kWrite;
  const bool user = error_code & pf::kUser;
  const bool fetch = error_code & pf::kFetch;
  const Vma* vma = va < layout_.user_end ? find_vma(mm, va) : nullptr;
  Vma implicit{round_down(va, kPageSize4K), round_down(va, kPageSize4K) + kPageSize4K, true, true};
  if (!vma && mm.implicit_user && va < layout_.user_end) {
    vma = &implicit;
    if (!write && p_.page_cache.image_fault_around) image_area(mm, va, implicit);
  }
  if (!vma || (write && !vma->writable) || (fetch && !vma->executable) || (!user && va >= layout_.user_end))
    fail(cpu, "process " + std::to_string(p.pid) + " made a " + (write ? "write" : fetch ? "fetch" : "read") + " at " +
                  to_hex(va) + " outside its memory areas (segmentation fault, error code " + to_hex(error_code) + ")");

  // The handler's work runs once the access is done (the vCPU retries it at once): entry
  // through the #PF gate, the kernel's work, IRET.
  const auto leaf = builder_.lookup(mm.root, va);
  const bool resolved = leaf && (!write || (leaf->entry & pte::kWritable));
  if (resolved) {
    ++spurious_faults;  // another vCPU, or an earlier fault, already gave the page its rights
    return true;
  }
  if (leaf && !(leaf->entry & kCowBit)) return false;  // a protection fault the program did not expect
  cpu.pending.push_back(GuestEvent::interrupt(14));  // #PF: an exception, not an external interrupt
  struct ReturnFromFault {
    Cpu& cpu;
    GuestOs& os;
    ~ReturnFromFault() {
      os.table_cpu_ = nullptr;
      os.flush_pv_updates(cpu);
      cpu.pending.push_back(GuestEvent::instr(Instruction::Iret));
    }
  } iret{cpu, *this};
  table_cpu_ = &cpu;
  fault_lookup(cpu, mm, vma);
  if (leaf) {
    const std::uint64_t entry = leaf->entry;
    ++cow_faults;
    cpu.pending.push_back(GuestEvent::compute(p_.fault_instructions));
    kernel_access(cpu, AccessKind::Load, page_struct(leaf->pa));  // do_wp_page: is the page still shared?
    if (refcount(leaf->pa) > 1) {
      // Still shared (wp_page_copy): copy the page (a huge page whole) into a frame of our
      // own; the old entry is cleared and its page flushed (ptep_clear_flush), then the new
      // one, writable and not yet accessed, written in its place.
      ++cow_copies;
      if (vma && vma->file) mm.vmas.at(vma->start).own_pages = true;
      const Addr copy = allocate_frame(leaf->page_size);
      for (Addr off = 0; off < leaf->page_size; off += kPageSize4K) {
        memory_.copy_frame(copy + off, leaf->pa + off);
        kernel_access(cpu, AccessKind::Store, page_struct(copy + off));
      }
      for (Addr off = 0; off < leaf->page_size; off += kPageSize4K) copy_page(cpu, leaf->pa + off, copy + off);
      builder_.write_leaf(*leaf, 0);
      page_table_store(cpu, leaf->slot);
      flush_tlb_range(cpu, mm, leaf->va, leaf->va + leaf->page_size, leaf->page_size);
      put_frame(cpu, leaf->pa, leaf->page_size);
      const bool executable = builder_.format() == TableFormat::Bits32 || !(entry & pte::kExecuteDisable);
      builder_.map(mm.root, leaf->va, copy, leaf->page_size, MappingFlags{true, true, executable, false});
    } else {
      builder_.write_leaf(*leaf, (entry & ~kCowBit) | pte::kWritable);  // the last user: just write-enable it
    }
    page_table_store(cpu, leaf->slot);
    return true;
  }

  // Not present: demand paging, with a huge page where an aligned one fits in the area.
  ++demand_faults;
  if (vma->file) {
    file_fault(cpu, mm, *vma, va, write);
    return true;
  }
  Addr page = kPageSize4K;
  const Addr huge = page_offset_mask_ + 1;
  const Addr huge_base = round_down(va, huge);
  if (huge > kPageSize4K && vma != &implicit && huge_base >= vma->start && huge_base + huge <= vma->end) {
    bool empty = true;  // no 4 KiB page of that range mapped yet
    builder_.for_each_leaf(mm.root, huge_base, huge_base + huge, [&](const PageTableBuilder::Leaf&) { empty = false; });
    if (empty) page = huge;
  }
  const Addr base = round_down(va, page);
  Addr frame;
  try {
    frame = allocate_frame(page);
  } catch (const std::runtime_error& e) {
    if (page == kPageSize4K) fail(cpu, std::string("guest memory exhausted: ") + e.what());
    page = kPageSize4K;  // no contiguous huge frame left: fall back to a small page
    frame = allocate_frame(page);
  }
  if (page > kPageSize4K) ++huge_pages;
  const MappingFlags flags{vma->writable, true, vma->executable, false};
  builder_.map(mm.root, round_down(va, page), frame, page, flags);
  cpu.pending.push_back(GuestEvent::compute(p_.fault_instructions));
  for (Addr off = 0; off < page; off += kPageSize4K) kernel_access(cpu, AccessKind::Store, page_struct(frame + off));
  if (p_.zero_pages) {
    for (Addr off = 0; off < page; off += kPageSize4K) memory_.zero_frame(frame + off);
    for (Addr off = 0; off < page; off += kPageSize4K) clear_page(cpu, frame + off);
  }
  if (const auto mapped = builder_.lookup(mm.root, base)) page_table_store(cpu, mapped->slot);
  return true;
}

// ---- file-backed memory, mprotect and mremap ----

void GuestOs::image_area(const Mm& mm, Addr va, Vma& area) const {
  // What exec mapped is private file mappings (the image and the loader): the area is the gap
  // between the records' areas around `va`, within its page table, a file of its own that
  // every captured program's image shares (its pages stay in the cache).
  const Addr table_span = builder_.format() == TableFormat::Bits32 ? kPageSize4M : kPageSize2M;
  area.start = round_down(va, table_span);
  area.end = area.start + table_span;
  const auto next = mm.vmas.upper_bound(va);
  if (next != mm.vmas.end()) area.end = std::min(area.end, next->second.start);
  if (next != mm.vmas.begin()) area.start = std::max(area.start, std::prev(next)->second.end);
  area.file = kImageFile;
}

Addr GuestOs::file_frame(Cpu& cpu, const Vma& vma, Addr page) {
  const auto got = page_cache.get(cpu.index, vma.file, (page + vma.file_delta) >> kPageShift4K);
  if (got.read) kernel_work(cpu, p_.page_cache.file_read_instructions, 0);
  return got.frame;
}

void GuestOs::map_file_page(Cpu& cpu, Mm& mm, const Vma& vma, Addr page) {
  const Addr frame = file_frame(cpu, vma, page);
  ++refcount(frame);
  // A shared area maps the cached page with the area's rights (a disk file system's
  // write-notify fault is left out); a private one read-only, copy-on-write if it is writable.
  builder_.map(mm.root, page, frame, kPageSize4K, MappingFlags{vma.shared && vma.writable, true, vma.executable, false});
  const auto leaf = builder_.lookup(mm.root, page);
  if (!vma.shared && vma.writable) builder_.write_leaf(*leaf, leaf->entry | kCowBit);
  page_table_store(cpu, leaf->slot);
}

void GuestOs::file_fault(Cpu& cpu, Mm& mm, const Vma& vma, Addr va, bool write) {
  ++page_cache.file_faults;
  cpu.pending.push_back(GuestEvent::compute(p_.fault_instructions));
  const Addr page = round_down(va, kPageSize4K);
  if (write && !vma.shared) {
    // do_cow_fault: the process's own copy of the cached page, mapped writable.
    ++page_cache.file_cow_copies;
    mm.vmas.at(vma.start).own_pages = true;
    const Addr cached = file_frame(cpu, vma, page);
    const Addr copy = allocate_frame(kPageSize4K);
    memory_.copy_frame(copy, cached);
    copy_page(cpu, cached, copy);
    builder_.map(mm.root, page, copy, kPageSize4K, MappingFlags{true, true, vma.executable, false});
    page_table_store(cpu, builder_.lookup(mm.root, page)->slot);
    return;
  }
  if (!write) {
    // do_read_fault: fault-around maps the window's cached pages that are not mapped yet, one
    // entry store each (filemap_map_pages), then the faulting page.
    const Addr table_span = builder_.format() == TableFormat::Bits32 ? kPageSize4M : kPageSize2M;
    const auto window = fault_around_window(va, vma.start, vma.end, page_cache.fault_around_bytes(), table_span);
    for (Addr a = window.first; a < window.end; a += kPageSize4K) {
      if (a == page || builder_.lookup(mm.root, a) ||
          !page_cache.cached(cpu.index, vma.file, (a + vma.file_delta) >> kPageShift4K))
        continue;
      map_file_page(cpu, mm, vma, a);
      ++page_cache.fault_around_pages;
    }
  }
  map_file_page(cpu, mm, vma, page);  // a read, or do_shared_fault
}

void GuestOs::split_vma(Cpu& cpu, Mm& mm, Addr at) {
  auto it = mm.vmas.upper_bound(at);
  if (it == mm.vmas.begin()) return;
  Vma& v = std::prev(it)->second;
  if (at <= v.start || at >= v.end) return;
  Vma tail = v;
  tail.start = at;
  v.end = at;
  if (v.object) {
    // __split_vma: the new part is a copy of the area's object; the old one's bounds change.
    tail.object = slab_alloc(vma_slab_);
    copy_object(cpu, v.object, tail.object, kVmaBytes);
    kernel_access(cpu, AccessKind::Store, v.object);
  }
  mm.vmas[at] = tail;
}

void GuestOs::mprotect_record(Cpu& cpu, Mm& mm, const TraceRecord& r) {
  const Addr begin = round_down(r.address, kPageSize4K), end = round_up(r.address + r.length, kPageSize4K);
  if (end <= begin || end > layout_.user_end)
    fail(cpu, "mprotect of [" + to_hex(begin) + ", " + to_hex(end) + ") outside the user address space");
  const bool writable = r.prot & 2, executable = r.prot & 4;
  // The areas of the range take the new rights; in a captured program, parts no record mapped
  // (its image, mapped by exec) become areas of their own.
  split_vma(cpu, mm, begin);
  split_vma(cpu, mm, end);
  Addr covered = begin;
  std::vector<Vma> gaps;
  for (auto it = mm.vmas.lower_bound(begin); it != mm.vmas.end() && it->first < end; ++it) {
    if (it->first > covered) gaps.push_back(Vma{covered, it->first});
    it->second.writable = writable;
    it->second.executable = executable;
    covered = it->second.end;
  }
  if (covered < end) gaps.push_back(Vma{covered, end});
  if (mm.implicit_user)
    for (Vma gap : gaps) {
      gap.writable = writable;
      gap.executable = executable;
      mm.vmas[gap.start] = gap;
    }
  // change_pte_range: every present entry rewritten with the new rights (a huge page partly in
  // the range whole). A private page left read-only keeps the copy-on-write mark, so that a
  // write once the area is writable again copies it or, not shared, makes it writable.
  std::vector<PageTableBuilder::Leaf> leaves;
  builder_.for_each_leaf(mm.root, round_down(begin, page_offset_mask_ + 1), end, [&](const PageTableBuilder::Leaf& l) {
    if (l.va + l.page_size > begin) leaves.push_back(l);
  });
  std::vector<Addr> addresses;
  for (const auto& l : leaves) {
    const Vma* area = find_vma(mm, std::max(l.va, begin));
    std::uint64_t entry = l.entry & ~pte::kWritable;
    if (area && area->shared) {
      if (writable) entry |= pte::kWritable;
    } else if (writable && refcount(l.pa) == 1) {
      entry = (entry | pte::kWritable) & ~kCowBit;
    } else {
      entry |= kCowBit;
    }
    if (builder_.format() != TableFormat::Bits32)
      entry = executable ? entry & ~pte::kExecuteDisable : entry | pte::kExecuteDisable;
    kernel_access(cpu, AccessKind::Load, l.slot);
    builder_.write_leaf(l, entry);
    page_table_store(cpu, l.slot);
    addresses.push_back(l.va);
  }
  if (!addresses.empty()) flush_tlbs(cpu, mm, addresses);
}

void GuestOs::mremap_record(Cpu& cpu, Mm& mm, const TraceRecord& r) {
  const Addr old_start = round_down(r.address, kPageSize4K), old_end = round_up(r.address + r.length, kPageSize4K);
  const Addr new_start = round_down(r.new_address, kPageSize4K),
             new_end = round_up(r.new_address + r.new_length, kPageSize4K);
  if (old_end < old_start || new_end <= new_start || std::max(old_end, new_end) > layout_.user_end)
    fail(cpu, "mremap of [" + to_hex(old_start) + ", " + to_hex(old_end) + ") to [" + to_hex(new_start) + ", " +
                  to_hex(new_end) + ") outside the user address space");
  const Addr kept = std::min(old_end - old_start, new_end - new_start);  // the bytes that stay mapped
  if (old_start + kept < old_end) unmap_range(cpu, mm, old_start + kept, old_end);  // shrinking: the tail goes
  if (new_start == old_start) {
    // In place: growing extends the area that ends where the old range did.
    split_vma(cpu, mm, old_end);
    auto it = mm.vmas.upper_bound(old_end - 1);
    if (new_end > old_end && it != mm.vmas.begin() && std::prev(it)->second.end == old_end) {
      unmap_range(cpu, mm, old_end, new_end);
      std::prev(it)->second.end = new_end;
    }
    return;
  }
  if (new_start < old_start + kept && old_start < new_end)
    fail(cpu, "mremap of [" + to_hex(old_start) + ", " + to_hex(old_end) + ") to the overlapping [" +
                  to_hex(new_start) + ", " + to_hex(new_end) + ")");
  unmap_range(cpu, mm, new_start, new_end);  // MREMAP_FIXED: whatever was there goes
  split_vma(cpu, mm, old_start);
  split_vma(cpu, mm, old_start + kept);
  std::vector<Vma> moved;
  for (auto it = mm.vmas.lower_bound(old_start); it != mm.vmas.end() && it->first < old_start + kept;) {
    moved.push_back(it->second);
    it = mm.vmas.erase(it);
  }
  // move_page_tables: each present entry cleared at the old address and written, bits and all,
  // at the new one; one flush of the old addresses. A huge page the move would misalign is
  // dropped (Linux splits it).
  const Addr delta = new_start - old_start;
  std::vector<PageTableBuilder::Leaf> leaves;
  builder_.for_each_leaf(mm.root, old_start, old_start + kept, [&](const PageTableBuilder::Leaf& l) { leaves.push_back(l); });
  std::vector<Addr> addresses;
  for (const auto& l : leaves) {
    kernel_access(cpu, AccessKind::Load, l.slot);
    builder_.write_leaf(l, 0);
    page_table_store(cpu, l.slot);
    addresses.push_back(l.va);
    if ((delta & (l.page_size - 1)) || l.va + l.page_size > old_start + kept) {
      put_frame(cpu, l.pa, l.page_size);
      ++pages_unmapped;
      continue;
    }
    builder_.map(mm.root, l.va + delta, l.pa, l.page_size, MappingFlags{false, true, true, false});
    const auto to = builder_.lookup(mm.root, l.va + delta);
    builder_.write_leaf(*to, l.entry);
    page_table_store(cpu, to->slot);
  }
  if (!addresses.empty()) flush_tlbs(cpu, mm, addresses);
  for (Vma v : moved) {
    v.start += delta;
    v.end += delta;
    v.file_delta -= delta;  // the same file offsets at the new addresses
    mm.vmas[v.start] = v;
  }
  if (new_start + kept < new_end) {
    // Growing: the last area moved extends; memory no record mapped becomes an area.
    if (!moved.empty() && moved.back().end == old_start + kept) mm.vmas[moved.back().start + delta].end = new_end;
    else mm.vmas[new_start + kept] = Vma{new_start + kept, new_end};
  }
}

void GuestOs::fault_lookup(Cpu& cpu, const Mm& mm, const Vma* vma) {
  // mmap_read_lock (the lock word of the mm_struct), then find_vma: the area's bounds and
  // flags (its first line) and its anon_vma and operations (its second).
  kernel_access(cpu, AccessKind::Load, mm.object);
  kernel_access(cpu, AccessKind::Store, mm.object);
  if (!vma || !vma->object) return;
  kernel_access(cpu, AccessKind::Load, vma->object);
  kernel_access(cpu, AccessKind::Load, vma->object + kLine);
}

GuestKernel::GuestKernel(const sc_core::sc_module_name& name, const Scope& context, MemoryView memory,
                         FrameAllocator& frames, bool pcid)
    : sc_core::sc_module(name),
      parameters(module_scope(context, *this)),
      os(module_scope(context, *this), parameters, std::move(memory), frames, pcid) {}

}  // namespace virtsim
