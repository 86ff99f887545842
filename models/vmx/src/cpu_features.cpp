#include "virtsim/vmx/cpu_features.h"

#include "virtsim/common/error.h"

namespace virtsim {

CpuFeatures::CpuFeatures(const Scope& scope)
    : VIRTSIM_MEMBER(vmx, scope, true, "", "the CPU has Intel VT-x (system.vmx.mode = \"vmx\")"),
      VIRTSIM_MEMBER(svm, scope, true, "", "the CPU has AMD-V (system.vmx.mode = \"svm\")"),
      VIRTSIM_MEMBER(ept, scope, true, "",
                     "the CPU has Intel EPT (system.nested.paging = \"ept4\" or \"ept5\")"),
      VIRTSIM_MEMBER(npt, scope, true, "",
                     "the CPU has AMD nested paging, NPT/RVI (system.nested.paging = \"npt4\" or \"npt5\")"),
      VIRTSIM_MEMBER(vpid, scope, true, "", "the CPU has VPIDs (system.vmx.tagged_tlb under VT-x)"),
      VIRTSIM_MEMBER(asid, scope, true, "", "the CPU has ASIDs (system.vmx.tagged_tlb under AMD-V)"),
      params_(scope.params) {}

std::string CpuFeatures::setting(const std::string& name, const std::string& value) const {
  std::string text = name + " = " + value;
  if (params_)
    if (const auto source = params_->configured_source(name)) text += " (" + source->describe() + ")";
  return text;
}

void CpuFeatures::check(const TransitionParameters& transitions,
                        const Param<std::string>& nested_paging) const {
  const std::string& mode = transitions.mode.get();
  const std::string& paging = nested_paging.get();
  const std::string mode_setting = setting(transitions.mode.name(), "\"" + mode + "\"");
  const std::string paging_setting = setting(nested_paging.name(), "\"" + paging + "\"");
  const auto lacks = [this](const std::string& what_asked, const std::string& feature,
                            const Param<bool>& flag) {
    throw ConfigError(what_asked + " needs " + feature +
                      ", which this CPU lacks: " + setting(flag.name(), "false"));
  };
  if (mode == "vmx" && !vmx) lacks(mode_setting, "VT-x", vmx);
  if (mode == "svm" && !svm) lacks(mode_setting, "AMD-V", svm);
  const bool ept_format = paging.rfind("ept", 0) == 0;
  const bool npt_format = paging.rfind("npt", 0) == 0;
  if (ept_format && mode == "svm")
    throw ConfigError(paging_setting + " is Intel EPT, but " + mode_setting +
                      " is AMD-V: under AMD-V nested paging is \"npt4\" or \"npt5\"");
  if (npt_format && mode == "vmx")
    throw ConfigError(paging_setting + " is AMD NPT, but " + mode_setting +
                      " is VT-x: under VT-x nested paging is \"ept4\" or \"ept5\"");
  if (ept_format && !ept) lacks(paging_setting, "EPT", ept);
  if (npt_format && !npt) lacks(paging_setting, "NPT", npt);
  if (transitions.tagged_tlb) {
    const std::string tagging = setting(transitions.tagged_tlb.name(), "true") + " under " + mode_setting;
    if (mode == "vmx" && !vpid) lacks(tagging, "VPIDs", vpid);
    if (mode == "svm" && !asid) lacks(tagging, "ASIDs", asid);
  }
}

}  // namespace virtsim
