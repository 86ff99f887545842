#pragma once
// The memory virtualization strategies by name: the one place that lists them. Each entry
// says what it is, which parameters it takes, whether the configuration names it, how to
// build it, and the variants `experiment.compare` may name (a strategy with a page size
// given, say: nested_2m is nested paging with 2 MiB nested pages). Adding a scheme is a
// folder under models/hypervisor and one line in registry.cpp (docs/extending.md).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "virtsim/hypervisor/memory_virtualization.h"

namespace virtsim {

// Keys and values a comparison sets to run an experiment under one variant (as --set takes
// them). Every variant sets every key of every strategy's baseline, so a config's own choice
// of one never leaks into another variant.
using Settings = std::vector<std::pair<std::string, std::string>>;

// What a comparison keeps of the configured experiment: its VT-x / AMD-V choice and its
// nested table format (or the vendor's 4-level one).
struct CompareContext {
  std::string virt;    // "vmx" or "svm"
  std::string nested;  // "ept4", "ept5", "npt4" or "npt5"
};

struct MemoryVirtualizationVariant {
  std::string name;         // as experiment.compare names it
  std::string description;  // one line
  std::function<Settings(const CompareContext&)> settings;  // the keys that differ from the baseline
};

struct MemoryVirtualizationEntry {
  std::string name;
  std::string description;
  std::vector<std::string> parameters;  // the keys (and key prefixes) it reads
  // Whether the configuration asks for this strategy. Of the entries that say yes the last
  // one in the registry's order is built (a scheme that builds on another comes after it:
  // binary translation after shadow paging); it refuses the other switches it cannot take.
  std::function<bool(const MemoryVirtualizationParameters&)> configured;
  // Builds it; throws ConfigError when the configuration does not fit it.
  std::function<std::unique_ptr<MemoryVirtualization>(const MemoryVirtualizationSetup&)> make;
  std::vector<MemoryVirtualizationVariant> variants;
  // The settings that leave this strategy off (its switch, and its page size at 4 KiB).
  Settings baseline;
};

// Every strategy: native, shadow, nested, paravirt, bt, selective, agile, trap_emulate, and the
// L2 guests of nested virtualization: nested_ept, shadow_on_ept.
const std::vector<MemoryVirtualizationEntry>& memory_virtualizations();
// The strategy the configuration names.
const MemoryVirtualizationEntry& configured_memory_virtualization(const MemoryVirtualizationParameters& parameters);
// Every variant's name, in the order `experiment.compare` documents them.
std::vector<std::string> memory_virtualization_variants();
// The settings that run an experiment under `variant` (every strategy's baseline, with the
// variant's own settings in place); nothing when no strategy has a variant of that name.
std::optional<std::vector<std::string>> variant_settings(const std::string& variant, const CompareContext& context);

// Each strategy's entry (one per folder of models/hypervisor).
MemoryVirtualizationEntry native_entry();
MemoryVirtualizationEntry shadow_entry();
MemoryVirtualizationEntry nested_entry();
MemoryVirtualizationEntry paravirt_entry();
MemoryVirtualizationEntry binary_translation_entry();
MemoryVirtualizationEntry selective_entry();
MemoryVirtualizationEntry agile_entry();
MemoryVirtualizationEntry trap_emulate_entry();
MemoryVirtualizationEntry nested_ept_entry();
MemoryVirtualizationEntry shadow_on_ept_entry();

}  // namespace virtsim
