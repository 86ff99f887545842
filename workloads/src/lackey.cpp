#include "virtsim/workloads/lackey.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

namespace fs = std::filesystem;

// x86-64 Linux system call numbers the converter gives a meaning to.
enum SyscallNumber : std::uint64_t {
  kRead = 0, kWrite = 1, kOpen = 2, kClose = 3, kFstat = 5, kPoll = 7, kLseek = 8, kMmap = 9, kMprotect = 10,
  kMunmap = 11, kBrk = 12, kPread64 = 17, kPwrite64 = 18, kReadv = 19, kWritev = 20, kPipe = 22, kSelect = 23,
  kMremap = 25, kDup = 32, kDup2 = 33, kSocket = 41, kAccept = 43, kSendto = 44, kRecvfrom = 45, kSendmsg = 46,
  kRecvmsg = 47, kSocketpair = 53, kClone = 56, kFork = 57, kVfork = 58, kExecve = 59, kExit = 60, kWait4 = 61,
  kFcntl = 72, kCreat = 85, kEpollCreate = 213, kExitGroup = 231, kEpollWait = 232, kWaitid = 247, kOpenat = 257,
  kNewfstatat = 262, kPselect6 = 270, kPpoll = 271, kEpollPwait = 281, kAccept4 = 288, kEpollCreate1 = 291,
  kDup3 = 292, kPipe2 = 293, kPreadv = 295, kPwritev = 296, kPreadv2 = 327, kPwritev2 = 328, kExecveat = 322,
  kClone3 = 435, kOpenat2 = 437, kEpollPwait2 = 441,
};
constexpr std::uint64_t kCloneThread = 0x10000;  // CLONE_THREAD: a new thread, not a process
// <fcntl.h> and <sys/mman.h> values on x86-64 Linux.
constexpr std::uint64_t kOCloexec = 0x80000, kFdCloexec = 1, kFDupfd = 0, kFSetfd = 2, kFDupfdCloexec = 1030;
constexpr std::uint64_t kMapSharedBit = 0x1, kMapFixed = 0x10, kMapAnonymous = 0x20;
constexpr std::uint64_t kHugePageBytes = 2 << 20;  // x86-64's PMD size: a transparent huge page
constexpr std::uint64_t kPidP = 1;              // waitid's P_PID id type
// Descriptors below a new one the converter marks open at most (Linux's default soft limit of
// open files, RLIMIT_NOFILE, is 1024): a bound on its work for a log with a huge descriptor.
constexpr std::uint64_t kMaxInferredDescriptors = 4096;

// Whether `path` is an object Valgrind preloads into every traced program (LD_PRELOAD of
// vgpreload_core and the tool's vgpreload_TOOL): the dynamic loader opens and maps it, a native
// run does not.
bool valgrind_preload(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  return path.find("/valgrind/") != std::string::npos && name.rfind("vgpreload_", 0) == 0;
}

// One process's log, read line by line. The header (Valgrind's "==PID== ..." lines before the
// first event) names the pid and the parent pid.
class LackeyLog {
 public:
  explicit LackeyLog(std::string path) : path_(std::move(path)), in_(path_) {
    if (!in_) throw FileError(path_ + ": cannot open the lackey log");
    read_header();
  }
  const std::string& path() const { return path_; }
  std::uint64_t line_number() const { return line_number_; }
  std::optional<std::uint32_t> pid() const { return pid_; }
  std::optional<std::uint32_t> parent() const { return parent_; }

  // The next line of the log after the header; false at its end.
  bool next(std::string& line) {
    if (lookahead_) {
      line = std::move(*lookahead_);
      lookahead_.reset();
      return true;
    }
    if (!std::getline(in_, line)) {
      if (in_.bad()) throw FileError(path_ + ":" + std::to_string(line_number_) + ": reading the lackey log failed");
      return false;
    }
    ++line_number_;
    return true;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw FileError(path_ + ":" + std::to_string(line_number_) + ": " + what);
  }

 private:
  void read_header() {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_number_;
      if (line.rfind("==", 0) != 0) {
        lookahead_ = std::move(line);
        return;
      }
      // "==6458== Parent PID: 6454" and the pid between the "==" of every header line.
      const char* text = line.c_str() + 2;
      char* end = nullptr;
      const unsigned long pid = std::strtoul(text, &end, 10);
      if (end != text && std::strncmp(end, "==", 2) == 0) {
        pid_ = static_cast<std::uint32_t>(pid);
        const char* rest = end + 2;
        while (*rest == ' ') ++rest;
        if (std::strncmp(rest, "Parent PID:", 11) == 0)
          parent_ = static_cast<std::uint32_t>(std::strtoul(rest + 11, nullptr, 10));
      }
    }
  }

  std::string path_;
  std::ifstream in_;
  std::uint64_t line_number_ = 0;
  std::optional<std::string> lookahead_;
  std::optional<std::uint32_t> pid_, parent_;
};

