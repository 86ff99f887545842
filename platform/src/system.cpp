#include "virtsim/platform/system.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "virtsim/common/config.h"
#include "virtsim/common/error.h"

namespace virtsim {

namespace {
// The scopes under system (or system.vmK) of the memory virtualizations' parameters and statistics.
constexpr const char* kStrategyScopes[] = {"nested", "shadow", "bt", "selective", "agile", "trap_emulate", "nested_virt"};

// Sum of get(component) over a vector of owned components.
template <typename Components, typename F>
double total(const Components& components, F get) {
  double sum = 0;
  for (const auto& c : components) sum += static_cast<double>(get(*c));
  return sum;
}

// A VM after the first takes the first one's parameters (those declared from `begin` on named
// `first` or under it) as its own (`to` in place of `first`) wherever the configuration sets
// none of its own.
void inherit_parameters(ParamRegistry& params, std::size_t begin, const std::string& first, const std::string& to) {
  for (std::size_t i = begin; i < params.specs().size(); ++i) {
    const ParamSpec& spec = params.specs()[i];
    if (spec.name != first && spec.name.rfind(first + ".", 0) != 0) continue;
    const std::string key = to + spec.name.substr(first.size());
    if (params.configured_value(key)) continue;
    for (const auto& [name, value] : params.resolved())
      if (name == spec.name)
        params.set_value(key, value, params.source_of(name).value_or(ValueSource{"default of " + name}));
  }
}

// The vCPU counts of VMs 1 ... (system.vmK.cpus, taking system.cpus unless set).
std::vector<std::unique_ptr<Param<std::uint32_t>>> vm_cpu_parameters(const Scope& system,
                                                                     const Param<std::uint32_t>& cpus, unsigned vms) {
  std::vector<std::unique_ptr<Param<std::uint32_t>>> out;
  for (unsigned k = 1; k < vms; ++k) {
    const Scope vm = system.child("vm" + std::to_string(k));
    if (system.params) inherit_parameters(*system.params, 0, cpus.name(), vm.join("cpus"));
    out.push_back(std::make_unique<Param<std::uint32_t>>(vm, "cpus", 1, "vCPUs", "vCPUs of this VM (default: system.cpus)",
                                                         Range{1, 64}));
  }
  return out;
}

Param<std::string> workload_kind_parameter(const Scope& scope) {
  return Param<std::string>(scope, "kind", "synthetic", "",
                            "synthetic (workload.pattern ...), exitbench (workload.exitbench.*), trace "
                            "(workload.trace.path) or a generator: gups, stream, pointer_chase, fork_and_wait, "
                            "syscall_loop, pt_update, io_loop, kernel_build, idle, mix, timeshare (workloads/README.md)",
                            {}, [] {
                              std::vector<std::string> kinds{"synthetic", "exitbench", "trace"};
                              for (const auto& k : generator_kinds()) kinds.push_back(k);
                              return kinds;
                            }());
}

Param<std::string> trace_path_parameter(const Scope& scope) {
  return Param<std::string>(scope, "path", "", "",
                            "trace file every vCPU runs (workload.kind = \"trace\"; see docs/trace-format.md)");
}

Param<std::uint64_t> guest_memory_parameter(const Scope& scope) {
  return Param<std::uint64_t>(scope, "guest_memory_mib", 1024, "MiB",
                              "memory the guest OS runs in: guest-physical memory the hypervisor backs with host frames "
                              "under shadow or nested paging, host memory from address 0 natively",
                              Range{16, 1 << 22});
}
}  // namespace

// The workload and memory of VM K >= 1 (scope system.vmK).
struct System::OwnedGuestSettings {
  explicit OwnedGuestSettings(const Scope& vm)
      : kind(workload_kind_parameter(vm.child("workload"))),
        shape(vm.child("workload")),
        generator(vm.child("workload")),
        exitbench(vm.child("workload").child("exitbench")),
        trace_path(trace_path_parameter(vm.child("workload").child("trace"))),
        memory_mib(guest_memory_parameter(vm)) {}
  Param<std::string> kind;
  SyntheticParameters shape;
  GeneratorParameters generator;
  ExitBenchParameters exitbench;
  Param<std::string> trace_path;
  Param<std::uint64_t> memory_mib;
};

// The canonical metrics every run has (docs/concepts.md, "Canonical metrics"): sums or maxima over the
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
        exits_total(root, "exits.total", "exits", "VM exits of all vCPUs (0 when not virtualized)",
                    [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.exits.count(); }); }),
        exits_per_kilo_instruction(root, "exits.per_kilo_instruction", "exits/kilo-instruction",
                                   "VM exits per 1000 instructions retired",
                                   [this] { return 1000.0 * ratio(exits_total.value(), instructions.value()); }),
        exits_cycles(root, "exits.cycles", "cycles", "cycles spent in VM exits and their handlers",
                     [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.exit_cycles.count(); }); }),
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
                     [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.tlbs.dtlb.accesses.count(); }); }),
        l1d_misses(root, "tlb.l1d.misses", "lookups", "L1 DTLB misses of all vCPUs",
                   [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.tlbs.dtlb.misses.count(); }); }),
        l1d_miss_rate(root, "tlb.l1d.miss_rate", "ratio", "tlb.l1d.misses / tlb.l1d.accesses",
                      [this] { return ratio(l1d_misses.value(), l1d_accesses.value()); }),
        l1d_mpki(root, "tlb.l1d.mpki", "misses/kilo-instruction", "L1 DTLB misses per 1000 instructions",
                 [this] { return 1000.0 * ratio(l1d_misses.value(), instructions.value()); }),
        mem_accesses(root, "mem.accesses", "accesses",
                     "accesses that reached main memory (data and walks): the accesses every cache level missed "
                     "(but the whole lines fast-string stores wrote, which read nothing: "
                     "system.cpuN.string_lines_unfilled), plus the dirty lines the last cache level wrote back",
                     [&s] {
                       return double(s.memory_->reads.count() + s.memory_->writes.count() +
                                     s.last_level_writebacks());
                     }),
        stlb_accesses(root, "tlb.stlb.accesses", "lookups", "second-level TLB lookups of all vCPUs",
                      [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.tlbs.stlb.accesses.count(); }); }),
        stlb_misses(root, "tlb.stlb.misses", "lookups", "second-level TLB misses of all vCPUs (each one a walk)",
                    [&s] { return total(s.vcpus_, [](const Vcpu& c) { return c.tlbs.stlb.misses.count(); }); }),
        walks_2d(root, "walk.two_dimensional", "walks", "walks through nested (EPT/NPT) tables",
                 [&s] { return total(s.mmus_, [](const MmuModule& m) { return m.walker.walks_2d.count(); }); }),
        pwc_hit_rate(root, "walk.pwc_hit_rate", "ratio", "page walk cache hits / lookups, all MMUs",
                     [&s] {
                       return ratio(total(s.mmus_, [](const MmuModule& m) { return m.walker.pwc.hits.count(); }),
                                    total(s.mmus_, [](const MmuModule& m) { return m.walker.pwc.lookups.count(); }));
                     }),
        nested_tlb_hit_rate(root, "walk.nested_tlb_hit_rate", "ratio", "nested TLB hits / lookups, all MMUs",
                            [&s] {
                              return ratio(
                                  total(s.mmus_, [](const MmuModule& m) { return m.walker.nested_tlb.hits.count(); }),
                                  total(s.mmus_, [](const MmuModule& m) { return m.walker.nested_tlb.lookups.count(); }));
                            }),
        llc_misses(root, "cache.llc.misses", "accesses", "last-level cache misses (data and walks)",
                   [&s] { return double(s.llc_->misses.count()); }) {}

  static double ratio(double a, double b) { return b != 0.0 ? a / b : 0.0; }
  std::vector<const Formula*> all() const {
    return {&instructions, &cycles, &ipc, &seconds, &exits_total, &exits_per_kilo_instruction, &exits_cycles,
            &walk_count, &walk_refs, &refs_per_walk, &cycles_per_walk, &l1d_accesses, &l1d_misses, &l1d_miss_rate,
            &l1d_mpki, &mem_accesses, &stlb_accesses, &stlb_misses, &walks_2d, &pwc_hit_rate, &nested_tlb_hit_rate,
            &llc_misses};
  }

  Formula instructions, cycles, ipc, seconds;
  Formula exits_total, exits_per_kilo_instruction, exits_cycles;
  Formula walk_count, walk_refs, refs_per_walk, cycles_per_walk;
  Formula l1d_accesses, l1d_misses, l1d_miss_rate, l1d_mpki;
  Formula mem_accesses;
  Formula stlb_accesses, stlb_misses, walks_2d, pwc_hit_rate, nested_tlb_hit_rate, llc_misses;
};

