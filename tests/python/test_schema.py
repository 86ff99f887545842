"""A real result file checked point by point against docs/results-schema.md."""
from __future__ import annotations

import json

import h5py
import numpy as np

from virtsim_analysis import CANONICAL_METRICS


def test_root_attributes(tiny_result):
    with h5py.File(tiny_result) as f:
        assert f.attrs["schema_version"] == 1
        assert np.issubdtype(f.attrs["schema_version"].dtype, np.integer)
        for name in ["virtsim_version", "git_revision", "created"]:
            assert isinstance(f.attrs[name], str) and f.attrs[name]
        assert f.attrs["created"].endswith("Z") and "T" in f.attrs["created"]
        assert list(f["runs"].keys()) == ["run0000"]
    assert not list(tiny_result.parent.glob("*.tmp-*"))


def test_run_attributes(tiny_result):
    with h5py.File(tiny_result) as f:
        run = f["runs/run0000"]
        assert "# file: " in run.attrs["config"] and "[workload]" in run.attrs["config"]
        parameters = json.loads(run.attrs["parameters"])
        assert parameters["workload.accesses"] == 20000          # from tiny.toml
        assert parameters["system.cpu0.dtlb.entries_4k"] == 64   # from the skylake preset
        assert run.attrs["seed"] == 1 and run.attrs["seed"].dtype == np.uint64
        assert run.attrs["status"] == "ok"
        assert run.attrs["wall_seconds"] > 0
        assert run.attrs["simulated_seconds"] > 0


def test_metrics_table(tiny_result):
    with h5py.File(tiny_result) as f:
        metrics = f["runs/run0000/metrics"]
        assert metrics.dtype.names == ("name", "value", "unit", "kind")
        assert metrics.dtype["value"] == np.float64
        rows = metrics[()]
        names = [n.decode() for n in rows["name"]]
        assert len(names) == len(set(names))
        assert set(CANONICAL_METRICS) <= set(names)
        assert {k.decode() for k in rows["kind"]} <= {"counter", "scalar", "formula"}


def test_exits_table(tiny_result):
    with h5py.File(tiny_result) as f:
        exits = f["runs/run0000/exits"]
        assert exits.dtype.names == ("mode", "code", "name", "count", "cycles")
        assert exits.dtype["code"] == np.int64 and exits.dtype["count"] == np.uint64
        assert exits.ndim == 1  # native run: zero rows


def test_stats_datasets(tiny_result):
    with h5py.File(tiny_result) as f:
        stats = f["runs/run0000/stats"]
        kinds = set()
        for name, dataset in stats.items():
            kind = dataset.attrs["kind"]
            kinds.add(kind)
            assert dataset.attrs["unit"] is not None and dataset.attrs["description"], name
            assert dataset.dtype == np.uint64, name
            if kind == "histogram":
                assert dataset.ndim == 1
                for attr in ["low", "width", "underflow", "overflow", "samples", "sum", "min", "max", "mean"]:
                    assert attr in dataset.attrs, (name, attr)
                assert dataset[()].sum() + dataset.attrs["underflow"] + dataset.attrs["overflow"] \
                    == dataset.attrs["samples"]
            elif kind == "vector":
                assert len(dataset.attrs["labels"]) == dataset.shape[0]
            elif kind == "matrix":
                assert dataset.ndim == 2
                assert len(dataset.attrs["row_labels"]) == dataset.shape[0]
                assert len(dataset.attrs["column_labels"]) == dataset.shape[1]
            else:
                raise AssertionError(f"unexpected kind {kind} for {name}")
        assert {"histogram", "vector"} <= kinds


def test_walk_links_resolve_to_histograms(tiny_result):
    with h5py.File(tiny_result) as f:
        walks = f["runs/run0000/walks"]
        for name in ["refs_per_walk", "walk_cycles"]:
            link = walks.get(name, getlink=True)
            assert isinstance(link, h5py.SoftLink), name
            assert link.path.startswith("/runs/run0000/stats/")
            assert walks[name].attrs["kind"] == "histogram"


