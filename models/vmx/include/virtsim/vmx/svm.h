#pragma once
// AMD-V (AMD APM vol. 2 chapter 15 and appendix B): the VMCB as 4 KiB of bytes at the APM's
// offsets (control area from 0x000, state-save area from 0x400), VMRUN with its consistency
// checks (a failing one is #VMEXIT with code VMEXIT_INVALID), #VMEXIT (save guest state, write
// EXITCODE and EXITINFO1/2, load host state), VMLOAD/VMSAVE with the state they move, STGI/CLGI,
// and the intercept decision for a guest event, including the I/O and MSR permission maps.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "virtsim/vmx/vmx.h"

namespace virtsim {

namespace vmcb {
// Control area (APM table B-1).
inline constexpr unsigned kCrReadIntercepts = 0x000;   // 16 bits: CR0-15 reads; bits 31:16 writes
inline constexpr unsigned kDrIntercepts = 0x004;       // 15:0 reads, 31:16 writes
inline constexpr unsigned kExceptionIntercepts = 0x008;
inline constexpr unsigned kInterceptVector3 = 0x00C;
inline constexpr unsigned kInterceptVector4 = 0x010;
inline constexpr unsigned kPauseFilterThreshold = 0x03C;
inline constexpr unsigned kPauseFilterCount = 0x03E;
inline constexpr unsigned kIopmBase = 0x040;
inline constexpr unsigned kMsrpmBase = 0x048;
inline constexpr unsigned kTscOffset = 0x050;
inline constexpr unsigned kGuestAsid = 0x058;
inline constexpr unsigned kTlbControl = 0x05C;
inline constexpr unsigned kVintr = 0x060;              // V_TPR in bits 7:0
inline constexpr unsigned kExitCode = 0x070;
inline constexpr unsigned kExitInfo1 = 0x078;
inline constexpr unsigned kExitInfo2 = 0x080;
inline constexpr unsigned kExitIntInfo = 0x088;
inline constexpr unsigned kNestedPagingEnable = 0x090;
inline constexpr unsigned kEventInjection = 0x0A8;
inline constexpr unsigned kNestedCr3 = 0x0B0;
inline constexpr unsigned kCleanBits = 0x0C0;
inline constexpr unsigned kNextRip = 0x0C8;
// State-save area (APM table B-2). A segment is 16 bytes: selector, attributes, limit, base.
inline constexpr unsigned kCsSelector = 0x410, kCsAttributes = 0x412;
inline constexpr unsigned kFs = 0x440, kGs = 0x450, kLdtr = 0x470, kTr = 0x490, kTrSelector = kTr;
inline constexpr unsigned kSegmentSelector = 0x0, kSegmentAttributes = 0x2, kSegmentLimit = 0x4, kSegmentBase = 0x8;
inline constexpr unsigned kCpl = 0x4CB;
inline constexpr unsigned kEfer = 0x4D0;
inline constexpr unsigned kCr4 = 0x548, kCr3 = 0x550, kCr0 = 0x558, kDr7 = 0x560, kDr6 = 0x568;
inline constexpr unsigned kRflags = 0x570, kRip = 0x578, kRsp = 0x5D8, kRax = 0x5F8;
inline constexpr unsigned kStar = 0x600, kLstar = 0x608, kCstar = 0x610, kSfmask = 0x618, kKernelGsBase = 0x620;
inline constexpr unsigned kSysenterCs = 0x628, kSysenterEsp = 0x630, kSysenterEip = 0x638, kCr2 = 0x640;
inline constexpr unsigned kGuestPat = 0x668;
}  // namespace vmcb

// Intercept vector 3 and 4 bits (APM table B-1, offsets 0x00C and 0x010).
namespace svm_intercept {
inline constexpr std::uint32_t kIntr = 1u << 0, kNmi = 1u << 1, kIdtrRead = 1u << 6, kGdtrRead = 1u << 7,
                               kLdtrRead = 1u << 8, kTrRead = 1u << 9, kIdtrWrite = 1u << 10, kGdtrWrite = 1u << 11,
                               kLdtrWrite = 1u << 12, kTrWrite = 1u << 13, kRdtsc = 1u << 14, kRdpmc = 1u << 15,
                               kPushf = 1u << 16, kPopf = 1u << 17, kCpuid = 1u << 18, kIret = 1u << 20,
                               kIntn = 1u << 21, kInvd = 1u << 22, kPause = 1u << 23, kHlt = 1u << 24,
                               kInvlpg = 1u << 25, kInvlpga = 1u << 26, kIoioProt = 1u << 27, kMsrProt = 1u << 28,
                               kShutdown = 1u << 31;
inline constexpr std::uint32_t kVmrun = 1u << 0, kVmmcall = 1u << 1, kVmload = 1u << 2, kVmsave = 1u << 3,
                               kStgi = 1u << 4, kClgi = 1u << 5, kSkinit = 1u << 6, kRdtscp = 1u << 7,
                               kWbinvd = 1u << 9, kMonitor = 1u << 10, kMwait = 1u << 11, kXsetbv = 1u << 13;
}  // namespace svm_intercept

// SVM exit codes used by the model (APM appendix C).
namespace svm_exit {
inline constexpr std::int64_t kCrRead0 = 0x000, kCrWrite0 = 0x010, kDrRead0 = 0x020, kDrWrite0 = 0x030,
                              kException0 = 0x040, kIntr = 0x060, kNmi = 0x061, kIdtrRead = 0x066, kGdtrRead = 0x067,
                              kLdtrRead = 0x068, kTrRead = 0x069, kIdtrWrite = 0x06A, kGdtrWrite = 0x06B,
                              kLdtrWrite = 0x06C, kTrWrite = 0x06D, kRdtsc = 0x06E, kRdpmc = 0x06F, kPushf = 0x070,
                              kPopf = 0x071, kCpuid = 0x072, kIret = 0x074, kSwint = 0x075, kInvd = 0x076,
                              kPause = 0x077, kHlt = 0x078, kInvlpg = 0x079, kInvlpga = 0x07A, kIoio = 0x07B,
                              kMsr = 0x07C, kShutdown = 0x07F, kVmrun = 0x080, kVmmcall = 0x081, kVmload = 0x082,
                              kVmsave = 0x083, kStgi = 0x084, kClgi = 0x085, kRdtscp = 0x087, kWbinvd = 0x089,
                              kMonitor = 0x08A, kMwait = 0x08B, kXsetbv = 0x08D, kNpf = 0x400, kInvalid = -1;
}

class Vmcb {
 public:
  Vmcb() { bytes_.fill(0); }
  template <typename T>
  T get(unsigned offset) const {
    T v;
    std::memcpy(&v, bytes_.data() + offset, sizeof v);
    return v;
  }
  template <typename T>
  void set(unsigned offset, T v) {
    std::memcpy(bytes_.data() + offset, &v, sizeof v);
  }
  bool intercepts(unsigned offset, std::uint32_t bit) const { return get<std::uint32_t>(offset) & bit; }
  const std::array<std::uint8_t, 4096>& bytes() const { return bytes_; }