bool parse_hex(const char*& p, std::uint64_t& value) {
  const char* start = p;
  value = 0;
  for (;; ++p) {
    const char c = *p;
    unsigned digit;
    if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
    else break;
    if (p - start >= 16) return false;  // more than 64 bits
    value = value << 4 | digit;
  }
  return p != start;
}

bool parse_decimal(const char*& p, std::uint64_t& value) {
  const char* start = p;
  value = 0;
  for (; *p >= '0' && *p <= '9'; ++p) {
    if (p - start >= 19) return false;
    value = value * 10 + static_cast<std::uint64_t>(*p - '0');
  }
  return p != start;
}

// A syscall argument as Valgrind prints it: decimal, or 0x-prefixed hex possibly followed by
// a string in parentheses ("0x4034bb0(/usr/lib/...)").
std::uint64_t parse_argument(const std::string& text) {
  const char* p = text.c_str();
  while (*p == ' ') ++p;
  std::uint64_t v = 0;
  if (p[0] == '0' && p[1] == 'x') {
    p += 2;
    parse_hex(p, v);
  } else {
    parse_decimal(p, v);
  }
  return v;
}

// Whether an argument Valgrind printed is 0 (a negative one, "-1", is not).
bool is_zero_argument(const std::string& text) {
  const auto first = text.find_first_not_of(' ');
  return first != std::string::npos && text[first] != '-' && parse_argument(text) == 0;
}

// The system call a "SYSCALL[pid,tid](number) ..." line starts or finishes.
struct SyscallLine {
  std::uint64_t pid = 0, tid = 0, number = 0;
  bool completion = false;             // "... [async] --> result": the end of an earlier line
  std::vector<std::uint64_t> args;
  std::vector<std::string> arg_texts;  // as printed: "0x4034bb0(/usr/lib/...)"
  std::optional<std::string> result;   // the text after "-->", when on this line
  std::optional<std::uint32_t> created_child;  // "fork: process P created child C"
};

struct Outcome {
  bool known = false, success = false;
  std::uint64_t value = 0;
};

// "[pre-success] Success(0x1943)", "Failure(0x2)", "[async] ...", "NoWriteResult".
Outcome parse_result(const std::string& text) {
  Outcome o;
  const auto success = text.find("Success(");
  const auto failure = text.find("Failure(");
  if (success != std::string::npos) {
    o.known = o.success = true;
    o.value = parse_argument(text.substr(success + 8));
  } else if (failure != std::string::npos) {
    o.known = true;
    o.value = parse_argument(text.substr(failure + 8));
  }
  return o;
}

bool parse_syscall_line(const std::string& line, SyscallLine& s) {
  // SYSCALL[6458,1](12) sys_brk ( 0x0 ) --> [pre-success] Success(0x4035000)
  const char* p = line.c_str() + 8;  // past "SYSCALL["
  if (!parse_decimal(p, s.pid) || *p++ != ',' || !parse_decimal(p, s.tid) || *p++ != ']' || *p++ != '(' ||
      !parse_decimal(p, s.number) || *p++ != ')')
    return false;
  const std::string rest(p);
  const auto arrow = rest.find("-->");
  if (arrow != std::string::npos) s.result = rest.substr(arrow + 3);
  if (rest.rfind(" ... [async]", 0) == 0) {
    s.completion = true;
    return s.result.has_value();
  }
  // Arguments: the outermost "( ... )" before the arrow, split at top-level commas.
  const std::string call = rest.substr(0, arrow);
  const auto open = call.find(" ( ");
  if (open != std::string::npos) {
    int depth = 0;
    std::string current;
    for (std::size_t i = open + 3; i < call.size(); ++i) {
      const char c = call[i];
      if (c == '(') ++depth;
      if (c == ')' && depth-- == 0) break;
      if (c == ',' && depth == 0) {
        s.args.push_back(parse_argument(current));
        s.arg_texts.push_back(current);
        current.clear();
      } else {
        current += c;
      }
    }
    if (current.find_first_not_of(' ') != std::string::npos) {
      s.args.push_back(parse_argument(current));
      s.arg_texts.push_back(current);
    }
  }
  const auto created = call.find("created child ");
  if (created != std::string::npos) s.created_child = static_cast<std::uint32_t>(parse_argument(call.substr(created + 14)));
  return true;
}

// clone's flags: Valgrind prints them in hex without a 0x ("sys_clone ( 3d0f00, ...").
std::uint64_t clone_flags(const SyscallLine& s) {
  if (s.arg_texts.empty()) return 0;
  const char* p = s.arg_texts[0].c_str();
  while (*p == ' ') ++p;
  if (p[0] == '0' && p[1] == 'x') p += 2;
  std::uint64_t v = 0;
  parse_hex(p, v);
  return v;
}

class Converter {
  // A descriptor a process has open, as far as its log shows.
  struct OpenFile {
    std::string path;  // empty: not opened by path (a pipe, a socket), or unknown
    bool cloexec = false;
    SyscallObject object = SyscallObject::File;
    bool tool = false;  // an object Valgrind preloads (valgrind_preload)
  };

