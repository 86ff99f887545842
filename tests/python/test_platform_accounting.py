"""What the platform counts and refuses: main-memory accesses, shootdown IPIs, #PF exits by
their handling, the walk caches' parameter texts, CPU features and the host memory budget."""
from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "python" / "data" / "tiny.toml"
ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


def virtsim(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=ENV, timeout=600)


def run_metrics(binary: Path, out: Path, *sets: str) -> dict:
    args = ["run", str(TINY), "-o", str(out), "-q", "--set", 'experiment.compare=""']
    for s in sets:
        args += ["--set", s]
    result = virtsim(binary, *args)
    assert result.returncode == 0, result.stderr
    everything = json.loads(virtsim(binary, "stats", str(out), "--json", "--all").stdout)
    return everything["run0000"]["metrics"]


def test_memory_accesses_are_the_fills_and_the_last_level_writebacks(virtsim_binary, tmp_path):
    # Random updates over four times the LLC: dirty lines leave the LLC for main memory.
    m = run_metrics(virtsim_binary, tmp_path / "gups.h5", 'workload.kind="gups"', "workload.footprint_kib=32768",
                    "system.llc.size_kib=2048")
    assert m["system.llc.writebacks"] > 0
    assert m["mem.accesses"] == m["system.memory.reads"] + m["system.memory.writes"] + m["system.llc.writebacks"]
    assert m["mem.accesses"] == m["cache.llc.misses"] + m["system.llc.writebacks"]


def test_a_whole_line_a_fast_string_store_writes_reads_nothing_from_memory(virtsim_binary, tmp_path):
    # First touches of four times the LLC: the kernel zeroes each faulted page with REP STOS, whose
    # lines no cache holds; every other miss of the last level reaches memory.
    m = run_metrics(virtsim_binary, tmp_path / "touch.h5", 'workload.kind="first_touch"', "workload.operations=2048",
                    "system.llc.size_kib=2048")
    unfilled = sum(v for k, v in m.items() if k.startswith("system.cpu") and k.endswith(".string_lines_unfilled"))
    assert unfilled >= 64 * 1024  # most of the 2048 pages' 64 lines each
    assert m["mem.accesses"] == m["system.memory.reads"] + m["system.memory.writes"] + m["system.llc.writebacks"]
    assert m["mem.accesses"] == m["cache.llc.misses"] - unfilled + m["system.llc.writebacks"]


def test_every_shootdown_ipi_is_delivered(virtsim_binary, tmp_path):
    """Two threads unmapping pages of one address space: each shootdown IPI reaches the other
    vCPU, the last one too (a vCPU that has stopped is sent none)."""
    m = run_metrics(virtsim_binary, tmp_path / "pt.h5", 'workload.kind="pt_update"', "system.cpus=2",
                    "workload.threads=true")
    assert m["system.kernel.shootdown_ipis"] > 0
    delivered = (m["system.cpu0.interrupts"] + m["system.cpu1.interrupts"] - m["system.kernel.timer_interrupts"]
                 - m["system.kernel.device_interrupts"])
    assert delivered == m["system.kernel.shootdown_ipis"]


def test_page_fault_exits_are_split_by_their_handling(virtsim_binary, tmp_path):
    out = tmp_path / "shadow.h5"
    m = run_metrics(virtsim_binary, out, 'workload.kind="fork_and_wait"', 'system.vmx.mode="vmx"',
                    "system.shadow.enabled=true")
    with h5py.File(out) as f:
        rows = f["runs/run0000/exits"][()]
    by_name = {(n.decode() if isinstance(n, bytes) else n): (int(c), int(y), int(code))
               for n, c, y, code in zip(rows["name"], rows["count"], rows["cycles"], rows["code"])}
    handled = {name: v for name, v in by_name.items() if name.startswith("Exception or NMI (#PF: ")}
    assert set(handled) <= {"Exception or NMI (#PF: hidden fault)", "Exception or NMI (#PF: guest fault reflected)",
                            "Exception or NMI (#PF: page-table write emulated)",
                            "Exception or NMI (#PF: page unprotected and instruction retried)"}
    assert len(handled) >= 2  # fork's copy-on-write: hidden faults and reflected guest faults at least
    assert sum(c for c, _, _ in handled.values()) == m["system.virt0.page_fault_exits"]
    assert all(code == 0 for _, _, code in handled.values())
    assert "Exception or NMI" not in by_name  # no exception other than #PF exits here
    assert sum(c for c, _, _ in by_name.values()) == m["exits.total"]
    assert sum(y for _, y, _ in by_name.values()) == m["exits.cycles"]
    # The analysis package shows each handling as its own reason.
    import virtsim_analysis as va
    with va.load(out) as r:
        columns = set(va.exits_by_reason(r, value="count").columns)
    assert {name.removeprefix("Exception or NMI (").removesuffix(")") for name in handled} <= columns


