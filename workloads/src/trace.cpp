#include "virtsim/workloads/trace.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "virtsim/common/error.h"
#include "virtsim/common/output_files.h"
#include "virtsim/common/units.h"

namespace virtsim {

const char* to_string(TraceRecordKind kind) {
  switch (kind) {
    case TraceRecordKind::Compute: return "compute";
    case TraceRecordKind::Load: return "load";
    case TraceRecordKind::Store: return "store";
    case TraceRecordKind::Fetch: return "fetch";
    case TraceRecordKind::Instr: return "instr";
    case TraceRecordKind::RoiBegin: return "roi_begin";
    case TraceRecordKind::RoiEnd: return "roi_end";
    case TraceRecordKind::Syscall: return "syscall";
    case TraceRecordKind::Interrupt: return "interrupt";
    case TraceRecordKind::Fork: return "fork";
    case TraceRecordKind::Exec: return "exec";
    case TraceRecordKind::Exit: return "exit";
    case TraceRecordKind::Mmap: return "mmap";
    case TraceRecordKind::Munmap: return "munmap";
    case TraceRecordKind::Brk: return "brk";
    case TraceRecordKind::Switch: return "switch";
    case TraceRecordKind::Mprotect: return "mprotect";
    case TraceRecordKind::Mremap: return "mremap";
    case TraceRecordKind::PageTableWrite: return "pte_write";
  }
  return "?";
}

const char* to_string(SyscallObject object) {
  switch (object) {
    case SyscallObject::None: return "none";
    case SyscallObject::File: return "file";
    case SyscallObject::Pipe: return "pipe";
    case SyscallObject::Socket: return "socket";
    case SyscallObject::Other: return "other";
  }
  return "?";
}

std::optional<GuestEvent> TraceRecord::guest_event() const {
  switch (kind) {
    case TraceRecordKind::Compute: return GuestEvent::compute(static_cast<std::uint32_t>(count));
    case TraceRecordKind::Load: return GuestEvent::memory(AccessKind::Load, address, size);
    case TraceRecordKind::Store: return GuestEvent::memory(AccessKind::Store, address, size);
    case TraceRecordKind::Fetch: return GuestEvent::memory(AccessKind::Fetch, address, size);
    case TraceRecordKind::Instr: return GuestEvent::instr(instruction, operand, address, size);
    case TraceRecordKind::RoiBegin: return GuestEvent::roi_begin();
    case TraceRecordKind::RoiEnd: return GuestEvent::roi_end();
    default: return std::nullopt;
  }
}

TraceRecord TraceRecord::from(const GuestEvent& e) {
  TraceRecord r;
  switch (e.kind) {
    case GuestEventKind::Compute: r.kind = TraceRecordKind::Compute; r.count = e.count; break;
    case GuestEventKind::Memory:
      r.kind = e.access == AccessKind::Load ? TraceRecordKind::Load
               : e.access == AccessKind::Store ? TraceRecordKind::Store
                                               : TraceRecordKind::Fetch;
      r.address = e.address;
      r.size = e.size;
      break;
    case GuestEventKind::Instr:
      r.kind = TraceRecordKind::Instr;
      r.instruction = e.instruction;
      r.operand = e.count;
      r.address = e.address;
      r.size = e.size;
      break;
    case GuestEventKind::RoiBegin: r.kind = TraceRecordKind::RoiBegin; break;
    case GuestEventKind::RoiEnd: r.kind = TraceRecordKind::RoiEnd; break;
    case GuestEventKind::Interrupt: r.kind = TraceRecordKind::Interrupt; r.count = e.count; break;
    // Only the guest OS model makes these (its page zeroing and copying), never a program.
    case GuestEventKind::String: throw std::logic_error("a kernel fast-string event has no trace record");
  }
  return r;
}

namespace {
std::uint64_t zigzag(std::int64_t v) { return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63); }
void put_u32(char* at, std::uint32_t v) {
  std::memcpy(at, &v, 4);
}
void put_u64(char* at, std::uint64_t v) {
  std::memcpy(at, &v, 8);
}
std::uint32_t get_u32(const char* at) {
  std::uint32_t v;
  std::memcpy(&v, at, 4);
  return v;
}
std::uint64_t get_u64(const char* at) {
  std::uint64_t v;
  std::memcpy(&v, at, 8);
  return v;
}

constexpr std::size_t kHeaderBytes = 16;
// Version 2: a block header is the compressed size, raw size, record count and checksum; the
// trailer is a zero where a block's compressed size would be, the record and block counts and
// a checksum (docs/trace-format.md).
constexpr std::size_t kBlockHeaderBytes = 16, kBlockHeaderBytesV1 = 12, kTrailerBytes = 24;
constexpr std::uint32_t kMaxBlockBytes = 64u << 20;


std::string hex32(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}
}  // namespace

