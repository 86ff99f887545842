#pragma once
// One mode-switch interface for both hardware flavours, chosen at run time: VmxModeSwitch
// drives a VmxUnit and its VMCS, SvmModeSwitch an SvmUnit and its VMCB. The rest of the
// simulator configures it with VirtualizationControls, enters the guest, asks it about guest
// events and gets back one ExitDecision vocabulary.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "virtsim/vmx/svm.h"
#include "virtsim/vmx/vmx.h"

namespace virtsim {

// The controls a hypervisor sets, flavour-neutral; each implementation maps them onto VMCS
// execution controls or VMCB intercept bits.
struct VirtualizationControls {
  bool hlt_exiting = true;
  bool invlpg_exiting = false;
  bool rdtsc_exiting = false;
  bool cr3_load_exiting = false;
  bool cr8_load_exiting = false;
  bool use_tpr_shadow = true;
  std::uint8_t tpr_threshold = 0;
  bool mov_dr_exiting = true;
  bool unconditional_io_exiting = true;  // when false: I/O bitmaps with `io_ports_exiting` set
  std::vector<std::uint32_t> io_ports_exiting;
  bool use_msr_bitmaps = true;           // when true: only `msrs_exiting` exit
  std::vector<std::uint32_t> msrs_exiting;
  bool pause_exiting = false;
  bool pause_loop_exiting = true;
  std::uint32_t ple_gap = 128, ple_window = 4096;
  bool descriptor_table_exiting = false;
  bool wbinvd_exiting = true;
  bool rdrand_exiting = false;
  bool enable_invpcid = true;
  bool preemption_timer = false;
  bool external_interrupt_exiting = true;
  bool nested_paging = true;  // EPT / NPT
  bool page_fault_exiting = false;  // #PF in the exception bitmap / intercepts (shadow paging)
  bool tagged_tlb = true;     // VPID / ASID
  std::uint16_t vpid = 1;     // VPID or ASID of the guest
};

// AMD-V's world-switch instructions a KVM-style hypervisor ran so far (zero under VT-x).
struct WorldSwitchCounts {
  std::uint64_t vmloads = 0, vmsaves = 0, clgis = 0, stgis = 0;
};

class ModeSwitch {
 public:
  virtual ~ModeSwitch() = default;
  virtual VirtMode mode() const = 0;
  // Writes the controls into the VMCS / VMCB and the permission bitmaps.
  virtual void configure(const VirtualizationControls& controls) = 0;
  // VMLAUNCH or VMRESUME / VMRUN; false when the entry failed (entry_failure() says why).
  // AMD-V runs it as KVM's svm_vcpu_run does: VMSAVE of the host state when it is not saved
  // yet, CLGI, VMLOAD of the guest's, VMRUN.
  virtual bool enter_guest(CpuState& cpu) = 0;
  virtual std::string entry_failure() const = 0;
  virtual ExitDecision decide(const GuestOp& op) = 0;
  // VM exit / #VMEXIT steps; AMD-V then VMSAVE of the guest's state, VMLOAD of the host's, STGI.
  virtual void exit_to_host(const ExitDecision& exit, CpuState& cpu) = 0;
  // The vCPU's thread returns to user space (KVM's vcpu_put): AMD-V saves the host state again
  // at the next entry.
  virtual void return_to_user_space() {}
  virtual WorldSwitchCounts world_switch() const { return {}; }
  // The CR3-target values (VT-x: at most 4; a MOV to CR3 of one of them does not exit),
  // written into the VMCS where they changed. Returns the VMWRITEs that took. AMD-V has no
  // CR3-target list: throws std::logic_error.
  virtual unsigned write_cr3_targets(const std::vector<Addr>& values) = 0;
  // VMCS / VMCB field accesses the hardware steps made so far.
  virtual std::uint64_t structure_accesses() const = 0;
};

// VT-x or AMD-V by a run-time choice.
std::unique_ptr<ModeSwitch> make_mode_switch(VirtMode mode);

}  // namespace virtsim
