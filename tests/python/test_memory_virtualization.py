"""Memory virtualization end to end: the same guest natively, under shadow paging and under
nested paging. Every mode must leave the guest in the same state (its page tables, A/D flags
included, and the bytes its stores wrote), the shadow tables are checked against the guest's
at every synchronization point, and the default experiment compares the three modes."""
from __future__ import annotations

import json

import h5py
import pytest

from test_cli import SINGLE, expect_error, virtsim

SMALL = ["--set", "workload.footprint_kib=8192", "--set", "workload.accesses=4000", "--set", "workload.operations=12"]
MODES = {
    "shadow-vmx": ["--set", "system.shadow.enabled=true", "--set", 'system.vmx.mode="vmx"',
                   "--set", "system.shadow.check=true"],
    "shadow-svm-2m": ["--set", "system.shadow.enabled=true", "--set", 'system.vmx.mode="svm"',
                      "--set", 'system.shadow.host_page_size="2m"', "--set", "system.shadow.root_cache=1"],
    "shadow-out-of-sync": ["--set", "system.shadow.enabled=true", "--set", 'system.vmx.mode="vmx"',
                           "--set", "system.shadow.out_of_sync=true", "--set", "system.shadow.check=true"],
    "shadow-cr3-targets": ["--set", "system.shadow.enabled=true", "--set", 'system.vmx.mode="vmx"',
                           "--set", "system.hypervisor.cr3_targets=4", "--set", "system.shadow.root_cache=6",
                           "--set", "system.shadow.check=true"],
    "nested-ept4": ["--set", 'system.nested.paging="ept4"', "--set", 'system.vmx.mode="vmx"'],
    "nested-npt4-2m": ["--set", 'system.nested.paging="npt4"', "--set", 'system.nested.page_size="2m"'],
    "nested-ept4-lazy": ["--set", 'system.nested.paging="ept4"', "--set", 'system.vmx.mode="vmx"',
                         "--set", 'system.nested.populate="lazy"', "--set", "system.mmu*.check=true"],
    "paravirt": ["--set", "system.kernel.paravirt_mmu=true", "--set", 'system.vmx.mode="vmx"',
                 "--set", "system.kernel.pv_batch=4"],
    "binary-translation": ["--set", "system.bt.enabled=true"],
}
# What the guest did must not depend on how its memory is virtualized.
GUEST_COUNTERS = ["sim.instructions", "system.kernel.demand_faults", "system.kernel.cow_faults",
                  "system.kernel.forks", "system.kernel.exits", "system.kernel.invlpgs", "system.kernel.tlb_flushes",
                  "system.kernel.pages_unmapped", "system.kernel.frames_in_use", "system.kernel.state_digest"]


def run(binary, tmp_path, name, *extra):
    out = tmp_path / f"{name}.h5"
    result = virtsim(binary, "run", *SINGLE, "-o", str(out), "-q", "--set", "system.kernel.state_digest=true",
                     *SMALL, *extra)
    assert result.returncode == 0, result.stderr
    stats = virtsim(binary, "stats", str(out), "--json", "--all")
    assert stats.returncode == 0, stats.stderr
    return json.loads(stats.stdout)["run0000"]["metrics"]


@pytest.mark.parametrize("kind", ["fork_and_wait", "pt_update", "kernel_build", "gups", "timeshare"])
def test_every_mode_leaves_the_guest_in_the_same_state(virtsim_binary, tmp_path, kind):
    native = run(virtsim_binary, tmp_path, "native", "--set", f'workload.kind="{kind}"')
    assert native["system.kernel.state_digest"] != 0
    for mode, extra in MODES.items():
        m = run(virtsim_binary, tmp_path, mode, "--set", f'workload.kind="{kind}"', *extra)
        for name in GUEST_COUNTERS:
            # A paravirtual kernel runs other instructions (hypercalls instead of page-table stores).
            if mode == "paravirt" and name == "sim.instructions":
                continue
            assert m[name] == native[name], f"{kind} under {mode}: {name} {m[name]} vs native {native[name]}"
        # GUPS faults its footprint in before its region of interest, whose statistics are
        # the ones reported; the others fault, fork or switch inside it.
        if mode in ("shadow-vmx", "shadow-out-of-sync") and kind != "gups":
            assert m["system.shadow.checks"] > 0  # the invariant checker ran, and found nothing
        if (mode.startswith("shadow") or mode == "binary-translation") and kind != "gups":
            # With the CR3-target list a context switch to a listed root makes no exit.
            spared = m.get("system.virt0.cr3_target_switches", 0)
            assert m["exits.total"] + spared > 0
            assert m["sim.cycles"] > native["sim.cycles"] or (spared and m["sim.cycles"] >= native["sim.cycles"])


