#include "virtsim/workloads/trace.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "virtsim/common/error.h"
#include "virtsim/workloads/guest_os.h"
#include "virtsim/workloads/synthetic.h"

namespace virtsim {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("virtsim_trace_test_" + name)).string();
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}
void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<TraceRecord> every_kind() {
  std::vector<TraceRecord> v;
  auto add = [&](TraceRecordKind k) {
    TraceRecord r;
    r.kind = k;
    v.push_back(r);
    return &v.back();
  };
  add(TraceRecordKind::RoiBegin);
  add(TraceRecordKind::Compute)->count = 123456789;
  auto* load = add(TraceRecordKind::Load);
  load->address = 0x7ffff7a00010;
  load->size = 8;
  auto* store = add(TraceRecordKind::Store);
  store->address = 0x401000;  // far below the previous address: a negative delta
  store->size = 4;
  auto* fetch = add(TraceRecordKind::Fetch);
  fetch->address = 0xffffffff81000000;
  fetch->size = 16;
  auto* instr = add(TraceRecordKind::Instr);
  instr->instruction = Instruction::Out;
  instr->operand = 0x3f8;
  instr->address = 0x41;
  instr->size = 1;
  add(TraceRecordKind::Syscall)->count = 231;  // a call that moves nothing: bytes 0, no object
  auto* read = add(TraceRecordKind::Syscall);
  read->count = 0;
  read->bytes = 4096;
  read->object = SyscallObject::Pipe;
  read->address = 0x7ffc0000f000;
  auto* wait = add(TraceRecordKind::Syscall);
  wait->count = 232;
  wait->object = SyscallObject::Other;
  wait->call_flags = kSyscallMaySleep;
  add(TraceRecordKind::Interrupt)->count = 0xec;
  auto* fork = add(TraceRecordKind::Fork);
  fork->pid = 100;
  fork->child = 101;
  add(TraceRecordKind::Exec)->pid = 101;
  auto* mmap = add(TraceRecordKind::Mmap);
  mmap->pid = 101;
  mmap->address = 0x7f0000000000;
  mmap->length = 1 << 20;
  mmap->prot = 3;
  auto* file = add(TraceRecordKind::Mmap);  // a file mapped shared, from a page in
  file->pid = 101;
  file->address = 0x7f0000200000;
  file->length = 3 * 4096;
  file->prot = 1;
  file->map_flags = kMapFile | kMapShared;
  file->file = 3;
  file->offset = 0x2000;
  auto* mprotect = add(TraceRecordKind::Mprotect);
  mprotect->pid = 101;
  mprotect->address = 0x7f0000001000;
  mprotect->length = 8192;
  mprotect->prot = 1;
  auto* mremap = add(TraceRecordKind::Mremap);
  mremap->pid = 101;
  mremap->address = 0x7f0000000000;
  mremap->length = 8192;
  mremap->new_address = 0x7f1000000000;
  mremap->new_length = 1 << 16;
  auto* munmap = add(TraceRecordKind::Munmap);
  munmap->pid = 101;
  munmap->address = 0x7f0000000000;
  munmap->length = 4096;
  auto* brk = add(TraceRecordKind::Brk);
  brk->pid = 101;
  brk->address = 0x602000;
  auto* pte_write = add(TraceRecordKind::PageTableWrite);
  pte_write->pid = 101;
  pte_write->address = 0x7f0000003000;
  pte_write->set_bits = 0x40;
  pte_write->clear_bits = 0x20;
  add(TraceRecordKind::Switch)->pid = 100;
  add(TraceRecordKind::Exit)->pid = 101;
  add(TraceRecordKind::RoiEnd);
  return v;
}

bool same(const TraceRecord& a, const TraceRecord& b) {
  return a.kind == b.kind && a.count == b.count && a.address == b.address && a.size == b.size &&
         a.instruction == b.instruction && a.operand == b.operand && a.pid == b.pid && a.child == b.child &&
         a.length == b.length && a.prot == b.prot && a.map_flags == b.map_flags && a.file == b.file &&
         a.offset == b.offset && a.new_address == b.new_address && a.new_length == b.new_length &&
         a.set_bits == b.set_bits && a.clear_bits == b.clear_bits && a.bytes == b.bytes && a.object == b.object &&
         a.call_flags == b.call_flags;
}

