// kvm-probe: measures what a VM exit costs on this host's KVM (see README.md beside this file).
//
// A minimal 64-bit guest (identity-mapped page tables the probe writes into guest memory) runs
// one loop per benchmark, reads the TSC before and after it and reports the difference with an
// OUT to a port no in-kernel device claims; the probe prints every figure as TOML.
//
// Exit status: 0 measured; 1 the guest or KVM did something unexpected; 2 bad command line;
// 3 KVM is absent or unusable here (one line on stderr names the reason); 4 the watchdog fired.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3, EXIT_WATCHDOG = 4 };

// Guest-physical layout. Slot 0 holds page tables, descriptor table, code and stack; slot 1
// is the region whose pages the fault benchmark touches for the first time. MMIO_ADDRESS lies
// in no slot, so its accesses are MMIO exits to user space.
enum {
  LOW_MEMORY_SIZE = 2 << 20,
  PML4_ADDRESS = 0x1000,
  PDPT_ADDRESS = 0x2000,
  PD_ADDRESS = 0x3000,  // four page directories, 0x3000-0x6fff: 4 GiB in 2 MiB pages
  GDT_ADDRESS = 0x7000,
  CODE_ADDRESS = 0x10000,
  STACK_TOP = 0x100000,
};
static const uint64_t FAULT_REGION_ADDRESS = 0x40000000ull;
static const uint64_t MMIO_ADDRESS = 0xd0000000ull;
static const uint16_t REPORT_PORT = 0xf1;   // guest -> probe: RAX holds the TSC difference
static const uint16_t USER_IO_PORT = 0xb008;  // the ACPI PM timer's port: emulated in user space

// The guest's code (bytes the probe copies into guest memory, never run on the host). Every
// benchmark starts at its own label with RSI = operations and RDI = an address; it times the
// loop with LFENCE; RDTSC on both sides and reports the difference with OUT to REPORT_PORT.
// The probe gives the vCPU a new RIP after each report; the HLT after it stops a guest resumed
// by mistake before it runs into the next benchmark.
#define BEGIN_TIMING "mov %rsi, %r9\n lfence\n rdtsc\n shl $32, %rdx\n or %rdx, %rax\n mov %rax, %r8\n"
#define END_TIMING "lfence\n rdtsc\n shl $32, %rdx\n or %rdx, %rax\n sub %r8, %rax\n out %al, $0xf1\n hlt\n"
__asm__(".pushsection .rodata.kvm_probe_guest, \"a\"\n"
        ".code64\n"
        "guest_code_start:\n"
        "guest_nop:\n" BEGIN_TIMING "1: dec %r9\n jnz 1b\n" END_TIMING
        "guest_cpuid:\n" BEGIN_TIMING "1: xor %eax, %eax\n cpuid\n dec %r9\n jnz 1b\n" END_TIMING
        "guest_io_kernel:\n" BEGIN_TIMING "1: inb $0x21, %al\n dec %r9\n jnz 1b\n" END_TIMING
        "guest_io_user:\n" BEGIN_TIMING "mov $0xb008, %dx\n 1: inl (%dx), %eax\n dec %r9\n jnz 1b\n" END_TIMING
        "guest_mmio:\n" BEGIN_TIMING "1: movl (%rdi), %eax\n dec %r9\n jnz 1b\n" END_TIMING
        "guest_hlt:\n" BEGIN_TIMING "1: hlt\n dec %r9\n jnz 1b\n" END_TIMING
        "guest_touch:\n" BEGIN_TIMING "mov %rdi, %rbx\n 1: movb $1, (%rbx)\n add $4096, %rbx\n dec %r9\n jnz 1b\n" END_TIMING
        "guest_code_end:\n"
        ".popsection\n");
extern const unsigned char guest_code_start[], guest_code_end[], guest_nop[], guest_cpuid[],
    guest_io_kernel[], guest_io_user[], guest_mmio[], guest_hlt[], guest_touch[];

