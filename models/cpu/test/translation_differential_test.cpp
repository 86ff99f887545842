// The randomized differential test of the timed translation path (issue: address translation
// hardware, "Correctness"): random page tables in every paging mode, 1-D and 2-D, with mixed
// page sizes and permissions; over a million random accesses with interleaved table changes
// and the invalidations software must issue for them. Every access goes through the vCPU's
// own TranslationPath (L1 TLBs, STLB) and, on a miss, the PageWalker with its walk caches and
// accessed/dirty writes; the result must equal the zero-time functional reference exactly,
// fault or translation.
#include <gtest/gtest.h>

#include <array>
#include <random>

#include "virtsim/memory/direct_port.h"
#include "virtsim/mmu/page_walker.h"
#include "virtsim/mmu/walk_request.h"
#include "virtsim/tlb/translation_path.h"

namespace virtsim {
namespace {

struct ModeCase {
  TableFormat guest;
  bool nested;
  TableFormat nested_format;
  bool prefix_caches;  // Intel-style prefix caches, else AMD-style entry caches
  int accesses;
};

std::ostream& operator<<(std::ostream& os, const ModeCase& m) {
  return os << to_string(m.guest) << (m.nested ? std::string("-over-") + to_string(m.nested_format) : "")
            << (m.prefix_caches ? "-prefix" : "-entry");
}

// Host memory, optional nested tables mapping guest-physical [0, 64 MiB) to host frames, and
// two guest address spaces (PCIDs 1 and 2) whose global pages are shared, as an OS keeps them.
class Machine : public TranslationMissHandler {
 public:
  static constexpr Addr kGuestBytes = Addr{64} << 20;
  static constexpr Addr kHostBase = Addr{1} << 30;

  explicit Machine(const ModeCase& m)
      : mode_(m),
        rng_(1234 + static_cast<int>(m.guest) * 10 + static_cast<int>(m.nested_format) + (m.prefix_caches ? 100 : 0)),
        host_frames_(Addr{1} << 20, kHostBase),
        guest_frames_(Addr{1} << 20, m.nested ? kGuestBytes : kHostBase),
        nested_builder_(host_, host_frames_, m.nested ? m.nested_format : TableFormat::Ept4),
        guest_builder_(guest_view(), guest_frames_, m.guest),
        params_({&registry_, nullptr, "cpu"}),
        tlbs_({}, params_, 5),
        path_(tlbs_),
        walker_({}, walker_config(m.prefix_caches)),
        port_(host_, 3) {
    if (m.nested) {
      nested_.format = m.nested_format;
      nested_.root = nested_builder_.new_root();
      for (Addr gpa = 0; gpa < kGuestBytes; gpa += kPageSize4K) nested_builder_.map(nested_.root, gpa, gpa + kHostBase, kPageSize4K);
      // Guest 1 GiB pages map guest-physical [1 GiB, 2 GiB), backed by one nested 1 GiB page.
      nested_builder_.map(nested_.root, kPageSize1G, 4 * kPageSize1G, kPageSize1G);
    }
    for (int s = 0; s < 2; ++s) {
      spaces_[s].format = m.guest;
      spaces_[s].cr3 = guest_builder_.new_root() | static_cast<Addr>(s + 1);  // PCID in CR3[11:0]
      spaces_[s].no_execute = m.guest != TableFormat::Bits32;
      if (m.guest == TableFormat::Pae) {
        spaces_[s].cr3 &= ~Addr{0xfff};  // no PCIDs without long mode
        for (Addr quarter = 0; quarter < 4; ++quarter) {
          guest_builder_.map(spaces_[s].cr3, quarter << 30, 0, kPageSize4K);
          guest_builder_.unmap(spaces_[s].cr3, quarter << 30);
        }
      }
    }
    for (int i = 0; i < 3000; ++i) map_random(static_cast<int>(rng_() % 2), false);
    for (int i = 0; i < 200; ++i) map_random(0, true);
    reload_pdptes();
  }

