#pragma once
// Test support for vCPU tests on a small real platform: a scripted event stream and a pager
// that maps one 4 KiB page per fault.
#include <deque>

#include "virtsim/common/guest_event.h"
#include "virtsim/paging/paging.h"

namespace virtsim {

class ScriptedWorkload : public SingleEventSource {
 public:
  explicit ScriptedWorkload(std::deque<GuestEvent> events) : events_(std::move(events)) {}

 private:
  std::optional<GuestEvent> next_event() override {
    if (events_.empty()) return std::nullopt;
    auto e = events_.front();
    events_.pop_front();
    return e;
  }
  std::deque<GuestEvent> events_;
};

// Maps one 4 KiB page on a fault and charges a fixed cost.
class OnePagePager : public PageFaultHandler {
 public:
  OnePagePager(PageTableBuilder& builder, FrameAllocator& frames) : builder_(builder), frames_(frames) {}
  bool handle_page_fault(unsigned, Addr cr3, Addr va, std::uint32_t error_code, Cycles& cost) override {
    ++faults;
    last_error_code = error_code;
    if (va >= 0x10000000) return false;
    builder_.map(cr3, va & ~(kPageSize4K - 1), frames_.allocate(), kPageSize4K);
    cost = 1000;
    return true;
  }
  int faults = 0;
  std::uint32_t last_error_code = 0;

 private:
  PageTableBuilder& builder_;
  FrameAllocator& frames_;
};

}  // namespace virtsim
