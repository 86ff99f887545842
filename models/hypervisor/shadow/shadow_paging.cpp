#include "virtsim/hypervisor/shadow/shadow_paging.h"

#include "virtsim/common/error.h"
#include "virtsim/hypervisor/registry.h"

namespace virtsim {

ShadowPaging::ShadowPaging(const MemoryVirtualizationSetup& setup) : setup_(setup) {}

MemoryView ShadowPaging::map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) {
  backing_ = host_frames.allocate(guest_bytes / kPageSize4K, page_bytes_of(setup_.parameters.shadow.host_page_size));
  guest_bytes_ = guest_bytes;
  // Every guest write reaches the shadow tables, when the guest's store of it runs (the trap of
  // a write-protected guest table), not when the guest kernel model prepares it.
  return ShadowPageTables::watched(MemoryView::of(setup_.host_memory, backing_), [this](Addr gpa, Addr bytes) {
    if (tables_) tables_->note_guest_write(gpa, bytes);
  });
}

void ShadowPaging::attach_guest(const GuestPaging& guest, FrameAllocator& host_frames) {
  const ShadowParameters& p = setup_.parameters.shadow;
  if (guest.format != TableFormat::Level4 && guest.format != TableFormat::Level5)
    throw ConfigError(p.enabled.name() + " = true needs 4- or 5-level guest paging (" + guest.setting + ")");
  const ShadowConfig config{guest.format, backing_,      guest_bytes_, page_bytes_of(p.host_page_size),
                            p.root_cache, p.out_of_sync, p.write_flooding_threshold};
  tables_ = std::make_unique<ShadowPageTables>(setup_.system.child("shadow"), setup_.host_memory, host_frames, config);
  tables_->set_checking(p.check);
  tables_->set_flushes(setup_.flush_page, setup_.flush_all);
}

void ShadowPaging::attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) {
  const auto& cr3_targets = setup_.hypervisor.cr3_targets;
  if (cr3_targets.get() == 0) return;
  const ShadowParameters& p = setup_.parameters.shadow;
  if (p.out_of_sync)
    throw ConfigError(cr3_targets.name() + " = " + std::to_string(cr3_targets.get()) + " and " +
                      p.out_of_sync.name() +
                      " = true: a CR3 load that does not exit cannot resynchronize out-of-sync shadow tables");
  for (auto* v : units) v->set_shadow_paging(tables_.get());
}

namespace {

class ShadowPagingOnExits final : public ShadowPaging {
 public:
  explicit ShadowPagingOnExits(const MemoryVirtualizationSetup& setup) : ShadowPaging(setup) {
    if (!setup.transitions.enabled())
      throw ConfigError(setup.parameters.shadow.enabled.name() + " = true needs " + setup.transitions.mode.name() +
                        " = \"vmx\" or \"svm\": shadow paging traps through VM exits");
  }
  bool checkpointable() const override { return true; }
};

Settings shadow_settings(const CompareContext& c, const std::string& host_page) {
  return {{"system.vmx.mode", "\"" + c.virt + "\""}, {"system.shadow.enabled", "true"},
          {"system.shadow.host_page_size", "\"" + host_page + "\""}};
}

}  // namespace

MemoryVirtualizationEntry shadow_entry() {
  return {"shadow",
          "shadow paging under VT-x / AMD-V: the hypervisor's shadow tables map guest-virtual memory to host "
          "frames; MOV to CR3, INVLPG and #PF exit to it",
          {"system.shadow.*", "system.hypervisor.cr3_targets"},
          [](const MemoryVirtualizationParameters& p) { return p.shadow.enabled.get(); },
          [](const MemoryVirtualizationSetup& setup) { return std::make_unique<ShadowPagingOnExits>(setup); },
          {{"shadow", "shadow paging, 4 KiB host pages", [](const CompareContext& c) { return shadow_settings(c, "4k"); }},
           {"shadow_2m", "shadow paging, guest large pages kept as 2 MiB shadow leaves",
            [](const CompareContext& c) { return shadow_settings(c, "2m"); }}},
          {{"system.shadow.enabled", "false"}, {"system.shadow.host_page_size", "\"4k\""}}};
}

}  // namespace virtsim
