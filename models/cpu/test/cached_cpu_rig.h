#pragma once
// Test support: one vCPU on a small real platform with caches: its MMU, private L1D and L2, a
// last-level cache, main memory, and a pager mapping one 4 KiB page per fault, all bound through
// the TLM sockets as the platform binds them. `connected` also connects each initiator to its
// port directly, as the platform does (without it every access goes through the sockets).
#include <deque>
#include <string>

#include "virtsim/cpu/vcpu.h"
#include "virtsim/memory/cache_module.h"
#include "virtsim/memory/memory_module.h"
#include "virtsim/mmu/mmu_module.h"
#include "scripted.h"

namespace virtsim {

struct CachedCpuRig {
  ParamRegistry params;
  StatRegistry stats;
  Scope context{&params, &stats, ""};
  Clock clock{2.0};
  MemoryModule memory;
  MmuModule mmu;
  Cache llc{context.child("llc"), CacheConfig{true, 64, 8, 64, 30, "lru", 7}};
  CacheModule caches;
  Vcpu cpu;
  FrameAllocator frames{Addr{1} << 20, Addr{64} << 20};
  PageTableBuilder builder{memory.memory(), frames};
  OnePagePager pager{builder, frames};
  ScriptedWorkload workload;

  // `configured`: the parameters, each module's named `prefix` + memory, mmu, caches or cpu.
  CachedCpuRig(const std::string& prefix, ParamRegistry configured, std::deque<GuestEvent> events, bool connected)
      : params(std::move(configured)),
        memory((prefix + "memory").c_str(), context, clock),
        mmu((prefix + "mmu").c_str(), context, clock),
        caches((prefix + "caches").c_str(), context, clock, llc, 64, 1),
        cpu((prefix + "cpu").c_str(), context, clock),
        workload(std::move(events)) {
    cpu.translate.bind(mmu.translate);
    caches.set_requester(0, Requester::Data);
    cpu.data.bind(caches.cpu_side);
    caches.set_requester(1, Requester::Walk);
    mmu.memory.bind(caches.cpu_side);
    caches.memory_side.bind(memory.port);
    if (connected) {
      cpu.translate.connect(mmu);
      cpu.data.connect(caches.data_port());
      mmu.memory.connect(caches.walk_port());
      caches.memory_side.connect(memory);
    }
    cpu.set_cr3(builder.new_root());
    cpu.set_workload(&workload);
    cpu.fault_handler.bind(pager);
  }
};

}  // namespace virtsim
