"""The notebooks in analysis/notebooks run headless (nbclient, a kernel of this interpreter) on
a real sweep and write their figures; the numbers they plot are checked against the raw file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import h5py
import pandas as pd
import pytest

from test_analysis_plots import SETTING, assert_png, expected_speedups, raw_exits, raw_points

NOTEBOOKS = Path(__file__).resolve().parents[2] / "analysis" / "notebooks"
KERNEL = "virtsim-python3"


@pytest.fixture(scope="session")
def kernel_path(tmp_path_factory) -> Path:
    """A kernelspec that starts this interpreter (/usr/bin/python3 under scripts/run-tests), so the
    notebooks see the same Debian packages; registered in a private JUPYTER_PATH folder, no pip."""
    found = subprocess.run([sys.executable, "-c", "import ipykernel"], capture_output=True, text=True)
    if found.returncode != 0:
        pytest.fail(f"{sys.executable} cannot import ipykernel: install the Debian package python3-ipykernel")
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({sys.executable})", "language": "python"}))
    return folder


def run_notebook(name: str, results: Path, figures: Path, kernel_path: Path, monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    # The kernel inherits this environment: where the kernelspec is, and the notebook's inputs.
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("VIRTSIM_RESULTS", str(results))
    monkeypatch.setenv("VIRTSIM_FIGURES", str(figures))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # Raises CellExecutionError, with the cell and its traceback, if any cell fails.
    NotebookClient(notebook, timeout=180, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and all(not cell.outputs and cell.execution_count is None for cell in code), path
        # They build on the package rather than on their own copies of it.
        source = "\n".join(cell.source for cell in code)
        assert "import virtsim_analysis as va" in source and "va.load(results)" in source, path


def test_nested_vs_shadow(sweep_small_result, tmp_path, kernel_path, monkeypatch):
    figures = tmp_path / "figures"
    run_notebook("nested_vs_shadow.ipynb", sweep_small_result, figures, kernel_path, monkeypatch)
    for name in ["nested_over_shadow.png", "speedup_over_native.png"]:
        assert_png(figures / name)
    for csv, baseline, candidates in [("nested_over_shadow.csv", "shadow", ["nested"]),
                                      ("speedup_over_native.csv", "native", ["shadow", "nested"])]:
        table = pd.read_csv(figures / csv, dtype=str)
        assert sorted(table["memory_virtualization"].unique()) == sorted(candidates)
        assert (table["baseline"] == baseline).all()
        for candidate in candidates:
            expected = expected_speedups(sweep_small_result, baseline, candidate)
            rows = table[table["memory_virtualization"] == candidate]
            assert len(rows) == len(expected) == 8
            for row in rows.to_dict("records"):
                ratios = expected[tuple(row[c] for c in SETTING)]
                assert float(row["speedup"]) == pytest.approx(sum(ratios) / len(ratios), rel=1e-9)
                assert int(row["n"]) == 2


def test_exits_by_generation(sweep_small_result, tmp_path, kernel_path, monkeypatch):
    figures = tmp_path / "figures"
    run_notebook("exits_by_generation.ipynb", sweep_small_result, figures, kernel_path, monkeypatch)
    for name in ["exit_counts.png", "exit_cycles.png", "cycles_per_exit.png"]:
        assert_png(figures / name)
    # Cycles per exit of a reason over a setting's seeds: its total cycles over its total count.
    totals = defaultdict(lambda: [0.0, 0.0])
    with h5py.File(sweep_small_result) as f:
        for p in raw_points(sweep_small_result):
            key = (p["workload.kind"], p["machine.preset"], p["memory_virtualization"])
            for reason, count in raw_exits(f, p["run_id"], "count").items():
                totals[key + (reason,)][0] += raw_exits(f, p["run_id"], "cycles")[reason]
                totals[key + (reason,)][1] += count
    table = pd.read_csv(figures / "cycles_per_exit.csv", index_col=[0, 1, 2])
    assert table.index.names == ["workload.kind", "machine.preset", "memory_virtualization"]
    # Presets in generation order within each workload: Nehalem before Skylake.
    presets = [p for w, p, m in table.index if w == "fork_and_wait"]
    assert presets == sorted(presets, key=["nehalem", "skylake"].index)
    checked = 0
    for (workload, preset, mode), row in table.iterrows():
        for reason, value in row.items():
            cycles, count = totals.get((workload, preset, mode, reason), (0.0, 0.0))
            if count:
                assert value == pytest.approx(cycles / count)
                checked += 1
            else:
                assert pd.isna(value)  # no such exit: no cost to show
    assert checked >= 4  # shadow's #PF and CR3 exits and nested's EPT violations, on two presets


@pytest.mark.skipif(shutil.which("jupyter") is None, reason="jupyter is not installed (Debian package jupyter-nbconvert)")
def test_relative_paths_are_taken_from_where_the_command_runs(sweep_small_result, tmp_path):
    """`VIRTSIM_RESULTS=in/s.h5 jupyter nbconvert --execute analysis/notebooks/...` typed in a shell
    reads in/s.h5 and writes the figures under the folder it was typed in, although Jupyter runs the
    kernel in the notebook's folder."""
    here = tmp_path / "here"
    (here / "in").mkdir(parents=True)
    shutil.copy(sweep_small_result, here / "in" / "s.h5")
    notebook = os.path.relpath(NOTEBOOKS / "nested_vs_shadow.ipynb", here)
    beside_notebooks = sorted(NOTEBOOKS.iterdir())
    command = (f"VIRTSIM_RESULTS=in/s.h5 VIRTSIM_FIGURES=figures jupyter nbconvert --to notebook --execute "
               f"{notebook} --output {tmp_path}/out.ipynb")
    result = subprocess.run(["bash", "-c", command], cwd=here, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1"))
    assert result.returncode == 0, result.stderr[-4000:]
    assert list((here / "figures").glob("*.png")), sorted(p.name for p in here.rglob("*"))
    assert sorted(NOTEBOOKS.iterdir()) == beside_notebooks
