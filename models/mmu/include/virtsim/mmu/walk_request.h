#pragma once
// The translation extension <-> walker request/outcome mapping, shared by the MMU module and
// every harness that drives a PageWalker directly (tests, benchmarks), so both see one rule.
#include "virtsim/common/translation_extension.h"
#include "virtsim/mmu/page_walker.h"

namespace virtsim {

// The walk a translation request asks for. Guest caches are tagged by VPID/ASID and PCID,
// nested caches by the nested context.
inline WalkRequest to_walk_request(Addr va, const TranslationExtension& ext) {
  WalkRequest r;
  r.guest = ext.paging;
  r.nested = ext.nested;
  r.nested_controls = ext.nested_paging;
  r.va = va;
  r.kind = ext.kind;
  r.user = ext.cpl == 3;
  r.guest_tag = (std::uint32_t{ext.vpid} << 12) | ext.pcid;
  r.nested_tag = ext.nested_context;
  return r;
}

inline void to_extension(const WalkOutcome& outcome, TranslationExtension& ext) {
  const Translation& t = outcome.translation;
  ext.fault = t.fault;
  ext.fault_kind = static_cast<std::uint8_t>(t.fault_kind);
  ext.error_code = t.error_code;
  ext.exit_qualification = t.exit_qualification;
  ext.guest_physical_address = t.guest_physical_address;
  ext.physical_address = t.physical_address;
  ext.page_shift = static_cast<std::uint8_t>(t.page_shift);
  ext.mapping_shift = static_cast<std::uint8_t>(t.mapping_shift);
  ext.leaf_entry = t.leaf_entry;
  ext.global = t.global;
  ext.writable = t.writable;
  ext.user = t.user;
  ext.executable = t.executable;
  ext.dirty = t.dirty;
  ext.walk_refs = outcome.refs;
  ext.walk_cycles = outcome.cycles;
}

// A Translation rebuilt from a response, for comparisons with the functional reference.
inline Translation from_extension(const TranslationExtension& ext) {
  Translation t;
  t.fault = ext.fault;
  t.fault_kind = static_cast<FaultKind>(ext.fault_kind);
  t.non_canonical = t.fault_kind == FaultKind::GeneralProtection;
  t.error_code = ext.error_code;
  t.exit_qualification = ext.exit_qualification;
  t.guest_physical_address = ext.guest_physical_address;
  t.physical_address = ext.physical_address;
  t.page_shift = ext.page_shift;
  t.mapping_shift = ext.mapping_shift;
  t.global = ext.global;
  t.writable = ext.writable;
  t.user = ext.user;
  t.executable = ext.executable;
  return t;
}

}  // namespace virtsim