def registered_variants(binary):
    described = json.loads(virtsim(binary, "describe", "--json").stdout)
    return [v["name"] for e in described["memory_virtualizations"] for v in e["variants"]]


@pytest.mark.parametrize("kind", ["fork_and_wait", "pt_update"])
def test_every_registered_strategy_leaves_the_guest_in_the_same_state(virtsim_binary, tmp_path, kind):
    # Every variant the registry offers (`virtsim describe` lists them), compared in one
    # experiment with the shadow tables' invariant checker on: the guest ends as natively.
    variants = registered_variants(virtsim_binary)
    assert {"native", "shadow", "nested", "paravirt", "bt", "nested_ept", "shadow_on_ept"} <= set(variants)
    out = tmp_path / "all.h5"
    result = virtsim(virtsim_binary, "run", "-o", str(out), "-q", "--set", f'experiment.compare="{",".join(variants)}"',
                     "--set", "system.kernel.state_digest=true", "--set", "system.shadow.check=true",
                     "--set", f'workload.kind="{kind}"', *SMALL)
    assert result.returncode == 0, result.stderr
    stats = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)
    assert sorted(stats) == sorted(variants)
    native = stats["native"]["metrics"]
    for variant in variants:
        m = stats[variant]["metrics"]
        for name in GUEST_COUNTERS:
            if variant == "paravirt" and name == "sim.instructions":
                continue  # hypercalls instead of page-table stores
            assert m[name] == native[name], f"{kind} under {variant}: {name} {m[name]} vs native {native[name]}"
        if variant.startswith("shadow") or variant in ("bt", "agile"):
            assert m["system.shadow.checks"] > 0


@pytest.mark.parametrize("kind", ["fork_and_wait", "pt_update"])
def test_an_l2_guest_on_amd_v_ends_in_the_native_guests_state(virtsim_binary, tmp_path, kind):
    # The nested-virtualization variants on an AMD preset: nested NPT and shadow-on-NPT, with
    # and without virtual VMLOAD/VMSAVE, against the native guest.
    variants = ["native", "nested", "nested_ept", "nested_ept_trap_vmcs", "shadow_on_ept", "shadow_on_ept_trap_vmcs"]
    out = tmp_path / "amd.h5"
    result = virtsim(virtsim_binary, "run", "-o", str(out), "-q", "--set", 'machine.preset="zen2"',
                     "--set", f'experiment.compare="{",".join(variants)}"', "--set", "system.kernel.state_digest=true",
                     "--set", "system.shadow.check=true", "--set", f'workload.kind="{kind}"', *SMALL)
    assert result.returncode == 0, result.stderr
    stats = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)
    native = stats["native"]["metrics"]
    for variant in variants[1:]:
        m = stats[variant]["metrics"]
        for name in GUEST_COUNTERS:
            assert m[name] == native[name], f"{kind} under {variant} on zen2: {name} {m[name]} vs native {native[name]}"
        if variant.startswith("nested_ept") or variant.startswith("shadow_on_ept"):
            assert m["system.virt0.l2_exits_reflected"] > 0
            assert m["system.virt0.l0_vmptrlds"] == 0
        if variant.startswith("shadow_on_ept"):
            assert m["system.shadow.checks"] > 0


