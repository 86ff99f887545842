#pragma once
// SKINIT, AMD-V's secure launch (AMD64 Architecture Programmer's Manual vol. 2, chapter 15
// "Secure Virtual Machine", sections on security, SKINIT and the Secure Loader Block; vol. 3,
// the SKINIT instruction). EAX names a 64 KiB-aligned Secure Loader Block whose first word is
// the entry point's offset and whose second word is the length of the secure loader image.
// SKINIT reinitialises the processor (flat 32-bit protected mode, paging and long mode off,
// global interrupts disabled), has the memory controller protect the 64 KiB SLB from device
// access (the DEV's SL_DEV_EN), sends the image to the TPM to be hashed, and jumps to the
// entry point. Under a hypervisor whose VMCB sets the SKINIT intercept it is a #VMEXIT
// (VMEXIT_SKINIT, 0x86) instead: the hypervisor decides whether the guest may launch.
#include <cstdint>
#include <functional>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/vmx/svm.h"

namespace virtsim {

namespace svm_exit {
inline constexpr std::int64_t kSkinit = 0x086;  // APM appendix C
}

struct SkinitOutcome {
  enum class Kind {
    Launched,           // the secure loader runs
    Intercepted,        // #VMEXIT to the hypervisor (`exit`)
    InvalidOpcode,      // #UD: SVM disabled and SKINIT not reported by CPUID
    GeneralProtection,  // #GP(0): CPL above 0 or not in protected mode
  } kind = Kind::Launched;
  ExitDecision exit;
  Cycles cycles = 0;  // Launched only; an exit is costed by the mode switch as every exit is
  std::uint32_t eax = 0, edx = 0;  // SKINIT's register results (CpuState has no GPRs)
  std::uint16_t image_bytes = 0;   // what went to the TPM
  // The model's stand-in for the TPM's hash of the image: a 64-bit FNV-1a digest (not a
  // cryptographic hash; only that it follows every byte of the image matters here).
  std::uint64_t image_digest = 0;
};

// What the executing processor looks like to SKINIT.
struct SkinitContext {
  unsigned cpl = 0;
  bool cpuid_skinit = true;          // CPUID Fn8000_0001_ECX bit 12
  const Vmcb* guest_vmcb = nullptr;  // executing in a guest under this VMCB; null: the host
  std::uint32_t family_model_stepping = 0;  // what SKINIT leaves in EDX
};

class SkinitUnit {
 public:
  // `memory` reads the SLB; `protect_slb` is the memory controller's SL_DEV protection
  // (DeviceExclusionVector::protect_secure_loader on the platform's DEV).
  SkinitUnit(const Scope& scope, double core_ghz, ByteReader memory, std::function<void(Addr)> protect_slb);

  SkinitOutcome execute(std::uint32_t eax, CpuState& cpu, SvmUnit& svm, const SkinitContext& context);

  // The cost of a launch: the state reload, then the image's transfer to the TPM over LPC.
  Cycles launch_cycles(unsigned image_bytes) const;

  Param<std::uint64_t> reinit_cycles;
  Param<double> lpc_mhz;
  Param<std::uint64_t> lpc_clocks_per_byte;

  Counter launches;
  Counter intercepts;
  Counter faults;
  Counter bytes_measured;
  Counter cycles_spent;

 private:
  double core_ghz_;
  ByteReader memory_;
  std::function<void(Addr)> protect_slb_;
};

}  // namespace virtsim
