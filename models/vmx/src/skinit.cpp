#include "virtsim/vmx/skinit.h"

#include <cmath>

namespace virtsim {

namespace {
constexpr Addr kSlbBytes = Addr{64} << 10;
constexpr std::uint64_t kEferSvme = 1u << 12;
constexpr std::uint64_t kCr0Pe = 1u << 0, kCr0Et = 1u << 4;
constexpr std::uint16_t kFlatCodeSelector = 0x08;
}  // namespace

SkinitUnit::SkinitUnit(const Scope& scope, double core_ghz, ByteReader memory, std::function<void(Addr)> protect_slb)
    : VIRTSIM_MEMBER(reinit_cycles, scope, 2000, "cycles",
                     "SKINIT's processor reinitialisation before the measurement (assumption: an INIT-like state "
                     "load, not measured)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(lpc_mhz, scope, 33.0, "MHz", "clock of the LPC bus the TPM sits on (the LPC specification's 33 MHz)",
                     Range{1, 1000}),
      VIRTSIM_MEMBER(lpc_clocks_per_byte, scope, 17, "LPC clocks",
                     "LPC clocks per image byte sent to the TPM (assumption: one LPC memory write cycle per byte: "
                     "START, CYCTYPE/DIR, 8 address, 2 data, 2 turn-around, 1 SYNC, 2 turn-around clocks, Intel LPC "
                     "Interface Specification 1.1); the TPM's own hashing time is not included",
                     Range{1, 1000}),
      VIRTSIM_MEMBER(launches, scope, "instructions", "SKINITs that launched a secure loader"),
      VIRTSIM_MEMBER(intercepts, scope, "instructions", "SKINITs intercepted by the hypervisor (#VMEXIT 0x86)"),
      VIRTSIM_MEMBER(faults, scope, "instructions", "SKINITs that faulted (#UD or #GP)"),
      VIRTSIM_MEMBER(bytes_measured, scope, "bytes", "secure loader image bytes sent to the TPM"),
      VIRTSIM_MEMBER(cycles_spent, scope, "cycles", "cycles of the launches (reinitialisation and measurement)"),
      core_ghz_(core_ghz),
      memory_(std::move(memory)),
      protect_slb_(std::move(protect_slb)) {}

Cycles SkinitUnit::launch_cycles(unsigned image_bytes) const {
  const double transfer_ns = double(image_bytes) * double(lpc_clocks_per_byte.get()) * 1000.0 / lpc_mhz.get();
  return reinit_cycles.get() + static_cast<Cycles>(std::llround(transfer_ns * core_ghz_));
}

SkinitOutcome SkinitUnit::execute(std::uint32_t eax, CpuState& cpu, SvmUnit& svm, const SkinitContext& context) {
  SkinitOutcome out;
  // Simple exceptions come before the intercept check (APM: instruction intercepts are
  // checked after #UD and the CPL's #GP, before exceptions that depend on memory).
  if (!(cpu.efer & kEferSvme) && !context.cpuid_skinit) {
    out.kind = SkinitOutcome::Kind::InvalidOpcode;
    ++faults;
    return out;
  }
  if (context.cpl != 0 || !(cpu.cr0 & kCr0Pe)) {
    out.kind = SkinitOutcome::Kind::GeneralProtection;
    ++faults;
    return out;
  }
  if (context.guest_vmcb && context.guest_vmcb->intercepts(vmcb::kInterceptVector4, svm_intercept::kSkinit)) {
    out.kind = SkinitOutcome::Kind::Intercepted;
    out.exit.exits = true;
    out.exit.mode = VirtMode::Svm;
    out.exit.code = svm_exit::kSkinit;
    ++intercepts;
    return out;
  }

  const Addr slb = eax & ~std::uint32_t(kSlbBytes - 1);  // bits 15:0 of EAX are ignored
  // The memory controller protects the SLB before the image is read, so no device can change
  // it between measurement and execution.
  protect_slb_(slb);
  const std::uint16_t entry = std::uint16_t(memory_(slb) | (memory_(slb + 1) << 8));
  out.image_bytes = std::uint16_t(memory_(slb + 2) | (memory_(slb + 3) << 8));
  std::uint64_t digest = 0xcbf29ce484222325ull;
  for (unsigned i = 0; i < out.image_bytes; ++i) digest = (digest ^ memory_(slb + i)) * 0x100000001b3ull;
  out.image_digest = digest;

  // The reinitialised state, at the level CpuState has: flat 32-bit protected mode, paging,
  // long mode and every CR4 extension off, interrupts masked, debug state reset, and the
  // stack at the top of the SLB.
  cpu.cr0 = kCr0Pe | kCr0Et;
  cpu.cr3 = 0;
  cpu.cr4 = 0;
  cpu.efer = 0;
  cpu.rflags = 0x2;
  cpu.dr7 = 0x400;
  cpu.cs = kFlatCodeSelector;
  cpu.rip = slb + entry;
  cpu.rsp = slb + kSlbBytes;
  svm.clgi();  // GIF = 0: no interrupt, NMI or SMI until the secure loader sets it
  out.eax = std::uint32_t(slb);
  out.edx = context.family_model_stepping;

  out.cycles = launch_cycles(out.image_bytes);
  ++launches;
  bytes_measured += out.image_bytes;
  cycles_spent += out.cycles;
  return out;
}

}  // namespace virtsim