  // One access through the timed path, compared with the reference.
  void access(int index) {
    const unsigned where = rng_() % 12;
    auto near = [this](const std::vector<std::pair<Addr, Addr>>& pages) {
      const auto& [page, size] = pages[rng_() % pages.size()];
      return page + rng_() % size;
    };
    // Locality, so the TLBs hit: a third of the accesses revisit one of the last 16 addresses
    // that translated.
    const Addr va = where < 4   ? recent_[rng_() % recent_.size()] ^ (rng_() % 64)
                    : where < 8 ? near(mapped_)
                    : where < 9 ? near(global_mapped_)
                                : rng_() % space_bytes();
    const auto kind = static_cast<AccessKind>(rng_() % 3);
    const bool user = rng_() % 4 != 0;
    const PagingControls& c = spaces_[current_];
    TranslationExtension ext;
    ext.paging = c;
    ext.nested = mode_.nested;
    ext.nested_paging = nested_;
    ext.nested_context = mode_.nested ? 9 : 0;
    ext.vpid = mode_.nested ? 3 : 0;
    ext.pcid = pcid();
    ext.cpl = user ? 3 : 0;
    ext.kind = kind;
    const PathResult r = path_.translate(va, kind, user, tags(), ext, *this);
    if (!r.fault) recent_[recent_next_++ % recent_.size()] = va;
    const auto read = [this](Addr a, unsigned bytes) {
      std::uint64_t v = 0;
      host_.read(a, &v, bytes);
      return v;
    };
    const Translation expected = mode_.nested ? reference_translate_2d(read, c, nested_, va, kind, user)
                                              : reference_translate(read, c, va, kind, user);
    if (r.level > 0) {  // a TLB hit must be exactly what the tables say now
      ASSERT_FALSE(expected.fault) << "access " << index << " at " << to_hex(va) << " hit the L" << r.level
                                   << " TLB but the reference faults: " << describe(expected);
      ASSERT_EQ(r.physical_address, expected.physical_address) << "access " << index << " at " << to_hex(va);
      ++tlb_hits;
      return;
    }
    const Translation& got = ext.result;
    ASSERT_TRUE(same_result(got, expected)) << "access " << index << " at " << to_hex(va) << ": timed path "
                                            << describe(got) << ", reference " << describe(expected);
    if (got.fault) ++faults;
  }

  // A table change and the invalidation software must issue for it.
  void change() {
    const unsigned what = rng_() % 20;
    if (what < 6) {  // a non-global page of either space
      const int space = static_cast<int>(rng_() % 2);
      invalidate_after(map_random(space, false), false, space);
    } else if (what < 12) {  // the mapping behind a recently used address: unmap it or change its rights
      const Addr va = recent_[rng_() % recent_.size()];
      const Translation before = reference(va);
      if (before.fault || before.global) return;
      if (rng_() % 2) guest_builder_.unmap(spaces_[current_].cr3, va);
      else guest_builder_.protect(spaces_[current_].cr3, va, MappingFlags{rng_() % 2 == 0, rng_() % 2 == 0, true, false});
      // INVLPG of any address in the page drops every TLB piece of it, even splintered ones.
      const Addr page = va & ~((Addr{1} << before.mapping_shift) - 1);
      tlbs_.each([&](Tlb& t) { t.invlpg(page + (rng_() % (Addr{1} << before.mapping_shift)), tags()); });
      walker_.flush_guest_caches(guest_tag());
      if (mode_.guest == TableFormat::Pae) reload_pdptes();
    } else if (what < 15) {  // switch address space, keeping both spaces' entries (PCID no-flush)
      current_ ^= 1;
      if (mode_.guest == TableFormat::Pae) {  // no PCIDs: MOV to CR3 flushes non-global entries
        tlbs_.each([&](Tlb& t) { t.mov_to_cr3(0, false, false, vpid()); });
        walker_.flush_guest_caches();
      } else {
        tlbs_.each([&](Tlb& t) { t.mov_to_cr3(pcid(), true, true, vpid()); });
      }
    } else if (what < 17) {  // a global page in both spaces
      invalidate_after(map_random(0, true), true, 0);
    } else if (what < 18) {  // unmap many pages of the current space: single-context flush
      for (int i = 0; i < 20 && !mapped_.empty(); ++i)
        guest_builder_.unmap(spaces_[current_].cr3, mapped_[rng_() % mapped_.size()].first);
      if (mode_.nested && rng_() % 2) tlbs_.each([&](Tlb& t) { t.invvpid(3, vpid(), 0); });
      else tlbs_.each([&](Tlb& t) { t.invpcid(1, pcid(), 0, vpid()); });
      if (mode_.guest == TableFormat::Pae) tlbs_.each([&](Tlb& t) { t.mov_to_cr3(0, false, false, vpid()); });
      walker_.flush_guest_caches();
    } else if (mode_.nested) {  // the hypervisor changes the rights of a guest page in use: INVEPT
      const Translation t = reference(recent_[rng_() % recent_.size()]);
      const Addr gpa = (t.fault ? rng_() % kGuestBytes : t.guest_physical_address) & ~(kPageSize4K - 1);
      if (gpa < kGuestBytes)
        nested_builder_.protect(nested_.root, gpa, MappingFlags{rng_() % 3 != 0, true, rng_() % 3 != 0, false});
      const bool global = rng_() % 2;
      tlbs_.each([&](Tlb& tlb) { tlb.invept(global, 9); });
      walker_.flush_nested_caches();
    }
    reload_pdptes();
  }

