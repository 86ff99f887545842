#include "virtsim/platform/system.h"

#include <algorithm>
#include <numeric>

#include "virtsim/common/error.h"

namespace virtsim {

DemandPager::DemandPager(const sc_core::sc_module_name& name, const Scope& context, PageTableBuilder& builder,
                         FrameAllocator& frames)
    : sc_core::sc_module(name),
      VIRTSIM_MEMBER(page_size, module_scope(context, *this), "4k", "", "page size the kernel maps on demand", {},
                {"4k", "2m", "1g"}),
      VIRTSIM_MEMBER(fault_cycles, module_scope(context, *this), 2000, "cycles",
                   "kernel time to resolve one demand-paging fault (modelling assumption)", Range{0, 1e9}),
      VIRTSIM_MEMBER(pages_mapped, module_scope(context, *this), "pages", "pages mapped on demand"),
      builder_(builder),
      frames_(frames),
      page_bytes_(page_size.get() == "4k" ? kPageSize4K : page_size.get() == "2m" ? kPageSize2M : kPageSize1G) {}

void DemandPager::add_address_space(Addr cr3, const SyntheticWorkload* workload) { spaces_.emplace_back(cr3, workload); }

bool DemandPager::handle_page_fault(Addr cr3, Addr va, std::uint32_t error_code, Cycles& cost) {
  if (error_code & pf::kPresent) return false;  // a protection fault: nothing to page in
  for (const auto& [root, workload] : spaces_) {
    if (root != cr3 || !workload->contains(va)) continue;
    const Addr page = va & ~(page_bytes_ - 1);
    const Addr frame = frames_.allocate(page_bytes_ / kPageSize4K, page_bytes_);
    builder_.map(root, page, frame, page_bytes_, MappingFlags{true, true, false, false});
    ++pages_mapped;
    cost = fault_cycles;
    return true;
  }
  return false;
}

namespace {
// Sum of get(component) over a vector of owned components.
template <typename Components, typename F>
double total(const Components& components, F get) {
  double sum = 0;
  for (const auto& c : components) sum += static_cast<double>(get(*c));
  return sum;
}
}  // namespace

// The canonical metrics every run has (README, "Canonical metrics"): sums or maxima over the
// per-component statistics, so notebooks and regressions need no component names.
struct System::CanonicalMetrics {
  CanonicalMetrics(const Scope& root, System& s)
      : instructions(root, "sim.instructions", "instructions", "instructions retired by all vCPUs",
                     [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.instructions.count(); }); }),
        cycles(root, "sim.cycles", "cycles", "cycles of the slowest vCPU", [&s] { return double(s.elapsed_cycles()); }),
        ipc(root, "sim.ipc", "instructions/cycle", "sim.instructions / sim.cycles",
            [this] { return ratio(instructions.value(), cycles.value()); }),
        seconds(root, "sim.seconds", "s", "simulated time: sim.cycles / clock frequency",
                [this, &s] { return cycles.value() / (s.clock_ghz.get() * 1e9); }),
        exits_total(root, "exits.total", "exits", "VM exits of all vCPUs (0 when not virtualized)"),
        exits_cycles(root, "exits.cycles", "cycles", "cycles spent in VM exits and their handlers"),
        walk_count(root, "walk.count", "walks", "page walks of all MMUs",
                   [&s] { return total(s.mmus_, [](const MmuModule& m) { return m.walker.walks.count(); }); }),
        walk_refs(root, "walk.refs", "references", "page-table references of all walks",
                  [&s] { return total(s.mmus_, [](const MmuModule& m) { return m.walker.refs.count(); }); }),
        refs_per_walk(root, "walk.refs_per_walk", "references/walk", "walk.refs / walk.count",
                      [this] { return ratio(walk_refs.value(), walk_count.value()); }),
        cycles_per_walk(root, "walk.cycles_per_walk", "cycles/walk", "average walk latency",
                        [this, &s] {
                          return ratio(total(s.mmus_, [](const MmuModule& m) { return m.walker.cycles.count(); }),
                                       walk_count.value());
                        }),
        l1d_accesses(root, "tlb.l1d.accesses", "lookups", "L1 DTLB lookups of all vCPUs",
                     [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.dtlb.accesses.count(); }); }),
        l1d_misses(root, "tlb.l1d.misses", "lookups", "L1 DTLB misses of all vCPUs",
                   [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.dtlb.misses.count(); }); }),
        l1d_miss_rate(root, "tlb.l1d.miss_rate", "ratio", "tlb.l1d.misses / tlb.l1d.accesses",
                      [this] { return ratio(l1d_misses.value(), l1d_accesses.value()); }),
        l1d_mpki(root, "tlb.l1d.mpki", "misses/kilo-instruction", "L1 DTLB misses per 1000 instructions",
                 [this] { return 1000.0 * ratio(l1d_misses.value(), instructions.value()); }),
        mem_accesses(root, "mem.accesses", "accesses", "accesses that reached main memory (data and walks)",
                     [&s] { return double(s.memory_->reads.count() + s.memory_->writes.count()); }) {}

  static double ratio(double a, double b) { return b != 0.0 ? a / b : 0.0; }

  Formula instructions, cycles, ipc, seconds;
  Counter exits_total, exits_cycles;
  Formula walk_count, walk_refs, refs_per_walk, cycles_per_walk;
  Formula l1d_accesses, l1d_misses, l1d_miss_rate, l1d_mpki;
  Formula mem_accesses;
};