// Per VM when there are several or they time-share CPUs (system.vmK.*): what its vCPUs did.
struct System::VmStatistics {
  VmStatistics(const Scope& scope, System& s, unsigned vm)
      : instructions(scope, "instructions", "instructions", "instructions this VM's vCPUs retired",
                     [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) {
                                  return t.vcpu(i).instructions.count(); }); }),
        cycles(scope, "cycles", "cycles",
               "cycles this VM's vCPUs ran (their own cycles, plus the VM switches into them)",
               [&s, vm] {
                 return s.sum_vm(vm, [](std::size_t i, const System& t) { return t.vcpu(i).cycles.count(); }) +
                        double(s.scheduler_ ? s.scheduler_->switch_cycles_into_vm(vm) : 0);
               }),
        dtlb_misses(scope, "dtlb_misses", "lookups", "L1 DTLB misses of this VM's vCPUs",
                    [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) {
                                 return t.vcpu(i).tlbs.dtlb.misses.count(); }); }),
        stlb_misses(scope, "stlb_misses", "lookups", "second-level TLB misses of this VM's vCPUs",
                    [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) {
                                 return t.vcpu(i).tlbs.stlb.misses.count(); }); }),
        walks(scope, "walks", "walks", "page walks for this VM's vCPUs",
              [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) {
                           return t.mmu(i).walker.walks.count(); }); }),
        walk_cycles(scope, "walk_cycles", "cycles", "cycles of the page walks for this VM's vCPUs",
                    [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) {
                                 return t.mmu(i).walker.cycles.count(); }); }),
        exits(scope, "exits", "exits", "VM exits of this VM's vCPUs (the exits that end a slice are not counted)",
              [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) { return t.vcpu(i).exits.count(); }); }),
        exit_cycles(scope, "exit_cycles", "cycles", "cycles this VM's vCPUs spent in VM exits and their handlers",
                    [&s, vm] { return s.sum_vm(vm, [](std::size_t i, const System& t) {
                                 return t.vcpu(i).exit_cycles.count(); }); }) {}
  Formula instructions, cycles, dtlb_misses, stlb_misses, walks, walk_cycles, exits, exit_cycles;
};

std::pair<std::size_t, std::size_t> System::vm_vcpus(unsigned vm) const {
  std::size_t first = 0;
  for (unsigned k = 0; k < vm; ++k) first += cpus_per_vm_[k];
  return {first, first + cpus_per_vm_.at(vm)};
}

template <typename F>
double System::sum_vm(unsigned vm, F get) const {
  double sum = 0;
  for (auto [i, end] = vm_vcpus(vm); i < end; ++i) sum += double(get(i, *this));
  return sum;
}