def test_a_variant_the_presets_cpu_lacks_is_refused_not_replaced(virtsim_binary, tmp_path):
    # Merom has VT-x without EPT: nested paging is refused (never run as shadow or native), and
    # on an AMD part the nested variant is NPT under AMD-V.
    out = str(tmp_path / "x.h5")
    expect_error(virtsim(virtsim_binary, "run", "-o", out, "--set", 'machine.preset="merom"',
                         "--set", 'experiment.compare="native,nested"'),
                 "system.nested.paging", "EPT", "system.features.ept = false", "merom.toml")
    expect_error(virtsim(virtsim_binary, "run", "-o", out, "--set", 'machine.preset="barcelona"',
                         "--set", 'experiment.compare="native,nested"', "--set", 'system.nested.paging="ept4"'),
                 "system.nested.paging", "Intel EPT", "AMD-V")


def test_the_analysis_package_has_words_and_a_colour_for_every_registered_variant(virtsim_binary):
    from virtsim_analysis import labels, palette
    for variant in registered_variants(virtsim_binary):
        assert variant in labels.MODES, variant
        assert variant in palette.MODE_COLOURS, variant


def test_the_digest_tells_different_guests_apart(virtsim_binary, tmp_path):
    one = run(virtsim_binary, tmp_path, "one", "--set", 'workload.kind="gups"')
    two = run(virtsim_binary, tmp_path, "two", "--set", 'workload.kind="gups"', "--set", "run.seed=2")
    stored_differently = run(virtsim_binary, tmp_path, "three", "--set", 'workload.kind="gups"',
                             "--set", "workload.accesses=4001")
    assert len({one["system.kernel.state_digest"], two["system.kernel.state_digest"],
                stored_differently["system.kernel.state_digest"]}) == 3


def test_shadow_paging_traps_what_it_must_and_counts_it(virtsim_binary, tmp_path):
    out = tmp_path / "shadow.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", *SMALL, "--set", 'workload.kind="fork_and_wait"',
                     *MODES["shadow-vmx"])
    assert result.returncode == 0, result.stderr
    m = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    # Every page the guest faults in is first a fault of the guest's own tables, reflected.
    assert m["system.shadow.guest_faults"] == m["system.cpu0.page_faults"]
    assert m["system.shadow.hidden_faults"] > m["system.shadow.guest_faults"]
    assert m["system.shadow.writes_emulated"] > 0   # the kernel's page-table stores
    assert m["system.shadow.write_protects"] >= 0
    assert m["system.shadow.root_misses"] >= 1 and m["system.shadow.root_hits"] > 0
    assert m["system.shadow.tables_freed"] > 0 and m["system.shadow.live_shadow_tables"] > 0  # exits free them
    pf_exits = (m["system.shadow.guest_faults"] + m["system.shadow.hidden_faults"] + m["system.shadow.writes_emulated"]
                + m["system.shadow.dirty_emulations"] + m["system.shadow.unprotect_retries"])
    assert m["system.virt0.page_fault_exits"] == pf_exits
    with h5py.File(out) as f:
        run0 = f["runs/run0000"]
        assert run0.attrs["memory_virtualization"] == "shadow"
        exits = {row["name"].decode(): int(row["count"]) for row in run0["exits"][()]}
    # A row per way the hypervisor handled a #PF, each matching the shadow tables' own counts.
    assert "Exception or NMI" not in exits
    assert exits["Exception or NMI (#PF: hidden fault)"] == (m["system.shadow.hidden_faults"]
                                                            + m["system.shadow.dirty_emulations"])
    assert exits["Exception or NMI (#PF: guest fault reflected)"] == m["system.shadow.guest_faults"]
    assert exits["Exception or NMI (#PF: page-table write emulated)"] == m["system.shadow.writes_emulated"]
    assert exits["Exception or NMI (#PF: page unprotected and instruction retried)"] == m["system.shadow.unprotect_retries"]
    assert exits["Control-register access"] > 0  # MOV to CR3 at every switch
    assert sum(exits.values()) == m["exits.total"]


