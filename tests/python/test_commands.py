"""The everyday commands: `stats --diff`, `stats --csv`, a sweep's stats, `describe --presets`,
`--set machine.preset`, progress on a terminal, and the debug trace (`run --trace`)."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "python" / "data" / "tiny.toml"
PRESETS = REPO / "experiments" / "presets"
ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
# Shadow paging under VT-x with untagged TLBs: VM exits, and a TLB flush at each transition.
SHADOW_UNTAGGED = ("--set", "system.vmx.mode=vmx", "--set", "system.shadow.enabled=true",
                   "--set", "system.vmx.tagged_tlb=false")


def virtsim(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=ENV, timeout=600)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def expect_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("virtsim: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def metrics_of(path: Path, run: str = "run0000") -> dict[str, float]:
    with h5py.File(path, "r") as f:
        rows = f[f"/runs/{run}/metrics"][()]
        return {r["name"].decode(): float(r["value"]) for r in rows}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, virtsim_binary) -> tuple[Path, Path]:
    """tiny.toml twice: as is, and with half the L1 DTLB's 4 KiB entries."""
    folder = tmp_path_factory.mktemp("diff")
    a, b = folder / "a.h5", folder / "b.h5"
    ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(a), "-q"))
    ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(b), "-q", "--set", "system.cpu0.dtlb.entries_4k=32"))
    return a, b


# ---- stats --diff ------------------------------------------------------------------------


def test_diff_lists_what_differs_with_relative_change_sorted(virtsim_binary, two_runs):
    a, b = two_runs
    result = ok(virtsim(virtsim_binary, "stats", str(a), str(b), "--diff", "--csv"))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows, result.stdout
    ma, mb = metrics_of(a), metrics_of(b)
    names = {r["name"] for r in rows}
    # Every scalar metric that differs is listed, none that does not, with both values.
    for name in ma:
        assert (name in names) == (ma[name] != mb[name]), name
    by_name = {r["name"]: r for r in rows}
    misses = by_name["system.cpu0.dtlb.misses"]
    assert float(misses["a"]) == ma["system.cpu0.dtlb.misses"]
    assert float(misses["b"]) == mb["system.cpu0.dtlb.misses"]
    assert float(misses["relative_change"]) == pytest.approx((mb["system.cpu0.dtlb.misses"] - ma["system.cpu0.dtlb.misses"])
                                                             / ma["system.cpu0.dtlb.misses"])
    # Vector statistics are compared element by element, by label.
    assert "system.cpu0.dtlb.fills_by_size[4K]" in names
    changes = [abs(float(r["relative_change"])) for r in rows]
    assert changes == sorted(changes, reverse=True)

    text = ok(virtsim(virtsim_binary, "stats", str(a), str(b), "--diff")).stdout
    assert f"A: {a}" in text and f"B: {b}" in text
    assert f"{len(rows)} of " in text
    line = next(l for l in text.splitlines() if l.split()[:1] == ["system.cpu0.dtlb.misses"])
    assert line.split()[1:3] == [str(int(ma["system.cpu0.dtlb.misses"])), str(int(mb["system.cpu0.dtlb.misses"]))]
    assert re.fullmatch(r"[+-]\d+\.\d\d%", line.split()[3]), line


def test_diff_of_a_file_with_itself_finds_nothing(virtsim_binary, two_runs):
    a, _ = two_runs
    result = ok(virtsim(virtsim_binary, "stats", str(a), str(a), "--diff"))
    assert re.search(r"^0 of \d+ values differ", result.stdout, re.M), result.stdout


