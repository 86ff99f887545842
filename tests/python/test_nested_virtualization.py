"""Nested virtualization end to end (docs/nested.md): an L2 guest's exits by level on VT-x and
AMD-V, what VMCS shadowing and virtual VMLOAD/VMSAVE change, L0's VMPTRLDs, and the
configurations it refuses. (Its final state against the native
guest's: test_memory_virtualization's differential test, which runs every registered variant.)"""
from __future__ import annotations

import json

from test_cli import expect_error, virtsim


def compare(binary, tmp_path, kind, variants, *extra, preset="skylake-sp"):
    out = tmp_path / f"{kind}-{preset}.h5"
    result = virtsim(binary, "run", "-o", str(out), "-q", "--set", f'machine.preset="{preset}"',
                     "--set", f'workload.kind="{kind}"', "--set", f'experiment.compare="{",".join(variants)}"', *extra)
    assert result.returncode == 0, result.stderr
    return {k: v["metrics"] for k, v in json.loads(virtsim(binary, "stats", str(out), "--json", "--all").stdout).items()}


def test_an_l2_guests_port_io_is_reflected_to_l1_and_its_vmcs_accesses_trap_without_shadowing(virtsim_binary, tmp_path):
    runs = compare(virtsim_binary, tmp_path, "io_loop", ["nested", "nested_ept", "nested_ept_trap_vmcs"])
    single, l2, trapping = runs["nested"], runs["nested_ept"], runs["nested_ept_trap_vmcs"]
    exits = single["system.virt0.exits"]
    assert exits > 0 and single["system.virt0.l2_exits_reflected"] == 0
    for m in (l2, trapping):
        # The same exits, every one of them L1's (port I/O, its interrupts): reflected.
        assert m["system.virt0.exits"] == exits
        assert m["system.virt0.l2_exits_reflected"] == exits
        assert m["system.virt0.l2_exits_l0"] == 0
    # With VMCS shadowing L1's only exit per reflected exit is its VMRESUME; without, each of its
    # VMREADs and VMWRITEs is one more.
    assert l2["system.virt0.l1_exits"] == exits and l2["system.virt0.l1_vmcs_exits"] == 0
    assert trapping["system.virt0.l1_vmcs_exits"] > 0
    assert trapping["system.virt0.l1_exits"] == exits + trapping["system.virt0.l1_vmcs_exits"]
    assert single["sim.cycles"] < l2["sim.cycles"] < trapping["sim.cycles"]
    assert 0 < l2["system.virt0.l1_handler_cycles"] < l2["system.virt0.exit_cycles"]


def test_nested_ept_maps_each_page_twice_l1_then_l0_and_walks_as_a_single_level_guest(virtsim_binary, tmp_path):
    runs = compare(virtsim_binary, tmp_path, "kernel_build", ["nested", "nested_ept"],
                   "--set", "workload.operations=3")
    single, l2 = runs["nested"], runs["nested_ept"]
    fills = l2["system.nested_virt.l1_ept_fills"]
    assert fills > 0 and l2["system.nested_virt.shadow_ept_fills"] == fills
    assert l2["system.virt0.l2_exits_l0"] == fills  # L0 alone fills the shadow EPT
    assert l2["system.virt0.l2_exits_reflected"] == single["exits.total"]  # L1 sees what a single-level host does
    # Its walks are 2-D walks as the single-level guest's are; one more per page: the walk after
    # L1 mapped it, which faults in the shadow EPT (the walks' references: the walk tests beside
    # the strategies).
    assert l2["walk.count"] == single["walk.count"] + fills
    assert l2["walk.two_dimensional"] == l2["walk.count"]


def test_shadow_on_ept_reflects_every_shadow_paging_trap_to_l1(virtsim_binary, tmp_path):
    runs = compare(virtsim_binary, tmp_path, "fork_and_wait", ["shadow", "shadow_on_ept"], "--set", "workload.operations=4")
    single, l2 = runs["shadow"], runs["shadow_on_ept"]
    assert l2["system.virt0.l2_exits_reflected"] == single["exits.total"]
    assert l2["system.virt0.page_fault_exits"] == single["system.virt0.page_fault_exits"] > 0
    assert l2["walk.two_dimensional"] > 0 and single["walk.two_dimensional"] == 0  # through L0's EPT
    assert l2["sim.cycles"] > single["sim.cycles"]