  Translation reference(Addr va) {
    const auto read = [this](Addr a, unsigned bytes) {
      std::uint64_t v = 0;
      host_.read(a, &v, bytes);
      return v;
    };
    const PagingControls& c = spaces_[current_];
    return mode_.nested ? reference_translate_2d(read, c, nested_, va, AccessKind::Load, false)
                        : reference_translate(read, c, va, AccessKind::Load, false);
  }

  Cycles translate_miss(Addr va, TranslationExtension& ext) override {
    const WalkOutcome& o = walker_.walk(to_walk_request(va, ext), port_);
    to_extension(o, ext);
    return o.cycles;
  }

  std::uint64_t tlb_hits = 0;
  std::uint64_t faults = 0;
  const PageWalker& walker() const { return walker_; }

 private:
  static WalkerConfig walker_config(bool prefix) {
    WalkerConfig c;
    c.pwc = {true, prefix, 32, 8, 2};
    c.nested_pwc = {true, prefix, 32, 8, 2};
    c.nested_tlb = {true, true, 16, 16, 2};
    return c;
  }
  MemoryView guest_view() {
    return MemoryView::of(host_, mode_.nested ? kHostBase : 0);
  }
  Addr space_bytes() const { return format_info(mode_.guest).va_bits == 32 ? Addr{1} << 32 : Addr{1} << 40; }
  std::uint16_t pcid() const { return static_cast<std::uint16_t>(spaces_[current_].cr3 & 0xfff); }
  std::uint16_t vpid() const { return mode_.nested ? 3 : 0; }
  TlbTags tags() const { return {pcid(), vpid(), static_cast<std::uint16_t>(mode_.nested ? 9 : 0)}; }
  std::uint32_t guest_tag() const { return (std::uint32_t{vpid()} << 12) | pcid(); }

  // Maps or unmaps a random page (global ones in the shared top half of both spaces) and
  // issues the invalidation that change needs; returns its va.
  Addr map_random(int space, bool global) {
    std::vector<Addr> sizes{kPageSize4K, mode_.guest == TableFormat::Bits32 ? kPageSize4M : kPageSize2M};
    if (mode_.guest == TableFormat::Level4 || mode_.guest == TableFormat::Level5) sizes.push_back(kPageSize1G);
    const Addr size = sizes[rng_() % 6 == 0 ? rng_() % sizes.size() : 0];
    last_size_ = size;
    const Addr half = space_bytes() / 2;
    const Addr va = ((global ? half : 0) + rng_() % half) & ~(size - 1);
    const Addr pa_space = mode_.nested ? kGuestBytes + kGuestBytes / 8 : Addr{1} << 32;  // a few gPAs unbacked
    const Addr pa = mode_.nested && size == kPageSize1G ? kPageSize1G : (rng_() % pa_space) & ~(size - 1);
    const MappingFlags flags{rng_() % 4 != 0, rng_() % 4 != 0, rng_() % 4 != 0, global};
    if (rng_() % 10 == 0) {
      guest_builder_.unmap(spaces_[space].cr3, va);
      if (global) guest_builder_.unmap(spaces_[space ^ 1].cr3, va);
    } else {
      guest_builder_.map(spaces_[space].cr3, va, pa, size, flags);
      if (global) guest_builder_.map(spaces_[space ^ 1].cr3, va, pa, size, flags);
      (global ? global_mapped_ : mapped_).emplace_back(va, size);
    }
    return va;
  }
  // After changing the tables at va: a large page may have replaced a table of smaller ones,
  // which INVLPG of one address does not cover, so software flushes the context instead.
  void invalidate_after(Addr va, bool global, int space) {
    if (global) {
      if (rng_() % 2) tlbs_.each([&](Tlb& t) { t.invpcid(2, 0, 0, vpid()); });
      else tlbs_.each([&](Tlb& t) { t.cr4_change(vpid()); });
      walker_.flush_guest_caches();
    } else if (space == current_ && rng_() % 2) {
      tlbs_.each([&](Tlb& t) { t.invlpg(va, tags()); });
      walker_.flush_guest_caches(guest_tag());  // INVLPG drops the current PCID's paging-structure caches
      if (last_size_ > kPageSize4K) tlbs_.each([&](Tlb& t) { t.invpcid(1, pcid(), 0, vpid()); });
    } else {
      const std::uint16_t target = static_cast<std::uint16_t>(spaces_[space].cr3 & 0xfff);
      if (last_size_ == kPageSize4K) tlbs_.each([&](Tlb& t) { t.invpcid(0, target, va, vpid()); });
      else tlbs_.each([&](Tlb& t) { t.invpcid(1, target, 0, vpid()); });
      walker_.flush_guest_caches((std::uint32_t{vpid()} << 12) | target);
    }
    if (mode_.guest == TableFormat::Pae) {  // without PCIDs the other space's entries are tagged the same
      tlbs_.each([&](Tlb& t) { t.mov_to_cr3(0, false, false, vpid()); });
      walker_.flush_guest_caches();
    }
  }
  void reload_pdptes() {
    if (mode_.guest != TableFormat::Pae) return;
    auto view = guest_view();
    for (auto& s : spaces_) load_pae_pdptes(view.read, s);
  }