std::uint32_t trace_checksum(std::uint32_t crc, const void* data, std::size_t size) {
  return crc32_of(data, size, crc);
}

// ---- writer ----

TraceWriter::TraceWriter(const std::string& path, std::size_t block_bytes, bool replace_existing)
    : path_(path),
      replace_existing_(replace_existing),
      block_bytes_(block_bytes) {
  // Exclusive, unpredictable, never through a planted link; a killed writer's leftovers go.
  remove_stale_temporaries(path);
  int fd = -1;
  temp_path_ = create_temporary(path, &fd);
  out_ = ::fdopen(fd, "wb");
  if (!out_) {
    ::close(fd);
    discard();
    throw FileError(path + ": cannot create the trace file: " + std::strerror(errno));
  }
  char header[kHeaderBytes] = {};
  std::memcpy(header, kTraceMagic, 8);
  const std::uint16_t version = kTraceVersion;  // flags and reserved stay 0
  std::memcpy(header + 8, &version, 2);
  try {
    put(header, sizeof header);
  } catch (...) {
    discard();
    throw;
  }
  trailer_checksum_ = trace_checksum(0, header, sizeof header);
}

TraceWriter::~TraceWriter() {
  if (!closed_) discard();
}

void TraceWriter::discard() noexcept {
  if (out_) std::fclose(out_);
  out_ = nullptr;
  ::unlink(temp_path_.c_str());
  closed_ = true;
}

void TraceWriter::put(const void* data, std::size_t size) {
  if (std::fwrite(data, 1, size, out_) != size)
    throw FileError(path_ + ": writing the trace failed: " + std::strerror(errno));
}