def test_diff_bad_input(virtsim_binary, two_runs, tmp_path):
    a, b = two_runs
    expect_error(virtsim(virtsim_binary, "stats", str(a), str(tmp_path / "nope.h5"), "--diff"),
                 f"{tmp_path / 'nope.h5'}: result file not found")
    expect_error(virtsim(virtsim_binary, "stats", str(a), "--diff"), "expected two result files")
    expect_error(virtsim(virtsim_binary, "stats", str(a), str(b)), "compare two with --diff")
    # Files of several runs are matched by run id: a run one file lacks is an error.
    one, other = tmp_path / "one.h5", tmp_path / "other.h5"
    ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(one), "-q", "--set", 'experiment.compare="native,shadow"'))
    ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(other), "-q", "--set", 'experiment.compare="native,nested"'))
    expect_error(virtsim(virtsim_binary, "stats", str(one), str(other), "--diff"), "run ids do not match",
                 f"only in {one}: shadow", f"only in {other}: nested")


# ---- stats --csv and a sweep's stats -----------------------------------------------------


def test_stats_csv_parses_one_row_per_run(virtsim_binary, two_runs):
    a, _ = two_runs
    canonical = json.loads(ok(virtsim(virtsim_binary, "stats", str(a), "--json")).stdout)["run0000"]["metrics"]
    rows = list(csv.DictReader(io.StringIO(ok(virtsim(virtsim_binary, "stats", str(a), "--csv")).stdout)))
    assert len(rows) == 1 and rows[0]["run_id"] == "run0000" and rows[0]["status"] == "ok"
    for name, value in canonical.items():
        assert float(rows[0][name]) == pytest.approx(value, rel=1e-15), name
    every = list(csv.DictReader(io.StringIO(ok(virtsim(virtsim_binary, "stats", str(a), "--csv", "--all")).stdout)))
    assert {k: float(v) for k, v in every[0].items() if k in metrics_of(a)} == metrics_of(a)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory, virtsim_binary) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    config = folder / "sweep.toml"
    config.write_text(TINY.read_text() + '\n[experiment]\ncompare = ""\n\n[sweep.grid]\n'
                      'system.cpu0.dtlb.entries_4k = [32, 64]\nmemory_virtualization = ["native", "nested"]\n')
    out = folder / "sweep.h5"
    ok(virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "-j", "1", "-q"))
    return out


def test_sweep_stats_show_the_swept_values(virtsim_binary, small_sweep):
    text = ok(virtsim(virtsim_binary, "stats", str(small_sweep))).stdout
    with h5py.File(small_sweep, "r") as f:
        table = f["/sweep"][()]
    assert len(table) == 4
    for row in table:
        run, entries, mode = row["run_id"].decode(), int(row["system.cpu0.dtlb.entries_4k"]), row["memory_virtualization"].decode()
        assert f"{run}: system.cpu0.dtlb.entries_4k={entries} memory_virtualization={mode} (status ok" in text, text
    rows = list(csv.DictReader(io.StringIO(ok(virtsim(virtsim_binary, "stats", str(small_sweep), "--csv")).stdout)))
    assert [(r["system.cpu0.dtlb.entries_4k"], r["memory_virtualization"]) for r in rows] == [
        ("32", "native"), ("32", "nested"), ("64", "native"), ("64", "nested")]
    data = json.loads(ok(virtsim(virtsim_binary, "stats", str(small_sweep), "--json")).stdout)
    assert data["run0003"]["sweep"] == {"system.cpu0.dtlb.entries_4k": "64", "memory_virtualization": "nested"}


# ---- describe --presets and --set machine.preset -----------------------------------------


def test_describe_presets_lists_every_preset_with_what_it_sets(virtsim_binary):
    text = ok(virtsim(virtsim_binary, "describe", "--presets")).stdout
    files = sorted(PRESETS.glob("*/*.toml"))
    assert files
    for file in files:
        assert f'{file.parent.name}.preset = "{file.stem}"' in text, file
    skylake = text.split('machine.preset = "skylake"', 1)[1].split(".preset = ", 1)[0]
    assert "Intel Skylake client core" in skylake  # the comment header
    assert "sets:" in skylake
    assert "system.clock_ghz = 2.0" in skylake
    assert 'system."cpu*".dtlb.entries_4k = 64' in skylake


