"""AMD-V's whole world switch and the hypervisor's TLB invalidations, end to end.

Under AMD-V every exit runs what KVM's svm_vcpu_run does around VMRUN (CLGI, VMLOAD of the
guest's FS/GS/TR/LDTR and system-call MSRs, VMRUN, VMSAVE of them, VMLOAD of the host's, STGI),
and an exit to the user-space device model makes the next entry save the host's state again.
Under shadow paging the hypervisor's flushes are INVVPID (individual address, all-context,
single-context retaining globals) on VT-x and INVLPGA and TLB_CONTROL on AMD-V."""
from __future__ import annotations

import json

import h5py
import pytest

from test_cli import SINGLE, virtsim

ZEN2_EXITBENCH = ["--set", 'machine.preset="zen2"', "--set", 'workload.kind="exitbench"',
                  "--set", "workload.exitbench.operations=200"]
SMALL = ["--set", "workload.footprint_kib=8192", "--set", "workload.accesses=4000", "--set", "workload.operations=12",
         "--set", 'workload.kind="fork_and_wait"', "--set", "system.shadow.enabled=true"]
TLBS = ("dtlb", "itlb", "stlb")


def metrics(binary, tmp_path, name, *extra):
    """The run's scalar metrics, and each TLB's invalidations by kind as "<tlb>.<vector>[<kind>]"."""
    out = tmp_path / f"{name}.h5"
    result = virtsim(binary, "run", *SINGLE, "-o", str(out), "-q", *extra)
    assert result.returncode == 0, result.stderr
    stats = virtsim(binary, "stats", str(out), "--json", "--all")
    assert stats.returncode == 0, stats.stderr
    m = json.loads(stats.stdout)["run0000"]["metrics"]
    with h5py.File(out) as f:
        for tlb in TLBS:
            for vector in ("operations_by_kind", "invalidated_by_kind"):
                data = f[f"runs/run0000/stats/system.cpu0.{tlb}.{vector}"]
                for label, value in zip(data.attrs["labels"], data[()]):
                    m[f"{tlb}.{vector}[{label}]"] = int(value)
    return m


def by_kind(m, what, kind):
    return sum(m[f"{tlb}.{what}[{kind}]"] for tlb in TLBS)


def test_each_amdv_exit_runs_kvms_world_switch(virtsim_binary, tmp_path):
    m = metrics(virtsim_binary, tmp_path, "cpuid", *ZEN2_EXITBENCH, "--set", 'workload.exitbench.benchmark="cpuid"')
    exits = m["system.virt0.exits"]
    assert exits >= 200
    assert m["system.virt0.vmloads"] == 2 * exits  # the guest's before VMRUN, the host's after #VMEXIT
    assert m["system.virt0.vmsaves"] == exits      # the guest's after #VMEXIT
    assert m["system.virt0.clgis"] == exits and m["system.virt0.stgis"] == exits
    assert m["system.virt0.world_switch_cycles"] == exits * (2 * 150 + 150)  # zen2: VMLOAD 150, VMSAVE 150
    # Their costs are parameters: CLGI and STGI charged when set.
    priced = metrics(virtsim_binary, tmp_path, "priced", *ZEN2_EXITBENCH, "--set", 'workload.exitbench.benchmark="cpuid"',
                     "--set", "system.vmx.clgi_cycles=10", "--set", "system.vmx.stgi_cycles=20")
    assert priced["system.virt0.world_switch_cycles"] == m["system.virt0.world_switch_cycles"] + exits * 30
    assert priced["workload.cycles_per_operation"] == pytest.approx(m["workload.cycles_per_operation"] + 30)


def test_an_exit_to_user_space_saves_the_host_state_again(virtsim_binary, tmp_path):
    m = metrics(virtsim_binary, tmp_path, "io_user", *ZEN2_EXITBENCH, "--set", 'workload.exitbench.benchmark="io_user"')
    exits = m["system.virt0.exits"]
    assert m["system.virt0.user_space_exits"] == exits
    assert m["system.virt0.vmsaves"] == 2 * exits  # the guest's, and the host's at the next entry
    kernel = metrics(virtsim_binary, tmp_path, "io_kernel", *ZEN2_EXITBENCH,
                     "--set", 'workload.exitbench.benchmark="io_kernel"')
    assert kernel["system.virt0.user_space_exits"] == 0
    assert kernel["system.virt0.vmsaves"] == kernel["system.virt0.exits"]


def test_vtx_runs_no_amdv_world_switch_instructions(virtsim_binary, tmp_path):
    m = metrics(virtsim_binary, tmp_path, "vmx", "--set", 'machine.preset="skylake-sp"', "--set",
                'workload.kind="exitbench"', "--set", "workload.exitbench.operations=50")
    assert m["system.virt0.exits"] >= 50
    assert m["system.virt0.vmloads"] == m["system.virt0.vmsaves"] == m["system.virt0.clgis"] == 0


