/* virtsim-calibrate: lmbench-style microbenchmarks of the host's kernel, run natively, whose
 * results calibrate the guest OS model's kernel costs (scripts/calibrate-kernel).
 *
 * Usage: virtsim-calibrate [--quick] [--output FILE]
 * Writes JSON (format "virtsim-calibration-1", documented in workloads/calibrate/README.md):
 * host facts, the clock, and per benchmark the latency per operation (ns and cycles of the
 * host's TSC) over several repetitions, with minor faults per operation from getrusage.
 * The whole process (and every child it forks) is pinned to one CPU, so a fork, an exec and a
 * pipe ping-pong switch processes on that CPU, as the model's single vCPU does.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

/* argv[1] of the exec'd image: exit at once (fork+exec+wait execs this binary). */
#define EXIT_AT_ONCE "--exit-at-once"
#define PAGE 4096UL
#define MAX_REPETITIONS 15

static const char* self_path;

static void die(const char* what) {
  fprintf(stderr, "virtsim-calibrate: %s: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_RAW, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* CPU time of this process (every thread) and of its reaped children, in ns: on a busy host
 * the time other processes hold the CPU is in the wall-clock time but not in these. */
static uint64_t cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  struct rusage u;
  getrusage(RUSAGE_CHILDREN, &u);
  const uint64_t children = ((uint64_t)u.ru_utime.tv_sec + (uint64_t)u.ru_stime.tv_sec) * 1000000000ULL +
                            ((uint64_t)u.ru_utime.tv_usec + (uint64_t)u.ru_stime.tv_usec) * 1000ULL;
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec + children;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static long minor_faults(int who) {
  struct rusage u;
  getrusage(who, &u);
  return u.ru_minflt;
}

/* ---- the benchmarks: each runs `n` operations of size `size` and returns the elapsed ns ---- */

typedef uint64_t (*bench_fn)(long n, long size);

static uint64_t null_syscall(long n, long size) {
  (void)size;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) syscall(SYS_getppid); /* never cached by libc */
  return now_ns() - t0;
}

/* A parent of `size` extra written pages forks a child that exits at once, and waits. */
static char* parent_heap;
static long parent_heap_pages;

static void grow_parent(long pages) {
  if (parent_heap_pages == pages) return;
  if (parent_heap) munmap(parent_heap, parent_heap_pages * PAGE);
  parent_heap = NULL;
  parent_heap_pages = pages;
  if (!pages) return;
  parent_heap = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (parent_heap == MAP_FAILED) die("mmap");
  madvise(parent_heap, pages * PAGE, MADV_NOHUGEPAGE);
  for (long p = 0; p < pages; ++p) parent_heap[p * PAGE] = 1;
}

static void wait_child(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status)) {
    fprintf(stderr, "virtsim-calibrate: a child failed (status %d)\n", status);
    exit(1);
  }
}

static uint64_t fork_call_ns; /* CPU time the parent spent in fork() itself, summed */
/* Minor faults and CPU time of the timed part, for benchmarks that time only part of their
 * work (-1: all of it counts). */
static long timed_faults = -1;
static int64_t timed_cpu_ns = -1;

static uint64_t fork_exit_wait(long n, long size) {
  grow_parent(size);
  fork_call_ns = 0;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    uint64_t f0 = thread_cpu_ns();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) _exit(0);
    fork_call_ns += thread_cpu_ns() - f0;
    wait_child(pid);
  }
  return now_ns() - t0;
}

static uint64_t fork_exec_wait(long n, long size) {
  (void)size;
  grow_parent(0);
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      char* args[] = {(char*)self_path, EXIT_AT_ONCE, NULL};
      char* env[] = {NULL};
      execve(self_path, args, env);
      _exit(127);
    }
    wait_child(pid);
  }
  return now_ns() - t0;
}

static char* fresh_area(long pages) {
  char* a = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) die("mmap");
  madvise(a, pages * PAGE, MADV_NOHUGEPAGE); /* 4 KiB pages, as the model's default */
  return a;
}

/* n first-touch faults: areas of `size` pages are mapped (untimed), each page written once. */
static uint64_t first_touch(long n, long size) {
  uint64_t total = 0;
  timed_faults = 0;
  timed_cpu_ns = 0;
  for (long done = 0; done < n; done += size) {
    long pages = n - done < size ? n - done : size;
    char* a = fresh_area(pages);
    const long f0 = minor_faults(RUSAGE_SELF);
    const uint64_t c0 = thread_cpu_ns();
    uint64_t t0 = now_ns();
    for (long p = 0; p < pages; ++p) a[p * PAGE] = 1;
    total += now_ns() - t0;
    timed_cpu_ns += (int64_t)(thread_cpu_ns() - c0);
    timed_faults += minor_faults(RUSAGE_SELF) - f0;
    munmap(a, pages * PAGE);
  }
  return total;
}