System::System(const sc_core::sc_module_name& name, const Scope& context)
    : sc_core::sc_module(name),
      VIRTSIM_MEMBER(cpus, module_scope(context, *this), 1, "vCPUs", "number of vCPUs", Range{1, 64}),
      VIRTSIM_MEMBER(clock_ghz, module_scope(context, *this), 2.0, "GHz", "core clock frequency", Range{0.1, 10.0}),
      VIRTSIM_MEMBER(quantum_cycles, module_scope(context, *this), 10000, "cycles",
                     "global quantum: how far a vCPU may run ahead of SystemC time", Range{1, 1e9}),
      VIRTSIM_MEMBER(seed, context.child("run"), 1, "", "seed of every random choice in the run"),
      VIRTSIM_MEMBER(dump_interval, context.child("stats"), 0, "cycles",
                    "statistics dump period for the timeline (0: only the final row)"),
      guest_memory_mib(guest_memory_parameter(module_scope(context, *this))),
      VIRTSIM_MEMBER(line_bytes, module_scope(context, *this), 64, "bytes", "cache line size of every cache",
                     Range{16, 512}),
      // Skylake-S L3 as tabulated by AnandTech ("The Intel Skylake-X Review", 2017): 2 MiB per
      // core (8 MiB for four), 16-way, 44 cycles load-to-use, i.e. 33 after the L2's 11.
      llc_parameters(module_scope(context, *this).child("llc"), {8192, 16, 33}, "shared last-level cache"),
      workload_kind(workload_kind_parameter(context.child("workload"))),
      workload_parameters(context.child("workload")),
      generator_parameters(context.child("workload")),
      exitbench_parameters(context.child("workload").child("exitbench")),
      trace_path(trace_path_parameter(context.child("workload").child("trace"))),
      transition_parameters(module_scope(context, *this).child("vmx")),
      cpu_features(module_scope(context, *this).child("features")),
      hypervisor_parameters(module_scope(context, *this).child("hypervisor")),
      VIRTSIM_MEMBER(vms, module_scope(context, *this), 1, "VMs",
                     "guests on the host, each with its own vCPUs, guest OS, workload, guest memory and memory "
                     "virtualization (the first as system.cpus, system.kernel.*, workload.* and "
                     "system.guest_memory_mib say; VM K as system.vmK.cpus, system.kernelK.*, system.vmK.workload.* "
                     "and system.vmK.guest_memory_mib, each the first VM's unless set); more than one needs VT-x or "
                     "AMD-V",
                     Range{1, 64}),
      VIRTSIM_MEMBER(pcpus, module_scope(context, *this), 0, "CPUs",
                     "physical CPUs the hypervisor schedules the vCPUs on in time slices (system.scheduler.*); "
                     "0: every vCPU has a CPU of its own",
                     Range{0, 64}),
      scheduler_parameters(module_scope(context, *this).child("scheduler")),
      vm_cpus(vm_cpu_parameters(module_scope(context, *this), cpus, vms)),
      sampling_parameters(context.child("sampling")),
      checkpoint_parameters(context.child("checkpoint")),
      context_(context),
      clock_(std::make_unique<Clock>(clock_ghz)),
      cpus_per_vm_([this] {
        std::vector<unsigned> n{cpus.get()};
        for (const auto& c : vm_cpus) n.push_back(c->get());
        return n;
      }()),
      graph_(make_standard_platform(cpus_per_vm_, transition_parameters.enabled(), pcpus)),
      memory_virtualization_parameters(
          module_scope(context, *this),
          module_scope(context, *this).join(graph_.components_of_type("kernel").front()->name + ".paravirt_mmu")) {
  graph_.validate();
  if (vms > 1 && !transition_parameters.enabled())
    throw ConfigError(vms.name() + " = " + std::to_string(vms.get()) +
                      ": several VMs need a hypervisor; set system.vmx.mode to \"vmx\" or \"svm\"");
  cpu_features.check(transition_parameters, memory_virtualization_parameters.nested.paging);
  guest_settings_.push_back({&workload_kind, &workload_parameters, &generator_parameters, &exitbench_parameters,
                             &trace_path, &guest_memory_mib});
  for (unsigned k = 1; k < vms; ++k) {
    const Scope vm = module_scope(context, *this).child("vm" + std::to_string(k));
    if (context.params) {
      inherit_parameters(*context.params, 0, context.child("workload").path, vm.join("workload"));
      inherit_parameters(*context.params, 0, guest_memory_mib.name(), vm.join("guest_memory_mib"));
    }
    owned_guest_settings_.push_back(std::make_unique<OwnedGuestSettings>(vm));
    const OwnedGuestSettings& o = *owned_guest_settings_.back();
    guest_settings_.push_back({&o.kind, &o.shape, &o.generator, &o.exitbench, &o.trace_path, &o.memory_mib});
  }
  tlm::tlm_global_quantum::instance().set(clock_->delay(quantum_cycles));

  // Instantiate what the graph names, then bind what it connects. The kernel's page tables
  // live in the memory, so those two come first; the first MiB stays free, as on a PC.
  // validate() guarantees exactly one memory; the standard graph has one kernel.
  memory_ = std::make_unique<MemoryModule>(graph_.components_of_type("memory").front()->name.c_str(), context,
                                           *clock_);
  // The memory virtualization the configuration names, from the registry; it checks the
  // configuration against itself (throwing ConfigError) as it is made.
  // Each VM has its own (the hypervisor's flushes reach that VM's vCPUs).
  // VM K >= 1 runs the first VM's strategy with its parameters unless system.vmK.memory_virtualization
  // names a variant of its own: then the variant's settings go under system.vmK (the
  // kernel's paravirtual MMU switch under system.kernelK) and every other key of every
  // strategy takes the first VM's value unless set.
  std::vector<MemoryVirtualizationParameters*> vm_parameters{&memory_virtualization_parameters};
  const Scope system = module_scope(context, *this);
  for (unsigned k = 1; k < vms; ++k) {
    const Scope vm = system.child("vm" + std::to_string(k));
    vm_memory_virtualization.push_back(std::make_unique<Param<std::string>>(
        vm, "memory_virtualization", "", "",
        "this VM's memory virtualization, a variant as experiment.compare names it; empty: the first VM's "
        "strategy with its parameters",
        Range{}, [] {
          std::vector<std::string> choices{""};
          for (auto& v : memory_virtualization_variants()) choices.push_back(v);
          return choices;
        }()));
    const std::string& variant = vm_memory_virtualization.back()->get();
    if (variant.empty() || !context.params) {
      vm_parameters.push_back(&memory_virtualization_parameters);
      continue;
    }
    CompareContext host{transition_parameters.virt_mode() == VirtMode::Svm ? "svm" : "vmx",
                        memory_virtualization_parameters.nested.paging.get()};
    if (host.nested == "none") host.nested = host.virt == "svm" ? "npt4" : "ept4";
    const std::string kernel_key = system.join(kernel_name(k) + ".paravirt_mmu");
    const std::vector<std::string> settings = *variant_settings(variant, host);
    for (const std::string& line : settings) {
      const std::string key = line.substr(0, line.find('='));
      if (key.rfind(system.join("vmx."), 0) == 0) continue;  // the host's VT-x / AMD-V, the same for every VM
      const std::string own = key == system.join("kernel.paravirt_mmu")
                                  ? kernel_key
                                  : vm.join(key.substr(system.path.size() + 1));
      if (!context.params->configured_value(own)) apply_set_option(own + line.substr(key.size()), *context.params);
    }
    for (const char* strategy : kStrategyScopes)
      inherit_parameters(*context.params, 0, system.join(strategy), vm.join(strategy));
    own_memory_virtualization_parameters_.push_back(std::make_unique<MemoryVirtualizationParameters>(vm, kernel_key));
    vm_parameters.push_back(own_memory_virtualization_parameters_.back().get());
    cpu_features.check(transition_parameters, vm_parameters.back()->nested.paging);
  }
  for (unsigned k = 0; k < vms; ++k) {
    const MemoryVirtualizationEntry& scheme = configured_memory_virtualization(*vm_parameters[k]);
    memory_virtualization_names_.push_back(scheme.name);
    auto each_vcpu = [this, k](auto&& f) {
      for (auto [i, end] = vm_vcpus(k); i < std::min(vcpus_.size(), end); ++i) f(*vcpus_[i]);
    };
    // Statistics of VM K >= 1's strategy go under system.vmK (the first VM's where they were).
    const MemoryVirtualizationSetup setup{
        k == 0 ? module_scope(context, *this) : module_scope(context, *this).child("vm" + std::to_string(k)),
        *vm_parameters[k],
        transition_parameters,
        hypervisor_parameters,
        *guest_settings_[k].memory_mib,
        memory_->memory(),
        [each_vcpu](Addr va) { each_vcpu([va](Vcpu& c) { c.flush_translation(va); }); },
        [each_vcpu] { each_vcpu([](Vcpu& c) { c.flush_translations(); }); },
        [each_vcpu] { each_vcpu([](Vcpu& c) { c.flush_nested_translations(); }); }};
    memory_virtualizations_.push_back(scheme.make(setup));
  }
  MemoryVirtualization& first_guest = *memory_virtualizations_.front();
  // The guest OS runs in guest_memory_mib of memory under every scheme, so a run's
  // guest-physical layout (and with it the guest's page tables) is the same natively and
  // virtualized. Natively that memory is host memory from address 0, and host-side structures
  // (the VT-x / AMD-V units' data) come from above it; virtualized, the hypervisor backs it
  // with host frames. Natively the guest OS has at most the host's memory.
  const bool backed = first_guest.backs_guest_memory();
  // Natively the guest OS has at most the host's memory.
  auto guest_bytes_of = [&](unsigned k) {
    const Addr mib = guest_settings_[k].memory_mib->get();
    return backed ? mib << 20 : std::min(mib << 20, memory_->memory().size());
  };
  if (vms > 1 && !backed)
    throw ConfigError(vms.name() + " = " + std::to_string(vms.get()) + ": several VMs need memory virtualization that "
                      "backs each guest's memory (system.nested.paging, shadow, ...), not \"" +
                      memory_virtualization_names_.front() + "\"");
  for (unsigned k = 1; k < vms; ++k)
    if (!memory_virtualizations_[k]->backs_guest_memory())
      throw ConfigError(system.join("vm" + std::to_string(k) + ".memory_virtualization") + " = \"" +
                        vm_memory_virtualization[k - 1]->get() + "\": several VMs need memory virtualization that "
                        "backs each guest's memory (nested paging, shadow, ...), not \"" +
                        memory_virtualization_names_[k] + "\"");
  const Addr guest_bytes = guest_bytes_of(0);
  Addr all_guests_bytes = 0;
  for (unsigned k = 0; k < vms; ++k) all_guests_bytes += guest_bytes_of(k);
  if (backed && all_guests_bytes + (Addr{64} << 20) > memory_->memory().size())
    throw ConfigError(guest_memory_mib.name() + " = " + std::to_string(guest_memory_mib.get()) + " MiB" +
                      (vms > 1 ? " with the system.vmK.guest_memory_mib, " + std::to_string(all_guests_bytes >> 20) +
                                     " MiB for " + std::to_string(vms.get()) + " VMs,"
                               : std::string()) +
                      " does not fit in the host's memory (system.memory.size_mib = " +
                      std::to_string(memory_->memory().size() >> 20) + ") with 64 MiB to spare for the hypervisor");
  if (line_bytes & (line_bytes - 1))
    throw_config_conflict(module_scope(context, *this), {"line_bytes"},
                          std::to_string(line_bytes.get()) + " bytes is not a power of two; expected 16, 32, 64, 128, "
                                                             "256 or 512");
  // Host memory: the frames the run takes count towards the budget (a check of the resident
  // set per MiB taken).
  HostMemoryBudget& budget = memory_->host_budget();
  frames_ = std::make_unique<FrameAllocator>(backed ? Addr{1} << 20 : guest_bytes, memory_->memory().size());
  frames_->set_budget(&budget);
  // Where data bytes are kept, a run that must touch more than the budget is refused now,
  // before the guest kernels take their first frames.
  const auto refuse_footprint_beyond_budget = [&] {
    if (memory_->memory().data_bytes() != PhysicalMemory::DataBytes::Kept) return;
    double touched = 0;
    const std::size_t vcpus_total = vm_vcpus(vms - 1).second;
    for (const GuestSettings& g : guest_settings_)
      if (g.kind->get() != "trace" && g.kind->get() != "exitbench")
        touched += double(cpus_per_vm_[&g - guest_settings_.data()]) * double(g.shape->footprint_kib.get()) * 1024.0;
    if (touched > double(budget.bytes()))
      throw ConfigError(workload_parameters.footprint_kib.name() + " = " +
                        std::to_string(workload_parameters.footprint_kib.get()) + " KiB on " +
                        std::to_string(vcpus_total) + " vCPU(s) is more host memory than " + budget.describe() +
                        " with " + memory_->byte_exact_data.name() + " on: lower the footprint or raise the budget");
  };
  refuse_footprint_beyond_budget();
  std::vector<MemoryView> guest_views;
  for (unsigned k = 0; k < vms; ++k) {
    guest_frames_.push_back(std::make_unique<FrameAllocator>(Addr{1} << 20, guest_bytes_of(k)));
    guest_frames_.back()->set_budget(&budget);
    guest_views.push_back(memory_virtualizations_[k]->map_guest_memory(*frames_, guest_bytes_of(k)));
  }
  for (const auto* node : graph_.components_of_type("vcpu"))
    vcpus_.push_back(std::make_unique<Vcpu>(node->name.c_str(), context, *clock_));
  // CR4.PCIDE is the vCPUs' parameter; the kernel hands out PCIDs when it is on. The kernels of
  // VMs 1 ... take the first one's parameters unless the configuration sets their own.
  const std::size_t kernel_specs_begin = context.params ? context.params->specs().size() : 0;
  for (unsigned k = 0; k < vms; ++k) {
    if (k > 0 && context.params)
      inherit_parameters(*context.params, kernel_specs_begin, kernels_.front()->name(),
                         std::string(this->name()) + "." + kernel_name(k));
    kernels_.push_back(std::make_unique<GuestKernel>(kernel_name(k).c_str(), context, std::move(guest_views[k]),
                                                     *guest_frames_[k], vcpus_[vm_vcpus(k).first]->pcide.get()));
    const GuestKernel& kernel = *kernels_.back();
    memory_virtualizations_[k]->attach_guest(
        {kernel.os.format(), kernel.parameters.paging.name() + " = \"" + kernel.parameters.paging.get() + "\""},
        *frames_);
  }
  // The state digest hashes the user pages' bytes, so it keeps data bytes.
  bool digest = false;
  for (const auto& kernel : kernels_) digest = digest || kernel->parameters.state_digest;
  if (digest && memory_->memory().data_bytes() != PhysicalMemory::DataBytes::Kept) {
    memory_->memory().keep_data_bytes();
    refuse_footprint_beyond_budget();
  }
  for (const auto* node : graph_.components_of_type("mmu"))
    mmus_.push_back(std::make_unique<MmuModule>(node->name.c_str(), context, *clock_));
  llc_ = std::make_unique<Cache>(module_scope(context, *this).child("llc"), llc_parameters.config(line_bytes, seed + 77));
  for (const auto* node : graph_.components_of_type("cache"))
    caches_.push_back(std::make_unique<CacheModule>(node->name.c_str(), context, *clock_, *llc_, line_bytes,
                                                    seed + 100 + caches_.size()));
  // VPIDs are numbered over the whole host, as KVM allocates them.
  // Each takes its VM's strategy's page-fault exits and paravirtual calls.
  std::uint16_t vpid = 0;
  for (const auto* node : graph_.components_of_type("virt")) {
    unsigned vm = 0;
    while (virts_.size() >= vm_vcpus(vm).second) ++vm;
    const MemoryVirtualization& guest = *memory_virtualizations_[vm];
    virts_.push_back(std::make_unique<VirtualizationUnit>(node->name.c_str(), context, *clock_,
                                                          transition_parameters, hypervisor_parameters, ++vpid,
                                                          guest.shadow_page_faults(), guest.paravirtual()));
  }
  for (unsigned k = 0; k < vms && !virts_.empty(); ++k) {
    std::vector<VirtualizationUnit*> units;
    for (auto [i, end] = vm_vcpus(k); i < end; ++i) units.push_back(virts_[i].get());
    memory_virtualizations_[k]->attach_virtualization_units(units);
  }
  // Each vCPU's hypervisor data (64 KiB) in host memory, for the exit handlers' loads.
  for (auto& v : virts_)
    v->set_hypervisor_memory(frames_->allocate(HypervisorMemoryLayout::kBytes / kPageSize4K), HypervisorMemoryLayout::kBytes);
  // The host's L1D flush pages (one buffer, as KVM's vmx_l1d_flush_pages), only when flushing.
  if (hypervisor_parameters.l1d_flush_on() && !virts_.empty()) {
    const Addr flush = frames_->allocate(MitigationSequences::kL1dFlushBytes / kPageSize4K);
    const unsigned in_flight = vcpus_.empty() ? 1 : vcpus_.front()->string_lines_in_flight.get();
    for (auto& v : virts_) v->set_l1d_flush_buffer(flush, in_flight);
  }
  auto find_virt = [&](const std::string& n) -> VirtualizationUnit& {
    for (auto& v : virts_) if (v->basename() == n) return *v;
    throw PlatformError("platform: no virtualization unit '" + n + "'");
  };
  auto find_cache = [&](const std::string& n) -> CacheModule& {
    for (auto& c : caches_) if (c->basename() == n) return *c;
    throw PlatformError("platform: no cache '" + n + "'");
  };
  auto find_vcpu = [&](const std::string& n) -> Vcpu& {
    for (auto& c : vcpus_) if (c->basename() == n) return *c;
    throw PlatformError("platform: no vCPU '" + n + "'");
  };
  auto find_mmu = [&](const std::string& n) -> MmuModule& {
    for (auto& m : mmus_) if (m->basename() == n) return *m;
    throw PlatformError("platform: no MMU '" + n + "'");
  };
  auto find_kernel = [&](const std::string& n) -> GuestKernel& {
    for (auto& k : kernels_) if (k->basename() == n) return *k;
    throw PlatformError("platform: no kernel '" + n + "'");
  };
  const auto& g = graph_.graph();
  std::map<CacheModule*, std::vector<Vcpu*>> vcpus_of_cache;  // whose data accesses each cache serves
  for (auto e : boost::make_iterator_range(boost::edges(g))) {
    const auto& from = g[boost::source(e, g)];
    const auto& to = g[boost::target(e, g)];
    const auto& edge = g[e];
    if (from.type == "vcpu" && edge.initiator_port == "translate" && to.type == "mmu") {
      find_vcpu(from.name).translate.bind(find_mmu(to.name).translate);
      find_vcpu(from.name).translate.connect(find_mmu(to.name));
    } else if (from.type == "vcpu" && edge.initiator_port == "walk_caches" && to.type == "mmu")
      find_vcpu(from.name).walk_caches.bind(find_mmu(to.name));
    // Each socket binding of a vCPU's or an MMU's port comes with the direct connection to the
    // target's port: the same requests without a transaction each (tlm_ports.h).
    else if (from.type == "vcpu" && edge.initiator_port == "data" && to.type == "memory") {
      find_vcpu(from.name).data.bind(memory_->port);
      find_vcpu(from.name).data.connect(*memory_);
    } else if (from.type == "mmu" && edge.initiator_port == "memory" && to.type == "memory") {
      find_mmu(from.name).memory.bind(memory_->port);
      find_mmu(from.name).memory.connect(*memory_);
    }
    else if ((from.type == "vcpu" || from.type == "mmu" || from.type == "virt") && to.type == "cache") {
      CacheModule& cache = find_cache(to.name);
      // multi_passthrough sockets number their bindings in order; remember who each one is.
      cache.set_requester(static_cast<unsigned>(cache.cpu_side.size()),
                          from.type == "mmu" ? Requester::Walk : Requester::Data);
      if (from.type == "vcpu") {
        find_vcpu(from.name).data.bind(cache.cpu_side);
        find_vcpu(from.name).data.connect(cache.data_port());
        vcpus_of_cache[&cache].push_back(&find_vcpu(from.name));
      } else if (from.type == "mmu") {
        find_mmu(from.name).memory.bind(cache.cpu_side);
        find_mmu(from.name).memory.connect(cache.walk_port());
      } else {
        find_virt(from.name).memory.bind(cache.cpu_side);
        find_virt(from.name).memory.connect(cache.data_port());
      }
    } else if (from.type == "cache" && to.type == "memory") {
      find_cache(from.name).memory_side.bind(memory_->port);
      find_cache(from.name).memory_side.connect(*memory_);
    }
    else if (from.type == "vcpu" && edge.initiator_port == "fault_handler" && to.type == "kernel")
      find_vcpu(from.name).fault_handler.bind(find_kernel(to.name));
    else if (from.type == "vcpu" && edge.initiator_port == "virtualization" && to.type == "virt") {
      find_vcpu(from.name).virtualization.bind(find_virt(to.name));
      find_vcpu(from.name).set_vpid(find_virt(to.name).tlb_tag());  // the guest's TLB entries carry it
      find_vcpu(from.name).set_asid_flushes(transition_parameters.virt_mode() == VirtMode::Svm);
    }
    else
      throw PlatformError("platform: cannot bind " + from.name + "." + edge.initiator_port + " to " + to.name + "." +
                          edge.target_port);
  }
  // Functional mode's memo of each set's most recent line needs the first private level's
  // shape (a shared first level, the last-level cache or an L1D two vCPUs use, gets none).
  for (const auto& [cache, vcpus] : vcpus_of_cache) {
    const Cache* first = cache->l1d.enabled() ? &cache->l1d : cache->l2.enabled() ? &cache->l2 : nullptr;
    const bool own = first && vcpus.size() == 1;
    const CacheConfig& c = first ? first->config() : cache->l1d.config();
    for (Vcpu* v : vcpus)
      v->set_first_cache_level(c.line_bytes, own ? std::size_t{c.size_kib} * 1024 / (std::size_t{c.ways} * c.line_bytes) : 0);
  }

  // What each vCPU runs: a process record stream for the guest OS model, which gives the vCPU
  // its guest events and its first address space.
  const bool bench = workload_kind.get() == "exitbench";
  if (pcpus > 0)
    scheduler_ = std::make_unique<VcpuScheduler>(module_scope(context, *this), scheduler_parameters,
                                                 transition_parameters, *clock_, pcpus);
  bool every_source_generated = true;
  for (std::size_t i = 0; i < vcpus_.size(); ++i) {
    // vCPU i is vCPU `local` of VM `vm`: its guest OS and memory virtualization know it by `local`.
    unsigned vm = 0;
    while (i >= vm_vcpus(vm).second) ++vm;
    const auto local = static_cast<unsigned>(i - vm_vcpus(vm).first);
    GuestOs& os = kernels_[vm]->os;
    MemoryVirtualization& guest = *memory_virtualizations_[vm];
    const GuestSettings& settings = guest_settings_[vm];
    const SyntheticConfig workload_config = settings.shape->config();
    const Param<std::string>& trace_file = *settings.trace_path;
    SplitMix64 seeds(seed.get() + 0x51ed270b27ull * i);
    const std::string& kind = settings.kind->get();
    if (kind == "exitbench") {
      ExitBenchConfig config = settings.exitbench->config();
      config.paravirtual = guest.paravirtual();
      benchmarks_.push_back(std::make_unique<ExitMicrobenchmark>(config));
      ExitMicrobenchmark* b = benchmarks_.back().get();
      sources_.push_back(
          std::make_unique<EventSourceRecords>(*b, 0, 0, [b] { return b->progress(); }, b->in_kernel()));
    } else if (kind == "trace") {
      if (trace_file.get().empty()) throw ConfigError(trace_file.name() + " is empty: name the trace file to run");
      if (std::error_code missing; !std::filesystem::exists(trace_file.get(), missing)) {
        // The large traces of the capture suite are made on each machine, never committed.
        const std::string stem = std::filesystem::path(trace_file.get()).stem().string();
        throw ConfigError(trace_file.name() + ": " + trace_file.get() + " does not exist (if it is a trace of the capture suite, " +
                          "workloads/capture/capture-suite " + stem + " makes it: docs/workloads.md)");
      }
      auto trace = std::make_unique<TraceRecordSource>(trace_file.get());
      if (!trace->warning().empty() && input_warnings_.empty()) input_warnings_.push_back(trace->warning());
      sources_.push_back(std::move(trace));
    } else if (kind == "synthetic") {
      workloads_.push_back(std::make_unique<SyntheticWorkload>(workload_config, seeds.next()));
      SyntheticWorkload* w = workloads_.back().get();
      sources_.push_back(std::make_unique<EventSourceRecords>(*w, workload_config.base, workload_config.footprint_bytes,
                                                              [w] { return w->progress(); }));
    } else {
      GeneratorContext c;
      c.shape = workload_config;
      c.operations = settings.generator->operations;
      c.seed = seeds.next();
      c.thread = settings.generator->threads ? local : 0;
      c.parameters = settings.generator;
      sources_.push_back(std::make_unique<GeneratedWorkload>(kind, c));
    }
    if (kind == "exitbench" || kind == "trace" || kind == "synthetic") every_source_generated = false;
    vcpus_[i]->set_cpu_id(local);
    vcpus_[i]->set_vm(vm);
    vcpus_[i]->set_paging(os.add_cpu(*sources_.back(), settings.generator->threads));
    vcpus_[i]->set_memory_virtualization(guest.vcpu_view(local));
    vcpus_[i]->set_workload(&os.events(local));
    vcpus_[i]->set_cr3_load_action([&os](PagingControls& c) { os.load_cr3(c); });
    if (GuestInstructionHandler* handler = guest.instruction_handler(local)) vcpus_[i]->virtualization.bind(*handler);
    vcpus_[i]->set_roi_begin_action([this, i] { begin_region_of_interest(i); });
    if (scheduler_) {
      scheduler_->add(*vcpus_[i], *mmus_[i], vm);
      vcpus_[i]->set_schedule_action([this, i](bool done) { scheduler_->schedule_point(i, done); });
    }
  }
  // A generator's warm-up always ends in a region of interest, whose start drops the timeline
  // rows made before it: such runs make none meanwhile.
  timeline_waits_for_roi_ = every_source_generated && !vcpus_.empty();

  // What each guest kernel learnt of its processor state goes into its final-state digest.
  for (unsigned k = 0; k < vms; ++k)
    kernels_[k]->os.set_cpu_state_digest([this, k] {
      std::uint64_t h = 0;
      for (auto [i, end] = vm_vcpus(k); i < end; ++i)
        h = h * 0x100000001b3ull + vcpus_[i]->guest_view().digest();
      return h;
    });
  canonical_ = std::make_unique<CanonicalMetrics>(Scope{context.params, context.stats, ""}, *this);
  if (vms > 1 || scheduler_)
    for (unsigned k = 0; k < vms; ++k)
      vm_statistics_.push_back(std::make_unique<VmStatistics>(module_scope(context, *this).child("vm" + std::to_string(k)),
                                                              *this, k));
  if (bench)
    cycles_per_operation_ = std::make_unique<Formula>(
        Scope{context.params, context.stats, "workload"}, "cycles_per_operation", "cycles/operation",
        "exit microbenchmark: cycles of the slowest vCPU's region of interest per operation", [this] {
          const double ops = static_cast<double>(benchmarks_.front()->operations());
          return ops > 0 ? static_cast<double>(elapsed_cycles()) / ops : 0.0;
        });
  if (sampling_parameters.enabled || sampling_parameters.fast_forward) start_sampling();
  check_checkpoint_support();
  if (!checkpoint_parameters.load.get().empty()) load_checkpoint();
  SC_THREAD(control);
  if (dump_interval.get() > 0) SC_THREAD(dump_periodically);
  SC_THREAD(report_progress);
}