def test_shadow_paging_flushes_with_invvpid_on_vtx(virtsim_binary, tmp_path):
    m = metrics(virtsim_binary, tmp_path, "shadow-vmx", *SMALL, "--set", 'system.vmx.mode="vmx"')
    # The guest's INVLPGs and the write-protections: individual address; the zaps: all-context
    # (KVM's flush_tlb_all without EPT); the guest's CR3 loads: single context retaining globals.
    assert by_kind(m, "operations_by_kind", "invvpid_address") > 0
    assert by_kind(m, "operations_by_kind", "invvpid_all") > 0
    assert by_kind(m, "operations_by_kind", "invvpid_single_but_global") > 0
    for kind in ("invlpg", "mov_to_cr3", "invlpga", "svm_tlb_control"):
        assert by_kind(m, "operations_by_kind", kind) == 0, kind


def test_shadow_paging_flushes_with_invlpga_and_tlb_control_on_amdv(virtsim_binary, tmp_path):
    vmx = metrics(virtsim_binary, tmp_path, "shadow-vmx", *SMALL, "--set", 'system.vmx.mode="vmx"')
    svm = metrics(virtsim_binary, tmp_path, "shadow-svm", *SMALL, "--set", 'system.vmx.mode="svm"')
    assert by_kind(svm, "operations_by_kind", "invlpga") == by_kind(vmx, "operations_by_kind", "invvpid_address") > 0
    assert by_kind(svm, "operations_by_kind", "svm_tlb_control") == (
        by_kind(vmx, "operations_by_kind", "invvpid_all") + by_kind(vmx, "operations_by_kind", "invvpid_single_but_global"))
    assert by_kind(svm, "invalidated_by_kind", "svm_tlb_control") > 0
    for kind in ("invlpg", "mov_to_cr3", "invvpid_address", "invvpid_single", "invvpid_all"):
        assert by_kind(svm, "operations_by_kind", kind) == 0, kind


@pytest.mark.parametrize("mode,paging,flush", [("vmx", "ept4", "invept_single"), ("svm", "npt4", "svm_tlb_control")])
def test_a_page_the_host_takes_back_is_flushed_and_mapped_again(virtsim_binary, tmp_path, mode, paging, flush):
    base = ["--set", "workload.footprint_kib=8192", "--set", "workload.accesses=4000", "--set", "workload.operations=12",
            "--set", 'workload.kind="fork_and_wait"', "--set", "system.kernel.state_digest=true"]
    nested = base + ["--set", f'system.vmx.mode="{mode}"', "--set", f'system.nested.paging="{paging}"']
    native = metrics(virtsim_binary, tmp_path, "native", *base)
    kept = metrics(virtsim_binary, tmp_path, f"{mode}-kept", *nested)
    taken = metrics(virtsim_binary, tmp_path, f"{mode}-taken", *nested,
                    "--set", "system.hypervisor.reclaim_interval_cycles=20000")
    assert kept["system.virt0.nested_reclaims"] == 0 and by_kind(kept, "operations_by_kind", flush) == 0
    reclaims = taken["system.virt0.nested_reclaims"]
    assert reclaims > 0
    # One flush per page taken back, in each TLB of the vCPU (INVEPT single-context; AMD-V: TLB_CONTROL).
    assert by_kind(taken, "operations_by_kind", flush) == len(TLBS) * reclaims
    # Each page taken back costs a kick (an exit) and, when the guest touches it again, an EPT
    # violation / NPF that maps it again; the guest ends in the same state.
    assert taken["system.nested.pages_mapped"] > kept["system.nested.pages_mapped"]
    assert taken["system.virt0.exits"] > kept["system.virt0.exits"] + reclaims
    assert taken["sim.cycles"] > kept["sim.cycles"]
    assert taken["system.kernel.state_digest"] == kept["system.kernel.state_digest"] == native["system.kernel.state_digest"]


def test_without_a_vpid_the_flush_of_everything_is_a_cr4_pge_toggle(virtsim_binary, tmp_path):
    # Binary translation (a software VMM: no VPID) and VT-x with tagging off cannot name the
    # guest in an INVVPID: the flush after a zap drops every entry, globals too.
    for name, extra in (("bt", ["--set", "system.bt.enabled=true", "--set", "system.shadow.enabled=false"]),
                        ("untagged", ["--set", 'system.vmx.mode="vmx"', "--set", "system.vmx.tagged_tlb=false"])):
        m = metrics(virtsim_binary, tmp_path, name, *SMALL, *extra)
        assert by_kind(m, "operations_by_kind", "cr4_change") > 0, name
        for kind in ("invvpid_all", "invvpid_single", "invvpid_single_but_global", "svm_tlb_control"):
            assert by_kind(m, "operations_by_kind", kind) == 0, (name, kind)