/* n copy-on-write faults: the parent writes pages it shares with a forked child that waits,
 * `size` pages per fork (the fork, the child and the unmap untimed). */
static uint64_t cow_fault(long n, long size) {
  uint64_t total = 0;
  timed_faults = 0;
  timed_cpu_ns = 0;
  for (long done = 0; done < n; done += size) {
    long pages = n - done < size ? n - done : size;
    char* a = fresh_area(pages);
    for (long p = 0; p < pages; ++p) a[p * PAGE] = 1;
    int go[2];
    if (pipe(go)) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      char c;
      close(go[1]);
      _exit(read(go[0], &c, 1) < 0);
    }
    close(go[0]);
    const long f0 = minor_faults(RUSAGE_SELF);
    const uint64_t c0 = thread_cpu_ns();
    uint64_t t0 = now_ns();
    for (long p = 0; p < pages; ++p) a[p * PAGE] = 2;
    total += now_ns() - t0;
    timed_cpu_ns += (int64_t)(thread_cpu_ns() - c0);
    timed_faults += minor_faults(RUSAGE_SELF) - f0;
    close(go[1]); /* the child's read returns 0: it exits */
    wait_child(pid);
    munmap(a, pages * PAGE);
  }
  return total;
}

static uint64_t mmap_touch_munmap(long n, long size) {
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    char* a = mmap(NULL, size * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) die("mmap");
    for (long p = 0; p < size; ++p) a[p * PAGE] = 1;
    munmap(a, size * PAGE);
  }
  return now_ns() - t0;
}

/* n round trips of one byte between two processes through two pipes, on one CPU: each round
 * trip is two context switches, two writes and two reads. */
