#pragma once
// The translation extension <-> walker request/outcome mapping, shared by the MMU module and
// every harness that drives a PageWalker directly (tests, benchmarks), so both see one rule.
#include "virtsim/common/translation_extension.h"
#include "virtsim/mmu/page_walker.h"

namespace virtsim {

// The walk a translation request asks for (written into `r`, or returned). Guest caches are tagged by VPID/ASID and PCID,
// nested caches by the nested context.
inline void to_walk_request(Addr va, const TranslationExtension& ext, WalkRequest& r) {
  r.guest = ext.paging;
  r.nested = ext.nested;
  r.nested_controls = ext.nested_paging;
  r.va = va;
  r.kind = ext.kind;
  r.user = ext.cpl == 3;
  r.guest_tag = (std::uint32_t{ext.vpid} << 12) | ext.pcid;
  r.nested_tag = ext.nested_context;
}
inline WalkRequest to_walk_request(Addr va, const TranslationExtension& ext) {
  WalkRequest r;
  to_walk_request(va, ext, r);
  return r;
}

inline void to_extension(const WalkOutcome& outcome, TranslationExtension& ext) {
  ext.result = outcome.translation;
  ext.walk_refs = outcome.refs;
  ext.walk_cycles = outcome.cycles;
}

}  // namespace virtsim
