#include "virtsim/hypervisor/nested/nested_paging.h"

#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"

namespace virtsim {

NestedPagingParameters::NestedPagingParameters(const Scope& scope)
    : VIRTSIM_MEMBER(paging, scope, "none", "",
                     "nested paging of the guest: none (native), ept4/ept5 (Intel EPT, 4- or 5-level walk), "
                     "npt4/npt5 (AMD NPT over long-mode tables)",
                     {}, {"none", "ept4", "ept5", "npt4", "npt5"}),
      VIRTSIM_MEMBER(page_size, scope, "4k", "", "page size of the hypervisor's nested mappings of guest memory", {},
                     {"4k", "2m", "1g"}),
      VIRTSIM_MEMBER(access_dirty, scope, false, "",
                     "EPTP bit 6: EPT accessed/dirty flags (guest-table accesses count as writes)"),
      VIRTSIM_MEMBER(populate, scope, "auto", "",
                     "when the hypervisor maps guest memory in its nested tables: upfront (all of it before the "
                     "run), lazy (each page at its first EPT violation / nested page fault, as KVM does), or auto "
                     "(lazy under system.vmx.mode vmx or svm, where the exits have a cost, else upfront)",
                     {}, {"auto", "upfront", "lazy"}),
      VIRTSIM_MEMBER(pages_mapped, scope, "pages",
                     "nested pages the hypervisor mapped on EPT violations / nested page faults") {}

namespace {

class NestedPaging final : public MemoryVirtualization, private VcpuMemoryVirtualization {
 public:
  explicit NestedPaging(const MemoryVirtualizationSetup& setup)
      : parameters_(setup.parameters.nested),
        transitions_(setup.transitions),
        guest_memory_mib_(setup.guest_memory_mib),
        memory_(setup.host_memory),
        flush_nested_(setup.flush_nested) {
    const ShadowParameters& shadow = setup.parameters.shadow;
    if (shadow.enabled)
      throw ConfigError(shadow.enabled.name() + " = true and " + parameters_.paging.name() + " = \"" +
                        parameters_.paging.get() + "\": a guest runs under shadow or nested paging, not both");
  }
  // Its tables are in host memory, their frames the host frame allocator's.
  bool checkpointable() const override { return true; }

  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override {
    // The nested tables map guest-physical memory with the configured page size.
    const std::string& paging = parameters_.paging.get();
    const bool ept = paging.rfind("ept", 0) == 0;
    const bool five = paging.back() == '5';
    walk_.controls.format = ept ? (five ? TableFormat::Ept5 : TableFormat::Ept4)
                                : (five ? TableFormat::Level5 : TableFormat::Level4);
    walk_.controls.access_dirty = ept && parameters_.access_dirty;
    const Addr page = page_bytes_of(parameters_.page_size);
    if (guest_bytes % page != 0)
      throw ConfigError(guest_memory_mib_.name() + " = " + std::to_string(guest_memory_mib_.get()) +
                        " is not a multiple of " + parameters_.page_size.name() + " = \"" +
                        parameters_.page_size.get() + "\"");
    tables_ = std::make_unique<PageTableBuilder>(memory_, host_frames, walk_.controls.format);
    walk_.controls.root = tables_->new_root();
    backing_ = host_frames.allocate(guest_bytes / kPageSize4K, page);
    page_bytes_ = page;
    guest_bytes_ = guest_bytes;
    const std::string& populate = parameters_.populate.get();
    const bool lazy = populate == "lazy" || (populate == "auto" && transitions_.enabled());
    if (populate == "lazy" && !transitions_.enabled())
      throw ConfigError(parameters_.populate.name() + " = \"lazy\" needs " + transitions_.mode.name() +
                        " = \"vmx\" or \"svm\": the hypervisor maps pages on EPT-violation / NPF exits");
    if (!lazy)
      for (Addr gpa = 0; gpa < guest_bytes; gpa += page) tables_->map(walk_.controls.root, gpa, backing_ + gpa, page);
    // Guest-physical address gpa lives at host-physical base + gpa (the mapping just built).
    return MemoryView::of(memory_, backing_);
  }

  VcpuMemoryVirtualization& vcpu_view(unsigned) override { return *this; }

  // The host may take guest pages back (system.hypervisor.reclaim_interval_cycles): the
  // hypervisor zaps the nested entry and flushes every vCPU's nested translations.
  void attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) override {
    for (VirtualizationUnit* unit : units)
      unit->set_nested_reclaim(guest_bytes_, [this](Addr gpa) {
        if (!tables_->unmap(walk_.controls.root, gpa & ~(page_bytes_ - 1))) return false;
        flush_nested_();
        return true;
      });
  }

 private:
  std::optional<NestedWalk> nested_walk() const override { return walk_; }
  // Only a hypervisor with exits maps on demand (and has them to charge).
  bool nested_fault(Addr gpa) override {
    if (!transitions_.enabled() || gpa >= guest_bytes_) return false;
    const Addr base = gpa & ~(page_bytes_ - 1);
    if (tables_->lookup(walk_.controls.root, base)) return false;  // mapped: a real violation
    tables_->map(walk_.controls.root, base, backing_ + base, page_bytes_);
    ++parameters_.pages_mapped;
    return true;
  }

  NestedPagingParameters& parameters_;
  const TransitionParameters& transitions_;
  const Param<std::uint64_t>& guest_memory_mib_;
  PhysicalMemory& memory_;
  std::function<void()> flush_nested_;
  std::unique_ptr<PageTableBuilder> tables_;
  NestedWalk walk_;
  Addr backing_ = 0;  // host-physical base of guest-physical memory
  Addr page_bytes_ = 0;
  Addr guest_bytes_ = 0;
};

Settings nested_settings(const CompareContext& c, const std::string& page) {
  return {{"system.vmx.mode", "\"" + c.virt + "\""}, {"system.nested.paging", "\"" + c.nested + "\""},
          {"system.nested.page_size", "\"" + page + "\""}};
}

}  // namespace

MemoryVirtualizationEntry nested_entry() {
  return {"nested",
          "nested paging (EPT under VT-x, NPT under AMD-V): the hardware walks the guest's tables and the "
          "hypervisor's nested tables (the 2-D walk)",
          {"system.nested.paging", "system.nested.page_size", "system.nested.access_dirty", "system.nested.populate"},
          [](const MemoryVirtualizationParameters& p) { return p.nested.paging.get() != "none"; },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<NestedPaging>(setup); },
          {{"nested", "nested paging, 4 KiB nested pages", [](const CompareContext& c) { return nested_settings(c, "4k"); }},
           {"nested_2m", "nested paging, 2 MiB nested pages",
            [](const CompareContext& c) { return nested_settings(c, "2m"); }},
           {"nested_1g", "nested paging, 1 GiB nested pages",
            [](const CompareContext& c) { return nested_settings(c, "1g"); }}},
          {{"system.nested.paging", "\"none\""}, {"system.nested.page_size", "\"4k\""}}};
}

}  // namespace virtsim
