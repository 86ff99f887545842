#include "virtsim/workloads/trace.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "virtsim/common/error.h"

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
  }
  return r;
}

namespace {
std::uint64_t zigzag(std::int64_t v) { return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63); }
void put_u32(std::ofstream& out, std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); }
}  // namespace

// ---- writer ----

TraceWriter::TraceWriter(const std::string& path, std::size_t block_bytes)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc), block_bytes_(block_bytes) {
  if (!out_) throw FileError(path + ": cannot create the trace file");
  out_.write(kTraceMagic, 8);
  const std::uint16_t version = kTraceVersion, flags = 0;
  const std::uint32_t reserved = 0;
  out_.write(reinterpret_cast<const char*>(&version), 2);
  out_.write(reinterpret_cast<const char*>(&flags), 2);
  out_.write(reinterpret_cast<const char*>(&reserved), 4);
}

TraceWriter::~TraceWriter() {
  try {
    close();
  } catch (...) {  // a destructor must not throw; close() explicitly to see errors
  }
}

void TraceWriter::put_varint(std::uint64_t v) {
  while (v >= 0x80) {
    block_.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  block_.push_back(static_cast<std::uint8_t>(v));
}

void TraceWriter::write(const TraceRecord& r) {
  block_.push_back(static_cast<std::uint8_t>(r.kind));
  switch (r.kind) {
    case TraceRecordKind::Compute: case TraceRecordKind::Syscall: put_varint(r.count); break;
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
      break;
    case TraceRecordKind::Munmap: put_varint(r.pid); put_varint(r.address); put_varint(r.length); break;
    case TraceRecordKind::Brk: put_varint(r.pid); put_varint(r.address); break;
  }
  ++block_records_;
  ++records_;
  if (block_.size() >= block_bytes_) flush_block();
}

void TraceWriter::flush_block() {
  if (block_records_ == 0) return;
  std::vector<char> compressed(ZSTD_compressBound(block_.size()));
  const std::size_t n = ZSTD_compress(compressed.data(), compressed.size(), block_.data(), block_.size(), 3);
  if (ZSTD_isError(n)) throw FileError(path_ + ": compressing a trace block failed: " + ZSTD_getErrorName(n));
  put_u32(out_, static_cast<std::uint32_t>(n));
  put_u32(out_, static_cast<std::uint32_t>(block_.size()));
  put_u32(out_, block_records_);
  out_.write(compressed.data(), static_cast<std::streamsize>(n));
  if (!out_) throw FileError(path_ + ": writing the trace failed");
  block_.clear();
  block_records_ = 0;
  last_address_ = 0;  // every block decodes on its own
}

void TraceWriter::close() {
  if (closed_) return;
  flush_block();
  out_.close();
  closed_ = true;
  if (!out_) throw FileError(path_ + ": closing the trace failed");
}

// ---- reader ----

TraceReader::TraceReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) throw FileError(path + ": cannot open the trace file");
  char header[16];
  in_.read(header, 16);
  if (in_.gcount() < 16) fail(static_cast<std::uint64_t>(in_.gcount()), "truncated header (16 bytes expected)");
  if (std::memcmp(header, kTraceMagic, 8) != 0) fail(0, "not a virtsim trace (bad magic; expected \"VSTRACE\")");
  std::memcpy(&version_, header + 8, 2);
  if (version_ != kTraceVersion)
    fail(8, "unsupported trace version " + std::to_string(version_) + " (this virtsim reads version " +
                std::to_string(kTraceVersion) + ")");
}

void TraceReader::fail(std::uint64_t offset, const std::string& what) const {
  throw FileError(path_ + ": byte " + std::to_string(offset) + ": " + what);
}

bool TraceReader::load_block() {
  std::uint32_t head[3];
  in_.read(reinterpret_cast<char*>(head), 12);
  const auto got = in_.gcount();
  if (got == 0) return false;  // clean end of file
  if (got < 12) fail(file_offset_, "truncated block header (12 bytes expected, " + std::to_string(got) + " found)");
  const std::uint32_t compressed = head[0], raw = head[1], count = head[2];
  if (raw > (64u << 20) || compressed > (64u << 20))
    fail(file_offset_, "block sizes out of range (compressed " + std::to_string(compressed) + ", raw " +
                           std::to_string(raw) + ")");
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
    fail(file_offset_ + 12, "truncated block: " + std::to_string(compressed) + " compressed bytes expected, " +
                                std::to_string(got_data) + " found");
  // The writer's frames state their decompressed size: check it against the header before
  // allocating the raw block.
  const unsigned long long frame_size = ZSTD_getFrameContentSize(data.data(), compressed);
  if (frame_size == ZSTD_CONTENTSIZE_ERROR)
    fail(file_offset_ + 12, "corrupted block: not a zstd frame");
  if (frame_size != raw)
    fail(file_offset_ + 12, "corrupted block: the zstd frame holds " +
                                (frame_size == ZSTD_CONTENTSIZE_UNKNOWN ? std::string("an unstated number of")
                                                                        : std::to_string(frame_size)) +
                                " bytes, the block header says " + std::to_string(raw));
  block_.resize(raw);
  const std::size_t n = ZSTD_decompress(block_.data(), raw, data.data(), compressed);
  if (ZSTD_isError(n) || n != raw)
    fail(file_offset_ + 12, std::string("corrupted block: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
  block_offset_ = file_offset_;
  file_offset_ += 12 + compressed;
  pos_ = 0;
  block_left_ = count;
  last_address_ = 0;
  ++blocks_;
  return true;
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
    case TraceRecordKind::Compute: event = GuestEvent::compute(static_cast<std::uint32_t>(varint())); return true;
    case TraceRecordKind::Load: case TraceRecordKind::Store: case TraceRecordKind::Fetch: {
      const auto kind = static_cast<TraceRecordKind>(tag);
      std::uint8_t size = 0;
      const Addr address = memory_operand(size);
      event = GuestEvent::memory(kind == TraceRecordKind::Load    ? AccessKind::Load
                                 : kind == TraceRecordKind::Store ? AccessKind::Store
                                                                  : AccessKind::Fetch,
                                 address, size);
      return true;
    }
    default: return false;
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

std::size_t TraceReader::next_plain_events(GuestEvent* out, std::size_t max, std::uint64_t& budget,
                                           bool& budget_used) {
  budget_used = false;
  std::size_t n = 0;
  while (n < max && block_left_ > 0 && pos_ < block_.size()) {
    GuestEvent& e = out[n];
    const std::uint8_t tag = block_[pos_];
    if (!is_plain(tag)) break;  // next_event() reads it
    ++pos_;
    decode_plain(tag, e);
    end_record();
    ++n;
    if (ends_batch(e, budget)) {
      budget_used = true;
      break;
    }
  }
  return n;
}

void TraceReader::decode(std::uint8_t tag, TraceRecord& r) {
  r = TraceRecord{};
  r.kind = static_cast<TraceRecordKind>(tag);
  switch (r.kind) {
    case TraceRecordKind::Compute: case TraceRecordKind::Syscall: r.count = varint(); break;
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
    default:
      fail(block_offset_, "unknown record type " + std::to_string(tag) + " (record " + std::to_string(records_ + 1) + ")");
  }
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