def test_a_childs_exit_clears_trap_while_the_shadow_still_follows_its_tables(virtsim_binary, tmp_path):
    # The guest kernel model writes an exiting child's tables (its leaf clears, then the clears
    # of the entries above them) when it prepares the exit; the shadow must see each write when
    # its store runs. Then every leaf clear into a table the child's run shadowed traps before
    # the clear above it unlinks that shadow: without flood detection each one, so the emulated
    # writes grow with the child's pages (a heap page more, a clear more); with KVM's flood
    # detection the table is unshadowed after 3 and the rest go through.
    def emulated_per_child(pages, threshold):
        m = run(virtsim_binary, tmp_path, f"exit-{pages}-{threshold}", "--set", 'workload.kind="fork_and_wait"',
                "--set", f"workload.fork.parent_pages={pages}", "--set", "workload.fork.child_writes=1",
                *MODES["shadow-vmx"], "--set", f"system.shadow.write_flooding_threshold={threshold}")
        return m["system.shadow.writes_emulated"] / m["system.kernel.exits"]
    assert emulated_per_child(64, 0) - emulated_per_child(32, 0) >= 32
    assert emulated_per_child(64, 3) - emulated_per_child(32, 3) < 8


def test_out_of_sync_leaf_tables_trade_write_traps_for_syncs(virtsim_binary, tmp_path):
    # fork_and_wait: the fork's stores into the parent's live leaf tables and the children's
    # copy-on-write clears (each followed by its INVLPG). pt_update would not do: each round's
    # munmap frees the table it used, so no out-of-sync table is left to synchronize.
    sync = run(virtsim_binary, tmp_path, "sync", "--set", 'workload.kind="fork_and_wait"', *MODES["shadow-vmx"])
    oos = run(virtsim_binary, tmp_path, "oos", "--set", 'workload.kind="fork_and_wait"', *MODES["shadow-out-of-sync"])
    assert oos["system.shadow.unsync_writes"] > 0 and oos["system.shadow.syncs"] > 0
    assert oos["system.shadow.writes_emulated"] < sync["system.shadow.writes_emulated"]
    assert sync["system.shadow.unsync_writes"] == 0 and sync["system.shadow.syncs"] == 0
    assert oos["system.kernel.state_digest"] == sync["system.kernel.state_digest"]


def test_write_flooding_unshadows_tables_the_guest_keeps_writing(virtsim_binary, tmp_path):
    # kernel_build: the jobs' exits and execs clear page-table entries of tables the shadow still
    # follows with no shadow fault walking through them in between (plain stores, emulated).
    kind = ["--set", 'workload.kind="kernel_build"']
    flooding = run(virtsim_binary, tmp_path, "flooding", *kind, *MODES["shadow-vmx"])
    tracking = run(virtsim_binary, tmp_path, "tracking", *kind, *MODES["shadow-vmx"],
                   "--set", "system.shadow.write_flooding_threshold=0")
    assert flooding["system.shadow.flood_zaps"] > 0 and tracking["system.shadow.flood_zaps"] == 0
    assert flooding["system.shadow.writes_emulated"] < tracking["system.shadow.writes_emulated"]
    assert flooding["system.kernel.state_digest"] == tracking["system.kernel.state_digest"]


def test_a_string_store_to_a_guest_table_page_unprotects_it_and_is_retried(virtsim_binary, tmp_path):
    # pt_update: each round's munmap clears its entries (plain stores: emulated until the third
    # floods the leaf table, which the shadow still follows when they run) and frees its
    # tables, and the next mmap zeroes them again with rep stos; the first line's fault
    # unprotects a page still shadowed (KVM's retry_instruction), one exit, without flooding.
    out = tmp_path / "retry.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", *SMALL, "--set", 'workload.kind="pt_update"',
                     *MODES["shadow-vmx"])
    assert result.returncode == 0, result.stderr
    m = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    assert m["system.shadow.unprotect_retries"] >= 12  # a table page re-zeroed each round
    assert m["system.shadow.flood_zaps"] >= 12  # each round's munmap floods its leaf table
    assert m["system.shadow.writes_emulated"] > 0  # the entry stores (MOVs) are still emulated
    with h5py.File(out) as f:
        exits = {row["name"].decode(): int(row["count"]) for row in f["runs/run0000/exits"][()]}
    assert exits["Exception or NMI (#PF: page unprotected and instruction retried)"] == m["system.shadow.unprotect_retries"]


