"""The analysis package on a real result file, and its error paths on files made here."""
from __future__ import annotations

import h5py
import pytest

import virtsim_analysis as va


def test_dataframes_are_consistent(tiny_result):
    with va.load(tiny_result) as r:
        assert r.run_ids == ["run0000"]
        tidy = r.metrics()
        assert list(tidy.columns) == ["run_id", "name", "value", "unit", "kind"]
        wide = r.metrics_wide()
        assert wide.shape[0] == 1
        for _, row in tidy.iterrows():
            assert wide.loc[row.run_id, row["name"]] == row.value
        m = wide.loc["run0000"]
        assert m["walk.refs_per_walk"] == pytest.approx(m["walk.refs"] / m["walk.count"])
        assert m["tlb.l1d.misses"] <= m["tlb.l1d.accesses"]
        # One lookup per access of tiny.toml's region of interest, one more for each access
        # restarted after a page fault, and one per load or store of the kernel's work.
        faults = m["system.cpu0.page_faults"]
        assert m["tlb.l1d.accesses"] == 20000 + faults + m["system.kernel.kernel_references"]
        canonical = va.canonical_metrics(r)
        assert list(canonical.columns) == va.CANONICAL_METRICS


def test_distributions_match_the_metrics(tiny_result):
    with va.load(tiny_result) as r:
        m = r.metrics_wide().loc["run0000"]
        refs = r.walk("run0000", "refs_per_walk")
        assert list(refs.columns) == ["bucket_low", "bucket_high", "count"]
        assert refs["count"].sum() + refs.attrs["overflow"] + refs.attrs["underflow"] == m["walk.count"]
        assert refs.attrs["mean"] == pytest.approx(m["walk.refs_per_walk"])
        cycles = r.walk("run0000", "walk_cycles")
        assert cycles.attrs["mean"] == pytest.approx(m["walk.cycles_per_walk"])
        levels = r.vector("run0000", "system.mmu0.walker.refs_by_level")
        assert list(levels.index) == ["L5", "L4", "L3", "L2", "L1"]
        assert levels.sum() == m["walk.refs"]
        with pytest.raises(KeyError):
            r.vector("run0000", "system.mmu0.walker.refs_per_walk")  # a histogram, not a vector


def test_timeline_ends_at_the_final_metrics(tiny_result):
    with va.load(tiny_result) as r:
        timeline = r.timeline()
        last = timeline.iloc[-1]
        m = r.metrics_wide().loc["run0000"]
        assert last["sim.instructions"] == m["sim.instructions"]
        assert last["cycle"] == m["sim.cycles"]
        assert r.exits().empty and list(r.exits().columns) == ["run_id", "mode", "code", "name", "count", "cycles"]
        attrs = r.run_attrs("run0000")
        assert attrs["parameters"]["workload.footprint_kib"] == 4096


def test_schema_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.h5"
    with pytest.raises(va.SchemaError, match="missing.h5: result file not found"):
        va.load(missing)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(va.SchemaError, match="text.h5: not an HDF5 file"):
        va.load(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["schema_version"] = 99
        f.create_group("runs")
    with pytest.raises(va.SchemaError, match="schema version 99"):
        va.load(other)
    bare = tmp_path / "bare.h5"
    with h5py.File(bare, "w") as f:
        f.attrs["schema_version"] = 1
    with pytest.raises(va.SchemaError, match="no '/runs' group"):
        va.load(bare)
