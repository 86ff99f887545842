"""The host's speculative-execution mitigations around an exit, end to end.

system.hypervisor.mitigation_rsb_fill refills the return stack buffer after every exit (82
instructions of Linux 6.1's FILL_RETURN_BUFFER at the handlers' cpi), on VT-x and AMD-V;
system.hypervisor.mitigation_l1d_flush flushes the L1D before a VT-x entry, "cond" only after the
exits whose path sets KVM's l1tf_flush_l1d (none in a CPUID loop; the #PF exits of shadow
paging), "always" before every entry. Off (every preset's default) they add nothing."""
from __future__ import annotations

import json

import pytest

from test_cli import SINGLE, virtsim


def metrics(binary, tmp_path, name, preset, *extra):
    out = tmp_path / f"{name}.h5"
    result = virtsim(binary, "run", *SINGLE, "-o", str(out), "-q", "--set", f'machine.preset="{preset}"', *extra)
    assert result.returncode == 0, result.stderr
    stats = virtsim(binary, "stats", str(out), "--json", "--all")
    assert stats.returncode == 0, stats.stderr
    runs = json.loads(stats.stdout)
    return next(iter(runs.values()))["metrics"]  # the one run (named by its variant under a comparison)


def cpuid_loop(*extra):
    return ("--set", 'workload.kind="exitbench"', "--set", 'workload.exitbench.benchmark="cpuid"',
            "--set", "workload.exitbench.operations=200", *extra)


@pytest.mark.parametrize("preset", ["skylake-sp", "zen2"])
def test_the_rsb_fill_adds_its_82_instructions_to_every_exit(virtsim_binary, tmp_path, preset):
    off = metrics(virtsim_binary, tmp_path, "off", preset, *cpuid_loop())
    on = metrics(virtsim_binary, tmp_path, "on", preset, *cpuid_loop("--set", "system.hypervisor.mitigation_rsb_fill=true"))
    assert off["system.virt0.mitigation_cycles"] == 0
    assert on["system.virt0.exits"] == off["system.virt0.exits"]
    assert on["system.virt0.mitigation_cycles"] == 82 * on["system.virt0.exits"]  # cpi 1.0
    assert on["workload.cycles_per_operation"] == pytest.approx(off["workload.cycles_per_operation"] + 82)
    # At another cpi the sequence costs 82 x cpi.
    slow = metrics(virtsim_binary, tmp_path, "slow", preset,
                   *cpuid_loop("--set", "system.hypervisor.mitigation_rsb_fill=true", "--set", "system.hypervisor.cpi=2.0"))
    assert slow["system.virt0.mitigation_cycles"] == 164 * slow["system.virt0.exits"]


def test_the_conditional_l1d_flush_skips_a_cpuid_loop_and_follows_shadow_page_faults(virtsim_binary, tmp_path):
    loop = metrics(virtsim_binary, tmp_path, "loop", "skylake-sp",
                   *cpuid_loop("--set", 'system.hypervisor.mitigation_l1d_flush="cond"'))
    assert loop["system.virt0.l1d_flushes"] == 0 and loop["system.virt0.mitigation_cycles"] == 0
    pt_update = ("--set", 'workload.kind="pt_update"', "--set", "workload.operations=20",
                 "--set", 'experiment.compare="shadow"')
    never = metrics(virtsim_binary, tmp_path, "never", "skylake-sp", *pt_update)
    cond = metrics(virtsim_binary, tmp_path, "cond", "skylake-sp", *pt_update,
                   "--set", 'system.hypervisor.mitigation_l1d_flush="cond"')
    # Every #PF exit of shadow paging goes through kvm_handle_page_fault, which sets the flag;
    # the other exits of the run (MOV to CR3, INVLPG) do not.
    assert 0 < cond["system.virt0.page_fault_exits"] <= cond["system.virt0.l1d_flushes"] <= cond["system.virt0.exits"]
    assert cond["system.virt0.exits"] == never["system.virt0.exits"]
    assert never["system.virt0.l1d_flushes"] == 0
    assert cond["sim.cycles"] > never["sim.cycles"]
    # "always": before every entry.
    always = metrics(virtsim_binary, tmp_path, "always", "skylake-sp", *pt_update,
                     "--set", 'system.hypervisor.mitigation_l1d_flush="always"')
    assert always["system.virt0.l1d_flushes"] == always["system.virt0.exits"]


def test_amdv_has_no_l1d_flush(virtsim_binary, tmp_path):
    m = metrics(virtsim_binary, tmp_path, "zen2", "zen2", *cpuid_loop("--set", 'system.hypervisor.mitigation_l1d_flush="always"'))
    assert m["system.virt0.l1d_flushes"] == 0 and m["system.virt0.mitigation_cycles"] == 0


def test_an_unknown_flush_mode_is_one_clear_error(virtsim_binary, tmp_path):
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(tmp_path / "bad.h5"), "-q",
                     *cpuid_loop("--set", 'system.hypervisor.mitigation_l1d_flush="sometimes"'))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("virtsim: error:")
    assert "system.hypervisor.mitigation_l1d_flush" in lines[0] and '"cond"' in lines[0]
