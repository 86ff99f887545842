// The MMU and memory as real TLM modules: a translation request over b_transport walks
// real entries through the memory's socket, and the annotated delay is the walk's latency.
#include "virtsim/mmu/memory_module.h"
#include "virtsim/mmu/mmu_module.h"

#include <gtest/gtest.h>
#include <tlm_utils/simple_initiator_socket.h>

#include "virtsim/common/translation_extension.h"

namespace virtsim {
namespace {

struct Requester : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Requester> socket{"socket"};
  explicit Requester(const sc_core::sc_module_name& n) : sc_core::sc_module(n) {}
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
  Requester cpu{"cpu"};
  FrameAllocator frames{Addr{1} << 20, Addr{64} << 20};
  PageTableBuilder builder{memory.memory(), frames};
  Addr root = 0;
  Platform() {
    cpu.socket.bind(mmu.translate);
    mmu.memory.bind(memory.port);
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
  EXPECT_FALSE(ext.fault);
  EXPECT_EQ(ext.physical_address, 0x800123u);
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
  EXPECT_TRUE(ext.fault);
  EXPECT_EQ(ext.error_code, pf::kWrite | pf::kUser);
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

// The plain-call route (DirectTranslation) is the same target: the same walk and response, and
// the same walkers, so a request on it waits for walks taken over the socket and the reverse.
TEST_F(MmuModuleTest, ThePlainCallRouteSharesTheWalkersWithTheSocket) {
  const sc_core::sc_time base = sc_core::sc_time(2, sc_core::SC_US);  // later than any earlier walk
  const Cycles base_cycles = platform_->clock.cycles(base);
  sc_core::sc_time a = base;
  const auto over_socket = translate(0x400000, AccessKind::Load, a);
  TranslationExtension direct;
  direct.paging.cr3 = platform_->root;
  direct.kind = AccessKind::Load;
  const auto queued_before = platform_->mmu.queued_walks.count();
  const Cycles second = platform_->mmu.resolve(0x400008, direct, base_cycles);
  EXPECT_FALSE(direct.fault);
  EXPECT_EQ(direct.physical_address, 0x800008u);
  EXPECT_EQ(second, direct.walk_cycles);  // the second walker was free
  EXPECT_EQ(platform_->mmu.queued_walks.count(), queued_before);
  // Both walkers are busy now: a third request, on either route, waits for the first to free.
  TranslationExtension third = direct;
  const Cycles waited = platform_->mmu.resolve(0x400010, third, base_cycles);
  EXPECT_EQ(waited, std::min(over_socket.walk_cycles, direct.walk_cycles) + third.walk_cycles);
  EXPECT_EQ(platform_->mmu.queued_walks.count(), queued_before + 1);
  EXPECT_GT(platform_->mmu.queue_cycles.count(), 0u);
}

TEST_F(MmuModuleTest, ParametersAndStatisticsFollowTheHierarchy) {
  EXPECT_NE(platform_->params.find_spec("memory.latency"), nullptr);
  EXPECT_EQ(platform_->memory.memory().size(), Addr{64} << 20);  // the configured size applied
  EXPECT_NE(platform_->stats.find("mmu.walker.refs_per_walk"), nullptr);
  EXPECT_NE(platform_->stats.find("memory.reads"), nullptr);
}

}  // namespace
}  // namespace virtsim
