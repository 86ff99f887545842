"""`virtsim regress`: the shipped fast subset passes; a case whose expectation the model does
not meet fails with status 1 and says so in the table and the report; golden values catch
drift; bad cases are refused naming the file and key."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "experiments" / "regression"
ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


def regress(binary: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "regress", *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=900)


def test_fast_subset_passes_and_reports(virtsim_binary, tmp_path):
    out = tmp_path / "out"
    result = regress(virtsim_binary, str(CASES), "-j", "2", "--output-dir", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["suite"] == "fast"
    fast = sorted(p.stem for p in CASES.glob("*.toml") if "fast = true" in p.read_text())
    assert sorted(c["name"] for c in report["cases"]) == fast
    assert all(c["pass"] and c["checks"] for c in report["cases"])
    kinds = {c["kind"] for c in report["cases"]}
    assert kinds == {"analytic", "published", "measured", "golden"}
    walk = next(c for c in report["cases"] if c["name"] == "walk-refs-4level")
    assert {c["check"]: c["measured"] for c in walk["checks"]}["nested:walk.refs_per_walk"] == 24
    markdown = (out / "report.md").read_text()
    assert "| walk-refs-4level | analytic | `nested:walk.refs_per_walk` | 24 ± 0 | 24 | pass |" in markdown
    assert (out / "walk-refs-4level.h5").is_file()


def copy_case(name: str, into: Path, edit=lambda text: text) -> Path:
    into.mkdir(exist_ok=True)
    target = into / f"{name}.toml"
    target.write_text(edit((CASES / f"{name}.toml").read_text()))
    return target


def test_an_unmet_expectation_fails(virtsim_binary, tmp_path):
    cases = tmp_path / "cases"
    copy_case("walk-refs-4level", cases, lambda t: t.replace("value = 24", "value = 23"))
    out = tmp_path / "out"
    result = regress(virtsim_binary, str(cases), "--full", "--output-dir", str(out))
    assert result.returncode == 1
    line = next(l for l in result.stdout.splitlines() if "nested:walk.refs_per_walk" in l)
    assert "FAIL: off by 1" in line and " 24 " in line
    report = json.loads((out / "report.json").read_text())
    assert report["cases"][0]["pass"] is False
    assert "0 of 1 cases pass" in result.stdout


def test_golden_values_catch_drift(virtsim_binary, tmp_path):
    cases = tmp_path / "cases"
    copy_case("golden-exitbench-skylake-sp", cases)
    missing = regress(virtsim_binary, str(cases), "--output-dir", str(tmp_path / "o1"))
    assert missing.returncode == 2
    assert "--record-golden --case golden-exitbench-skylake-sp" in missing.stderr
    recorded = regress(virtsim_binary, str(cases), "--record-golden", "--output-dir", str(tmp_path / "o2"))
    assert recorded.returncode == 0, recorded.stderr
    golden = (cases / "golden" / "golden-exitbench-skylake-sp.toml").read_text()
    # The same values the project's own golden file holds: the model has not drifted.
    shipped = (CASES / "golden" / "golden-exitbench-skylake-sp.toml").read_text()
    assert golden.split("[metrics]")[1] == shipped.split("[metrics]")[1]
    assert regress(virtsim_binary, str(cases), "--output-dir", str(tmp_path / "o3")).returncode == 0
    # A change in the model's results (here, a costlier VM exit) is caught.
    copy_case("golden-exitbench-skylake-sp", cases, lambda t: t + "\n[system.vmx]\nvm_exit_cycles = 439\n")
    drifted = regress(virtsim_binary, str(cases), "--output-dir", str(tmp_path / "o4"))
    assert drifted.returncode == 1
    assert "workload.cycles_per_operation" in drifted.stdout and "FAIL" in drifted.stdout


def test_bad_cases_are_refused(virtsim_binary, tmp_path):
    cases = tmp_path / "cases"
    copy_case("walk-refs-4level", cases, lambda t: t.replace('kind = "analytic"', 'kind = "guessed"'))
    result = regress(virtsim_binary, str(cases), "--full", "--output-dir", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "walk-refs-4level.toml:8:8: key 'case.kind'" in result.stderr
    unknown = regress(virtsim_binary, str(CASES), "--case", "no-such-case", "--output-dir", str(tmp_path / "o"))
    assert unknown.returncode == 2 and "--case no-such-case: no such case" in unknown.stderr


def test_a_case_whose_experiment_fails_is_an_error_not_a_pass(virtsim_binary, tmp_path):
    cases = tmp_path / "cases"
    copy_case("walk-refs-4level", cases, lambda t: t.replace("[experiment]", "[system.cpu0.dtlb]\nentries_4k = -1\n[experiment]"))
    result = regress(virtsim_binary, str(cases), "--full", "--output-dir", str(tmp_path / "o"))
    assert result.returncode == 1
    # A bad parameter stops the comparison before any mode runs: no result at all.
    assert "ERROR" in result.stdout and "the experiment wrote no result (exit status 2" in result.stdout


def test_every_case_is_listed_in_the_folders_readme():
    readme = (CASES / "README.md").read_text()
    for case in CASES.glob("*.toml"):
        fast = "yes" if "\nfast = true" in case.read_text() else "no"
        assert f"| `{case.stem}` |" in readme, case.stem
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{case.stem}` |"))
        assert f"| {fast} |" in row, (case.stem, row)
