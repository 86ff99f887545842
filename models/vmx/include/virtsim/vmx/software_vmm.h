#pragma once
// What every software VMM (binary translation, pure trap-and-emulate) does besides running the
// guest kernel's instructions: it owns the real descriptor tables, so system calls from user
// mode, external interrupts and the faults of guest instructions enter it and are reflected to
// the guest kernel, and the write-protected guest page tables of its shadow paging fault into
// it directly (its page-fault handler runs with no VM exit). Each entry is reported to the vCPU
// as an exit, so the canonical exit metrics count it; its cost is the VMM's work, with no
// hardware transition. A derived unit decides what happens to an instruction (execute()).
#include <cstdint>
#include <string>
#include <vector>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/vmx/virtualization_unit.h"

namespace virtsim {

// The costs of the entries every software VMM takes, from its own parameters.
struct SoftwareVmmCosts {
  const Param<std::uint32_t>& kernel_entry_cycles;
  const Param<std::uint32_t>& interrupt_cycles;
  const Param<std::uint32_t>& fault_delivery_cycles;
};

class SoftwareVmmUnit : public GuestInstructionHandler {
 public:
  InstructionOutcome elapse(Cycles) override { return {}; }
  InstructionOutcome deliver_interrupt(std::uint32_t vector, Cycles now) override;
  InstructionOutcome raise_exception(std::uint32_t vector, Cycles now) override;
  InstructionOutcome page_fault_exit(const ShadowFaultOutcome& how, std::uint32_t error_code, Addr va, Cycles now) override;
  InstructionOutcome nested_fault_exit(std::uint64_t, Addr, Cycles) override { return {}; }

  Counter kernel_entries;
  Counter interrupts;
  Counter reflected_exceptions;
  Counter vmm_page_faults;
  Counter vmm_cycles;

 protected:
  // `own_entries` names the derived unit's own way in (callouts, traps) in vmm_cycles' description.
  SoftwareVmmUnit(const Scope& scope, const SoftwareVmmCosts& costs, const HypervisorParameters& handlers,
                  const std::string& own_entries);
  // A system call from user mode, through the VMM into the guest kernel.
  InstructionOutcome kernel_entry();
  // An entry into the VMM costing `cycles`: counted with the exits.
  InstructionOutcome vmm_entry(Cycles cycles);

 private:
  SoftwareVmmCosts costs_;
  const HypervisorParameters& h_;
};

// Every instruction's name, in Instruction order: the labels of a per-instruction statistic.
std::vector<std::string> instruction_names();

}  // namespace virtsim
