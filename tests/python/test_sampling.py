"""SMARTS-style sampling (docs/sampling.md): the estimates and their intervals against a full
detailed run, on a short committed trace sample (seeded and deterministic, so the same bits every
time); the bad-plan error; the check script's comparison and table on fixed inputs."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from virtsim_analysis import sampling

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "workloads" / "samples" / "gcc.vst"
COMMON = ['experiment.compare=""', 'workload.kind="trace"', f'workload.trace.path="{SAMPLE}"']
# 271 179 references: the first 10 000 measured whole, then 26 windows of 1000 references, each
# after 2000 of detailed warm-up.
PLAN = sampling.plan_settings(window=1000, warmup=2000, period=10000, confidence=0.95)


@pytest.fixture(scope="module")
def runs(virtsim_binary):
    full, _ = sampling.run(virtsim_binary, COMMON)
    sampled, _ = sampling.run(virtsim_binary, COMMON + PLAN)
    return full, sampled


@pytest.mark.parametrize("metric", sampling.METRICS)
def test_interval_contains_the_full_detailed_value(runs, metric):
    full, sampled = runs
    value = sampling.per_reference(full)[metric]
    mean, half = sampled[f"sampling.{metric}.mean"], sampled[f"sampling.{metric}.half_width"]
    assert half > 0
    assert abs(value - mean) <= half, f"{metric}: full {value}, sampled {mean} +- {half}"


def test_every_canonical_metric_has_an_estimate(runs):
    _, sampled = runs
    # The head (the first period, 10 000 references, measured whole), then 26 periods of 7000
    # functional, 2000 warm-up and a window of 1000; the last 1179 references are functional.
    assert sampled["sampling.windows"] == 26
    assert sampled["sampling.confidence"] == 0.95
    for name in ("sim.cycles", "sim.ipc", "walk.count", "tlb.l1d.miss_rate", "cache.llc.misses", "mem.accesses"):
        for part in ("mean", "half_width", "cv"):
            assert f"sampling.{name}.{part}" in sampled


def test_same_seed_same_estimates(virtsim_binary, runs):
    _, sampled = runs
    again, _ = sampling.run(virtsim_binary, COMMON + PLAN)
    assert {k: v for k, v in again.items() if k.startswith("sampling.")} == \
        {k: v for k, v in sampled.items() if k.startswith("sampling.")}


def test_sampling_off_adds_no_statistics(runs):
    full, _ = runs
    assert not [k for k in full if k.startswith("sampling.")]


def test_period_shorter_than_warmup_and_window_is_one_error(virtsim_binary, tmp_path):
    result = subprocess.run([str(virtsim_binary), "run", "-q", *(a for s in COMMON + sampling.plan_settings(
        window=1000, warmup=2000, period=2500, confidence=0.95) for a in ("--set", s)), "-o", str(tmp_path / "r.h5")],
        capture_output=True, text=True, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    assert result.returncode == 2
    lines = [l for l in result.stderr.splitlines() if l.startswith("virtsim: error:")]
    assert lines == ["virtsim: error: sampling.period = 2500 is shorter than sampling.warmup + sampling.window = "
                     "3000 references; expected a period at least that long"], result.stderr


def test_compare_and_render_on_fixed_inputs(tmp_path):
    full = {"sim.cycles": 300.0, "system.cpu0.loads": 50.0, "system.cpu0.stores": 25.0, "system.cpu0.fetches": 25.0,
            "system.mmu0.walker.cycles": 40.0}
    sampled = {"sampling.windows": 12.0, "sampling.cycles_per_reference.mean": 3.1,
               "sampling.cycles_per_reference.half_width": 0.05, "sampling.walk_cycles_per_reference.mean": 0.41,
               "sampling.walk_cycles_per_reference.half_width": 0.02}
    r = sampling.compare("gups", "native", full, sampled, 20.0, 4.0)
    assert r.full == {"cycles_per_reference": 3.0, "walk_cycles_per_reference": 0.4}
    assert r.inside == {"cycles_per_reference": False, "walk_cycles_per_reference": True}
    assert r.speedup == 5.0
    page = tmp_path / "page.md"
    page.write_text(f"# title\n\n{sampling.BEGIN}\nold\n{sampling.END}\n\ntail\n")
    sampling.write_page(page, sampling.render([r], "scripts/check-sampling gups/native", "2026-01-01", PLAN))
    text = page.read_text()
    assert "old" not in text and text.endswith("\n\ntail\n")
    assert "| gups | native | 3.0000 | 3.1000 ± 0.0500 | **no** | 0.4000 | 0.4100 ± 0.0200 | yes | 12 | 20.0 | 4.0 | 5.00x |" in text
    assert "cycles per reference 0 of 1, walk cycles per reference 1 of 1" in text


def test_fast_forward_runs_the_first_references_functionally(virtsim_binary, runs):
    full, _ = runs
    forwarded, _ = sampling.run(virtsim_binary, COMMON + ["sampling.fast_forward=200000"])
    def references(metrics):
        return sum(v for k, v in metrics.items() if k.split(".")[-1] in ("loads", "stores", "fetches")
                   and k.startswith("system.cpu"))
    # Statistics restart when the fast-forward ends: the detailed part is the rest of the run (a
    # fast-string instruction under way at the switch runs on functionally, its lines at most 64).
    assert 0 <= references(full) - 200000 - references(forwarded) <= 64
    assert 0 < forwarded["sim.cycles"] < full["sim.cycles"]
    assert not [k for k in forwarded if k.startswith("sampling.")]


@pytest.mark.parametrize("mode", [sampling.NATIVE, sampling.NESTED,
                                  (*sampling.NATIVE, "system.cpu0.itlb_enabled=false")],
                         ids=["native", "nested", "native-no-itlb"])
def test_functional_mode_warms_exactly_as_detailed_mode(virtsim_binary, mode):
    """The misses of every TLB, walk cache and cache level are those of the detailed run: functional
    mode makes the same lookups and fills (the repeated lines and pages it skips are hits on the
    most recent entry, which change nothing). Without an ITLB the two streams share the DTLB, so a
    stream's remembered page must be forgotten when the other looks up. (Under shadow paging the
    hypervisor's time-driven work lands at other references when time moves one cycle per
    instruction, so a few misses differ there: 3 of 2540 STLB misses on this sample.)"""
    common = COMMON + ['machine.preset="epyc-kvm"', *mode]
    detailed, _ = sampling.run(virtsim_binary, common)
    # A fast-forward longer than the run: all of it functional.
    functional, _ = sampling.run(virtsim_binary, common + [f"sampling.fast_forward={10**12}"])
    # Main memory's accesses are not among them: functional accesses count none (its fixed
    # latency keeps no state to warm).
    keys = [k for k in detailed if k.endswith((".misses", ".page_faults", ".walks", ".refs")) or
            k in ("walk.count", "walk.refs", "walk.two_dimensional")]
    assert "system.cache0.l1d.misses" in keys and "system.cpu0.stlb.misses" in keys
    assert {k: functional[k] for k in keys} == {k: detailed[k] for k in keys}
    # No access latency: what remains is what exits, interrupts and privileged instructions charge.
    assert functional["sim.cycles"] < detailed["sim.cycles"] / 2


def test_windows_that_tile_the_run_give_the_detailed_values(virtsim_binary, runs):
    full, _ = runs
    tiled, _ = sampling.run(virtsim_binary, COMMON + sampling.plan_settings(1000, 0, 1000, 0.95))
    for metric, value in sampling.per_reference(full).items():
        assert tiled[f"sampling.{metric}.mean"] == pytest.approx(value, rel=1e-12)


def test_functional_mode_takes_turns_on_a_shared_physical_cpu(virtsim_binary):
    """vCPUs that share a physical CPU switch in functional mode too (their TLBs are swapped or
    flushed at each switch, state the warming must keep): two VMs on one CPU with short slices."""
    common = ['experiment.compare=""', 'workload.kind="gups"', "workload.footprint_kib=4096",
              "workload.accesses=100000", "system.vms=2", "system.pcpus=1", 'system.vmx.mode="vmx"',
              'system.nested.paging="ept4"', "system.scheduler.time_slice_us=20"]
    detailed, _ = sampling.run(virtsim_binary, common)
    functional, _ = sampling.run(virtsim_binary, common + [f"sampling.fast_forward={10**12}"])
    assert detailed["system.pcpu0.switches"] > 10
    # Time moves one cycle per instruction in functional mode, so fewer slices end than in detail.
    assert functional["system.pcpu0.switches"] > 10
    assert functional["system.vm1.switches"] > 5