def test_nested_paging_filled_lazily_exits_once_per_page(virtsim_binary, tmp_path):
    m = run(virtsim_binary, tmp_path, "lazy", "--set", 'workload.kind="fork_and_wait"', *MODES["nested-ept4-lazy"])
    upfront = run(virtsim_binary, tmp_path, "upfront", "--set", 'workload.kind="fork_and_wait"',
                  *MODES["nested-ept4-lazy"][:4], "--set", 'system.nested.populate="upfront"')
    assert m["system.nested.pages_mapped"] > 0
    assert m["system.virt0.nested_fault_exits"] == m["system.nested.pages_mapped"]
    assert upfront["system.nested.pages_mapped"] == 0 and upfront["system.virt0.nested_fault_exits"] == 0
    assert m["exits.total"] - upfront["exits.total"] == m["system.nested.pages_mapped"]


def test_a_paravirtual_kernel_batches_its_page_table_updates(virtsim_binary, tmp_path):
    runs = {batch: run(virtsim_binary, tmp_path, f"pv{batch}", "--set", 'workload.kind="fork_and_wait"',
                       "--set", "system.kernel.paravirt_mmu=true", "--set", 'system.vmx.mode="vmx"',
                       "--set", f"system.kernel.pv_batch={batch}") for batch in (1, 8)}
    one, eight = runs[1], runs[8]
    assert one["system.kernel.pv_updates"] == eight["system.kernel.pv_updates"] > 0
    assert one["system.kernel.pv_hypercalls"] == one["system.kernel.pv_updates"]
    assert eight["system.kernel.pv_hypercalls"] < one["system.kernel.pv_hypercalls"]
    assert one["system.virt0.pv_updates"] == one["system.kernel.pv_updates"]
    assert eight["exits.cycles"] < one["exits.cycles"]  # fewer hypervisor entries for the same updates


def test_binary_translation_enters_the_vmm_without_vm_exits(virtsim_binary, tmp_path):
    m = run(virtsim_binary, tmp_path, "bt", "--set", 'workload.kind="fork_and_wait"', *MODES["binary-translation"])
    # Every kernel entry, callout and VMM-handled fault is an entry into the VMM, counted as an exit.
    entries = (m["system.bt0.callouts"] + m["system.bt0.kernel_entries"] + m["system.bt0.interrupts"]
               + m["system.bt0.vmm_page_faults"])
    assert entries == m["exits.total"] > 0
    assert m["system.bt0.vmm_page_faults"] == (m["system.shadow.hidden_faults"] + m["system.shadow.guest_faults"]
                                               + m["system.shadow.writes_emulated"] + m["system.shadow.dirty_emulations"]
                                               + m["system.shadow.unprotect_retries"])
    assert 0 < m["system.bt0.translations"] < 40  # once per instruction kind, not per execution
    assert m["system.bt0.vmm_cycles"] == m["exits.cycles"]


