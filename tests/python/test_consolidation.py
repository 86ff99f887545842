"""Several VMs on one host: the per-VM and per-CPU statistics in the result file (read back
with h5py), what VPID tags buy in a small consolidation run, and bad configurations (one
error naming the key, status 2)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import h5py
import pytest

from test_config_errors import expect_one_error

CONFIG = """
[system]
vms = 3
pcpus = 1
guest_memory_mib = 64
[system.vmx]
mode = "vmx"
[system.nested]
paging = "ept4"
[system.scheduler]
time_slice_us = 10
[workload]
kind = "gups"
footprint_kib = 64
warmup_accesses = 2000
accesses = 200000
"""


def run(binary: Path, folder: Path, *settings: str) -> subprocess.CompletedProcess:
    (folder / "vms.toml").write_text(CONFIG)
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    args = [str(binary), "run", "-q", "vms.toml", "-o", "out.h5"]
    for s in settings:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=folder, timeout=600)


def metrics(path: Path) -> dict[str, float]:
    with h5py.File(path, "r") as f:
        (run_group,) = f["runs"].values()
        return {(r["name"].decode() if isinstance(r["name"], bytes) else r["name"]): float(r["value"])
                for r in run_group["metrics"][()]}


@pytest.mark.parametrize("tagged", ["true", "false"])
def test_per_vm_and_per_cpu_statistics_in_the_result_file(virtsim_binary, tmp_path, tagged):
    result = run(virtsim_binary, tmp_path, f"system.vmx.tagged_tlb={tagged}")
    assert result.returncode == 0, result.stderr
    m = metrics(tmp_path / "out.h5")
    vms = [f"system.vm{k}" for k in range(3)]
    for leaf in ["instructions", "cycles", "dtlb_misses", "stlb_misses", "walks", "walk_cycles", "switches",
                 "switch_cycles"]:
        for vm in vms:
            assert f"{vm}.{leaf}" in m, f"{vm}.{leaf}"
    # The VMs add up to the totals, and the CPU's switches to the VMs'.
    assert sum(m[f"{vm}.walks"] for vm in vms) == m["walk.count"]
    assert sum(m[f"{vm}.instructions"] for vm in vms) == m["sim.instructions"]
    assert sum(m[f"{vm}.cycles"] for vm in vms) == m["sim.cycles"]
    assert sum(m[f"{vm}.switches"] for vm in vms) == m["system.pcpu0.switches"] > 10
    flushes = m["system.pcpu0.tlb_flushes"]
    if tagged == "true":
        assert flushes == 0
        assert all(m[f"{vm}.stlb_misses"] <= 16 for vm in vms), m  # 16 pages, walked in the warm-up
    else:
        assert flushes == m["system.pcpu0.switches"]
        assert all(m[f"{vm}.stlb_misses"] >= 16 * 0.9 * m[f"{vm}.switches"] for vm in vms), m


def test_the_platform_graph_draws_each_vm_and_cpu(virtsim_binary, tmp_path):
    (tmp_path / "vms.toml").write_text(CONFIG)
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    dot = subprocess.run([str(virtsim_binary), "platform", "vms.toml", "--dot"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=60)
    assert dot.returncode == 0, dot.stderr
    for cluster in ["cluster_vm0", "cluster_vm1", "cluster_vm2", "cluster_pcpu0"]:
        assert f'subgraph "{cluster}"' in dot.stdout
    assert '"cpu2"->"cache0"' in dot.stdout  # VM 2's vCPU shares the one CPU's caches
    assert '"cpu2"->"kernel2"' in dot.stdout


@pytest.mark.parametrize("setting, fragments", [
    ("system.vmx.mode=none", ["system.vms = 3: several VMs need a hypervisor"]),
    ("system.nested.paging=none", ["system.vms = 3: several VMs need memory virtualization"]),
    ("system.vms=0", ["key 'system.vms': value 0 is out of range"]),
    ("system.scheduler.time_slice=5", ["unknown key 'system.scheduler.time_slice'; did you mean "
                                       "'system.scheduler.time_slice_us'"]),
    ("system.kernel1.paging=bogus", ["key 'system.kernel1.paging': got \"bogus\""]),
    ("system.guest_memory_mib=1536", ["system.guest_memory_mib = 1536 MiB with the system.vmK.guest_memory_mib, "
                                      "4608 MiB for 3 VMs, does not fit in the host's memory"]),
    ("system.vm2.guest_memory_mib=4000", ["system.guest_memory_mib = 64 MiB with the system.vmK.guest_memory_mib, "
                                          "4128 MiB for 3 VMs, does not fit"]),
    ("system.vm1.workload.kind=\"bogus\"", ["key 'system.vm1.workload.kind': got \"bogus\""]),
    ('system.vm1.memory_virtualization="ept"', ["key 'system.vm1.memory_virtualization': got \"ept\"; expected one of"]),
    ('system.vm2.memory_virtualization="native"', ["system.vm2.memory_virtualization = \"native\": several VMs need "
                                                   "memory virtualization that backs each guest's memory"]),
])
def test_bad_configurations_of_several_vms(virtsim_binary, tmp_path, setting, fragments):
    expect_one_error(run(virtsim_binary, tmp_path, setting), *fragments)
    assert not (tmp_path / "out.h5").exists()


SWEEP = CONFIG + """
[experiment]
compare = ""
[sweep]
seeds = 1
[sweep.grid]
system.vms = [2]
system.vmx.tagged_tlb = [true, false]
system.scheduler.time_slice_us = [10.0]
system.nested.page_size = ["4k"]
"""


def test_the_consolidation_figure_from_a_small_sweep(virtsim_binary, tmp_path):
    from virtsim_analysis.consolidation import consolidation_table, main, markdown
    from virtsim_analysis.results import load

    (tmp_path / "sweep.toml").write_text(SWEEP)
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    swept = subprocess.run([str(virtsim_binary), "sweep", "sweep.toml", "-j", "1", "-o", "sweep.h5"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert swept.returncode == 0, swept.stderr
    with load(tmp_path / "sweep.h5") as result:
        table = consolidation_table(result)
    assert list(table["vms"]) == [2, 2] and set(table["tagged"]) == {True, False}
    on, off = table[table["tagged"]].iloc[0], table[~table["tagged"]].iloc[0]
    assert on["stlb_misses"] < off["stlb_misses"] / 10
    assert on["walks"] == on["stlb_misses"]
    assert "| 4k | 10 | on | 2 |" in markdown(table)
    assert main([str(tmp_path / "sweep.h5"), "-o", str(tmp_path / "fig"), "--formats", "png"]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 10000


def test_a_vm_after_the_first_takes_its_own_workload_and_memory(virtsim_binary, tmp_path):
    result = run(virtsim_binary, tmp_path, 'system.vm1.workload.kind="stream"', "system.vm1.workload.footprint_kib=1024",
                 "system.vm2.guest_memory_mib=128")
    assert result.returncode == 0, result.stderr
    m = metrics(tmp_path / "out.h5")
    with h5py.File(tmp_path / "out.h5", "r") as f:
        (run_group,) = f["runs"].values()
        parameters = run_group.attrs["parameters"]
    assert '"system.vm1.workload.kind": "stream"' in parameters
    assert '"system.vm2.workload.kind": "gups"' in parameters  # inherited from workload.kind
    assert '"system.vm2.guest_memory_mib": 128' in parameters
    # VM 1 streams through its footprint: few STLB misses per instruction; VMs 0 and 2 run GUPS.
    assert m["system.vm1.instructions"] != m["system.vm0.instructions"]
    assert m["system.vm0.instructions"] == m["system.vm2.instructions"]


def test_the_first_vm_is_configured_by_the_usual_keys(virtsim_binary, tmp_path):
    expect_one_error(run(virtsim_binary, tmp_path, 'system.vm0.workload.kind="stream"'),
                     "unknown key 'system.vm0.workload.kind'")


def test_each_vm_has_its_own_shadow_tables(virtsim_binary, tmp_path):
    result = run(virtsim_binary, tmp_path, "system.shadow.enabled=true", 'system.nested.paging="none"')
    assert result.returncode == 0, result.stderr
    m = metrics(tmp_path / "out.h5")
    for prefix in ["system.shadow", "system.vm1.shadow", "system.vm2.shadow"]:
        assert m[f"{prefix}.hidden_faults"] > 0, prefix


def test_a_vm_after_the_first_takes_its_own_vcpu_count(virtsim_binary, tmp_path):
    result = run(virtsim_binary, tmp_path, "system.vm1.cpus=3", "system.pcpus=2")
    assert result.returncode == 0, result.stderr
    m = metrics(tmp_path / "out.h5")
    # VM 0 has cpu0, VM 1 cpu1-cpu3, VM 2 cpu4: each vCPU runs the same GUPS.
    assert m["system.vm1.instructions"] == 3 * m["system.vm0.instructions"] == 3 * m["system.vm2.instructions"]
    assert "system.cpu4.instructions" in m and "system.cpu5.instructions" not in m
    # vCPU i on CPU i mod 2: cpu0, cpu2, cpu4 on CPU 0, cpu1 and cpu3 on CPU 1.
    assert m["system.pcpu0.switches"] > 0 and m["system.pcpu1.switches"] > 0
    assert sum(m[f"system.vm{k}.cycles"] for k in range(3)) == pytest.approx(
        sum(m[f"system.cpu{i}.cycles"] for i in range(5)) + m["system.pcpu0.switch_cycles"]
        + m["system.pcpu1.switch_cycles"])


MIXED = """
[system]
vms = 2
pcpus = 1
guest_memory_mib = 64
[system.vmx]
mode = "vmx"
[system.scheduler]
time_slice_us = 10
[workload]
kind = "pt_update"
"""


def run_mixed(binary: Path, folder: Path, name: str, *settings: str) -> dict[str, float]:
    (folder / "mixed.toml").write_text(MIXED)
    args = [str(binary), "run", "-q", "mixed.toml", "-o", name]
    for s in settings:
        args += ["--set", s]
    result = subprocess.run(args, capture_output=True, text=True, cwd=folder, timeout=600,
                            env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    assert result.returncode == 0, result.stderr
    return metrics(folder / name)


SHADOW = ["system.shadow.enabled=true"]
NESTED = ['system.nested.paging="ept4"']
ALONE = ["system.vms=1", "system.pcpus=0"]


@pytest.mark.parametrize("shadow_vm", [0, 1])
def test_a_shadow_paging_vm_and_a_nested_paging_vm_on_one_cpu(virtsim_binary, tmp_path, shadow_vm):
    """pt_update writes page-table entries: under shadow paging each write is emulated after a
    VM exit, under nested paging it is a plain store. Either VM can be the shadow one."""
    nested_vm = 1 - shadow_vm
    if shadow_vm == 0:
        mixed = SHADOW + ['system.vm1.memory_virtualization="nested"']
    else:
        mixed = NESTED + ['system.vm1.memory_virtualization="shadow"']
    both = run_mixed(virtsim_binary, tmp_path, "both.h5", *mixed)
    shadow_alone = run_mixed(virtsim_binary, tmp_path, "shadow.h5", *ALONE, *SHADOW)
    nested_alone = run_mixed(virtsim_binary, tmp_path, "nested.h5", *ALONE, *NESTED)
    shadow_stats = "system.shadow" if shadow_vm == 0 else "system.vm1.shadow"
    # The shadow VM emulates the page-table writes, as alone; the nested one has no shadow tables.
    assert both[f"{shadow_stats}.writes_emulated"] == shadow_alone["system.shadow.writes_emulated"] > 1000
    assert both.get(f"system.vm{nested_vm}.shadow.writes_emulated", 0) == 0
    # Exits: each VM makes the ones it makes alone (the ones ending a slice are counted apart).
    assert both[f"system.vm{shadow_vm}.exits"] == pytest.approx(shadow_alone["exits.total"], rel=0.02)
    assert both[f"system.vm{nested_vm}.exits"] == pytest.approx(nested_alone["exits.total"], rel=0.02)
    assert both[f"system.vm{shadow_vm}.exits"] > 100 * both[f"system.vm{nested_vm}.exits"]
    # Cycles: each VM's own are its cycles alone plus what sharing the CPU costs it (the switches
    # into it, caches and TLBs the other VM used), a few percent here, not the other VM's run.
    for vm, alone in [(shadow_vm, shadow_alone), (nested_vm, nested_alone)]:
        assert alone["sim.cycles"] <= both[f"system.vm{vm}.cycles"] < 1.25 * alone["sim.cycles"]


def test_vpid_tags_keep_the_other_strategys_entries_across_switches(virtsim_binary, tmp_path):
    """With VPIDs on, a switch from the shadow VM back to the nested one finds the nested VM's
    TLB entries; with them off each switch flushes them, so the nested VM walks more."""
    mixed = NESTED + ['system.vm1.memory_virtualization="shadow"', 'workload.kind="gups"',
                      "workload.footprint_kib=256", "workload.accesses=200000"]
    tagged = run_mixed(virtsim_binary, tmp_path, "tagged.h5", *mixed, "system.vmx.tagged_tlb=true")
    untagged = run_mixed(virtsim_binary, tmp_path, "untagged.h5", *mixed, "system.vmx.tagged_tlb=false")
    for vm in ["system.vm0", "system.vm1"]:
        assert tagged[f"{vm}.walks"] < 0.5 * untagged[f"{vm}.walks"], vm
    assert tagged["system.pcpu0.tlb_flushes"] == 0 < untagged["system.pcpu0.tlb_flushes"]


def test_each_vms_strategy_and_statistics_in_the_vms_group(virtsim_binary, tmp_path):
    """vms/vmK holds VM K's strategy and its statistics, named relative to the VM; the run's
    memory_virtualization attribute stays the first VM's; the analysis package reads them."""
    from virtsim_analysis.results import load

    run_mixed(virtsim_binary, tmp_path, "both.h5", *NESTED, 'system.vm1.memory_virtualization="shadow"')
    m = metrics(tmp_path / "both.h5")
    with h5py.File(tmp_path / "both.h5", "r") as f:
        (run_group,) = f["runs"].values()
        assert run_group.attrs["memory_virtualization"] == "nested"
        assert sorted(run_group["vms"].keys()) == ["vm0", "vm1"]
        per_vm = {}
        for k in range(2):
            group = run_group["vms"][f"vm{k}"]
            rows = {(r["name"].decode() if isinstance(r["name"], bytes) else r["name"]): float(r["value"])
                    for r in group["metrics"][()]}
            per_vm[k] = (group.attrs["memory_virtualization"], rows)
    assert per_vm[0][0] == "nested" and per_vm[1][0] == "shadow"
    for k in range(2):
        for leaf in ["instructions", "cycles", "exits", "walks", "switches"]:
            assert per_vm[k][1][leaf] == m[f"system.vm{k}.{leaf}"]
    # The strategy's own statistics: VM 0's from where a single VM keeps them, VM 1's from system.vm1.
    assert per_vm[1][1]["shadow.writes_emulated"] == m["system.vm1.shadow.writes_emulated"] > 0
    assert per_vm[0][1]["nested.pages_mapped"] == m["system.nested.pages_mapped"]
    assert "shadow.writes_emulated" not in per_vm[0][1]

    with load(tmp_path / "both.h5") as result:
        table = result.vms()
        assert list(table["vm"].unique()) == [0, 1]
        assert list(table.groupby("vm")["memory_virtualization"].first()) == ["nested", "shadow"]
        exits = table[table["name"] == "exits"].set_index("vm")["value"]
        assert exits[1] == m["system.vm1.exits"] > 100 * exits[0]
        assert result.metrics()["name"].str.startswith("system.vm1.").any()  # the metrics rows stay


