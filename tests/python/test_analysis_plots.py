"""Sweeps, speedups, exit and walk summaries, plots and the `figures` command on real result files
(a 48-point `virtsim sweep`, a comparison run, a single run). Expected values are recomputed here
from the raw HDF5 with h5py, not through the package."""
from __future__ import annotations

import itertools
import math
import os
import re
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import h5py
import matplotlib
import scipy.stats
import matplotlib.container
import matplotlib.image
import matplotlib.text
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import virtsim_analysis as va  # noqa: E402
from virtsim_analysis import plots  # noqa: E402

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
SWEPT = ["memory_virtualization", "workload.kind", "machine.preset", "system.nested.page_size",
         "system.shadow.host_page_size"]
SETTING = SWEPT[1:]  # what pairs a candidate run with its baseline, besides the seed
T95_DF1 = scipy.stats.t.ppf(0.975, 1)  # two-sided 95 % Student t, 1 degree of freedom (2 seeds)
# The exits rows of these sweeps (VT-x presets) by the common name the package gives them.
VMX_REASONS = {"Exception or NMI (#PF: hidden fault)": "#PF: hidden fault",
               "Exception or NMI (#PF: guest fault reflected)": "#PF: guest fault reflected",
               "Exception or NMI (#PF: page-table write emulated)": "#PF: page-table write emulated",
               "Exception or NMI (#PF: page unprotected and instruction retried)":
                   "#PF: page unprotected and instruction retried",
               "Control-register access": "control-register access", "EPT violation": "nested page fault",
               "External interrupt": "external interrupt", "WRMSR": "MSR access", "INVLPG": "INVLPG"}


# ---- the raw file, read without the package ------------------------------------------------


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def raw_points(path: Path) -> list[dict]:
    with h5py.File(path) as f:
        rows = f["sweep"][()]
        return [{name: text(row[name]) for name in rows.dtype.names} for row in rows]


def raw_metric(f: h5py.File, run_id: str, name: str) -> float:
    rows = f[f"runs/{run_id}/metrics"][()]
    names = [text(n) for n in rows["name"]]
    return float(rows["value"][names.index(name)])


def raw_exits(f: h5py.File, run_id: str, field: str) -> dict[str, float]:
    """Exits by common reason name (VMX_REASONS), summed."""
    out = defaultdict(float)
    for row in f[f"runs/{run_id}/exits"][()]:
        out[VMX_REASONS[text(row["name"])]] += float(row[field])
    return dict(out)


def expected_speedups(path: Path, baseline: str, candidate: str) -> dict[tuple, list[float]]:
    """Setting -> per-seed sim.cycles(baseline) / sim.cycles(candidate), in seed order."""
    points = raw_points(path)
    with h5py.File(path) as f:
        cycles = {(p["memory_virtualization"], *[p[c] for c in SETTING], int(p["seed"])):
                  raw_metric(f, p["run_id"], "sim.cycles") for p in points if p["status"] == "ok"}
    ratios = defaultdict(list)
    for (mode, *setting, seed), value in sorted(cycles.items(), key=lambda kv: kv[0][-1]):
        if mode == candidate:
            ratios[tuple(setting)].append(cycles[(baseline, *setting, seed)] / value)
    return ratios


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])  # IHDR comes first
    assert data[12:16] == b"IHDR" and width > 0 and height > 0, path
    image = matplotlib.image.imread(path)  # decodes the whole file
    assert image.shape[:2] == (height, width)


# ---- tables ----------------------------------------------------------------------------------


def test_sweep_table_is_the_file(sweep_small_result):
    points = raw_points(sweep_small_result)
    with va.load(sweep_small_result) as r:
        assert r.has_sweep
        sweep = r.sweep()
        assert r.sweep_parameters == SWEPT
        assert list(sweep.columns) == ["point", "run_id", "status", "error", "seed", *SWEPT]
        assert sweep.attrs["points"] == len(points) == 48 and "[sweep.grid]" in sweep.attrs["config"]
        assert sweep.to_dict("records") == points
        wide = va.sweep_wide(r, ["sim.cycles", "exits.total"])
        assert list(wide.columns) == [*sweep.columns, "sim.cycles", "exits.total"]
        tidy = va.sweep_metrics(r, "walk.count")
    with h5py.File(sweep_small_result) as f:
        for row in wide.to_dict("records"):
            assert row["run_id"] == f"run{row['point']:04d}"
            assert row["sim.cycles"] == raw_metric(f, row["run_id"], "sim.cycles")
            assert row["exits.total"] == raw_metric(f, row["run_id"], "exits.total")
            # The run's own mode and seed agree with its sweep row.
            assert text(f[f"runs/{row['run_id']}"].attrs["memory_virtualization"]) == row["memory_virtualization"]
            assert int(f[f"runs/{row['run_id']}"].attrs["seed"]) == row["seed"]
        assert len(tidy) == 48 and set(tidy["name"]) == {"walk.count"}
        for row in tidy.to_dict("records"):
            assert row["value"] == raw_metric(f, row["run_id"], "walk.count")
            assert row["machine.preset"] == points[row["point"]]["machine.preset"]


