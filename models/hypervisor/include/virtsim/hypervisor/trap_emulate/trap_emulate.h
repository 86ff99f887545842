#pragma once
// A pure trap-and-emulate VMM (Popek and Goldberg's VMM, CACM 1974) on x86 without VT-x /
// AMD-V and without binary translation: the guest kernel runs in ring 1, its privileged
// instructions raise #GP into the VMM, which decodes and emulates them, and memory is
// virtualized by shadow page tables (its write-protected guest tables fault into the VMM, as
// under binary translation). The sensitive unprivileged instructions (rings.h,
// sensitive_state.h) do not trap: they run on the VMM's state and the guest gets wrong answers,
// which the vCPU's guest_state_view counts per instruction and folds into the guest's digest.
//
// The unit sits where a VT-x / AMD-V unit would, on the vCPU's `virtualization` port; a trap
// into the VMM is reported as an exit so the canonical exit metrics count it. Costs are Adams
// & Agesen's measurements of VMware's software VMM on a Pentium 4 (trap_emulate.cpp says how).
//
// Leaves out: ring 3 for the guest kernel (the shadow tables would have to make supervisor
// pages user-accessible and the VMM protect itself by segment limits alone), the I/O
// permission bitmap, and the VMM's own memory protection (segment truncation shows only in
// what LSL answers).
#include <cstdint>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/vmx/software_vmm.h"

namespace virtsim {

// Scope "system.trap_emulate".
class TrapEmulateParameters {
 public:
  explicit TrapEmulateParameters(const Scope& scope);
  Param<bool> enabled;
  Param<std::uint32_t> trap_cycles, kernel_entry_cycles, interrupt_cycles, fault_delivery_cycles;
};

// The ring the VMM runs the guest kernel in.
inline constexpr unsigned kTrapEmulateGuestRing = 1;

class TrapEmulateUnit final : public SoftwareVmmUnit {
 public:
  TrapEmulateUnit(const Scope& scope, const TrapEmulateParameters& parameters, const HypervisorParameters& handlers);

  unsigned guest_kernel_cpl() const override { return kTrapEmulateGuestRing; }
  InstructionOutcome execute(const GuestEvent& event, unsigned cpl, Cycles now) override;

  Counter traps;
  VectorStat traps_by_instruction;

 private:
  const TrapEmulateParameters& p_;
};

}  // namespace virtsim