 public:
  Converter(TraceWriter& writer, const LackeyConvertOptions& options, LackeyConvertSummary& summary)
      : writer_(writer), options_(options), summary_(summary) {}

  // Logs by pid, for the children a process forks (empty with a single input).
  std::map<std::uint32_t, std::string> logs;
  std::set<std::uint32_t> ran;  // processes whose records were written

  // Writes what an unfinished alignment retry holds back (before roi_end).
  void flush() { release_retry(); }

  // The whole trace but its roi_end: `switch root` first, then the region of interest.
  void run(LackeyLog& root) {
    write_pid(TraceRecordKind::Switch, pid_of(root));
    TraceRecord roi_begin;
    roi_begin.kind = TraceRecordKind::RoiBegin;
    emit(roi_begin);
    run_process(root, pid_of(root));
  }

 private:
  std::uint32_t pid_of(const LackeyLog& log) const { return log.pid().value_or(1); }

  void write_pid(TraceRecordKind kind, std::uint32_t pid) {
    TraceRecord r;
    r.kind = kind;
    r.pid = trace_pid(pid);
    emit(r);
  }
  // The pid a process has in the trace: its real pid, or with renumbering 1 for the root and
  // 2, 3... in fork order, so that captures of the same program are the same bytes.
  std::uint32_t trace_pid(std::uint32_t real) {
    if (!options_.renumber_pids) return real;
    return renumbered_.emplace(real, static_cast<std::uint32_t>(renumbered_.size() + 1)).first->second;
  }
  // The syscall record of call `s` of process `pid`: what it moved (from its outcome), its
  // descriptor's object and the user buffer for the calls that move bytes, whether a wait may sleep.
  void write_syscall(std::uint32_t pid, const SyscallLine& s, const Outcome& outcome) {
    const auto arg = [&](std::size_t i) { return i < s.args.size() ? s.args[i] : 0; };
    TraceRecord r;
    r.kind = TraceRecordKind::Syscall;
    r.count = s.number;
    r.described = true;
    switch (s.number) {
      case kRead: case kWrite: case kPread64: case kPwrite64: case kSendto: case kRecvfrom:
        r.address = arg(1);  // the buffer
        [[fallthrough]];
      case kReadv: case kWritev: case kSendmsg: case kRecvmsg: case kPreadv: case kPwritev: case kPreadv2:
      case kPwritev2:
        r.object = object_of(pid, arg(0));
        if (outcome.success) r.bytes = outcome.value;
        break;
      case kEpollWait: case kEpollPwait:
        r.object = object_of(pid, arg(0));
        if (s.arg_texts.size() < 4 || !is_zero_argument(s.arg_texts[3])) r.call_flags = kSyscallMaySleep;
        break;
      case kPoll:
        if (s.arg_texts.size() < 3 || !is_zero_argument(s.arg_texts[2])) r.call_flags = kSyscallMaySleep;
        break;
      // Their timeout is behind a pointer the log does not follow: any may sleep.
      case kEpollPwait2: r.object = object_of(pid, arg(0)); r.call_flags = kSyscallMaySleep; break;
      case kPpoll: case kSelect: case kPselect6: r.call_flags = kSyscallMaySleep; break;
      default: break;
    }
    emit(r);
  }

  // What process `pid` has open as `fd`, as far as the log shows.
  SyscallObject object_of(std::uint32_t pid, std::uint64_t fd) {
    const auto& fds = fds_[pid];
    const auto it = fds.find(fd);
    return it == fds.end() ? SyscallObject::None : it->second.object;
  }

  // The lowest descriptor process `pid` does not have open, as far as the log shows (0, 1 and
  // 2 taken as open from the start): where the kernel puts a new one.
  std::uint64_t lowest_free(std::uint32_t pid) const {
    const auto it = fds_.find(pid);
    std::uint64_t fd = 3;
    while (it != fds_.end() && it->second.count(fd)) ++fd;
    return fd;
  }

  // The kernel gave process `pid` descriptor `fd`, the lowest free one: every one below it is
  // open, those the log never showed opened (inherited, or Valgrind's own) as unknown objects.
  void opened(std::uint32_t pid, std::uint64_t fd, OpenFile file) {
    auto& fds = fds_[pid];
    // (Up to kMaxInferredDescriptors: a descriptor beyond is taken as it is.)
    for (std::uint64_t below = 3; below < std::min(fd, kMaxInferredDescriptors); ++below)
      fds.try_emplace(below, OpenFile{{}, false, SyscallObject::None});
    fds[fd] = std::move(file);
  }

  // pipe, pipe2 and socketpair write their two descriptors into the program's memory, which the
  // log does not show: they are the two lowest free ones.
  void open_pair(std::uint32_t pid, SyscallObject object, bool cloexec) {
    for (int end = 0; end < 2; ++end) fds_[pid][lowest_free(pid)] = OpenFile{{}, cloexec, object};
  }