def test_shadow_paging_configuration_errors_name_the_keys(virtsim_binary, tmp_path):
    out = str(tmp_path / "x.h5")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", "system.shadow.enabled=true"),
                 "system.shadow.enabled", "system.vmx.mode")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", "system.shadow.enabled=true",
                         "--set", 'system.vmx.mode="vmx"', "--set", 'system.nested.paging="ept4"'),
                 "system.shadow.enabled", "system.nested.paging")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", "system.shadow.enabled=true",
                         "--set", 'system.vmx.mode="vmx"', "--set", 'system.kernel.paging="pae"'),
                 "system.shadow.enabled", "system.kernel.paging")
    expect_error(virtsim(virtsim_binary, "run", "-o", out, "--set", 'experiment.compare="native,vmware"'),
                 "experiment.compare", "vmware")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", "system.bt.enabled=true",
                         "--set", 'system.vmx.mode="vmx"'), "system.bt.enabled", "system.vmx.mode")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", "system.kernel.paravirt_mmu=true"),
                 "system.kernel.paravirt_mmu", "system.vmx.mode")
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", out, "--set", 'system.nested.paging="ept4"',
                         "--set", 'system.nested.populate="lazy"'), "system.nested.populate", "system.vmx.mode")


def test_the_default_experiment_compares_native_shadow_and_nested(virtsim_binary, tmp_path):
    out = tmp_path / "default.h5"
    result = virtsim(virtsim_binary, "run", "-o", str(out), *SMALL, "--set", 'workload.kind="fork_and_wait"')
    assert result.returncode == 0, result.stderr
    assert "slowdown vs native" in result.stdout
    for mode in ("native", "shadow", "nested"):
        assert f"{mode}" in result.stderr  # progress: each mode's process reports when it is done
    with h5py.File(out) as f:
        assert sorted(f["runs"]) == ["native", "nested", "shadow"]
        assert {name: f["runs"][name].attrs["memory_virtualization"] for name in f["runs"]} == {
            "native": "native", "nested": "nested", "shadow": "shadow"}
    summary = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json").stdout)
    metrics = {run: summary[run]["metrics"] for run in summary}
    assert metrics["native"]["exits.total"] == 0
    assert metrics["shadow"]["exits.total"] > 0
    assert metrics["nested"]["walk.two_dimensional"] > 0
    assert metrics["shadow"]["walk.two_dimensional"] == 0
    assert metrics["native"]["sim.instructions"] == metrics["shadow"]["sim.instructions"] == \
        metrics["nested"]["sim.instructions"]


def cr_exits(binary, path):
    with h5py.File(path) as f:
        exits = f["runs/run0000/exits"][()]
        return sum(int(r["count"]) for r in exits if r["name"].decode() == "Control-register access")


def test_cr3_target_list_spares_the_exits_of_switches_to_listed_roots(virtsim_binary, tmp_path):
    shadow = ["--set", 'workload.kind="timeshare"', "--set", "system.shadow.enabled=true",
              "--set", 'system.vmx.mode="vmx"', "--set", "system.shadow.root_cache=6"]
    without = run(virtsim_binary, tmp_path, "targets0", *shadow)
    listed = run(virtsim_binary, tmp_path, "targets4", *shadow, "--set", "system.hypervisor.cr3_targets=4")
    switches = listed["system.virt0.cr3_target_switches"]
    assert without["system.virt0.cr3_target_switches"] == 0 and switches > 0
    # Each switch to a listed root is a MOV to CR3 that did not exit; nothing else changed.
    assert cr_exits(virtsim_binary, tmp_path / "targets0.h5") - cr_exits(virtsim_binary, tmp_path / "targets4.h5") \
        == switches
    assert listed["system.kernel.state_digest"] == without["system.kernel.state_digest"]
    assert listed["exits.cycles"] < without["exits.cycles"]
    assert listed["sim.cycles"] < without["sim.cycles"]


@pytest.mark.parametrize("extra, fragment", [
    (["--set", 'system.vmx.mode="svm"'], "AMD-V has no CR3-target list"),
    (["--set", 'system.vmx.mode="vmx"', "--set", "system.shadow.out_of_sync=true"],
     "cannot resynchronize out-of-sync shadow tables"),
])
def test_cr3_targets_are_refused_where_they_cannot_work(virtsim_binary, tmp_path, extra, fragment):
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(tmp_path / "x.h5"), "--set",
                     "system.shadow.enabled=true", "--set", "system.hypervisor.cr3_targets=2", *extra)
    expect_error(result, "system.hypervisor.cr3_targets = 2", fragment)