def test_a_single_vm_has_no_vms_group(virtsim_binary, tmp_path):
    from virtsim_analysis.results import load

    run_mixed(virtsim_binary, tmp_path, "alone.h5", *ALONE, *NESTED)
    with h5py.File(tmp_path / "alone.h5", "r") as f:
        (run_group,) = f["runs"].values()
        assert "vms" not in run_group
    with load(tmp_path / "alone.h5") as result:
        assert result.vms().empty


def test_describe_names_each_vms_strategy(virtsim_binary, tmp_path):
    (tmp_path / "mixed.toml").write_text(MIXED)
    result = subprocess.run([str(virtsim_binary), "describe", "mixed.toml", "--set", 'system.nested.paging="ept4"',
                             "--set", 'system.vm1.memory_virtualization="shadow_2m"'],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600,
                            env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    assert result.returncode == 0, result.stderr
    assert "this config runs nested, VM 1 shadow)" in result.stdout
    # The variant's own settings are VM 1's parameters; the first VM's stay as they were.
    described = subprocess.run([str(virtsim_binary), "describe", "mixed.toml", "--json", "--set",
                                'system.nested.paging="ept4"', "--set", 'system.vm1.memory_virtualization="shadow_2m"'],
                               capture_output=True, text=True, cwd=tmp_path, timeout=600,
                               env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    values = {p["name"]: p.get("value") for p in json.loads(described.stdout)["parameters"]}
    assert values["system.vm1.shadow.host_page_size"] == "2m" and values["system.vm1.shadow.enabled"] is True
    assert values["system.vm1.nested.paging"] == "none" and values["system.nested.paging"] == "ept4"
    assert values["system.shadow.host_page_size"] == "4k" and values["system.shadow.enabled"] is False


@pytest.mark.parametrize("entries", [1.0, 2.5])
def test_a_vt_x_vm_switch_loads_the_next_vmcs_at_the_shared_vmptrld_price(virtsim_binary, tmp_path, entries):
    """A VM switch on VT-x costs the exit, the host's switch, a VMPTRLD priced by
    system.vmx.vmptrld_entries (the same price L0's nested VMCS switches pay) and the entry."""
    result = run(virtsim_binary, tmp_path, "system.vmx.vm_exit_cycles=200", "system.vmx.vm_entry_cycles=100",
                 "system.scheduler.host_switch_cycles=1000", f"system.vmx.vmptrld_entries={entries}")
    assert result.returncode == 0, result.stderr
    m = metrics(tmp_path / "out.h5")
    assert m["system.pcpu0.switches"] > 0
    assert m["system.pcpu0.switch_cycles"] == m["system.pcpu0.switches"] * (200 + 1000 + round(100 * entries) + 100)