static uint64_t pipe_pingpong(long n, long size) {
  (void)size;
  int there[2], back[2];
  if (pipe(there) || pipe(back)) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  char c = 0;
  if (pid == 0) {
    for (long i = 0; i < n + 1; ++i) {
      if (read(there[0], &c, 1) != 1) _exit(1);
      if (write(back[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  /* One round trip first, so both processes are running their loops when timing starts. */
  if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) die("pipe round trip");
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i)
    if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) die("pipe round trip");
  uint64_t elapsed = now_ns() - t0;
  wait_child(pid);
  close(there[0]), close(there[1]), close(back[0]), close(back[1]);
  return elapsed;
}

/* ---- system calls by class: each times one kind of call, what the suite's captures make most
 * (read, write, epoll_wait/poll, open, close, stat, lseek), on a file in the page cache, a pipe
 * and a loopback TCP connection. Calls are timed in batches (one clock pair per batch: the
 * thread CPU clock is itself a system call); the calls that refill or drain between batches
 * are not timed. ---- */

#define IO_BATCH 16
/* Four times the calibration host's 32 MiB L3: a database's file, whose pages and page-cache
 * structures a random read finds outside the CPU caches. */
#define FILE_BYTES (128L << 20)
static char io_buffer[1 << 16];
static char file_path[4096];
static int file_fd = -1;

static void remove_file(void) {
  if (file_fd < 0) return;
  close(file_fd);
  unlink(file_path);
  file_fd = -1;
}

/* A 128 MiB file of this program's own, written and read once so its pages are in the page cache. */
static void make_file(void) {
  if (file_fd >= 0) return;
  const char* dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(file_path, sizeof file_path, "%s/virtsim-calibrate-XXXXXX", dir);
  file_fd = mkstemp(file_path);
  if (file_fd < 0) die(file_path);
  atexit(remove_file);
  memset(io_buffer, 'v', sizeof io_buffer);
  for (long done = 0; done < FILE_BYTES; done += (long)sizeof io_buffer)
    if (write(file_fd, io_buffer, sizeof io_buffer) != (ssize_t)sizeof io_buffer) die("write");
  for (long done = 0; done < FILE_BYTES; done += (long)sizeof io_buffer)
    if (pread(file_fd, io_buffer, sizeof io_buffer, done) != (ssize_t)sizeof io_buffer) die("pread");
}

/* Adds the thread CPU time and elapsed time since (*cpu0, *t0) to the timed totals. The
 * elapsed interval encloses the CPU-time one (whose clock is a system call of its own), so a
 * batch's CPU time is never more than its elapsed time. */
static uint64_t timed_elapsed;
static void start_timing(uint64_t* cpu0, uint64_t* t0) {
  *t0 = now_ns();
  *cpu0 = thread_cpu_ns();
}
static void stop_timing(uint64_t cpu0, uint64_t t0) {
  timed_cpu_ns += (int64_t)(thread_cpu_ns() - cpu0);
  timed_elapsed += now_ns() - t0;
}
static void reset_timing(void) {
  timed_elapsed = 0;
  timed_cpu_ns = 0;
}

/* n page zeroings as Linux's clear_page makes them on a CPU with ERMS (REP STOSB of 4 KiB), in
 * user mode over `size` pages no cache holds: the pages are written once first (their faults
 * untimed), and before each batch a sweep over EVICT_BYTES, far beyond the last-level cache,
 * evicts them (untimed). What a page costs is the rate at which the core writes whole lines
 * out (the model's string_store_line_cycles). */
#define EVICT_BYTES (512L << 20)
static void zero_page(char* page) {
  size_t bytes = PAGE;
  __asm__ volatile("rep stosb" : "+D"(page), "+c"(bytes) : "a"(0) : "memory");
}
static uint64_t clear_page(long n, long size) {
  char* area = fresh_area(size);
  char* evict = fresh_area(EVICT_BYTES / (long)PAGE);
  for (long p = 0; p < size; ++p) area[p * PAGE] = 1;
  reset_timing();
  timed_faults = 0;
  for (long done = 0; done < n; done += size) {
    const long pages = n - done < size ? n - done : size;
    for (long i = 0; i < EVICT_BYTES; i += 64) evict[i]++;
    uint64_t c0, t0;
    start_timing(&c0, &t0);
    for (long p = 0; p < pages; ++p) zero_page(area + p * PAGE);
    stop_timing(c0, t0);
  }
  munmap(evict, EVICT_BYTES);
  munmap(area, size * PAGE);
  return timed_elapsed;
}

/* Where the i-th access of `size` bytes goes: a page of the file picked by a fixed
 * pseudo-random sequence, as a database reads its pages (offsets aligned to the size). */
static long file_offset(long i, long size) {
  const uint64_t mixed = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
  return (long)((mixed >> 20) % (uint64_t)(FILE_BYTES / size)) * size;
}

/* pread of `size` bytes at a pseudo-random offset of the cached file. */
static uint64_t file_read(long n, long size) {
  make_file();
  reset_timing();
  uint64_t c0, t0;
  start_timing(&c0, &t0);
  for (long i = 0; i < n; ++i)
    if (pread(file_fd, io_buffer, (size_t)size, file_offset(i, size)) != size) die("pread");
  stop_timing(c0, t0);
  return timed_elapsed;
}

/* pwrite of `size` bytes over cached pages of the file at a pseudo-random offset (no block is
 * allocated: it exists). */
static uint64_t file_write(long n, long size) {
  make_file();
  reset_timing();
  uint64_t c0, t0;
  start_timing(&c0, &t0);
  for (long i = 0; i < n; ++i)
    if (pwrite(file_fd, io_buffer, (size_t)size, file_offset(i, size)) != size) die("pwrite");
  stop_timing(c0, t0);
  return timed_elapsed;
}

static uint64_t file_lseek(long n, long size) {
  (void)size;
  make_file();
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i)
    if (lseek(file_fd, (i * 512) % FILE_BYTES, SEEK_SET) < 0) die("lseek");
  return now_ns() - t0;
}

/* fstat of the open file and stat of its path (a path walk of /tmp/NAME). */
static uint64_t file_fstat(long n, long size) {
  (void)size;
  make_file();
  struct stat st;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i)
    if (syscall(SYS_fstat, file_fd, &st)) die("fstat");
  return now_ns() - t0;
}

static uint64_t file_stat(long n, long size) {
  (void)size;
  make_file();
  struct stat st;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i)
    if (syscall(SYS_newfstatat, AT_FDCWD, file_path, &st, 0)) die("newfstatat");
  return now_ns() - t0;
}

/* openat of the file's path (`time_open`) or close of the descriptor it gave: the other half
 * of each pair is not timed. */
static uint64_t open_or_close(long n, int time_open) {
  make_file();
  reset_timing();
  int fds[IO_BATCH];
  for (long done = 0; done < n; done += IO_BATCH) {
    const long k = n - done < IO_BATCH ? n - done : IO_BATCH;
    uint64_t c0 = 0, t0 = 0;
    if (time_open) start_timing(&c0, &t0);
    for (long i = 0; i < k; ++i)
      if ((fds[i] = (int)syscall(SYS_openat, AT_FDCWD, file_path, O_RDONLY)) < 0) die("openat");
    if (time_open) stop_timing(c0, t0);
    if (!time_open) start_timing(&c0, &t0);
    for (long i = 0; i < k; ++i) syscall(SYS_close, fds[i]);
    if (!time_open) stop_timing(c0, t0);
  }
  return timed_elapsed;
}

static uint64_t file_open(long n, long size) { (void)size; return open_or_close(n, 1); }
static uint64_t file_close(long n, long size) { (void)size; return open_or_close(n, 0); }

/* A loopback TCP connection (TCP_NODELAY: each write is a segment, as a server's replies are)
 * or a pipe: `ends[0]` is read, `ends[1]` written. */
static int tcp_ends[2] = {-1, -1}, pipe_ends[2] = {-1, -1};

