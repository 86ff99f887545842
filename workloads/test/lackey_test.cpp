#include "virtsim/workloads/lackey.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "virtsim/common/error.h"

namespace virtsim {
namespace {

namespace fs = std::filesystem;

// A fresh directory of hand-written logs per test.
class LackeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("virtsim_lackey_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "logs");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string log(const std::string& name, const std::string& text) {
    const auto path = (dir_ / "logs" / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // The converted records as text lines, e.g. "fork 10 11", "switch 11", "load 0x1000".
  std::vector<std::string> convert(const std::vector<std::string>& inputs, LackeyConvertOptions options = {},
                                   LackeyConvertSummary* summary = nullptr) {
    const auto trace = (dir_ / "out.vst").string();
    {
      TraceWriter writer(trace);
      const auto s = convert_lackey_logs(inputs, writer, options);
      writer.close();
      if (summary) *summary = s;
    }
    std::vector<std::string> lines;
    TraceReader reader(trace);
    while (auto r = reader.next()) {
      std::string line = to_string(r->kind);
      switch (r->kind) {
        case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch:
          line += " " + std::to_string(r->address);
          break;
        case TraceRecordKind::Syscall: line += " " + std::to_string(r->count); break;
        case TraceRecordKind::Fork: line += " " + std::to_string(r->pid) + " " + std::to_string(r->child); break;
        case TraceRecordKind::Mmap:
          line += " " + std::to_string(r->pid) + " " + std::to_string(r->address) + " " + std::to_string(r->length) +
                  " " + std::to_string(r->prot);
          if (r->map_flags & kMapFile) line += " file " + std::to_string(r->file) + " offset " + std::to_string(r->offset);
          if (r->map_flags & kMapShared) line += " shared";
          if (r->map_flags & kMapTool) line += " tool";
          break;
        case TraceRecordKind::Mprotect:
          line += " " + std::to_string(r->pid) + " " + std::to_string(r->address) + " " + std::to_string(r->length) +
                  " " + std::to_string(r->prot);
          break;
        case TraceRecordKind::Mremap:
          line += " " + std::to_string(r->pid) + " " + std::to_string(r->address) + " " + std::to_string(r->length) +
                  " " + std::to_string(r->new_address) + " " + std::to_string(r->new_length);
          break;
        case TraceRecordKind::Munmap:
          line += " " + std::to_string(r->pid) + " " + std::to_string(r->address) + " " + std::to_string(r->length);
          break;
        case TraceRecordKind::Brk: line += " " + std::to_string(r->pid) + " " + std::to_string(r->address); break;
        case TraceRecordKind::Exec: case TraceRecordKind::Exit: case TraceRecordKind::Switch:
          line += " " + std::to_string(r->pid);
          break;
        default: break;
      }
      lines.push_back(line);
    }
    return lines;
  }
  std::string dir() const { return (dir_ / "logs").string(); }

 private:
  fs::path dir_;
};

std::string header(int pid, int parent) {
  const std::string p = "==" + std::to_string(pid) + "== ";
  return p + "Lackey, an example Valgrind tool\n" + p + "Command: prog\n" + p + "Parent PID: " + std::to_string(parent) +
         "\n" + p + "\n";
}

TEST_F(LackeyTest, ChildrenRunWhereTheirParentWaits) {
  log("p.10", header(10, 1) +
                  "I  00001000,4\n"
                  "SYSCALL[10,1](12) sys_brk ( 0x0 ) --> [pre-success] Success(0x5000)\n"
                  "SYSCALL[10,1](9) sys_mmap ( 0x0, 8192, 3, 34, 4294967295, 0 ) --> [pre-success] Success(0x7000)\n"
                  "SYSCALL[10,1](9) sys_mmap ( 0x0, 8192, 3, 34, 4294967295, 0 ) --> [pre-success] Failure(0xc)\n"
                  "SYSCALL[10,1](58) sys_fork ( )   fork: process 10 created child 11\n"
                  " --> [pre-success] Success(0xb)\n"
                  " L 00002000,8\n"
                  "SYSCALL[10,1](61) sys_wait4 ( 4294967295, 0x1fff00025c, 0, 0x0 ) --> [async] ...\n"
                  " S 00002008,8\n"
                  "SYSCALL[10,1](61) ... [async] --> Success(0xb)\n"
                  "SYSCALL[10,1](231) exit_group( 0 ) --> [pre-success] Success(0x0)\n"
                  "==10== \n==10== Exit code: 0\n");
  // The child's log after its exec: Valgrind started it afresh.
  log("p.11", header(11, 10) +
                  "I  00003000,2\n"
                  "SYSCALL[11,1](11) sys_munmap ( 0x7000, 4096 )[sync] --> Success(0x0)\n"
                  "SYSCALL[11,1](0) sys_read ( 6, 0x1ffeffed88, 832 ) --> [async] ...\n"
                  "SYSCALL[11,1](0) ... [async] --> Success(0x340)\n"
                  " M 00004000,4\n"
                  "SYSCALL[11,1](231) exit_group( 0 ) --> [pre-success] Success(0x0)\n");
  const std::vector<std::string> expected = {
      "switch 10", "roi_begin", "exec 10", "fetch 4096", "brk 10 20480", "mmap 10 28672 8192 3", "syscall 9",
      "fork 10 11", "load 8192", "syscall 61",
      "switch 11", "exec 11", "fetch 12288", "munmap 11 28672 4096", "syscall 0", "load 16384", "store 16384",
      "exit 11", "switch 10",
      "store 8200", "exit 10", "roi_end"};
  EXPECT_EQ(convert({dir()}), expected);
}

TEST_F(LackeyTest, ForkedChildWithoutExecThreadsAndChildrenNeverWaitedFor) {
  log("a.20", header(20, 1) +
                  // Valgrind 3.19 prints clone's flags in hex without a 0x.
                  "SYSCALL[20,1](56) sys_clone ( 3d0f00, 0x4a2b000, 0x4a2b9d0, 0x4a2b9d0, 0x4a2b640 ) --> "
                  "[pre-success] Success(0x15)\n"  // a thread: CLONE_THREAD in the flags
                  "SYSCALL[20,1](56) sys_clone ( 1200011, 0x0, 0x0, 0x4a29a10, 0x0 ) --> [pre-success] Success(0x16)\n"
                  "SYSCALL[20,2](60) exit( 0 ) --> [pre-success] Success(0x0)\n"  // the thread ends, not the process
                  "I  00005000,1\n");  // the log ends without exit_group: killed, say
  log("a.22", header(22, 20) +
                  " --> [pre-success] Success(0x0)\n"  // the child's side of the fork: no exec
                  " L 00006000,4\n"
                  "SYSCALL[22,1](60) exit( 1 ) --> [pre-success] Success(0x0)\n");
  const std::vector<std::string> expected = {
      "switch 20", "roi_begin", "exec 20", "syscall 56", "fork 20 22", "syscall 60", "fetch 20480",
      "switch 22", "load 24576", "exit 22", "switch 20", "exit 20", "roi_end"};
  EXPECT_EQ(convert({dir()}), expected);
}

TEST_F(LackeyTest, WaitForOneChildRunsThatOneFirst) {
  log("w.30", header(30, 1) +
                  "SYSCALL[30,1](58) sys_fork ( )   fork: process 30 created child 31\n --> [pre-success] Success(0x1f)\n"
                  "SYSCALL[30,1](58) sys_fork ( )   fork: process 30 created child 32\n --> [pre-success] Success(0x20)\n"
                  "SYSCALL[30,1](61) sys_wait4 ( 32, 0x4060e50, 0, 0x0 ) --> [async] ...\n"
                  "SYSCALL[30,1](247) sys_waitid ( 0, 0, 0x1fff000100, 4, 0x0 ) --> [async] ...\n");
  log("w.31", header(31, 30) + "I  00001000,1\n");
  log("w.32", header(32, 30) + "I  00002000,1\n");
  const std::vector<std::string> expected = {
      "switch 30", "roi_begin", "exec 30", "fork 30 31", "fork 30 32", "syscall 61",
      "switch 32", "exec 32", "fetch 8192", "exit 32", "switch 30", "syscall 247",
      "switch 31", "exec 31", "fetch 4096", "exit 31", "switch 30", "exit 30", "roi_end"};
  EXPECT_EQ(convert({dir()}), expected);
  LackeyConvertOptions renumber;
  renumber.renumber_pids = true;  // the root is 1, then fork order: 31 is 2, 32 is 3
  const auto lines = convert({dir()}, renumber);
  EXPECT_EQ(std::vector<std::string>(lines.begin(), lines.begin() + 7),
            (std::vector<std::string>{"switch 1", "roi_begin", "exec 1", "fork 1 2", "fork 1 3", "syscall 61",
                                      "switch 3"}));
}

TEST_F(LackeyTest, LimitsCloseEveryOpenProcess) {
  log("l.40", header(40, 1) +
                  "I  00001000,1\n"
                  "SYSCALL[40,1](58) sys_fork ( )   fork: process 40 created child 41\n --> [pre-success] Success(0x29)\n"
                  "SYSCALL[40,1](61) sys_wait4 ( 41, 0x4060e50, 0, 0x0 ) --> [async] ...\n"
                  "I  00001001,1\nI  00001002,1\n"
                  "SYSCALL[40,1](231) exit_group( 0 ) --> [pre-success] Success(0x0)\n");
  log("l.41", header(41, 40) + "I  00002000,1\nI  00002001,1\nI  00002002,1\n");
  LackeyConvertOptions options;
  options.memory_limit = 3;
  LackeyConvertSummary summary;
  EXPECT_EQ(convert({dir()}, options, &summary),
            (std::vector<std::string>{"switch 40", "roi_begin", "exec 40", "fetch 4096", "fork 40 41", "syscall 61",
                                      "switch 41", "exec 41", "fetch 8192", "fetch 8193", "exit 41", "switch 40",
                                      "exit 40", "roi_end"}));
  EXPECT_TRUE(summary.limited);
  EXPECT_EQ(summary.memory_records, 3u);
  options = {};
  options.memory_limit_per_process = 1;  // every process keeps its first record and its structure
  EXPECT_EQ(convert({dir()}, options, &summary),
            (std::vector<std::string>{"switch 40", "roi_begin", "exec 40", "fetch 4096", "fork 40 41", "syscall 61",
                                      "switch 41", "exec 41", "fetch 8192", "exit 41", "switch 40", "exit 40",
                                      "roi_end"}));
  EXPECT_EQ(summary.processes_capped, 2u);
}

TEST_F(LackeyTest, OneLogAloneHeaderlessAndChildrenWithoutLogs) {
  const auto path = log("single.log",
                        "I  0401b792,2\n S 1fff000610,8\n"
                        "SYSCALL[50,1](57) sys_fork ( ) --> [pre-success] Success(0x33)\n"
                        "SYSCALL[50,1](61) sys_wait4 ( 4294967295, 0x1fff00025c, 0, 0x0 ) --> [async] ...\n");
  LackeyConvertSummary summary;
  const auto lines = convert({path}, {}, &summary);
  EXPECT_EQ(lines, (std::vector<std::string>{"switch 1", "roi_begin", "exec 1", "fetch 67221394", "store 137422177808",
                                             "fork 1 51", "syscall 61", "switch 51", "exit 51", "switch 1", "exit 1",
                                             "roi_end"}));
  ASSERT_EQ(summary.warnings.size(), 1u);
  EXPECT_NE(summary.warnings[0].find("no log for child process 51"), std::string::npos);
}

TEST_F(LackeyTest, BadInputNamesTheFileAndLine) {
  const auto path = log("bad.log", header(60, 1) + "I  0401b792,2\nI  zz,2\n");
  try {
    convert({path});
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":6: not a lackey line"), std::string::npos) << e.what();
  }
  // A line of spaces only (found by the fuzzer: it read past the end of the line).
  log("bad.log", header(60, 1) + "I  0401b792,2\n      \n");
  try {
    convert({path});
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":6: not a lackey line"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a line of spaces"), std::string::npos) << e.what();
  }
  log("bad.log", header(60, 1) + "SYSCALL[60,x](1) sys_write ( 1 )\n");
  EXPECT_THROW(convert({path}), FileError);
  // A file mapped at an offset the kernel never takes (found by the fuzzer: the converter wrote
  // it and the trace reader refused its own converter's trace).
  log("bad.log", header(60, 1) + "SYSCALL[60,1](9) sys_mmap ( 0x0, 8192, 3, 2, 3, 4294967295 ) --> "
                                 "[pre-success] Success(0x4835000)\n");
  try {
    convert({path});
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":5: mmap of a file at offset 4294967295"), std::string::npos)
        << e.what();
  }
  log("bad.log", header(60, 1) + "SYSCALL[61,1](39) sys_getpid ( )[sync] --> Success(0x3d)\n");
  try {
    convert({path});
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":5: a system call of process 61 in the log of process 60"),
              std::string::npos) << e.what();
  }
  // Two roots: neither log's parent has a log.
  fs::remove(path);
  log("r.70", header(70, 1) + "I  00001000,1\n");
  log("r.71", header(71, 2) + "I  00001000,1\n");
  try {
    convert({dir()});
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("expected exactly one root process"), std::string::npos) << e.what();
  }
}