TEST(Trace, EveryRecordKindRoundTrips) {
  const std::string path = temp_path("kinds.vst");
  const auto records = every_kind();
  {
    TraceWriter w(path, 32);  // tiny blocks: records cross many block boundaries
    for (int pass = 0; pass < 50; ++pass)
      for (const auto& r : records) w.write(r);
    w.close();
  }
  TraceReader reader(path);
  EXPECT_EQ(reader.version(), kTraceVersion);
  std::size_t i = 0;
  while (auto r = reader.next()) {
    ASSERT_TRUE(same(*r, records[i % records.size()])) << "record " << i << " (" << to_string(r->kind) << ")";
    // Every version 5 syscall record says what it moved (0 bytes, no object: nothing).
    EXPECT_EQ(r->described, r->kind == TraceRecordKind::Syscall) << "record " << i;
    ++i;
  }
  EXPECT_EQ(i, 50 * records.size());
  EXPECT_GT(reader.blocks_read(), 10u);
  std::remove(path.c_str());
}

// next_event() decodes guest-event records straight into events: the same events the records
// stand for, and every other record whole, in file order.
TEST(Trace, EventDecodingGivesWhatTheRecordsStandFor) {
  const std::string path = temp_path("events.vst");
  const auto records = every_kind();
  {
    TraceWriter w(path, 32);
    for (int pass = 0; pass < 20; ++pass)
      for (const auto& r : records) w.write(r);
    w.close();
  }
  TraceReader reader(path);
  std::size_t i = 0, events = 0;
  GuestEvent e;
  TraceRecord other;
  for (int got; (got = reader.next_event(e, other)) >= 0; ++i) {
    const TraceRecord& expected = records[i % records.size()];
    if (const auto want = expected.guest_event()) {
      ASSERT_EQ(got, 1) << "record " << i << " (" << to_string(expected.kind) << ")";
      EXPECT_TRUE(e.kind == want->kind && e.access == want->access && e.size == want->size && e.count == want->count &&
                  e.address == want->address && e.instruction == want->instruction)
          << "record " << i << " (" << to_string(expected.kind) << ")";
      ++events;
    } else {
      ASSERT_EQ(got, 0) << "record " << i;
      EXPECT_TRUE(same(other, expected)) << "record " << i << " (" << to_string(expected.kind) << ")";
    }
  }
  EXPECT_EQ(i, 20 * records.size());
  EXPECT_GT(events, 0u);
  EXPECT_LT(events, i);
  std::remove(path.c_str());
}

// A trace that records fetches (lackey's) writes an instruction's data accesses after its
// fetch: those accesses continue that instruction, so a vCPU counts one instruction per fetch.
// Without a fetch before it, an access stands for an instruction of its own.
TEST(Trace, DataAccessesAfterAFetchContinueItsInstruction) {
  const std::string path = temp_path("fetches.vst");
  const auto memory = [](TraceRecordKind kind, Addr address) {
    TraceRecord r;
    r.kind = kind;
    r.address = address;
    r.size = 8;
    return r;
  };
  TraceRecord compute;
  compute.kind = TraceRecordKind::Compute;
  compute.count = 3;
  const std::vector<TraceRecord> records = {
      memory(TraceRecordKind::Load, 0x1000),  memory(TraceRecordKind::Fetch, 0x400000),
      memory(TraceRecordKind::Load, 0x2000),  memory(TraceRecordKind::Store, 0x2008),
      memory(TraceRecordKind::Fetch, 0x400004), compute, memory(TraceRecordKind::Store, 0x3000)};
  const std::vector<bool> continues = {false, false, true, true, false, false, false};
  {
    TraceWriter w(path, 4);
    for (const auto& r : records) w.write(r);
    w.close();
  }
  TraceReader reader(path);
  GuestEvent e;
  TraceRecord other;
  std::size_t i = 0;
  for (int got; (got = reader.next_event(e, other)) >= 0; ++i) {
    ASSERT_EQ(got, 1);
    EXPECT_EQ(e.continues_instruction, continues[i]) << "record " << i;
    EXPECT_EQ(tick_instructions(e), e.kind == GuestEventKind::Compute ? 3u : continues[i] ? 0u : 1u) << "record " << i;
  }
  EXPECT_EQ(i, records.size());
  std::remove(path.c_str());
}

TEST(Trace, SyntheticWorkloadStreamsThroughATraceUnchanged) {
  SyntheticConfig config;
  config.accesses = 20000;
  config.warmup_accesses = 100;
  const std::string path = temp_path("synthetic.vst");
  {
    SyntheticWorkload generator(config, 5);
    TraceWriter w(path);
    while (auto e = generator.next()) w.write(TraceRecord::from(*e));
    w.close();
  }
  SyntheticWorkload again(config, 5);
  TraceReader trace(path);
  std::size_t n = 0, references = 0;
  while (auto expected = again.next()) {
    const auto record = trace.next();
    ASSERT_TRUE(record.has_value()) << n;
    const auto got = record->guest_event();
    ASSERT_TRUE(got.has_value()) << n;
    references += got->kind == GuestEventKind::Memory;
    ASSERT_EQ(got->kind, expected->kind) << n;
    ASSERT_EQ(got->address, expected->address) << n;
    ASSERT_EQ(got->count, expected->count) << n;
    ASSERT_EQ(got->access, expected->access) << n;
    ++n;
  }
  EXPECT_FALSE(trace.next().has_value());
  EXPECT_EQ(references, 20100u);
  // Compression: far fewer bytes than the 20 100 accesses' raw addresses.
  EXPECT_LT(std::filesystem::file_size(path), 20100u * 8);
  std::remove(path.c_str());
}

