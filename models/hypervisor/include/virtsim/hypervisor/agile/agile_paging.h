#pragma once
// Agile paging (Jayneel Gandhi, Mark D. Hill and Michael M. Swift, "Agile Paging: Exceeding the
// Best of Nested and Shadow Paging", ISCA 2016): the hardware walk starts in the hypervisor's
// shadow tables and, at a switching entry, goes on in the nested dimension through the guest's
// own tables. The hypervisor starts fully shadowed and moves a guest table page whose writes
// keep trapping to the nested dimension (its writes then no longer trap); a page the guest has
// stopped writing goes back to shadow.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"
#include "virtsim/hypervisor/agile/agile_parameters.h"
#include "virtsim/hypervisor/shadow/shadow_paging.h"

namespace virtsim {

// The hypervisor's policy, plain C++ over the shadow tables (tests drive it without SystemC).
class AgilePolicy {
 public:
  AgilePolicy(const Scope& scope, ShadowPageTables& tables, unsigned switch_writes);
  // A guest store to table page `guest_page` trapped and was emulated.
  void write_trapped(Addr guest_page);
  // The guest wrote [gpa, gpa + bytes) of its memory (every write, trapped or not).
  void memory_written(Addr gpa, Addr bytes);
  // The hypervisor's periodic look: the nested pages not written since the last look go back
  // to shadow.
  void look();
  // Checkpoints: the writes trapped per shadowed table page and the nested pages written since
  // the last look (both only looked up, so they go out in key order).
  void save_state(StateWriter& out) const;
  void load_state(StateReader& in);

  Counter switches_to_nested;
  Counter switches_to_shadow;
  Counter traps_avoided;
  Counter direct_guest_faults;
  Formula nested_table_pages;

 private:
  ShadowPageTables& tables_;
  unsigned switch_writes_;
  std::unordered_map<Addr, unsigned> trapped_;  // shadowed table page -> writes trapped since it was shadowed
  std::unordered_set<Addr> written_;            // nested table pages written since the last look
};

class AgilePaging final : public ShadowPaging {
 public:
  explicit AgilePaging(const MemoryVirtualizationSetup& setup);
  ~AgilePaging() override;
  MemoryView map_guest_memory(FrameAllocator& host_frames, Addr guest_bytes) override;
  void attach_guest(const GuestPaging& guest, FrameAllocator& host_frames) override;
  void attach_virtualization_units(const std::vector<VirtualizationUnit*>& units) override;
  ::virtsim::VcpuMemoryVirtualization& vcpu_view(unsigned) override;
  const AgilePolicy* policy() const { return policy_.get(); }
  // The shadow tables (with the pages switched to the nested dimension) and the policy; the
  // nested tables are in host memory, the periodic look's deadline is the VT-x / AMD-V unit's.
  bool checkpointable() const override { return true; }
  void save_state(StateWriter& out) const override;
  void load_state(StateReader& in) override;

 private:
  class View;
  std::unique_ptr<View> view_;
  std::unique_ptr<PageTableBuilder> nested_;
  NestedControls nested_controls_;
  std::unique_ptr<AgilePolicy> policy_;
};

}  // namespace virtsim
