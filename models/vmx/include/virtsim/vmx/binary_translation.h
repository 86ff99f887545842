#pragma once
// A software VMM with binary translation (VMware's technique before hardware assist; Adams &
// Agesen, ASPLOS 2006, section 3): the guest kernel's code runs translated out of a
// translation cache, user code runs as it is. A privileged or sensitive instruction of the
// kernel is translated once and then either emulated inside the translation cache (reading
// a virtual CR, CLI/STI, POPF...) or replaced by a callout into the VMM (a CR3 load, INVLPG,
// port I/O, WRMSR, HLT, the return to user mode...); the kernel's entries (system calls,
// interrupts) go through the VMM, which owns the real descriptor tables. Memory is
// virtualized with shadow page tables (ShadowPageTables) whose write-protected guest tables
// ("traces") fault into the VMM directly: the VMM's page-fault handler runs with no VM exit.
//
// It sits where a VT-x / AMD-V unit would, on the vCPU's `virtualization` port. A VMM entry
// (a callout, a kernel entry, a fault the VMM handles) is reported as an exit of the vCPU so
// the canonical exit metrics count them; its cost is the VMM's work, with no hardware
// transition. Every cost is a parameter; the defaults come from Adams & Agesen's measurements
// of VMware's software VMM on a Pentium 4 (binary_translation.cpp says how; the interrupt
// cost, which has no published figure, is set by analogy with a reflected exception).
//
// Leaves out: code addresses (the model has none: a "site" is an instruction with its
// operand kind, so translation costs are paid once per kind per vCPU), adaptive translation
// of instructions that keep faulting on traces, the translation cache's capacity and its
// invalidation by self-modifying code, and segment truncation.
#include <map>
#include <string>

#include "virtsim/common/guest_event.h"
#include "virtsim/common/param.h"
#include "virtsim/common/state_stream.h"
#include "virtsim/common/stats.h"
#include "virtsim/vmx/software_vmm.h"

namespace virtsim {

// Scope "system.bt".
class BinaryTranslationParameters {
 public:
  explicit BinaryTranslationParameters(const Scope& scope);
  Param<bool> enabled;
  Param<std::uint32_t> translate_cycles, in_cache_cycles, in_cache_rdtsc_cycles, callout_cycles, kernel_entry_cycles,
      interrupt_cycles, fault_delivery_cycles;
};

// How the translator handles a privileged or sensitive kernel instruction.
enum class TranslatedAs : std::uint8_t { Native, InCache, Callout, KernelEntry };
TranslatedAs translated_as(Instruction instruction, unsigned cpl);

class BinaryTranslationUnit final : public SoftwareVmmUnit {
 public:
  // `handlers`: the VMM's software for shadow-paging faults (the same handlers a hypervisor
  // on VT-x runs, here without VMCS accesses).
  BinaryTranslationUnit(const Scope& scope, const BinaryTranslationParameters& parameters,
                        const HypervisorParameters& handlers);

  InstructionOutcome execute(const GuestEvent& event, unsigned cpl, Cycles now) override;
  // Checkpoints: the sites translated so far (a run from a checkpoint does not translate them
  // again).
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  Counter translations;
  Counter translate_cycles;
  Counter in_cache_emulations;
  Counter callouts;
  VectorStat callouts_by_instruction;

 private:
  const BinaryTranslationParameters& p_;
  std::map<std::pair<Instruction, std::uint64_t>, bool> translated_;  // sites translated so far
};

}  // namespace virtsim