void expect_error(const std::string& path, const std::string& fragment) {
  try {
    TraceReader reader(path);
    while (reader.next()) {
    }
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Trace, BadInputNamesTheFileAndTheByteOffset) {
  const std::string good = temp_path("good.vst"), bad = temp_path("bad.vst");
  {
    TraceWriter w(good);
    for (const auto& r : every_kind()) w.write(r);
    w.close();
  }
  const auto bytes = read_all(good);
  // Not a trace at all.
  write_all(bad, std::vector<char>{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!', '!', '!', '!'});
  expect_error(bad, "byte 0: not a virtsim trace (bad magic");
  // A future version.
  auto v = bytes;
  v[8] = 9;
  write_all(bad, v);
  expect_error(bad, "byte 8: unsupported trace version 9");
  // Shorter than the header.
  write_all(bad, std::vector<char>(bytes.begin(), bytes.begin() + 10));
  expect_error(bad, "byte 10: truncated header");
  // A truncated block header and a truncated block (the 24-byte trailer and 3 bytes more cut).
  write_all(bad, std::vector<char>(bytes.begin(), bytes.begin() + 20));
  expect_error(bad, "byte 16: truncated block header (16 bytes expected, 4 found)");
  write_all(bad, std::vector<char>(bytes.begin(), bytes.end() - 27));
  expect_error(bad, "byte 32: truncated block");
  // Corrupted compressed data: the block's checksum says so.
  v = bytes;
  for (std::size_t i = 34; i < v.size() - 24; ++i) v[i] = static_cast<char>(v[i] ^ 0x5a);
  write_all(bad, v);
  expect_error(bad, "byte 16: corrupted block: its checksum is");
  // A record type nobody defined: a block written by hand.
  {
    TraceWriter w(bad);
    TraceRecord r;
    r.kind = static_cast<TraceRecordKind>(0x7f);
    w.write(r);
    w.close();
  }
  expect_error(bad, "byte 16: unknown record type 127");
  std::remove(good.c_str());
  std::remove(bad.c_str());
  EXPECT_THROW(TraceReader(temp_path("does-not-exist.vst")), FileError);
}

// A version 1 header and one hand-made block: the 12-byte block header as given, then `payload`.
std::vector<char> one_block(std::uint32_t compressed, std::uint32_t raw, std::uint32_t count,
                            const std::vector<char>& payload) {
  std::vector<char> v(kTraceMagic, kTraceMagic + 8);
  v.resize(16, 0);
  v[8] = 1;  // version 1, flags and reserved 0
  for (const std::uint32_t field : {compressed, raw, count})
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<char>(field >> (8 * i)));
  v.insert(v.end(), payload.begin(), payload.end());
  return v;
}

std::vector<char> zstd_frame(const std::vector<char>& raw) {
  std::vector<char> out(ZSTD_compressBound(raw.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1));
  return out;
}

// Found while fuzzing (scripts/fuzz-trace): a header claiming a 64 MiB block made the reader
// allocate 64 MiB for the compressed bytes and 64 MiB more for the raw ones, whatever the
// file held; a 28-byte input cost 128 MiB. Now the data is read in steps and the zstd frame's
// stated size is checked against the header before the raw block is allocated.
TEST(Trace, BlockHeadersClaimingMoreThanTheFileHoldsFailCheaply) {
  const std::string bad = temp_path("claims.vst");
  write_all(bad, one_block(64u << 20, 64u << 20, 1, {'x', 'y'}));
  expect_error(bad, "byte 28: truncated block: 67108864 compressed bytes expected, 2 found");
  const auto frame = zstd_frame({0x07});  // one roi_end record
  write_all(bad, one_block(static_cast<std::uint32_t>(frame.size()), 64u << 20, 1, frame));
  expect_error(bad, "byte 28: corrupted block: the zstd frame holds 1 bytes, the block header says 67108864");
  write_all(bad, one_block(4, 1, 1, {'n', 'o', 'p', 'e'}));
  expect_error(bad, "byte 28: corrupted block: not a zstd frame");
  write_all(bad, one_block(static_cast<std::uint32_t>(frame.size()), 1, 1, frame));
  TraceReader reader(bad);  // the same frame with the right sizes is a good trace
  EXPECT_EQ(reader.next()->kind, TraceRecordKind::RoiEnd);
  EXPECT_FALSE(reader.next());
  std::remove(bad.c_str());
}

TEST(Trace, BlockSizesOutOfRangeAndRecordsPastTheirBlock) {
  const std::string bad = temp_path("range.vst");
  write_all(bad, one_block(1, (64u << 20) + 1, 1, {}));
  expect_error(bad, "byte 16: block sizes out of range");
  const auto load = zstd_frame({0x02, 8});  // a load missing its address
  write_all(bad, one_block(static_cast<std::uint32_t>(load.size()), 2, 1, load));
  expect_error(bad, "byte 16: record runs past the end of its block");
  const auto extra = zstd_frame({0x06, 0x07});  // two records, the header says one
  write_all(bad, one_block(static_cast<std::uint32_t>(extra.size()), 2, 1, extra));
  expect_error(bad, "byte 16: block has bytes after its last record");
  const auto instr = zstd_frame({0x05, static_cast<char>(0xff), 0, 0, 1});
  write_all(bad, one_block(static_cast<std::uint32_t>(instr.size()), 5, 1, instr));
  expect_error(bad, "byte 16: unknown instruction 255");
  const auto number = zstd_frame(std::vector<char>{0x01, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0});
  write_all(bad, one_block(static_cast<std::uint32_t>(number.size()), 12, 1, number));
  expect_error(bad, "byte 16: malformed number");
  const auto size = zstd_frame({0x03, 65, 0});
  write_all(bad, one_block(static_cast<std::uint32_t>(size.size()), 3, 1, size));
  expect_error(bad, "byte 16: memory record with size 65");
  std::remove(bad.c_str());
}

TEST(Trace, RecordOffsetIsTheBlockOfTheLastRecord) {
  const std::string path = temp_path("offsets.vst");
  {
    TraceWriter w(path, 1);  // one record per block
    for (int i = 0; i < 3; ++i) w.write(every_kind()[1]);
    w.close();
  }
  TraceReader reader(path);
  std::vector<std::uint64_t> offsets;
  while (reader.next()) offsets.push_back(reader.record_offset());
  ASSERT_EQ(offsets.size(), 3u);
  EXPECT_EQ(offsets[0], 16u);
  const auto block_bytes = offsets[1] - offsets[0];  // equal blocks: the same record each
  EXPECT_GT(block_bytes, 12u);
  EXPECT_EQ(offsets[2], offsets[1] + block_bytes);
  std::remove(path.c_str());
}

std::uint32_t get_u32(const std::vector<char>& v, std::size_t at) {
  std::uint32_t x;
  std::memcpy(&x, v.data() + at, 4);
  return x;
}
void set_u32(std::vector<char>& v, std::size_t at, std::uint32_t x) {
  std::memcpy(v.data() + at, &x, 4);
}
void set_u64(std::vector<char>& v, std::size_t at, std::uint64_t x) {
  std::memcpy(v.data() + at, &x, 8);
}

// A version 2 trace of `blocks` one-record blocks, and the offsets of its block headers and trailer.
std::vector<char> small_trace(const std::string& path, int blocks, std::vector<std::size_t>& offsets) {
  {
    TraceWriter w(path, 1);
    for (int i = 0; i < blocks; ++i) w.write(every_kind()[2]);
    w.close();
  }
  const auto bytes = read_all(path);
  offsets.clear();
  for (std::size_t at = 16; at < bytes.size(); at += 16 + get_u32(bytes, at)) {
    offsets.push_back(at);
    if (get_u32(bytes, at) == 0) break;  // the trailer
  }
  return bytes;
}

// Recomputes the checksums of a version 2 trace edited by hand, as a writer would have.
void fix_checksums(std::vector<char>& v, const std::vector<std::size_t>& offsets) {
  std::uint32_t trailer = trace_checksum(0, v.data(), 16);
  for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
    const std::size_t at = offsets[i];
    set_u32(v, at + 12,
            trace_checksum(trace_checksum(0, v.data() + at, 12), v.data() + at + 16, get_u32(v, at)));
    trailer = trace_checksum(trailer, v.data() + at + 12, 4);
  }
  set_u32(v, offsets.back() + 20, trace_checksum(trailer, v.data() + offsets.back(), 20));
}

TEST(Trace, ChecksumIsZlibsCrc32) {
  EXPECT_EQ(trace_checksum(0, "123456789", 9), 0xcbf43926u);  // the CRC-32 check value
  EXPECT_EQ(trace_checksum(trace_checksum(0, "12345", 5), "6789", 4), 0xcbf43926u);
}

// Every killed writer used to leave a trace cut at a block boundary that read as complete.
TEST(Trace, ATraceCutAtABlockBoundaryIsAnError) {
  const std::string path = temp_path("cut.vst"), bad = temp_path("cut-bad.vst");
  std::vector<std::size_t> offsets;
  const auto bytes = small_trace(path, 3, offsets);
  ASSERT_EQ(offsets.size(), 4u);  // three blocks and the trailer
  EXPECT_EQ(bytes.size(), offsets.back() + 24);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    write_all(bad, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(offsets[i])));
    expect_error(bad, "byte " + std::to_string(offsets[i]) + ": the trace ends without its trailer after " +
                          std::to_string(i) + " blocks");
  }
  write_all(bad, std::vector<char>(bytes.begin(), bytes.end() - 1));
  expect_error(
      bad, "byte " + std::to_string(offsets.back()) + ": truncated trailer (24 bytes expected, 23 found)");
  write_all(
      bad, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(offsets.back()) + 6));
  expect_error(bad, "truncated trailer (24 bytes expected, 6 found)");
  auto longer = bytes;
  longer.push_back('x');
  write_all(bad, longer);
  expect_error(bad, "byte " + std::to_string(bytes.size()) + ": data after the trailer");
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