__attribute__((noreturn, format(printf, 2, 3))) static void fail(int status, const char* format, ...) {
  va_list args;
  va_start(args, format);
  fputs("kvm-probe: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(status);
}

static void on_alarm(int signal_number) {
  (void)signal_number;
  static const char message[] = "kvm-probe: watchdog: the measurement took longer than its time limit\n";
  ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
  (void)ignored;
  _exit(EXIT_WATCHDOG);
}

static uint64_t read_tsc(void) {
  uint32_t low, high;
  __asm__ volatile("lfence; rdtsc" : "=a"(low), "=d"(high));
  return ((uint64_t)high << 32) | low;
}

static double monotonic_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_RAW, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct vm {
  int fd, vcpu_fd;
  int cpl;  // the privilege level the guest's loops run at (0 or 3)
  struct kvm_run* run;
  unsigned char* low_memory;
  unsigned char* fault_region;
  size_t fault_region_size;
  uint64_t user_exits;       // exits the probe answered during the last benchmark
  uint64_t answering_cycles;  // host TSC cycles between KVM_RUN's return and the next call, summed
};

static int kvm_fd = -1;

// KVM being absent or refusing us is not a failure of the probe: one line, its own status.
static void open_kvm(const char* device) {
  kvm_fd = open(device, O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0) fail(EXIT_UNAVAILABLE, "unavailable: open %s: %s", device, strerror(errno));
  int version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
  if (version < 0) fail(EXIT_UNAVAILABLE, "unavailable: %s is not KVM: KVM_GET_API_VERSION: %s", device, strerror(errno));
  if (version != KVM_API_VERSION)
    fail(EXIT_UNAVAILABLE, "unavailable: %s has KVM API version %d, expected %d", device, version, KVM_API_VERSION);
}

static void write_page_tables(unsigned char* memory) {
  uint64_t* pml4 = (uint64_t*)(memory + PML4_ADDRESS);
  uint64_t* pdpt = (uint64_t*)(memory + PDPT_ADDRESS);
  pml4[0] = PDPT_ADDRESS | 0x7;  // present, writable, user (the loops may run at CPL 3)
  for (uint64_t gib = 0; gib < 4; ++gib) {
    uint64_t* pd = (uint64_t*)(memory + PD_ADDRESS + gib * 0x1000);
    pdpt[gib] = (PD_ADDRESS + gib * 0x1000) | 0x7;
    for (uint64_t i = 0; i < 512; ++i) pd[i] = ((gib << 30) + (i << 21)) | 0x87;  // 2 MiB page
  }
  uint64_t* gdt = (uint64_t*)(memory + GDT_ADDRESS);
  gdt[1] = 0x00af9b000000ffffull;  // 0x08: 64-bit code, DPL 0
  gdt[2] = 0x00cf93000000ffffull;  // 0x10: data, DPL 0
  gdt[5] = 0x00cff3000000ffffull;  // 0x2b: data, DPL 3
  gdt[6] = 0x00affb000000ffffull;  // 0x33: 64-bit code, DPL 3
}

// The selectors at CPL 3 are Linux's user ones, which PVM requires of its guests' user mode.
static void set_long_mode(struct vm* vm) {
  struct kvm_sregs sregs;
  if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) fail(EXIT_FAILED, "KVM_GET_SREGS: %s", strerror(errno));
  struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = vm->cpl ? 0x33 : 0x08, .type = 11,
                             .present = 1, .dpl = vm->cpl, .db = 0, .s = 1, .l = 1, .g = 1};
  struct kvm_segment data = code;
  data.selector = vm->cpl ? 0x2b : 0x10;
  data.type = 3;
  data.l = 0;
  data.db = 1;
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = GDT_ADDRESS;
  sregs.gdt.limit = 7 * 8 - 1;
  sregs.cr3 = PML4_ADDRESS;
  sregs.cr4 = 1u << 5;                                   // PAE
  sregs.cr0 = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 31);  // PE, ET, NE, PG
  sregs.efer = (1u << 8) | (1u << 10);                   // LME, LMA
  if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
    fail(EXIT_UNAVAILABLE, "unavailable: KVM_SET_SREGS refused a 64-bit guest: %s", strerror(errno));
}