  // One process's records, its children spliced in where it waits, until its exit.
  // Recursion depth is the depth of the process tree.
  void run_process(LackeyLog& log, std::uint32_t pid) {
    ++summary_.processes;
    ran.insert(pid);
    const std::uint64_t memory_before = process_memory_records_;
    process_memory_records_ = 0;
    std::vector<std::uint32_t> children;         // forked, not yet spliced, in fork order
    std::map<std::uint64_t, SyscallLine> pending;  // by thread: a call waiting for its result
    bool first_line = true, exited = false;
    std::optional<std::uint64_t> last_tid;  // the thread of the last SYSCALL line
    std::string line;
    while (!stopped_ && !exited && log.next(line)) {
      ++summary_.lines;
      if (first_line) {
        first_line = false;
        // A log that starts with the end of the fork call is the child side of a fork; any
        // other log starts a program image (Valgrind reopens the log at execve, and the root
        // was started by one).
        if (line.rfind(" -->", 0) == 0) continue;
        exec_image(pid);
      }
      if (line.empty() || line.rfind("==", 0) == 0 || line.rfind("--", 0) == 0) continue;
      if (line[0] == 'I' || line[0] == ' ') {
        if (line.rfind(" -->", 0) == 0) {  // the result of the call on the line before, after a message
          const auto it = last_tid ? pending.find(*last_tid) : pending.end();
          if (it == pending.end()) continue;  // a call that needed no result
          auto call = it->second;
          pending.erase(it);
          finish(pid, call, parse_result(line.substr(4)), children, exited);
          continue;
        }
        memory_line(log, line);
        continue;
      }
      if (line.rfind("SYSCALL[", 0) == 0) {
        SyscallLine s;
        if (!parse_syscall_line(line, s)) log.fail("malformed SYSCALL line: " + line.substr(0, 80));
        last_tid = s.tid;
        if (log.pid() && s.pid != *log.pid())
          log.fail("a system call of process " + std::to_string(s.pid) + " in the log of process " +
                   std::to_string(*log.pid()) + ": one log per process is needed (--log-file=DIR/NAME.%p)");
        // The kernel maps files only at page-aligned offsets: a log that says otherwise is corrupt.
        if (s.number == kMmap && s.args.size() >= 6 && !(s.args[3] & kMapAnonymous) && s.args[5] % 4096)
          log.fail("mmap of a file at offset " + std::to_string(s.args[5]) + " (a multiple of 4096 expected)");
        if (s.completion) {
          const auto it = pending.find(s.tid);
          if (it == pending.end()) continue;  // a call that needed no result
          auto call = it->second;
          pending.erase(it);
          finish(pid, call, parse_result(*s.result), children, exited);
          continue;
        }
        // A thread starting a new call abandons a previous one that never printed its result
        // (a wait interrupted by a signal, say).
        if (auto it = pending.find(s.tid); it != pending.end()) {
          auto call = it->second;
          pending.erase(it);
          finish(pid, call, Outcome{}, children, exited);
        }
        if (!needs_result(s)) {
          if (tool_descriptor_call(pid, s)) {
            ++summary_.tool_calls;
            if (s.number == kClose) fds_[pid].erase(s.args[0]);
            continue;
          }
          write_syscall(pid, s, Outcome{});
          if (s.number == kWait4 || s.number == kWaitid) wait_for(pid, waited_pid(s), children);
          continue;
        }
        const Outcome outcome = s.result ? parse_result(*s.result) : Outcome{};
        if (outcome.known || (s.result && s.result->find("...") == std::string::npos)) {
          finish(pid, s, outcome, children, exited);
        } else {
          pending[s.tid] = s;
        }
        continue;
      }
      log.fail("not a lackey line (expected \"I|L|S|M address,size\" or a SYSCALL line): " + line.substr(0, 60));
    }
    for (auto& [tid, call] : pending)
      if (!exited) finish(pid, call, Outcome{}, children, exited);
    if (!exited) end_process(pid, children);
    process_memory_records_ = memory_before;  // the parent's count again
  }

  static bool needs_result(const SyscallLine& s) {
    switch (s.number) {
      case kMmap: case kMunmap: case kBrk: case kClone: case kFork: case kVfork: case kClone3: case kExecve:
      case kExecveat: case kExit: case kExitGroup: case kMprotect: case kMremap: case kOpen: case kOpenat:
      case kOpenat2: case kCreat: case kDup: case kDup2: case kDup3: case kFcntl:
      // Descriptors of pipes, sockets and epoll instances, and the calls whose bytes are their result.
      case kPipe: case kPipe2: case kSocket: case kSocketpair: case kAccept: case kAccept4: case kEpollCreate:
      case kEpollCreate1: case kRead: case kWrite: case kPread64: case kPwrite64: case kReadv: case kWritev:
      case kSendto: case kRecvfrom: case kSendmsg: case kRecvmsg: case kPreadv: case kPwritev: case kPreadv2:
      case kPwritev2:
        return true;
      default:
        return false;
    }
  }