// Any one flipped bit anywhere in the file is an error, never a spurious record.
TEST(Trace, EveryFlippedBitIsAnError) {
  const std::string path = temp_path("flip.vst"), bad = temp_path("flip-bad.vst");
  std::vector<std::size_t> offsets;
  const auto bytes = small_trace(path, 3, offsets);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 3) {
      auto v = bytes;
      v[i] = static_cast<char>(v[i] ^ (1 << bit));
      write_all(bad, v);
      EXPECT_THROW(
          {
            TraceReader reader(bad);
            while (reader.next()) {
            }
          },
          FileError)
          << "byte " << i << " bit " << bit;
    }
  }
  // A flip inside a block's data names that block.
  auto v = bytes;
  v[offsets[1] + 20] ^= 0x10;
  write_all(bad, v);
  expect_error(bad, "byte " + std::to_string(offsets[1]) + ": corrupted block: its checksum is");
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

TEST(Trace, TheTrailerMustCountWhatTheFileHolds) {
  const std::string path = temp_path("trailer.vst"), bad = temp_path("trailer-bad.vst");
  std::vector<std::size_t> offsets;
  auto v = small_trace(path, 2, offsets);
  set_u64(v, offsets.back() + 4, 3);  // three records claimed, checksums made to match
  fix_checksums(v, offsets);
  write_all(bad, v);
  expect_error(bad, "byte " + std::to_string(offsets.back()) +
                        ": the trailer counts 3 records in 2 blocks, the file "
                        "holds 2 in 2");
  // A block dropped from the middle, checksums recomputed for the blocks left: the count says so.
  v = read_all(path);
  std::vector<char> dropped(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(offsets[1]));
  dropped.insert(dropped.end(), v.begin() + static_cast<std::ptrdiff_t>(offsets[2]), v.end());
  fix_checksums(dropped, {offsets[0], offsets[1]});
  write_all(bad, dropped);
  expect_error(bad, "the trailer counts 2 records in 2 blocks, the file holds 1 in 1");
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

TEST(Trace, ABlockOfNoRecordsIsAnError) {
  const std::string bad = temp_path("empty-block.vst");
  // Version 1 (no checksum to get right).
  const auto frame = zstd_frame({0x07});
  write_all(bad, one_block(static_cast<std::uint32_t>(frame.size()), 1, 0, frame));
  expect_error(bad, "byte 16: block with no records");
  // Version 2, the checksums right.
  const std::string path = temp_path("empty-block-good.vst");
  std::vector<std::size_t> offsets;
  auto v = small_trace(path, 2, offsets);
  set_u32(v, offsets[1] + 8, 0);
  fix_checksums(v, offsets);
  write_all(bad, v);
  expect_error(bad, "byte " + std::to_string(offsets[1]) + ": block with no records");
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

// Versions 1 and 2 have mmap records without flags, file or offset (anonymous, private), and
// no mprotect or mremap records; versions before 4 no page-table write records.
TEST(Trace, OlderVersionsReadMmapsAsAnonymousAndHaveNoMprotectOrMremap) {
  const std::string path = temp_path("v1-mmap.vst");
  const auto frame = zstd_frame({0x13, 1, static_cast<char>(0x80), 0x20, 0x10, 3});  // mmap pid 1 0x1000 +16 prot 3
  write_all(path, one_block(static_cast<std::uint32_t>(frame.size()), 6, 1, frame));
  TraceReader reader(path);
  const auto r = reader.next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, TraceRecordKind::Mmap);
  EXPECT_EQ(r->address, 0x1000u);
  EXPECT_EQ(r->length, 16u);
  EXPECT_EQ(r->prot, 3u);
  EXPECT_EQ(r->map_flags, 0u);
  EXPECT_FALSE(reader.next());
  for (const char kind : {0x17, 0x18, 0x19}) {
    const auto bad = zstd_frame({kind, 1, 0, 0, 0, 0});
    write_all(path, one_block(static_cast<std::uint32_t>(bad.size()), 6, 1, bad));
    expect_error(path, "byte 16: unknown record type " + std::to_string(kind) + " (record 1, trace format version 1)");
  }
  std::remove(path.c_str());
}

// Before version 5 a syscall record is its number only: it says nothing of bytes or object.
TEST(Trace, OlderVersionsSyscallRecordsAreTheirNumberOnly) {
  const std::string path = temp_path("v1-syscall.vst");
  const auto frame = zstd_frame({0x08, 0x00, 0x08, static_cast<char>(0xe8), 0x01});  // syscall 0, syscall 232
  write_all(path, one_block(static_cast<std::uint32_t>(frame.size()), 5, 2, frame));
  TraceReader reader(path);
  for (const std::uint64_t number : {0, 232}) {
    const auto r = reader.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, TraceRecordKind::Syscall);
    EXPECT_EQ(r->count, number);
    EXPECT_FALSE(r->described);
    EXPECT_EQ(r->bytes, 0u);
    EXPECT_EQ(r->object, SyscallObject::None);
  }
  EXPECT_FALSE(reader.next());
  std::remove(path.c_str());
}