static void set_memory(struct vm* vm, uint32_t slot, uint64_t guest_address, void* host, size_t size) {
  struct kvm_userspace_memory_region region = {
      .slot = slot, .guest_phys_addr = guest_address, .memory_size = size, .userspace_addr = (uint64_t)host};
  if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    fail(EXIT_UNAVAILABLE, "unavailable: KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
}

// The guest sees the CPUID KVM supports (without it KVM refuses EFER.LME).
static void set_cpuid(struct vm* vm) {
  int entries = 256;
  struct kvm_cpuid2* cpuid = calloc(1, sizeof *cpuid + entries * sizeof(struct kvm_cpuid_entry2));
  cpuid->nent = entries;
  if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
    fail(EXIT_UNAVAILABLE, "unavailable: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
  if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
    fail(EXIT_UNAVAILABLE, "unavailable: KVM_SET_CPUID2: %s", strerror(errno));
  free(cpuid);
}

// with_irqchip: the PIC, IOAPIC and local APIC in the kernel (KVM_CREATE_IRQCHIP), so port
// 0x21 is handled there and HLT waits in the kernel; without it HLT comes to user space.
static void create_vm(struct vm* vm, int with_irqchip, int cpl, size_t fault_pages) {
  memset(vm, 0, sizeof *vm);
  vm->cpl = cpl;
  vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (vm->fd < 0) fail(EXIT_UNAVAILABLE, "unavailable: KVM_CREATE_VM: %s", strerror(errno));
  if (with_irqchip && ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
    fail(EXIT_UNAVAILABLE, "unavailable: KVM_CREATE_IRQCHIP: %s", strerror(errno));

  vm->low_memory = mmap(NULL, LOW_MEMORY_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (vm->low_memory == MAP_FAILED) fail(EXIT_FAILED, "mmap: %s", strerror(errno));
  write_page_tables(vm->low_memory);
  memcpy(vm->low_memory + CODE_ADDRESS, guest_code_start, guest_code_end - guest_code_start);
  set_memory(vm, 0, 0, vm->low_memory, LOW_MEMORY_SIZE);

  // 4 KiB host pages, so that every guest page touched is a fault of its own.
  vm->fault_region_size = (fault_pages ? fault_pages : 1) * 4096;
  vm->fault_region = mmap(NULL, vm->fault_region_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (vm->fault_region == MAP_FAILED) fail(EXIT_FAILED, "mmap: %s", strerror(errno));
  madvise(vm->fault_region, vm->fault_region_size, MADV_NOHUGEPAGE);
  set_memory(vm, 1, FAULT_REGION_ADDRESS, vm->fault_region, vm->fault_region_size);

  vm->vcpu_fd = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
  if (vm->vcpu_fd < 0) fail(EXIT_UNAVAILABLE, "unavailable: KVM_CREATE_VCPU: %s", strerror(errno));
  int run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  vm->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
  if (vm->run == MAP_FAILED) fail(EXIT_FAILED, "mmap of kvm_run: %s", strerror(errno));
  set_cpuid(vm);
  set_long_mode(vm);
}

static void destroy_vm(struct vm* vm) {
  close(vm->vcpu_fd);
  close(vm->fd);
  munmap(vm->low_memory, LOW_MEMORY_SIZE);
  munmap(vm->fault_region, vm->fault_region_size);
}

// Runs the guest from `entry` until it reports; answers the exits that come to user space
// (user-space port, MMIO, HLT without an in-kernel APIC) and returns the guest's TSC cycles.
static uint64_t run_guest(struct vm* vm, const unsigned char* entry, uint64_t operations, uint64_t address) {
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = CODE_ADDRESS + (uint64_t)(entry - guest_code_start);
  regs.rsi = operations;
  regs.rdi = address;
  regs.rsp = STACK_TOP;
  regs.rflags = vm->cpl ? 0x3002 : 0x2;  // IOPL 3 at CPL 3, so that IN and OUT exit rather than fault
  if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) fail(EXIT_FAILED, "KVM_SET_REGS: %s", strerror(errno));
  vm->user_exits = 0;
  vm->answering_cycles = 0;
  uint64_t returned = 0;
  for (;;) {
    if (returned) vm->answering_cycles += read_tsc() - returned;
    if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_FAILED, "KVM_RUN: %s", strerror(errno));
    }
    returned = read_tsc();
    struct kvm_run* run = vm->run;
    switch (run->exit_reason) {
      case KVM_EXIT_IO:
        if (run->io.port == REPORT_PORT && run->io.direction == KVM_EXIT_IO_OUT) {
          if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0) fail(EXIT_FAILED, "KVM_GET_REGS: %s", strerror(errno));
          return regs.rax;
        }
        if (run->io.port == USER_IO_PORT && run->io.direction == KVM_EXIT_IO_IN) {
          memset((char*)run + run->io.data_offset, 0, (size_t)run->io.size * run->io.count);
          ++vm->user_exits;
          continue;
        }
        fail(EXIT_FAILED, "unexpected port I/O exit: port 0x%x, direction %d", run->io.port, run->io.direction);
      case KVM_EXIT_MMIO:
        if (!run->mmio.is_write) memset(run->mmio.data, 0, sizeof run->mmio.data);
        ++vm->user_exits;
        continue;
      case KVM_EXIT_HLT:
        ++vm->user_exits;
        continue;
      case KVM_EXIT_FAIL_ENTRY:
        fail(EXIT_FAILED, "VM entry failed: hardware reason 0x%llx",
             (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
      case KVM_EXIT_INTERNAL_ERROR:
        fail(EXIT_FAILED, "KVM internal error, suberror %u", run->internal.suberror);
      case KVM_EXIT_SHUTDOWN:
        fail(EXIT_FAILED, "the guest shut down (triple fault)");
      default:
        fail(EXIT_FAILED, "unexpected exit reason %u", run->exit_reason);
    }
  }
}

struct benchmark {
  const char* name;
  const char* what;
  const unsigned char* entry;
  int vm;               // 0: the VM with the in-kernel irqchip; 1: the one without, at CPL 0
  uint64_t operations;  // in a full run; a tenth with --quick
  int user_space;       // each operation exits to the probe
  const char* baseline; // a benchmark of the same VM whose cycles are subtracted (the loop's own)
};

struct result {
  double median, minimum;  // cycles per operation over the repetitions
  double loop_median;      // before the baseline's median was subtracted
  double answering;        // of an exit to user space: the probe's own cycles in user space (median)
  double samples[64];
};

static int compare_doubles(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(const double* values, int count) {
  double sorted[64];
  memcpy(sorted, values, count * sizeof *values);
  qsort(sorted, count, sizeof *sorted, compare_doubles);
  return count % 2 ? sorted[count / 2] : 0.5 * (sorted[count / 2 - 1] + sorted[count / 2]);
}

static double minimum(const double* values, int count) {
  double m = values[0];
  for (int i = 1; i < count; ++i)
    if (values[i] < m) m = values[i];
  return m;
}

static void print_samples(const char* key, const double* samples, int count) {
  printf("%s = [", key);
  for (int i = 0; i < count; ++i) printf("%s%.1f", i ? ", " : "", samples[i]);
  printf("]\n");
}

// One benchmark: a warm-up run (which also lets KVM build what the first exit of a kind
// builds, e.g. the shadow entry of the MMIO page), then `repetitions` timed runs.
static void measure(struct vm* vm, const struct benchmark* b, uint64_t operations, int repetitions,
                    struct result* result) {
  uint64_t address = b->entry == guest_mmio ? MMIO_ADDRESS : 0;
  run_guest(vm, b->entry, operations / 10 + 1, address);
  double answering[64];
  for (int r = 0; r < repetitions; ++r) {
    uint64_t cycles = run_guest(vm, b->entry, operations, address);
    if (b->user_space && vm->user_exits != operations)
      fail(EXIT_FAILED, "%s: %llu exits to user space for %llu operations", b->name,
           (unsigned long long)vm->user_exits, (unsigned long long)operations);
    result->samples[r] = (double)cycles / operations;
    answering[r] = (double)vm->answering_cycles / operations;
  }
  result->answering = median(answering, repetitions);
  result->median = result->loop_median = median(result->samples, repetitions);
  result->minimum = minimum(result->samples, repetitions);
}

// First and second touch of every page of the fault region; the host's pages are dropped
// (MADV_DONTNEED, which also removes KVM's mappings of them) before every first touch.
static void measure_touch(struct vm* vm, uint64_t pages, int repetitions, double* first, double* second) {
  for (int r = 0; r < repetitions; ++r) {
    if (madvise(vm->fault_region, vm->fault_region_size, MADV_DONTNEED) < 0)
      fail(EXIT_FAILED, "madvise: %s", strerror(errno));
    first[r] = (double)run_guest(vm, guest_touch, pages, FAULT_REGION_ADDRESS) / pages;
    second[r] = (double)run_guest(vm, guest_touch, pages, FAULT_REGION_ADDRESS) / pages;
  }
}

static void read_cpuinfo(char* model, size_t size, int* family, int* model_number, int* stepping) {
  snprintf(model, size, "unknown");
  *family = *model_number = *stepping = -1;
  FILE* f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  int seen_model_name = 0;
  while (fgets(line, sizeof line, f)) {
    char* value = strchr(line, ':');
    if (!value) continue;
    value += 2;
    value[strcspn(value, "\n")] = 0;
    if (!strncmp(line, "model name", 10) && !seen_model_name) {
      snprintf(model, size, "%s", value);
      seen_model_name = 1;
    } else if (!strncmp(line, "cpu family", 10) && *family < 0) {
      *family = atoi(value);
    } else if (!strncmp(line, "model\t", 6) && *model_number < 0) {
      *model_number = atoi(value);
    } else if (!strncmp(line, "stepping", 8) && *stepping < 0) {
      *stepping = atoi(value);
      break;
    }
  }
  fclose(f);
}

static void read_small_file(const char* path, char* out, size_t size) {
  snprintf(out, size, "absent");
  FILE* f = fopen(path, "r");
  if (!f) return;
  if (fgets(out, size, f)) out[strcspn(out, "\n")] = 0;
  fclose(f);
}

// The hypervisor this host itself runs under (CPUID leaf 0x40000000), if any.
static void host_hypervisor(char* out, size_t size) {
  uint32_t a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  if (!(c & (1u << 31))) {
    snprintf(out, size, "none (bare metal)");
    return;
  }
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000), "c"(0));
  char signature[13];
  memcpy(signature, &b, 4);
  memcpy(signature + 4, &c, 4);
  memcpy(signature + 8, &d, 4);
  signature[12] = 0;
  for (int i = 0; i < 12; ++i)
    if (signature[i] && (signature[i] < 32 || signature[i] > 126 || signature[i] == '"')) signature[i] = '?';
  snprintf(out, size, "%s", signature);
}

// Which KVM module serves /dev/kvm: kvm_intel (VT-x), kvm_amd (AMD-V) or kvm_pvm (PVM, which
// runs guests without hardware virtualization, with shadow paging).
static const char* kvm_backend(void) {
  if (access("/sys/module/kvm_intel", F_OK) == 0) return "kvm_intel";
  if (access("/sys/module/kvm_amd", F_OK) == 0) return "kvm_amd";
  if (access("/sys/module/kvm_pvm", F_OK) == 0) return "kvm_pvm";
  return "unknown";
}

static double calibrate_tsc_khz(double seconds) {
  double t0 = monotonic_seconds();
  uint64_t c0 = read_tsc();
  while (monotonic_seconds() - t0 < seconds) {
  }
  double t1 = monotonic_seconds();
  uint64_t c1 = read_tsc();
  return (c1 - c0) / (t1 - t0) / 1000.0;
}

// Other work on the host's CPUs would otherwise be counted in the guest's TSC cycles: a
// real-time priority keeps the probe on its CPU (the kernel's real-time throttling still
// leaves the others a share, and the watchdog still fires). Returns how the probe is scheduled.
static const char* raise_priority(int wanted) {
  if (!wanted) return "SCHED_OTHER (--no-realtime)";
  struct sched_param parameter = {.sched_priority = 1};
  if (sched_setscheduler(0, SCHED_FIFO, &parameter) < 0) return "SCHED_OTHER (SCHED_FIFO refused)";
  return "SCHED_FIFO priority 1";
}

// Time the host's kernel says this (virtual) CPU lost to other guests of the host it runs on.
static unsigned long long steal_ticks(void) {
  unsigned long long user, nice, system, idle, iowait, irq, softirq, steal = 0;
  FILE* f = fopen("/proc/stat", "r");
  if (!f) return 0;
  if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq,
             &softirq, &steal) != 8)
    steal = 0;
  fclose(f);
  return steal;
}