def resolved(binary: Path, *args: str) -> dict[str, object]:
    data = json.loads(ok(virtsim(binary, "describe", "--json", *args)).stdout)
    return {p["name"]: p["value"] for p in data["parameters"]}


def test_set_machine_preset_loads_the_preset(virtsim_binary, tmp_path):
    key = "system.cpu0.stlb.mixed_entries"
    assert resolved(virtsim_binary, str(TINY))[key] == 1536  # skylake, the file's preset
    assert resolved(virtsim_binary, str(TINY), "--set", "machine.preset=bhargava2008")[key] == 0
    assert resolved(virtsim_binary, str(TINY), "--set", 'machine.preset="bhargava2008"')[key] == 0
    assert resolved(virtsim_binary, "--set", "machine.preset=bhargava2008")[key] == 0  # the embedded default
    # The file's own keys, and the other --set assignments, still win over the preset.
    llc = "system.llc.enabled"  # bhargava2008 has no L3; skylake does
    assert resolved(virtsim_binary, str(TINY), "--set", "machine.preset=bhargava2008")[llc] is False
    config = tmp_path / "own.toml"
    config.write_text(TINY.read_text() + "\n[system.llc]\nenabled = true\n")
    assert resolved(virtsim_binary, str(config), "--set", "machine.preset=bhargava2008")[llc] is True
    assert resolved(virtsim_binary, str(config), "--set", f"{llc}=false", "--set", "machine.preset=bhargava2008")[llc] is False
    # A run records the resolved value.
    out = tmp_path / "run.h5"
    ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q", "--set", "machine.preset=bhargava2008"))
    with h5py.File(out, "r") as f:
        parameters = json.loads(f["/runs/run0000"].attrs["parameters"])
    assert parameters[key] == 0
    expect_error(virtsim(virtsim_binary, "describe", "--set", "machine.preset=nope"),
                 '--set machine.preset: unknown preset "nope"', "skylake", "virtsim describe --presets")
    assert not list(tmp_path.glob("*.h5.*"))


def test_set_machine_preset_in_a_sweep_yields_to_a_swept_preset(virtsim_binary, tmp_path):
    def llc_enabled(sweep: str, *sets: str) -> list[bool]:
        config = tmp_path / "sweep.toml"
        config.write_text(TINY.read_text() + '\n[experiment]\ncompare = ""\n\n[sweep.grid]\n' + sweep)
        out = tmp_path / "sweep.h5"
        ok(virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "-j", "2", "-q", "--force", *sets))
        with h5py.File(out, "r") as f:
            return [json.loads(f[f"/runs/{run}"].attrs["parameters"])["system.llc.enabled"] for run in sorted(f["/runs"])]

    assert llc_enabled("system.cpu0.dtlb.entries_4k = [32, 64]\n", "--set", "machine.preset=bhargava2008") == [False, False]
    assert llc_enabled('machine.preset = ["skylake", "bhargava2008"]\n', "--set", "machine.preset=bhargava2008") == [True, False]


# ---- progress ----------------------------------------------------------------------------