TEST(Trace, MalformedSyscallRecordsAreErrors) {
  const std::string bad = temp_path("bad-syscall.vst");
  const auto expect = [&](std::uint8_t object, std::uint32_t flags, const std::string& what) {
    {
      TraceWriter w(bad);  // the writer writes what it is given; the reader checks
      TraceRecord r;
      r.kind = TraceRecordKind::Syscall;
      r.object = static_cast<SyscallObject>(object);
      r.call_flags = flags;
      w.write(r);
      w.close();
    }
    expect_error(bad, what);
  };
  expect(5, 0, "byte 16: syscall record with object 5 (record 1; known: 0 none, 1 file, 2 pipe, 3 socket, 4 other)");
  expect(1, 2, "byte 16: syscall record with unknown flags 0x2 (record 1; known: 1 may sleep)");
  std::remove(bad.c_str());
}

TEST(Trace, MalformedFileMmapsAreErrors) {
  const std::string bad = temp_path("bad-mmap.vst");
  const auto expect = [&](std::uint32_t flags, std::uint32_t file, std::uint64_t offset, const std::string& what) {
    {
      TraceWriter w(bad);  // the writer writes what it is given; the reader checks
      TraceRecord r;
      r.kind = TraceRecordKind::Mmap;
      r.pid = 1;
      r.length = 4096;
      r.map_flags = flags;
      r.file = file;
      r.offset = offset;
      w.write(r);
      w.close();
    }
    expect_error(bad, what);
  };
  expect(8, 0, 0, "byte 16: mmap record with unknown flags 0x8 (record 1; known: 1 file, 2 shared, 4 tool)");
  expect(kMapFile, 0, 0, "byte 16: mmap record of file 0 (record 1; file ids are 1 to");
  expect(kMapFile, 2, 100, "byte 16: mmap record with file offset 100 (record 1; a multiple of 4096 expected)");
  std::remove(bad.c_str());
}