def test_reference_grid_links(tiny_result):
    with h5py.File(tiny_result) as f:
        run = f["runs/run0000"]
        walks = run["walks"]
        grid = walks["ref_grid"]
        assert grid.attrs["kind"] == "matrix"
        assert list(grid.attrs["row_labels"].astype(str)) == ["gL5", "gL4", "gL3", "gL2", "gL1", "gPA"]
        assert list(grid.attrs["column_labels"].astype(str)) == ["nL5", "nL4", "nL3", "nL2", "nL1", "entry"]
        served = sum(walks[n][()] for n in ["ref_grid_l1", "ref_grid_l2", "ref_grid_llc", "ref_grid_dram"])
        assert (served == grid[()]).all()  # every reference was served by exactly one level
        assert grid[()][:, :5].sum() == 0  # a native run walks no nested level


def test_timeline(tiny_result):
    with h5py.File(tiny_result) as f:
        timeline = f["runs/run0000/timeline"]
        columns = list(timeline.attrs["columns"])
        assert timeline.dtype == np.float64 and timeline.ndim == 2
        assert columns[0] == "cycle"
        assert len(columns) == timeline.shape[1]
        assert timeline.shape[0] > 1  # tiny.toml dumps periodically
        cycles = timeline[:, 0]
        assert (np.diff(cycles) >= 0).all()
        metric_names = {n.decode() for n in f["runs/run0000/metrics"]["name"]}
        assert set(columns[1:]) == metric_names


def test_partial_run_attributes(virtsim_binary, tmp_path):
    """A run that stops on an error midway: status "partial" and an "error" string, the rest as usual."""
    from test_cli import SINGLE, virtsim
    from virtsim_analysis import CANONICAL_METRICS as canonical

    trace = tmp_path / "t.vst"
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "100000").returncode == 0
    data = trace.read_bytes()
    trace.write_bytes(data[:len(data) * 2 // 3])
    out = tmp_path / "partial.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{trace}"')
    assert result.returncode == 1
    with h5py.File(out) as f:
        assert f.attrs["schema_version"] == 1
        run = f["runs/run0000"]
        assert run.attrs["status"] == "partial"
        assert isinstance(run.attrs["error"], str) and "truncated block" in run.attrs["error"]
        names = {n.decode() for n in run["metrics"][()]["name"]}
        assert set(canonical) <= names
        assert run["timeline"].shape[0] >= 1


def test_ok_run_has_no_error_attribute(tiny_result):
    with h5py.File(tiny_result) as f:
        assert "error" not in f["runs/run0000"].attrs


def test_sweep_table(virtsim_binary, tmp_path):
    """The /sweep table's fields, types and attributes as the schema page lists them."""
    import os
    import subprocess
    from pathlib import Path

    config = tmp_path / "s.toml"
    config.write_text('[workload]\nfootprint_kib = 1024\naccesses = 2000\nwarmup_accesses = 100\n'
                      '[sweep]\nseeds = [3, 4]\n[sweep.grid]\nworkload.store_fraction = [0.1, 1]\n'
                      'system.shadow.out_of_sync = [true]\nworkload.kind = ["synthetic"]\n'
                      'workload.compute_per_access = [2, 5]\n')
    out = tmp_path / "s.h5"
    subprocess.run([str(virtsim_binary), "sweep", str(config), "-o", str(out), "-q"], check=True, timeout=300,
                   env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    with h5py.File(out) as f:
        sweep = f["sweep"]
        assert sweep.dtype.names == ("point", "run_id", "status", "error", "seed", "workload.store_fraction",
                                     "system.shadow.out_of_sync", "workload.kind", "workload.compute_per_access")
        assert sweep.dtype["point"] == np.int64 and sweep.dtype["seed"] == np.uint64
        assert sweep.dtype["workload.store_fraction"] == np.float64      # 0.1 and 1: numbers
        assert sweep.dtype["workload.compute_per_access"] == np.int64    # integers
        assert h5py.check_string_dtype(sweep.dtype["system.shadow.out_of_sync"]) is not None
        rows = sweep[()]
        assert [r["system.shadow.out_of_sync"].decode() for r in rows] == ["true"] * 8
        assert [int(r["seed"]) for r in rows] == [3, 4] * 4
        assert list(sweep.attrs["parameters"]) == list(sweep.dtype.names[5:])
        assert sweep.attrs["points"] == 8 and "[sweep]" in sweep.attrs["config"]
        assert sorted(f["runs"].keys()) == [r["run_id"].decode() for r in rows]
    assert not list(Path(str(out) + ".points").glob("*.tmp-*"))
