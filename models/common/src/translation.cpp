#include "virtsim/common/translation.h"

namespace virtsim {

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::None: return "none";
    case FaultKind::PageFault: return "page fault";
    case FaultKind::GeneralProtection: return "general protection";
    case FaultKind::EptViolation: return "EPT violation";
    case FaultKind::EptMisconfig: return "EPT misconfiguration";
    case FaultKind::NestedPageFault: return "nested page fault";
  }
  return "?";
}

bool same_result(const Translation& a, const Translation& b) {
  if (a.fault != b.fault || a.fault_kind != b.fault_kind) return false;
  if (a.fault)
    return a.error_code == b.error_code && a.exit_qualification == b.exit_qualification &&
           a.guest_physical_address == b.guest_physical_address;
  return a.physical_address == b.physical_address && a.page_shift == b.page_shift && a.writable == b.writable &&
         a.user == b.user && a.executable == b.executable && a.global == b.global;
}

std::string describe(const Translation& t) {
  if (!t.fault)
    return "pa " + to_hex(t.physical_address) + " (page 2^" + std::to_string(t.page_shift) + (t.writable ? " W" : "") +
           (t.user ? " U" : "") + (t.executable ? " X" : "") + (t.global ? " G" : "") + ")";
  std::string s = to_string(t.fault_kind);
  if (t.fault_kind == FaultKind::PageFault) s += " error code " + to_hex(t.error_code);
  if (t.fault_kind == FaultKind::EptViolation || t.fault_kind == FaultKind::NestedPageFault)
    s += " qualification " + to_hex(t.exit_qualification);
  if (t.fault_kind != FaultKind::PageFault && t.fault_kind != FaultKind::GeneralProtection)
    s += " gpa " + to_hex(t.guest_physical_address);
  return s;
}

}  // namespace virtsim
