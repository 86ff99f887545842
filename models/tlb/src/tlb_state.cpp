// Checkpoints of a TLB's warmed state (tlb.h): out of the lookup path's file.
#include "virtsim/common/set_associative_state.h"
#include "virtsim/tlb/tlb.h"

namespace virtsim {

namespace {
std::string page_size(unsigned shift) {
  return shift >= 30 ? std::to_string(1u << (shift - 30)) + " GiB"
         : shift >= 20 ? std::to_string(1u << (shift - 20)) + " MiB"
                       : std::to_string(1u << (shift - 10)) + " KiB";
}
}  // namespace

// "4 KiB 16x4 lru (stamps), 8+32-byte slots, listed; 2 MiB ...": each array by its page size.
std::string Tlb::geometry() const {
  std::string g;
  for (const Array& a : arrays_) {
    if (!g.empty()) g += "; ";
    // A mixed array (page_shift 0) holds every page size.
    g += (a.mixed ? std::string("every page size") : page_size(a.page_shift)) + " " + a.slots.geometry();
  }
  return g.empty() ? "no entries" : g;
}

void Tlb::save_state(StateWriter& out) const {
  for (const Array& a : arrays_) {
    a.slots.save_state(out);
    out.put<std::uint32_t>(a.sizes_held);
    out.put<std::uint8_t>(a.ever_filled);
    out.put<std::uint8_t>(a.holds_pieces);
  }
}

void Tlb::load_state(StateReader& in) {
  for (Array& a : arrays_) {
    a.slots.load_state(in);
    a.sizes_held = in.get<std::uint32_t>("TLB page sizes held");
    if (a.sizes_held > 0xf) in.fail("TLB page sizes held", "bits 0-3 only", in.offset() - 4);
    a.ever_filled = in.get_bool("TLB ever filled");
    a.holds_pieces = in.get_bool("TLB holds pieces");
  }
  missed_page_ = kNoPage;  // entries came in that no lookup has seen
}

}  // namespace virtsim