static void usage(void) {
  printf(
          "usage: kvm-probe [--quick] [--repetitions N] [--timeout SECONDS] [--guest-cpl 0|3] [--no-realtime]\n"
          "                 [--device PATH]\n"
          "Measures VM exits of a minimal guest under this host's KVM and prints them as TOML.\n"
          "Exit status: 0 measured, 1 failed, 2 bad usage, 3 KVM unavailable, 4 watchdog.\n");
  exit(0);
}

static void print_result(const struct benchmark* b, uint64_t operations, const struct result* r, int repetitions,
                         int cpl, int tsc_khz) {
  printf("\n[%s]\n", b->name);
  printf("what = \"%s\"\n", b->what);
  printf("guest_cpl = %d\n", cpl);
  printf("operations = %llu\n", (unsigned long long)operations);
  printf("cycles_per_operation = %.1f\n", r->median);
  printf("minimum_cycles_per_operation = %.1f\n", r->minimum);
  printf("ns_per_operation = %.1f\n", r->median / tsc_khz * 1e6);
  if (b->user_space)
    printf("probe_cycles_per_operation = %.1f  # of those, the probe's own, between KVM_RUN's return and the next call\n",
           r->answering);
  if (b->baseline)
    printf("loop_cycles_per_operation = %.1f  # before [%s] was subtracted\n", r->loop_median, b->baseline);
  print_samples("samples", r->samples, repetitions);
}

