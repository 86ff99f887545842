#pragma once
// The architectural state a translation depends on, as it travels from a vCPU to its MMU in
// the TranslationExtension: the table format and control-register bits of the (guest) paging
// mode, and under nesting the EPTP / nCR3 and its format. The formats themselves are
// implemented in models/paging (paging.h).
#include <array>
#include <cstdint>

#include "virtsim/common/units.h"

namespace virtsim {

// A table format: the four x86 paging modes and the two EPT depths. AMD NPT tables are
// Level4 / Level5 tables (the ordinary long-mode format).
enum class TableFormat : std::uint8_t { Bits32, Pae, Level4, Level5, Ept4, Ept5 };

// How a translation failed (carried in TranslationExtension::fault_kind).
enum class FaultKind : std::uint8_t {
  None,
  PageFault,          // guest #PF with error_code
  GeneralProtection,  // non-canonical linear address
  EptViolation,       // VM exit 48; exit_qualification, guest_physical_address
  EptMisconfig,       // VM exit 49; guest_physical_address
  NestedPageFault,    // #VMEXIT 0x400; exit_info1 (error code + bits 32/33), guest_physical_address
};

// The control-register state a 1-D (or the guest half of a 2-D) translation depends on.
struct PagingControls {
  TableFormat format = TableFormat::Level4;
  Addr cr3 = 0;
  bool write_protect = true;    // CR0.WP: supervisor writes honour R/W
  bool no_execute = true;       // EFER.NXE: XD is meaningful (else bit 63 is reserved)
  bool page_size_ext = true;    // CR4.PSE: 4 MiB pages in 32-bit paging
  unsigned max_phys_bits = 52;  // MAXPHYADDR: address bits above it are reserved
  // PAE: the four PDPTEs the processor loaded at the last MOV to CR3 (SDM 4.4.1); a walk
  // reads no PDPT entry from memory.
  std::array<std::uint64_t, 4> pdptes{};
};

// The nested (second-dimension) translation: EPT (Ept4/Ept5) or NPT (Level4/Level5).
struct NestedControls {
  TableFormat format = TableFormat::Ept4;
  Addr root = 0;                 // EPTP or nCR3 (the table address bits are used)
  bool access_dirty = false;     // EPTP bit 6: EPT A/D flags (guest-table accesses count as writes)
  bool execute_only = true;      // IA32_VMX_EPT_VPID_CAP bit 0: execute-only EPT entries allowed
  unsigned max_phys_bits = 52;
  // Agile paging (Gandhi, Hill and Swift, ISCA 2016): the walk starts in the 1-D tables at the
  // guest's CR3 (the hypervisor's shadow tables) and a non-leaf entry with this bit set holds
  // the guest-physical address of the guest's own table below, from which the walk goes on in
  // two dimensions through these nested tables. 0: a plain 2-D walk.
  std::uint64_t agile_switch_bit = 0;
  bool is_ept() const { return format == TableFormat::Ept4 || format == TableFormat::Ept5; }
};

}  // namespace virtsim