TEST(Trace, VersionOneStillReadsWithAWarning) {
  const std::string path = temp_path("v1.vst");
  const auto frame = zstd_frame({0x06, 0x07});
  write_all(path, one_block(static_cast<std::uint32_t>(frame.size()), 2, 2, frame));
  TraceReader reader(path);
  EXPECT_EQ(reader.version(), 1);
  EXPECT_NE(reader.warning().find(path + ": trace format version 1 has no checksums"), std::string::npos)
      << reader.warning();
  EXPECT_EQ(reader.next()->kind, TraceRecordKind::RoiBegin);
  EXPECT_EQ(reader.next()->kind, TraceRecordKind::RoiEnd);
  EXPECT_FALSE(reader.next());
  std::vector<std::size_t> offsets;
  small_trace(path, 1, offsets);
  EXPECT_EQ(TraceReader(path).warning(), "");
  std::remove(path.c_str());
}

// Version 6 tags the capture tool's own mappings; older versions cannot, and say so once.
TEST(Trace, VersionFiveReadsWithAWarningAndKnowsNoToolMappings) {
  const std::string path = temp_path("v5-tool.vst");
  {
    TraceWriter w(path);
    TraceRecord r;
    r.kind = TraceRecordKind::Mmap;
    r.pid = 1;
    r.address = 0x4837000;
    r.length = 16400;
    r.prot = 1;
    r.map_flags = kMapFile | kMapTool;
    r.file = 1;
    w.write(r);
    w.close();
  }
  {
    TraceReader reader(path);
    EXPECT_EQ(reader.version(), 6);
    EXPECT_EQ(reader.warning(), "");
    const auto r = reader.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->map_flags, kMapFile | kMapTool);
  }
  // The same bytes labelled version 5: the tool flag is unknown there, and the file warns.
  auto v = read_all(path);
  v[8] = 5;
  std::vector<std::size_t> offsets;
  for (std::size_t at = 16; at < v.size(); at += 16 + get_u32(v, at)) {
    offsets.push_back(at);
    if (get_u32(v, at) == 0) break;
  }
  fix_checksums(v, offsets);
  write_all(path, v);
  EXPECT_NE(TraceReader(path).warning().find(path + ": trace format version 5 cannot tag the capture tool's own mappings"),
            std::string::npos)
      << TraceReader(path).warning();
  expect_error(path, "byte 16: mmap record with unknown flags 0x5 (record 1; known: 1 file, 2 shared)");
  std::remove(path.c_str());
}

