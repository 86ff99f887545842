#pragma once
// The virtualization features of the modelled CPU (scope "system.features"). Every feature is
// present by default; a machine preset clears what its generation lacked (experiments/presets/
// machine/README.md gives the sources). Asking for a feature the CPU lacks, or mixing Intel's
// and AMD's, is a configuration error: nothing is silently substituted.
#include <string>

#include "virtsim/common/param.h"
#include "virtsim/vmx/virtualization_unit.h"

namespace virtsim {

class CpuFeatures {
 public:
  explicit CpuFeatures(const Scope& scope);

  // Throws ConfigError, naming the keys and where they were set, when the virtualization mode,
  // the nested paging format (none, ept4/ept5, npt4/npt5) or TLB tagging needs a feature this
  // CPU lacks, or when an Intel format meets AMD-V or an AMD format VT-x.
  void check(const TransitionParameters& transitions, const Param<std::string>& nested_paging) const;

  Param<bool> vmx, svm, ept, npt, vpid, asid;

 private:
  // `name = value` and, when it was configured, where: "system.features.ept = false (merom.toml:9:1)".
  std::string setting(const std::string& name, const std::string& value) const;
  const ParamRegistry* params_;
};

}  // namespace virtsim
