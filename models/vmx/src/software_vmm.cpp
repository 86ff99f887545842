#include "virtsim/vmx/software_vmm.h"

namespace virtsim {

std::vector<std::string> instruction_names() {
  std::vector<std::string> names;
  for (const auto i : all_instructions()) names.emplace_back(to_string(i));
  return names;
}

SoftwareVmmUnit::SoftwareVmmUnit(const Scope& scope, const SoftwareVmmCosts& costs,
                                 const HypervisorParameters& handlers, const std::string& own_entries)
    : VIRTSIM_MEMBER(kernel_entries, scope, "entries", "system calls entering the guest kernel through the VMM"),
      VIRTSIM_MEMBER(interrupts, scope, "interrupts", "external interrupts forwarded by the VMM"),
      VIRTSIM_MEMBER(reflected_exceptions, scope, "exceptions",
                     "faults of guest instructions (a #GP outside the guest kernel's ring) the VMM reflected to the "
                     "guest kernel"),
      VIRTSIM_MEMBER(vmm_page_faults, scope, "faults", "page faults the VMM handled (shadow paging)"),
      VIRTSIM_MEMBER(vmm_cycles, scope, "cycles", "cycles of every VMM entry: " + own_entries + ", entries, interrupts, faults"),
      costs_(costs),
      h_(handlers) {}

InstructionOutcome SoftwareVmmUnit::vmm_entry(Cycles cycles) {
  InstructionOutcome out;
  out.exited = true;  // an entry into the VMM: counted with the exits
  out.cycles = cycles;
  vmm_cycles += cycles;
  return out;
}

InstructionOutcome SoftwareVmmUnit::kernel_entry() {
  ++kernel_entries;
  return vmm_entry(costs_.kernel_entry_cycles);
}

InstructionOutcome SoftwareVmmUnit::raise_exception(std::uint32_t, Cycles) {
  // The VMM owns the real IDT: it takes the fault and reflects it to the guest kernel.
  ++reflected_exceptions;
  return vmm_entry(costs_.interrupt_cycles);
}

InstructionOutcome SoftwareVmmUnit::deliver_interrupt(std::uint32_t, Cycles) {
  ++interrupts;
  return vmm_entry(costs_.interrupt_cycles);
}

InstructionOutcome SoftwareVmmUnit::page_fault_exit(const ShadowFaultOutcome& how, std::uint32_t, Addr, Cycles) {
  ++vmm_page_faults;
  const double software = h_.enabled ? h_.shadow_handler(how.resolution).instructions.get() * h_.cpi.get() : 0.0;
  return vmm_entry(Cycles{costs_.fault_delivery_cycles} + static_cast<Cycles>(software + 0.5));
}

}  // namespace virtsim