  // The child a wait names (0: any child).
  static std::uint32_t waited_pid(const SyscallLine& s) {
    if (s.number == kWait4 && !s.args.empty() && static_cast<std::int32_t>(s.args[0]) > 0)
      return static_cast<std::uint32_t>(s.args[0]);
    if (s.number == kWaitid && s.args.size() >= 2 && s.args[0] == kPidP) return static_cast<std::uint32_t>(s.args[1]);
    return 0;
  }

  void finish(std::uint32_t pid, const SyscallLine& s, const Outcome& outcome,
              std::vector<std::uint32_t>& children, bool& exited) {
    const auto arg = [&](std::size_t i) { return i < s.args.size() ? s.args[i] : 0; };
    const bool on_tool_file = tool_descriptor_call(pid, s);  // before close forgets the descriptor
    switch (s.number) {
      case kMmap:
        if (outcome.success) {
          TraceRecord r;
          r.kind = TraceRecordKind::Mmap;
          r.pid = trace_pid(pid);
          r.address = outcome.value;
          r.length = arg(1);
          r.prot = static_cast<std::uint32_t>(arg(2));
          placed_by_kernel_ = arg(0) == 0 && !(arg(3) & (kMapFixed | kMapSharedBit)) && (arg(3) & kMapAnonymous);
          if (!(arg(3) & kMapAnonymous)) {
            r.map_flags = kMapFile | (arg(3) & kMapSharedBit ? kMapShared : 0) | (on_tool_file ? kMapTool : 0);
            r.file = file_id(pid, arg(4));
            r.offset = arg(5);
          }
          emit(r);
          return;
        }
        break;
      case kMprotect:
        if (outcome.success) {
          TraceRecord r;
          r.kind = TraceRecordKind::Mprotect;
          r.pid = trace_pid(pid);
          r.address = arg(0);
          r.length = arg(1);
          r.prot = static_cast<std::uint32_t>(arg(2));
          emit(r);
          return;
        }
        break;
      case kMremap:
        if (outcome.success) {  // mremap(old address, old length, new length, flags, new address)
          TraceRecord r;
          r.kind = TraceRecordKind::Mremap;
          r.pid = trace_pid(pid);
          r.address = arg(0);
          r.length = arg(1);
          r.new_address = outcome.value;
          r.new_length = arg(2);
          emit(r);
          return;
        }
        break;
      case kOpen: case kCreat: case kOpenat: case kOpenat2:
        if (outcome.success) {
          const bool at = s.number == kOpenat || s.number == kOpenat2;
          const std::uint64_t flags = s.number == kCreat || s.number == kOpenat2 ? 0 : arg(at ? 2 : 1);
          const std::string path = path_argument(s, at ? 1 : 0);
          // Devices and the kernel's own file systems are not regular files.
          const bool special = path.rfind("/dev/", 0) == 0 || path.rfind("/proc/", 0) == 0 || path.rfind("/sys/", 0) == 0;
          const bool tool = valgrind_preload(path);
          opened(pid, outcome.value,
                 OpenFile{path, (flags & kOCloexec) != 0, special ? SyscallObject::Other : SyscallObject::File, tool});
          if (tool) {
            ++summary_.tool_calls;
            return;
          }
        }
        break;
      case kPipe: case kPipe2:
        if (outcome.success) open_pair(pid, SyscallObject::Pipe, s.number == kPipe2 && (arg(1) & kOCloexec));
        break;
      case kSocketpair:  // socketpair(domain, type, protocol, fds): SOCK_CLOEXEC is O_CLOEXEC in the type
        if (outcome.success) open_pair(pid, SyscallObject::Socket, arg(1) & kOCloexec);
        break;
      case kSocket: case kAccept: case kAccept4: case kEpollCreate: case kEpollCreate1:
        if (outcome.success) {
          const bool epoll = s.number == kEpollCreate || s.number == kEpollCreate1;
          const std::uint64_t flags = s.number == kSocket ? arg(1) : s.number == kAccept4 ? arg(3)
                                      : s.number == kEpollCreate1 ? arg(0) : 0;
          opened(pid, outcome.value,
                 OpenFile{{}, (flags & kOCloexec) != 0, epoll ? SyscallObject::Other : SyscallObject::Socket});
        }
        break;
      case kClose: fds_[pid].erase(arg(0)); break;
      case kDup: case kDup2: case kDup3:
        if (outcome.success) duplicate(pid, arg(0), outcome.value, s.number == kDup3 && (arg(2) & kOCloexec));
        break;
      case kFcntl:
        if (outcome.success && (arg(1) == kFDupfd || arg(1) == kFDupfdCloexec))
          duplicate(pid, arg(0), outcome.value, arg(1) == kFDupfdCloexec);
        if (outcome.success && arg(1) == kFSetfd)
          if (const auto it = fds_[pid].find(arg(0)); it != fds_[pid].end()) it->second.cloexec = arg(2) & kFdCloexec;
        break;
      case kMunmap:
        if (outcome.success) {
          TraceRecord r;
          r.kind = TraceRecordKind::Munmap;
          r.pid = trace_pid(pid);
          r.address = arg(0);
          r.length = arg(1);
          emit(r);
          return;
        }
        break;
      case kBrk:
        if (outcome.known) {  // brk answers the current break, moved or not
          TraceRecord r;
          r.kind = TraceRecordKind::Brk;
          r.pid = trace_pid(pid);
          r.address = outcome.value;
          emit(r);
          return;
        }
        break;
      case kClone: case kFork: case kVfork: case kClone3: {
        const bool thread = (s.number == kClone && (clone_flags(s) & kCloneThread)) || (s.number == kClone3 && !s.created_child);
        std::uint32_t child = s.created_child.value_or(0);
        if (!child && outcome.success) child = static_cast<std::uint32_t>(outcome.value);
        if (!thread && child) {
          TraceRecord r;
          r.kind = TraceRecordKind::Fork;
          r.pid = trace_pid(pid);
          r.child = trace_pid(child);
          emit(r);
          children.push_back(child);
          fds_[child] = fds_[pid];  // the child inherits the open files
          return;
        }
        break;
      }
      case kExecve: case kExecveat:
        // A successful execve never returns: Valgrind starts the new image's log.
        if (!outcome.known || outcome.success) {
          exec_image(pid);
          return;
        }
        break;
      case kExitGroup:
        end_process(pid, children);
        exited = true;
        return;
      case kExit:
        // The main thread's exit ends the process once its other threads are done too: at
        // the end of the log, where the exit record is written. Another thread's is a syscall.
        if (s.tid == 1) return;
        break;
      default: break;
    }
    if (on_tool_file) {
      ++summary_.tool_calls;
      return;
    }
    write_syscall(pid, s, outcome);
  }