static void make_tcp(void) {
  if (tcp_ends[0] >= 0) return;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (listener < 0 || bind(listener, (struct sockaddr*)&a, sizeof a) || listen(listener, 1) ||
      getsockname(listener, (struct sockaddr*)&a, &len))
    die("loopback listener");
  int client = socket(AF_INET, SOCK_STREAM, 0);
  if (client < 0 || connect(client, (struct sockaddr*)&a, sizeof a)) die("loopback connect");
  int server = accept(listener, NULL, NULL);
  if (server < 0) die("accept");
  close(listener);
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  tcp_ends[0] = server;
  tcp_ends[1] = client;
}

static void make_pipe(void) {
  if (pipe_ends[0] < 0 && pipe(pipe_ends)) die("pipe");
}

/* Batches of writes of `size` bytes into the channel, each batch then read back: `time_write`
 * says which side is timed. The reads find their data there (no call blocks). */
static uint64_t channel_batches(const int* ends, long n, long size, int time_write) {
  reset_timing();
  const long batch = size <= 256 ? IO_BATCH : 4; /* at most 16 KiB in flight: no write blocks */
  for (long done = 0; done < n; done += batch) {
    const long k = n - done < batch ? n - done : batch;
    uint64_t c0 = 0, t0 = 0;
    if (time_write) start_timing(&c0, &t0);
    for (long i = 0; i < k; ++i)
      if (write(ends[1], io_buffer, (size_t)size) != size) die("channel write");
    if (time_write) stop_timing(c0, t0);
    if (!time_write) start_timing(&c0, &t0);
    for (long i = 0; i < k; ++i)
      for (long got = 0; got < size;) {
        const ssize_t r = read(ends[0], io_buffer, (size_t)(size - got));
        if (r <= 0) die("channel read");
        got += r;
      }
    if (!time_write) stop_timing(c0, t0);
  }
  return timed_elapsed;
}

static uint64_t pipe_write(long n, long size) { make_pipe(); return channel_batches(pipe_ends, n, size, 1); }
static uint64_t pipe_read(long n, long size) { make_pipe(); return channel_batches(pipe_ends, n, size, 0); }
static uint64_t tcp_write(long n, long size) { make_tcp(); return channel_batches(tcp_ends, n, size, 1); }
static uint64_t tcp_read(long n, long size) { make_tcp(); return channel_batches(tcp_ends, n, size, 0); }

/* epoll_wait and poll on one descriptor that is always readable (a pipe holding a byte):
 * each call returns the one event at once, as an event loop's does when a request waits. */
static uint64_t ready_wait(long n, int use_epoll) {
  int ready[2];
  if (pipe(ready) || write(ready[1], "x", 1) != 1) die("pipe");
  uint64_t elapsed;
  if (use_epoll) {
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN}, got[8];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ready[0], &e)) die("epoll");
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; ++i)
      if (epoll_wait(ep, got, 8, 0) != 1) die("epoll_wait");
    elapsed = now_ns() - t0;
    close(ep);
  } else {
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; ++i)
      if (poll(&p, 1, 0) != 1) die("poll");
    elapsed = now_ns() - t0;
  }
  close(ready[0]), close(ready[1]);
  return elapsed;
}

/* clock_gettime as a program calls it: through the vDSO, in user mode, when the kernel maps one. */
static uint64_t vdso_clock_gettime(long n, long size) {
  (void)size;
  struct timespec t;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; ++i) clock_gettime(CLOCK_MONOTONIC, &t);
  return now_ns() - t0;
}

/* A request-response server on a loopback TCP connection, as an event loop serves one client:
 * a forked child waits in epoll_wait (it sleeps: the client sends the next request only after
 * the reply), reads the `size`-byte request and writes a reply of the same size; the parent is
 * the client. Both on one CPU. The CPU time is the server's alone (its utime + stime, read by
 * getrusage once it has been reaped). */
static uint64_t tcp_server_request(long n, long size) {
  make_tcp();
  reset_timing();
  struct rusage before, after;
  getrusage(RUSAGE_CHILDREN, &before);
  uint64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN}, got[8];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tcp_ends[0], &e)) _exit(1);
    for (long i = 0; i < n; ++i) {
      if (epoll_wait(ep, got, 8, -1) != 1) _exit(1);
      for (long have = 0; have < size;) {
        const ssize_t r = read(tcp_ends[0], io_buffer, (size_t)(size - have));
        if (r <= 0) _exit(1);
        have += r;
      }
      if (write(tcp_ends[0], io_buffer, (size_t)size) != size) _exit(1);
    }
    _exit(0);
  }
  for (long i = 0; i < n; ++i) {
    if (write(tcp_ends[1], io_buffer, (size_t)size) != size) die("request");
    for (long have = 0; have < size;) {
      const ssize_t r = read(tcp_ends[1], io_buffer, (size_t)(size - have));
      if (r <= 0) die("reply");
      have += r;
    }
  }
  wait_child(pid);
  const uint64_t elapsed = now_ns() - t0;
  getrusage(RUSAGE_CHILDREN, &after);
  const double us = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec -
                             before.ru_stime.tv_sec) * 1e6 +
                    (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec + after.ru_stime.tv_usec -
                             before.ru_stime.tv_usec);
  timed_cpu_ns = (int64_t)(us * 1000.0);
  return elapsed;
}