// Memory records with address deltas of every varint length (1 to 10 bytes, both signs), as
// lackey writes them (a fetch, then its data accesses), with compute records of every length and
// now and then a record of another kind.
std::vector<TraceRecord> mixed_records() {
  std::vector<TraceRecord> v;
  Addr address = 0x400000;
  std::uint64_t state = 7;
  for (unsigned i = 0; i < 3000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    TraceRecord r;
    const unsigned shift = (state >> 33) % 64;
    const Addr delta = (Addr{1} << shift) + (state >> 60);
    address = (state >> 40) & 1 ? address + delta : address - delta;
    r.address = address;
    r.size = static_cast<std::uint8_t>(1 + (state >> 20) % 64);
    const unsigned pick = (state >> 50) % 16;
    r.kind = pick < 5 ? TraceRecordKind::Fetch : pick < 10 ? TraceRecordKind::Load : pick < 14 ? TraceRecordKind::Store
                                                                                    : TraceRecordKind::Compute;
    if (r.kind == TraceRecordKind::Compute) r.count = (std::uint64_t{1} << ((state >> 24) % 32)) - 1;
    v.push_back(r);
    if (i % 97 == 13) v.push_back(every_kind()[(i / 97) % every_kind().size()]);
  }
  return v;
}

// TraceRecordSource::plain_events() decodes runs of plain records in a loop of its own: for any
// batch size and instruction budget, and whatever the blocks' size, it gives the events
// next_event() gives one at a time, ends a batch exactly where ends_batch() says, and leaves
// every other record to next(); and it counts the memory references.
TEST(Trace, RunsOfPlainRecordsGiveWhatNextEventGives) {
  const std::string path = temp_path("runs.vst");
  const auto records = mixed_records();
  for (const std::size_t block_bytes : {std::size_t{40}, std::size_t{1000}, std::size_t{1} << 16}) {
    {
      TraceWriter w(path, block_bytes);
      for (const auto& r : records) w.write(r);
      w.close();
    }
    // What the record-at-a-time decoder gives: events, or other records (their kind).
    struct Item {
      bool event;
      GuestEvent e;
      TraceRecordKind kind;
    };
    std::vector<Item> expected;
    std::uint64_t references = 0;
    {
      TraceReader reader(path);
      GuestEvent e;
      TraceRecord other;
      for (int got; (got = reader.next_event(e, other)) >= 0;) {
        expected.push_back({got == 1, e, other.kind});
        references += got == 1 && e.kind == GuestEventKind::Memory;
      }
    }
    ASSERT_GT(references, 2500u);
    for (const std::size_t max : {1u, 3u, 256u}) {
      for (const std::uint64_t budget : {1ull, 2ull, 5ull, ~0ull}) {
        const std::string where =
            "block bytes " + std::to_string(block_bytes) + " max " + std::to_string(max) + " budget " + std::to_string(budget);
        TraceRecordSource source(path);
        std::vector<GuestEvent> batch(max);
        std::size_t at = 0;
        for (;;) {
          const EventBatch made = source.plain_events(batch.data(), max, budget);
          const std::size_t n = made.events;
          if (!n) {
            const auto r = source.next();
            if (!r) break;
            ASSERT_LT(at, expected.size()) << where;
            ASSERT_FALSE(expected[at].event) << where << " record " << at;
            ASSERT_EQ(r->kind, expected[at].kind) << where << " record " << at;
            ++at;
            continue;
          }
          // The counts that come with the batch are its events'.
          std::uint64_t batch_instructions = 0, batch_references = 0;
          for (std::size_t i = 0; i < n; ++i) {
            batch_instructions += tick_instructions(batch[i]);
            batch_references += batch[i].kind == GuestEventKind::Memory;
          }
          ASSERT_EQ(made.instructions, batch_instructions) << where;
          ASSERT_EQ(made.references, batch_references) << where;
          std::uint64_t left = budget;
          for (std::size_t i = 0; i < n; ++i, ++at) {
            const bool ends = ends_batch(batch[i], left);
            if (i + 1 < n) {
              ASSERT_FALSE(ends) << where << ": a batch went on past its end at record " << at;
            }
            ASSERT_LT(at, expected.size()) << where;
            ASSERT_TRUE(expected[at].event) << where << " record " << at;
            const GuestEvent& want = expected[at].e;
            const GuestEvent& got = batch[i];
            ASSERT_TRUE(got.kind == want.kind && got.access == want.access && got.size == want.size &&
                        got.count == want.count && got.address == want.address &&
                        got.instruction == want.instruction && got.keeps_contents == want.keeps_contents &&
                        got.continues_instruction == want.continues_instruction &&
                        got.partial_first_line == want.partial_first_line &&
                        got.partial_last_line == want.partial_last_line)
                << where << " record " << at;
          }
        }
        EXPECT_EQ(at, expected.size()) << where;
        EXPECT_EQ(source.memory_references(), references) << where;
      }
    }
  }
  std::remove(path.c_str());
}

