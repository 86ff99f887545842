#pragma once
// The exit vocabulary of both hardware virtualization flavours: VT-x basic exit reasons
// (Intel SDM vol. 3D, appendix C) and AMD-V #VMEXIT codes (AMD APM vol. 2, appendix C).
// Result files name exits with these; the VMX/SVM models raise them.
#include <cstdint>
#include <string>
#include <vector>

namespace virtsim {

enum class VirtMode { Vmx, Svm };
const char* to_string(VirtMode mode);  // "vmx", "svm"

struct ExitReasonInfo {
  std::int64_t code;
  std::string name;
};

// Every defined code of the mode, in ascending order.
const std::vector<ExitReasonInfo>& exit_reasons(VirtMode mode);
// The manual's name for a code; "unknown (N)" for a code the manual does not define.
std::string exit_reason_name(VirtMode mode, std::int64_t code);

}  // namespace virtsim