def run_on_terminal(binary: Path, *args: str) -> tuple[int, str]:
    """Runs virtsim with stderr on a pseudo-terminal (stdout a pipe); returns status and stderr."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE, stderr=terminal, env=ENV)
    os.close(terminal)
    seen = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 600)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    process.stdout.read()
    return process.wait(timeout=600), seen.decode(errors="replace")


@pytest.fixture(scope="module")
def longer_config(tmp_path_factory) -> Path:
    """tiny.toml with ten times the accesses: a few progress reports."""
    config = tmp_path_factory.mktemp("progress") / "longer.toml"
    config.write_text(TINY.read_text().replace("accesses = 20000", "accesses = 200000"))
    return config


def test_progress_on_a_terminal_shows_elapsed_rate_and_eta(virtsim_binary, longer_config, tmp_path):
    status, stderr = run_on_terminal(virtsim_binary, "run", str(longer_config), "-o", str(tmp_path / "p.h5"))
    assert status == 0, stderr
    updates = [u for u in re.split(r"[\r\n]", stderr) if u.startswith("simulating:")]
    pattern = r"simulating: +(\d+)% \| \d+\.\d s elapsed \| \d+\.\d\d M refs/s( \| ETA \d+\.\d s)?(\x1b\[K)?"
    assert updates and all(re.fullmatch(pattern, u) for u in updates), updates
    assert any("ETA" in u for u in updates), updates
    assert re.fullmatch(r"simulating: 100% .*", updates[-1]) and "ETA" not in updates[-1]


def test_progress_is_quiet_off_a_terminal_and_with_q(virtsim_binary, longer_config, tmp_path):
    result = ok(virtsim(virtsim_binary, "run", str(longer_config), "-o", str(tmp_path / "a.h5")))
    assert "simulating" not in result.stderr and "%" not in result.stderr, result.stderr
    assert "results:" in result.stdout
    status, stderr = run_on_terminal(virtsim_binary, "run", str(longer_config), "-o", str(tmp_path / "b.h5"), "-q")
    assert status == 0 and stderr == "", stderr


# ---- debug trace -------------------------------------------------------------------------

LINE = re.compile(r"cycle (\d+) (cpu\d+) (walk|exit|tlb) (.*)")


def trace_lines(text: str) -> list[re.Match]:
    lines = [LINE.fullmatch(l) for l in text.splitlines()]
    assert all(lines), [l for l in text.splitlines() if not LINE.fullmatch(l)][:3]
    return lines


@pytest.fixture(scope="module")
def traced_run(tmp_path_factory, virtsim_binary) -> tuple[list[re.Match], Path]:
    """tiny.toml under shadow paging with untagged TLBs, every kind traced to a file."""
    folder = tmp_path_factory.mktemp("trace")
    trace, result = folder / "trace.txt", folder / "t.h5"
    ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(result), "-q", *SHADOW_UNTAGGED,
               "--trace", "walk,exit,tlb", "--trace-file", str(trace)))
    return trace_lines(trace.read_text()), result


def test_trace_prints_a_line_per_event_of_each_kind(virtsim_binary, traced_run, tmp_path):
    full_trace, result_file = traced_run
    out = tmp_path / "t.h5"
    kinds = {m.group(3) for m in full_trace}
    assert kinds == {"walk", "exit", "tlb"}
    walks = [m.group(4) for m in full_trace if m.group(3) == "walk"]
    assert all(re.fullmatch(r"va=0x[0-9a-f]+ (1d|2d) refs=\d+ cache_hits=\d+ ad_writes=\d+ cycles=\d+ "
                            r"(fault|page=(4K|2M|1G))", w) for w in walks), walks[:3]
    exits = [m.group(4) for m in full_trace if m.group(3) == "exit"]
    assert all(re.fullmatch(r'vmx reason=\d+ "[^"]+" qualification=0x[0-9a-f]+ cycles=\d+ handler=\d+', e)
               for e in exits), exits[:3]
    tlb = [m.group(4) for m in full_trace if m.group(3) == "tlb"]
    assert any(re.fullmatch(r"system\.cpu0\.dtlb miss va=0x[0-9a-f]+", t) for t in tlb)
    assert any(re.fullmatch(r"system\.cpu0\.dtlb invalidate transition_flush dropped=\d+", t) for t in tlb)
    cycles = [int(m.group(1)) for m in full_trace]
    assert cycles == sorted(cycles)  # one vCPU: in time order
    # One exit line per exit counted, warm-up included (the counter covers the region of interest).
    assert len(exits) >= metrics_of(result_file)["exits.total"] > 0
    # Only the chosen kinds, on stderr when no file is named.
    result = ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q", *SHADOW_UNTAGGED, "--trace", "exit"))
    only = trace_lines(result.stderr)
    assert {m.group(3) for m in only} == {"exit"}
    assert [m.group(0) for m in only] == [m.group(0) for m in full_trace if m.group(3) == "exit"]


def test_trace_honours_the_cycle_range(virtsim_binary, traced_run, tmp_path):
    full_trace, _ = traced_run
    cycles = sorted({int(m.group(1)) for m in full_trace})
    first, last = cycles[len(cycles) // 3], cycles[2 * len(cycles) // 3]
    result = ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(tmp_path / "r.h5"), "-q", *SHADOW_UNTAGGED,
                        "--trace", "walk,exit,tlb", "--trace-cycles", f"{first}:{last}"))
    expected = [m.group(0) for m in full_trace if first <= int(m.group(1)) <= last]
    assert [m.group(0) for m in trace_lines(result.stderr)] == expected
    assert len(expected) < len(full_trace)
    # Open-ended ranges.
    tail = ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(tmp_path / "s.h5"), "-q", *SHADOW_UNTAGGED,
                      "--trace", "exit", "--trace-cycles", f"{last}:"))
    assert [m.group(0) for m in trace_lines(tail.stderr)] == [
        m.group(0) for m in full_trace if m.group(3) == "exit" and int(m.group(1)) >= last]


def test_trace_bad_flags(virtsim_binary, tmp_path):
    out = tmp_path / "o.h5"
    run = ("run", str(TINY), "-o", str(out), "-q")
    expect_error(virtsim(virtsim_binary, *run, "--trace", "walk,pagefault"),
                 "--trace: unknown kind 'pagefault'", "walk, exit, tlb")
    expect_error(virtsim(virtsim_binary, *run, "--trace", "walk", "--trace-cycles", "100"), "expected START:END")
    expect_error(virtsim(virtsim_binary, *run, "--trace", "walk", "--trace-cycles", "x:5"), "'x' is not a cycle number")
    expect_error(virtsim(virtsim_binary, *run, "--trace", "walk", "--trace-cycles", "9:5"), "START is after END")
    expect_error(virtsim(virtsim_binary, *run, "--trace-cycles", "1:5"), "--trace-cycles requires --trace")
    expect_error(virtsim(virtsim_binary, *run, "--trace", "walk", "--trace-file", str(tmp_path / "no" / "t.txt")),
                 f"{tmp_path / 'no' / 't.txt'}: cannot write the trace file")
    expect_error(virtsim(virtsim_binary, *run, "--trace", "walk", "--set", 'experiment.compare="native,shadow"'),
                 "--trace traces one run")
    assert not out.exists()


def test_trace_lines_name_the_vcpu_that_made_the_event(virtsim_binary, tmp_path):
    # Two vCPUs: each TLB line comes from the vCPU whose thread ran the lookup, that vCPU's own TLB.
    result = ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(tmp_path / "two.h5"), "-q", "--set", "system.cpus=2",
                        "--trace", "tlb"))
    lines = trace_lines(result.stderr)
    assert {m.group(2) for m in lines} == {"cpu0", "cpu1"}
    assert all(m.group(4).split(".")[1] == m.group(2) for m in lines)
    # AMD-V exits are named by their exit codes.
    svm = ok(virtsim(virtsim_binary, "run", str(TINY), "-o", str(tmp_path / "svm.h5"), "-q", "--set", "system.vmx.mode=svm",
                     "--set", "system.shadow.enabled=true", "--trace", "exit"))
    exits = [m.group(4) for m in trace_lines(svm.stderr)]
    assert exits and all(re.fullmatch(r'svm reason=\d+ "[^"]+" qualification=0x[0-9a-f]+ cycles=\d+ handler=\d+', e)
                         for e in exits), exits[:3]
