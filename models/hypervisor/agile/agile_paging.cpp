// Agile paging as a strategy: shadow paging's tables and traps (it derives from ShadowPaging),
// nested tables mapping all of guest memory, and the policy that moves guest table pages
// between the two dimensions. The walker follows the switching entries
// (models/mmu/src/page_walker.cpp, NestedControls::agile_switch_bit).
#include "virtsim/hypervisor/agile/agile_paging.h"

#include <algorithm>
#include <vector>

#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"

namespace virtsim {

AgileParameters::AgileParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, false, "",
                     "agile paging (Gandhi, Hill and Swift, ISCA 2016): walks start in the shadow tables and switch "
                     "to the nested dimension at guest tables the guest keeps writing (needs system.vmx.mode vmx or "
                     "svm, system.shadow.enabled = true and system.nested.paging for the nested tables' format)"),
      VIRTSIM_MEMBER(switch_writes, scope, 2, "writes",
                     "trapped guest writes to one shadowed page table after which the hypervisor moves it to the "
                     "nested dimension (assumption: the paper moves pages that are written; 2 keeps a table written "
                     "once, as a new mapping is, shadowed)",
                     Range{1, 1 << 20}),
      VIRTSIM_MEMBER(revert_interval_cycles, scope, 2000000, "cycles",
                     "guest time between the hypervisor's looks at the nested page tables: one the guest did not "
                     "write since the last look goes back to shadow (assumption: the paper looks once per time "
                     "interval; 2,000,000 cycles is 1 ms at 2 GHz; 0: never back)",
                     Range{0, std::uint64_t{1} << 40}) {}

AgilePolicy::AgilePolicy(const Scope& scope, ShadowPageTables& tables, unsigned switch_writes)
    : VIRTSIM_MEMBER(switches_to_nested, scope, "switches", "guest page tables moved to the nested dimension"),
      VIRTSIM_MEMBER(switches_to_shadow, scope, "switches", "guest page tables moved back to shadow"),
      VIRTSIM_MEMBER(traps_avoided, scope, "writes",
                     "guest writes to a nested-dimension page table a switching entry links, which under shadow "
                     "paging would have trapped"),
      VIRTSIM_MEMBER(direct_guest_faults, scope, "faults",
                     "#PF in the nested part of a walk: the guest's own, delivered without an exit"),
      VIRTSIM_MEMBER(nested_table_pages, scope, "pages", "guest page tables in the nested dimension at the end",
                     [this] { return static_cast<double>(tables_.nested_pages().size()); }),
      tables_(tables),
      switch_writes_(switch_writes) {}

void AgilePolicy::write_trapped(Addr guest_page) {
  if (++trapped_[guest_page] < switch_writes_) return;
  trapped_.erase(guest_page);
  if (tables_.switch_to_nested(guest_page)) ++switches_to_nested;
}

void AgilePolicy::memory_written(Addr gpa, Addr bytes) {
  if (bytes == 0 || tables_.nested_pages().empty()) return;
  for (Addr page = gpa >> kPageShift4K; page <= (gpa + bytes - 1) >> kPageShift4K; ++page) {
    if (!tables_.nested_mode(page)) continue;
    written_.insert(page);
    if (tables_.switched_into(page)) ++traps_avoided;
  }
}

void AgilePolicy::look() {
  std::vector<Addr> quiet;
  for (const Addr page : tables_.nested_pages())
    if (!written_.count(page)) quiet.push_back(page);
  std::sort(quiet.begin(), quiet.end());  // same seed, same bits: not the set's order
  for (const Addr page : quiet) {
    tables_.switch_to_shadow(page);
    ++switches_to_shadow;
  }
  written_.clear();
}

void AgilePolicy::save_state(StateWriter& out) const {
  out.put_tag("AGIL");
  std::vector<std::pair<Addr, unsigned>> trapped(trapped_.begin(), trapped_.end());
  std::sort(trapped.begin(), trapped.end());
  out.put<std::uint64_t>(trapped.size());
  for (const auto& [page, writes] : trapped) {
    out.put<std::uint64_t>(page);
    out.put<std::uint32_t>(writes);
  }
  std::vector<Addr> written(written_.begin(), written_.end());
  std::sort(written.begin(), written.end());
  out.put<std::uint64_t>(written.size());
  for (const Addr page : written) out.put<std::uint64_t>(page);
}

