#pragma once
// A batch of guest events a record source wrote into its caller's buffer, with what the source
// counted while making them: the guest kernel's timer tick and the reference count need no
// pass of their own over the batch.
#include <cstddef>
#include <cstdint>

#include "virtsim/common/guest_event.h"

namespace virtsim {

struct EventBatch {
  std::size_t events = 0;
  std::uint64_t instructions = 0;  // tick_instructions() of the events, summed
  std::uint64_t references = 0;    // the Memory events among them

  // Counts `e`, the event written after the batch's others; returns whether the batch ends
  // after it, as ends_batch() says for a batch of at most `budget` instructions.
  bool add(const GuestEvent& e, std::uint64_t budget) {
    std::uint64_t left = budget - instructions;  // the batch has not ended: instructions < budget
    ++events;
    instructions += tick_instructions(e);
    references += e.kind == GuestEventKind::Memory;
    return ends_batch(e, left);
  }
  // Appends `more`, the batch of events written after these.
  EventBatch& operator+=(const EventBatch& more) {
    events += more.events;
    instructions += more.instructions;
    references += more.references;
    return *this;
  }
};

}  // namespace virtsim
