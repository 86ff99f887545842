#pragma once
// Address and time vocabulary shared by every model.
#include <cstdint>
#include <cstdio>
#include <string>

namespace virtsim {

using Addr = std::uint64_t;    // a virtual, guest-physical or host-physical byte address
using Cycles = std::uint64_t;  // core clock cycles; the only unit of latency inside models

inline constexpr Addr kPageShift4K = 12;
inline constexpr Addr kPageSize4K = Addr{1} << kPageShift4K;

// Kind of a memory access as the guest issued it.
enum class AccessKind : std::uint8_t { Load, Store, Fetch };

inline const char* to_string(AccessKind kind) {
  switch (kind) {
    case AccessKind::Load: return "load";
    case AccessKind::Store: return "store";
    case AccessKind::Fetch: return "fetch";
  }
  return "?";
}

// "0x7f0000001000": addresses in messages are always hexadecimal.
inline std::string to_hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace virtsim