def test_tables_of_a_file_without_sweep(compare_result, tiny_result):
    with va.load(compare_result) as r:
        assert not r.has_sweep
        table = va.run_table(r)
        assert table["run_id"].tolist() == ["native", "nested", "shadow"]
        assert table["memory_virtualization"].tolist() == ["native", "nested", "shadow"]
        assert table.attrs["parameters"] == []
        with pytest.raises(KeyError, match=re.escape(f"{compare_result}: no '/sweep' dataset")):
            r.sweep()
        with pytest.raises(KeyError, match="no '/sweep' dataset"):
            va.sweep_wide(r, "sim.cycles")
    with va.load(tiny_result) as r:
        assert va.run_table(r)[["run_id", "status", "seed"]].values.tolist() == [["run0000", "ok", 1]]


def test_unknown_metrics_are_named(sweep_small_result):
    with va.load(sweep_small_result) as r:
        with pytest.raises(KeyError, match=r"sweep-small.h5: no metric 'sim.cycle' in any run \(did you mean sim.cycles"):
            va.sweep_wide(r, "sim.cycle")
        with pytest.raises(KeyError, match="no metric 'nope'"):
            va.sweep_metrics(r, ["sim.cycles", "nope"])


# ---- speedups --------------------------------------------------------------------------------


@pytest.mark.parametrize("baseline,candidate", [("shadow", "nested"), ("native", "shadow"), ("native", "nested")])
def test_speedups_are_paired_ratios_of_cycles(sweep_small_result, baseline, candidate):
    expected = expected_speedups(sweep_small_result, baseline, candidate)
    with va.load(sweep_small_result) as r:
        table = va.speedups(va.sweep_wide(r, "sim.cycles"), baseline=baseline, candidates=[candidate])
    assert len(table) == len(expected) == 8
    for row in table.to_dict("records"):
        ratios = expected[tuple(row[c] for c in SETTING)]
        assert row["n"] == len(ratios) == 2
        assert row["memory_virtualization"] == candidate and row["baseline"] == baseline
        assert row["speedup"] == pytest.approx(sum(ratios) / 2, rel=1e-12)
        assert not row["deterministic"]  # these workloads draw their addresses from the seed
        # Two seeds: s / sqrt(n) = |r1 - r2| / 2.
        half = T95_DF1 * abs(ratios[0] - ratios[1]) / 2
        assert row["ci_half_width"] == pytest.approx(half, rel=1e-9, abs=1e-15)
        assert row["ci_low"] == pytest.approx(row["speedup"] - half) and row["ci_high"] == pytest.approx(row["speedup"] + half)
    if candidate == "nested" and baseline == "shadow":
        # fork_and_wait is all address-space churn, shadow paging's worst case; nested wins it.
        assert (table.loc[table["workload.kind"] == "fork_and_wait", "speedup"] > 1.5).all()


def test_every_mode_against_native_by_default(sweep_small_result):
    with va.load(sweep_small_result) as r:
        table = va.speedups(va.sweep_wide(r, "sim.cycles"))
    assert table["memory_virtualization"].unique().tolist() == ["shadow", "nested"]
    assert (table["baseline"] == "native").all() and len(table) == 16
    assert table.attrs["on"] == SETTING


def test_interval_semantics_one_seed_and_identical_seeds(sweep_small_result):
    with va.load(sweep_small_result) as r:
        wide = va.sweep_wide(r, "sim.cycles")
    one_seed = va.speedups(wide[wide["seed"] == 1], baseline="shadow", candidates=["nested"])
    expected = expected_speedups(sweep_small_result, "shadow", "nested")
    assert (one_seed["n"] == 1).all()
    assert one_seed[["std", "ci_low", "ci_high", "ci_half_width"]].isna().all().all()  # no spread to estimate
    for row in one_seed.to_dict("records"):
        assert row["speedup"] == pytest.approx(expected[tuple(row[c] for c in SETTING)][0], rel=1e-12)
    # A mode against itself: every seed's ratio is exactly 1, so the interval has width 0.
    itself = va.speedups(wide, baseline="native", candidates=["native"])
    assert (itself["speedup"] == 1).all() and (itself["ci_half_width"] == 0).all() and (itself["n"] == 2).all()
    assert (itself["ci_low"] == itself["ci_high"]).all() and not itself["deterministic"].any()