static uint64_t epoll_ready(long n, long size) { (void)size; return ready_wait(n, 1); }
static uint64_t poll_ready(long n, long size) { (void)size; return ready_wait(n, 0); }

/* ---- running and reporting ---- */

struct benchmark {
  const char* name;
  const char* operation; /* what one operation is */
  const char* size_unit;
  long size;
  long iterations, quick_iterations;
  bench_fn run;
};

static const struct benchmark BENCHMARKS[] = {
    {"null_syscall", "syscall(SYS_getppid)", "", 0, 500000, 50000, null_syscall},
    {"fork_exit_wait", "fork of a parent with `size` extra written pages; the child _exits at once; waitpid",
     "pages", 0, 1000, 100, fork_exit_wait},
    {"fork_exit_wait", "fork of a parent with `size` extra written pages; the child _exits at once; waitpid",
     "pages", 1024, 500, 50, fork_exit_wait},
    {"fork_exit_wait", "fork of a parent with `size` extra written pages; the child _exits at once; waitpid",
     "pages", 8192, 100, 20, fork_exit_wait},
    {"fork_exec_wait", "fork; the child execs this (static) binary, which exits at once; waitpid", "", 0, 250,
     50, fork_exec_wait},
    {"first_touch", "write to an anonymous page not touched before (a zero-fill fault)", "pages per area", 1024,
     65536, 8192, first_touch},
    {"cow_fault", "write to a private page shared with a forked child (a copy-on-write fault)", "pages per area",
     1024, 32768, 4096, cow_fault},
    {"mmap_touch_munmap", "mmap of `size` pages, a write to each, munmap", "pages", 1, 20000, 10000,
     mmap_touch_munmap},
    {"mmap_touch_munmap", "mmap of `size` pages, a write to each, munmap", "pages", 16, 4000, 2000,
     mmap_touch_munmap},
    {"mmap_touch_munmap", "mmap of `size` pages, a write to each, munmap", "pages", 64, 1000, 500,
     mmap_touch_munmap},
    {"mmap_touch_munmap", "mmap of `size` pages, a write to each, munmap", "pages", 256, 300, 200,
     mmap_touch_munmap},
    {"clear_page", "REP STOSB of a 4 KiB page no cache holds (Linux's clear_page with ERMS), in user mode",
     "pages per batch", 8192, 81920, 8192, clear_page},
    {"pipe_pingpong", "a one-byte round trip through two pipes between two processes on one CPU", "", 0, 20000,
     5000, pipe_pingpong},
    {"file_read", "pread of `size` bytes at a pseudo-random offset of a 128 MiB file in the page cache", "bytes", 64, 200000, 20000, file_read},
    {"file_read", "pread of `size` bytes at a pseudo-random offset of a 128 MiB file in the page cache", "bytes", 4096, 100000, 10000, file_read},
    {"file_read", "pread of `size` bytes at a pseudo-random offset of a 128 MiB file in the page cache", "bytes", 65536, 10000, 1000, file_read},
    {"file_write", "pwrite of `size` bytes at a pseudo-random offset over cached pages of a 128 MiB file", "bytes", 64, 100000, 10000, file_write},
    {"file_write", "pwrite of `size` bytes at a pseudo-random offset over cached pages of a 128 MiB file", "bytes", 4096, 50000, 5000, file_write},
    {"file_write", "pwrite of `size` bytes at a pseudo-random offset over cached pages of a 128 MiB file", "bytes", 65536, 10000, 1000, file_write},
    {"pipe_write", "write of `size` bytes into a pipe nobody waits on (read back untimed)", "bytes", 64, 100000, 10000,
     pipe_write},
    {"pipe_write", "write of `size` bytes into a pipe nobody waits on (read back untimed)", "bytes", 4096, 50000, 5000,
     pipe_write},
    {"pipe_read", "read of `size` bytes a pipe holds (written untimed)", "bytes", 64, 100000, 10000, pipe_read},
    {"pipe_read", "read of `size` bytes a pipe holds (written untimed)", "bytes", 4096, 50000, 5000, pipe_read},
    {"tcp_write", "write of `size` bytes on a loopback TCP connection (TCP_NODELAY; read back untimed)", "bytes", 64,
     50000, 5000, tcp_write},
    {"tcp_write", "write of `size` bytes on a loopback TCP connection (TCP_NODELAY; read back untimed)", "bytes", 4096,
     20000, 2000, tcp_write},
    {"tcp_read", "read of `size` bytes a loopback TCP connection holds (written untimed)", "bytes", 64, 50000, 5000,
     tcp_read},
    {"tcp_read", "read of `size` bytes a loopback TCP connection holds (written untimed)", "bytes", 4096, 20000, 2000,
     tcp_read},
    {"epoll_wait", "epoll_wait (timeout 0) on one always-readable descriptor: returns its event", "", 0, 200000, 20000,
     epoll_ready},
    {"poll", "poll (timeout 0) of one always-readable descriptor", "", 0, 200000, 20000, poll_ready},
    {"open", "openat of a file's path (its close untimed)", "", 0, 50000, 5000, file_open},
    {"close", "close of a descriptor of a file (its openat untimed)", "", 0, 50000, 5000, file_close},
    {"stat", "newfstatat of a file's path (/tmp/NAME)", "", 0, 200000, 20000, file_stat},
    {"fstat", "fstat of an open file", "", 0, 200000, 20000, file_fstat},
    {"lseek", "lseek of an open file (SEEK_SET)", "", 0, 200000, 20000, file_lseek},
    {"vdso_clock_gettime", "clock_gettime(CLOCK_MONOTONIC) through the vDSO (no kernel entry)", "", 0, 500000, 50000,
     vdso_clock_gettime},
    {"tcp_server_request", "a server's request on a loopback TCP connection: epoll_wait (sleeping until the request), "
     "read of `size` bytes, write of the reply of `size` bytes; the server's CPU time only", "bytes", 64, 20000, 2000,
     tcp_server_request},
};