System::System(const sc_core::sc_module_name& name, const Scope& context)
    : sc_core::sc_module(name),
      VIRTSIM_MEMBER(cpus, module_scope(context, *this), 1, "vCPUs", "number of vCPUs", Range{1, 64}),
      VIRTSIM_MEMBER(clock_ghz, module_scope(context, *this), 2.0, "GHz", "core clock frequency", Range{0.1, 10.0}),
      VIRTSIM_MEMBER(quantum_cycles, module_scope(context, *this), 10000, "cycles",
                     "global quantum: how far a vCPU may run ahead of SystemC time", Range{1, 1e9}),
      VIRTSIM_MEMBER(seed, context.child("run"), 1, "", "seed of every random choice in the run"),
      VIRTSIM_MEMBER(dump_interval, context.child("stats"), 0, "cycles",
                    "statistics dump period for the timeline (0: only the final row)"),
      workload_parameters(context.child("workload")),
      context_(context),
      clock_(std::make_unique<Clock>(clock_ghz)),
      graph_(make_standard_platform(cpus)) {
  graph_.validate();
  tlm::tlm_global_quantum::instance().set(clock_->delay(quantum_cycles));

  // Instantiate what the graph names, then bind what it connects. The kernel's page tables
  // live in the memory, so those two come first; the first MiB stays free, as on a PC.
  // validate() guarantees exactly one memory; the standard graph has one kernel.
  memory_ = std::make_unique<MemoryModule>(graph_.components_of_type("memory").front()->name.c_str(), context,
                                           *clock_);
  frames_ = std::make_unique<FrameAllocator>(Addr{1} << 20, memory_->memory().size());
  page_tables_ = std::make_unique<PageTableBuilder>(memory_->memory(), *frames_);
  pager_ = std::make_unique<DemandPager>(graph_.components_of_type("kernel").front()->name.c_str(), context,
                                         *page_tables_, *frames_);
  for (const auto* node : graph_.components_of_type("vcpu"))
    vcpus_.push_back(std::make_unique<Vcpu>(node->name.c_str(), context, *clock_));
  for (const auto* node : graph_.components_of_type("mmu"))
    mmus_.push_back(std::make_unique<MmuModule>(node->name.c_str(), context, *clock_));
  auto find_vcpu = [&](const std::string& n) -> Vcpu& {
    for (auto& c : vcpus_) if (c->basename() == n) return *c;
    throw PlatformError("platform: no vCPU '" + n + "'");
  };
  auto find_mmu = [&](const std::string& n) -> MmuModule& {
    for (auto& m : mmus_) if (m->basename() == n) return *m;
    throw PlatformError("platform: no MMU '" + n + "'");
  };
  const auto& g = graph_.graph();
  for (auto e : boost::make_iterator_range(boost::edges(g))) {
    const auto& from = g[boost::source(e, g)];
    const auto& to = g[boost::target(e, g)];
    const auto& edge = g[e];
    if (from.type == "vcpu" && edge.initiator_port == "translate" && to.type == "mmu")
      find_vcpu(from.name).translate.bind(find_mmu(to.name).translate);
    else if (from.type == "vcpu" && edge.initiator_port == "data" && to.type == "memory")
      find_vcpu(from.name).data.bind(memory_->port);
    else if (from.type == "mmu" && edge.initiator_port == "memory" && to.type == "memory")
      find_mmu(from.name).memory.bind(memory_->port);
    else if (from.type == "vcpu" && edge.initiator_port == "fault_handler" && to.type == "kernel")
      find_vcpu(from.name).fault_handler.bind(*pager_);
    else
      throw PlatformError("platform: cannot bind " + from.name + "." + edge.initiator_port + " to " + to.name + "." +
                          edge.target_port);
  }

  // Address spaces: one PML4 and one workload instance per vCPU.
  const SyntheticConfig workload_config = workload_parameters.config();
  for (std::size_t i = 0; i < vcpus_.size(); ++i) {
    SplitMix64 seeds(seed.get() + 0x51ed270b27ull * i);
    workloads_.push_back(std::make_unique<SyntheticWorkload>(workload_config, seeds.next()));
    const Addr root = page_tables_->new_root();
    vcpus_[i]->set_cr3(root);
    vcpus_[i]->set_workload(workloads_[i].get());
    vcpus_[i]->set_roi_begin_action([this] { begin_region_of_interest(); });
    pager_->add_address_space(root, workloads_[i].get());
  }

  canonical_ = std::make_unique<CanonicalMetrics>(Scope{context.params, context.stats, ""}, *this);
  SC_THREAD(control);
  if (dump_interval.get() > 0) SC_THREAD(dump_periodically);
  SC_THREAD(report_progress);
}