// Lines as Valgrind 3.19 prints them (a capture of a small program that opens, maps, dups,
// mprotects and mremaps): an fd's path follows it through dup and fork, and close-on-exec
// files are gone after exec.
TEST_F(LackeyTest, FileMappingsNameTheFileTheirDescriptorHasOpen) {
  LackeyConvertSummary summary;
  const auto records = convert(
      {log("one", header(20, 1) +
                      "SYSCALL[20,1](257) sys_openat ( 4294967196, 0x4835540(/lib/x86_64-linux-gnu/libc.so.6), 524288 ) --> [async] ... \n"
                      "SYSCALL[20,1](257) ... [async] --> Success(0x4) \n"
                      "SYSCALL[20,1](9) sys_mmap ( 0x0, 1974096, 1, 2050, 4, 0 ) --> [pre-success] Success(0x4848000) \n"
                      "SYSCALL[20,1](9) sys_mmap ( 0x486e000, 1400832, 5, 2066, 4, 155648 ) --> [pre-success] Success(0x486e000) \n"
                      "SYSCALL[20,1](9) sys_mmap ( 0x4a1d000, 53072, 3, 50, 4294967295, 0 ) --> [pre-success] Success(0x4a1d000) \n"
                      "SYSCALL[20,1](3) sys_close ( 4 )[sync] --> Success(0x0) \n"
                      "SYSCALL[20,1](10) sys_mprotect ( 0x4a17000, 16384, 1 )[sync] --> Success(0x0) \n"
                      "SYSCALL[20,1](2) sys_open ( 0x10a004(/tmp/data), 2 ) --> [async] ... \n"
                      "SYSCALL[20,1](2) ... [async] --> Success(0x3) \n"
                      "SYSCALL[20,1](32) sys_dup ( 3 )[sync] --> Success(0x5) \n"
                      "SYSCALL[20,1](3) sys_close ( 3 )[sync] --> Success(0x0) \n"
                      "SYSCALL[20,1](9) sys_mmap ( 0x0, 8192, 3, 1, 5, 4096 ) --> [pre-success] Success(0x483c000) \n"
                      "SYSCALL[20,1](9) sys_mmap ( 0x0, 4096, 1, 2, 7, 0 ) --> [pre-success] Success(0x483f000) \n"
                      "SYSCALL[20,1](25) sys_mremap ( 0x483c000, 8192, 16384, 0x1 ) --> [pre-success] Success(0x4900000) \n"
                      "SYSCALL[20,1](25) sys_mremap ( 0x483d000, 8192, 16384, 0x1 ) --> [pre-fail] Failure(0x16) \n"
                      "SYSCALL[20,1](57) sys_fork ( ) --> [pre-success] Success(0x15) \n"
                      "SYSCALL[20,1](61) sys_wait4 ( 21, 0x0, 0, 0x0 ) --> [async] ... \n"
                      "SYSCALL[20,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) \n"),
       log("two", header(21, 20) +
                      " --> [pre-success] Success(0x0)\n"
                      "SYSCALL[21,1](9) sys_mmap ( 0x0, 4096, 1, 1, 5, 0 ) --> [pre-success] Success(0x5000000) \n"
                      "SYSCALL[21,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) \n")},
      {}, &summary);
  const std::vector<std::string> expected = {
      "switch 20", "roi_begin", "exec 20", "syscall 257",
      "mmap 20 75792384 1974096 1 file 1 offset 0", "mmap 20 75948032 1400832 5 file 1 offset 155648",
      "mmap 20 77713408 53072 3",  // MAP_ANONYMOUS
      "syscall 3", "mprotect 20 77688832 16384 1", "syscall 2", "syscall 32", "syscall 3",
      "mmap 20 75743232 8192 3 file 2 offset 4096 shared",  // fd 5, dup of /tmp/data
      "mmap 20 75755520 4096 1 file 3 offset 0",  // fd 7: opened before the log
      "mremap 20 75743232 8192 76546048 16384", "syscall 25", "fork 20 21", "syscall 61",
      "switch 21", "mmap 21 83886080 4096 1 file 2 offset 0 shared", "exit 21", "switch 20", "exit 20", "roi_end"};
  EXPECT_EQ(records, expected);
  EXPECT_EQ(summary.files, (std::vector<std::string>{"/lib/x86_64-linux-gnu/libc.so.6", "/tmp/data",
                                                     "<descriptor 7 of process 20>"}));
}

