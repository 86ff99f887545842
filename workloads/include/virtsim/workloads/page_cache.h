#pragma once
// The guest kernel's page cache: each page of a file that processes map lives in one
// guest-physical frame, shared by every mapping of it in every process (Linux mm/filemap.c).
// Files are the trace's file ids (docs/trace-format.md), per stream: vCPUs that run separate
// streams share no file pages. The cache holds a reference to each frame it has and never
// gives pages back (no reclaim, no writeback).
//
// Warm or cold: by default (system.kernel.page_cache_warm) every file page is taken to be in
// the cache already, as a program's binary and libraries are on a machine that has run it
// before; its frame is only given out at the first use. Cold, a page's first use by anyone
// reads it from its disk, at system.kernel.file_read_instructions of kernel work, and only
// pages read so far can be mapped by fault-around.
#include <cstdint>
#include <functional>
#include <unordered_map>

#include "virtsim/common/param.h"
#include "virtsim/common/state_stream.h"
#include "virtsim/common/stats.h"
#include "virtsim/common/units.h"

namespace virtsim {

// Parameters of the page cache and of file-backed faults (scope "system.kernel").
class PageCacheParameters {
 public:
  explicit PageCacheParameters(const Scope& scope);
  Param<std::uint32_t> fault_around_bytes, file_read_instructions;
  Param<bool> image_fault_around, page_cache_warm;
};

// Which pages a read fault at `va` maps around itself, as Linux 6.1 do_fault_around() picks
// them: the `window_bytes` (rounded down to a power of two, one page at least) aligned block
// that holds `va`, started no lower than the area and ended no further than `window_bytes` on,
// the area's end and the end of the last-level page table (`table_span` bytes of address
// space, 2 MiB for 4-level paging) the start is in. [first, end) in page-aligned addresses.
struct FaultAroundWindow {
  Addr first = 0, end = 0;
};
FaultAroundWindow fault_around_window(Addr va, Addr area_start, Addr area_end, Addr window_bytes, Addr table_span);

class PageCache {
 public:
  // `allocate` hands out a zeroed 4 KiB guest-physical frame; the cache keeps the reference it
  // comes with.
  PageCache(const Scope& scope, const PageCacheParameters& parameters, std::function<Addr()> allocate);

  struct Page {
    Addr frame = 0;
    bool read = false;  // cold cache: this use read it from its disk
  };
  // Page `index` (4 KiB units) of file `file` of stream `stream`: its frame, brought into the
  // cache now if it is not there.
  Page get(std::uint32_t stream, std::uint32_t file, std::uint64_t index);
  // Whether fault-around may map the page without reading it: in the cache (warm: every page).
  bool cached(std::uint32_t stream, std::uint32_t file, std::uint64_t index) const;
  std::size_t pages() const { return pages_.size(); }
  // fault_around_bytes as Linux uses it: rounded down to a power of two, one page at least.
  Addr fault_around_bytes() const;
  void save_state(StateWriter& out) const;  // guest_os_state.cpp
  void load_state(StateReader& in);

  Counter file_faults;
  Counter fault_around_pages;
  Counter file_cow_copies;
  Counter page_cache_reads;
  Formula page_cache_pages;

 private:
  struct Key {
    std::uint32_t stream, file;
    std::uint64_t index;
    bool operator==(const Key& o) const { return stream == o.stream && file == o.file && index == o.index; }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return std::hash<std::uint64_t>()((k.index * 0x9e3779b97f4a7c15ull) ^ (std::uint64_t{k.file} << 32 | k.stream));
    }
  };
  const PageCacheParameters& p_;
  std::function<Addr()> allocate_;
  std::unordered_map<Key, Addr, KeyHash> pages_;
};

}  // namespace virtsim