def test_settings_the_seed_does_not_change_are_deterministic(sweep_small_result):
    with va.load(sweep_small_result) as r:
        wide = va.sweep_wide(r, "sim.cycles")
    # Every seed's run given the cycles of seed 1's: as a workload that ignores its seed measures.
    first = wide[wide["seed"] == 1].set_index(["point"])
    fixed = wide.copy()
    fixed["sim.cycles"] = [first.loc[p - 1 if s == 2 else p, "sim.cycles"] for p, s in zip(wide["point"], wide["seed"])]
    fixed.attrs = wide.attrs
    table = va.speedups(fixed, baseline="shadow", candidates=["nested"])
    assert table["deterministic"].all() and (table["n"] == 2).all()
    assert table[["std", "ci_low", "ci_high", "ci_half_width"]].isna().all().all()  # no zero-width interval
    # One of the two settings' seeds changed again: an interval there, none elsewhere.
    fixed.loc[(fixed["seed"] == 2) & (fixed["memory_virtualization"] == "nested"), "sim.cycles"] *= 1.01
    again = va.speedups(fixed, baseline="shadow", candidates=["nested"])
    assert not again["deterministic"].any() and again["ci_half_width"].gt(0).all()


def test_ambiguous_pairs_are_an_error(sweep_small_result):
    with va.load(sweep_small_result) as r:
        wide = va.sweep_wide(r, "sim.cycles")
    # Leaving the presets and page sizes out of `on` would pair one shadow run with several native ones.
    with pytest.raises(ValueError, match="several 'native' runs share the same workload.kind, seed"):
        va.speedups(wide, on=["workload.kind"])


def test_t_critical_values_are_scipys():
    for df in [1, 2, 5, 10, 30, 31, 100, 1000]:
        assert va.t_critical_95(df) == scipy.stats.t.ppf(0.975, df)
    assert va.t_critical_95(1) == pytest.approx(12.706, abs=1e-3)  # the printed tables' value
    assert math.isnan(va.t_critical_95(0))


def test_interval_is_students_t(sweep_small_result):
    with va.load(sweep_small_result) as r:
        wide = va.sweep_wide(r, "sim.cycles")
    samples = va.speedup_samples(wide, baseline="native", candidates=["shadow"])
    table = va.speedups(wide, baseline="native", candidates=["shadow"])
    for row in table.to_dict("records"):
        ratios = samples[(samples[SETTING] == pd.Series({c: row[c] for c in SETTING})).all(axis=1)]["speedup"]
        low, high = scipy.stats.t.interval(0.95, len(ratios) - 1, loc=ratios.mean(), scale=scipy.stats.sem(ratios))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)


# ---- exits and walks --------------------------------------------------------------------


def test_exits_by_reason_are_means_over_seeds(sweep_small_result):
    points = raw_points(sweep_small_result)
    by = ["machine.preset", "memory_virtualization", "workload.kind"]
    with va.load(sweep_small_result) as r:
        counts = va.exits_by_reason(r, value="count", by=by)
        cycles = va.exits_by_reason(r, value="cycles", by=by)
        by_workload = va.exits_by_reason(r, by=["workload.kind", "machine.preset"])
    # Presets in generation order within each workload, the workloads as the sweep lists them.
    assert va.by_generation(by_workload).index.tolist() == [
        ("gups", "nehalem"), ("gups", "skylake"), ("fork_and_wait", "nehalem"), ("fork_and_wait", "skylake")]
    sums = {"count": defaultdict(lambda: defaultdict(float)), "cycles": defaultdict(lambda: defaultdict(float))}
    runs = defaultdict(int)
    with h5py.File(sweep_small_result) as f:
        for p in points:
            key = tuple(p[c] for c in by)
            runs[key] += 1
            for field in sums:
                for reason, value in raw_exits(f, p["run_id"], field).items():
                    sums[field][key][reason] += value
            total = sum(raw_exits(f, p["run_id"], "count").values())
            assert total == raw_metric(f, p["run_id"], "exits.total")
    assert len(counts) == len(runs) == 12 and counts.index.names == by
    for field, table in (("count", counts), ("cycles", cycles)):
        for key in runs:
            for reason in table.columns:
                # A run without a reason counts 0 for it in the mean.
                assert table.loc[key, reason] == pytest.approx(sums[field][key][reason] / runs[key])
    assert counts.loc[("skylake", "native", "gups")].sum() == 0
    assert counts.loc[("skylake", "shadow", "fork_and_wait"), "control-register access"] > 0  # MOV to CR3
    # Generation order: Nehalem (2008) before Skylake, although the sweep lists Skylake first.
    ordered = va.by_generation(counts, "machine.preset")
    assert list(dict.fromkeys(ordered.index.get_level_values("machine.preset"))) == ["nehalem", "skylake"]
    assert sorted(ordered.index) == sorted(counts.index)


