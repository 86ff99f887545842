// Microbenchmarks of the per-access hot path: the L1 TLB lookup the vCPU makes on every
// memory instruction, the walk on a miss, and the workload generator feeding them.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <systemc>
#include <vector>

#include "virtsim/memory/direct_port.h"
#include "virtsim/mmu/page_walker.h"
#include "virtsim/tlb/tlb.h"
#include "virtsim/workloads/synthetic.h"

// SystemC prints its banner before sc_main; silence it during static initialization.
[[maybe_unused]] static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

namespace virtsim {
namespace {

TlbConfig skylake_dtlb() { return {{{12, 64, 4}, {21, 32, 4}, {30, 4, 4}}, 0}; }

void BM_TlbLookupHit(benchmark::State& state) {
  Tlb tlb({}, skylake_dtlb());
  std::vector<Addr> pages;
  for (Addr i = 0; i < 48; ++i) {
    TlbEntry e;
    e.page_shift = 12;
    e.physical_base = (i + 100) << 12;
    tlb.insert(i << 12, e);
    pages.push_back((i << 12) | 0x18);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(tlb.lookup(pages[i], {}));
    i = (i + 1) % pages.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlbLookupHit);

void BM_TlbMissAndFill(benchmark::State& state) {
  Tlb tlb({}, skylake_dtlb());
  SplitMix64 rng(1);
  for (auto _ : state) {
    const Addr va = rng.below(Addr{1} << 36);
    if (!tlb.lookup(va, {})) {
      TlbEntry e;
      e.physical_base = va & ~Addr{0xfff};
      tlb.insert(va, e);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlbMissAndFill);

void BM_PageWalk4K(benchmark::State& state) {
  PhysicalMemory memory(Addr{1} << 32);
  FrameAllocator frames(Addr{1} << 20, Addr{1} << 32);
  PageTableBuilder builder(memory, frames);
  const Addr root = builder.new_root();
  const Addr footprint = Addr{64} << 20;
  for (Addr va = 0; va < footprint; va += kPageSize4K) builder.map(root, 0x10000000 + va, frames.allocate(), kPageSize4K);
  PageWalker walker({});
  DirectMemoryPort port(memory, 100);
  SplitMix64 rng(1);
  for (auto _ : state) {
    const Addr va = 0x10000000 + rng.below(footprint);
    benchmark::DoNotOptimize(walker.walk(WalkRequest::linear(root, va, AccessKind::Load, true), port));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PageWalk4K);

void BM_SyntheticGenerator(benchmark::State& state) {
  SyntheticConfig config;
  config.accesses = 1ull << 40;
  SyntheticWorkload workload(config, 1);
  for (auto _ : state) benchmark::DoNotOptimize(workload.next());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SyntheticGenerator);

}  // namespace
}  // namespace virtsim

// libsystemc.so owns main() and calls sc_main(), as in every binary that links SystemC.
int sc_main(int argc, char* argv[]) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
