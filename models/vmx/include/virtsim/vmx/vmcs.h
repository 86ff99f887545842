#pragma once
// The VMCS (Intel SDM vol. 3 chapter 25 and appendix B): a 4 KiB region in physical memory
// whose first 4 bytes are the VMCS revision identifier (bit 31: shadow-VMCS indicator) and the
// next 4 the VMX-abort indicator; the rest holds the fields in an implementation-specific
// format. Fields are named by their 32-bit encodings: bit 0 access type (full / high half of a
// 64-bit field), bits 9:1 index, bits 11:10 type (control, VM-exit information, guest state,
// host state), bits 14:13 width (16-bit, 64-bit, 32-bit, natural width).
//
// Here the processor's working copy of a VMCS is a field map; VMCLEAR writes it to the region
// as 16-byte records (encoding, value) after the 8-byte header, VMPTRLD reads it back, so a
// VMCS really lives in simulated memory between uses.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "virtsim/common/units.h"

namespace virtsim {

enum class VmcsFieldType : std::uint8_t { Control, ExitInformation, GuestState, HostState };
enum class VmcsFieldWidth : std::uint8_t { Bits16, Bits64, Bits32, Natural };

inline VmcsFieldType field_type(std::uint32_t encoding) { return static_cast<VmcsFieldType>((encoding >> 10) & 3); }
inline VmcsFieldWidth field_width(std::uint32_t encoding) { return static_cast<VmcsFieldWidth>((encoding >> 13) & 3); }
inline bool is_high_access(std::uint32_t encoding) { return encoding & 1; }

namespace vmcs {
// 16-bit
inline constexpr std::uint32_t kVpid = 0x0000;
inline constexpr std::uint32_t kGuestEsSelector = 0x0800, kGuestCsSelector = 0x0802, kGuestSsSelector = 0x0804,
                               kGuestDsSelector = 0x0806, kGuestFsSelector = 0x0808, kGuestGsSelector = 0x080A,
                               kGuestLdtrSelector = 0x080C, kGuestTrSelector = 0x080E;
inline constexpr std::uint32_t kHostEsSelector = 0x0C00, kHostCsSelector = 0x0C02, kHostSsSelector = 0x0C04,
                               kHostDsSelector = 0x0C06, kHostFsSelector = 0x0C08, kHostGsSelector = 0x0C0A,
                               kHostTrSelector = 0x0C0C;
// 64-bit
inline constexpr std::uint32_t kIoBitmapA = 0x2000, kIoBitmapB = 0x2002, kMsrBitmap = 0x2004,
                               kExitMsrStoreAddress = 0x2006, kExitMsrLoadAddress = 0x2008,
                               kEntryMsrLoadAddress = 0x200A, kTscOffset = 0x2010, kVirtualApicAddress = 0x2012,
                               kEptPointer = 0x201A;
inline constexpr std::uint32_t kGuestPhysicalAddress = 0x2400;
inline constexpr std::uint32_t kVmcsLinkPointer = 0x2800, kGuestDebugCtl = 0x2802, kGuestPat = 0x2804,
                               kGuestEfer = 0x2806, kGuestPerfGlobalCtrl = 0x2808, kGuestPdpte0 = 0x280A,
                               kGuestPdpte1 = 0x280C, kGuestPdpte2 = 0x280E, kGuestPdpte3 = 0x2810;
inline constexpr std::uint32_t kHostPat = 0x2C00, kHostEfer = 0x2C02, kHostPerfGlobalCtrl = 0x2C04;
// 32-bit
inline constexpr std::uint32_t kPinBasedControls = 0x4000, kPrimaryProcControls = 0x4002, kExceptionBitmap = 0x4004,
                               kPageFaultErrorMask = 0x4006, kPageFaultErrorMatch = 0x4008, kCr3TargetCount = 0x400A,
                               kExitControls = 0x400C, kExitMsrStoreCount = 0x400E, kExitMsrLoadCount = 0x4010,
                               kEntryControls = 0x4012, kEntryMsrLoadCount = 0x4014,
                               kEntryInterruptionInfo = 0x4016, kEntryExceptionErrorCode = 0x4018,
                               kEntryInstructionLength = 0x401A, kTprThreshold = 0x401C,
                               kSecondaryProcControls = 0x401E, kPleGap = 0x4020, kPleWindow = 0x4022;
inline constexpr std::uint32_t kVmInstructionError = 0x4400, kExitReason = 0x4402, kExitInterruptionInfo = 0x4404,
                               kExitInterruptionErrorCode = 0x4406, kIdtVectoringInfo = 0x4408,
                               kIdtVectoringErrorCode = 0x440A, kExitInstructionLength = 0x440C,
                               kExitInstructionInfo = 0x440E;
inline constexpr std::uint32_t kGuestEsLimit = 0x4800, kGuestGdtrLimit = 0x4810, kGuestIdtrLimit = 0x4812,
                               kGuestInterruptibility = 0x4824, kGuestActivityState = 0x4826, kGuestSmbase = 0x4828,
                               kGuestSysenterCs = 0x482A, kPreemptionTimerValue = 0x482E;
inline constexpr std::uint32_t kHostSysenterCs = 0x4C00;
// natural width
inline constexpr std::uint32_t kCr0GuestHostMask = 0x6000, kCr4GuestHostMask = 0x6002, kCr0ReadShadow = 0x6004,
                               kCr4ReadShadow = 0x6006, kCr3Target0 = 0x6008, kCr3Target1 = 0x600A,
                               kCr3Target2 = 0x600C, kCr3Target3 = 0x600E;
inline constexpr std::uint32_t kExitQualification = 0x6400, kIoRcx = 0x6402, kIoRsi = 0x6404, kIoRdi = 0x6406,
                               kIoRip = 0x6408, kGuestLinearAddress = 0x640A;
inline constexpr std::uint32_t kGuestCr0 = 0x6800, kGuestCr3 = 0x6802, kGuestCr4 = 0x6804, kGuestEsBase = 0x6806,
                               kGuestGdtrBase = 0x6816, kGuestIdtrBase = 0x6818, kGuestDr7 = 0x681A,
                               kGuestRsp = 0x681C, kGuestRip = 0x681E, kGuestRflags = 0x6820,
                               kGuestPendingDebug = 0x6822, kGuestSysenterEsp = 0x6824, kGuestSysenterEip = 0x6826;
inline constexpr std::uint32_t kHostCr0 = 0x6C00, kHostCr3 = 0x6C02, kHostCr4 = 0x6C04, kHostFsBase = 0x6C06,
                               kHostGsBase = 0x6C08, kHostTrBase = 0x6C0A, kHostGdtrBase = 0x6C0C,
                               kHostIdtrBase = 0x6C0E, kHostSysenterEsp = 0x6C10, kHostSysenterEip = 0x6C12,
                               kHostRsp = 0x6C14, kHostRip = 0x6C16;
}  // namespace vmcs

// Every field this model supports, with its SDM name.
struct VmcsFieldInfo {
  std::uint32_t encoding;
  const char* name;
};
const std::vector<VmcsFieldInfo>& vmcs_fields();
std::optional<std::string> vmcs_field_name(std::uint32_t encoding);  // nullopt: unsupported

enum class LaunchState : std::uint8_t { Clear, Launched };

class Vmcs {
 public:
  explicit Vmcs(std::uint32_t revision = 0) : revision_(revision), values_(kSlots, 0), present_(kSlots, 0) {}