System::~System() = default;

const ShadowPageTables* System::shadow_tables() const {
  const auto* shadow = dynamic_cast<const ShadowPaging*>(memory_virtualizations_.front().get());
  return shadow ? shadow->tables() : nullptr;
}

Cycles System::elapsed_cycles() const {
  // Time-shared CPUs: the time since the region of interest began (a vCPU's own cycles leave
  // out the turns of the others).
  if (scheduler_) return clock_->cycles(sc_core::sc_time_stamp()) - roi_begin_cycles_;
  Cycles most = 0;
  for (const auto& c : vcpus_) most = std::max(most, c->local_cycles());
  return most;
}

std::vector<ExitRecord> System::exit_records() const {
  std::vector<ExitRecord> out;
  if (virts_.empty()) return out;
  const auto& reasons = virts_.front()->reasons();
  const std::string mode = to_string(transition_parameters.virt_mode());
  const auto& handlings = VirtualizationUnit::page_fault_handlings();
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    std::uint64_t count = 0, cycles = 0;
    for (const auto& v : virts_) {
      count += v->exits_by_reason.at(i);
      cycles += v->cycles_by_reason.at(i);
    }
    // #PF exits get a row per way the hypervisor handled them, named "<reason> (#PF: <how>)";
    // the reason's own row keeps any other exceptions.
    if (reasons[i].code == virts_.front()->page_fault_exit_code()) {
      for (std::size_t h = 0; h < handlings.size(); ++h) {
        std::uint64_t handled = 0, handled_cycles = 0;
        for (const auto& v : virts_) {
          handled += v->page_fault_exits_by_handling.at(h);
          handled_cycles += v->page_fault_cycles_by_handling.at(h);
        }
        if (handled)
          out.push_back(
              {mode, reasons[i].code, reasons[i].name + " (#PF: " + handlings[h] + ")", handled, handled_cycles});
        count -= handled;
        cycles -= handled_cycles;
      }
    }
    if (count) out.push_back({mode, reasons[i].code, reasons[i].name, count, cycles});
  }
  return out;
}

