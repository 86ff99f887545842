// Binary translation (VMware's software VMM; Adams & Agesen, ASPLOS 2006): no VT-x / AMD-V.
// The VMM translates the guest kernel's privileged instructions (BinaryTranslationUnit,
// models/vmx) and keeps shadow page tables as shadow paging does; its traps enter the VMM
// without VM exits.
#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"
#include "virtsim/hypervisor/shadow/shadow_paging.h"

namespace virtsim {

namespace {

class BinaryTranslation final : public ShadowPaging {
 public:
  explicit BinaryTranslation(const MemoryVirtualizationSetup& setup) : ShadowPaging(setup) {
    const MemoryVirtualizationParameters& p = setup.parameters;
    if (p.nested.paging.get() != "none" || setup.transitions.enabled())
      throw ConfigError(p.bt.enabled.name() + " = true is a software VMM: it takes " + setup.transitions.mode.name() +
                        " = \"none\" and " + p.nested.paging.name() + " = \"none\"");
    if (p.paravirt_mmu)
      throw ConfigError(p.paravirt_key + " = true runs on the guest's own tables: it takes " + p.shadow.enabled.name() +
                        " = false and " + p.nested.paging.name() + " = \"none\"");
  }
  GuestInstructionHandler* instruction_handler(unsigned cpu) override {
    const MemoryVirtualizationSetup& s = setup();
    translators_.push_back(std::make_unique<BinaryTranslationUnit>(s.system.child("bt" + std::to_string(cpu)),
                                                                   s.parameters.bt, s.hypervisor));
    return translators_.back().get();
  }
  bool checkpointable() const override { return true; }
  void save_state(StateWriter& out) const override {
    ShadowPaging::save_state(out);
    for (const auto& t : translators_) t->save_state(out);
  }
  void load_state(StateReader& in) override {
    ShadowPaging::load_state(in);
    for (const auto& t : translators_) t->load_state(in);
  }

 private:
  std::vector<std::unique_ptr<BinaryTranslationUnit>> translators_;
};

}  // namespace

MemoryVirtualizationEntry binary_translation_entry() {
  return {"bt",
          "binary translation: a software VMM (no VT-x / AMD-V) that translates the guest kernel's privileged "
          "instructions and keeps shadow page tables",
          {"system.bt.*", "system.shadow.*"},
          [](const MemoryVirtualizationParameters& p) { return p.bt.enabled.get(); },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<BinaryTranslation>(setup); },
          {{"bt", "binary translation over shadow tables",
            [](const CompareContext&) {
              return Settings{{"system.vmx.mode", "\"none\""}, {"system.bt.enabled", "true"}};
            }}},
          {{"system.bt.enabled", "false"}}};
}

}  // namespace virtsim
