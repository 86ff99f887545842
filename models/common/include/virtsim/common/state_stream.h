#pragma once
// The byte streams a checkpoint (platform/checkpoint.h) is made of: each model writes its
// state to a StateWriter and reads it back from a StateReader, field by field, little-endian
// as the host lays it out (a checkpoint is read on the kind of host that wrote it). A reader
// that runs out of bytes, or finds a value it cannot take, throws CheckpointError naming the
// file, the byte offset and the field it expected there.
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "virtsim/common/error.h"

namespace virtsim {

// A checkpoint that cannot be used: a configuration error of the run that loads it (exit 2).
class CheckpointError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

class StateWriter {
 public:
  template <typename T>
  void put(T value) {
    static_assert(std::is_trivially_copyable_v<T>, "only plain values go in as bytes");
    const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    put_bytes(s.data(), s.size());
  }
  // A section marker: the reader checks it is where the writer put it, so a state that is read
  // with another layout than it was written with fails there, not at some later field.
  void put_tag(const char (&tag)[5]) { put_bytes(tag, 4); }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }
  std::vector<std::uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

class StateReader {
 public:
  // `base`: the offset of data[0] in the file it came from (for messages).
  StateReader(const std::uint8_t* data, std::size_t size, std::string file, std::uint64_t base = 0)
      : data_(data), size_(size), file_(std::move(file)), base_(base) {}

  template <typename T>
  T get(const char* field) {
    static_assert(std::is_trivially_copyable_v<T>, "only plain values come out as bytes");
    T value;
    std::memcpy(&value, take(sizeof(T), field), sizeof(T));
    return value;
  }
  bool get_bool(const char* field) {
    const auto v = get<std::uint8_t>(field);
    if (v > 1) fail(field, "0 or 1, found " + std::to_string(v), position_ - 1);
    return v != 0;
  }
  // An empty vector's data() may be null, which memcpy must not be given even for no bytes.
  void get_bytes(void* out, std::size_t n, const char* field) {
    const std::uint8_t* from = take(n, field);
    if (n) std::memcpy(out, from, n);
  }
  std::string get_string(const char* field) {
    const auto n = count(field, 1);
    return std::string(reinterpret_cast<const char*>(take(n, field)), n);
  }
  // A count of items of at least `item_bytes` each that must fit in what is left.
  std::uint64_t count(const char* field, std::uint64_t item_bytes) {
    const auto n = get<std::uint64_t>(field);
    if (item_bytes && n > (size_ - position_) / item_bytes)
      fail(field, "a count of at most " + std::to_string((size_ - position_) / item_bytes) + ", found " +
                      std::to_string(n), position_ - 8);
    return n;
  }
  void expect_tag(const char (&tag)[5]) {
    const std::uint64_t at = position_;
    const auto* p = take(4, tag);
    if (std::memcmp(p, tag, 4) != 0) fail(tag, std::string("the section tag \"") + tag + "\"", at);
  }
  void skip(std::uint64_t n, const char* field) { take(n, field); }
  bool at_end() const { return position_ == size_; }
  std::uint64_t offset() const { return base_ + position_; }
  [[noreturn]] void fail(const std::string& field, const std::string& expected, std::uint64_t at) const {
    throw CheckpointError(file_ + ": byte " + std::to_string(base_ + at) + " (" + field + "): expected " + expected);
  }
  [[noreturn]] void fail(const std::string& field, const std::string& expected) const {
    fail(field, expected, position_);
  }

 private:
  const std::uint8_t* take(std::size_t n, const char* field) {
    if (n > size_ - position_)
      throw CheckpointError(file_ + ": byte " + std::to_string(base_ + position_) + " (" + field + "): expected " +
                            std::to_string(n) + " more bytes, the data ends after " +
                            std::to_string(size_ - position_) + " (a truncated checkpoint?)");
    const std::uint8_t* p = data_ + position_;
    position_ += n;
    return p;
  }
  const std::uint8_t* data_;
  std::size_t size_;
  std::uint64_t position_ = 0;
  std::string file_;
  std::uint64_t base_;
};

// "the checkpoint's has A, this run's B" of two geometries, each parts joined by "; " (a TLB's
// arrays): with as many parts in each, only the parts that differ.
inline std::string geometry_difference(const std::string& saved, const std::string& mine) {
  const auto parts = [](const std::string& g) {
    std::vector<std::string> out;
    for (std::size_t at = 0;;) {
      const std::size_t end = g.find("; ", at);
      out.push_back(g.substr(at, end - at));
      if (end == std::string::npos) return out;
      at = end + 2;
    }
  };
  std::vector<std::string> a = parts(saved), b = parts(mine);
  std::string theirs = saved, ours = mine;
  if (a.size() == b.size()) {
    theirs.clear();
    ours.clear();
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) {
        theirs += (theirs.empty() ? "" : "; ") + a[i];
        ours += (ours.empty() ? "" : "; ") + b[i];
      }
  }
  return "the checkpoint's has " + theirs + ", this run's " + ours;
}

// A structure of the microarchitectural state (a TLB, a walk cache, a cache): its name, its
// geometry as text, then its state behind its length, so that a run whose structure has another
// geometry skips it and starts that one cold while it restores the others.
template <typename Body>
void put_structure(StateWriter& out, const std::string& name, const std::string& geometry, Body body) {
  out.put_string(name);
  out.put_string(geometry);
  const std::size_t at = out.bytes().size();
  out.put<std::uint64_t>(0);
  body();
  const std::uint64_t length = out.bytes().size() - at - 8;
  std::memcpy(out.bytes().data() + at, &length, 8);
}
// Reads one written by put_structure() into the structure `name` of geometry `geometry` with
// body(); returns false, skipping it, when the saved geometry differs (`cold` gets a line
// saying so).
template <typename Body>
bool get_structure(StateReader& in, const std::string& name, const std::string& geometry, Body body,
                   std::vector<std::string>& cold) {
  const std::uint64_t at = in.offset();
  const std::string saved = in.get_string("structure name");
  if (saved != name) in.fail("structure name", "\"" + name + "\", found \"" + saved + "\"", at);
  const std::string shape = in.get_string("structure geometry");
  const std::uint64_t length = in.count("structure length", 1);
  if (shape != geometry) {
    in.skip(length, "structure state");
    cold.push_back(name + " starts cold: " + geometry_difference(shape, geometry));
    return false;
  }
  const std::uint64_t begin = in.offset();
  body();
  if (in.offset() - begin != length)
    in.fail("structure state", std::to_string(length) + " bytes of " + name + "'s state, read " +
                                   std::to_string(in.offset() - begin), begin);
  return true;
}

}  // namespace virtsim