  ModeCase mode_;
  std::mt19937_64 rng_;
  PhysicalMemory host_{Addr{1} << 33};
  FrameAllocator host_frames_;
  FrameAllocator guest_frames_;
  PageTableBuilder nested_builder_;
  PageTableBuilder guest_builder_;
  NestedControls nested_;
  PagingControls spaces_[2];
  int current_ = 0;
  std::vector<std::pair<Addr, Addr>> mapped_;         // non-global pages (either space): va, size
  std::vector<std::pair<Addr, Addr>> global_mapped_;  // global pages (both spaces)
  Addr last_size_ = kPageSize4K;
  std::array<Addr, 16> recent_{};
  unsigned recent_next_ = 0;
  ParamRegistry registry_;
  TlbHierarchyParameters params_;
  TlbHierarchy tlbs_;
  TranslationPath path_;
  PageWalker walker_;
  DirectMemoryPort port_;
};

class TimedPathDifferential : public ::testing::TestWithParam<ModeCase> {};

TEST_P(TimedPathDifferential, EqualsTheReferenceOnEveryAccess) {
  Machine machine(GetParam());
  const int n = GetParam().accesses;
  for (int i = 0; i < n; ++i) {
    if (i % 97 == 96) machine.change();
    machine.access(i);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // The run exercised hits, walks and faults of every kind it could.
  EXPECT_GT(machine.tlb_hits, static_cast<std::uint64_t>(n) / 10);
  EXPECT_GT(machine.faults, 0u);
  EXPECT_GT(machine.walker().walks.count(), machine.faults);
  EXPECT_GT(machine.walker().pwc.hits.count(), 0u);
}

// 1,080,000 accesses in all: every paging mode natively and under EPT and NPT.
INSTANTIATE_TEST_SUITE_P(
    Modes, TimedPathDifferential,
    ::testing::Values(ModeCase{TableFormat::Bits32, false, TableFormat::Ept4, false, 100000},
                      ModeCase{TableFormat::Pae, false, TableFormat::Ept4, true, 100000},
                      ModeCase{TableFormat::Level4, false, TableFormat::Ept4, true, 120000},
                      ModeCase{TableFormat::Level5, false, TableFormat::Ept4, false, 100000},
                      ModeCase{TableFormat::Level4, true, TableFormat::Ept4, false, 140000},
                      ModeCase{TableFormat::Level4, true, TableFormat::Ept4, true, 120000},
                      ModeCase{TableFormat::Level5, true, TableFormat::Ept5, true, 100000},
                      ModeCase{TableFormat::Pae, true, TableFormat::Level4, false, 100000},
                      ModeCase{TableFormat::Bits32, true, TableFormat::Level4, true, 100000},
                      ModeCase{TableFormat::Level4, true, TableFormat::Level5, false, 100000}));

}  // namespace
}  // namespace virtsim