System::~System() = default;

Cycles System::elapsed_cycles() const {
  Cycles most = 0;
  for (const auto& c : vcpus_) most = std::max(most, c->local_cycles());
  return most;
}

std::uint64_t System::guest_references() const {
  std::uint64_t n = 0;
  for (const auto& w : workloads_) n += w->accesses_issued();
  return n;
}

void System::begin_region_of_interest() {
  // A barrier: the region of interest starts when the last vCPU reaches it, so every vCPU's
  // statistics cover exactly its own region of interest. The others wait, idle, until then.
  if (++roi_arrivals_ < vcpus_.size()) {
    sc_core::wait(roi_begun_);
    return;
  }
  if (context_.stats) context_.stats->reset_all();
  roi_begun_.notify(sc_core::SC_ZERO_TIME);
}

void System::control() {
  for (auto& c : vcpus_)
    if (!c->finished()) sc_core::wait(c->finished_event());
  if (context_.stats) context_.stats->dump_timeline(elapsed_cycles());
  sc_core::sc_stop();
}

void System::dump_periodically() {
  const sc_core::sc_time interval = clock_->delay(dump_interval);
  for (;;) {
    sc_core::wait(interval);
    if (context_.stats) context_.stats->dump_timeline(elapsed_cycles());
  }
}

void System::report_progress() {
  // Sampled in simulated time; cheap, and silent unless someone asked for it.
  const sc_core::sc_time interval = clock_->delay(std::max<Cycles>(quantum_cycles, 1000000));
  int last_percent = -1;
  for (;;) {
    sc_core::wait(interval);
    if (!progress_action_) continue;
    double done = 0;
    for (const auto& w : workloads_) done += w->progress();
    const double fraction = done / static_cast<double>(workloads_.size());
    const int percent = static_cast<int>(fraction * 100);
    if (percent != last_percent) progress_action_(fraction);
    last_percent = percent;
  }
}

std::vector<std::pair<std::string, std::string>> System::result_links() const {
  if (mmus_.empty()) return {};
  const auto& w = mmus_.front()->walker;
  return {{"walks/refs_per_walk", w.refs_per_walk.name()}, {"walks/walk_cycles", w.walk_cycles.name()}};
}

}  // namespace virtsim
