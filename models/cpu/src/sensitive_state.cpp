#include "virtsim/cpu/sensitive_state.h"

#include <algorithm>

namespace virtsim {

namespace {
constexpr std::uint64_t kCr0Ts = 1u << 3;
constexpr std::uint16_t kVmmStackSelector = 0x98;  // the VMM's ring-n stack segment for the guest kernel
constexpr std::uint32_t kVmmLimit = 0xffbfffff;     // guest segments end below the VMM's top 4 MiB

// The descriptor `selector` names, if the table has it and the check against CPL and RPL
// passes (Intel SDM vol. 2, LAR / LSL / VERR / VERW: a non-conforming segment is visible only
// when DPL >= CPL and DPL >= RPL).
const SegmentDescriptor* visible(const SystemRegisters& s, unsigned cpl, std::uint64_t selector) {
  const auto index = static_cast<std::uint16_t>(selector & ~std::uint64_t{7});
  if (index == 0 || index > s.gdtr_limit) return nullptr;
  const auto d = s.gdt.find(index);
  if (d == s.gdt.end()) return nullptr;
  const unsigned rpl = selector & 3;
  return d->second.dpl >= std::max(cpl, rpl) ? &d->second : nullptr;
}

std::uint64_t with_zf(bool zf, std::uint64_t value) { return (std::uint64_t{zf} << 32) | (zf ? value : 0); }

std::uint64_t rflags(const SystemRegisters& s) {
  return kRflagsFixed | (s.interrupt_flag ? kRflagsIf : 0) | (std::uint64_t{s.iopl} << kRflagsIoplShift);
}
}  // namespace

SystemRegisters guest_kernel_registers() {
  SystemRegisters s;
  s.gdtr_base = 0xfffffe0000001000ull;  // cpu_entry_area's read-only GDT mapping, CPU 0
  s.gdtr_limit = 16 * 8 - 1;            // GDT_ENTRIES
  s.idtr_base = 0xfffffe0000000000ull;  // cpu_entry_area's read-only IDT mapping
  s.idtr_limit = 256 * 16 - 1;
  s.ldtr = 0;  // no LDT
  s.tr = kTssSelector;
  s.cs = kKernelCodeSelector;
  s.ss = kKernelDataSelector;
  s.cr0 = 0x80050033;  // PG AM WP NE ET MP PE
  s.gdt = {{0x08, {true, 0}}, {kKernelCodeSelector, {true, 0}}, {kKernelDataSelector, {false, 0}},
           {0x20, {true, 3}}, {0x28, {false, 3}}, {0x30, {true, 3}}};
  return s;
}

SystemRegisters vmm_registers(const SystemRegisters& guest, unsigned ring) {
  if (ring == 0) return guest;
  SystemRegisters s = guest;
  s.gdtr_base = 0xffffffffffc01000ull;  // the VMM's own tables, at the top of the address space
  s.gdtr_limit = 32 * 8 - 1;
  s.idtr_base = 0xffffffffffc00000ull;
  s.ldtr = 0x88;
  s.tr = 0x80;
  s.cr0 = guest.cr0 | kCr0Ts;
  s.interrupt_flag = true;  // the VMM takes the real interrupts
  s.iopl = 0;               // so that CLI, STI, IN and OUT trap
  s.cs = static_cast<std::uint16_t>(guest.cs | ring);
  s.ss = static_cast<std::uint16_t>(kVmmStackSelector | ring);
  // The guest's code segment deprivileged to its ring and truncated; its stack runs on the
  // VMM's segment, so the guest's data descriptor keeps DPL 0.
  s.gdt[kKernelCodeSelector] = {true, ring, kVmmLimit};
  s.gdt[kVmmStackSelector] = {false, ring, kVmmLimit};
  for (auto& [selector, d] : s.gdt)
    if (d.dpl == 3) d.limit = kVmmLimit;
  return s;
}

std::uint64_t run_sensitive(Instruction instruction, SystemRegisters& s, unsigned cpl, std::uint64_t operand) {
  switch (instruction) {
    case Instruction::Pushf: return rflags(s);
    case Instruction::Popf:
      // IOPL changes only at CPL 0, IF only at CPL <= IOPL; otherwise nothing, and no fault.
      if (cpl <= s.iopl) s.interrupt_flag = (operand & kRflagsIf) != 0;
      if (cpl == 0) s.iopl = static_cast<unsigned>((operand >> kRflagsIoplShift) & 3);
      return rflags(s);
    case Instruction::Sgdt: return s.gdtr_base ^ (std::uint64_t{s.gdtr_limit} << 48);
    case Instruction::Sidt: return s.idtr_base ^ (std::uint64_t{s.idtr_limit} << 48);
    case Instruction::Sldt: return s.ldtr;
    case Instruction::Str: return s.tr;
    case Instruction::Smsw: return s.cr0 & 0xffff;
    case Instruction::MovFromSegment: return operand == static_cast<std::uint64_t>(SegmentOperand::Ss) ? s.ss : s.cs;
    case Instruction::Lar: {
      const SegmentDescriptor* d = visible(s, cpl, operand);
      // Access rights as LAR masks them: G, P, DPL, S and the type (execute/read or read/write).
      return with_zf(d, d ? (1u << 23) | (1u << 15) | (d->dpl << 13) | (1u << 12) | ((d->code ? 0xau : 0x2u) << 8) : 0);
    }
    case Instruction::Lsl: {
      const SegmentDescriptor* d = visible(s, cpl, operand);
      return with_zf(d, d ? d->limit : 0);
    }
    case Instruction::Verr: return with_zf(visible(s, cpl, operand) != nullptr, 0);  // code is readable here too
    case Instruction::Verw: {
      const SegmentDescriptor* d = visible(s, cpl, operand);
      return with_zf(d && !d->code, 0);
    }
    default: return 0;
  }
}

GuestStateView::GuestStateView() : bare_(guest_kernel_registers()), virtual_(bare_), real_(bare_) {}

void GuestStateView::deprivilege(unsigned ring) {
  ring_ = ring;
  real_ = vmm_registers(virtual_, ring);
}

void GuestStateView::mix(std::uint64_t v) {
  digest_ = (digest_ ^ v) * 0x100000001b3ull;
  digest_ ^= digest_ >> 29;
}

bool GuestStateView::sensitive(Instruction instruction, std::uint64_t operand, bool hole) {
  observed_ = true;
  // Bare hardware, at ring 0, gives the right answer.
  std::uint64_t right = run_sensitive(instruction, bare_, 0, operand);
  std::uint64_t got = hole ? run_sensitive(instruction, real_, ring_, operand) : run_sensitive(instruction, virtual_, 0, operand);
  // What a POPF leaves is the guest's interrupt flag and IOPL as the VMM keeps them: through
  // the hole the VMM never saw it, so they stay as they were.
  if (instruction == Instruction::Popf) {
    right = run_sensitive(Instruction::Pushf, bare_, 0, 0);
    got = run_sensitive(Instruction::Pushf, virtual_, 0, 0);
  }
  mix(static_cast<std::uint64_t>(instruction));
  mix(got);
  return got != right;
}

void GuestStateView::privileged(Instruction instruction, std::uint64_t operand) {
  for (SystemRegisters* s : {&bare_, &virtual_}) {
    switch (instruction) {
      case Instruction::Cli: s->interrupt_flag = false; break;
      case Instruction::Sti: s->interrupt_flag = true; break;
      case Instruction::Lgdt: s->gdtr_base = operand; break;
      case Instruction::Lidt: s->idtr_base = operand; break;
      case Instruction::Lldt: s->ldtr = static_cast<std::uint16_t>(operand); break;
      case Instruction::Ltr: s->tr = static_cast<std::uint16_t>(operand); break;
      case Instruction::Clts: s->cr0 &= ~kCr0Ts; break;
      case Instruction::Lmsw: s->cr0 = (s->cr0 & ~std::uint64_t{0xe}) | (operand & 0xf) | (s->cr0 & 1); break;
      case Instruction::MovToCr0: s->cr0 = operand; break;
      default: return;
    }
  }
  // The VMM keeps its own tables and flags: only what it shows of CR0 follows the guest's.
  if (ring_ > 0) real_.cr0 = virtual_.cr0 | kCr0Ts;
}

}  // namespace virtsim
