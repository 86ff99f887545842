#pragma once
// The hypervisor's vCPU scheduler for several VMs on one host: each vCPU is pinned to one of
// the host's physical CPUs (vCPU i to CPU i mod pcpus) and the vCPUs of a CPU take turns in
// round-robin time slices. A turn that goes to another vCPU is a VM switch: the running vCPU
// exits (its slice's timer), the host picks the next one, loads its VMCS (VMPTRLD) or runs its
// VMCB (VMSAVE/VMLOAD around VMRUN), and enters it. The CPU's TLBs and walk caches stay what
// they were, so the next vCPU finds the previous ones' entries: kept apart by their VPID / ASID
// tags, or flushed at the exit and entry when tagging is off (Intel SDM vol. 3 ch. 29, VPIDs;
// AMD APM vol. 2 15.16). On AMD-V the ASIDs are handed out per CPU in generations, as KVM does:
// a vCPU whose ASID is of an older generation gets the next free one, and when a CPU has none
// left it starts a new generation and flushes every ASID's entries.
#include <cstdint>
#include <memory>
#include <systemc>
#include <vector>

#include "virtsim/common/clock.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/cpu/vcpu.h"
#include "virtsim/mmu/mmu_module.h"
#include "virtsim/vmx/virtualization_unit.h"

namespace virtsim {

// Scope "system.scheduler".
class SchedulerParameters {
 public:
  explicit SchedulerParameters(const Scope& scope);
  Param<double> time_slice_us;
  Param<std::uint32_t> host_switch_cycles;
  Param<std::uint32_t> asids;
};

class VcpuScheduler {
 public:
  // `root` is the system's scope: per-CPU statistics go to system.pcpuN.
  VcpuScheduler(const Scope& root, const SchedulerParameters& parameters, const TransitionParameters& transitions,
                const Clock& clock, unsigned pcpus);
  ~VcpuScheduler();

  // A vCPU of VM `vm`, with the MMU whose walk caches it uses; vCPUs are numbered in the order
  // added. Returns its CPU.
  unsigned add(Vcpu& vcpu, MmuModule& mmu, unsigned vm);
  // The vCPU's schedule action (Vcpu::set_schedule_action): waits for its turn on its CPU.
  void schedule_point(std::size_t vcpu, bool done);
  // The vCPU waits for something else (the region of interest's barrier) and gives up its CPU
  // meanwhile; rejoin() queues it again and waits for its turn.
  void leave(std::size_t vcpu);
  void rejoin(std::size_t vcpu);

  // The cost of one VM switch: the running vCPU's exit, the host's scheduler, loading the other
  // VMCS (VT-x: VMPTRLD) or switching VMCBs (AMD-V: VMSAVE and VMLOAD), and the entry.
  Cycles switch_cycles() const { return switch_cycles_; }
  unsigned pcpus() const { return static_cast<unsigned>(cpus_.size()); }
  unsigned pcpu_of(std::size_t vcpu) const { return vcpus_.at(vcpu).pcpu; }
  // VM switches into VM `vm`'s vCPUs and their cycles (system.vmK.switches, .switch_cycles).
  std::uint64_t switches_into_vm(unsigned vm) const;
  std::uint64_t switch_cycles_into_vm(unsigned vm) const;

  struct Pcpu;
  struct VmCounters;

 private:
  struct Entry {
    Vcpu* vcpu = nullptr;
    MmuModule* mmu = nullptr;
    unsigned vm = 0;
    unsigned pcpu = 0;
    bool runnable = true;
    std::unique_ptr<sc_core::sc_event> turn;
    std::uint16_t asid = 0;
    std::uint64_t asid_generation = 0;  // 0: never had one
  };
  static constexpr std::size_t kNone = ~std::size_t{0};
  void wait_for_turn(std::size_t vcpu);
  void pass_on(Pcpu& cpu);
  // The vCPU starts its turn: the CPU's TLB and walk-cache contents come to it, tagged or
  // flushed, and a switch from another vCPU costs its cycles.
  void switch_in(Pcpu& cpu, std::size_t vcpu);
  void assign_asid(Pcpu& cpu, Entry& e);

  const SchedulerParameters& parameters_;
  const Clock& clock_;
  bool svm_;
  bool tagged_;
  Cycles switch_cycles_;
  sc_core::sc_time slice_;
  std::vector<Entry> vcpus_;
  std::vector<std::unique_ptr<Pcpu>> cpus_;
  Scope root_;
  std::vector<std::unique_ptr<VmCounters>> vm_counters_;
};

}  // namespace virtsim
