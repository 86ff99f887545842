#pragma once
// Files virtsim writes whole or not at all (result files, a sweep's small files, reports): a
// temporary beside the target, created exclusively under a name no one can predict, renamed
// onto the target when complete. Nothing here opens or replaces what a symbolic link, device,
// FIFO or directory at either name leads to.
#include <cstddef>
#include <cstdint>
#include <string>

namespace virtsim {

// Throws ConfigError, naming the path, if a new file cannot be written at `path`: something
// other than a regular file is there (a directory, symbolic link, device, FIFO or socket: never
// replaced, --force or not), a file is there and !force, or the directory is missing or not
// writable (found by creating and removing a temporary there).
void check_output_path(const std::string& path, bool force);

// A new, empty temporary beside `target`, "<target>.tmp-<pid>-<random>-<host>", created with
// O_CREAT | O_EXCL | O_NOFOLLOW: never an existing file, never through a planted link. Returns
// its path; with `fd`, the descriptor open for writing (else it is closed). Throws FileError.
std::string create_temporary(const std::string& target, int* fd = nullptr);

// Removes the temporaries of `target` that processes of this host left when they died (a run
// killed while writing), and those of older versions ("<target>.tmp-<pid>"). Regular files
// only; those of live processes and of other hosts stay.
void remove_stale_temporaries(const std::string& target);

// Renames the finished `temporary` onto `target`. Throws FileError, leaving both alone, if
// `target` is now something other than a regular file, or (with !replace) exists at all: it
// appeared while the temporary was being written.
void install_temporary(const std::string& temporary, const std::string& target, bool replace);

// Writes all of `data` to `fd`, retrying short and interrupted writes. Returns 0 or the errno.
int write_all(int fd, const void* data, std::size_t size);

// zlib's CRC-32 of `data`, continuing from `crc` (0 to start): the checksum result files and
// traces carry.
std::uint32_t crc32_of(const void* data, std::size_t size, std::uint32_t crc = 0);

// The system's text for errno `error`, lower-cased as virtsim's messages write it ("no space
// left on device").
std::string system_error_text(int error);

}  // namespace virtsim
