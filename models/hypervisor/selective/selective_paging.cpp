#include "virtsim/hypervisor/selective/selective_paging.h"

#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"

namespace virtsim {

// Wang et al. (VEE 2011) give the mechanism (sample TLB misses and guest page faults on the
// fly, switch to the mode that should cost less) but not numbers that carry over to this
// model: every value below is an assumption or measured here, as its description says.
SelectivePagingParameters::SelectivePagingParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, false, "",
                     "selective paging: the hypervisor switches the guest between shadow and nested paging at run "
                     "time (Wang et al., VEE 2011); nested paging's format is system.nested.paging"),
      VIRTSIM_MEMBER(start, scope, "nested", "", "the mode the guest starts in (assumption: nested, KVM's default)",
                     {}, {"shadow", "nested"}),
      VIRTSIM_MEMBER(interval_cycles, scope, 200000, "cycles",
                     "how often the hypervisor samples the rates and decides, in vCPU 0's cycles (assumption: the "
                     "paper's interval was not available here; this one gives several per phase of the phased "
                     "sweep)",
                     Range{1000, 1e15}),
      VIRTSIM_MEMBER(tlb_miss_cycles, scope, 38.0, "cycles",
                     "estimated cost of a TLB miss under nested paging beyond one under shadow paging (measured "
                     "here: GUPS over 64 MiB, 300 k updates, Skylake preset, VT-x: (61,914,435 - 51,635,575) "
                     "cycles / 271,998 walks)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(guest_fault_cycles, scope, 8166.0, "cycles",
                     "estimated cost of a guest page fault under shadow paging beyond one under nested paging, the "
                     "page-table writes that come with it included (measured here: first_touch, 2000 faults, "
                     "Skylake preset, VT-x: (19,982,201 - 3,650,337) cycles / 2000 faults)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(margin, scope, 0.25, "",
                     "the current mode stays unless its estimated cost over an interval is (1 + margin) times the "
                     "other's plus switch_cycles (assumption: hysteresis against switching on noise)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(switch_cycles, scope, 5000, "cycles",
                     "hypervisor cycles of one switch besides dropping shadow tables: rewriting the VMCS / VMCB "
                     "paging controls and reloading each vCPU's root (assumption)",
                     Range{0, 1e12}),
      VIRTSIM_MEMBER(drop_table_cycles, scope, 300, "cycles",
                     "hypervisor cycles to free one shadow table when switching to nested paging (assumption: one "
                     "pass over its 512 entries)",
                     Range{0, 1e12}),
      VIRTSIM_MEMBER(switches_to_shadow, scope, "switches", "switches from nested to shadow paging"),
      VIRTSIM_MEMBER(switches_to_nested, scope, "switches", "switches from shadow to nested paging"),
      VIRTSIM_MEMBER(intervals_shadow, scope, "intervals", "sampling intervals that ended under shadow paging"),
      VIRTSIM_MEMBER(intervals_nested, scope, "intervals", "sampling intervals that ended under nested paging"),
      VIRTSIM_MEMBER(switching_cycles, scope, "cycles",
                     "hypervisor cycles spent switching modes (charged to vCPU 0, as VM exits)") {}

PagingMode choose_paging_mode(PagingMode current, const IntervalCounts& counts, const SelectiveCosts& costs) {
  const double nested = static_cast<double>(counts.tlb_misses) * costs.tlb_miss_cycles;
  const double shadow = static_cast<double>(counts.guest_page_faults) * costs.guest_fault_cycles;
  const auto loses = [&](double mine, double other) { return mine > other * (1.0 + costs.margin) + costs.switch_cycles; };
  if (current == PagingMode::Nested && loses(nested, shadow)) return PagingMode::Shadow;
  if (current == PagingMode::Shadow && loses(shadow, nested)) return PagingMode::Nested;
  return current;
}

SelectivePaging::SelectivePaging(const MemoryVirtualizationSetup& setup)
    : parameters_(setup.parameters.selective),
      nested_parameters_(setup.parameters.nested),
      transitions_(setup.transitions),
      memory_(setup.host_memory),
      flush_nested_(setup.flush_nested),
      shadow_(setup),
      mode_(setup.parameters.selective.start.get() == "shadow" ? PagingMode::Shadow : PagingMode::Nested) {
  const std::string on = parameters_.enabled.name() + " = true";
  if (!transitions_.enabled())
    throw ConfigError(on + " needs " + transitions_.mode.name() +
                      " = \"vmx\" or \"svm\": shadow paging traps through VM exits");
  if (setup.parameters.shadow.enabled)
    throw ConfigError(on + " and " + setup.parameters.shadow.enabled.name() +
                      " = true: selective paging switches between the two itself; leave the shadow switch off");
  if (nested_parameters_.paging.get() == "none")
    throw ConfigError(on + " needs " + nested_parameters_.paging.name() + " (the nested tables' format)");
  if (nested_parameters_.page_size.get() != "4k" || nested_parameters_.populate.get() == "upfront")
    throw ConfigError(on + " takes " + nested_parameters_.page_size.name() + " = \"4k\" and lazy population (" +
                      nested_parameters_.populate.name() + " = \"auto\" or \"lazy\")");
  if (setup.hypervisor.cr3_targets.get() != 0)
    throw ConfigError(on + " and " + setup.hypervisor.cr3_targets.name() + " = " +
                      std::to_string(setup.hypervisor.cr3_targets.get()) +
                      ": the CR3-target list is not kept across mode switches; set it to 0");
}

