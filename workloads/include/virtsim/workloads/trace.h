#pragma once
// The virtsim trace format (docs/trace-format.md): a 16-byte header, zstd-compressed blocks
// of variable-length records, each with a checksum, and a trailer that counts them. Written
// and read as a stream: the reader holds one decompressed block at a time, never the whole
// file. Every read error is a FileError naming the file and the byte offset of the bad
// header, block, record or trailer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "virtsim/common/guest_event.h"

namespace virtsim {

inline constexpr char kTraceMagic[8] = {'V', 'S', 'T', 'R', 'A', 'C', 'E', '\0'};
// The version written. Version 1 (no checksums, no trailer) is still read, with a warning;
// versions 2 (no file-backed mmaps, no mprotect or mremap records), 3 (no page-table write
// records) and 4 (system calls without their byte count and object) are read as they are;
// versions 2 to 5 with a warning that their mmaps cannot tell a capture tool's own mappings.
inline constexpr std::uint16_t kTraceVersion = 6;

// CRC-32 as zlib, gzip and PNG compute it (reflected polynomial 0xedb88320), continuing from
// `crc` (0 to start): the checksum of the format's blocks and trailer.
std::uint32_t trace_checksum(std::uint32_t crc, const void* data, std::size_t size);

enum class TraceRecordKind : std::uint8_t {
  Compute = 0x01,
  Load = 0x02,
  Store = 0x03,
  Fetch = 0x04,
  Instr = 0x05,
  RoiBegin = 0x06,
  RoiEnd = 0x07,
  Syscall = 0x08,
  Interrupt = 0x09,
  Fork = 0x10,
  Exec = 0x11,
  Exit = 0x12,
  Mmap = 0x13,
  Munmap = 0x14,
  Brk = 0x15,
  Switch = 0x16,  // the records that follow belong to process `pid`
  Mprotect = 0x17,  // version 3 on
  Mremap = 0x18,    // version 3 on
  PageTableWrite = 0x19,  // version 4 on
};

// The entry bits a page-table write record may set or clear: accessed and dirty (page aging
// and writeback cleaning rewrite them in place; rights and frames change by mprotect, munmap...).
inline constexpr std::uint64_t kPageTableWriteBits = (1u << 5) | (1u << 6);
const char* to_string(TraceRecordKind kind);

// An mmap record's flags: the area maps a file (`file`, `offset`), and it is shared (MAP_SHARED)
// rather than private; kMapTool (version 6 on): the capture tool's own mapping (an object
// Valgrind preloads into the traced program), there in the address space but no call of the
// program's.
inline constexpr std::uint32_t kMapFile = 1, kMapShared = 2, kMapTool = 4;

// What a system call's descriptor refers to (a syscall record's object, version 5 on).
enum class SyscallObject : std::uint8_t { None = 0, File = 1, Pipe = 2, Socket = 3, Other = 4 };
inline constexpr std::uint8_t kSyscallObjects = 5;
const char* to_string(SyscallObject object);
// A syscall record's flags: a wait whose timeout lets it sleep (not 0).
inline constexpr std::uint32_t kSyscallMaySleep = 1;

// One record; which fields mean something depends on the kind.
struct TraceRecord {
  TraceRecordKind kind = TraceRecordKind::Compute;
  std::uint64_t count = 0;    // Compute: instructions; Syscall: number; Interrupt: vector
  Addr address = 0;           // Load/Store/Fetch, Mmap/Munmap/Brk: address; Instr: value
  std::uint8_t size = 0;      // Load/Store/Fetch: bytes; Instr: I/O size
  Instruction instruction = Instruction::Cpuid;
  std::uint32_t operand = 0;  // Instr: port or MSR
  std::uint32_t pid = 0;      // process events
  std::uint32_t child = 0;    // Fork
  std::uint64_t length = 0;   // Mmap/Munmap/Mprotect; Mremap: the old length
  std::uint32_t prot = 0;     // Mmap/Mprotect: PROT_* bits
  std::uint32_t map_flags = 0;  // Mmap: kMapFile, kMapShared, kMapTool
  std::uint32_t file = 0;     // Mmap of a file: the file's id in the trace (1, 2 ...)
  std::uint64_t offset = 0;   // Mmap of a file: the byte offset in the file `address` maps
  Addr new_address = 0;       // Mremap: where the area is now
  std::uint64_t new_length = 0;  // Mremap
  std::uint64_t set_bits = 0, clear_bits = 0;  // PageTableWrite: entry bits set, then cleared
  // Syscall, version 5 on (`described`): the bytes the call moved (its result; 0 for a call
  // that moves none or failed), its descriptor's object, kSyscallMaySleep, and `address` is
  // the user buffer (0: not one buffer, as readv's). Older versions say none of this.
  bool described = false;
  std::uint64_t bytes = 0;
  SyscallObject object = SyscallObject::None;
  std::uint32_t call_flags = 0;

