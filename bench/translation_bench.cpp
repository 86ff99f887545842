// Microbenchmarks of address translation: an L1 TLB hit and an STLB hit through the vCPU's
// own TranslationPath, and 1-D and 2-D walks with their walk caches cold and warm. Memory is
// a DirectMemoryPort (sparse physical memory, fixed latency), so a walk's time is the
// walker's own work plus one hash lookup per reference.
#include <benchmark/benchmark.h>

#include <vector>

#include "virtsim/memory/direct_port.h"
#include "virtsim/mmu/page_walker.h"
#include "virtsim/mmu/walk_request.h"
#include "virtsim/tlb/translation_path.h"
#include "virtsim/workloads/synthetic.h"

namespace virtsim {
namespace {

// Misses are not expected in the TLB benchmarks; one that happens maps the page 1:1.
class IdentityMisses : public TranslationMissHandler {
 public:
  Cycles translate_miss(Addr va, TranslationExtension& ext) override {
    ext.result.fault = false;
    ext.result.physical_address = va;
    ext.result.page_shift = ext.result.mapping_shift = 12;
    ext.result.writable = ext.result.user = ext.result.executable = ext.result.dirty = true;
    return 100;
  }
};

// Pages touched round-robin: `pages` 4 KiB pages, all translated through the path first.
void run_tlb_path(benchmark::State& state, unsigned pages, int expected_level) {
  ParamRegistry registry;
  TlbHierarchyParameters params({&registry, nullptr, "cpu"});
  TlbHierarchy tlbs({}, params);
  TranslationPath path(tlbs);
  IdentityMisses misses;
  TranslationExtension ext;
  std::vector<Addr> addresses;
  for (Addr i = 0; i < pages; ++i) addresses.push_back(0x10000000 + (i << 12) + 0x18);
  for (Addr a : addresses) path.translate(a, AccessKind::Load, true, {}, ext, misses);
  std::size_t i = 0;
  int level = 0;
  for (auto _ : state) {
    const PathResult r = path.translate(addresses[i], AccessKind::Load, true, {}, ext, misses);
    benchmark::DoNotOptimize(r.physical_address);
    level = r.level;
    if (++i == addresses.size()) i = 0;
  }
  if (level != expected_level) state.SkipWithError("the benchmark did not hit the intended TLB level");
  state.SetItemsProcessed(state.iterations());
}

void BM_L1TlbHit(benchmark::State& state) { run_tlb_path(state, 48, 1); }
BENCHMARK(BM_L1TlbHit);

// 512 pages: more than the 64-entry L1 DTLB holds, fewer than the 1536-entry STLB.
void BM_StlbHit(benchmark::State& state) { run_tlb_path(state, 512, 2); }
BENCHMARK(BM_StlbHit);

struct WalkBench {
  static constexpr Addr kFootprint = Addr{64} << 20;
  static constexpr Addr kBase = 0x10000000;
  static constexpr Addr kHostBase = Addr{1} << 32;
  PhysicalMemory host{Addr{1} << 34};
  FrameAllocator host_frames{Addr{1} << 20, kHostBase};
  FrameAllocator guest_frames{Addr{1} << 20, Addr{1} << 30};
  PageTableBuilder nested_builder{host, host_frames, TableFormat::Ept4};
  std::unique_ptr<PageTableBuilder> guest_builder;
  PagingControls guest;
  NestedControls nested;
  bool two_d;

  explicit WalkBench(bool nested_paging) : two_d(nested_paging) {
    const Addr offset = two_d ? kHostBase : 0;
    guest_builder = std::make_unique<PageTableBuilder>(MemoryView::of(host, offset), guest_frames, TableFormat::Level4);
    guest.cr3 = guest_builder->new_root();
    for (Addr va = 0; va < kFootprint; va += kPageSize4K)
      guest_builder->map(guest.cr3, kBase + va, guest_frames.allocate(), kPageSize4K);
    if (two_d) {
      nested.root = nested_builder.new_root();
      for (Addr gpa = 0; gpa < Addr{160} << 20; gpa += kPageSize4K) nested_builder.map(nested.root, gpa, kHostBase + gpa, kPageSize4K);
    }
  }
  WalkRequest request(Addr va) const {
    WalkRequest r = WalkRequest::linear(guest.cr3, va, AccessKind::Load, true);
    r.nested = two_d;
    r.nested_controls = nested;
    return r;
  }
};

WalkerConfig caches(bool on) {
  WalkerConfig c;
  c.pwc = {on, false, 24, 24, 2};
  c.nested_pwc = {on, false, 24, 24, 2};
  c.nested_tlb = {on, true, 16, 16, 2};
  return c;
}

// cold: every walk starts with empty walk caches. warm: walks to pages of one 2 MiB region,
// whose upper-level entries (and, in 2-D, the guest tables' nested translations) stay cached.
void run_walks(benchmark::State& state, bool two_d, bool warm) {
  WalkBench bench(two_d);
  PageWalker walker({}, caches(true));
  DirectMemoryPort port(bench.host, 100);
  SplitMix64 rng(7);
  const Addr span = warm ? kPageSize2M : WalkBench::kFootprint;
  double refs = 0;
  for (auto _ : state) {
    if (!warm) {
      walker.flush_guest_caches();
      walker.flush_nested_caches();
    }
    const Addr va = WalkBench::kBase + rng.below(span);
    const WalkOutcome& o = walker.walk(bench.request(va), port);
    refs += o.refs;
    benchmark::DoNotOptimize(o.translation.physical_address);
  }
  state.counters["refs_per_walk"] = refs / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}

void BM_Walk1DCold(benchmark::State& state) { run_walks(state, false, false); }
void BM_Walk1DWarm(benchmark::State& state) { run_walks(state, false, true); }
void BM_Walk2DCold(benchmark::State& state) { run_walks(state, true, false); }
void BM_Walk2DWarm(benchmark::State& state) { run_walks(state, true, true); }
BENCHMARK(BM_Walk1DCold);
BENCHMARK(BM_Walk1DWarm);
BENCHMARK(BM_Walk2DCold);
BENCHMARK(BM_Walk2DWarm);

}  // namespace
}  // namespace virtsim
