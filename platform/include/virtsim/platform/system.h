#pragma once
// The top of the SystemC hierarchy ("system"): reads the platform parameters, builds and
// validates the platform graph, instantiates and binds the modules it names, sets up each
// vCPU's address space and workload, and ends the simulation when every vCPU is done.
#include <functional>
#include <memory>
#include <systemc>
#include <vector>

#include "virtsim/common/clock.h"
#include "virtsim/common/results.h"
#include "virtsim/common/stats.h"
#include "virtsim/cpu/vcpu.h"
#include "virtsim/hypervisor/registry.h"
#include "virtsim/hypervisor/shadow/shadow_paging.h"
#include "virtsim/memory/cache_module.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"
#include "virtsim/paging/paging.h"
#include "virtsim/platform/checkpoint.h"
#include "virtsim/platform/platform_graph.h"
#include "virtsim/platform/vcpu_scheduler.h"
#include "virtsim/sampling/sampling.h"
#include "virtsim/vmx/cpu_features.h"
#include "virtsim/vmx/virtualization_unit.h"
#include "virtsim/workloads/exit_microbench.h"
#include "virtsim/workloads/generators.h"
#include "virtsim/workloads/guest_os.h"
#include "virtsim/workloads/trace.h"
#include "virtsim/workloads/synthetic.h"

namespace virtsim {

class System : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(System);
  // `context` holds the registries, already loaded with the configured values.
  System(const sc_core::sc_module_name& name, const Scope& context);
  ~System() override;

  const PlatformGraph& platform() const { return graph_; }
  const GuestOs& guest_os() const { return kernels_.front()->os; }
  const Clock& clock() const { return *clock_; }
  // Well-known statistics for the result file's walks/ group.
  std::vector<std::pair<std::string, std::string>> result_links() const;
  // Per VM (when there are several or they time-share CPUs; else none): its memory
  // virtualization and where its statistics are, for the result file's vms/ group.
  std::vector<RunRecord::Vm> result_vms() const;
  Cycles elapsed_cycles() const;
  // Guest memory references issued by all workloads, warm-up included (for throughput); a run
  // that started from a checkpoint leaves out the warm-up it did not run.
  std::uint64_t guest_references() const;
  // After a simulation that stopped on an error: the timeline's final row, as control()
  // writes it at a normal end, so a partial result ends with the statistics reached.
  void record_final_statistics();
  // Per exit reason, summed over the vCPUs: the result file's exits table (#PF exits split by
  // how the hypervisor handled them).
  std::vector<ExitRecord> exit_records() const;
  // Warnings about the inputs that are no errors (a trace in an old format), each once.
  const std::vector<std::string>& input_warnings() const { return input_warnings_; }
  // Called now and then during simulation with the share of the workload done (0..1).
  void set_progress_action(std::function<void(double)> action) { progress_action_ = std::move(action); }

  Param<std::uint32_t> cpus;
  Param<double> clock_ghz;
  Param<std::uint64_t> quantum_cycles;
  Param<std::uint64_t> seed;
  Param<std::uint64_t> dump_interval;
  Param<std::uint64_t> guest_memory_mib;
  Param<std::uint32_t> line_bytes;
  CacheParameters llc_parameters;
  Param<std::string> workload_kind;
  SyntheticParameters workload_parameters;
  GeneratorParameters generator_parameters;
  ExitBenchParameters exitbench_parameters;
  Param<std::string> trace_path;
  TransitionParameters transition_parameters;
  CpuFeatures cpu_features;  // what the machine preset's CPU has: checked against the choices above
  HypervisorParameters hypervisor_parameters;
  Param<std::uint32_t> vms;
  Param<std::uint32_t> pcpus;
  SchedulerParameters scheduler_parameters;
  // vCPUs of VM K >= 1 (system.vmK.cpus, system.cpus unless set), at K-1.
  std::vector<std::unique_ptr<Param<std::uint32_t>>> vm_cpus;
  SamplingParameters sampling_parameters;  // sampling.*: SMARTS sampling with functional warming
  CheckpointParameters checkpoint_parameters;  // checkpoint.*: save or start from a checkpoint (checkpoint.h)
  // Guest memory references the vCPUs made in detailed mode (fast-string lines included).
  double detailed_references() const;
  // Memory virtualization of VM K >= 1 (system.vmK.memory_virtualization), at K-1: a variant
  // as experiment.compare names it, or "" for the first VM's strategy and parameters.
  std::vector<std::unique_ptr<Param<std::string>>> vm_memory_virtualization;
  // The first VM's memory virtualization, by its name in the registry (models/hypervisor).
  const std::string& memory_virtualization() const { return memory_virtualization_names_.front(); }
  // VM `vm`'s.
  const std::string& memory_virtualization(unsigned vm) const { return memory_virtualization_names_.at(vm); }
  // Its shadow tables when it keeps some (tests).
  const ShadowPageTables* shadow_tables() const;
  const Vcpu& vcpu(std::size_t i) const { return *vcpus_.at(i); }
  const MmuModule& mmu(std::size_t i) const { return *mmus_.at(i); }
  std::size_t vcpu_count() const { return vcpus_.size(); }
  // The hypervisor's vCPU scheduler when system.pcpus > 0 (else null).
  const VcpuScheduler* scheduler() const { return scheduler_.get(); }