void AgilePolicy::load_state(StateReader& in) {
  in.expect_tag("AGIL");
  trapped_.clear();
  for (auto n = in.count("agile pages with trapped writes", 12); n > 0; --n) {
    const Addr page = in.get<std::uint64_t>("agile page with trapped writes");
    trapped_[page] = in.get<std::uint32_t>("agile trapped writes");
  }
  written_.clear();
  for (auto n = in.count("agile nested pages written", 8); n > 0; --n)
    written_.insert(in.get<std::uint64_t>("agile nested page written"));
}

// What a vCPU sees: shadow paging's view, with the nested tables its walks switch into, and
// #PF in the nested part of a walk left to the guest.
class AgilePaging::View final : public ::virtsim::VcpuMemoryVirtualization {
 public:
  View(ShadowPageTables& tables, AgilePolicy& policy, const NestedControls& nested, Addr backing)
      : tables_(tables), policy_(policy), backing_(backing) {
    walk_.controls = nested;
  }
  std::optional<NestedWalk> nested_walk() const override { return walk_; }
  bool replaces_guest_tables() const override { return true; }
  Addr load_cr3(unsigned cpu, Addr guest_cr3) override { return tables_.load_cr3(cpu, guest_cr3); }
  void invlpg(Addr guest_cr3, Addr va) override { tables_.invlpg(guest_cr3, va); }
  std::optional<ShadowFaultOutcome> page_fault(const PagingControls& guest, Addr va, AccessKind kind, bool user,
                                               bool may_unprotect, std::uint32_t) override {
    // A walk through a switching entry that the guest's own tables fail faulted there: the
    // guest's fault, as under nested paging. (A walk that faulted above a switching entry
    // another vCPU has just made is a hidden fault with nothing left to fill.)
    if (tables_.reaches_switch(guest.cr3 & pte::kAddressMask, va) && tables_.guest_walk(guest, va, kind, user).fault) {
      ++policy_.direct_guest_faults;
      return std::nullopt;
    }
    const ShadowFaultOutcome out = tables_.page_fault(guest, va, kind, user, may_unprotect);
    if (out.resolution == ShadowFaultResolution::WriteEmulated)
      policy_.write_trapped((out.host_address - backing_) >> kPageShift4K);
    return out;
  }

 private:
  ShadowPageTables& tables_;
  AgilePolicy& policy_;
  Addr backing_;
  NestedWalk walk_;
};

AgilePaging::AgilePaging(const MemoryVirtualizationSetup& setup) : ShadowPaging(setup) {
  const MemoryVirtualizationParameters& p = setup.parameters;
  const std::string what = p.agile.enabled.name() + " = true";
  if (!setup.transitions.enabled())
    throw ConfigError(what + " needs " + setup.transitions.mode.name() + " = \"vmx\" or \"svm\"");
  if (!p.shadow.enabled)
    throw ConfigError(what + " needs " + p.shadow.enabled.name() + " = true: its walks start in the shadow tables");
  if (p.nested.paging.get() == "none")
    throw ConfigError(what + " needs " + p.nested.paging.name() +
                      " (ept4 or npt4): the format of the nested tables its walks switch into");
  if (p.nested.paging.get().back() != '4')
    throw ConfigError(what + " and " + p.nested.paging.name() + " = \"" + p.nested.paging.get() +
                      "\": agile paging here takes 4-level nested tables (ept4 or npt4)");
  if (p.nested.populate.get() == "lazy")
    throw ConfigError(what + " and " + p.nested.populate.name() +
                      " = \"lazy\": agile paging maps guest memory in its nested tables before the run");
  if (p.bt.enabled || p.paravirt_mmu)
    throw ConfigError(what + " runs under VT-x / AMD-V on shadow and nested tables: it takes " +
                      p.bt.enabled.name() + " = false and " + p.paravirt_key + " = false");
}

