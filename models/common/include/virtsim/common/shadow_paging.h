#pragma once
// The shadow tables' side of the three events that trap under shadow paging (MOV to CR3,
// INVLPG and #PF), and what the hypervisor made of a #PF (which the VT-x / AMD-V unit charges).
// The shadow paging strategy passes the vCPU's events on to it; the VT-x unit asks it for the
// roots of its CR3-target list. The implementation is the hypervisor's
// shadow page tables (models/hypervisor/include/virtsim/hypervisor/shadow/shadow_tables.h).
#include <cstdint>
#include <vector>

#include "virtsim/common/paging_context.h"
#include "virtsim/common/units.h"

namespace virtsim {

// What the hypervisor made of a #PF on the shadow tables.
enum class ShadowFaultResolution : std::uint8_t {
  Filled,         // a hidden fault: the guest maps it, the shadow now does too (retry)
  GuestFault,     // a true guest fault: reflected into the guest with guest_error_code
  WriteEmulated,  // a store to a write-protected guest page table: emulated at host_address
  // A store by an instruction that does not write page tables (REP STOS / REP MOVS) to a
  // write-protected guest page table: the page is unprotected (the shadow tables that follow
  // it are zapped) and the instruction retried, as KVM's retry_instruction.
  Unprotected,
};

struct ShadowFaultOutcome {
  ShadowFaultResolution resolution = ShadowFaultResolution::Filled;
  std::uint32_t guest_error_code = 0;  // GuestFault: the error code the guest's walk gives
  Addr host_address = 0;               // WriteEmulated: where the store goes
  // Host-physical addresses the hypervisor's handler touched in the page tables: the guest's
  // entries its walk read (FNAME(walk_addr)), then the shadow entries it walked and wrote
  // (FNAME(fetch)), so that its loads go through the vCPU's caches.
  static constexpr unsigned kMaxTouched = 12;
  Addr touched[kMaxTouched] = {};
  unsigned touched_count = 0;
  void touch(Addr a) {
    if (touched_count < kMaxTouched) touched[touched_count++] = a;
  }
};

class ShadowPagingControl {
 public:
  virtual ~ShadowPagingControl() = default;
  // MOV to CR3 on vCPU `cpu` (or its first CR3): the shadow root to load for the guest's
  // `guest_cr3`. A root some vCPU has loaded is never evicted.
  virtual Addr load_cr3(unsigned cpu, Addr guest_cr3) = 0;
  // A walk of the shadow tables faulted for `va`; `guest` holds the guest's own controls
  // (cr3 = the guest's CR3). `may_unprotect`: the faulting store's instruction is not one
  // that writes page tables, so a write-protected page may be unprotected and the
  // instruction retried instead of emulated.
  virtual ShadowFaultOutcome page_fault(const PagingControls& guest, Addr va, AccessKind kind, bool user,
                                        bool may_unprotect) = 0;
  // The guest's INVLPG of `va` under guest CR3 `guest_cr3`.
  virtual void invlpg(Addr guest_cr3, Addr va) = 0;
  // For the VT-x CR3-target list: the guest CR3 values of up to `n` cached roots, most
  // recently used first. Until the next call those roots stay cached, since the guest may
  // switch to them with no exit.
  virtual std::vector<Addr> cr3_target_roots(std::size_t n) = 0;
};

}  // namespace virtsim
