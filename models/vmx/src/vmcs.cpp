#include "virtsim/vmx/vmcs.h"

#include <cstring>
#include <stdexcept>

namespace virtsim {

const std::vector<VmcsFieldInfo>& vmcs_fields() {
  using namespace vmcs;
  static const std::vector<VmcsFieldInfo> fields{
      {kVpid, "virtual-processor identifier"},
      {kGuestEsSelector, "guest ES selector"}, {kGuestCsSelector, "guest CS selector"},
      {kGuestSsSelector, "guest SS selector"}, {kGuestDsSelector, "guest DS selector"},
      {kGuestFsSelector, "guest FS selector"}, {kGuestGsSelector, "guest GS selector"},
      {kGuestLdtrSelector, "guest LDTR selector"}, {kGuestTrSelector, "guest TR selector"},
      {kHostEsSelector, "host ES selector"}, {kHostCsSelector, "host CS selector"},
      {kHostSsSelector, "host SS selector"}, {kHostDsSelector, "host DS selector"},
      {kHostFsSelector, "host FS selector"}, {kHostGsSelector, "host GS selector"},
      {kHostTrSelector, "host TR selector"},
      {kIoBitmapA, "address of I/O bitmap A"}, {kIoBitmapB, "address of I/O bitmap B"},
      {kMsrBitmap, "address of MSR bitmaps"}, {kExitMsrStoreAddress, "VM-exit MSR-store address"},
      {kExitMsrLoadAddress, "VM-exit MSR-load address"}, {kEntryMsrLoadAddress, "VM-entry MSR-load address"},
      {kTscOffset, "TSC offset"}, {kVirtualApicAddress, "virtual-APIC address"},
      {kEptPointer, "EPT pointer"},
      {kGuestPhysicalAddress, "guest-physical address"},
      {kVmcsLinkPointer, "VMCS link pointer"}, {kGuestDebugCtl, "guest IA32_DEBUGCTL"},
      {kGuestPat, "guest IA32_PAT"}, {kGuestEfer, "guest IA32_EFER"},
      {kGuestPerfGlobalCtrl, "guest IA32_PERF_GLOBAL_CTRL"}, {kGuestPdpte0, "guest PDPTE0"},
      {kGuestPdpte1, "guest PDPTE1"}, {kGuestPdpte2, "guest PDPTE2"}, {kGuestPdpte3, "guest PDPTE3"},
      {kHostPat, "host IA32_PAT"}, {kHostEfer, "host IA32_EFER"},
      {kHostPerfGlobalCtrl, "host IA32_PERF_GLOBAL_CTRL"},
      {kPinBasedControls, "pin-based VM-execution controls"},
      {kPrimaryProcControls, "primary processor-based VM-execution controls"},
      {kExceptionBitmap, "exception bitmap"}, {kPageFaultErrorMask, "page-fault error-code mask"},
      {kPageFaultErrorMatch, "page-fault error-code match"}, {kCr3TargetCount, "CR3-target count"},
      {kExitControls, "VM-exit controls"}, {kExitMsrStoreCount, "VM-exit MSR-store count"},
      {kExitMsrLoadCount, "VM-exit MSR-load count"}, {kEntryControls, "VM-entry controls"},
      {kEntryMsrLoadCount, "VM-entry MSR-load count"},
      {kEntryInterruptionInfo, "VM-entry interruption-information field"},
      {kEntryExceptionErrorCode, "VM-entry exception error code"},
      {kEntryInstructionLength, "VM-entry instruction length"}, {kTprThreshold, "TPR threshold"},
      {kSecondaryProcControls, "secondary processor-based VM-execution controls"},
      {kPleGap, "PLE_Gap"}, {kPleWindow, "PLE_Window"},
      {kVmInstructionError, "VM-instruction error"}, {kExitReason, "exit reason"},
      {kExitInterruptionInfo, "VM-exit interruption information"},
      {kExitInterruptionErrorCode, "VM-exit interruption error code"},
      {kIdtVectoringInfo, "IDT-vectoring information field"},
      {kIdtVectoringErrorCode, "IDT-vectoring error code"},
      {kExitInstructionLength, "VM-exit instruction length"},
      {kExitInstructionInfo, "VM-exit instruction information"},
      {kGuestEsLimit, "guest ES limit"}, {kGuestGdtrLimit, "guest GDTR limit"},
      {kGuestIdtrLimit, "guest IDTR limit"}, {kGuestInterruptibility, "guest interruptibility state"},
      {kGuestActivityState, "guest activity state"}, {kGuestSmbase, "guest SMBASE"},
      {kGuestSysenterCs, "guest IA32_SYSENTER_CS"}, {kPreemptionTimerValue, "VMX-preemption timer value"},
      {kHostSysenterCs, "host IA32_SYSENTER_CS"},
      {kCr0GuestHostMask, "CR0 guest/host mask"}, {kCr4GuestHostMask, "CR4 guest/host mask"},
      {kCr0ReadShadow, "CR0 read shadow"}, {kCr4ReadShadow, "CR4 read shadow"},
      {kCr3Target0, "CR3-target value 0"}, {kCr3Target1, "CR3-target value 1"},
      {kCr3Target2, "CR3-target value 2"}, {kCr3Target3, "CR3-target value 3"},
      {kExitQualification, "exit qualification"}, {kIoRcx, "I/O RCX"}, {kIoRsi, "I/O RSI"},
      {kIoRdi, "I/O RDI"}, {kIoRip, "I/O RIP"}, {kGuestLinearAddress, "guest-linear address"},
      {kGuestCr0, "guest CR0"}, {kGuestCr3, "guest CR3"}, {kGuestCr4, "guest CR4"},
      {kGuestEsBase, "guest ES base"}, {kGuestGdtrBase, "guest GDTR base"}, {kGuestIdtrBase, "guest IDTR base"},
      {kGuestDr7, "guest DR7"}, {kGuestRsp, "guest RSP"}, {kGuestRip, "guest RIP"},
      {kGuestRflags, "guest RFLAGS"}, {kGuestPendingDebug, "guest pending debug exceptions"},
      {kGuestSysenterEsp, "guest IA32_SYSENTER_ESP"}, {kGuestSysenterEip, "guest IA32_SYSENTER_EIP"},
      {kHostCr0, "host CR0"}, {kHostCr3, "host CR3"}, {kHostCr4, "host CR4"}, {kHostFsBase, "host FS base"},
      {kHostGsBase, "host GS base"}, {kHostTrBase, "host TR base"}, {kHostGdtrBase, "host GDTR base"},
      {kHostIdtrBase, "host IDTR base"}, {kHostSysenterEsp, "host IA32_SYSENTER_ESP"},
      {kHostSysenterEip, "host IA32_SYSENTER_EIP"}, {kHostRsp, "host RSP"}, {kHostRip, "host RIP"},
  };
  return fields;
}

std::optional<std::string> vmcs_field_name(std::uint32_t encoding) {
  const bool high = is_high_access(encoding);
  if (high && field_width(encoding) != VmcsFieldWidth::Bits64) return std::nullopt;  // only 64-bit fields have halves
  const std::uint32_t full = encoding & ~1u;
  for (const auto& f : vmcs_fields())
    if (f.encoding == full) return std::string(f.name) + (high ? " (high)" : "");
  return std::nullopt;
}

namespace {
std::uint64_t width_mask(VmcsFieldWidth w) {
  switch (w) {
    case VmcsFieldWidth::Bits16: return 0xffff;
    case VmcsFieldWidth::Bits32: return 0xffffffff;
    default: return ~std::uint64_t{0};
  }
}
}  // namespace

std::uint64_t& Vmcs::slot(std::uint32_t full) {
  if (full & ~kSlotBits) return other_[full];
  const std::size_t i = slot_of(full);
  present_[i] = 1;
  return values_[i];
}

std::uint64_t Vmcs::get(std::uint32_t encoding) const {
  const std::uint32_t full = encoding & ~1u;
  std::uint64_t v = 0;
  if (!(full & ~kSlotBits)) {
    v = values_[slot_of(full)];  // 0 when never written
  } else if (const auto it = other_.find(full); it != other_.end()) {
    v = it->second;
  }
  return is_high_access(encoding) ? v >> 32 : v;
}

void Vmcs::set(std::uint32_t encoding, std::uint64_t value) {
  auto& slot = this->slot(encoding & ~1u);
  if (is_high_access(encoding)) slot = (slot & 0xffffffffu) | (value << 32);
  else slot = value & width_mask(field_width(encoding));
}

std::vector<std::uint8_t> Vmcs::serialize() const {
  std::vector<std::uint8_t> region(kPageSize4K, 0);
  std::memcpy(region.data(), &revision_, 4);
  std::memcpy(region.data() + 4, &abort_, 4);
  const std::uint32_t launched = launch_state_ == LaunchState::Launched;
  std::memcpy(region.data() + 8, &launched, 4);
  std::size_t offset = 16;
  // Every field written, in encoding order (the slots and the others merged).
  std::map<std::uint32_t, std::uint64_t> fields = other_;
  for (std::size_t i = 0; i < kSlots; ++i)
    if (present_[i]) fields[encoding_of(i)] = values_[i];
  for (const auto& [encoding, value] : fields) {
    if (offset + 16 > region.size()) throw std::length_error("VMCS fields do not fit in 4 KiB");
    const std::uint64_t key = std::uint64_t{encoding} | (std::uint64_t{1} << 32);  // bit 32: record present
    std::memcpy(region.data() + offset, &key, 8);
    std::memcpy(region.data() + offset + 8, &value, 8);
    offset += 16;
  }
  return region;
}

Vmcs Vmcs::parse(const std::vector<std::uint8_t>& region) {
  std::uint32_t revision = 0, abort = 0, launched = 0;
  std::memcpy(&revision, region.data(), 4);
  std::memcpy(&abort, region.data() + 4, 4);
  std::memcpy(&launched, region.data() + 8, 4);
  Vmcs v(revision);
  v.abort_ = abort;
  v.launch_state_ = launched ? LaunchState::Launched : LaunchState::Clear;
  for (std::size_t offset = 16; offset + 16 <= region.size(); offset += 16) {
    std::uint64_t key = 0, value = 0;
    std::memcpy(&key, region.data() + offset, 8);
    if (!(key >> 32)) break;
    std::memcpy(&value, region.data() + offset + 8, 8);
    v.slot(static_cast<std::uint32_t>(key)) = value;
  }
  return v;
}

}  // namespace virtsim
