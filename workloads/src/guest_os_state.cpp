// Checkpoints of the guest OS model (guest_os.h): what the kernel knows that is not in guest
// memory (processes, address spaces and their areas, slabs, the page cache, per-vCPU ASIDs and
// timer state). Guest memory itself, page tables included, is the memory's to save.
#include <algorithm>
#include <map>
#include <tuple>

#include "virtsim/workloads/guest_os.h"

namespace virtsim {

namespace {
void put_event(StateWriter& out, const GuestEvent& e) {
  out.put<std::uint8_t>(static_cast<std::uint8_t>(e.kind));
  out.put<std::uint8_t>(static_cast<std::uint8_t>(e.access));
  out.put<std::uint8_t>(e.size);
  out.put<std::uint32_t>(e.count);
  out.put<std::uint64_t>(e.address);
  out.put<std::uint32_t>(static_cast<std::uint32_t>(e.instruction));
  out.put<std::uint8_t>(e.keeps_contents);
  out.put<std::uint8_t>(e.continues_instruction);
}
GuestEvent get_event(StateReader& in) {
  GuestEvent e;
  e.kind = static_cast<GuestEventKind>(in.get<std::uint8_t>("event kind"));
  e.access = static_cast<AccessKind>(in.get<std::uint8_t>("event access"));
  e.size = in.get<std::uint8_t>("event size");
  e.count = in.get<std::uint32_t>("event count");
  e.address = in.get<std::uint64_t>("event address");
  e.instruction = static_cast<Instruction>(in.get<std::uint32_t>("event instruction"));
  e.keeps_contents = in.get_bool("event keeps_contents");
  e.continues_instruction = in.get_bool("event continues_instruction");
  return e;
}
}  // namespace

void PageCache::save_state(StateWriter& out) const {
  out.put_tag("PCAC");
  // In key order, so the same cache gives the same bytes.
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t>, Addr> sorted;
  for (const auto& [key, frame] : pages_) sorted[{key.stream, key.file, key.index}] = frame;
  out.put<std::uint64_t>(sorted.size());
  for (const auto& [key, frame] : sorted) {
    out.put<std::uint32_t>(std::get<0>(key));
    out.put<std::uint32_t>(std::get<1>(key));
    out.put<std::uint64_t>(std::get<2>(key));
    out.put<std::uint64_t>(frame);
  }
}

void PageCache::load_state(StateReader& in) {
  in.expect_tag("PCAC");
  pages_.clear();
  const auto n = in.count("page cache pages", 24);
  for (std::uint64_t i = 0; i < n; ++i) {
    Key key;
    key.stream = in.get<std::uint32_t>("page cache stream");
    key.file = in.get<std::uint32_t>("page cache file");
    key.index = in.get<std::uint64_t>("page cache index");
    pages_[key] = in.get<std::uint64_t>("page cache frame");
  }
}

void GuestOs::save_state(StateWriter& out) const {
  out.put_tag("GOS1");
  // Made at boot from the configuration: the loading run's must be the same.
  out.put<std::uint64_t>(kernel_root_);
  out.put<std::uint64_t>(memmap_);
  out.put<std::uint64_t>(direct_map_bytes_);
  out.put<std::uint64_t>(next_mm_id_);
  out.put<std::uint64_t>(kernel_references_issued_);
  for (const Slab* slab : {&vma_slab_, &task_slab_, &mm_slab_}) {
    out.put<std::uint64_t>(slab->free.size());
    for (Addr a : slab->free) out.put<std::uint64_t>(a);
  }
  out.put<std::uint64_t>(free_kernel_stacks_.size());
  for (Addr a : free_kernel_stacks_) out.put<std::uint64_t>(a);
  for (const IoBuffer& b : io_buffers_) {
    out.put<std::uint64_t>(b.base);
    out.put<std::uint64_t>(b.pages);
    out.put<std::uint64_t>(b.cursor[0]);
    out.put<std::uint64_t>(b.cursor[1]);
  }
  std::uint64_t counted = 0;
  refcounts_.for_each_set([&](Addr, std::uint16_t) { ++counted; });
  out.put<std::uint64_t>(counted);
  refcounts_.for_each_set([&](Addr frame, std::uint16_t n) {
    out.put<std::uint64_t>(frame);
    out.put<std::uint16_t>(n);
  });

  // Address spaces by id (processes share them: threads), then the processes naming theirs.
  std::map<std::uint64_t, const Mm*> mms;
  for (const auto& [key, p] : processes_) mms[p.mm->id] = p.mm.get();
  for (const auto& c : cpus_)
    if (c->loaded) mms[c->loaded->id] = c->loaded.get();
  out.put<std::uint64_t>(mms.size());
  for (const auto& [id, mm] : mms) {
    out.put<std::uint64_t>(id);
    out.put<std::uint64_t>(mm->root);
    out.put<std::uint64_t>(mm->object);
    out.put<std::uint64_t>(mm->brk_start);
    out.put<std::uint64_t>(mm->brk);
    out.put<std::uint8_t>(mm->implicit_user);
    out.put<std::uint64_t>(mm->generation);
    out.put<std::uint64_t>(mm->active_cpus);
    out.put<std::uint32_t>(mm->users);
    out.put<std::uint64_t>(mm->vmas.size());
    for (const auto& [start, v] : mm->vmas) {
      out.put<std::uint64_t>(v.start);
      out.put<std::uint64_t>(v.end);
      out.put<std::uint8_t>(v.writable);
      out.put<std::uint8_t>(v.executable);
      out.put<std::uint32_t>(v.file);
      out.put<std::uint8_t>(v.shared);
      out.put<std::uint8_t>(v.tool);
      out.put<std::uint64_t>(v.file_delta);
      out.put<std::uint64_t>(v.object);
      out.put<std::uint8_t>(v.own_pages);
    }
  }
  out.put<std::uint64_t>(processes_.size());
  for (const auto& [key, p] : processes_) {
    out.put<std::uint32_t>(key.first);
    out.put<std::uint32_t>(key.second);
    out.put<std::uint32_t>(p.pid);
    out.put<std::uint64_t>(p.mm->id);
    out.put<std::uint64_t>(p.kernel_stack);
    out.put<std::uint64_t>(p.task);
  }

  out.put<std::uint64_t>(cpus_.size());
  for (const auto& c : cpus_) {
    const std::string where = "vCPU " + std::to_string(c->index);
    if (events_ahead(*c))
      throw CheckpointError(where + " has " + std::to_string(events_ahead(*c)) +
                            " events handed out and not run: a checkpoint is taken between records");
    if (c->held || !c->deferred_free.empty() || c->tick_events || c->pv_queued)
      throw CheckpointError(where + " is inside kernel work (a record read ahead, frames to free, a timer "
                            "handler or paravirtual updates pending): a checkpoint is taken between records");
    out.put<std::uint8_t>(c->current != nullptr);
    if (c->current) {
      const auto it = std::find_if(processes_.begin(), processes_.end(),
                                   [&](const auto& kv) { return &kv.second == c->current; });
      out.put<std::uint32_t>(it->first.first);
      out.put<std::uint32_t>(it->first.second);
    }
    out.put<std::uint64_t>(c->pending.size());
    for (const GuestEvent& e : c->pending) put_event(out, e);
    out.put<std::uint64_t>(c->since_tick);
    out.put<std::uint8_t>(c->tick_due);
    out.put<std::uint64_t>(c->per_cpu);
    for (const AsidSlot& s : c->asids) {
      out.put<std::uint64_t>(s.mm);
      out.put<std::uint64_t>(s.generation);
    }
    out.put<std::uint32_t>(c->next_asid);
    out.put<std::uint64_t>(c->loaded ? c->loaded->id : 0);
    out.put<std::uint32_t>(c->loaded_asid);
    out.put<std::uint8_t>(c->in_kernel);
    out.put<std::uint8_t>(c->named);
  }
  page_cache.save_state(out);
}

void GuestOs::load_state(StateReader& in) {
  in.expect_tag("GOS1");
  const auto same = [&](const char* field, Addr mine) {
    const auto theirs = in.get<std::uint64_t>(field);
    if (theirs != mine)
      in.fail(field, std::to_string(mine) + " as this run's kernel boots, found " + std::to_string(theirs) +
                         " (the checkpoint's guest was built otherwise)", in.offset() - 8);
  };
  same("kernel root", kernel_root_);
  same("struct page array", memmap_);
  same("direct map bytes", direct_map_bytes_);
  next_mm_id_ = in.get<std::uint64_t>("next address-space id");
  kernel_references_issued_ = in.get<std::uint64_t>("kernel references issued");
  for (Slab* slab : {&vma_slab_, &task_slab_, &mm_slab_}) {
    slab->free.resize(in.count("slab free objects", 8));
    for (Addr& a : slab->free) a = in.get<std::uint64_t>("slab free object");
  }
  free_kernel_stacks_.resize(in.count("free kernel stacks", 8));
  for (Addr& a : free_kernel_stacks_) a = in.get<std::uint64_t>("free kernel stack");
  for (IoBuffer& b : io_buffers_) {
    b.base = in.get<std::uint64_t>("I/O buffer base");
    b.pages = in.get<std::uint64_t>("I/O buffer pages");
    b.cursor[0] = in.get<std::uint64_t>("I/O buffer read cursor");
    b.cursor[1] = in.get<std::uint64_t>("I/O buffer write cursor");
  }
  refcounts_ = FrameArray<std::uint16_t>(frames_.end());
  const auto counted = in.count("page reference counts", 10);
  for (std::uint64_t i = 0; i < counted; ++i) {
    const Addr frame = in.get<std::uint64_t>("counted frame");
    if (frame >= frames_.end() || (frame & (kPageSize4K - 1)))
      in.fail("counted frame", "a guest-physical frame below " + std::to_string(frames_.end()), in.offset() - 8);
    refcounts_.at(frame) = in.get<std::uint16_t>("page reference count");
  }

  std::map<std::uint64_t, std::shared_ptr<Mm>> mms;
  const auto mm_count = in.count("address spaces", 8);
  for (std::uint64_t i = 0; i < mm_count; ++i) {
    auto mm = std::make_shared<Mm>();
    mm->id = in.get<std::uint64_t>("address-space id");
    mm->root = in.get<std::uint64_t>("address-space root");
    mm->object = in.get<std::uint64_t>("mm_struct address");
    mm->brk_start = in.get<std::uint64_t>("brk start");
    mm->brk = in.get<std::uint64_t>("brk");
    mm->implicit_user = in.get_bool("implicit user memory");
    mm->generation = in.get<std::uint64_t>("TLB generation");
    mm->active_cpus = in.get<std::uint64_t>("active vCPUs");
    mm->users = in.get<std::uint32_t>("address-space users");
    const auto vmas = in.count("memory areas", 8);
    for (std::uint64_t k = 0; k < vmas; ++k) {
      Vma v;
      v.start = in.get<std::uint64_t>("area start");
      v.end = in.get<std::uint64_t>("area end");
      v.writable = in.get_bool("area writable");
      v.executable = in.get_bool("area executable");
      v.file = in.get<std::uint32_t>("area file");
      v.shared = in.get_bool("area shared");
      v.tool = in.get_bool("area of the tool");
      v.file_delta = in.get<std::uint64_t>("area file offset");
      v.object = in.get<std::uint64_t>("vm_area_struct address");
      v.own_pages = in.get_bool("area pages of its own");
      mm->vmas[v.start] = v;
    }
    mms[mm->id] = std::move(mm);
  }
  const auto find_mm = [&](std::uint64_t id) -> std::shared_ptr<Mm> {
    if (!id) return nullptr;
    const auto it = mms.find(id);
    if (it == mms.end()) in.fail("address-space id", "the id of a saved address space, found " + std::to_string(id), in.offset() - 8);
    return it->second;
  };
  processes_.clear();
  const auto process_count = in.count("processes", 28);
  for (std::uint64_t i = 0; i < process_count; ++i) {
    const auto ns = in.get<std::uint32_t>("process namespace");
    const auto pid_key = in.get<std::uint32_t>("process key");
    Process& p = processes_[{ns, pid_key}];
    p.pid = in.get<std::uint32_t>("pid");
    p.mm = find_mm(in.get<std::uint64_t>("process address space"));
    p.kernel_stack = in.get<std::uint64_t>("kernel stack");
    p.task = in.get<std::uint64_t>("task_struct address");
  }

  const auto cpu_count = in.get<std::uint64_t>("vCPUs");
  if (cpu_count != cpus_.size())
    in.fail("vCPUs", std::to_string(cpus_.size()) + " vCPUs as this run has, found " + std::to_string(cpu_count),
            in.offset() - 8);
  for (auto& c : cpus_) {
    c->current = nullptr;
    if (in.get_bool("vCPU runs a process")) {
      const auto ns = in.get<std::uint32_t>("running process namespace");
      const auto pid_key = in.get<std::uint32_t>("running process");
      const auto it = processes_.find({ns, pid_key});
      if (it == processes_.end()) in.fail("running process", "a saved process", in.offset() - 4);
      c->current = &it->second;
    }
    c->pending.clear();
    const auto pending = in.count("pending events", 21);
    for (std::uint64_t k = 0; k < pending; ++k) c->pending.push_back(get_event(in));
    c->deferred_free.clear();
    c->held.reset();
    c->tick_events = 0;
    c->pv_queued = 0;
    c->since_tick = in.get<std::uint64_t>("instructions since the tick");
    c->tick_due = in.get_bool("tick due");
    same("per-CPU data", c->per_cpu);
    for (AsidSlot& s : c->asids) {
      s.mm = in.get<std::uint64_t>("ASID address space");
      s.generation = in.get<std::uint64_t>("ASID generation");
    }
    c->next_asid = in.get<std::uint32_t>("next ASID");
    c->loaded = find_mm(in.get<std::uint64_t>("loaded address space"));
    c->loaded_asid = in.get<std::uint32_t>("loaded ASID");
    c->in_kernel = in.get_bool("in kernel");
    c->named = in.get_bool("first pid named");
  }
  page_cache.load_state(in);
}

}  // namespace virtsim
