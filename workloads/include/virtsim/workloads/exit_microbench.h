#pragma once
// Exit microbenchmarks as workloads, in the spirit of kvm-unit-tests' x86/vmexit set: each
// repeats one operation that a hypervisor intercepts (or, for comparison, one it does not),
// so cycles per operation measure the exit round trip of the configured machine.
//
// Benchmarks: cpuid, vmcall, rdtsc (exits only with system.vmx.rdtsc_exiting), io_kernel (IN
// from the in-kernel PIC's mask register, port 0x21), io_user (IN from the ACPI PM timer,
// port 0xb008, handled by the user-space device model), hlt (HLT and its wake-up), rdmsr and
// wrmsr (IA32_APIC_BASE, 0x1b), mov_cr3 (exits with system.vmx.cr3_exiting, as under shadow
// paging), invlpg (exits with system.vmx.invlpg_exiting), mov_cr8 (exits unless the TPR shadow
// is on), pause (a PAUSE spin loop; PAUSE-loop exiting decides), sgdt (sensitive but
// unprivileged: exits only with descriptor-table exiting, a virtualization hole for a
// deprivileged kernel without hardware assist), preemption_timer (1000 instructions of guest
// work per operation; with system.vmx.preemption_timer_cycles set the timer interrupts it),
// nop (no privileged instruction), holes (rounds of every sensitive unprivileged instruction
// with the CLI and STI whose effect they read back: under a trap-and-emulate VMM the vCPU's
// wrong_results and guest_state_digest show the holes; a paravirtual kernel issues hypercalls
// instead of them). The loop runs in the guest kernel at CPL 0, as
// kvm-unit-tests' do (workload.exitbench.in_kernel; off, at CPL 3, privileged instructions
// raise #GP before any exit).
#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/param.h"

namespace virtsim {

const std::vector<std::string>& exit_benchmarks();

struct ExitBenchConfig {
  std::string benchmark = "cpuid";
  std::uint64_t warmup = 100;
  std::uint64_t operations = 10000;
  std::uint32_t cpuid_leaf = 0;
  bool in_kernel = true;  // runs at CPL 0 in the guest kernel
  bool paravirtual = false;  // a paravirtual kernel: hypercalls replace the sensitive instructions
};

class ExitBenchParameters {
 public:
  explicit ExitBenchParameters(const Scope& scope);
  ExitBenchConfig config() const;
  Param<std::string> benchmark;
  Param<std::uint64_t> warmup_operations;
  Param<std::uint64_t> operations;
  Param<std::uint32_t> cpuid_leaf;
  Param<bool> in_kernel;
};

class ExitMicrobenchmark : public SingleEventSource {
 public:
  explicit ExitMicrobenchmark(const ExitBenchConfig& config);
  double progress() const;
  std::uint64_t operations() const { return config_.operations; }
  bool in_kernel() const { return config_.in_kernel; }

 private:
  std::optional<GuestEvent> next_event() override;
  GuestEvent operation() const;
  ExitBenchConfig config_;
  std::uint64_t emitted_ = 0;  // operations emitted, warm-up included
  bool roi_begun_ = false, done_ = false;
  bool spacer_due_ = false;    // pause: a short compute between PAUSEs
};

}  // namespace virtsim