  // Whether call `s` works on a descriptor of an object Valgrind preloads: the dynamic loader
  // reads, inspects and closes it, and a native run makes none of these calls.
  bool tool_descriptor_call(std::uint32_t pid, const SyscallLine& s) {
    switch (s.number) {
      case kRead: case kPread64: case kFstat: case kNewfstatat: case kLseek: case kClose: case kMmap: break;
      default: return false;
    }
    const std::size_t fd_argument = s.number == kMmap ? 4 : 0;
    if (s.args.size() <= fd_argument) return false;
    const auto& fds = fds_[pid];
    const auto it = fds.find(s.args[fd_argument]);
    return it != fds.end() && it->second.tool;
  }

  // A new program image: the exec record, and the process's close-on-exec files closed.
  void exec_image(std::uint32_t pid) {
    write_pid(TraceRecordKind::Exec, pid);
    auto& fds = fds_[pid];
    for (auto it = fds.begin(); it != fds.end();) it = it->second.cloexec ? fds.erase(it) : std::next(it);
  }

  // The path in an argument Valgrind prints with its string: "0x4034bb0(/usr/lib/x.so)".
  static std::string path_argument(const SyscallLine& s, std::size_t i) {
    if (i >= s.arg_texts.size()) return {};
    const std::string& text = s.arg_texts[i];
    const auto open = text.find('('), close = text.rfind(')');
    return open == std::string::npos || close == std::string::npos || close <= open
               ? std::string()
               : text.substr(open + 1, close - open - 1);
  }

  void duplicate(std::uint32_t pid, std::uint64_t from, std::uint64_t to, bool cloexec) {
    auto& fds = fds_[pid];
    const auto it = fds.find(from);
    if (it == fds.end()) {
      fds.erase(to);
      return;
    }
    OpenFile copy = it->second;
    copy.cloexec = cloexec;
    fds[to] = copy;
  }

  // The trace's id of the file process `pid` has open as `fd`: by path, numbered 1, 2, ... in
  // the order files are first mapped; a descriptor whose opening the log does not show (opened
  // before the log starts) is a file of its own.
  std::uint32_t file_id(std::uint32_t pid, std::uint64_t fd) {
    const auto& fds = fds_[pid];
    const auto it = fds.find(fd);
    std::string name = it != fds.end() && !it->second.path.empty()
                           ? it->second.path
                           : "<descriptor " + std::to_string(fd) + " of process " + std::to_string(trace_pid(pid)) + ">";
    const auto [known, added] = file_ids_.emplace(name, static_cast<std::uint32_t>(summary_.files.size() + 1));
    if (added) summary_.files.push_back(name);
    return known->second;
  }

  // The parent waits: the children it waits for run to their exit, then it continues.
  void wait_for(std::uint32_t pid, std::uint32_t waited, std::vector<std::uint32_t>& children) {
    std::vector<std::uint32_t> run;
    if (waited) {
      const auto it = std::find(children.begin(), children.end(), waited);
      if (it == children.end()) return;
      run.push_back(waited);
      children.erase(it);
    } else {
      run.swap(children);
    }
    for (const auto child : run) {
      run_child(child);
      write_pid(TraceRecordKind::Switch, pid);
    }
  }

