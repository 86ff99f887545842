#include "virtsim/common/output_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "virtsim/common/error.h"

namespace virtsim {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTemporaryMark = ".tmp-";
constexpr std::size_t kRandomLength = 8;

// This host's name as temporaries carry it: letters, digits, '.' and '-' only.
std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  std::string out;
  for (const char* c = name; *c; ++c)
    out += std::isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '-' ? *c : '_';
  return out;
}

std::string random_suffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
  std::string out;
  for (std::size_t i = 0; i < kRandomLength; ++i) out += kAlphabet[pick(device)];
  return out;
}

bool all_digits(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Whether process `pid` of this host still exists (EPERM: it does, as another user's).
bool process_alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

fs::path directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// Creates a new temporary of `target` (see create_temporary): its descriptor, or -errno.
int open_temporary(const std::string& target, std::string& path) {
  const std::string stem = target + kTemporaryMark + std::to_string(::getpid()) + "-";
  // Eight random characters: a name taken by chance (or planted) costs another try.
  for (int attempt = 0; attempt < 100; ++attempt) {
    path = stem + random_suffix() + "-" + host_name();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return -errno;
  }
  return -EEXIST;
}

}  // namespace

int write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

std::uint32_t crc32_of(const void* data, std::size_t size, std::uint32_t crc) {
  // zlib takes at most 4 GiB at a time.
  const auto* bytes = static_cast<const Bytef*>(data);
  for (std::size_t done = 0; done < size;) {
    const std::size_t part = std::min<std::size_t>(size - done, std::size_t{1} << 30);
    crc = static_cast<std::uint32_t>(::crc32(crc, bytes + done, static_cast<uInt>(part)));
    done += part;
  }
  return crc;
}

std::string system_error_text(int error) {
  std::string text = std::strerror(error);
  if (!text.empty() && std::isupper(static_cast<unsigned char>(text[0])) &&
      !(text.size() > 1 && std::isupper(static_cast<unsigned char>(text[1]))))
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

void check_output_path(const std::string& path, bool force) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw ConfigError("output path '" + path + "' is a directory, expected a file name");
    if (S_ISLNK(st.st_mode))
      throw ConfigError(
          "output path '" + path +
          "' is a symbolic link; virtsim never writes through or replaces one: name the file itself");
    if (!S_ISREG(st.st_mode))
      throw ConfigError("output path '" + path + "' is " + kind_of(st.st_mode) +
                        ", not a regular file; virtsim never replaces one");
    if (!force) throw ConfigError("output file '" + path + "' already exists; pass --force to overwrite it");
  }
  const fs::path parent = directory_of(path);
  std::error_code ec;
  if (!fs::exists(parent, ec)) throw ConfigError("output directory '" + parent.string() + "' does not exist");
  if (!fs::is_directory(parent, ec))
    throw ConfigError("output directory '" + parent.string() + "' is not a directory");
  // access() misses read-only mounts and /proc for root; creating a file is the real test.
  std::string probe;
  const int fd = open_temporary(path, probe);
  if (fd < 0)
    throw ConfigError("output directory '" + parent.string() + "' is not writable (" +
                      system_error_text(-fd) + ")");
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string create_temporary(const std::string& target, int* fd_out) {
  std::string path;
  const int fd = open_temporary(target, path);
  if (fd < 0) throw FileError(path + ": cannot create: " + system_error_text(-fd));
  if (fd_out)
    *fd_out = fd;
  else
    ::close(fd);
  return path;
}

void remove_stale_temporaries(const std::string& target) {
  const std::string prefix = fs::path(target).filename().string() + kTemporaryMark;
  const std::string host = host_name();
  std::error_code ec;
  for (fs::directory_iterator it(directory_of(target), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    // "<pid>-<random>-<host>", or an older version's "<pid>"; a temporary of a temporary (a
    // comparison's run written into its part file) goes with the outer one.
    const auto dash = rest.find('-');
    const std::string digits = rest.substr(0, dash);
    if (!all_digits(digits) || digits.size() > 9) continue;
    if (dash != std::string::npos) {
      const std::size_t host_at = dash + 1 + kRandomLength + 1;
      if (rest.size() < host_at || rest[host_at - 1] != '-') continue;
      const std::string rest_host = rest.substr(host_at);
      if (rest_host != host && rest_host.compare(0, host.size() + 5, host + kTemporaryMark) != 0) continue;
    }
    const long pid = std::stol(digits);
    if (pid == ::getpid() || process_alive(pid)) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(it->path().c_str());
  }
}

void install_temporary(const std::string& temporary, const std::string& target, bool replace) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      throw FileError("'" + target + "' became " + kind_of(st.st_mode) +
                      " while virtsim was writing it; virtsim never replaces one");
    if (!replace) throw FileError("'" + target + "' appeared while virtsim was writing it; not replaced");
  }
  if (replace) {
    if (std::rename(temporary.c_str(), target.c_str()) != 0)
      throw FileError("cannot rename '" + temporary + "' to '" + target + "': " + system_error_text(errno));
    return;
  }
  // Atomically "create unless present": renameat2's RENAME_NOREPLACE, or where a file system
  // lacks it, a hard link (which fails on an existing name) and the temporary's removal.
  if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) return;
  int error = errno;
  if (error == EINVAL || error == ENOSYS) {
    if (::link(temporary.c_str(), target.c_str()) == 0) {
      ::unlink(temporary.c_str());
      return;
    }
    error = errno;
  }
  if (error == EEXIST)
    throw FileError("'" + target + "' appeared while virtsim was writing it; not replaced");
  throw FileError("cannot rename '" + temporary + "' to '" + target + "': " + system_error_text(error));
}

}  // namespace virtsim