def test_walk_latency_cdf_is_the_histogram_cumulated(sweep_small_result):
    with h5py.File(sweep_small_result) as f:
        raw = f["runs/run0032/stats/system.mmu0.walker.walk_cycles"]  # nested, gups, seed 1
        counts, attrs = raw[()].astype(np.int64), dict(raw.attrs)
        raw2 = f["runs/run0033/stats/system.mmu0.walker.walk_cycles"]  # its seed 2
        counts2, attrs2 = raw2[()].astype(np.int64), dict(raw2.attrs)
    with va.load(sweep_small_result) as r:
        hist = r.walk("run0032", "walk_cycles")
        cdf = va.walk_latency_cdf(hist)
        pooled = va.pooled_histogram([hist, r.walk("run0033", "walk_cycles")])
    edges = attrs["low"] + attrs["width"] * np.arange(1, len(counts) + 1)
    inside = (edges > attrs["min"]) & (edges < attrs["max"])
    assert cdf["cycles"].tolist() == [attrs["min"], *edges[inside], attrs["max"]]
    below = (attrs["underflow"] + np.cumsum(counts)) / attrs["samples"]
    assert cdf["fraction"].tolist() == pytest.approx([0.0, *below[inside], 1.0])
    assert cdf["fraction"].is_monotonic_increasing and cdf.attrs["mean"] == attrs["mean"]
    assert pooled["count"].tolist() == (counts + counts2).tolist()
    assert pooled.attrs["samples"] == attrs["samples"] + attrs2["samples"]
    assert pooled.attrs["min"] == min(attrs["min"], attrs2["min"])
    assert pooled.attrs["max"] == max(attrs["max"], attrs2["max"])


# ---- plots -----------------------------------------------------------------------------------


def test_ref_grid_heatmap_holds_the_matrix(sweep_small_result):
    with h5py.File(sweep_small_result) as f:
        matrix = f["runs/run0040/stats/system.mmu0.walker.grid_refs"][()]  # nested fork_and_wait: 2-D walks
    assert matrix[:, :5].sum() > 0  # some nested references, or the test would prove little
    with va.load(sweep_small_result) as r:
        grid = r.walk("run0040", "ref_grid")
    figure = plots.plot_ref_grid(grid, title="run0040")
    ax = figure.axes[0]
    assert np.array_equal(ax.images[0].get_array().filled(0), matrix.astype(float))
    assert ax.images[0].get_array().mask.sum() == (matrix == 0).sum()  # no reference: a blank cell
    assert [t.get_text() for t in ax.get_xticklabels()] == ["nL5", "nL4", "nL3", "nL2", "nL1", "entry"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gL5", "gL4", "gL3", "gL2", "gL1", "gPA"]
    assert len(ax.texts) == np.count_nonzero(matrix)
    # Counts across more than a decade: a logarithmic colour scale.
    assert isinstance(ax.images[0].norm, matplotlib.colors.LogNorm)


def test_speedup_bars_and_error_bars(sweep_small_result):
    with va.load(sweep_small_result) as r:
        wide = va.sweep_wide(r, "sim.cycles")
    table = va.speedups(wide, baseline="shadow", candidates=["nested"])
    ax = plots.plot_speedups(table).axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx(table["speedup"].tolist())
    (bars,) = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()
    assert [s[1][1] - s[0][1] for s in segments] == pytest.approx((2 * table["ci_half_width"]).tolist())
    assert {p.get_facecolor() for p in ax.patches} == {matplotlib.colors.to_rgba(va.palette.MODE_COLOURS["nested"])}
    assert len(ax.get_xticklabels()) == 8
    one_seed = va.speedups(wide[wide["seed"] == 1], baseline="shadow", candidates=["nested"])
    ax = plots.plot_speedups(one_seed).axes[0]
    assert not [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]  # NaN: none drawn


def test_exit_bars_are_stacked_means(sweep_small_result):
    by = ["memory_virtualization", "workload.kind"]
    with va.load(sweep_small_result) as r:
        table = va.exits_by_reason(r, value="count", by=by)
    totals, runs = defaultdict(float), defaultdict(int)
    reasons = set()
    with h5py.File(sweep_small_result) as f:
        for p in raw_points(sweep_small_result):
            exits = raw_exits(f, p["run_id"], "count")
            totals[(p["memory_virtualization"], p["workload.kind"])] += sum(exits.values())
            runs[(p["memory_virtualization"], p["workload.kind"])] += 1
            reasons |= set(exits)
    ax = plots.plot_exits(table).axes[0]
    tops = defaultdict(float)
    for patch in ax.patches:  # each reason's segment starts where the one below it ends
        bar = round(patch.get_x() + patch.get_width() / 2)
        assert patch.get_y() == pytest.approx(tops[bar])
        tops[bar] = patch.get_y() + patch.get_height()
    assert [tops[i] for i in range(len(table))] == pytest.approx([totals[k] / runs[k] for k in table.index])
    assert max(sum(1 for p in ax.patches if round(p.get_x() + p.get_width() / 2) == i and p.get_height() > 0)
               for i in range(len(table))) >= 2  # shadow's fork_and_wait: #PF and CR3 exits stacked
    assert {t.get_text() for t in ax.get_legend().get_texts()} == reasons
    for bars in ax.containers:  # each reason in its own colour
        colour = matplotlib.colors.to_rgba(va.palette.REASON_COLOURS[bars.get_label()])
        assert {patch.get_facecolor() for patch in bars.patches} == {colour}
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"{va.labels.MODES[mode]}, {va.labels.WORKLOADS[workload]}" for mode, workload in table.index]


