#pragma once
// The one TLM extension that carries a translation's side-band data.
//
// A vCPU sends a generic payload whose address is the virtual address to translate to the
// MMU's `translate` socket with this extension attached; the MMU fills in the response half,
// a `Translation` as every walk returns it.
// The payload's own data pointer is unused for translations (length 0); the annotated delay
// carries the time the translation took.
#include <cstdint>
#include <systemc>
#include <tlm>

#include "virtsim/common/paging_context.h"
#include "virtsim/common/translation.h"
#include "virtsim/common/units.h"

namespace virtsim {

// Invalidation of the MMU's walk caches, called by a vCPU alongside the TLB invalidation an
// instruction performs (a control action without payload: an sc_port call).
class WalkCacheControl : public virtual sc_core::sc_interface {
 public:
  // The paging-structure caches of one guest context (VPID << 12 | PCID), or of all contexts.
  virtual void invalidate_guest_walk_caches(std::uint32_t guest_tag) = 0;
  virtual void invalidate_all_walk_caches() = 0;
};

struct TranslationExtension : tlm::tlm_extension<TranslationExtension> {
  // ---- request (set by the initiator) ----
  PagingControls paging;      // paging mode, CR3 and control bits of the (guest) tables
  bool nested = false;        // 2-D walk: guest tables at guest-physical addresses
  NestedControls nested_paging;  // EPTP / nCR3 when nested
  std::uint16_t pcid = 0;     // CR3[11:0] when CR4.PCIDE=1, else 0
  std::uint16_t nested_context = 0;  // identity of the EPTP / nCR3 (tags nested caches)
  std::uint16_t vpid = 0;     // VPID (VT-x) or ASID (AMD-V); 0 = host / not virtualized
  std::uint8_t cpl = 3;       // current privilege level 0-3; user access when cpl == 3
  bool guest_mode = false;    // VMX non-root / SVM guest mode
  AccessKind kind = AccessKind::Load;

  // ---- response (set by the MMU) ----
  Translation result;          // the walk's result, fault or mapping
  std::uint32_t walk_refs = 0;  // memory references the walk made
  Cycles walk_cycles = 0;       // latency of the walk

  tlm::tlm_extension_base* clone() const override { return new TranslationExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const TranslationExtension&>(other);
  }
};

}  // namespace virtsim
