#pragma once
// What the sensitive but unprivileged instructions read and change, and what they return.
//
// Robin and Irvine ("Analysis of the Intel Pentium's Ability to Support a Secure Virtual
// Machine Monitor", USENIX Security 2000) list the instructions that break Popek and
// Goldberg's condition ("Formal Requirements for Virtualizable Third Generation
// Architectures", CACM 1974: every sensitive instruction must be privileged, so that it traps
// when a VMM deprivileges the guest kernel). Run by a guest kernel outside ring 0 they do not
// trap; they act on the processor's real state, which is the VMM's, and the guest kernel gets
// the wrong answer (Intel SDM vol. 2, each instruction's operation at CPL > 0):
//   POPF     above CPL 0 leaves IOPL, and above IOPL leaves IF, as they were, silently;
//   PUSHF    pushes the real IF and IOPL, not the ones the guest set;
//   SGDT, SIDT, SLDT, STR  store the VMM's table bases and selectors;
//   SMSW     stores the low 16 bits of the real CR0;
//   MOV from CS / SS  shows the real RPL, the deprivileged ring;
//   LAR, LSL, VERR, VERW  check and report the descriptors of the real GDT (the VMM's) against
//            the real CPL.
// Binary translation, a paravirtual kernel and VT-x / AMD-V (the guest kernel in ring 0 of
// non-root mode) all give the guest its own state instead. The register values below are the
// model's: the guest's are Linux x86-64's (cpu_entry_area's GDT and IDT, __KERNEL_CS 0x10,
// __KERNEL_DS 0x18, the TSS in GDT slot 8, CR0 with PE MP ET NE WP AM PG), the VMM's an
// illustrative VMM in the top of the address space that sets CR0.TS while the guest runs (it
// switches FPU state lazily), keeps its own LDT and TSS, deprivileges the guest's code and
// stack descriptors to the guest kernel's ring and truncates their limits below itself.
#include <cstdint>
#include <map>

#include "virtsim/common/instruction.h"

namespace virtsim {

struct SegmentDescriptor {
  bool code = false;  // code or (writable) data
  unsigned dpl = 0;
  std::uint32_t limit = 0xffffffff;  // byte granular, as LSL reports it
};

// The processor state the sensitive instructions see.
struct SystemRegisters {
  std::uint64_t gdtr_base = 0, idtr_base = 0;
  std::uint16_t gdtr_limit = 0, idtr_limit = 0;
  std::uint16_t ldtr = 0, tr = 0, cs = 0, ss = 0;
  std::uint64_t cr0 = 0;
  bool interrupt_flag = true;
  unsigned iopl = 0;
  std::map<std::uint16_t, SegmentDescriptor> gdt;  // by selector index * 8
};

// Linux x86-64's kernel state as it runs on bare hardware, in ring 0.
SystemRegisters guest_kernel_registers();
// What the processor holds while a trap-and-emulate VMM runs that guest kernel in `ring`.
SystemRegisters vmm_registers(const SystemRegisters& guest, unsigned ring);

// Selectors and RFLAGS bits the instructions use.
inline constexpr std::uint16_t kKernelCodeSelector = 0x10, kKernelDataSelector = 0x18, kTssSelector = 0x40;
inline constexpr std::uint64_t kRflagsIf = 1u << 9, kRflagsIoplShift = 12, kRflagsFixed = 1u << 1;
// MOV from a segment register: the event's operand names the register.
enum class SegmentOperand : std::uint8_t { Cs = 1, Ss = 2 };

// Runs sensitive instruction `instruction` (one of PrivilegeClass::SensitiveUnprivileged's) at
// `cpl` on `state`; `operand`: POPF's RFLAGS image, LAR/LSL/VERR/VERW's selector, MOV from a
// segment register's SegmentOperand. Returns the value the instruction gives the program (the
// stored value, or ZF << 32 | the result for LAR/LSL/VERR/VERW); POPF changes `state` and
// returns the RFLAGS that took effect.
std::uint64_t run_sensitive(Instruction instruction, SystemRegisters& state, unsigned cpl, std::uint64_t operand);

// The guest kernel's view of its processor state across a run, for one vCPU: what its
// sensitive instructions returned to it and the interrupt flag and IOPL it ended up with. A
// hole runs on the real (the VMM's) state; anything else (bare hardware, binary translation,
// VT-x / AMD-V, a paravirtual kernel's hypercall) gives the guest its own. A digest of the
// values; each instruction says whether its answer differed from bare hardware's.
class GuestStateView {
 public:
  GuestStateView();
  // The VMM runs the guest kernel in `ring` (0: the guest's own state is the real one).
  void deprivilege(unsigned ring);
  // A sensitive instruction: through a hole (on the real state at the deprivileged ring) or not.
  // Returns whether the guest got another answer than bare hardware would have given it.
  bool sensitive(Instruction instruction, std::uint64_t operand, bool hole);
  // A privileged instruction that changes the state (CLI, STI, LGDT, LIDT, LLDT, LTR, LMSW,
  // CLTS, MOV to CR0), run by the guest natively or trapped and emulated by the VMM: either
  // way the guest's own state changes as the guest meant (`operand`: the value loaded).
  void privileged(Instruction instruction, std::uint64_t operand);

  // 0 until a sensitive instruction ran: a guest that runs none has nothing to compare.
  std::uint64_t digest() const { return observed_ ? digest_ : 0; }
  // What the VMM keeps as the guest's state (bare hardware's, but for the POPFs it missed).
  const SystemRegisters& guest() const { return virtual_; }

 private:
  void mix(std::uint64_t v);
  // The guest's state had it run on bare hardware, the VMM's copy of it, and the processor's.
  SystemRegisters bare_, virtual_, real_;
  unsigned ring_ = 0;
  bool observed_ = false;
  std::uint64_t digest_ = 0xcbf29ce484222325ull;
};

}  // namespace virtsim
