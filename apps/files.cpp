#include "files.h"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "virtsim/common/error.h"
#include "virtsim/common/output_files.h"

namespace virtsim {

namespace fs = std::filesystem;

void write_file_atomically(const fs::path& path, const std::string& text) {
  remove_stale_temporaries(path.string());
  int fd = -1;
  const std::string temp = create_temporary(path.string(), &fd);
  int error = write_all(fd, text.data(), text.size());
  // Some file systems (NFS) report a failed write only when the file is closed.
  if (::close(fd) != 0 && !error) error = errno;
  try {
    if (error) throw FileError(path.string() + ": cannot write: " + system_error_text(error));
    install_temporary(temp, path.string(), true);
  } catch (const FileError&) {
    ::unlink(temp.c_str());
    throw;
  }
}

std::string read_file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace virtsim