def test_nested_tlb_organization_describes_the_nested_tlb(virtsim_binary):
    described = json.loads(virtsim(virtsim_binary, "describe", "--json").stdout)["parameters"]
    text = {p["name"]: p["description"] for p in described}
    nested_tlb = text["system.mmu0.walker.nested_tlb.organization"]
    assert "nested page" in nested_tlb and "prefix" not in nested_tlb
    assert "prefix" in text["system.mmu0.walker.pwc.organization"]


def test_a_run_outgrowing_the_host_budget_stops_with_a_partial_result(virtsim_binary, tmp_path):
    # A 16 MiB footprint fits a 24 MiB budget, but the simulator itself holds more than that
    # once it keeps the footprint's data bytes.
    out = tmp_path / "budget.h5"
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q", "--set", 'experiment.compare=""',
                     "--set", "workload.footprint_kib=16384", "--set", "system.memory.host_budget_mib=24",
                     "--set", "system.memory.byte_exact_data=true")
    assert result.returncode == 1, result.stderr
    assert "host memory budget exceeded" in result.stderr
    assert "system.memory.host_budget_mib = 24 MiB" in result.stderr
    with h5py.File(out) as f:
        assert f["runs/run0000"].attrs["status"] in ("partial", b"partial")


def sweep_axes(sweep: Path) -> list[dict[str, list]]:
    """The [sweep.grid] lists and each [[sweep.zip]] of a sweep file, as tables of lists."""
    with sweep.open("rb") as f:
        table = tomllib.load(f)["sweep"]

    def flat(t: dict, prefix: str = "") -> dict[str, list]:
        out: dict[str, list] = {}
        for k, v in t.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out
    return [flat(table.get("grid", {}))] + [flat(z) for z in table.get("zip", [])]


def test_the_shipped_sweeps_ask_only_for_features_their_presets_have(virtsim_binary, tmp_path):
    """Every machine preset of a shipped sweep under every memory virtualization it is swept
    with: the platform builds (no EPT on Merom, say)."""
    for sweep in sorted((REPO / "experiments" / "sweeps").glob("*.toml")):
        grid, *zips = sweep_axes(sweep)
        pairs: set[tuple[str, str]] = set()
        presets, modes = list(grid.get("machine.preset", [])), list(grid.get("memory_virtualization", []))
        for z in zips:
            if "machine.preset" in z and "memory_virtualization" in z:  # advanced together
                pairs |= set(zip(z["machine.preset"], z["memory_virtualization"]))
            else:
                presets += z.get("machine.preset", [])
                modes += z.get("memory_virtualization", [])
        if not presets:  # no preset axis: the sweep's own machine
            presets = [tomllib.loads(sweep.read_text()).get("machine", {}).get("preset", "skylake")]
        if not modes and not pairs:  # no memory-virtualization axis: the configuration's own (compare = "")
            modes = [""]
        pairs |= {(p, m) for p in presets for m in modes}
        assert pairs, sweep.name
        for preset, mode in sorted(pairs):
            config = tmp_path / f"{sweep.stem}-{preset}-{mode}.toml"
            config.write_text(f'[machine]\npreset = "{preset}"\n[workload]\nfootprint_kib = 1024\n'
                              "warmup_accesses = 100\naccesses = 500\n")
            result = virtsim(virtsim_binary, "run", str(config), "-o", str(config.with_suffix(".h5")), "-q",
                             "--set", f'experiment.compare="{mode}"')
            assert result.returncode == 0, f"{sweep.name}: {preset} under {mode}: {result.stderr}"