// The dynamic loader opens, reads, inspects, maps and closes vgpreload_core, which Valgrind
// preloads (the lines as Valgrind 3.19 logs them): a native run makes none of these calls. The
// calls are left out, the mappings kept (the program's address space has them) and tagged.
TEST_F(LackeyTest, ValgrindPreloadedObjectsAreTaggedAndTheirCallsLeftOut) {
  LackeyConvertSummary summary;
  const auto records = convert(
      {log("one", header(40, 1) +
                      "SYSCALL[40,1](257) sys_openat ( 4294967196, 0x4034bb0(/usr/libexec/valgrind/vgpreload_core-amd64-linux.so), 524288 ) --> [async] ... \n"
                      "SYSCALL[40,1](257) ... [async] --> Success(0x4) \n"
                      "SYSCALL[40,1](0) sys_read ( 4, 0x1ffefff2e8, 832 ) --> [async] ... \n"
                      "SYSCALL[40,1](0) ... [async] --> Success(0x340) \n"
                      "SYSCALL[40,1](262) sys_newfstatat ( 4, 0x4029c99(), 0x1ffefff280 )[sync] --> Success(0x0) \n"
                      "SYSCALL[40,1](9) sys_mmap ( 0x0, 16400, 1, 2050, 4, 0 ) --> [pre-success] Success(0x4837000) \n"
                      "SYSCALL[40,1](9) sys_mmap ( 0x4838000, 4096, 5, 2066, 4, 4096 ) --> [pre-success] Success(0x4838000) \n"
                      "SYSCALL[40,1](3) sys_close ( 4 )[sync] --> Success(0x0) \n"
                      "SYSCALL[40,1](257) sys_openat ( 4294967196, 0x40290b1(/etc/ld.so.cache), 524288 ) --> [async] ... \n"
                      "SYSCALL[40,1](257) ... [async] --> Success(0x4) \n"
                      "SYSCALL[40,1](262) sys_newfstatat ( 4, 0x4029c99(), 0x1ffefff280 )[sync] --> Success(0x0) \n"
                      "SYSCALL[40,1](9) sys_mmap ( 0x0, 47011, 1, 2, 4, 0 ) --> [pre-success] Success(0x483c000) \n"
                      "SYSCALL[40,1](3) sys_close ( 4 )[sync] --> Success(0x0) \n"
                      "SYSCALL[40,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) \n")},
      {}, &summary);
  const std::vector<std::string> expected = {
      "switch 40", "roi_begin", "exec 40",
      "mmap 40 75722752 16400 1 file 1 offset 0 tool", "mmap 40 75726848 4096 5 file 1 offset 4096 tool",
      // ld.so.cache, on the same descriptor number once vgpreload's is closed: the program's.
      "syscall 257", "syscall 262", "mmap 40 75743232 47011 1 file 2 offset 0", "syscall 3", "exit 40", "roi_end"};
  EXPECT_EQ(records, expected);
  EXPECT_EQ(summary.tool_calls, 4u);  // openat, read, newfstatat, close
  EXPECT_EQ(summary.files, (std::vector<std::string>{"/usr/libexec/valgrind/vgpreload_core-amd64-linux.so",
                                                     "/etc/ld.so.cache"}));
}