def test_cdf_lines_are_the_cdfs(compare_result):
    with va.load(compare_result) as r:
        cdfs = {run: va.walk_latency_cdf(r.walk(run, "walk_cycles")) for run in r.run_ids}
    ax = plots.plot_walk_cdfs(cdfs).axes[0]
    assert len(ax.lines) == 3
    assert [line.get_color() for line in ax.lines] == [va.palette.MODE_COLOURS[run] for run in cdfs]
    for line, cdf in zip(ax.lines, cdfs.values()):
        assert line.get_xdata().tolist() == cdf["cycles"].tolist()
        assert line.get_ydata().tolist() == cdf["fraction"].tolist()


# ---- a sweep with one seed and points that fail --------------------------------------------

ONE_SEED_FAILING = """
[machine]
preset = "skylake"
[workload]
kind = "gups"
footprint_kib = 4096
warmup_accesses = 1000
accesses = 5000
[experiment]
compare = ""
[sweep]
seeds = 1
[sweep.grid]
memory_virtualization = ["native", "nested"]
workload.kind = ["gups", "fork_and_wait"]
"""
# What a point's process killed midway (by the OOM killer, say) leaves beside the points.
KILLED = "the point's process was killed by signal 9"


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory, virtsim_binary) -> Path:
    folder = tmp_path_factory.mktemp("failing")
    (folder / "sweep.toml").write_text(ONE_SEED_FAILING)
    out = folder / "failing.h5"
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    command = [str(virtsim_binary), "sweep", str(folder / "sweep.toml"), "-j", "2", "-o", str(out), "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    # Every point is checked before any runs, so a point fails only while running: the
    # fork_and_wait points (1 and 3) as if their processes had been killed, then merged again.
    points = Path(f"{out}.points")
    for point in (1, 3):
        (points / f"run{point:04d}.h5").unlink()
        (points / f"run{point:04d}.error").write_text(KILLED)
    result = subprocess.run([*command, "--merge"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1 and out.is_file(), result.stderr  # failed points: status 1, file written
    return out


def test_failed_points_and_a_single_seed(failing_sweep, tmp_path):
    with va.load(failing_sweep) as r:
        table = va.run_table(r)
        wide = va.sweep_wide(r, "sim.cycles")
        with h5py.File(failing_sweep) as f:
            native, nested = (raw_metric(f, run, "sim.cycles") for run in ["run0000", "run0002"])
    assert table["status"].tolist() == ["ok", "failed", "ok", "failed"]
    assert table["run_id"].tolist() == ["run0000", "", "run0002", ""]
    assert table.loc[1, "error"] == KILLED
    assert wide["sim.cycles"].isna().tolist() == [False, True, False, True]
    speedup = va.speedups(wide, baseline="native")
    assert speedup[["workload.kind", "memory_virtualization", "n"]].values.tolist() == [["gups", "nested", 1]]
    assert speedup["speedup"].item() == native / nested
    assert speedup[["std", "ci_low", "ci_high", "ci_half_width"]].isna().all().all()
    result = figures_cli(str(failing_sweep), "-o", str(tmp_path / "figs"))
    assert result.returncode == 0, result.stderr
    assert f"warning: sweep point 1 failed: {KILLED}" in result.stderr
    assert "warning: sweep point 3 failed" in result.stderr
    stems = sorted({p.stem for p in written(result)})
    # GUPS natively and under nested paging, its pages mapped up front: no VM exits to draw.
    assert stems == ["ref-grid", "speedup-over-native", "walk-latency-cdf"]
    assert f"note: {failing_sweep}: no VM exits in any run: no exit figures" in result.stderr
    for path in written(result):
        if path.suffix == ".png":
            assert_png(path)


# ---- the figures command -------------------------------------------------------------------


def figures_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "virtsim_analysis", "figures", *args], capture_output=True,
                          text=True, cwd=ANALYSIS, timeout=300)


def written(result: subprocess.CompletedProcess) -> list[Path]:
    return [Path(line[len("wrote "):]) for line in result.stdout.splitlines() if line.startswith("wrote ")]


FIGURES = ["speedup-over-native", "nested-over-shadow", "exit-counts", "exit-cycles", "cycles-per-exit", "ref-grid",
           "walk-latency-cdf"]


def assert_formats(files: list[Path], stems: list[str]) -> None:
    """Each figure as PNG, SVG and PDF, each a file of its format."""
    for stem in stems:
        png, svg, pdf = (next(p for p in files if p.name == f"{stem}.{suffix}") for suffix in ("png", "svg", "pdf"))
        assert_png(png)
        assert b"<svg" in svg.read_bytes()[:2000], svg
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf


def test_figures_of_a_sweep(sweep_small_result, tmp_path):
    out = tmp_path / "figs"
    result = figures_cli(str(sweep_small_result), "-o", str(out))
    assert result.returncode == 0, result.stderr
    files = written(result)
    assert sorted(files) == sorted(out.iterdir())  # a line per file, and nothing else in the folder
    # One figure per question, whatever the number of settings: 7 figures in 3 formats, 2 CSVs.
    assert sorted(p.name for p in files) == sorted([f"{stem}.{fmt}" for stem in FIGURES for fmt in ("png", "svg", "pdf")]
                                                   + ["speedup-over-native.csv", "nested-over-shadow.csv"])
    assert_formats(files, FIGURES)
    assert result.stdout.splitlines()[-1] == f"7 figures in {out}"
    # The speedups behind the bars, as written, are the paired ratios of sim.cycles.
    table = pd.read_csv(out / "nested-over-shadow.csv", dtype={"system.nested.page_size": str})
    expected = expected_speedups(sweep_small_result, "shadow", "nested")
    for row in table.to_dict("records"):
        assert row["speedup"] == pytest.approx(np.mean(expected[tuple(row[c] for c in SETTING)]), rel=1e-9)


@pytest.fixture(scope="module")
def sweep_figures(sweep_small_result, tmp_path_factory) -> dict:
    """The sweep's figures as matplotlib Figures, by name."""
    figures = {}
    va.figures.write_figures(sweep_small_result, tmp_path_factory.mktemp("figs"), formats=("png",),
                             drawn=lambda name, figure: figures.setdefault(name, figure))
    assert list(figures) == FIGURES
    return figures


def test_no_tick_labels_overlap(sweep_figures):
    for name, figure in sweep_figures.items():
        figure.draw_without_rendering()
        renderer = figure.canvas.get_renderer()
        for ax in figure.axes:
            if not ax.get_visible():
                continue
            for axis in (ax.xaxis, ax.yaxis):
                boxes = [t.get_window_extent(renderer) for minor in (False, True)
                         for t in axis.get_ticklabels(minor=minor) if t.get_visible() and t.get_text()]
                for first, second in itertools.combinations(boxes, 2):
                    assert not first.overlaps(second), (name, ax.get_title(), axis.axis_name)


def test_paper_size(sweep_figures):
    for name, figure in sweep_figures.items():
        assert figure.get_figwidth() in (va.palette.SINGLE_COLUMN, va.palette.DOUBLE_COLUMN), name


def colours_of(figure, label: str) -> set:
    """The colours of every bar, line and legend entry labelled `label` in a figure."""
    found = set()
    for ax in figure.axes:
        for artist in [*ax.patches, *ax.lines]:
            if artist.get_label() == label:
                colour = artist.get_facecolor() if hasattr(artist, "get_height") else artist.get_color()
                found.add(matplotlib.colors.to_hex(colour))
    for legend in figure.legends:
        for handle, text in zip(legend.legend_handles if hasattr(legend, "legend_handles") else legend.legendHandles,
                                legend.get_texts()):
            if text.get_text() == label:
                colour = handle.get_facecolor() if hasattr(handle, "get_height") else handle.get_color()
                found.add(matplotlib.colors.to_hex(colour))
    return found


def test_one_colour_per_mode_and_reason_in_every_figure(sweep_figures):
    shadow = va.palette.MODE_COLOURS["shadow"].lower()
    assert colours_of(sweep_figures["speedup-over-native"], "shadow paging") == {shadow}
    assert colours_of(sweep_figures["walk-latency-cdf"], "shadow paging") == {shadow}
    hidden = va.palette.REASON_COLOURS["#PF: hidden fault"].lower()
    for name in ("exit-counts", "exit-cycles", "cycles-per-exit"):
        assert colours_of(sweep_figures[name], "#PF: hidden fault") == {hidden}, name
    # Modes and reasons have colours of their own.
    assert len(set(va.palette.MODE_COLOURS.values())) == len(va.palette.MODE_COLOURS)
    assert len(set(va.palette.REASON_COLOURS.values())) == len(va.palette.REASON_COLOURS)


def test_words_not_keys(sweep_figures):
    for name, figure in sweep_figures.items():
        texts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
        for key in ["memory_virtualization", "workload.kind", "machine.preset", "system.nested.page_size",
                    "fork_and_wait", "sim.cycles", "nehalem"]:
            assert not [t for t in texts if key in t.split()], (name, key)


def test_deterministic_settings_are_named_in_the_figure(sweep_small_result):
    with va.load(sweep_small_result) as r:
        wide = va.sweep_wide(r, "sim.cycles")
    fork = wide["workload.kind"] == "fork_and_wait"
    first = wide.groupby(SWEPT)["sim.cycles"].transform("first")
    wide.loc[fork, "sim.cycles"] = first[fork]  # fork and wait as if the seed changed nothing
    table = va.speedups(wide, baseline="shadow", candidates=["nested"])
    figure = va.figures.speedup_figure(table, "test")
    assert table.loc[table["workload.kind"] == "fork_and_wait", "deterministic"].all()
    assert not table.loc[table["workload.kind"] == "gups", "deterministic"].any()
    intervals = [c for ax in figure.axes for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    assert sum(len(c.lines[2][0].get_segments()) for c in intervals) == (~table["deterministic"]).sum()
    notes = " ".join(" ".join(t.get_text() for t in figure.texts).split())  # as one line
    assert "Deterministic (every seed gives the same result, so no interval): fork and wait." in notes


@pytest.fixture(scope="module")
def vmx_and_svm(tmp_path_factory, virtsim_binary) -> dict[str, Path]:
    """tiny.toml's fork-and-wait under shadow and nested paging on a VT-x (Skylake) and an
    AMD-V (Zen 2) preset."""
    folder = tmp_path_factory.mktemp("vendors")
    config = (Path(__file__).parent / "data" / "tiny.toml").read_text()
    files = {}
    for preset in ("skylake", "zen2"):
        (folder / f"{preset}.toml").write_text(config.replace('preset = "skylake"', f'preset = "{preset}"'))
        files[preset] = folder / f"{preset}.h5"
        subprocess.run([str(virtsim_binary), "run", str(folder / f"{preset}.toml"), "--set", "workload.kind=fork_and_wait",
                        "--set", 'experiment.compare="shadow,nested"', "-o", str(files[preset]), "-q"], check=True,
                       env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"), timeout=300)
    return files


def test_exit_reasons_have_one_name_across_vendors(vmx_and_svm):
    with va.load(vmx_and_svm["skylake"]) as r:
        vmx = va.exits_table(r)
        assert va.with_reasons(r.exits())["reason"].tolist() == vmx["reason"].tolist()
    with va.load(vmx_and_svm["zen2"]) as r:
        svm = va.exits_table(r)
    assert set(vmx["mode"]) == {"vmx"} and set(svm["mode"]) == {"svm"}
    # The manuals' names differ (but for INVLPG, which both call so: a copy-on-write copy
    # invalidates the old page)...
    assert set(vmx["name"]) & set(svm["name"]) <= {"INVLPG"}
    assert set(vmx["reason"]) == set(svm["reason"])   # ...the common ones do not
    assert {"#PF: hidden fault", "nested page fault", "control-register access"} <= set(vmx["reason"])
    # The raw code and name stay in the frame: #PF is VMX's reason 0 and SVM's code 0x4E (vector 14).
    assert set(vmx.loc[vmx["reason"] == "#PF: hidden fault", ["code", "name"]].itertuples(index=False)) == {
        (0, "Exception or NMI (#PF: hidden fault)")}
    assert set(svm.loc[svm["reason"] == "#PF: hidden fault", ["code", "name"]].itertuples(index=False)) == {
        (0x4E, "EXCEPTION_14 (#PF: hidden fault)")}
    assert set(svm.loc[svm["reason"] == "nested page fault", "name"]) == {"NPF"}


def test_common_reason_names():
    from virtsim_analysis.exit_reasons import common_reason
    assert common_reason("svm", 0x4E, "EXCEPTION_14") == common_reason("svm", 0x4E, "EXCEPTION_14") == "page fault (#PF)"
    assert common_reason("svm", 0x4D, "EXCEPTION_13") == "exception #GP"
    assert common_reason("vmx", 0, "Exception or NMI") == "exception or NMI"  # the vector is not in the code
    assert common_reason("vmx", 31, "RDMSR") == common_reason("vmx", 32, "WRMSR") == common_reason("svm", 0x7C, "MSR")
    assert common_reason("vmx", 28, "Control-register access") == common_reason("svm", 0x013, "CR_WRITE_CR3")
    assert common_reason("vmx", 48, "EPT violation") == common_reason("svm", 0x400, "NPF") == "nested page fault"
    assert common_reason("vmx", 999, "unknown (999)") == "unknown (999)"


def test_figures_of_files_without_sweep(compare_result, tiny_result, tmp_path):
    result = figures_cli(str(compare_result), "-o", str(tmp_path / "compare"))
    assert result.returncode == 0, result.stderr
    stems = sorted({p.stem for p in written(result)})
    assert stems == ["cycles-per-exit", "exit-counts", "exit-cycles", "ref-grid", "walk-latency-cdf"]
    assert_formats(written(result), stems)
    assert f"{compare_result}: no '/sweep' dataset: no speedup figures" in result.stderr
    result = figures_cli(str(tiny_result), "-o", str(tmp_path / "tiny"), "--only", "grid", "--only", "cdf")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in written(result)] == [f"{stem}.{fmt}" for stem in ["ref-grid", "walk-latency-cdf"]
                                                 for fmt in ("png", "svg", "pdf")]
    assert_formats(written(result), ["ref-grid", "walk-latency-cdf"])


@pytest.mark.parametrize("case", ["missing", "not-hdf5", "no-sweep", "metric", "baseline", "output-is-a-file"])
def test_figures_bad_input(case, sweep_small_result, tiny_result, tmp_path):
    out = tmp_path / "figs"
    args, fragments = {
        "missing": ([str(tmp_path / "nope.h5")], [f"{tmp_path / 'nope.h5'}: result file not found"]),
        "not-hdf5": ([str(tmp_path / "text.h5")], [f"{tmp_path / 'text.h5'}: not an HDF5 file"]),
        "no-sweep": ([str(tiny_result), "--only", "speedup"], [f"{tiny_result}: no '/sweep' dataset"]),
        "metric": ([str(sweep_small_result), "--metric", "sim.cylces"],
                   [f"{sweep_small_result}: no metric 'sim.cylces'", "did you mean sim.cycles"]),
        "baseline": ([str(sweep_small_result), "--baseline", "paravirt"],
                     [f"{sweep_small_result}: no 'memory_virtualization' = 'paravirt'"]),
        "output-is-a-file": ([str(tiny_result)], [f"{tmp_path / 'file'}: exists and is not a directory"]),
    }[case]
    (tmp_path / "text.h5").write_text("not a result file")
    (tmp_path / "file").write_text("")
    if case == "output-is-a-file":
        out = tmp_path / "file"
    result = figures_cli(*args, "-o", str(out))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("virtsim_analysis: error: ")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert not written(result)
    assert case == "output-is-a-file" or not out.exists()  # checked before anything is written


def test_write_figures_rejects_unknown_kinds(tiny_result, tmp_path):
    with pytest.raises(ValueError, match="unknown figure kind 'bars'"):
        va.figures.write_figures(tiny_result, tmp_path / "f", kinds=["bars"])
    assert not (tmp_path / "f").exists()