std::uint64_t System::last_level_writebacks() const {
  if (llc_->enabled()) return llc_->writebacks.count();
  std::uint64_t n = 0;
  for (const auto& c : caches_) n += (c->l2.enabled() ? c->l2 : c->l1d).writebacks.count();
  return n;
}

std::uint64_t System::guest_references() const {
  std::uint64_t n = 0;
  for (const auto& k : kernels_) n += k->os.memory_references();
  return n - references_before_checkpoint_;
}

void System::begin_region_of_interest(std::size_t vcpu) {
  // A barrier: the region of interest starts when the last vCPU reaches it, so every vCPU's
  // statistics cover exactly its own region of interest. The others wait, idle, until then
  // (time-shared, on no CPU: the others on theirs run meanwhile).
  if (++roi_arrivals_ < vcpus_.size()) {
    if (scheduler_) scheduler_->leave(vcpu);
    sc_core::wait(roi_begun_);
    if (scheduler_) scheduler_->rejoin(vcpu);
    return;
  }
  if (context_.stats) context_.stats->reset_all();
  timeline_waits_for_roi_ = false;
  roi_begin_cycles_ = clock_->cycles(sc_core::sc_time_stamp());
  if (sampling_) sampling_->statistics_reset();
  roi_begun_.notify(sc_core::SC_ZERO_TIME);
  roi_leader_ = vcpu;
  if (!checkpoint_parameters.save.get().empty()) save_checkpoint();
}

