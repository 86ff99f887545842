#include "virtsim/hypervisor/registry.h"

#include <algorithm>
#include <variant>

namespace virtsim {

MemoryVirtualizationParameters::MemoryVirtualizationParameters(const Scope& system, const std::string& paravirt_key)
    : nested(system.child("nested")), shadow(system.child("shadow")), bt(system.child("bt")), selective(system.child("selective")), agile(system.child("agile")),
      trap_emulate(system.child("trap_emulate")), nested_virt(system.child("nested_virt")), paravirt_key(paravirt_key) {
  if (system.params)
    if (const auto v = system.params->configured_value(paravirt_key); v && std::holds_alternative<bool>(*v))
      paravirt_mmu = std::get<bool>(*v);
}

Addr page_bytes_of(const std::string& size) {
  return size == "4k" ? kPageSize4K : size == "2m" ? kPageSize2M : size == "4m" ? kPageSize4M : kPageSize1G;
}

const std::vector<MemoryVirtualizationEntry>& memory_virtualizations() {
  static const std::vector<MemoryVirtualizationEntry> entries = {native_entry(), shadow_entry(), nested_entry(),
                                                                 paravirt_entry(), binary_translation_entry(),
                                                                 selective_entry(),
                                                                 agile_entry(),
                                                                 trap_emulate_entry(),
                                                                 nested_ept_entry(),
                                                                 shadow_on_ept_entry()};
  return entries;
}

const MemoryVirtualizationEntry& configured_memory_virtualization(const MemoryVirtualizationParameters& parameters) {
  const auto& entries = memory_virtualizations();
  for (auto e = entries.rbegin(); e != entries.rend(); ++e)
    if (e->configured(parameters)) return *e;
  return entries.front();  // native: nothing asked for
}

std::vector<std::string> memory_virtualization_variants() {
  std::vector<std::string> names;
  for (const auto& e : memory_virtualizations())
    for (const auto& v : e.variants) names.push_back(v.name);
  return names;
}

std::optional<std::vector<std::string>> variant_settings(const std::string& variant, const CompareContext& context) {
  // Every variant starts from every strategy's baseline: a native guest, 4 KiB pages everywhere.
  Settings all;
  for (const auto& e : memory_virtualizations()) all.insert(all.end(), e.baseline.begin(), e.baseline.end());
  for (const auto& e : memory_virtualizations())
    for (const auto& v : e.variants) {
      if (v.name != variant) continue;
      for (const auto& [key, value] : v.settings(context)) {
        auto same = std::find_if(all.begin(), all.end(), [&key = key](const auto& kv) { return kv.first == key; });
        if (same != all.end()) same->second = value;
        else all.emplace_back(key, value);
      }
      std::vector<std::string> lines;
      for (const auto& [key, value] : all) lines.push_back(key + "=" + value);
      return lines;
    }
  return std::nullopt;
}

}  // namespace virtsim
