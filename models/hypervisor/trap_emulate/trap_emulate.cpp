// Trap-and-emulate over shadow paging: a software VMM with no hardware assist and no binary
// translation (trap_emulate.h).
#include "virtsim/hypervisor/trap_emulate/trap_emulate.h"

#include "virtsim/common/error.h"
#include "virtsim/cpu/rings.h"
#include "virtsim/hypervisor/registry.h"
#include "virtsim/hypervisor/shadow/shadow_paging.h"

namespace virtsim {

// Defaults from Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86
// Virtualization" (ASPLOS 2006), VMware's software VMM on a 3.8 GHz Pentium 4 672: section 3.3
// (rdtsc by trap-and-emulate) and the appendix's nanobenchmarks, as for binary translation.
TrapEmulateParameters::TrapEmulateParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, false, "",
                     "a pure trap-and-emulate VMM runs the guest: its kernel in ring 1, privileged instructions "
                     "trapping to the VMM, sensitive unprivileged ones running as holes, memory by shadow page "
                     "tables (system.vmx.mode must be none)"),
      VIRTSIM_MEMBER(trap_cycles, scope, 2030, "cycles",
                     "a privileged guest-kernel instruction's #GP into the VMM, its decoding and emulation and the "
                     "return: 2030 cycles, Adams & Agesen's (2006) trap-and-emulate of rdtsc on a Pentium 4 (a hardware "
                     "VMM's exit); a #GP into a ring-0 software VMM is taken to cost the same (assumption)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(kernel_entry_cycles, scope, 2066, "cycles",
                     "what a system call entering the guest kernel through the VMM (which owns the real IDT) "
                     "adds to the native entry: 2308 - 242 cycles, the software VMM's syscall nanobenchmark "
                     "against native (Adams & Agesen 2006)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(interrupt_cycles, scope, 2334, "cycles",
                     "an external interrupt, or a fault of a guest user instruction, that the VMM takes and "
                     "forwards to the guest kernel: 3223 - 889 cycles, the software VMM's divzero "
                     "nanobenchmark against native (Adams & Agesen 2006)",
                     Range{0, 1e7}),
      VIRTSIM_MEMBER(fault_delivery_cycles, scope, 2484, "cycles",
                     "a #PF's way into the VMM and back, before its handler: as for binary translation "
                     "(system.bt.fault_delivery_cycles: 3927 - 1093 cycles, the pgfault nanobenchmark, less "
                     "the guest_fault handler's 350 instructions; Adams & Agesen 2006)",
                     Range{0, 1e7}) {}

TrapEmulateUnit::TrapEmulateUnit(const Scope& scope, const TrapEmulateParameters& parameters,
                                 const HypervisorParameters& handlers)
    : SoftwareVmmUnit(scope,
                      {parameters.kernel_entry_cycles, parameters.interrupt_cycles, parameters.fault_delivery_cycles},
                      handlers, "traps"),
      VIRTSIM_MEMBER(traps, scope, "traps", "privileged guest-kernel instructions that trapped (#GP) and were emulated"),
      VIRTSIM_MEMBER(traps_by_instruction, scope, "traps", "traps per instruction", instruction_names()),
      p_(parameters) {}

InstructionOutcome TrapEmulateUnit::execute(const GuestEvent& event, unsigned cpl, Cycles) {
  const Instruction i = event.instruction;
  if (cpl == 3 && (i == Instruction::Syscall || i == Instruction::Sysenter || i == Instruction::SoftwareInterrupt))
    return kernel_entry();
  // The vCPU lets a guest-kernel instruction that raised #GP reach here: the VMM emulates it.
  if (cpl == kTrapEmulateGuestRing && check_privilege(i, cpl, 0, false) == PrivilegeOutcome::GeneralProtection) {
    ++traps;
    traps_by_instruction.add(static_cast<std::size_t>(i));
    return vmm_entry(p_.trap_cycles);
  }
  return {1, false, false};
}

namespace {

class TrapAndEmulate final : public ShadowPaging {
 public:
  explicit TrapAndEmulate(const MemoryVirtualizationSetup& setup) : ShadowPaging(setup) {
    const MemoryVirtualizationParameters& p = setup.parameters;
    if (p.nested.paging.get() != "none" || setup.transitions.enabled() || p.bt.enabled)
      throw ConfigError(p.trap_emulate.enabled.name() + " = true is a software VMM without translation: it takes " +
                        setup.transitions.mode.name() + " = \"none\", " + p.nested.paging.name() + " = \"none\" and " +
                        p.bt.enabled.name() + " = false");
    if (p.paravirt_mmu)
      throw ConfigError(p.paravirt_key + " = true runs on the guest's own tables: it takes " +
                        p.trap_emulate.enabled.name() + " = false");
  }
  GuestInstructionHandler* instruction_handler(unsigned cpu) override {
    const MemoryVirtualizationSetup& s = setup();
    units_.push_back(std::make_unique<TrapEmulateUnit>(s.system.child("trap_emulate" + std::to_string(cpu)),
                                                       s.parameters.trap_emulate, s.hypervisor));
    return units_.back().get();
  }
  // Its units keep statistics only: the shadow tables are its whole state.
  bool checkpointable() const override { return true; }

 private:
  std::vector<std::unique_ptr<TrapEmulateUnit>> units_;
};

}  // namespace

MemoryVirtualizationEntry trap_emulate_entry() {
  return {"trap_emulate",
          "pure trap-and-emulate: a software VMM (no VT-x / AMD-V, no translation) that runs the guest kernel in "
          "ring 1, emulates the privileged instructions that trap and keeps shadow page tables; the sensitive "
          "unprivileged instructions are holes",
          {"system.trap_emulate.*", "system.shadow.*"},
          [](const MemoryVirtualizationParameters& p) { return p.trap_emulate.enabled.get(); },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<TrapAndEmulate>(setup); },
          {{"trap_emulate", "trap-and-emulate over shadow tables, the guest kernel in ring 1",
            [](const CompareContext&) {
              return Settings{{"system.vmx.mode", "\"none\""}, {"system.trap_emulate.enabled", "true"}};
            }}},
          {{"system.trap_emulate.enabled", "false"}}};
}

}  // namespace virtsim
