#pragma once
// The one adapter pair between the ports (memory_port.h, translation_port.h) and TLM-2.0
// sockets, the way VCML's sockets hide DMI behind one access() call:
// - An initiator socket (MemoryInitiatorSocket, TranslationInitiatorSocket) is itself a port
//   that sends each access as b_transport over the socket. connect() hands it the bound
//   target's own port as well (the platform does both): port() is then that port, and an
//   access is a plain call. An initiator makes every access through port(), so it has one
//   access path however it is bound.
// - A target socket (MemoryTargetSocket, TranslationTargetSocket) turns b_transport into
//   access() on the port it serves, and debug transport into debug_access(), adding the
//   cycles to the annotated delay.
// The cycles and side-band answers (where an access was served, the translation) are the
// same on both paths; every delay is a whole number of clock periods.
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <systemc>
#include <tlm>
#include <vector>

#include "virtsim/common/clock.h"
#include "virtsim/common/memory_access_extension.h"
#include "virtsim/common/memory_port.h"
#include "virtsim/common/translation_port.h"

namespace virtsim {

class MemoryInitiatorSocket : public tlm_utils::simple_initiator_socket<MemoryInitiatorSocket>,
                              private MemoryPort {
 public:
  MemoryInitiatorSocket(const char* name, const Clock& clock);
  ~MemoryInitiatorSocket() override;

  // Where the owner's every access goes: the connected target, else this socket.
  MemoryPort& port() { return *port_; }
  // The connected target's direct memory (MemoryPort::direct_memory), read at connect().
  PhysicalMemory* direct_memory() const { return direct_memory_; }
  // The plain call to the target this socket is bound to.
  void connect(MemoryPort& target) {
    port_ = &target;
    direct_memory_ = target.direct_memory();
  }

 private:
  MemoryResult access(bool write, Addr address, unsigned char* data, unsigned length) override;
  bool debug_access(bool write, Addr address, unsigned char* data, unsigned length) override;
  void prepare(bool write, Addr address, unsigned char* data, unsigned length);

  const Clock& clock_;
  MemoryPort* port_;
  PhysicalMemory* direct_memory_ = nullptr;
  tlm::tlm_generic_payload payload_;    // reused: no allocation per access
  MemoryAccessExtension served_;        // attached to payload_
  std::vector<unsigned char> scratch_;  // the bytes of an access made without data
};

class MemoryTargetSocket : public tlm_utils::multi_passthrough_target_socket<MemoryTargetSocket> {
 public:
  // `port` serves every binding that serve() gives no port of its own.
  MemoryTargetSocket(const char* name, const Clock& clock, MemoryPort& port);
  // The port that serves binding `index` (bindings are numbered in the order they are made).
  void serve(unsigned index, MemoryPort& port);

 private:
  void b_transport(int index, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int index, tlm::tlm_generic_payload& payload);
  MemoryPort& port_of(int index) {
    const auto i = static_cast<std::size_t>(index);
    return i < ports_.size() && ports_[i] ? *ports_[i] : default_;
  }

  const Clock& clock_;
  MemoryPort& default_;
  std::vector<MemoryPort*> ports_;
};

class TranslationInitiatorSocket : public tlm_utils::simple_initiator_socket<TranslationInitiatorSocket>,
                                   private TranslationPort {
 public:
  TranslationInitiatorSocket(const char* name, const Clock& clock);
  TranslationPort& port() { return *port_; }
  void connect(TranslationPort& target) { port_ = &target; }

 private:
  TranslationResult access(Addr va, TranslationExtension& ext, Cycles local_cycles) override;

  const Clock& clock_;
  TranslationPort* port_;
  tlm::tlm_generic_payload payload_;
};

class TranslationTargetSocket : public tlm_utils::simple_target_socket<TranslationTargetSocket> {
 public:
  TranslationTargetSocket(const char* name, const Clock& clock, TranslationPort& port);

 private:
  void b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);

  const Clock& clock_;
  TranslationPort& port_;
};

}  // namespace virtsim
