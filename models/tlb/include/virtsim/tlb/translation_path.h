#pragma once
// The translation path of one vCPU, as plain C++: L1 TLB (ITLB or DTLB by access kind), then
// the STLB, then a miss handler (the page walker, reached over TLM in the simulator and
// directly in tests and benchmarks). The vCPU module runs exactly this code, so the
// differential tests that drive it check the simulator's own hot path.
#include "virtsim/common/translation_extension.h"
#include "virtsim/tlb/tlb.h"

namespace virtsim {

// Resolves a TLB miss: fills the response half of `ext` (the request half is set) and
// returns the cycles the walk took.
class TranslationMissHandler {
 public:
  virtual ~TranslationMissHandler() = default;
  virtual Cycles translate_miss(Addr va, TranslationExtension& ext) = 0;
};

struct PathResult {
  bool fault = false;  // details in the extension passed to translate()
  Addr physical_address = 0;
  int level = 0;       // 1: L1 TLB hit, 2: STLB hit, 0: walked
  Cycles cycles = 0;   // TLB lookups plus the walk
};

class TranslationPath {
 public:
  explicit TranslationPath(TlbHierarchy& tlbs) : tlbs_(tlbs) {}

  // `ext` carries the request (paging controls, tags, CPL, kind) to the miss handler and
  // brings back its response; it is only touched on a miss. Always inline: it is the hit path
  // of every access, and a call with this many arguments costs as much as the lookup.
  [[gnu::always_inline]] PathResult translate(Addr va, AccessKind kind, bool user, const TlbTags& tags,
                                              TranslationExtension& ext, TranslationMissHandler& handler) {
    if (const TlbEntry* e = l1_hit(va, kind, user, tags)) {
      PathResult r;
      r.cycles = l1_hit_cycles(kind);
      r.physical_address = e->translate(va);
      r.level = 1;
      return r;
    }
    return translate_beyond_l1(va, kind, user, tags, ext, handler);
  }

  // The first step of translate(): the L1 TLB's usable entry for the access, or nullptr (then
  // translate_beyond_l1() does the rest). The vCPU's access path takes it on its own, so a hit
  // makes no PathResult.
  [[gnu::always_inline]] const TlbEntry* l1_hit(Addr va, AccessKind kind, bool user, const TlbTags& tags) {
    return tlbs_.l1(kind).lookup_usable(va, tags, Tlb::rights_for(kind, user));
  }
  Cycles l1_hit_cycles(AccessKind kind) { return tlbs_.l1(kind).config().hit_cycles; }

  // The rest of translate() after the L1 TLB missed (or held no usable entry): the STLB, then
  // the miss handler. Out of line, so the L1 hit path around it stays small.
  [[gnu::noinline]] PathResult translate_beyond_l1(Addr va, AccessKind kind, bool user, const TlbTags& tags,
                                                   TranslationExtension& ext,
                                                   TranslationMissHandler& handler) {
    Tlb& first = tlbs_.l1(kind);
    PathResult r;
    r.cycles = l1_hit_cycles(kind);
    if (tlbs_.stlb_on()) {
      r.cycles += tlbs_.stlb.config().hit_cycles;
      if (const TlbEntry* e = tlbs_.stlb.lookup(va, tags); usable(e, kind, user)) {
        first.insert(va, *e);
        r.physical_address = e->translate(va);
        r.level = 2;
        return r;
      }
    }
    r.cycles += handler.translate_miss(va, ext);
    if (ext.result.fault) {
      r.fault = true;
      return r;
    }
    tlbs_.fill(va, kind, entry_from(ext, tags));
    r.physical_address = ext.result.physical_address;
    return r;
  }

  // A cached entry without the rights for this access is not used: the walk re-checks them
  // (and sets D for a store to a clean page), as hardware does before raising a fault.
  static bool usable(const TlbEntry* e, AccessKind kind, bool user) {
    return e && (kind != AccessKind::Store || (e->writable && e->dirty)) && (!user || e->user) &&
           (kind != AccessKind::Fetch || e->executable);
  }

  static TlbEntry entry_from(const TranslationExtension& ext, TlbTags tags) {
    TlbEntry e;
    e.page_shift = ext.result.page_shift;
    e.mapping_shift = ext.result.mapping_shift;
    e.physical_base = ext.result.physical_address & ~((Addr{1} << ext.result.page_shift) - 1);
    e.pcid = tags.pcid;
    e.vpid = tags.vpid;
    e.nested_context = tags.nested_context;
    e.global = ext.result.global;
    e.writable = ext.result.writable;
    e.user = ext.result.user;
    e.executable = ext.result.executable;
    e.dirty = ext.result.dirty;
    return e;
  }

 private:
  TlbHierarchy& tlbs_;
};

}  // namespace virtsim