  // The guest event a record stands for, when it is one (memory, compute, instruction, ROI).
  std::optional<GuestEvent> guest_event() const;
  static TraceRecord from(const GuestEvent& event);
};

// Writes a trace into a temporary file beside `path`, created exclusively (a unique name, never
// an existing file or a planted link); close() completes it and renames it to `path`. So
// `path` only ever holds a whole trace: until close() it is untouched, and a writer destroyed
// without close() (an error midway) removes its temporary. Throws FileError naming the file.
class TraceWriter {
 public:
  // `replace_existing`: whether close() may replace a file at `path`; if not, it refuses one
  // (created meanwhile) and leaves it as it is.
  explicit TraceWriter(const std::string& path, std::size_t block_bytes = 1 << 16,
                       bool replace_existing = true);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  void write(const TraceRecord& record);
  // Writes the last block and the trailer, then renames the trace into place.
  void close();
  std::uint64_t records() const { return records_; }
  const std::string& temporary_path() const { return temp_path_; }

 private:
  void flush_block();
  void put_varint(std::uint64_t v);
  void put(const void* data, std::size_t size);  // into the file, checked
  void discard() noexcept;                       // closes and removes the temporary
  std::string path_, temp_path_;
  std::FILE* out_ = nullptr;
  bool replace_existing_;
  std::vector<std::uint8_t> block_;
  std::vector<char> compressed_;
  std::size_t block_bytes_;
  std::uint32_t block_records_ = 0;
  std::uint64_t records_ = 0, blocks_ = 0;
  std::uint32_t trailer_checksum_ = 0;  // over the header and every block's checksum so far
  Addr last_address_ = 0;
  bool closed_ = false;
};

// Signed deltas are zigzag-coded (0, -1, 1, -2 ... as 0, 1, 2, 3 ...) so small ones are short varints.
inline std::int64_t unzigzag(std::uint64_t v) { return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1); }