  // Children never waited for run before their parent's exit record.
  void end_process(std::uint32_t pid, std::vector<std::uint32_t>& children) {
    wait_for(pid, 0, children);
    write_pid(TraceRecordKind::Exit, pid);
  }

  void run_child(std::uint32_t child) {
    write_pid(TraceRecordKind::Switch, child);
    const auto it = logs.find(child);
    if (it == logs.end()) {
      if (!stopped_)
        summary_.warnings.push_back("no log for child process " + std::to_string(child) +
                                    " (trace with --trace-children=yes --log-file=DIR/NAME.%p and convert every log)");
      ++summary_.processes;
      write_pid(TraceRecordKind::Exit, child);
      return;
    }
    LackeyLog log(it->second);
    run_process(log, child);
  }

  // " L 1fff000610,8", "I  0401b792,2".
  void memory_line(LackeyLog& log, const std::string& line) {
    const char* p = line.c_str();
    while (*p == ' ') ++p;
    if (!*p) log.fail("not a lackey line (expected \"I|L|S|M address,size\"): a line of spaces");
    const char op = *p++;
    while (*p == ' ') ++p;
    std::uint64_t address = 0, size = 0;
    if (!parse_hex(p, address) || *p++ != ',' || !parse_decimal(p, size) || size == 0 || (*p && *p != ' '))
      log.fail("not a lackey line (expected \"I|L|S|M address,size\"): " + line.substr(0, 60));
    TraceRecord r;
    r.address = address;
    r.size = static_cast<std::uint8_t>(std::min<std::uint64_t>(size, 64));
    switch (op) {
      case 'I': r.kind = TraceRecordKind::Fetch; break;
      case 'L': r.kind = TraceRecordKind::Load; break;
      case 'S': r.kind = TraceRecordKind::Store; break;
      case 'M':  // modify: a load then a store
        r.kind = TraceRecordKind::Load;
        write_memory(r);
        r.kind = TraceRecordKind::Store;
        break;
      default: log.fail("unknown lackey operation '" + std::string(1, op) + "'");
    }
    write_memory(r);
  }

  // Every record goes out here. With thp_aligned_anonymous, jemalloc-style alignment retries
  // are held back until they complete, then written as the one aligned mapping a native run
  // gets (LackeyConvertOptions::thp_aligned_anonymous): (1) an mmap of no address hint, anonymous
  // and private, whose length is a multiple of 2 MiB, placed off a 2 MiB boundary; (2) its
  // munmap, whole; (3) an mmap like it of 2 MiB - 4 KiB more; (4) the munmaps of its head
  // before the first 2 MiB boundary and of its tail past the original length. What runs in
  // between (loads, stores, fetches, compute) is held too and written after the mapping; any
  // other record ends the pattern and everything held is written as it came.
  void emit(const TraceRecord& r) {
    const bool placed = placed_by_kernel_;
    placed_by_kernel_ = false;
    if (!options_.thp_aligned_anonymous) return writer_.write(r);
    if (retry_.empty()) {
      if (retry_start(r, placed)) retry_.push_back(r);
      else writer_.write(r);
      return;
    }
    if (r.kind == TraceRecordKind::Load || r.kind == TraceRecordKind::Store || r.kind == TraceRecordKind::Fetch ||
        r.kind == TraceRecordKind::Compute) {
      held_.emplace_back(retry_.size() - 1, r);
      if (held_.size() > kMaxHeldRecords) release_retry();
      return;
    }
    const TraceRecord& first = retry_.front();
    bool fits = false;
    if (retry_.size() == 1) {
      fits = r.kind == TraceRecordKind::Munmap && r.address == first.address && r.length == first.length;
    } else if (retry_.size() == 2) {
      fits = r.kind == TraceRecordKind::Mmap && placed && r.map_flags == 0 && r.prot == first.prot &&
             r.length == first.length + kHugePageBytes - 4096;
    } else {
      const TraceRecord& larger = retry_[2];
      const Addr aligned = (larger.address + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
      const Addr head = aligned - larger.address, tail_start = aligned + first.length;
      const Addr tail = larger.address + larger.length - tail_start;
      const bool head_trim = head && r.address == larger.address && r.length == head;
      const bool tail_trim = tail && r.address == tail_start && r.length == tail;
      fits = r.kind == TraceRecordKind::Munmap && (head_trim || tail_trim) &&
             std::none_of(retry_.begin() + 3, retry_.end(), [&](const TraceRecord& t) { return t.address == r.address; });
      if (fits && retry_.size() - 3 + 1 == static_cast<std::size_t>(head != 0) + (tail != 0)) {
        TraceRecord native = first;
        native.address = aligned;
        writer_.write(native);
        for (const auto& h : held_) writer_.write(h.second);
        ++summary_.alignment_retries;
        retry_.clear();
        held_.clear();
        return;
      }
    }
    if (fits) {
      retry_.push_back(r);
      return;
    }
    release_retry();
    placed_by_kernel_ = placed;
    emit(r);
  }

  // Whether `r` may start an alignment retry: an mmap the kernel placed (no hint), anonymous
  // and private, of a multiple of 2 MiB, off a 2 MiB boundary.
  static bool retry_start(const TraceRecord& r, bool placed) {
    return r.kind == TraceRecordKind::Mmap && placed && r.map_flags == 0 && r.length % kHugePageBytes == 0 &&
           r.address % kHugePageBytes != 0;
  }

  // Writes what an unfinished retry held back, in the order it came.
  void release_retry() {
    if (retry_.empty()) return;
    // Each held record came after the pattern record its position names.
    const std::vector<TraceRecord> pattern = std::move(retry_);
    const auto held = std::move(held_);
    retry_.clear();
    held_.clear();
    std::size_t h = 0;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      writer_.write(pattern[i]);
      for (; h < held.size() && held[h].first == i; ++h) writer_.write(held[h].second);
    }
  }

