"""`virtsim sweep` end to end: the points a [sweep] table plans, each simulated as `virtsim
run` would with the same settings, merged into one file with a /sweep table; failures
recorded per point; a killed sweep resumed without losing or repeating a finished point."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SWEEP = REPO / "tests" / "python" / "data" / "sweep-cli.toml"
ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


def virtsim(binary: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def metrics(group: h5py.Group) -> dict[str, float]:
    return {text(row["name"]): float(row["value"]) for row in group["metrics"][:]}


# Host timing, not simulation results: the only metrics that may differ between two runs.
WALL = {"sim.wall_seconds", "sim.references_per_second"}


def simulated(group: h5py.Group) -> dict[str, float]:
    return {k: v for k, v in metrics(group).items() if k not in WALL and "wall" not in k}


@pytest.fixture(scope="module")
def swept(virtsim_binary, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "sweep.h5"
    result = virtsim(virtsim_binary, "sweep", str(SWEEP), "-j", "2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "24 points: 24 ok, 0 partial, 0 failed" in result.stdout
    # Progress: a bar line per point, with the count and an ETA.
    assert "24/24 points, 0 failed" in result.stderr and "ETA" in result.stderr
    return out


def test_sweep_table_has_a_row_per_point_of_the_product(swept):
    with h5py.File(swept) as f:
        table = f["/sweep"][:]
        attrs = f["/sweep"].attrs
        assert list(attrs["parameters"]) == ["memory_virtualization", "machine.preset", "workload.kind",
                                             "workload.footprint_kib"]
        assert int(attrs["points"]) == 24 == len(table)
        assert "[sweep.grid]" in text(attrs["config"])
        assert table.dtype["workload.footprint_kib"] == np.int64  # integers stay integers
        combos = {(text(r["memory_virtualization"]), text(r["machine.preset"]), text(r["workload.kind"]),
                   int(r["workload.footprint_kib"]), int(r["seed"])) for r in table}
        assert len(combos) == 24
        # Zipped lists advance together: gups always with 4096 KiB, fork_and_wait with 2048.
        assert {(c[2], c[3]) for c in combos} == {("gups", 4096), ("fork_and_wait", 2048)}
        assert {c[4] for c in combos} == {1, 2}
        assert [int(r["point"]) for r in table] == list(range(24))
        assert all(text(r["status"]) == "ok" and text(r["error"]) == "" for r in table)
        assert sorted(f["/runs"].keys()) == [f"run{i:04d}" for i in range(24)]


def test_each_run_was_configured_as_its_row_says(swept):
    with h5py.File(swept) as f:
        for row in f["/sweep"][:]:
            run = f["/runs"][text(row["run_id"])]
            params = json.loads(text(run.attrs["parameters"]))
            assert params["workload.kind"] == text(row["workload.kind"])
            assert params["workload.footprint_kib"] == int(row["workload.footprint_kib"])
            assert params["run.seed"] == int(row["seed"]) == int(run.attrs["seed"])
            mode = text(row["memory_virtualization"])
            assert text(run.attrs["memory_virtualization"]) == mode
            assert params["system.shadow.enabled"] == (mode == "shadow")
            assert (params["system.nested.paging"] != "none") == (mode == "nested")
            # The swept preset replaces the file's; the file's own keys still win over it.
            assert params["system.vmx.vm_entry_cycles"] == 500
            expected_exit = 564 if text(row["machine.preset"]) == "nehalem" else None
            if expected_exit:
                assert params["system.vmx.vm_exit_cycles"] == expected_exit
            assert "# sweep point" in text(run.attrs["config"])


def test_a_point_equals_virtsim_run_with_its_settings(virtsim_binary, swept, tmp_path):
    with h5py.File(swept) as f:
        row = f["/sweep"][:][11]  # shadow, skylake, fork_and_wait, seed 2
        assert (text(row["memory_virtualization"]), text(row["machine.preset"]), text(row["workload.kind"]),
                int(row["seed"])) == ("shadow", "skylake", "fork_and_wait", 2)
        point = simulated(f["/runs"][text(row["run_id"])])
    single = tmp_path / "single.h5"
    result = virtsim(virtsim_binary, "run", str(SWEEP), "-q", "-o", str(single),
                     "--set", 'experiment.compare="shadow"', "--set", 'workload.kind="fork_and_wait"',
                     "--set", "workload.footprint_kib=2048", "--set", "run.seed=2")
    assert result.returncode == 0, result.stderr
    with h5py.File(single) as f:
        alone = simulated(f["/runs/shadow"])
    assert point == alone
    assert point["exits.total"] > 0


def test_seeds_and_presets_change_results(swept):
    with h5py.File(swept) as f:
        cycles = {int(r["point"]): metrics(f["/runs"][text(r["run_id"])])["sim.cycles"] for r in f["/sweep"][:]}
    assert cycles[0] != cycles[1]  # seed 1 vs 2, otherwise equal
    assert cycles[0] != cycles[4]  # skylake vs nehalem


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


# A key whose value makes one point invalid, and what the error says about it. The platform
# refuses these only when it is elaborated, which no [sweep] check did before.
BAD_POINTS = [
    ("system.line_bytes", "[64, 48]", "system.line_bytes = 48"),
    ("system.cpu0.dtlb.entries_4k", "[64, 7]", "system.cpu0.dtlb.entries_4k = 7"),
    ("system.nested.page_size", '["4k", "3m"]', "key 'system.nested.page_size'"),
]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize("key, values, fragment", BAD_POINTS, ids=[k for k, _, _ in BAD_POINTS])
def test_a_bad_point_refuses_the_sweep_before_anything_runs(virtsim_binary, tmp_path, key, values, fragment, dry_run):
    config = tmp_path / "bad.toml"
    config.write_text(SWEEP.read_text().replace('machine.preset = ["skylake", "nehalem"]', f"{key} = {values}"))
    out = tmp_path / "bad.h5"
    before = listing(tmp_path)
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), *(["--dry-run"] if dry_run else []))
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("virtsim: error:")]
    assert len(errors) == 1, result.stderr
    # The file, the point (the first with the bad value: index 1 of 6 x 2 seeds... whichever
    # comes first in the plan) and the key.
    assert f"{config}: sweep point " in errors[0] and fragment in errors[0], errors[0]
    assert result.stdout == ""  # not even the dry run's table
    assert listing(tmp_path) == before  # nothing written: no result, no .points


def test_killed_sweep_resumes_without_losing_or_repeating_points(virtsim_binary, tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text(SWEEP.read_text().replace("accesses = 20000", "accesses = 120000"))
    out = tmp_path / "slow.h5"
    points = Path(str(out) + ".points")
    process = subprocess.Popen([str(virtsim_binary), "sweep", str(config), "-j", "2", "-o", str(out)], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while len(list(points.glob("run*.h5"))) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its point processes, mid-run
    process.wait(timeout=60)
    finished = {p.name: p.stat().st_mtime_ns for p in points.glob("run*.h5")}
    assert 3 <= len(finished) < 24, "the kill came too late to test anything"
    assert not out.exists()

    result = virtsim(virtsim_binary, "sweep", str(config), "-j", "2", "-o", str(out), "--resume")
    assert result.returncode == 0, result.stderr
    assert f"{len(finished)} finished before; running {24 - len(finished)}" in result.stderr
    for name, mtime in finished.items():  # not run again
        assert (points / name).stat().st_mtime_ns == mtime
    assert not list(points.glob("*.tmp-*"))

    clean = tmp_path / "clean.h5"
    assert virtsim(virtsim_binary, "sweep", str(config), "-j", "2", "-o", str(clean), "-q").returncode == 0
    with h5py.File(out) as a, h5py.File(clean) as b:
        assert len(a["/runs"]) == len(b["/runs"]) == 24
        for run_id in b["/runs"]:
            assert simulated(a["/runs"][run_id]) == simulated(b["/runs"][run_id]), run_id


def test_resume_refuses_points_planned_from_another_config(virtsim_binary, tmp_path):
    config = tmp_path / "s.toml"
    config.write_text(SWEEP.read_text())
    out = tmp_path / "s.h5"
    assert virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "-q").returncode == 0
    again = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out))
    assert again.returncode == 2 and "--resume" in again.stderr and ".points" in again.stderr
    config.write_text(SWEEP.read_text().replace("seeds = 2", "seeds = 3"))
    changed = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "--resume")
    assert changed.returncode == 2 and "planned otherwise" in changed.stderr
    assert "line 16 was 'seeds = 2', is now 'seeds = 3'" in changed.stderr
    # --force is named with what it deletes.
    assert "--force deletes the 24 finished points in" in changed.stderr
    # --force starts over with the new plan.
    forced = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "--force", "-q")
    assert forced.returncode == 0, forced.stderr
    with h5py.File(out) as f:
        assert len(f["/sweep"]) == 36


def test_resume_finds_the_same_config_however_its_path_is_spelt(virtsim_binary, tmp_path):
    (tmp_path / "s.toml").write_text(SWEEP.read_text())
    first = virtsim(virtsim_binary, "sweep", "s.toml", "-o", "s.h5", "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    points = tmp_path / "s.h5.points"
    finished = {p.name: p.stat().st_mtime_ns for p in points.glob("run*.h5")}
    assert len(finished) == 24
    for spelling in ("./s.toml", str(tmp_path / "s.toml"), "../" + tmp_path.name + "/s.toml"):
        again = virtsim(virtsim_binary, "sweep", spelling, "-o", "s.h5", "--resume", cwd=tmp_path)
        assert again.returncode == 0, (spelling, again.stderr)
        assert "24 finished before; running 0" in again.stderr, again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in points.glob("run*.h5")} == finished


def test_resume_with_another_set_is_refused_saying_what_differs(virtsim_binary, tmp_path):
    """Points simulated under other --set values must not be merged with new ones."""
    config = tmp_path / "s.toml"
    config.write_text(SWEEP.read_text())
    out = tmp_path / "s.h5"
    assert virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "-q",
                   "--set", "workload.accesses=10000").returncode == 0
    before = listing(tmp_path)
    for sets, planned_then in (([], "--set 'workload.accesses=10000', now with no --set"),
                               (["--set", "workload.accesses=30000"],
                                "--set 'workload.accesses=10000', now with --set 'workload.accesses=30000'")):
        result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "--resume", *sets)
        assert result.returncode == 2, result.stderr
        assert f"planned with {planned_then}" in result.stderr, result.stderr
        assert "--force deletes the 24 finished points" in result.stderr
        assert listing(tmp_path) == before
    same = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "--resume", "--set", "workload.accesses=10000")
    assert same.returncode == 0, same.stderr


def test_resume_is_refused_when_a_preset_changed(virtsim_binary, tmp_path):
    """A preset is part of what a point is: one edited since the points ran refuses --resume."""
    presets = tmp_path / "presets" / "machine"
    presets.mkdir(parents=True)
    (presets / "mine.toml").write_text("[system.vmx]\nvm_exit_cycles = 600\n")
    config = tmp_path / "p.toml"
    config.write_text('[machine]\npreset = "mine"\n[workload]\nkind = "gups"\nfootprint_kib = 1024\n'
                      "warmup_accesses = 100\naccesses = 2000\n[sweep]\nseeds = 2\n")
    out = tmp_path / "p.h5"
    assert virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "-q").returncode == 0
    (presets / "mine.toml").write_text("[system.vmx]\nvm_exit_cycles = 700\n")
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "--resume")
    assert result.returncode == 2
    assert ("preset machine/mine.toml differs (line 2 was 'vm_exit_cycles = 600', is now 'vm_exit_cycles = 700')"
            in result.stderr), result.stderr


def test_dry_run_lists_the_points_and_runs_nothing(virtsim_binary, tmp_path):
    out = tmp_path / "d.h5"
    result = virtsim(virtsim_binary, "sweep", str(SWEEP), "--dry-run", "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "24 points"
    assert lines[1].split() == ["0", "native", "skylake", "gups", "4096", "1"]
    assert not out.exists() and not Path(str(out) + ".points").exists()


@pytest.mark.parametrize("body, fragment", [
    ("[workload]\nkind = \"gups\"\n", "no [sweep] table"),
    ("[sweep.grid]\nworkload.kind = \"gups\"\n", ":2:17: key 'sweep.grid.workload.kind': expected a list"),
    ("[[sweep.zip]]\nworkload.kind = [\"gups\"]\nworkload.accesses = [1, 2]\n", "has 2 values"),
    ("[sweep.grid]\nmemory_virtualization = [\"native\", \"hyper\"]\n", "\"hyper\" is not a memory virtualization"),
    ("[sweep]\nseeds = 2000000\n", ":2:9: key 'sweep.seeds': 2000000 seeds make more points than a sweep may have "
     "(at most 1000000)"),
])
def test_bad_sweeps_are_refused_before_running(virtsim_binary, tmp_path, body, fragment):
    config = tmp_path / "bad.toml"
    config.write_text(body)
    out = tmp_path / "bad.h5"
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert fragment in result.stderr and str(config) in result.stderr
    assert not out.exists() and not Path(f"{out}.points").exists()


def test_a_comparison_inside_a_sweep_is_refused_and_run_says_it_ignores_the_sweep(virtsim_binary, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(SWEEP.read_text() + '\n[experiment]\ncompare = "native,shadow"\n')
    out = tmp_path / "c.h5"
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out))
    assert result.returncode == 2
    assert "key 'experiment.compare'" in result.stderr and "memory_virtualization" in result.stderr
    assert not Path(str(out) + ".points").exists()
    single = virtsim(virtsim_binary, "run", str(SWEEP), "-o", str(tmp_path / "r.h5"))
    assert single.returncode == 0, single.stderr
    assert "has a [sweep] table, which virtsim run ignores" in single.stderr
    with h5py.File(tmp_path / "r.h5") as f:
        assert list(f["/runs"]) == ["run0000"]


def test_a_point_that_stops_midway_is_kept_as_partial(virtsim_binary, tmp_path):
    # 64 MiB of footprint cannot fit in 16 MiB of simulated memory: that point dies midway and
    # keeps what it simulated; the point with enough memory is unaffected.
    config = tmp_path / "mem.toml"
    config.write_text('[workload]\nfootprint_kib = 65536\npattern = "stream"\nstride = 4096\naccesses = 20000\n'
                      "[sweep.grid]\nsystem.memory.size_mib = [16, 256]\n")
    out = tmp_path / "mem.h5"
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out))
    assert result.returncode == 1
    assert "2 points: 1 ok, 1 partial, 0 failed" in result.stdout
    assert "point 0: " in result.stdout and "out of simulated physical memory" in result.stdout
    with h5py.File(out) as f:
        rows = f["/sweep"][:]
        assert [text(r["status"]) for r in rows] == ["partial", "ok"]
        assert "out of simulated physical memory" in text(rows[0]["error"])
        partial = f["/runs"][text(rows[0]["run_id"])]
        assert text(partial.attrs["status"]) == "partial"
        assert metrics(partial)["sim.instructions"] > 0  # what was simulated is kept