#define BENCHMARK_COUNT (sizeof BENCHMARKS / sizeof BENCHMARKS[0])
#define MAX_ONLY 64

/* Whether `spec` (NAME, or NAME:SIZE: --only) names benchmark `k`. */
static int names(const char* spec, const struct benchmark* k) {
  const char* colon = strchr(spec, ':');
  const size_t name_length = colon ? (size_t)(colon - spec) : strlen(spec);
  return strlen(k->name) == name_length && !strncmp(k->name, spec, name_length) &&
         (!colon || strtol(colon + 1, NULL, 10) == k->size);
}

static int names_any(const char* spec) {
  for (size_t b = 0; b < BENCHMARK_COUNT; ++b)
    if (names(spec, &BENCHMARKS[b])) return 1;
  return 0;
}

static int selected_by(const char* const* only, int count, const struct benchmark* k) {
  for (int i = 0; i < count; ++i)
    if (names(only[i], k)) return 1;
  return 0;
}

static int compare_doubles(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(const double* v, int n) {
  double s[MAX_REPETITIONS];
  memcpy(s, v, (size_t)n * sizeof *v);
  qsort(s, (size_t)n, sizeof *s, compare_doubles);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double min_of(const double* v, int n) {
  double m = v[0];
  for (int i = 1; i < n; ++i) m = v[i] < m ? v[i] : m;
  return m;
}

static double max_of(const double* v, int n) {
  double m = v[0];
  for (int i = 1; i < n; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

/* The TSC's rate against CLOCK_MONOTONIC_RAW over `ms` milliseconds (the median of 5). */
static double measure_tsc_hz(int ms) {
  double hz[5];
  for (int r = 0; r < 5; ++r) {
    uint64_t t0 = now_ns(), c0 = __rdtsc();
    while (now_ns() - t0 < (uint64_t)ms * 1000000ULL) {
    }
    uint64_t t1 = now_ns(), c1 = __rdtsc();
    hz[r] = (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
  }
  return median(hz, 5);
}

static void json_string(FILE* out, const char* s) {
  fputc('"', out);
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\') fprintf(out, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(out, "\\u%04x", *s);
    else fputc(*s, out);
  }
  fputc('"', out);
}

static void cpu_model(char* out, size_t size) {
  unsigned int r[12] = {0}, a, b, c, d;
  out[0] = 0;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
    for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    snprintf(out, size, "%.48s", (const char*)r);
  }
  /* trim the padding */
  char* s = out;
  while (*s == ' ') ++s;
  memmove(out, s, strlen(s) + 1);
  for (size_t n = strlen(out); n && out[n - 1] == ' '; --n) out[n - 1] = 0;
}

static void cpu_signature(unsigned* family, unsigned* model, unsigned* stepping) {
  unsigned a = 0, b, c, d;
  __get_cpuid(1, &a, &b, &c, &d);
  unsigned base_family = (a >> 8) & 0xf;
  *family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
  *model = (base_family == 0xf || base_family == 6) ? (((a >> 16) & 0xf) << 4) | ((a >> 4) & 0xf) : (a >> 4) & 0xf;
  *stepping = a & 0xf;
}

/* CPUID leaf 1 ECX bit 31 (set by hypervisors) and the vendor of leaf 0x40000000. */
static int hypervisor(char* vendor, size_t size) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  vendor[0] = 0;
  __get_cpuid(1, &a, &b, &c, &d);
  if (!(c & (1u << 31))) return 0;
  __cpuid(0x40000000, a, b, c, d);
  unsigned v[3] = {b, c, d};
  snprintf(vendor, size, "%.12s", (const char*)v);
  return 1;
}

/* Resident pages of this process (/proc/self/status RssAnon or, with `file`, RssFile): the
 * "small parent" forked. Linux's fork copies the entries of anonymous memory; file-backed text
 * without private copies is faulted in again by the child. */
static long resident_pages(int file) {
  char line[256];
  long kib = 0;
  const char* key = file ? "RssFile:" : "RssAnon:";
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, strlen(key))) kib = strtol(line + strlen(key), NULL, 10);
  fclose(f);
  return kib / 4;
}