int main(int argc, char** argv) {
  int quick = 0, repetitions = 7, cpl = -1, realtime = 1;
  const char* device = "/dev/kvm";
  unsigned timeout = 300;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--quick")) {
      quick = 1;
    } else if (!strcmp(argv[i], "--repetitions") && i + 1 < argc) {
      repetitions = atoi(argv[++i]);
      if (repetitions < 1 || repetitions > 64) fail(EXIT_USAGE, "error: --repetitions: expected 1 to 64");
    } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
      int seconds = atoi(argv[++i]);
      if (seconds < 1) fail(EXIT_USAGE, "error: --timeout: expected a positive number of seconds");
      timeout = (unsigned)seconds;
    } else if (!strcmp(argv[i], "--guest-cpl") && i + 1 < argc) {
      ++i;
      if (strcmp(argv[i], "0") && strcmp(argv[i], "3")) fail(EXIT_USAGE, "error: --guest-cpl: expected 0 or 3");
      cpl = atoi(argv[i]);
    } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
      device = argv[++i];
    } else if (!strcmp(argv[i], "--no-realtime")) {
      realtime = 0;
    } else if (!strcmp(argv[i], "--help")) {
      usage();
    } else {
      fail(EXIT_USAGE, "error: unknown or incomplete argument '%s' (kvm-probe --help lists them)", argv[i]);
    }
  }
  if (quick && repetitions == 7) repetitions = 3;
  signal(SIGALRM, on_alarm);
  alarm(timeout);

  open_kvm(device);
  // PVM runs a guest's supervisor mode by emulating it instruction by instruction unless the
  // guest is a PVM kernel, so there the loops run in guest user mode, where PVM runs them
  // natively and CPUID, port I/O, MMIO and page faults still go to the hypervisor.
  const char* module = kvm_backend();
  if (cpl < 0) cpl = strcmp(module, "kvm_pvm") == 0 ? 3 : 0;
  uint64_t scale = quick ? 10 : 1;
  uint64_t touch_pages = 8192 / scale;
  const struct benchmark benchmarks[] = {
      {"nop", "the timing loop alone, no exit", guest_nop, 0, 1000000, 0, NULL},
      {"cpuid", "CPUID leaf 0: an exit handled in the kernel", guest_cpuid, 0, 20000, 0, NULL},
      {"io_kernel", "IN from port 0x21, the in-kernel PIC (KVM_CREATE_IRQCHIP)", guest_io_kernel, 0, 20000, 0, NULL},
      {"io_user", "IN from port 0xb008, no in-kernel device: KVM_EXIT_IO to the probe, which re-enters",
       guest_io_user, 0, 10000, 1, NULL},
      {"mmio", "load from guest-physical 0xd0000000, in no memory slot: KVM_EXIT_MMIO to the probe, which re-enters",
       guest_mmio, 0, 10000, 1, NULL},
      {"nop_supervisor", "the timing loop alone at CPL 0 in the VM without in-kernel irqchip", guest_nop, 1, 10000,
       0, NULL},
      {"cpuid_supervisor", "CPUID leaf 0 at CPL 0 in the VM without in-kernel irqchip", guest_cpuid, 1, 10000, 0,
       "nop_supervisor"},
      {"hlt", "HLT at CPL 0 in a VM without in-kernel irqchip: KVM_EXIT_HLT to the probe, which re-enters at once",
       guest_hlt, 1, 10000, 1, "nop_supervisor"},
  };
  enum { BENCHMARKS = sizeof benchmarks / sizeof benchmarks[0] };

  struct vm vms[2];
  create_vm(&vms[0], 1, cpl, touch_pages);
  create_vm(&vms[1], 0, 0, 1);  // HLT is privileged: CPL 0 whatever the other VM's
  int tsc_khz = ioctl(vms[0].vcpu_fd, KVM_GET_TSC_KHZ, 0);
  if (tsc_khz <= 0) fail(EXIT_FAILED, "KVM_GET_TSC_KHZ: %s", strerror(errno));
  double calibrated_khz = calibrate_tsc_khz(quick ? 0.02 : 0.2);
  const char* scheduling = raise_priority(realtime);
  unsigned long long steal_before = steal_ticks();
  double start_seconds = monotonic_seconds();

  static struct result results[BENCHMARKS];
  for (int i = 0; i < BENCHMARKS; ++i) {
    measure(&vms[benchmarks[i].vm], &benchmarks[i], benchmarks[i].operations / scale, repetitions, &results[i]);
    for (int j = 0; j < i && benchmarks[i].baseline; ++j)
      if (!strcmp(benchmarks[j].name, benchmarks[i].baseline)) {
        // The baseline's median from both, so that the minimum stays at or below the median.
        results[i].median -= results[j].median;
        results[i].minimum -= results[j].median;
      }
  }
  double first[64], second[64], difference[64];
  measure_touch(&vms[0], touch_pages, repetitions, first, second);
  for (int r = 0; r < repetitions; ++r) difference[r] = first[r] - second[r];
  double elapsed_seconds = monotonic_seconds() - start_seconds;
  unsigned long long stolen = steal_ticks() - steal_before;
  destroy_vm(&vms[0]);
  destroy_vm(&vms[1]);

  char model[256], kernel_line[300], hypervisor[32], halt_poll[64], thp[128], mmio_caching[64], load[128];
  int family, model_number, stepping;
  read_cpuinfo(model, sizeof model, &family, &model_number, &stepping);
  struct utsname names;
  uname(&names);
  snprintf(kernel_line, sizeof kernel_line, "%s %s", names.sysname, names.release);
  host_hypervisor(hypervisor, sizeof hypervisor);
  read_small_file("/sys/module/kvm/parameters/halt_poll_ns", halt_poll, sizeof halt_poll);
  read_small_file("/sys/module/kvm/parameters/mmio_caching", mmio_caching, sizeof mmio_caching);
  read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof thp);
  read_small_file("/proc/loadavg", load, sizeof load);
  time_t now = time(NULL);
  char date[32];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));

  printf("# kvm-probe measurements (tools/kvm-probe/README.md says what each figure is).\n");
  printf("[host]\n");
  printf("date = \"%s\"\n", date);
  printf("cpu_model = \"%s\"\n", model);
  printf("cpu_family = %d\ncpu_model_number = %d\ncpu_stepping = %d\n", family, model_number, stepping);
  printf("online_cpus = %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
  printf("load_average = \"%s\"  # /proc/loadavg after the run: other work shares the CPUs\n", load);
  printf("kernel = \"%s\"\n", kernel_line);
  printf("runs_under_hypervisor = \"%s\"  # CPUID 0x40000000 of the host itself\n", hypervisor);
  printf("kvm_module = \"%s\"\n", module);
  printf("kvm_api_version = %d\n", KVM_API_VERSION);
  printf("halt_poll_ns = \"%s\"\n", halt_poll);
  printf("mmio_caching = \"%s\"\n", mmio_caching);
  printf("transparent_hugepage = \"%s\"\n", thp);
  printf("tsc_khz = %d  # KVM_GET_TSC_KHZ of the guest's vCPU: the rate of every cycle figure\n", tsc_khz);
  printf("tsc_khz_calibrated = %.0f  # the host's TSC against CLOCK_MONOTONIC_RAW\n", calibrated_khz);
  printf("steal_seconds = %.2f  # /proc/stat steal time of all CPUs during the %.1f s of measurements\n",
         (double)stolen / sysconf(_SC_CLK_TCK), elapsed_seconds);
  printf("\n[probe]\nquick = %s\nrepetitions = %d\n", quick ? "true" : "false", repetitions);
  printf("scheduling = \"%s\"\n", scheduling);
  printf("statistic = \"median of the repetitions, in TSC cycles per operation\"\n");
  printf("guest_cpl = %d  # CPL of the loops in the VM with the in-kernel irqchip\n", cpl);
  for (int i = 0; i < BENCHMARKS; ++i)
    print_result(&benchmarks[i], benchmarks[i].operations / scale, &results[i], repetitions,
                 benchmarks[i].vm ? 0 : cpl, tsc_khz);
  printf("\n[page_fault]\n");
  printf("what = \"a store to each 4 KiB page of a region whose host pages were just dropped, less a second store\"\n");
  printf("guest_cpl = %d\n", cpl);
  printf("operations = %llu\n", (unsigned long long)touch_pages);
  printf("cycles_per_operation = %.1f  # median over the repetitions of first - second touch\n",
         median(difference, repetitions));
  printf("minimum_cycles_per_operation = %.1f\n", minimum(difference, repetitions));
  printf("ns_per_operation = %.1f\n", median(difference, repetitions) / tsc_khz * 1e6);
  printf("first_touch_cycles = %.1f\nsecond_touch_cycles = %.1f\n", median(first, repetitions),
         median(second, repetitions));
  print_samples("first_touch_samples", first, repetitions);
  print_samples("second_touch_samples", second, repetitions);
  return 0;
}
