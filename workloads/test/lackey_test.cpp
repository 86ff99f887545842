#include "virtsim/workloads/lackey.h"

#include <gtest/gtest.h>

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
                  "SYSCALL[20,1](56) sys_clone ( 0x3d0f00, 0x4a2b000, 0x4a2b9d0, 0x4a2b9d0, 0x4a2b640 ) --> "
                  "[pre-success] Success(0x15)\n"  // a thread: CLONE_THREAD in the flags
                  "SYSCALL[20,1](56) sys_clone ( 0x1200011, 0x0, 0x0, 0x4a29a10, 0x0 ) --> [pre-success] Success(0x16)\n"
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

}  // namespace
}  // namespace virtsim