double System::detailed_references() const {
  return total(vcpus_, [](const Vcpu& c) { return c.loads.count() + c.stores.count() + c.fetches.count(); });
}

std::vector<SamplingController::Metric> System::sampled_metrics() {
  std::vector<SamplingController::Metric> metrics;
  for (const Formula* f : canonical_->all()) metrics.push_back({f->name(), f->unit(), [f] { return f->value(); }});
  // The two the sampling is checked on (docs/sampling.md): ratios to the window's references.
  const auto references = [this] { return detailed_references(); };
  metrics.push_back({"cycles_per_reference", "cycles/reference", [this] { return double(elapsed_cycles()); },
                     references});
  metrics.push_back({"walk_cycles_per_reference", "cycles/reference",
                     [this] { return total(mmus_, [](const MmuModule& m) { return m.walker.cycles.count(); }); },
                     references});
  return metrics;
}

void System::start_sampling() {
  if (sampling_parameters.enabled && context_.stats) {
    sampling_ = std::make_unique<SamplingController>(sampling_parameters.plan(), *context_.stats, sampled_metrics(),
                                                     [this](bool functional) {
                                                       for (auto& c : vcpus_) c->set_functional(functional);
                                                     });
    sampling_results_ = std::make_unique<SamplingResults>(Scope{context_.params, context_.stats, ""}, *sampling_);
  }
  std::uint64_t first_phase = ~std::uint64_t{0};
  if (sampling_parameters.fast_forward) {
    fast_forwarding_ = true;
    for (auto& c : vcpus_) c->set_functional(true);
    first_phase = sampling_parameters.fast_forward;
  } else if (sampling_) {
    first_phase = sampling_->start();
  }
  // The first vCPU's references set the pace; all vCPUs switch together.
  vcpus_.front()->set_reference_countdown(first_phase, [this] { return next_sampling_phase(); });
}

