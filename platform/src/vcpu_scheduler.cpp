#include "virtsim/platform/vcpu_scheduler.h"

namespace virtsim {

SchedulerParameters::SchedulerParameters(const Scope& scope)
    // Linux CFS (kernel/sched/fair.c in 6.1): a scheduling period of 6 ms (sysctl_sched_latency,
    // unscaled on one CPU) shared by the runnable tasks; two vCPU threads on a CPU get 3 ms each.
    : VIRTSIM_MEMBER(time_slice_us, scope, 3000.0, "us",
                     "time a vCPU runs before the host scheduler gives its CPU to the next one (Linux CFS: "
                     "6 ms period for two runnable vCPU threads)",
                     Range{1.0, 1e6}),
      VIRTSIM_MEMBER(host_switch_cycles, scope, 2000, "cycles",
                     "the host's scheduler and context switch between two vCPU threads, besides the VM exit, "
                     "VMCS/VMCB switch and entry (assumption: about a microsecond, the order of a Linux context "
                     "switch)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(asids, scope, 32768, "ASIDs",
                     "AMD-V: ASIDs a CPU provides (CPUID Fn8000_000A EBX); the hypervisor uses 1 to asids-1 "
                     "(assumption: 32768, a 15-bit space)",
                     Range{2, 65536}) {}

struct VcpuScheduler::Pcpu {
  Pcpu(const Scope& scope)
      : VIRTSIM_MEMBER(switches, scope, "switches", "VM switches: a turn that went to another vCPU (its VMCS/VMCB loaded)"),
        VIRTSIM_MEMBER(switch_cycles, scope, "cycles", "cycles of the VM switches (exit, host scheduler, VMCS/VMCB, entry)"),
        VIRTSIM_MEMBER(tlb_flushes, scope, "flushes",
                       "switches that flushed the guest mappings of the TLBs and walk caches (VPID/ASID tagging off)"),
        VIRTSIM_MEMBER(asid_generations, scope, "generations",
                       "AMD-V: new ASID generations (every ASID in use: all flushed, ASIDs handed out again)") {}
  std::vector<std::size_t> members;  // vCPUs pinned here, in turn order
  std::size_t running = kNone;       // whose turn it is
  std::size_t holder = kNone;        // whose TLB and walk-cache objects hold the CPU's entries
  std::size_t last = kNone;          // the vCPU that ran last (its VMCS is loaded)
  sc_core::sc_time slice_end;
  std::uint64_t asid_generation = 1;
  std::uint32_t next_asid = 0;  // set past the last on construction: the first vCPU starts a generation
  Counter switches;
  Counter switch_cycles;
  Counter tlb_flushes;
  Counter asid_generations;
};

struct VcpuScheduler::VmCounters {
  explicit VmCounters(const Scope& scope)
      : VIRTSIM_MEMBER(switches, scope, "switches", "VM switches into this VM's vCPUs"),
        VIRTSIM_MEMBER(switch_cycles, scope, "cycles", "cycles of the VM switches into this VM's vCPUs") {}
  Counter switches;
  Counter switch_cycles;
};

VcpuScheduler::VcpuScheduler(const Scope& root, const SchedulerParameters& parameters,
                             const TransitionParameters& transitions, const Clock& clock, unsigned pcpus)
    : parameters_(parameters),
      clock_(clock),
      svm_(transitions.virt_mode() == VirtMode::Svm),
      tagged_(transitions.tagged_tlb.get()),
      switch_cycles_(Cycles{transitions.vm_exit_cycles} + parameters.host_switch_cycles +
                     (svm_ ? Cycles{transitions.vmsave_cycles} + transitions.vmload_cycles
                           : static_cast<Cycles>(transitions.vmcs_pointer_op_cycles() + 0.5)) +
                     transitions.vm_entry_cycles),
      slice_(parameters.time_slice_us.get(), sc_core::SC_US),
      root_(root) {
  for (unsigned p = 0; p < pcpus; ++p) {
    cpus_.push_back(std::make_unique<Pcpu>(root.child("pcpu" + std::to_string(p))));
    cpus_.back()->next_asid = parameters.asids;  // past the last usable (asids - 1)
  }
}

VcpuScheduler::~VcpuScheduler() = default;

unsigned VcpuScheduler::add(Vcpu& vcpu, MmuModule& mmu, unsigned vm) {
  Entry e;
  e.vcpu = &vcpu;
  e.mmu = &mmu;
  e.vm = vm;
  e.pcpu = static_cast<unsigned>(vcpus_.size() % cpus_.size());
  e.turn = std::make_unique<sc_core::sc_event>();
  while (vm_counters_.size() <= vm)
    vm_counters_.push_back(std::make_unique<VmCounters>(root_.child("vm" + std::to_string(vm_counters_.size()))));
  cpus_[e.pcpu]->members.push_back(vcpus_.size());
  vcpus_.push_back(std::move(e));
  return vcpus_.back().pcpu;
}

std::uint64_t VcpuScheduler::switches_into_vm(unsigned vm) const { return vm_counters_.at(vm)->switches.count(); }

std::uint64_t VcpuScheduler::switch_cycles_into_vm(unsigned vm) const {
  return vm_counters_.at(vm)->switch_cycles.count();
}

void VcpuScheduler::schedule_point(std::size_t vcpu, bool done) {
  Entry& e = vcpus_.at(vcpu);
  Pcpu& cpu = *cpus_[e.pcpu];
  if (done) {
    leave(vcpu);
    return;
  }
  if (cpu.running == vcpu) {
    if (sc_core::sc_time_stamp() < cpu.slice_end) return;
    pass_on(cpu);  // the slice is over: the next runnable vCPU's turn (this one's again if alone)
    if (cpu.running == vcpu) {
      cpu.slice_end = sc_core::sc_time_stamp() + slice_;
      return;
    }
  }
  wait_for_turn(vcpu);
}

void VcpuScheduler::leave(std::size_t vcpu) {
  Entry& e = vcpus_.at(vcpu);
  Pcpu& cpu = *cpus_[e.pcpu];
  e.runnable = false;
  if (cpu.running == vcpu) pass_on(cpu);
}

void VcpuScheduler::rejoin(std::size_t vcpu) {
  vcpus_.at(vcpu).runnable = true;
  wait_for_turn(vcpu);
}

void VcpuScheduler::wait_for_turn(std::size_t vcpu) {
  Entry& e = vcpus_.at(vcpu);
  Pcpu& cpu = *cpus_[e.pcpu];
  if (cpu.running == kNone) cpu.running = vcpu;  // an idle CPU: no one else waits for it
  while (cpu.running != vcpu) sc_core::wait(*e.turn);
  switch_in(cpu, vcpu);
}

void VcpuScheduler::pass_on(Pcpu& cpu) {
  // Round robin from the vCPU after the running one; the running one itself comes last.
  const std::size_t n = cpu.members.size();
  std::size_t at = 0;
  for (std::size_t k = 0; k < n; ++k)
    if (cpu.members[k] == cpu.running) at = k;
  cpu.running = kNone;
  for (std::size_t k = 1; k <= n; ++k) {
    const std::size_t next = cpu.members[(at + k) % n];
    if (!vcpus_[next].runnable) continue;
    cpu.running = next;
    vcpus_[next].turn->notify(sc_core::SC_ZERO_TIME);
    return;
  }
}

void VcpuScheduler::switch_in(Pcpu& cpu, std::size_t vcpu) {
  Entry& e = vcpus_[vcpu];
  if (cpu.holder != vcpu) {
    if (cpu.holder != kNone) {
      Entry& h = vcpus_[cpu.holder];
      e.vcpu->tlbs.swap_entries(h.vcpu->tlbs);
      e.mmu->walker.swap_caches(h.mmu->walker);
    }
    cpu.holder = vcpu;
  }
  if (cpu.last != kNone && cpu.last != vcpu) {
    if (!tagged_) {
      // Without VPID / ASID the exit and the entry drop the linear and combined mappings (of VPID
      // 0) and the paging-structure caches that hold them; guest-physical (EPT) mappings are
      // tagged by the EPTP and stay (SDM vol. 3 28.3.3 and 29.4).
      e.vcpu->tlbs.each([](Tlb& t) { t.transition_flush(); });
      e.mmu->walker.flush_guest_caches();
      ++cpu.tlb_flushes;
    }
    ++cpu.switches;
    cpu.switch_cycles += switch_cycles_;
    ++vm_counters_[e.vm]->switches;
    vm_counters_[e.vm]->switch_cycles += switch_cycles_;
    cpu.last = vcpu;
    if (svm_ && tagged_) assign_asid(cpu, e);
    sc_core::wait(clock_.delay(switch_cycles_));  // the CPU is busy switching
  } else {
    if (cpu.last == kNone && svm_ && tagged_) assign_asid(cpu, e);
    cpu.last = vcpu;
  }
  cpu.slice_end = sc_core::sc_time_stamp() + slice_;
}

void VcpuScheduler::assign_asid(Pcpu& cpu, Entry& e) {
  // The vCPU keeps its ASID while the CPU's generation lasts; after a new one began it needs
  // another, and when the CPU has handed out every ASID a new generation begins with a flush of
  // all of them (what KVM's per-CPU ASID generation does on AMD-V).
  if (e.asid_generation == cpu.asid_generation) return;
  if (cpu.next_asid >= parameters_.asids.get()) {
    ++cpu.asid_generation;
    ++cpu.asid_generations;
    cpu.next_asid = 1;
    e.vcpu->tlbs.each([](Tlb& t) { t.svm_tlb_control(1, 0); });  // TLB_CONTROL: flush every ASID
    e.mmu->walker.flush_guest_caches();
    e.mmu->walker.flush_nested_caches();
  }
  e.asid = static_cast<std::uint16_t>(cpu.next_asid++);
  e.asid_generation = cpu.asid_generation;
  e.vcpu->set_vpid(e.asid);
}

}  // namespace virtsim