  std::uint32_t revision() const { return revision_; }
  std::uint32_t abort_indicator() const { return abort_; }
  void set_abort_indicator(std::uint32_t v) { abort_ = v; }
  LaunchState launch_state() const { return launch_state_; }
  void set_launch_state(LaunchState s) { launch_state_ = s; }

  // Raw field access (no VMREAD/VMWRITE rules; those are VmxUnit's). Values are truncated to
  // the field's width; a high-half encoding reads or writes bits 63:32 of its 64-bit field.
  std::uint64_t get(std::uint32_t encoding) const;
  void set(std::uint32_t encoding, std::uint64_t value);

  // The region image: header then field records; parse() accepts what serialize() wrote.
  std::vector<std::uint8_t> serialize() const;
  static Vmcs parse(const std::vector<std::uint8_t>& region);

 private:
  std::uint32_t revision_;
  std::uint32_t abort_ = 0;
  LaunchState launch_state_ = LaunchState::Clear;
  // Every exit and entry reads dozens of fields: each encoding a field can have (width,
  // type and index; 13 bits) has a slot of its own, in encoding order. Encodings no field
  // has (bit 12, or bits above 14, set) are kept aside.
  static constexpr std::size_t kSlots = std::size_t{1} << 13;
  static constexpr std::uint32_t kSlotBits = 0x6ffe;  // width 14:13, type 11:10, index 9:1
  static std::size_t slot_of(std::uint32_t full) {
    return ((full >> 13) & 3) << 11 | ((full >> 10) & 3) << 9 | ((full >> 1) & 0x1ff);
  }
  static std::uint32_t encoding_of(std::size_t slot) {
    return static_cast<std::uint32_t>((slot >> 11) << 13 | ((slot >> 9) & 3) << 10 | (slot & 0x1ff) << 1);
  }
  std::uint64_t& slot(std::uint32_t full);
  std::vector<std::uint64_t> values_;
  std::vector<std::uint8_t> present_;
  std::map<std::uint32_t, std::uint64_t> other_;  // full (even) encodings outside the slots
};

}  // namespace virtsim