// jemalloc under Valgrind (redis-server's first chunk, as captured): Valgrind places a 2 MiB
// anonymous mapping off a 2 MiB boundary, where this host's kernel (Linux 6.7 on) aligns it, so
// jemalloc unmaps it, maps 2 MiB - 4 KiB more and trims both ends. With thp_aligned_anonymous
// that is the one aligned mmap of a native run; what ran in between comes after it.
TEST_F(LackeyTest, AnAlignmentRetryBecomesTheAlignedMmapOfANativeRun) {
  const std::string retry =
      "SYSCALL[50,1](9) sys_mmap ( 0x0, 2097152, 3, 16418, 4294967295, 0 ) --> [pre-success] Success(0x58d9000) \n"
      " L 1ffefff000,8\n"
      "SYSCALL[50,1](11) sys_munmap ( 0x58d9000, 2097152 )[sync] --> Success(0x0) \n"
      "SYSCALL[50,1](9) sys_mmap ( 0x0, 4190208, 3, 16418, 4294967295, 0 ) --> [pre-success] Success(0x58d9000) \n"
      "SYSCALL[50,1](11) sys_munmap ( 0x58d9000, 1208320 )[sync] --> Success(0x0) \n"
      " S 1ffefff008,8\n"
      "SYSCALL[50,1](11) sys_munmap ( 0x5c00000, 884736 )[sync] --> Success(0x0) \n";
  const std::string text = header(50, 1) + retry + " S 05a00000,8\n" +
                           // Another 2 MiB off a boundary, then something else: left as it is.
                           "SYSCALL[50,1](9) sys_mmap ( 0x0, 2097152, 3, 34, 4294967295, 0 ) --> [pre-success] Success(0x6001000) \n"
                           " L 1ffefff000,8\n"
                           "SYSCALL[50,1](12) sys_brk ( 0x0 ) --> [pre-success] Success(0x4035000) \n"
                           "SYSCALL[50,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) \n";
  LackeyConvertOptions options;
  options.thp_aligned_anonymous = true;
  LackeyConvertSummary summary;
  const auto records = convert({log("one", text)}, options, &summary);
  const std::vector<std::string> expected = {
      "switch 50", "roi_begin", "exec 50",
      "mmap 50 94371840 2097152 3", "load 137422172160", "store 137422172168",  // at 0x5a00000
      "store 94371840",
      "mmap 50 100667392 2097152 3", "load 137422172160", "brk 50 67325952", "exit 50", "roi_end"};
  EXPECT_EQ(records, expected);
  EXPECT_EQ(summary.alignment_retries, 1u);
  // Without the option (a kernel that does not align, as Linux 6.1): every call as it came.
  const auto as_logged = convert({log("one", text)});
  EXPECT_EQ(std::count_if(as_logged.begin(), as_logged.end(), [](const std::string& r) { return r.rfind("munmap", 0) == 0; }),
            3);
  EXPECT_EQ(as_logged.size(), expected.size() + 4);
}