std::uint64_t System::next_sampling_phase() {
  if (fast_forwarding_) {
    // The fast-forward ends: what follows is measured from zero, as from a region of interest.
    fast_forwarding_ = false;
    for (auto& c : vcpus_) c->set_functional(false);
    if (context_.stats) context_.stats->reset_all();
    return sampling_ ? sampling_->start() : ~std::uint64_t{0};
  }
  return sampling_->next_phase();
}

void System::control() {
  for (auto& c : vcpus_)
    if (!c->finished()) sc_core::wait(c->finished_event());
  if (!checkpoint_parameters.save.get().empty() && !checkpoint_written_)
    throw CheckpointError(checkpoint_parameters.save.name() + " = \"" + checkpoint_parameters.save.get() +
                          "\": the workload ended without a region of interest, so no checkpoint was written");
  if (sampling_results_) {
    sampling_->finish(vcpus_.front()->references_left());
    sampling_results_->publish();
  }
  if (context_.stats) context_.stats->dump_timeline(elapsed_cycles());
  sc_core::sc_stop();
}

void System::record_final_statistics() {
  if (sampling_results_) {
    sampling_->finish(vcpus_.front()->references_left());
    sampling_results_->publish();
  }
  if (context_.stats) context_.stats->dump_timeline(elapsed_cycles());
}

