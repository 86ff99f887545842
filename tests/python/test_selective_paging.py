"""Selective paging (models/hypervisor/selective): a workload whose phases favour nested paging
(page-table updates), then shadow paging (TLB misses over a large footprint), then nested again
moves the guest each way at least once, and the guest ends as it does natively, with the
shadow tables' invariant checker on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli import SINGLE, expect_error, virtsim
from test_memory_virtualization import GUEST_COUNTERS

PHASED = ["--set", 'workload.kind="mix"', "--set", 'workload.mix="pt_update,gups,pt_update"',
          "--set", "workload.operations=20", "--set", "workload.footprint_kib=8192",
          "--set", "workload.accesses=40000", "--set", "system.selective.interval_cycles=20000"]


@pytest.mark.parametrize("extra", [
    [],
    # Two vCPUs (a process each): every vCPU reloads its root and flushes at each switch.
    ["--set", "system.cpus=2"],
    # AMD-V (NPT): the VMCB's intercepts follow the mode; starting under shadow paging.
    ["--set", 'machine.preset="zen2"', "--set", 'system.selective.start="shadow"',
     "--set", "workload.footprint_kib=16384", "--set", "workload.accesses=100000",
     "--set", "system.selective.interval_cycles=100000"],
], ids=["vmx", "two-vcpus", "svm"])
def test_the_phased_run_switches_each_way_and_leaves_the_guest_as_natively(virtsim_binary, tmp_path, extra):
    out = tmp_path / "phased.h5"
    result = virtsim(virtsim_binary, "run", "-o", str(out), "-q", "--set", 'experiment.compare="native,selective"',
                     "--set", "system.kernel.state_digest=true", "--set", "system.shadow.check=true", *PHASED, *extra)
    assert result.returncode == 0, result.stderr
    stats = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)
    native, selective = stats["native"]["metrics"], stats["selective"]["metrics"]
    for name in GUEST_COUNTERS:
        assert selective[name] == native[name], f"{name}: {selective[name]} vs native {native[name]}"
    assert selective["system.selective.switches_to_shadow"] >= 1
    assert selective["system.selective.switches_to_nested"] >= 1
    assert selective["system.selective.intervals_shadow"] > 0
    assert selective["system.selective.intervals_nested"] > 0
    # Each switch is charged: at least its fixed part.
    switches = selective["system.selective.switches_to_shadow"] + selective["system.selective.switches_to_nested"]
    assert selective["system.selective.switching_cycles"] >= switches * 5000
    assert selective["system.shadow.checks"] > 0


def selective_gups(virtsim_binary, tmp_path, footprint_kib, accesses, *extra):
    """The metrics of GUPS under selective paging (VT-x, EPT) with `extra` settings."""
    out = tmp_path / "gups.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'system.vmx.mode="vmx"',
                     "--set", 'system.nested.paging="ept4"', "--set", "system.selective.enabled=true",
                     "--set", 'workload.kind="gups"', "--set", f"workload.footprint_kib={footprint_kib}",
                     "--set", f"workload.accesses={accesses}", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]


def test_a_guest_that_only_misses_the_tlb_moves_to_shadow_paging_and_stays(virtsim_binary, tmp_path):
    m = selective_gups(virtsim_binary, tmp_path, 8192, 400000)
    assert m["system.selective.switches_to_shadow"] == 1
    assert m["system.selective.switches_to_nested"] == 0
    assert m["system.selective.intervals_shadow"] > m["system.selective.intervals_nested"]


def test_selective_paging_refuses_the_shadow_switch_and_needs_a_nested_format(virtsim_binary, tmp_path):
    out = str(tmp_path / "x.h5")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", 'system.vmx.mode="vmx"',
                         "--set", "system.selective.enabled=true", "--set", 'system.nested.paging="ept4"',
                         "--set", "system.shadow.enabled=true"),
                 "system.selective.enabled = true", "system.shadow.enabled")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", 'system.vmx.mode="vmx"',
                         "--set", "system.selective.enabled=true"),
                 "system.selective.enabled = true", "system.nested.paging")


def test_the_shipped_sweep_runs_the_three_modes_and_selective_switches_each_way(virtsim_binary, tmp_path):
    # experiments/sweeps/selective_paging.toml, scaled down (its phases kept).
    sweep = Path(__file__).resolve().parents[2] / "experiments" / "sweeps" / "selective_paging.toml"
    out = tmp_path / "sweep.h5"
    result = virtsim(virtsim_binary, "sweep", str(sweep), "-q", "-j", "1", "-o", str(out),
                     "--set", "workload.operations=20", "--set", "workload.footprint_kib=8192",
                     "--set", "workload.accesses=40000", "--set", "system.selective.interval_cycles=20000")
    assert result.returncode == 0, result.stderr
    runs = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout).values()
    by_mode = {r["sweep"]["memory_virtualization"]: r["metrics"] for r in runs}
    assert sorted(by_mode) == ["nested", "selective", "shadow"]
    assert by_mode["selective"]["system.selective.switches_to_shadow"] >= 1
    assert by_mode["selective"]["system.selective.switches_to_nested"] >= 1
    for fixed in ("shadow", "nested"):
        assert by_mode[fixed]["system.selective.switches_to_shadow"] == 0


def test_the_first_sample_of_the_region_of_interest_counts_that_intervals_faults(virtsim_binary, tmp_path):
    # GUPS faults its whole footprint in during the warm-up, and its region of interest takes
    # none but misses the TLBs all the time: shadow paging's side from the first interval on.
    # The fault statistic goes back to zero where the region begins; a sample that subtracted
    # the warm-up's count from it saw some 2^64 faults and kept nested paging an interval more.
    metrics = selective_gups(virtsim_binary, tmp_path, 16384, 100000, "--set", "system.selective.interval_cycles=20000")
    assert metrics["system.cpu0.page_faults"] == 0
    assert metrics["system.selective.switches_to_shadow"] == 1
    assert metrics["system.selective.intervals_nested"] == 1, "the switch to shadow paging waited an interval"
