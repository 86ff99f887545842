// The MMU and memory as real TLM modules: a translation request over b_transport walks
// real entries through the memory's socket, and the annotated delay is the walk's latency.
#include "virtsim/mmu/mmu_module.h"

#include <gtest/gtest.h>
#include <tlm_utils/simple_initiator_socket.h>

#include "virtsim/common/translation_extension.h"
#include "virtsim/memory/cache_module.h"
#include "virtsim/memory/memory_module.h"

namespace virtsim {
namespace {

struct Initiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Initiator> socket{"socket"};
  explicit Initiator(const sc_core::sc_module_name& n) : sc_core::sc_module(n) {}
};

// SystemC elaborates once per process, so the suite shares one small platform.
ParamRegistry configured_params() {
  ParamRegistry params;
  params.set_value("memory.size_mib", std::int64_t{64}, {"test"});
  return params;
}

struct Platform {
  ParamRegistry params = configured_params();
  StatRegistry stats;
  Clock clock{2.0};
  Scope context{&params, &stats, ""};
  MemoryModule memory{"memory", context, clock};
  MmuModule mmu{"mmu", context, clock};
  Initiator cpu{"cpu"};
  // A second MMU whose walker reads through a private cache hierarchy, bound as the platform
  // binds it: the socket, and beside it the walk port.
  Cache llc{context.child("llc"), CacheConfig{true, 1024, 16, 64, 30, "lru", 7}};
  CacheModule caches{"caches", context, clock, llc, 64, 1};
  MmuModule cached_mmu{"cached_mmu", context, clock};
  Initiator cached_cpu{"cached_cpu"};
  FrameAllocator frames{Addr{1} << 20, Addr{64} << 20};
  PageTableBuilder builder{memory.memory(), frames};
  Addr root = 0;
  Platform() {
    cpu.socket.bind(mmu.translate);
    mmu.memory.bind(memory.port);
    cached_cpu.socket.bind(cached_mmu.translate);
    caches.set_requester(0, Requester::Walk);
    cached_mmu.memory.bind(caches.cpu_side);
    cached_mmu.memory.connect(caches.walk_port());
    caches.memory_side.bind(memory.port);
    caches.memory_side.connect(memory);
    root = builder.new_root();
    builder.map(root, 0x400000, 0x800000, kPageSize4K);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // finish elaboration
  }
};

class MmuModuleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!platform_) platform_ = new Platform;
  }
  static Platform* platform_;

  TranslationExtension translate(Addr va, AccessKind kind, sc_core::sc_time& delay) {
    tlm::tlm_generic_payload payload;
    TranslationExtension ext;
    ext.paging.cr3 = platform_->root;
    ext.kind = kind;
    payload.set_address(va);
    payload.set_extension(&ext);
    platform_->cpu.socket->b_transport(payload, delay);
    payload.clear_extension(&ext);
    EXPECT_TRUE(payload.is_response_ok());
    return ext;
  }
};
Platform* MmuModuleTest::platform_ = nullptr;

TEST_F(MmuModuleTest, TranslationWalksThroughTheMemorySocket) {
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  const auto reads_before = platform_->memory.reads.count();
  const auto ext = translate(0x400123, AccessKind::Load, delay);
  EXPECT_FALSE(ext.result.fault);
  EXPECT_EQ(ext.result.physical_address, 0x800123u);
  EXPECT_EQ(ext.walk_refs, 4u);
  // Four entry reads, and four writes setting the accessed flags on first use.
  EXPECT_EQ(ext.walk_cycles, 8u * platform_->memory.latency.get());
  EXPECT_EQ(platform_->clock.cycles(delay), 8u * platform_->memory.latency.get());
  EXPECT_EQ(platform_->memory.reads.count() - reads_before, 4u);
  sc_core::sc_time again = sc_core::SC_ZERO_TIME;
  // Again: the default page walk cache (2-cycle hits) holds the three upper entries.
  const auto warm = translate(0x400123, AccessKind::Load, again);
  EXPECT_EQ(warm.walk_refs, 1u);
  EXPECT_EQ(warm.walk_cycles, platform_->memory.latency.get() + 3u * platform_->mmu.walker_parameters.pwc.hit_cycles);
}

TEST_F(MmuModuleTest, FaultIsReportedInTheExtension) {
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  const auto ext = translate(0x500000, AccessKind::Store, delay);
  EXPECT_TRUE(ext.result.fault);
  EXPECT_EQ(ext.result.error_code, pf::kWrite | pf::kUser);
}

// Two requests at the same local time from two initiators: with two walkers both start at once,
// the third waits for the first walker to free up.
TEST_F(MmuModuleTest, WalksInFlightShareTheWalkers) {
  ASSERT_EQ(platform_->mmu.walkers.get(), 2u);
  sc_core::sc_time base = sc_core::sc_time(1, sc_core::SC_US);  // later than any earlier walk
  sc_core::sc_time a = base, b = base, c = base;
  const auto queued_before = platform_->mmu.queued_walks.count();
  const auto first = translate(0x400000, AccessKind::Load, a);
  const auto second = translate(0x400000, AccessKind::Load, b);
  EXPECT_EQ(a - base, platform_->clock.delay(first.walk_cycles));
  EXPECT_EQ(b - base, platform_->clock.delay(second.walk_cycles));
  EXPECT_EQ(platform_->mmu.queued_walks.count(), queued_before);
  const auto third = translate(0x400000, AccessKind::Load, c);
  // It waited until the earlier of the two walkers was free, then walked.
  EXPECT_EQ(c - base, platform_->clock.delay(std::min(first.walk_cycles, second.walk_cycles) + third.walk_cycles));
  EXPECT_EQ(platform_->mmu.queued_walks.count(), queued_before + 1);
}