// A bad record met by the run decoder fails as the record-at-a-time decoder does: the block's
// offset and what is wrong. Each block below has room for the run decoder's unchecked reads.
TEST(Trace, RunsOfPlainRecordsFailAsNextDoes) {
  const std::string bad = temp_path("bad-run.vst");
  std::vector<char> padding;  // 12 compute records
  for (int i = 0; i < 12; ++i) padding.insert(padding.end(), {0x01, 0});
  const auto expect_run_error = [&](std::vector<char> raw, std::uint32_t count, const std::string& fragment) {
    raw.insert(raw.end(), padding.begin(), padding.end());
    const auto frame = zstd_frame(raw);
    write_all(bad, one_block(static_cast<std::uint32_t>(frame.size()), static_cast<std::uint32_t>(raw.size()), count,
                             frame));
    expect_error(bad, fragment);  // through next()
    try {
      TraceRecordSource source(bad);
      std::vector<GuestEvent> batch(256);
      while (source.plain_events(batch.data(), batch.size(), ~std::uint64_t{0}).events || source.next()) {
      }
      FAIL() << "expected an error containing '" << fragment << "'";
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_run_error({0x02, 8, 2, 0x03, 65, 0}, 14, "byte 16: memory record with size 65");
  expect_run_error({0x03, 0, 0}, 13, "byte 16: memory record with size 0");
  expect_run_error({0x01, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0}, 13, "byte 16: malformed number");
  expect_run_error({0x04, 4, 2}, 3, "byte 16: block has bytes after its last record");
  std::remove(bad.c_str());
}

TEST(Trace, TheWriterOnlyEverLeavesAWholeTrace) {
  const std::string path = temp_path("whole.vst");
  write_all(path, {'o', 'l', 'd'});
  std::string temporary;
  {
    TraceWriter w(path, 1);
    temporary = w.temporary_path();
    EXPECT_NE(temporary, path);
    EXPECT_TRUE(std::filesystem::exists(temporary));
    w.write(every_kind()[1]);
    EXPECT_EQ(read_all(path), (std::vector<char>{'o', 'l', 'd'}));
  }  // destroyed without close(): as after an error midway
  EXPECT_FALSE(std::filesystem::exists(temporary));
  EXPECT_EQ(read_all(path), (std::vector<char>{'o', 'l', 'd'}));
  {
    TraceWriter w(path, 1, /*replace_existing=*/false);
    w.write(every_kind()[1]);
    EXPECT_THROW(w.close(), FileError);  // the file exists: not replaced
    EXPECT_FALSE(std::filesystem::exists(w.temporary_path()));
  }
  EXPECT_EQ(read_all(path), (std::vector<char>{'o', 'l', 'd'}));
  {
    TraceWriter w(path, 1);
    w.write(every_kind()[1]);
    w.close();
  }
  EXPECT_EQ(TraceReader(path).next()->kind, every_kind()[1].kind);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace virtsim