class TraceReader {
 public:
  // Opens `path` and checks the header; throws FileError (bad magic, unsupported version, short file).
  explicit TraceReader(const std::string& path);
  // Empty, or a one-line warning about the file that is no error (an old version's missing
  // checksums), naming the file: for the caller to show once.
  const std::string& warning() const { return warning_; }
  // The next record, nullopt at the end of the file.
  std::optional<TraceRecord> next();
  // The same, decoded straight into a guest event when the record stands for one (returns 1);
  // any other record goes to `other` (returns 0); -1 at the end of the file.
  int next_event(GuestEvent& event, TraceRecord& other);
  // The run of plain records (compute, load, store, fetch) that starts here, decoded into `out`:
  // up to `max` events, within the current block, and up to the event that brings their
  // instructions to `budget` (ends_batch(): the only way plain records end a batch). Stops
  // before any other record, leaving it unread, and reads no block: next_event() does both. The
  // trace-driven hot path.
  EventBatch next_plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget);
  std::uint16_t version() const { return version_; }
  std::uint64_t blocks_read() const { return blocks_; }
  std::uint64_t records_read() const { return records_; }
  // Load, store and fetch records read so far, by any of the calls above.
  std::uint64_t memory_records_read() const { return memory_records_; }
  // Byte offset of the block header of the block holding the last record next() returned,
  // for error messages about that record.
  std::uint64_t record_offset() const { return block_offset_; }
  // Records of the current block not yet read (0: the next record starts a new block).
  std::uint32_t records_left_in_block() const { return block_left_; }

 private:
  bool load_block();
  // Version 2: the trailer after the last block, whose first `start_bytes` bytes were read.
  void read_trailer(const char* start, std::size_t start_bytes);
  void decode(std::uint8_t tag, TraceRecord& r);  // the fields after the tag byte
  void decode_mmap_backing(TraceRecord& r);       // version 3: an mmap's flags, file and offset
  void decode_syscall_effect(TraceRecord& r);     // version 5: a call's bytes, object, flags, buffer
  [[noreturn]] void unknown_record(std::uint8_t tag) const;
  // A plain record (compute, load, store, fetch) straight into a guest event: its fields after
  // the tag byte. False, reading nothing, for any other kind.
  static bool is_plain(std::uint8_t tag) {
    return tag == static_cast<std::uint8_t>(TraceRecordKind::Compute) ||
           (tag >= static_cast<std::uint8_t>(TraceRecordKind::Load) &&
            tag <= static_cast<std::uint8_t>(TraceRecordKind::Fetch));
  }
  bool decode_plain(std::uint8_t tag, GuestEvent& event);
  // A memory record's size and address (a delta to the last one, zigzag-coded). Inline: the
  // trace-driven hot path reads one per memory record.
  Addr memory_operand(std::uint8_t& size) {
    ++memory_records_;
    size = byte();
    const Addr address = last_address_ + static_cast<Addr>(unzigzag(varint()));
    last_address_ = address;
    if (__builtin_expect(size == 0 || size > 64, 0)) bad_memory_size(size);
    return address;
  }
  [[noreturn]] void bad_memory_size(std::uint8_t size) const;
  void end_record();
  [[noreturn]] void fail(std::uint64_t offset, const std::string& what) const;
  // Inline: every record is a few of these. The checks of a varint are made once when ten
  // bytes (the longest) are left in the block, byte by byte near its end.
  std::uint8_t byte() {
    if (__builtin_expect(pos_ >= block_.size(), 0)) past_end();
    return block_[pos_++];
  }
  std::uint64_t varint() {
    if (__builtin_expect(block_.size() - pos_ < 10, 0)) return varint_near_end();
    return varint_at(block_.data(), pos_);
  }
  // A varint at data[pos] with ten bytes readable there; moves `pos` past it.
  std::uint64_t varint_at(const std::uint8_t* data, std::size_t& pos) const {
    const std::uint8_t* p = data + pos;
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 10; ++i) {
      v |= std::uint64_t{p[i] & 0x7fu} << (7 * i);
      if (!(p[i] & 0x80)) {
        pos += i + 1;
        return v;
      }
    }
    malformed_number();
  }
  std::uint64_t varint_near_end();
  [[noreturn]] void past_end() const;
  [[noreturn]] void malformed_number() const;
  std::string path_;
  std::ifstream in_;
  std::uint16_t version_ = 0;
  std::string warning_;
  std::vector<std::uint8_t> block_;
  std::vector<char> compressed_;  // the current block as read, kept so each block reuses it
  std::size_t pos_ = 0;
  std::uint64_t block_offset_ = 0;   // file offset of the current block's header
  std::uint32_t block_left_ = 0;     // records still to read in the block
  std::uint64_t file_offset_ = 16;   // where the next block header starts
  std::uint64_t blocks_ = 0, records_ = 0, memory_records_ = 0;
  std::uint32_t trailer_checksum_ = 0;  // version 2: over the header and every block's checksum
  bool ended_ = false;                  // the trailer (or, in version 1, the end of the file) was read
  bool after_fetch_ = false;            // the last record read was a fetch or one of its data accesses
  Addr last_address_ = 0;
};

}  // namespace virtsim