 private:
  void control();
  void dump_periodically();
  void report_progress();
  void begin_region_of_interest(std::size_t vcpu);
  // Checkpoints (system_checkpoint.cpp): what a run that saves or loads one must be (else
  // ConfigError naming the key), the state written at the region of interest, and the state
  // restored in its place before the simulation starts.
  void check_checkpoint_support() const;
  void save_checkpoint();
  void load_checkpoint();
  // The warmed TLBs, walk caches, nested TLB and caches (checkpoint.microarchitecture); loading
  // returns a line per structure that starts cold because its geometry is not the checkpoint's.
  void save_microarchitecture(StateWriter& out) const;
  std::vector<std::string> load_microarchitecture(StateReader& in);
  // The indices of VM `vm`'s vCPUs: [first, second).
  std::pair<std::size_t, std::size_t> vm_vcpus(unsigned vm) const;
  // The sum of get(vCPU index, *this) over VM `vm`'s vCPUs.
  template <typename F>
  double sum_vm(unsigned vm, F get) const;
  // sampling.fast_forward or sampling.enabled: the vCPUs start functional; the first vCPU's
  // references end the fast-forward, then drive the sampling controller's phases.
  void start_sampling();
  std::uint64_t next_sampling_phase();
  // Every canonical metric, and cycles and walk cycles per detailed reference.
  std::vector<SamplingController::Metric> sampled_metrics();
  bool fast_forwarding_ = false;
  // Dirty lines the last enabled cache level evicted: writes that reach main memory.
  std::uint64_t last_level_writebacks() const;

  Scope context_;
  std::unique_ptr<Clock> clock_;
  std::vector<unsigned> cpus_per_vm_;
  PlatformGraph graph_;

 public:
  // Every strategy's parameters (system.nested.*, system.shadow.*, system.bt.*), whichever runs.
  MemoryVirtualizationParameters memory_virtualization_parameters;

 private:
  std::unique_ptr<MemoryModule> memory_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<std::unique_ptr<MmuModule>> mmus_;
  std::unique_ptr<Cache> llc_;
  std::vector<std::unique_ptr<CacheModule>> caches_;
  std::vector<std::unique_ptr<SyntheticWorkload>> workloads_;
  std::vector<std::unique_ptr<ExitMicrobenchmark>> benchmarks_;
  std::vector<std::unique_ptr<ProcessEventSource>> sources_;  // what each vCPU's processes run
  std::vector<std::string> input_warnings_;
  std::vector<std::unique_ptr<VirtualizationUnit>> virts_;
  std::unique_ptr<Formula> cycles_per_operation_;
  std::unique_ptr<FrameAllocator> frames_;        // host-physical frames
  // Per VM: the guest OS's frames (guest_memory_mib), its memory virtualization and its kernel.
  std::vector<std::unique_ptr<FrameAllocator>> guest_frames_;
  std::vector<std::string> memory_virtualization_names_;
  // The parameters of VMs that set system.vmK.memory_virtualization (system.vmK.nested.*, ...).
  std::vector<std::unique_ptr<MemoryVirtualizationParameters>> own_memory_virtualization_parameters_;
  std::vector<std::unique_ptr<MemoryVirtualization>> memory_virtualizations_;
  std::vector<std::unique_ptr<GuestKernel>> kernels_;
  std::unique_ptr<VcpuScheduler> scheduler_;
  std::uint64_t references_before_checkpoint_ = 0;
  bool checkpoint_written_ = false;  // a loaded checkpoint's, re-read and not run
  Cycles roi_begin_cycles_ = 0;  // SystemC time of the region of interest's start (scheduled runs)
  struct VmStatistics;
  std::vector<std::unique_ptr<VmStatistics>> vm_statistics_;
  // What each VM runs and in how much memory: VM 0 the parameters above (workload.*,
  // system.guest_memory_mib), VM K >= 1 its own system.vmK.workload.* and
  // system.vmK.guest_memory_mib, which take the first VM's values unless set.
  struct GuestSettings {
    const Param<std::string>* kind;
    const SyntheticParameters* shape;
    const GeneratorParameters* generator;
    const ExitBenchParameters* exitbench;
    const Param<std::string>* trace_path;
    const Param<std::uint64_t>* memory_mib;
  };
  struct OwnedGuestSettings;
  std::vector<std::unique_ptr<OwnedGuestSettings>> owned_guest_settings_;
  std::vector<GuestSettings> guest_settings_;
  std::size_t roi_arrivals_ = 0;
  // The vCPU that reached the region of interest last and went on first (the others wait for
  // it): a run from a checkpoint starts its vCPUs in that order too.
  std::size_t roi_leader_ = 0;
  sc_core::sc_event roi_begun_;
  // No periodic timeline rows until the region of interest begins (it would drop them): a
  // row holds every statistic, so a long warm-up (the demand faults of a terabyte footprint)
  // would otherwise take gigabytes for rows no one sees.
  bool timeline_waits_for_roi_ = false;
  std::function<void(double)> progress_action_;

  struct CanonicalMetrics;
  std::unique_ptr<CanonicalMetrics> canonical_;
  std::unique_ptr<SamplingController> sampling_;
  std::unique_ptr<SamplingResults> sampling_results_;
};

}  // namespace virtsim