void TraceWriter::put_varint(std::uint64_t v) {
  while (v >= 0x80) {
    block_.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  block_.push_back(static_cast<std::uint8_t>(v));
}

void TraceWriter::write(const TraceRecord& r) {
  if (closed_) throw std::logic_error("TraceWriter::write after close");
  block_.push_back(static_cast<std::uint8_t>(r.kind));
  switch (r.kind) {
    case TraceRecordKind::Compute: put_varint(r.count); break;
    case TraceRecordKind::Syscall:
      // A record that says nothing of its bytes and object (a generator's) writes them as 0.
      put_varint(r.count);
      put_varint(r.bytes);
      block_.push_back(static_cast<std::uint8_t>(r.object));
      put_varint(r.call_flags);
      put_varint(r.address);
      break;
    case TraceRecordKind::Interrupt: block_.push_back(static_cast<std::uint8_t>(r.count)); break;
    case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch:
      block_.push_back(r.size);
      // Addresses as the difference from the previous memory record: small for real programs.
      put_varint(zigzag(static_cast<std::int64_t>(r.address - last_address_)));
      last_address_ = r.address;
      break;
    case TraceRecordKind::Instr:
      block_.push_back(static_cast<std::uint8_t>(r.instruction));
      put_varint(r.operand);
      put_varint(r.address);
      block_.push_back(r.size);
      break;
    case TraceRecordKind::RoiBegin: case TraceRecordKind::RoiEnd: break;
    case TraceRecordKind::Fork: put_varint(r.pid); put_varint(r.child); break;
    case TraceRecordKind::Exec: case TraceRecordKind::Exit: case TraceRecordKind::Switch: put_varint(r.pid); break;
    case TraceRecordKind::Mmap:
      put_varint(r.pid); put_varint(r.address); put_varint(r.length); put_varint(r.prot);
      put_varint(r.map_flags);
      if (r.map_flags & kMapFile) {
        put_varint(r.file);
        put_varint(r.offset);
      }
      break;
    case TraceRecordKind::Munmap: put_varint(r.pid); put_varint(r.address); put_varint(r.length); break;
    case TraceRecordKind::Mprotect:
      put_varint(r.pid); put_varint(r.address); put_varint(r.length); put_varint(r.prot);
      break;
    case TraceRecordKind::Mremap:
      put_varint(r.pid); put_varint(r.address); put_varint(r.length); put_varint(r.new_address);
      put_varint(r.new_length);
      break;
    case TraceRecordKind::Brk: put_varint(r.pid); put_varint(r.address); break;
    case TraceRecordKind::PageTableWrite:
      put_varint(r.pid); put_varint(r.address); put_varint(r.set_bits); put_varint(r.clear_bits);
      break;
  }
  ++block_records_;
  ++records_;
  if (block_.size() >= block_bytes_) flush_block();
}

void TraceWriter::flush_block() {
  if (block_records_ == 0) return;
  compressed_.resize(kBlockHeaderBytes + ZSTD_compressBound(block_.size()));
  char* frame = compressed_.data() + kBlockHeaderBytes;
  const std::size_t n =
      ZSTD_compress(frame, compressed_.size() - kBlockHeaderBytes, block_.data(), block_.size(), 3);
  if (ZSTD_isError(n)) throw FileError(path_ + ": compressing a trace block failed: " + ZSTD_getErrorName(n));
  char* head = compressed_.data();
  put_u32(head, static_cast<std::uint32_t>(n));
  put_u32(head + 4, static_cast<std::uint32_t>(block_.size()));
  put_u32(head + 8, block_records_);
  // The checksum covers the sizes, the record count and the compressed bytes.
  const std::uint32_t checksum = trace_checksum(trace_checksum(0, head, 12), frame, n);
  put_u32(head + 12, checksum);
  put(head, kBlockHeaderBytes + n);
  trailer_checksum_ = trace_checksum(trailer_checksum_, head + 12, 4);
  ++blocks_;
  block_.clear();
  block_records_ = 0;
  last_address_ = 0;  // every block decodes on its own
}

void TraceWriter::close() {
  if (closed_) return;
  try {
    flush_block();
    char trailer[kTrailerBytes] = {};  // starts with the end marker, 0
    put_u64(trailer + 4, records_);
    put_u64(trailer + 12, blocks_);
    put_u32(trailer + 20, trace_checksum(trailer_checksum_, trailer, 20));
    put(trailer, sizeof trailer);
    const bool flushed = std::fflush(out_) == 0 && ::fsync(::fileno(out_)) == 0;
    const int error = errno;
    const bool closed = std::fclose(out_) == 0;
    out_ = nullptr;
    if (!flushed || !closed)
      throw FileError(path_ + ": writing the trace failed: " + std::strerror(flushed ? errno : error));
    install_temporary(temp_path_, path_, replace_existing_);
    closed_ = true;
  } catch (...) {
    discard();
    throw;
  }
}

// ---- reader ----

TraceReader::TraceReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) throw FileError(path + ": cannot open the trace file");
  char header[kHeaderBytes];
  in_.read(header, kHeaderBytes);
  if (in_.gcount() < static_cast<std::streamsize>(kHeaderBytes))
    fail(static_cast<std::uint64_t>(in_.gcount()), "truncated header (16 bytes expected)");
  if (std::memcmp(header, kTraceMagic, 8) != 0) fail(0, "not a virtsim trace (bad magic; expected \"VSTRACE\")");
  std::memcpy(&version_, header + 8, 2);
  if (version_ < 1 || version_ > kTraceVersion)
    fail(8, "unsupported trace version " + std::to_string(version_) + " (this virtsim reads versions 1 to " +
                std::to_string(kTraceVersion) + ")");
  if (version_ == 1)
    warning_ = path +
               ": trace format version 1 has no checksums or trailer, so a file cut at a block boundary "
               "or damaged inside a block is not detected (virtsim now writes version " +
               std::to_string(kTraceVersion) + ")";
  else if (version_ < 6)
    warning_ = path + ": trace format version " + std::to_string(version_) +
               " cannot tag the capture tool's own mappings: a capture made under Valgrind counts the mmap "
               "calls of the objects Valgrind preloads as the program's (re-capture it: virtsim now writes version " +
               std::to_string(kTraceVersion) + ")";
  trailer_checksum_ = trace_checksum(0, header, kHeaderBytes);
}