def test_nested_virtualization_refuses_what_it_does_not_model(virtsim_binary, tmp_path):
    out = str(tmp_path / "x.h5")
    single = ["--set", 'experiment.compare=""', "--set", 'workload.kind="io_loop"']
    # The nested tables' format follows the vendor: NPT under AMD-V, EPT under VT-x.
    expect_error(virtsim(virtsim_binary, "run", "-o", out, *single, "--set", 'system.nested_virt.memory="nested_ept"',
                         "--set", 'system.vmx.mode="svm"', "--set", 'system.nested.paging="ept4"'),
                 "system.nested.paging", "AMD-V", "npt4")
    expect_error(virtsim(virtsim_binary, "run", "-o", out, *single, "--set", 'system.nested_virt.memory="shadow_on_ept"',
                         "--set", 'system.vmx.mode="vmx"'),
                 "system.nested_virt.memory", "system.nested.paging", "ept4")
    expect_error(virtsim(virtsim_binary, "run", "-o", out, *single, "--set", 'system.nested_virt.memory="turtles"'),
                 "system.nested_virt.memory")
    expect_error(virtsim(virtsim_binary, "run", "-o", out, *single, "--set", "system.vmx.vmptrld_entries=-1"),
                 "system.vmx.vmptrld_entries", "[0, 100]")


def test_on_amd_v_l1s_vmrun_exits_and_its_vmload_vmsave_exit_only_without_virtual_vmload_vmsave(virtsim_binary,
                                                                                                   tmp_path):
    # zen2: the nested variants follow the preset's vendor (nested NPT; the trapping variant turns
    # virtual VMLOAD/VMSAVE off).
    runs = compare(virtsim_binary, tmp_path, "io_loop", ["nested", "nested_ept", "nested_ept_trap_vmcs"], preset="zen2")
    single, l2, trapping = runs["nested"], runs["nested_ept"], runs["nested_ept_trap_vmcs"]
    exits = single["system.virt0.exits"]
    assert exits > 0
    for m in (l2, trapping):
        assert m["system.virt0.exits"] == exits
        assert m["system.virt0.l2_exits_reflected"] == exits
        # No VMCS on AMD-V: L0 switches VMCBs by pointer.
        assert m["system.virt0.l0_vmptrlds"] == 0 and m["system.virt0.l0_vmclears"] == 0
    # With virtual VMLOAD/VMSAVE L1's one exit per reflected exit is its VMRUN; without, its two
    # VMLOADs and its VMSAVE exit too.
    assert l2["system.virt0.l1_exits"] == exits and l2["system.virt0.l1_vmcs_exits"] == 0
    assert trapping["system.virt0.l1_vmcs_exits"] == 3 * exits
    assert trapping["system.virt0.l1_exits"] == 4 * exits
    assert single["sim.cycles"] < l2["sim.cycles"] < trapping["sim.cycles"]


def test_nested_npt_maps_each_page_twice_l1_then_l0(virtsim_binary, tmp_path):
    runs = compare(virtsim_binary, tmp_path, "kernel_build", ["nested", "nested_ept"], "--set", "workload.operations=3",
                   preset="zen2")
    single, l2 = runs["nested"], runs["nested_ept"]
    fills = l2["system.nested_virt.l1_ept_fills"]
    assert fills > 0 and l2["system.nested_virt.shadow_ept_fills"] == fills
    assert l2["system.virt0.l2_exits_l0"] == fills
    assert l2["system.virt0.l2_exits_reflected"] == single["exits.total"]
    assert l2["walk.count"] == single["walk.count"] + fills
    assert l2["walk.two_dimensional"] == l2["walk.count"]


def test_vmcs_shadowing_makes_l0_load_the_shadow_vmcs_at_each_copy(virtsim_binary, tmp_path):
    runs = compare(virtsim_binary, tmp_path, "io_loop", ["nested_ept", "nested_ept_trap_vmcs"])
    l2, trapping = runs["nested_ept"], runs["nested_ept_trap_vmcs"]
    reflected = l2["system.virt0.l2_exits_reflected"]
    assert reflected > 0
    assert l2["system.virt0.l0_vmptrlds"] == 6 * reflected and l2["system.virt0.l0_vmclears"] == 2 * reflected
    assert trapping["system.virt0.l0_vmptrlds"] == 2 * reflected and trapping["system.virt0.l0_vmclears"] == 0