TEST_F(LackeyTest, CloseOnExecFilesAreGoneAfterExec) {
  const auto records = convert({log("one", header(30, 1) +
                                               "SYSCALL[30,1](257) sys_openat ( 4294967196, 0x1(/a), 524288 ) --> [async] ... \n"
                                               "SYSCALL[30,1](257) ... [async] --> Success(0x3) \n"
                                               "SYSCALL[30,1](257) sys_openat ( 4294967196, 0x1(/b), 0 ) --> [async] ... \n"
                                               "SYSCALL[30,1](257) ... [async] --> Success(0x4) \n"
                                               "SYSCALL[30,1](59) sys_execve ( 0x1(/bin/x), 0x2, 0x3 ) --> [pre-success] Success(0x0) \n"
                                               "SYSCALL[30,1](9) sys_mmap ( 0x0, 4096, 1, 2, 3, 0 ) --> [pre-success] Success(0x1000) \n"
                                               "SYSCALL[30,1](9) sys_mmap ( 0x0, 4096, 1, 2, 4, 0 ) --> [pre-success] Success(0x2000) \n")});
  EXPECT_NE(std::find(records.begin(), records.end(), "mmap 30 4096 4096 1 file 1 offset 0"), records.end());
  EXPECT_NE(std::find(records.begin(), records.end(), "mmap 30 8192 4096 1 file 2 offset 0"), records.end());
  LackeyConvertSummary summary;
  convert({dir() + "/one"}, {}, &summary);
  EXPECT_EQ(summary.files, (std::vector<std::string>{"<descriptor 3 of process 30>", "/b"}));
}