  void write_memory(const TraceRecord& r) {
    if (stopped_) return;
    if (options_.memory_limit_per_process && process_memory_records_ >= options_.memory_limit_per_process) {
      if (process_memory_records_++ == options_.memory_limit_per_process) ++summary_.processes_capped;
      return;
    }
    ++process_memory_records_;
    emit(r);
    if (++summary_.memory_records == options_.memory_limit) {
      stopped_ = true;
      summary_.limited = true;
    }
  }

  TraceWriter& writer_;
  const LackeyConvertOptions& options_;
  LackeyConvertSummary& summary_;
  bool stopped_ = false;  // the memory limit was reached: every open process just exits
  std::uint64_t process_memory_records_ = 0;  // of the process being converted
  std::map<std::uint32_t, std::uint32_t> renumbered_;  // real pid -> trace pid
  std::map<std::uint32_t, std::map<std::uint64_t, OpenFile>> fds_;  // by real pid, by descriptor
  std::map<std::string, std::uint32_t> file_ids_;                    // path -> file id
  // An alignment retry in progress (emit): its records so far, and the other records held
  // back, each with the index of the pattern record it came after.
  static constexpr std::size_t kMaxHeldRecords = 1 << 16;
  std::vector<TraceRecord> retry_;
  std::vector<std::pair<std::size_t, TraceRecord>> held_;
  bool placed_by_kernel_ = false;  // the mmap being emitted had no address hint, no MAP_FIXED
};

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> in_dir;
      for (const auto& entry : fs::directory_iterator(input, ec))
        if (!entry.is_directory()) in_dir.push_back(entry.path().string());
      if (ec) throw FileError(input + ": cannot list the directory: " + ec.message());
      if (in_dir.empty()) throw FileError(input + ": no lackey logs in the directory");
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else {
      files.push_back(input);
    }
  }
  return files;
}

}  // namespace

LackeyConvertSummary convert_lackey_logs(const std::vector<std::string>& inputs, TraceWriter& writer,
                                         const LackeyConvertOptions& options) {
  const auto files = expand_inputs(inputs);
  if (files.empty()) throw FileError("no lackey log to convert");
  LackeyConvertSummary summary;
  Converter converter(writer, options, summary);
  if (files.size() == 1) {
    LackeyLog root(files[0]);  // read once: may be a FIFO
    converter.run(root);
  } else {
    // Headers first (pid, parent), then the root streamed with its children spliced in.
    std::map<std::uint32_t, std::uint32_t> parent_of;
    for (const auto& path : files) {
      const LackeyLog log(path);
      if (!log.pid()) throw FileError(path + ": no Valgrind header naming the process (\"==PID== ...\")");
      const auto [it, inserted] = converter.logs.emplace(*log.pid(), path);
      if (!inserted) throw FileError(path + ": process " + std::to_string(*log.pid()) + " also has log " + it->second);
      parent_of[*log.pid()] = log.parent().value_or(0);
    }
    std::vector<std::uint32_t> roots;
    for (const auto& [pid, parent] : parent_of)
      if (!parent_of.count(parent)) roots.push_back(pid);
    if (roots.size() != 1) {
      std::string names;
      for (const auto pid : roots) names += (names.empty() ? "" : ", ") + converter.logs[pid];
      throw FileError("expected exactly one root process (a log whose parent has no log), found " +
                      std::to_string(roots.size()) + (names.empty() ? "" : ": " + names));
    }
    LackeyLog root(converter.logs[roots[0]]);
    converter.run(root);
    for (const auto& [pid, path] : converter.logs)
      if (!converter.ran.count(pid) && !summary.limited)
        summary.warnings.push_back(path + ": process " + std::to_string(pid) + " was never forked in its parent's log; left out");
  }
  converter.flush();
  TraceRecord roi_end;
  roi_end.kind = TraceRecordKind::RoiEnd;
  writer.write(roi_end);
  return summary;
}

}  // namespace virtsim