AgilePaging::~AgilePaging() = default;

MemoryView AgilePaging::map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) {
  const MemoryView shadowed = ShadowPaging::map_guest_memory(host_frames, guest_bytes);
  const MemoryVirtualizationParameters& p = setup().parameters;
  const Addr page = page_bytes_of(p.nested.page_size);
  if (guest_bytes % page != 0 || backing() % page != 0)
    throw ConfigError(setup().guest_memory_mib.name() + " = " + std::to_string(setup().guest_memory_mib.get()) +
                      " does not fit " + p.nested.page_size.name() + " = \"" + p.nested.page_size.get() +
                      "\" with " + p.shadow.host_page_size.name() + " = \"" + p.shadow.host_page_size.get() + "\"");
  nested_controls_.format = p.nested.paging.get() == "ept4" ? TableFormat::Ept4 : TableFormat::Level4;
  nested_controls_.access_dirty = nested_controls_.is_ept() && p.nested.access_dirty;
  nested_controls_.agile_switch_bit = ShadowPageTables::kSwitchBit;
  nested_ = std::make_unique<PageTableBuilder>(setup().host_memory, host_frames, nested_controls_.format);
  nested_controls_.root = nested_->new_root();
  for (Addr gpa = 0; gpa < guest_bytes; gpa += page) nested_->map(nested_controls_.root, gpa, backing() + gpa, page);
  // Every guest write also reaches the policy (the writes to nested page tables do not trap).
  return ShadowPageTables::watched(shadowed, [this](Addr gpa, Addr bytes) {
    if (policy_) policy_->memory_written(gpa, bytes);
  });
}

void AgilePaging::attach_guest(const GuestPaging& guest, FrameAllocator& host_frames) {
  ShadowPaging::attach_guest(guest, host_frames);
  const AgileParameters& a = setup().parameters.agile;
  policy_ = std::make_unique<AgilePolicy>(setup().system.child("agile"), *shadow_tables(), a.switch_writes);
  view_ = std::make_unique<View>(*shadow_tables(), *policy_, nested_controls_, backing());
}

void AgilePaging::attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) {
  ShadowPaging::attach_virtualization_units(units);
  // One look per interval of the first vCPU's time (the policy is the whole VM's).
  if (!units.empty()) units.front()->set_periodic_look(setup().parameters.agile.revert_interval_cycles, [this] {
    policy_->look();
  });
}

void AgilePaging::save_state(StateWriter& out) const {
  ShadowPaging::save_state(out);
  policy_->save_state(out);
}

void AgilePaging::load_state(StateReader& in) {
  ShadowPaging::load_state(in);
  policy_->load_state(in);
}

::virtsim::VcpuMemoryVirtualization& AgilePaging::vcpu_view(unsigned) {
  if (!view_) throw std::logic_error("agile paging: a vCPU view before the guest is attached");
  return *view_;
}

namespace {

Settings agile_settings(const CompareContext& c) {
  // 4-level nested tables of the vendor's kind (the shadow root is 4-level too).
  const std::string nested = c.nested.rfind("npt", 0) == 0 ? "npt4" : "ept4";
  return {{"system.vmx.mode", "\"" + c.virt + "\""},
          {"system.shadow.enabled", "true"},
          {"system.nested.paging", "\"" + nested + "\""},
          {"system.agile.enabled", "true"}};
}

}  // namespace

MemoryVirtualizationEntry agile_entry() {
  return {"agile",
          "agile paging (Gandhi et al., ISCA 2016): walks start in the shadow tables and switch to the nested "
          "dimension at guest page tables the guest keeps writing, whose writes then no longer exit",
          {"system.agile.*", "system.shadow.*", "system.nested.paging", "system.nested.page_size",
           "system.nested.access_dirty"},
          [](const MemoryVirtualizationParameters& p) { return p.agile.enabled.get(); },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<AgilePaging>(setup); },
          {{"agile", "agile paging: shadow tables switching to EPT / NPT at often-written guest tables",
            agile_settings}},
          {{"system.agile.enabled", "false"}}};
}

}  // namespace virtsim