void System::dump_periodically() {
  const sc_core::sc_time interval = clock_->delay(dump_interval);
  for (;;) {
    sc_core::wait(interval);
    if (context_.stats && !timeline_waits_for_roi_) context_.stats->dump_timeline(elapsed_cycles());
  }
}

void System::report_progress() {
  // Sampled in simulated time; cheap, and silent unless someone asked for it.
  const sc_core::sc_time interval = clock_->delay(std::max<Cycles>(quantum_cycles, 1000000));
  int last_percent = -1;
  for (;;) {
    sc_core::wait(interval);
    if (!progress_action_) continue;
    double fraction = 0;  // the VMs' mean
    for (const auto& k : kernels_) fraction += k->os.progress() / double(kernels_.size());
    if (fraction < 0) continue;  // traces do not know their length
    const int percent = static_cast<int>(fraction * 100);
    if (percent != last_percent) progress_action_(fraction);
    last_percent = percent;
  }
}

std::vector<RunRecord::Vm> System::result_vms() const {
  std::vector<RunRecord::Vm> out;
  if (vm_statistics_.empty()) return out;
  const std::string system = std::string(name()) + ".";
  for (unsigned k = 0; k < vms; ++k) {
    RunRecord::Vm vm{memory_virtualization_names_[k], {{system + "vm" + std::to_string(k) + ".", ""}}};
    // The first VM's strategy keeps its statistics where a single VM's are.
    if (k == 0)
      for (const std::string strategy : kStrategyScopes)
        vm.statistics.emplace_back(system + strategy + ".", strategy + ".");
    out.push_back(std::move(vm));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> System::result_links() const {
  if (mmus_.empty()) return {};
  const auto& w = mmus_.front()->walker;
  return {{"walks/refs_per_walk", w.refs_per_walk.name()}, {"walks/walk_cycles", w.walk_cycles.name()},
          {"walks/ref_grid", w.grid_refs.name()},           {"walks/ref_grid_cache_hits", w.grid_cache_hits.name()},
          {"walks/ref_grid_l1", w.grid_l1_hits.name()},     {"walks/ref_grid_l2", w.grid_l2_hits.name()},
          {"walks/ref_grid_llc", w.grid_llc_hits.name()},   {"walks/ref_grid_dram", w.grid_dram.name()}};
}

}  // namespace virtsim
