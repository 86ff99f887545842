// Checkpoints of the shadow page tables (shadow_tables.h): what the hypervisor knows of its
// shadow that is not in host memory. Hash-keyed maps go out in key order, so the same shadow
// gives the same bytes; vectors and lists in their own order, which later steps follow (the
// order of a guest page's shadow tables decides which one a zap reaches first, the roots'
// order which one is evicted).
#include <algorithm>

#include "virtsim/hypervisor/shadow/shadow_tables.h"

namespace virtsim {

namespace {
template <typename Map>
std::vector<typename Map::key_type> sorted_keys(const Map& map) {
  std::vector<typename Map::key_type> keys;
  keys.reserve(map.size());
  for (const auto& entry : map) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  return keys;
}
void put_addresses(StateWriter& out, const std::vector<Addr>& v) {
  out.put<std::uint64_t>(v.size());
  for (const Addr a : v) out.put<std::uint64_t>(a);
}
std::vector<Addr> get_addresses(StateReader& in, const char* field) {
  std::vector<Addr> v(in.count(field, 8));
  for (Addr& a : v) a = in.get<std::uint64_t>(field);
  return v;
}
}  // namespace

void ShadowPageTables::save_state(StateWriter& out) const {
  out.put_tag("SHDW");
  out.put<std::uint32_t>(levels_);
  out.put<std::uint64_t>(roots_.size());
  for (const Root& r : roots_) {
    out.put<std::uint64_t>(r.guest_cr3);
    out.put<std::uint64_t>(r.table);
  }
  put_addresses(out, current_);
  put_addresses(out, listed_);
  out.put<std::uint64_t>(tables_.size());
  for (const Addr frame : sorted_keys(tables_)) {
    const Table& t = tables_.at(frame);
    out.put<std::uint64_t>(frame);
    out.put<std::uint64_t>(t.guest_page);
    out.put<std::uint32_t>(t.level);
    out.put<std::uint64_t>(t.va_base);
    out.put<std::uint64_t>(t.parent_slot);
    out.put<std::uint32_t>(t.emulated_writes);
  }
  out.put<std::uint64_t>(derived_.size());
  for (const Addr page : sorted_keys(derived_)) {
    out.put<std::uint64_t>(page);
    put_addresses(out, derived_.at(page));
  }
  for (const auto* map : {&leaves_, &large_leaves_}) {
    out.put<std::uint64_t>(map->size());
    for (const Addr page : sorted_keys(*map)) {
      const std::vector<LeafRef>& refs = map->at(page);
      out.put<std::uint64_t>(page);
      out.put<std::uint64_t>(refs.size());
      for (const LeafRef& r : refs) {
        out.put<std::uint64_t>(r.slot);
        out.put<std::uint64_t>(r.va);
      }
    }
  }
  out.put<std::uint64_t>(out_of_sync_.size());
  for (const auto& [table, indices] : out_of_sync_) {
    out.put<std::uint64_t>(table);
    out.put<std::uint64_t>(indices.size());
    for (const unsigned i : indices) out.put<std::uint32_t>(i);
  }
  out.put<std::uint64_t>(pending_writes_.size());
  for (const Addr page : sorted_keys(pending_writes_)) {
    const std::deque<PendingWrite>& writes = pending_writes_.at(page);
    out.put<std::uint64_t>(page);
    out.put<std::uint64_t>(writes.size());
    for (const PendingWrite& w : writes) {
      out.put<std::uint64_t>(w.order);
      out.put<std::uint64_t>(w.gpa);
      out.put<std::uint64_t>(w.bytes);
    }
  }
  out.put<std::uint64_t>(next_write_order_);
  out.put<std::uint8_t>(flush_pending_);
  // The guest's control bits as the last fault saw them (check() walks the guest with them).
  out.put<std::uint64_t>(guest_controls_.cr3);
  out.put<std::uint8_t>(guest_controls_.write_protect);
  out.put<std::uint8_t>(guest_controls_.no_execute);
  out.put<std::uint8_t>(guest_controls_.page_size_ext);
  out.put<std::uint32_t>(guest_controls_.max_phys_bits);
  std::vector<Addr> nested(nested_pages_.begin(), nested_pages_.end());
  std::sort(nested.begin(), nested.end());
  put_addresses(out, nested);
  out.put<std::uint64_t>(switch_slots_.size());
  for (const Addr page : sorted_keys(switch_slots_)) {
    out.put<std::uint64_t>(page);
    put_addresses(out, switch_slots_.at(page));
  }
}

void ShadowPageTables::load_state(StateReader& in) {
  in.expect_tag("SHDW");
  const std::uint64_t levels_at = in.offset();
  if (in.get<std::uint32_t>("shadow paging levels") != levels_)
    in.fail("shadow paging levels", std::to_string(levels_) + " (this run's guest paging)", levels_at);
  const auto frame_field = [&](const char* field) {
    const std::uint64_t at = in.offset();
    const auto frame = in.get<std::uint64_t>(field);
    if (frame == 0 || frame % kPageSize4K) in.fail(field, "a 4 KiB-aligned host frame", at);
    return frame;
  };

  roots_.clear();
  for (auto n = in.count("shadow roots", 16); n > 0; --n) {
    Root r;
    r.guest_cr3 = in.get<std::uint64_t>("shadow root's guest CR3");
    r.table = frame_field("shadow root");
    roots_.push_back(r);
  }
  current_ = get_addresses(in, "guest CR3 loaded by a vCPU");
  listed_ = get_addresses(in, "guest CR3 in the CR3-target list");

  tables_.clear();
  for (auto n = in.count("shadow tables", 40); n > 0; --n) {
    const Addr frame = frame_field("shadow table");
    Table t;
    t.guest_page = in.get<std::uint64_t>("shadow table's guest page");
    const std::uint64_t level_at = in.offset();
    t.level = in.get<std::uint32_t>("shadow table's level");
    if (t.level < 1 || t.level > levels_) in.fail("shadow table's level", "1 to " + std::to_string(levels_), level_at);
    t.va_base = in.get<std::uint64_t>("shadow table's first address");
    t.parent_slot = in.get<std::uint64_t>("shadow table's parent entry");
    t.emulated_writes = in.get<std::uint32_t>("shadow table's emulated writes");
    tables_[frame] = t;
  }
  for (const Root& r : roots_)
    if (!tables_.count(r.table)) in.fail("shadow roots", "a shadow table for every cached root", in.offset());

  derived_.clear();
  for (auto n = in.count("write-tracked guest pages", 16); n > 0; --n) {
    const Addr page = in.get<std::uint64_t>("write-tracked guest page");
    derived_[page] = get_addresses(in, "shadow tables of a guest page");
  }
  for (auto* map : {&leaves_, &large_leaves_}) {
    map->clear();
    for (auto n = in.count("guest pages with shadow leaves", 16); n > 0; --n) {
      const Addr page = in.get<std::uint64_t>("guest page with shadow leaves");
      std::vector<LeafRef> refs(in.count("shadow leaves of a guest page", 16));
      for (LeafRef& r : refs) {
        r.slot = in.get<std::uint64_t>("shadow leaf entry");
        r.va = in.get<std::uint64_t>("shadow leaf's address");
      }
      (*map)[page] = std::move(refs);
    }
  }
  out_of_sync_.clear();
  for (auto n = in.count("out-of-sync shadow tables", 16); n > 0; --n) {
    const Addr table = in.get<std::uint64_t>("out-of-sync shadow table");
    std::vector<unsigned> indices(in.count("out-of-sync entries", 4));
    for (unsigned& i : indices) i = in.get<std::uint32_t>("out-of-sync entry");
    out_of_sync_[table] = std::move(indices);
  }
  pending_writes_.clear();
  pending_count_ = 0;
  for (auto n = in.count("guest pages with noted writes", 16); n > 0; --n) {
    const Addr page = in.get<std::uint64_t>("guest page with noted writes");
    std::deque<PendingWrite>& writes = pending_writes_[page];
    for (auto k = in.count("noted guest writes", 24); k > 0; --k) {
      PendingWrite w;
      w.order = in.get<std::uint64_t>("noted write's order");
      w.gpa = in.get<std::uint64_t>("noted write's address");
      w.bytes = in.get<std::uint64_t>("noted write's length");
      writes.push_back(w);
      ++pending_count_;
    }
  }
  next_write_order_ = in.get<std::uint64_t>("next noted write's order");
  flush_pending_ = in.get_bool("shadow flush pending");
  guest_controls_.cr3 = in.get<std::uint64_t>("guest CR3 of the last fault");
  guest_controls_.write_protect = in.get_bool("guest CR0.WP of the last fault");
  guest_controls_.no_execute = in.get_bool("guest EFER.NXE of the last fault");
  guest_controls_.page_size_ext = in.get_bool("guest CR4.PSE of the last fault");
  guest_controls_.max_phys_bits = in.get<std::uint32_t>("guest MAXPHYADDR of the last fault");
  const std::vector<Addr> nested = get_addresses(in, "guest table pages in the nested dimension");
  nested_pages_ = std::unordered_set<Addr>(nested.begin(), nested.end());
  switch_slots_.clear();
  for (auto n = in.count("guest pages with switching entries", 16); n > 0; --n) {
    const Addr page = in.get<std::uint64_t>("guest page with switching entries");
    switch_slots_[page] = get_addresses(in, "switching entries to a guest page");
  }
}

}  // namespace virtsim