// The MMU's port called directly is the same target as its socket: the same walk and response, and
// the same walkers, so a request on it waits for walks taken over the socket and the reverse.
TEST_F(MmuModuleTest, TheDirectPortSharesTheWalkersWithTheSocket) {
  const sc_core::sc_time base = sc_core::sc_time(2, sc_core::SC_US);  // later than any earlier walk
  const Cycles base_cycles = platform_->clock.cycles(base);
  sc_core::sc_time a = base;
  const auto over_socket = translate(0x400000, AccessKind::Load, a);
  TranslationExtension direct;
  direct.paging.cr3 = platform_->root;
  direct.kind = AccessKind::Load;
  const auto queued_before = platform_->mmu.queued_walks.count();
  const Cycles second = platform_->mmu.access(0x400008, direct, base_cycles).cycles;
  EXPECT_FALSE(direct.result.fault);
  EXPECT_EQ(direct.result.physical_address, 0x800008u);
  EXPECT_EQ(second, direct.walk_cycles);  // the second walker was free
  EXPECT_EQ(platform_->mmu.queued_walks.count(), queued_before);
  // Both walkers are busy now: a third request, on either route, waits for the first to free.
  TranslationExtension third = direct;
  const Cycles waited = platform_->mmu.access(0x400010, third, base_cycles).cycles;
  EXPECT_EQ(waited, std::min(over_socket.walk_cycles, direct.walk_cycles) + third.walk_cycles);
  EXPECT_EQ(platform_->mmu.queued_walks.count(), queued_before + 1);
  EXPECT_GT(platform_->mmu.queue_cycles.count(), 0u);
}

// The cache module's walk port is the walk requester's MemoryPort: a reference
// looks up L1D, L2 and LLC in turn (their hit latencies add up), a full miss pays main
// memory's latency and is counted there, and the value read is memory's.
TEST_F(MmuModuleTest, TheWalkPortTimesAndCountsAsTheCacheHierarchy) {
  Platform& p = *platform_;
  const Addr entry = 0x300040;
  p.memory.memory().write64(entry, 0x1234567ull);
  MemoryPort& port = p.caches.walk_port();
  const auto reads = p.memory.reads.count();
  const auto walk_misses = p.caches.l1d.misses_by_requester.counts()[1];
  std::uint64_t value = 0;
  const MemoryResult cold = port.read_entry(entry, 8, value);
  EXPECT_EQ(value, 0x1234567ull);
  EXPECT_EQ(cold.served_by, ServedBy::Dram);
  const Cycles levels =
      p.caches.l1d.config().hit_cycles + p.caches.l2.config().hit_cycles + p.llc.config().hit_cycles;
  EXPECT_EQ(cold.cycles, levels + p.memory.latency.get());
  EXPECT_EQ(p.memory.reads.count(), reads + 1);
  EXPECT_EQ(p.caches.l1d.misses_by_requester.counts()[1], walk_misses + 1);
  const MemoryResult warm = port.read_entry(entry, 8, value);
  EXPECT_EQ(warm.served_by, ServedBy::L1);
  EXPECT_EQ(warm.cycles, p.caches.l1d.config().hit_cycles);
  EXPECT_EQ(p.memory.reads.count(), reads + 1);
  // A write goes to memory's bytes and dirties the line.
  EXPECT_EQ(port.write_entry(entry, 8, 0x89abcdefull).served_by, ServedBy::L1);
  EXPECT_EQ(p.memory.memory().read64(entry), 0x89abcdefull);
  // Past the end of memory: an error naming the address.
  try {
    port.read_entry(Addr{64} << 20, 8, value);
    ADD_FAILURE() << "a reference past the end of memory did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("page-table read at physical address 0x4000000"),
              std::string::npos)
        << e.what();
  }
}

// The platform connects the MMU to the walk port: its walks' references are the cache's walk
// requests, one per reference, and the translation is the socket route's.
TEST_F(MmuModuleTest, AnMmuGivenTheWalkPortWalksThroughTheCaches) {
  Platform& p = *platform_;
  const auto walk_lookups = [&p] {
    return p.caches.l1d.hits_by_requester.counts()[1] + p.caches.l1d.misses_by_requester.counts()[1];
  };
  const auto before = walk_lookups();
  const auto ad_writes_before = p.cached_mmu.walker.ad_writes.count();
  const auto data_before =
      p.caches.l1d.hits_by_requester.counts()[0] + p.caches.l1d.misses_by_requester.counts()[0];
  TranslationExtension ext;
  ext.paging.cr3 = p.root;
  ext.kind = AccessKind::Load;
  p.cached_mmu.access(0x400238, ext, 0);
  EXPECT_FALSE(ext.result.fault);
  EXPECT_EQ(ext.result.physical_address, 0x800238u);
  EXPECT_GT(ext.walk_refs, 0u);
  // Each entry read, and each accessed-flag write, is one walk request to the L1D.
  EXPECT_EQ(walk_lookups() - before,
            ext.walk_refs + p.cached_mmu.walker.ad_writes.count() - ad_writes_before);
  EXPECT_EQ(p.caches.l1d.hits_by_requester.counts()[0] + p.caches.l1d.misses_by_requester.counts()[0],
            data_before);
}

TEST_F(MmuModuleTest, ParametersAndStatisticsFollowTheHierarchy) {
  EXPECT_NE(platform_->params.find_spec("memory.latency"), nullptr);
  EXPECT_EQ(platform_->memory.memory().size(), Addr{64} << 20);  // the configured size applied
  EXPECT_NE(platform_->stats.find("mmu.walker.refs_per_walk"), nullptr);
  EXPECT_NE(platform_->stats.find("memory.reads"), nullptr);
}

}  // namespace
}  // namespace virtsim