MemoryView SelectivePaging::map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) {
  // One host region backs guest memory in both modes: the shadow leaves and the nested
  // entries point at the same frames.
  const MemoryView watched = shadow_.map_guest_memory(host_frames, guest_bytes);
  const std::string& paging = nested_parameters_.paging.get();
  const bool ept = paging.rfind("ept", 0) == 0;
  const bool five = paging.back() == '5';
  walk_.controls.format = ept ? (five ? TableFormat::Ept5 : TableFormat::Ept4) : (five ? TableFormat::Level5 : TableFormat::Level4);
  walk_.controls.access_dirty = ept && nested_parameters_.access_dirty;
  nested_tables_ = std::make_unique<PageTableBuilder>(memory_, host_frames, walk_.controls.format);
  walk_.controls.root = nested_tables_->new_root();
  guest_bytes_ = guest_bytes;
  return watched;
}

void SelectivePaging::attach_guest(const GuestPaging& guest, FrameAllocator& host_frames) {
  shadow_.attach_guest(guest, host_frames);
}

void SelectivePaging::attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) {
  units_ = units;
  for (VirtualizationUnit* unit : units_) unit->set_shadow_traps(mode_ == PagingMode::Shadow);
}

bool SelectivePaging::nested_fault(Addr gpa) {
  if (mode_ != PagingMode::Nested || gpa >= guest_bytes_) return false;
  const Addr base = gpa & ~(kPageSize4K - 1);
  if (nested_tables_->lookup(walk_.controls.root, base)) return false;  // mapped: a real violation
  nested_tables_->map(walk_.controls.root, base, shadow_.backing() + base, kPageSize4K);
  ++nested_parameters_.pages_mapped;
  return true;
}

std::optional<ShadowFaultOutcome> SelectivePaging::page_fault(const PagingControls& guest, Addr va, AccessKind kind,
                                                              bool user, bool may_unprotect, std::uint32_t error_code) {
  // Under nested paging the guest's faults are its own and never exit.
  if (mode_ != PagingMode::Shadow) return std::nullopt;
  return shadow_view().page_fault(guest, va, kind, user, may_unprotect, error_code);
}

void SelectivePaging::on_mode_change(unsigned cpu, std::function<void()> changed) {
  if (vcpus_changed_.size() <= cpu) vcpus_changed_.resize(cpu + 1);
  vcpus_changed_[cpu] = std::move(changed);
}

Cycles SelectivePaging::sample(unsigned cpu, const VcpuCounts& counts) {
  interval_.tlb_misses += counts.tlb_misses;
  interval_.guest_page_faults += counts.guest_page_faults;
  // vCPU 0's clock ends the VM's interval; the others' counts so far go with it.
  if (cpu != 0) return 0;
  ++(mode_ == PagingMode::Shadow ? parameters_.intervals_shadow : parameters_.intervals_nested);
  const SelectiveCosts costs{parameters_.tlb_miss_cycles, parameters_.guest_fault_cycles, parameters_.margin,
                             static_cast<double>(parameters_.switch_cycles.get())};
  const PagingMode next = choose_paging_mode(mode_, interval_, costs);
  interval_ = {};
  return next == mode_ ? 0 : switch_to(next);
}

Cycles SelectivePaging::switch_to(PagingMode to) {
  if (to == mode_) return 0;
  Cycles cost = parameters_.switch_cycles;
  if (to == PagingMode::Nested) {
    // The shadow tables go (and with them the write protection of the guest's tables).
    cost += Cycles{parameters_.drop_table_cycles} * shadow_.tables()->drop_all();
    ++parameters_.switches_to_nested;
  } else {
    ++parameters_.switches_to_shadow;
  }
  mode_ = to;
  for (VirtualizationUnit* unit : units_) unit->set_shadow_traps(to == PagingMode::Shadow);
  // Each vCPU reloads its root (an empty shadow root, or the guest's own CR3 under the
  // nested tables) and flushes its TLBs.
  for (const auto& changed : vcpus_changed_)
    if (changed) changed();
  parameters_.switching_cycles += cost;
  return cost;
}

namespace {

Settings selective_settings(const CompareContext& c) {
  return {{"system.vmx.mode", "\"" + c.virt + "\""}, {"system.nested.paging", "\"" + c.nested + "\""},
          {"system.selective.enabled", "true"}};
}

}  // namespace

MemoryVirtualizationEntry selective_entry() {
  return {"selective",
          "selective paging (Wang et al., VEE 2011): the hypervisor samples the TLB-miss and guest page-fault "
          "rates and switches the guest between shadow and nested paging",
          {"system.selective.*", "system.nested.paging", "system.shadow.*"},
          [](const MemoryVirtualizationParameters& p) { return p.selective.enabled.get(); },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<SelectivePaging>(setup); },
          {{"selective", "switches between shadow and nested paging (4 KiB pages) at run time",
            selective_settings}},
          {{"system.selective.enabled", "false"}}};
}

}  // namespace virtsim
