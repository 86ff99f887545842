// The adapter pair between ports and TLM sockets: what an initiator gets through its socket is
// what the target's port answers (cycles, ok, where served, bytes), binding by binding.
#include "virtsim/common/tlm_ports.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace virtsim {
namespace {

// A memory of 4 KiB that answers with fixed cycles and level, counting its timed accesses.
struct FlatPort : MemoryPort {
  FlatPort(Cycles cycles, ServedBy level) : cycles(cycles), level(level) {}
  MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override {
    if (!debug_access(write, address, data, length)) return {0, false, ServedBy::Flat};
    ++accesses;
    return {cycles, true, level};
  }
  bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override {
    if (address + length > bytes.size()) return false;
    if (data) {
      if (write) std::memcpy(bytes.data() + address, data, length);
      else std::memcpy(data, bytes.data() + address, length);
    }
    return true;
  }
  Cycles cycles;
  ServedBy level;
  unsigned accesses = 0;
  std::vector<unsigned char> bytes = std::vector<unsigned char>(4096, 0);
};

struct FixedTranslation : TranslationPort {
  TranslationResult access(Addr va, TranslationExtension& ext, Cycles local_cycles) override {
    seen_local_cycles = local_cycles;
    ext.result.physical_address = va + 0x1000;
    return {11, true};
  }
  Cycles seen_local_cycles = 0;
};

struct Rig : sc_core::sc_module {
  Clock clock{2.0};
  FlatPort first{7, ServedBy::L2}, second{9, ServedBy::Llc};
  FixedTranslation mmu;
  MemoryInitiatorSocket a{"a", clock}, b{"b", clock};
  MemoryTargetSocket target{"target", clock, first};
  TranslationInitiatorSocket asks{"asks", clock};
  TranslationTargetSocket answers{"answers", clock, mmu};
  explicit Rig(const sc_core::sc_module_name& name) : sc_core::sc_module(name) {
    a.bind(target);
    b.bind(target);
    target.serve(1, second);  // b's binding
    asks.bind(answers);
  }
};

Rig& rig() {
  static Rig* r = [] {
    auto* made = new Rig("rig");
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // finish elaboration
    return made;
  }();
  return *r;
}

TEST(TlmPorts, AnAccessOverTheSocketsIsTheServingPortsAnswer) {
  Rig& r = rig();
  std::uint64_t value = 0x1122334455667788;
  const MemoryResult w = r.a.port().access(true, 0x100, reinterpret_cast<unsigned char*>(&value), 8);
  EXPECT_TRUE(w.ok);
  EXPECT_EQ(w.cycles, 7u);
  EXPECT_EQ(w.served_by, ServedBy::L2);
  std::uint64_t stored = 0;
  std::memcpy(&stored, r.first.bytes.data() + 0x100, 8);
  EXPECT_EQ(stored, value);
  // The second binding is served by its own port.
  std::uint64_t read = 0;
  const MemoryResult other = r.b.port().access(false, 0x100, reinterpret_cast<unsigned char*>(&read), 8);
  EXPECT_EQ(other.cycles, 9u);
  EXPECT_EQ(other.served_by, ServedBy::Llc);
  EXPECT_EQ(r.second.accesses, 1u);
  // Nothing there: not ok, no time.
  const MemoryResult outside = r.a.port().access(false, 8192, reinterpret_cast<unsigned char*>(&read), 8);
  EXPECT_FALSE(outside.ok);
}

TEST(TlmPorts, AnAccessWithoutDataMovesNothingOverTheSocketsEither) {
  Rig& r = rig();
  const std::uint64_t value = 0xa5a5a5a5deadbeef;
  std::memcpy(r.first.bytes.data() + 0x200, &value, 8);
  const unsigned before = r.first.accesses;
  EXPECT_EQ(r.a.port().access(true, 0x200, nullptr, 8).cycles, 7u);  // timed and counted
  EXPECT_EQ(r.a.port().access(false, 0x200, nullptr, 8).cycles, 7u);
  EXPECT_EQ(r.first.accesses, before + 2);
  std::uint64_t kept = 0;
  std::memcpy(&kept, r.first.bytes.data() + 0x200, 8);
  EXPECT_EQ(kept, value);
  // Debug access: the bytes only.
  std::uint64_t seen = 0;
  EXPECT_TRUE(r.a.port().debug_access(false, 0x200, reinterpret_cast<unsigned char*>(&seen), 8));
  EXPECT_EQ(seen, value);
  EXPECT_EQ(r.first.accesses, before + 2);
}

TEST(TlmPorts, ATranslationOverTheSocketsArrivesAtTheInitiatorsLocalTime) {
  Rig& r = rig();
  TranslationExtension ext;
  const TranslationResult t = r.asks.port().access(0x5000, ext, 5);
  EXPECT_TRUE(t.ok);
  EXPECT_EQ(t.cycles, 11u);
  EXPECT_EQ(r.mmu.seen_local_cycles, 5u);
  EXPECT_EQ(ext.result.physical_address, 0x6000u);
}

TEST(TlmPorts, ConnectingMakesThePortTheTargetsOwn) {
  FlatPort direct{3, ServedBy::L1};
  MemoryInitiatorSocket& socket = rig().b;
  MemoryPort& over_socket = socket.port();
  socket.connect(direct);
  EXPECT_EQ(&socket.port(), &direct);
  EXPECT_EQ(socket.direct_memory(), nullptr);  // FlatPort grants none
  EXPECT_EQ(socket.port().access(false, 0, nullptr, 8).cycles, 3u);
  socket.connect(over_socket);  // back to the socket, for the other tests
}

}  // namespace
}  // namespace virtsim