static void read_line(const char* path, char* out, size_t size) {
  out[0] = 0;
  FILE* f = fopen(path, "r");
  if (!f) return;
  if (fgets(out, (int)size, f)) out[strcspn(out, "\n")] = 0;
  fclose(f);
}

/* The capacity in KiB of this CPU's data or unified cache of `level` (sysfs), 0 if unknown: the
 * model's caches take these sizes (the kernel's footprint per operation decides its misses). */
static long cache_kib(int cpu, int level) {
  for (int index = 0; index < 8; ++index) {
    char path[128], line[64], type[32];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/level", cpu, index);
    read_line(path, line, sizeof line);
    if (!line[0]) break;
    if (atoi(line) != level) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/type", cpu, index);
    read_line(path, type, sizeof type);
    if (!strcmp(type, "Instruction")) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/size", cpu, index);
    read_line(path, line, sizeof line);
    const long size = atol(line);
    return strchr(line, 'M') ? size * 1024 : size;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && !strcmp(argv[1], EXIT_AT_ONCE)) _exit(0);
  int quick = 0;
  const char* output = NULL;
  const char* only[MAX_ONLY];
  int only_count = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc && only_count < MAX_ONLY) only[only_count++] = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--quick] [--output FILE] [--only NAME[:SIZE]]...\n", argv[0]);
      return 2;
    }
  }
  for (int i = 0; i < only_count; ++i)
    if (!names_any(only[i])) {
      fprintf(stderr, "virtsim-calibrate: error: --only %s: no such benchmark (NAME or NAME:SIZE, as in the output)\n",
              only[i]);
      return 2;
    }
  static char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) die("readlink /proc/self/exe");
  self[len] = 0;
  self_path = self;

  /* One CPU: the one this process runs on now. */
  int cpu = sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set)) die("sched_setaffinity");

  FILE* out = stdout;
  if (output && !(out = fopen(output, "w"))) die(output);

  /* Many short repetitions: on a shared host the fastest is the least disturbed. */
  const int repetitions = quick ? 3 : MAX_REPETITIONS;
  const double tsc_hz = measure_tsc_hz(quick ? 20 : 200);
  char model[64], vendor[16], thp[128], date[32];
  cpu_model(model, sizeof model);
  unsigned family, model_number, stepping;
  cpu_signature(&family, &model_number, &stepping);
  const int virtualized = hypervisor(vendor, sizeof vendor);
  read_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof thp);
  char dmi_vendor[128], dmi_product[128]; /* a hypervisor's firmware often names itself here */
  read_line("/sys/class/dmi/id/sys_vendor", dmi_vendor, sizeof dmi_vendor);
  read_line("/sys/class/dmi/id/product_name", dmi_product, sizeof dmi_product);
  char load[128]; /* how busy the host was: other work disturbs the repetitions */
  read_line("/proc/loadavg", load, sizeof load);
  struct utsname u;
  uname(&u);
  time_t t = time(NULL);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));

  fprintf(out, "{\n  \"format\": \"virtsim-calibration-1\",\n  \"host\": {\n    \"cpu_model\": ");
  json_string(out, model);
  fprintf(out, ",\n    \"cpu_family\": %u,\n    \"cpu_model_number\": %u,\n    \"cpu_stepping\": %u,\n", family,
          model_number, stepping);
  fprintf(out, "    \"kernel\": ");
  json_string(out, u.release);
  fprintf(out, ",\n    \"kernel_version\": ");
  json_string(out, u.version);
  fprintf(out, ",\n    \"machine\": ");
  json_string(out, u.machine);
  fprintf(out, ",\n    \"date\": \"%s\",\n    \"virtualized\": %s,\n    \"hypervisor\": ", date,
          virtualized ? "true" : "false");
  json_string(out, vendor);
  fprintf(out, ",\n    \"online_cpus\": %ld,\n    \"pinned_cpu\": %d,\n    \"resident_pages\": %ld,\n    \"resident_file_pages\": %ld,\n"
          "    \"transparent_hugepage\": ",
          sysconf(_SC_NPROCESSORS_ONLN), cpu, resident_pages(0), resident_pages(1));
  json_string(out, thp);
  fprintf(out, ",\n    \"dmi_vendor\": ");
  json_string(out, dmi_vendor);
  fprintf(out, ",\n    \"dmi_product\": ");
  json_string(out, dmi_product);
  fprintf(out, ",\n    \"loadavg\": ");
  json_string(out, load);
  fprintf(out, ",\n    \"l1d_kib\": %ld,\n    \"l2_kib\": %ld,\n    \"llc_kib\": %ld", cache_kib(cpu, 1),
          cache_kib(cpu, 2), cache_kib(cpu, 3));
  fprintf(out,
          ",\n    \"tsc_hz\": %.0f,\n    \"tsc_method\": \"RDTSC against CLOCK_MONOTONIC_RAW over %d ms, median of "
          "5\"\n  },\n",
          tsc_hz, quick ? 20 : 200);
  fprintf(out, "  \"quick\": %s,\n  \"repetitions\": %d,\n  \"benchmarks\": [", quick ? "true" : "false",
          repetitions);

  int written = 0;
  for (size_t b = 0; b < BENCHMARK_COUNT; ++b) {
    const struct benchmark* k = &BENCHMARKS[b];
    if (only_count && !selected_by(only, only_count, k)) continue;
    const long n = quick ? k->quick_iterations : k->iterations;
    const long warmup = n / 10 > 0 ? n / 10 : 1;
    k->run(warmup, k->size ? k->size : 0);
    double ns[MAX_REPETITIONS], cpu[MAX_REPETITIONS], faults[MAX_REPETITIONS], child_faults[MAX_REPETITIONS], fork_share[MAX_REPETITIONS];
    for (int r = 0; r < repetitions; ++r) {
      const long f0 = minor_faults(RUSAGE_SELF), c0 = minor_faults(RUSAGE_CHILDREN);
      timed_faults = -1;
      timed_cpu_ns = -1;
      const uint64_t cpu0 = cpu_ns();
      const uint64_t elapsed = k->run(n, k->size);
      const uint64_t cpu_all = cpu_ns() - cpu0;
      cpu[r] = (double)(timed_cpu_ns >= 0 ? (uint64_t)timed_cpu_ns : cpu_all) / (double)n;
      faults[r] = (double)(timed_faults >= 0 ? timed_faults : minor_faults(RUSAGE_SELF) - f0) / (double)n;
      child_faults[r] = (double)(minor_faults(RUSAGE_CHILDREN) - c0) / (double)n;
      ns[r] = (double)elapsed / (double)n;
      fork_share[r] = cpu_all ? (double)fork_call_ns / (double)cpu_all : 0;
    }
    const double med = median(ns, repetitions);
    fprintf(out, "%s\n    {\"name\": \"%s\", \"size\": %ld, \"size_unit\": \"%s\", \"operation\": ", written++ ? "," : "",
            k->name, k->size, k->size_unit);
    json_string(out, k->operation);
    fprintf(out,
            ",\n     \"iterations\": %ld, \"warmup_iterations\": %ld, \"repetitions\": %d,\n"
            "     \"ns\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f, \"spread\": %.4f},\n"
            "     \"cycles\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f},\n"
            "     \"minor_faults_per_op\": %.3f, \"child_minor_faults_per_op\": %.3f",
            n, warmup, repetitions, med, min_of(ns, repetitions), max_of(ns, repetitions),
            (max_of(ns, repetitions) - min_of(ns, repetitions)) / med, med * tsc_hz / 1e9,
            min_of(ns, repetitions) * tsc_hz / 1e9, max_of(ns, repetitions) * tsc_hz / 1e9,
            median(faults, repetitions), median(child_faults, repetitions));
    const double cpu_med = median(cpu, repetitions), cpu_min = min_of(cpu, repetitions), cpu_max = max_of(cpu, repetitions);
    fprintf(out,
            ",\n     \"cpu_ns\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f, \"spread\": %.4f},\n"
            "     \"cpu_cycles\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f}",
            cpu_med, cpu_min, cpu_max, cpu_med > 0 ? (cpu_max - cpu_min) / cpu_med : 0, cpu_med * tsc_hz / 1e9,
            cpu_min * tsc_hz / 1e9, cpu_max * tsc_hz / 1e9);
    if (k->run == fork_exit_wait) fprintf(out, ",\n     \"fork_call_share\": %.4f", median(fork_share, repetitions));
    fprintf(out, "}");
    fflush(out);
  }
  fprintf(out, "\n  ]\n}\n");
  if (out != stdout && fclose(out)) die(output);
  return 0;
}