// Reads and writes carry what they moved (their result), their buffer and what their descriptor
// is: a file opened by path, a pipe (its two descriptors the lowest free ones), a socket, an
// epoll instance; waits whether their timeout lets them sleep.
TEST_F(LackeyTest, SystemCallsSayWhatTheyMovedAndWhatTheirDescriptorIs) {
  const auto trace = (fs::path(dir()) / "io.vst").string();
  {
    TraceWriter writer(trace);
    convert_lackey_logs({log("one", header(40, 1) +
                                        "SYSCALL[40,1](257) sys_openat ( 4294967196, 0x1(/tmp/data), 0 ) --> [async] ... \n"
                                        "SYSCALL[40,1](257) ... [async] --> Success(0x3) \n"
                                        "SYSCALL[40,1](17) sys_pread64 ( 3, 0x5000, 4096, 0 ) --> [async] ... \n"
                                        "SYSCALL[40,1](17) ... [async] --> Success(0x1000) \n"
                                        "SYSCALL[40,1](22) sys_pipe ( 0x1ffefff000 ) --> [pre-success] Success(0x0) \n"
                                        "SYSCALL[40,1](1) sys_write ( 5, 0x6000, 64 ) --> [async] ... \n"
                                        "SYSCALL[40,1](1) ... [async] --> Success(0x40) \n"
                                        "SYSCALL[40,1](0) sys_read ( 4, 0x6000, 4096 ) --> [async] ... \n"
                                        "SYSCALL[40,1](0) ... [async] --> Success(0x40) \n"
                                        "SYSCALL[40,1](41) sys_socket ( 2, 1, 0 ) --> [pre-success] Success(0x6) \n"
                                        "SYSCALL[40,1](44) sys_sendto ( 6, 0x7000, 100, 0, 0x0, 0 ) --> [async] ... \n"
                                        "SYSCALL[40,1](44) ... [async] --> Success(0x64) \n"
                                        "SYSCALL[40,1](20) sys_writev ( 6, 0x7100, 2 ) --> [async] ... \n"
                                        "SYSCALL[40,1](20) ... [async] --> Success(0x20) \n"
                                        "SYSCALL[40,1](0) sys_read ( 9, 0x6000, 10 ) --> [async] ... \n"
                                        "SYSCALL[40,1](0) ... [async] --> Failure(0xb) \n"
                                        "SYSCALL[40,1](291) sys_epoll_create1 ( 0 ) --> [pre-success] Success(0x7) \n"
                                        "SYSCALL[40,1](232) sys_epoll_wait ( 7, 0x8000, 8, -1 ) --> [async] ... \n"
                                        "SYSCALL[40,1](232) ... [async] --> Success(0x1) \n"
                                        "SYSCALL[40,1](232) sys_epoll_wait ( 7, 0x8000, 8, 0 ) --> [async] ... \n"
                                        "SYSCALL[40,1](232) ... [async] --> Success(0x0) \n"
                                        "SYSCALL[40,1](7) sys_poll ( 0x8000, 1, 0 ) --> [async] ... \n"
                                        "SYSCALL[40,1](7) ... [async] --> Success(0x1) \n"
                                        "SYSCALL[40,1](3) sys_close ( 4 )[sync] --> Success(0x0) \n"
                                        "SYSCALL[40,1](22) sys_pipe ( 0x1ffefff000 ) --> [pre-success] Success(0x0) \n"
                                        "SYSCALL[40,1](0) sys_read ( 4, 0x6000, 1 ) --> [async] ... \n"
                                        "SYSCALL[40,1](0) ... [async] --> Success(0x1) \n"
                                        "SYSCALL[40,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) \n")},
                        writer);
    writer.close();
  }
  std::vector<std::string> calls;
  TraceReader reader(trace);
  while (auto r = reader.next())
    if (r->kind == TraceRecordKind::Syscall)
      calls.push_back(std::to_string(r->count) + " " + std::to_string(r->bytes) + " " + to_string(r->object) + " " +
                      std::to_string(r->address) + (r->call_flags & kSyscallMaySleep ? " may_sleep" : ""));
  const std::vector<std::string> expected = {
      "257 0 none 0", "17 4096 file 20480", "22 0 none 0",
      "1 64 pipe 24576",           // fd 5: the pipe's write end (3 is the file, so 4 and 5)
      "0 64 pipe 24576",           // fd 4: its read end, 64 bytes of 4096 asked
      "41 0 none 0", "44 100 socket 28672",
      "20 32 socket 0",            // writev: its buffers are behind the iovec
      "0 0 none 24576",            // a failed read of a descriptor the log never opened
      "291 0 none 0", "232 0 other 0 may_sleep", "232 0 other 0", "7 0 none 0", "3 0 none 0", "22 0 none 0",
      "0 1 pipe 24576",            // the second pipe took the freed 4 (and 8)
      };
  EXPECT_EQ(calls, expected);
}

}  // namespace
}  // namespace virtsim