 private:
  std::array<std::uint8_t, 4096> bytes_;
};

// TLB_CONTROL values (APM table B-1, offset 0x05C).
namespace svm_tlb_control {
inline constexpr std::uint8_t kDoNothing = 0, kFlushAll = 1, kFlushAsid = 3, kFlushAsidNonGlobal = 7;
}

// The intercept decision for one guest event (APM 15.7-15.13, 15.25.6 for NPF).
ExitDecision svm_decide_exit(const Vmcb& vmcb, const GuestOp& op, const ByteReader& memory, std::uint16_t& pause_count);

class SvmUnit {
 public:
  // VMRUN (APM 15.5): consistency checks, then load the guest state. Returns false when the
  // VMRUN did not enter the guest: a failed check is #VMEXIT with EXITCODE VMEXIT_INVALID in the
  // VMCB (the host continues after the VMRUN); with the host's EFER.SVME clear VMRUN raises #UD
  // and the VMCB is left alone. entry_failure() names the reason.
  bool vmrun(Vmcb& vmcb, CpuState& cpu, std::uint64_t host_efer);
  // #VMEXIT (APM 15.6): save guest state, write the exit code and information, load the host
  // state VMRUN saved. FS, GS, TR, LDTR and the system-call MSRs keep the guest's values: the
  // hypervisor moves them with VMSAVE and VMLOAD.
  void vmexit(Vmcb& vmcb, const ExitDecision& exit, CpuState& cpu);
  // VMLOAD / VMSAVE (APM 15.5.2): FS, GS, TR and LDTR with their hidden parts, KernelGsBase,
  // STAR, LSTAR, CSTAR, SFMASK and the SYSENTER MSRs, between the processor and a VMCB.
  void vmload(const Vmcb& vmcb, CpuState& cpu);
  void vmsave(Vmcb& vmcb, const CpuState& cpu);
  // STGI / CLGI (APM 15.17): set and clear the global interrupt flag.
  void stgi() {
    global_interrupts_ = true;
    ++stgis;
  }
  void clgi() {
    global_interrupts_ = false;
    ++clgis;
  }
  bool global_interrupts() const { return global_interrupts_; }
  bool in_guest() const { return in_guest_; }
  // Why the last VMRUN did not enter the guest (empty when it did).
  const std::string& entry_failure() const { return entry_failure_; }

  // The manual's steps, public for tests. The checks return the failed one's description
  // (empty: all passed).
  std::string vmrun_consistency_checks(const Vmcb& vmcb) const;
  void vmrun_load_guest_state(const Vmcb& vmcb, CpuState& cpu);
  void vmexit_save_guest_state(Vmcb& vmcb, const CpuState& cpu);

  std::uint64_t vmcb_reads = 0, vmcb_writes = 0;
  std::uint64_t vmloads = 0, vmsaves = 0, clgis = 0, stgis = 0, entry_failures = 0;
  // Fields VMLOAD reads and VMSAVE writes: four segments of four parts, eight MSRs.
  static constexpr unsigned kLoadSaveFields = 4 * 4 + 8;

 private:
  CpuState host_;  // saved in the host save area at VMRUN
  bool in_guest_ = false;
  bool global_interrupts_ = true;
  std::string entry_failure_;
};

}  // namespace virtsim