void TraceReader::fail(std::uint64_t offset, const std::string& what) const {
  throw FileError(path_ + ": byte " + std::to_string(offset) + ": " + what);
}

bool TraceReader::load_block() {
  if (ended_) return false;
  const std::size_t header_bytes = version_ == 1 ? kBlockHeaderBytesV1 : kBlockHeaderBytes;
  char head[kBlockHeaderBytes];
  in_.read(head, static_cast<std::streamsize>(header_bytes));
  const auto got = in_.gcount();
  if (got == 0) {
    if (version_ != 1)
      fail(file_offset_, "the trace ends without its trailer after " + std::to_string(blocks_) + " blocks (" +
                             std::to_string(records_) +
                             " records): the file was cut or its writer did not finish");
    ended_ = true;  // version 1: the end of the file is the end of the trace
    return false;
  }
  if (version_ != 1 && got >= 4 && get_u32(head) == 0) {
    read_trailer(head, static_cast<std::size_t>(got));
    return false;
  }
  if (static_cast<std::size_t>(got) < header_bytes)
    fail(file_offset_, "truncated block header (" + std::to_string(header_bytes) + " bytes expected, " +
                           std::to_string(got) + " found)");
  const std::uint32_t compressed = get_u32(head), raw = get_u32(head + 4), count = get_u32(head + 8);
  if (raw > kMaxBlockBytes || compressed > kMaxBlockBytes)
    fail(file_offset_, "block sizes out of range (compressed " + std::to_string(compressed) + ", raw " +
                           std::to_string(raw) + ")");
  if (count == 0) fail(file_offset_, "block with no records (its header says 0; a writer never makes one)");
  const std::uint64_t data_offset = file_offset_ + header_bytes;
  // Read in steps, so that a header claiming 64 MiB in a short (or garbled) file costs no more
  // memory than the bytes really there.
  std::vector<char>& data = compressed_;
  std::uint32_t got_data = 0;
  while (got_data < compressed) {
    const std::uint32_t step = std::min<std::uint32_t>(compressed - got_data, 1u << 20);
    if (data.size() < got_data + step) data.resize(got_data + step);
    in_.read(data.data() + got_data, step);
    got_data += static_cast<std::uint32_t>(in_.gcount());
    if (in_.gcount() < step) break;
  }
  if (got_data < compressed)
    fail(data_offset, "truncated block: " + std::to_string(compressed) + " compressed bytes expected, " +
                          std::to_string(got_data) + " found");
  if (version_ != 1) {
    const std::uint32_t stored = get_u32(head + 12);
    const std::uint32_t computed = trace_checksum(trace_checksum(0, head, 12), data.data(), compressed);
    if (stored != computed)
      fail(file_offset_, "corrupted block: its checksum is " + hex32(stored) +
                             ", its sizes, record count and " + "data give " + hex32(computed));
    trailer_checksum_ = trace_checksum(trailer_checksum_, head + 12, 4);
  }
  // The writer's frames state their decompressed size: check it against the header before
  // allocating the raw block.
  const unsigned long long frame_size = ZSTD_getFrameContentSize(data.data(), compressed);
  if (frame_size == ZSTD_CONTENTSIZE_ERROR) fail(data_offset, "corrupted block: not a zstd frame");
  if (frame_size != raw)
    fail(data_offset, "corrupted block: the zstd frame holds " +
                          (frame_size == ZSTD_CONTENTSIZE_UNKNOWN ? std::string("an unstated number of")
                                                                  : std::to_string(frame_size)) +
                          " bytes, the block header says " + std::to_string(raw));
  block_.resize(raw);
  const std::size_t n = ZSTD_decompress(block_.data(), raw, data.data(), compressed);
  if (ZSTD_isError(n) || n != raw)
    fail(data_offset,
         std::string("corrupted block: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
  block_offset_ = file_offset_;
  file_offset_ = data_offset + compressed;
  pos_ = 0;
  block_left_ = count;
  last_address_ = 0;
  ++blocks_;
  return true;
}

void TraceReader::read_trailer(const char* start, std::size_t start_bytes) {
  char trailer[kTrailerBytes];
  std::memcpy(trailer, start, start_bytes);
  std::size_t got = start_bytes;
  if (got == kBlockHeaderBytes) {
    in_.read(trailer + got, static_cast<std::streamsize>(kTrailerBytes - got));
    got += static_cast<std::size_t>(in_.gcount());
  }
  if (got < kTrailerBytes)
    fail(file_offset_, "truncated trailer (" + std::to_string(kTrailerBytes) + " bytes expected, " +
                           std::to_string(got) + " found)");
  const std::uint32_t stored = get_u32(trailer + 20),
                      computed = trace_checksum(trailer_checksum_, trailer, 20);
  if (stored != computed)
    fail(file_offset_, "corrupted trailer: its checksum is " + hex32(stored) + ", the header, the blocks' " +
                           "checksums and the trailer give " + hex32(computed));
  const std::uint64_t records = get_u64(trailer + 4), blocks = get_u64(trailer + 12);
  if (records != records_ || blocks != blocks_)
    fail(file_offset_, "the trailer counts " + std::to_string(records) + " records in " +
                           std::to_string(blocks) + " blocks, the file holds " + std::to_string(records_) +
                           " in " + std::to_string(blocks_));
  char extra;
  if (in_.read(&extra, 1).gcount() != 0)
    fail(file_offset_ + kTrailerBytes, "data after the trailer (the trace ended there)");
  ended_ = true;
}

void TraceReader::past_end() const { fail(block_offset_, "record runs past the end of its block"); }

void TraceReader::malformed_number() const {
  fail(block_offset_, "malformed number in a record (more than 10 bytes)");
}

std::uint64_t TraceReader::varint_near_end() {
  std::uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    const std::uint8_t b = byte();
    v |= std::uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return v;
  }
  malformed_number();
}

std::optional<TraceRecord> TraceReader::next() {
  while (block_left_ == 0)
    if (!load_block()) return std::nullopt;
  TraceRecord r;
  decode(byte(), r);
  end_record();
  return r;
}

bool TraceReader::decode_plain(std::uint8_t tag, GuestEvent& event) {
  switch (static_cast<TraceRecordKind>(tag)) {
    case TraceRecordKind::Compute:
      event = GuestEvent::compute(static_cast<std::uint32_t>(varint()));
      after_fetch_ = false;
      return true;
    case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch: {
      const auto kind = static_cast<TraceRecordKind>(tag);
      std::uint8_t size = 0;
      const Addr address = memory_operand(size);
      event = GuestEvent::memory(kind == TraceRecordKind::Load    ? AccessKind::Load
                                 : kind == TraceRecordKind::Store ? AccessKind::Store
                                                                  : AccessKind::Fetch,
                                 address, size);
      // The data accesses after a fetch are that instruction's (lackey writes them so).
      if (kind == TraceRecordKind::Fetch) after_fetch_ = true;
      else event.continues_instruction = after_fetch_;
      return true;
    }
    default:
      after_fetch_ = false;
      return false;
  }
}

int TraceReader::next_event(GuestEvent& event, TraceRecord& other) {
  while (block_left_ == 0)
    if (!load_block()) return -1;
  // The records that stand for guest events decode straight into one; the rest as a record.
  const std::uint8_t tag = byte();
  if (!decode_plain(tag, event)) {
    switch (static_cast<TraceRecordKind>(tag)) {
      case TraceRecordKind::RoiBegin: event = GuestEvent::roi_begin(); break;
      case TraceRecordKind::RoiEnd: event = GuestEvent::roi_end(); break;
      default: {
        decode(tag, other);
        end_record();
        if (auto e = other.guest_event()) {  // an instruction record
          event = *e;
          return 1;
        }
        return 0;
      }
    }
  }
  end_record();
  return 1;
}

EventBatch TraceReader::next_plain_events(GuestEvent* out, std::size_t max, std::uint64_t budget) {
  // The decoder's state in locals: an event's one-byte fields may alias anything, so members
  // would be read again after every store into `out`.
  const std::uint8_t* const data = block_.data();
  const std::size_t size = block_.size();
  std::size_t pos = pos_;
  Addr last_address = last_address_;
  bool after_fetch = after_fetch_;
  std::uint64_t instructions_total = 0, computes = 0;
  GuestEvent* event = out;
  GuestEvent* const end = out + std::min<std::size_t>(max, block_left_);
  // A plain record is at most 12 bytes (a tag, a size and the longest varint): one that starts
  // before `unchecked_end` needs no read checked against the block's end. The rest of the
  // block goes through the checked decoder below.
  constexpr std::size_t kLongestPlainRecord = 12;
  const std::size_t unchecked_end = size < kLongestPlainRecord ? 0 : size - kLongestPlainRecord + 1;
  constexpr auto kLoad = static_cast<std::uint8_t>(TraceRecordKind::Load);
  constexpr auto kFetch = static_cast<std::uint8_t>(TraceRecordKind::Fetch);
  while (event != end && pos < unchecked_end) {
    const std::uint8_t tag = data[pos];
    std::uint64_t instructions;
    if (static_cast<std::uint8_t>(tag - kLoad) <= kFetch - kLoad) {
      // Load, store, fetch: AccessKind numbers them in the same order. The checks and their
      // order are memory_operand()'s.
      const std::uint8_t bytes = data[pos + 1];
      pos += 2;
      last_address += static_cast<Addr>(unzigzag(varint_at(data, pos)));
      if (__builtin_expect(bytes == 0 || bytes > 64, 0)) bad_memory_size(bytes);
      *event = GuestEvent::memory(static_cast<AccessKind>(tag - kLoad), last_address, bytes);
      // The data accesses after a fetch are that instruction's (lackey writes them so).
      const bool continues = tag != kFetch && after_fetch;
      event->continues_instruction = continues;
      after_fetch |= tag == kFetch;
      instructions = !continues;
    } else if (tag == static_cast<std::uint8_t>(TraceRecordKind::Compute)) {
      ++pos;
      *event = GuestEvent::compute(static_cast<std::uint32_t>(varint_at(data, pos)));
      after_fetch = false;
      instructions = event->count;
      ++computes;
    } else {
      break;  // next_event() reads it
    }
    ++event;
    // ends_batch(): a plain event ends a batch only by its instructions.
    instructions_total += instructions;
    if (instructions_total >= budget) break;
  }
  EventBatch batch;
  batch.events = static_cast<std::size_t>(event - out);
  batch.instructions = instructions_total;
  batch.references = batch.events - computes;
  pos_ = pos;
  last_address_ = last_address;
  after_fetch_ = after_fetch;
  block_left_ -= static_cast<std::uint32_t>(batch.events);
  records_ += batch.events;
  memory_records_ += batch.references;
  if (block_left_ == 0 && pos_ != block_.size()) fail(block_offset_, "block has bytes after its last record");
  if (instructions_total >= budget) return batch;
  // The block's last bytes, each read checked.
  while (batch.events < max && block_left_ > 0 && pos_ < block_.size()) {
    GuestEvent& e = out[batch.events];
    const std::uint8_t tag = block_[pos_];
    if (!is_plain(tag)) break;  // next_event() reads it
    ++pos_;
    decode_plain(tag, e);
    end_record();
    if (batch.add(e, budget)) break;
  }
  return batch;
}


void TraceReader::decode(std::uint8_t tag, TraceRecord& r) {
  r = TraceRecord{};
  r.kind = static_cast<TraceRecordKind>(tag);
  switch (r.kind) {
    case TraceRecordKind::Compute: r.count = varint(); break;
    case TraceRecordKind::Syscall:
      r.count = varint();
      if (version_ >= 5) decode_syscall_effect(r);
      break;
    case TraceRecordKind::Interrupt: r.count = byte(); break;
    case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch:
      r.address = memory_operand(r.size);
      break;
    case TraceRecordKind::Instr: {
      const std::uint8_t i = byte();
      if (i >= static_cast<std::uint8_t>(Instruction::Count))
        fail(block_offset_, "unknown instruction " + std::to_string(i));
      r.instruction = static_cast<Instruction>(i);
      r.operand = static_cast<std::uint32_t>(varint());
      r.address = varint();
      r.size = byte();
      break;
    }
    case TraceRecordKind::RoiBegin: case TraceRecordKind::RoiEnd: break;
    case TraceRecordKind::Fork:
      r.pid = static_cast<std::uint32_t>(varint());
      r.child = static_cast<std::uint32_t>(varint());
      break;
    case TraceRecordKind::Exec: case TraceRecordKind::Exit: case TraceRecordKind::Switch:
      r.pid = static_cast<std::uint32_t>(varint());
      break;
    case TraceRecordKind::Mmap:
      r.pid = static_cast<std::uint32_t>(varint());
      r.address = varint();
      r.length = varint();
      r.prot = static_cast<std::uint32_t>(varint());
      if (version_ >= 3) decode_mmap_backing(r);
      break;
    case TraceRecordKind::Mprotect:
      if (version_ < 3) unknown_record(tag);
      r.pid = static_cast<std::uint32_t>(varint());
      r.address = varint();
      r.length = varint();
      r.prot = static_cast<std::uint32_t>(varint());
      break;
    case TraceRecordKind::Mremap:
      if (version_ < 3) unknown_record(tag);
      r.pid = static_cast<std::uint32_t>(varint());
      r.address = varint();
      r.length = varint();
      r.new_address = varint();
      r.new_length = varint();
      break;
    case TraceRecordKind::Munmap:
      r.pid = static_cast<std::uint32_t>(varint());
      r.address = varint();
      r.length = varint();
      break;
    case TraceRecordKind::Brk:
      r.pid = static_cast<std::uint32_t>(varint());
      r.address = varint();
      break;
    case TraceRecordKind::PageTableWrite:
      if (version_ < 4) unknown_record(tag);
      r.pid = static_cast<std::uint32_t>(varint());
      r.address = varint();
      r.set_bits = varint();
      r.clear_bits = varint();
      break;
    default: unknown_record(tag);
  }
}

void TraceReader::unknown_record(std::uint8_t tag) const {
  fail(block_offset_, "unknown record type " + std::to_string(tag) + " (record " + std::to_string(records_ + 1) +
                          ", trace format version " + std::to_string(version_) + ")");
}

void TraceReader::decode_mmap_backing(TraceRecord& r) {
  const std::uint64_t flags = varint();
  const std::uint64_t known = version_ >= 6 ? kMapFile | kMapShared | kMapTool : kMapFile | kMapShared;
  if (flags & ~known)
    fail(block_offset_, "mmap record with unknown flags " + to_hex(flags) + " (record " + std::to_string(records_ + 1) +
                            (version_ >= 6 ? "; known: 1 file, 2 shared, 4 tool)" : "; known: 1 file, 2 shared)"));
  r.map_flags = static_cast<std::uint32_t>(flags);
  if (!(flags & kMapFile)) return;
  const std::uint64_t file = varint();
  if (file == 0 || file > UINT32_MAX)
    fail(block_offset_, "mmap record of file " + std::to_string(file) + " (record " + std::to_string(records_ + 1) +
                            "; file ids are 1 to 4294967295)");
  r.file = static_cast<std::uint32_t>(file);
  r.offset = varint();
  if (r.offset % 4096)
    fail(block_offset_, "mmap record with file offset " + std::to_string(r.offset) + " (record " +
                            std::to_string(records_ + 1) + "; a multiple of 4096 expected)");
}

void TraceReader::decode_syscall_effect(TraceRecord& r) {
  r.described = true;
  r.bytes = varint();
  const std::uint8_t object = byte();
  if (object >= kSyscallObjects)
    fail(block_offset_, "syscall record with object " + std::to_string(object) + " (record " +
                            std::to_string(records_ + 1) + "; known: 0 none, 1 file, 2 pipe, 3 socket, 4 other)");
  r.object = static_cast<SyscallObject>(object);
  const std::uint64_t flags = varint();
  if (flags & ~std::uint64_t{kSyscallMaySleep})
    fail(block_offset_, "syscall record with unknown flags " + to_hex(flags) + " (record " +
                            std::to_string(records_ + 1) + "; known: 1 may sleep)");
  r.call_flags = static_cast<std::uint32_t>(flags);
  r.address = varint();
}

void TraceReader::bad_memory_size(std::uint8_t size) const {
  fail(block_offset_, "memory record with size " + std::to_string(size));
}

void TraceReader::end_record() {
  --block_left_;
  ++records_;
  if (block_left_ == 0 && pos_ != block_.size()) fail(block_offset_, "block has bytes after its last record");
}

}  // namespace virtsim
