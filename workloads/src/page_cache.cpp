#include "virtsim/workloads/page_cache.h"

#include <algorithm>

namespace virtsim {

// fault_around_bytes is Linux 6.1's default (mm/memory.c: 65536, at most PTRS_PER_PTE pages).
PageCacheParameters::PageCacheParameters(const Scope& scope)
    : VIRTSIM_MEMBER(fault_around_bytes, scope, 65536, "bytes",
                     "a read fault on a file mapping also maps the cached pages of the aligned block of this many "
                     "bytes around it (Linux mm/memory.c fault_around_bytes, rounded down to a power of two; one "
                     "page or less: no fault-around)",
                     Range{0, 2097152}),
      VIRTSIM_MEMBER(file_read_instructions, scope, 5000, "instructions",
                     "kernel instructions to read a file page from its disk into the page cache at its first use, "
                     "when page_cache_warm is off (assumption; the device's own latency is left out)",
                     Range{0, 1e9}),
      VIRTSIM_MEMBER(image_fault_around, scope, true, "",
                     "a captured program's read or fetch of memory no record mapped (the image and the "
                     "dynamic loader that exec mapped, which the trace does not carry) is a fault of a private "
                     "file mapping, with fault-around; a write there is anonymous memory (the stack, .bss). An "
                     "approximation: the trace says neither where the image's file ends nor which file it is"),
      VIRTSIM_MEMBER(page_cache_warm, scope, true, "",
                     "every page of the files the processes map is in the page cache from the start (assumption: "
                     "a program's binary and libraries are cached, as on a machine that has run it before); off, "
                     "a file page's first use reads it (file_read_instructions)") {}

FaultAroundWindow fault_around_window(Addr va, Addr area_start, Addr area_end, Addr window_bytes, Addr table_span) {
  Addr window = kPageSize4K;
  while (window * 2 <= window_bytes) window *= 2;
  const Addr first = std::max(va & ~(window - 1) & ~(kPageSize4K - 1), area_start);
  const Addr table_end = (first & ~(table_span - 1)) + table_span;
  return {first, std::min({first + window, area_end, table_end})};
}

PageCache::PageCache(const Scope& scope, const PageCacheParameters& parameters, std::function<Addr()> allocate)
    : VIRTSIM_MEMBER(file_faults, scope, "faults", "page faults on file mappings, served from the page cache"),
      VIRTSIM_MEMBER(fault_around_pages, scope, "pages",
                     "pages a read fault on a file mapping mapped besides its own (fault-around)"),
      VIRTSIM_MEMBER(file_cow_copies, scope, "faults",
                     "write faults on a private file mapping's unmapped page that copied the cached page"),
      VIRTSIM_MEMBER(page_cache_reads, scope, "pages", "file pages read from their disk (page_cache_warm off)"),
      VIRTSIM_MEMBER(page_cache_pages, scope, "pages", "file pages in the page cache at the end",
                     [this] { return static_cast<double>(pages_.size()); }),
      p_(parameters),
      allocate_(std::move(allocate)) {}

Addr PageCache::fault_around_bytes() const {
  Addr window = kPageSize4K;
  while (window * 2 <= p_.fault_around_bytes) window *= 2;
  return window;
}

PageCache::Page PageCache::get(std::uint32_t stream, std::uint32_t file, std::uint64_t index) {
  const Key key{stream, file, index};
  if (const auto it = pages_.find(key); it != pages_.end()) return {it->second, false};
  const Addr frame = allocate_();
  pages_.emplace(key, frame);
  const bool read = !p_.page_cache_warm;
  if (read) ++page_cache_reads;
  return {frame, read};
}

bool PageCache::cached(std::uint32_t stream, std::uint32_t file, std::uint64_t index) const {
  return p_.page_cache_warm || pages_.count(Key{stream, file, index});
}

}  // namespace virtsim
