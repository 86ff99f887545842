"""Where result files go and what comes back out of them: virtsim writes only regular files,
through temporaries no one can plant a link for, says so when the disk is full, writes every
documented vCPU count, and both readers refuse a damaged file before libhdf5 touches it."""
from __future__ import annotations

import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "python" / "data" / "tiny.toml"
# A few thousand accesses: enough for a real result file, well under a second.
SMALL = ("--set", "workload.accesses=2000", "--set", "workload.warmup_accesses=200")
ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


def virtsim(binary: Path, *args: str, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300,
                          **kwargs)


def summary(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "virtsim_analysis", "summary", str(path)], capture_output=True,
                          text=True, env=dict(ENV, PYTHONPATH=str(REPO / "analysis")), timeout=120)


def one_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("virtsim: error")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, result.stderr)


@pytest.fixture(scope="module")
def small_result(tmp_path_factory, virtsim_binary) -> Path:
    out = tmp_path_factory.mktemp("small") / "small.h5"
    result = virtsim(virtsim_binary, "run", str(TINY), *SMALL, "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    return out


# ---- only regular files are written, never replaced otherwise --------------------------


# Each kind of path that is not a regular file, made in a folder; the error virtsim gives for it.
SPECIAL = {
    "fifo": (lambda p: os.mkfifo(p), "is a FIFO"),
    "device": (lambda p: os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3)), "is a character device"),  # /dev/null's
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "link": (lambda p: p.symlink_to(p.parent / "victim.txt"), "is a symbolic link"),
    "dangling": (lambda p: p.symlink_to(p.parent / "nowhere"), "is a symbolic link"),
}


def kinds(where: Path) -> dict[str, tuple]:
    return {p.name: (stat.S_IFMT(p.lstat().st_mode), p.lstat().st_rdev) for p in where.iterdir()}


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("kind", list(SPECIAL))
def test_run_never_replaces_what_is_not_a_regular_file(virtsim_binary, tmp_path, kind, force):
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("making a device node needs root; the test command as root runs this case")
    (tmp_path / "victim.txt").write_text("keep me")
    make, expected = SPECIAL[kind]
    path = tmp_path / kind
    make(path)
    before = kinds(tmp_path)
    result = virtsim(virtsim_binary, "run", str(TINY), *SMALL, "-o", str(path), "-q", *(["--force"] if force else []))
    one_error(result, str(path), expected)
    assert kinds(tmp_path) == before  # nothing replaced, nothing left behind
    assert (tmp_path / "victim.txt").read_text() == "keep me"


def test_comparison_sweep_and_regress_outputs_are_checked_too(virtsim_binary, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    compare = virtsim(virtsim_binary, "run", str(TINY), *SMALL, "--set", 'experiment.compare="native,shadow"',
                      "-o", str(tmp_path / "fifo"), "--force", "-q")
    one_error(compare, "is a FIFO")
    config = tmp_path / "s.toml"
    config.write_text("[workload]\naccesses = 2000\nwarmup_accesses = 100\n[sweep]\nseeds = [1, 2]\n")
    sweep = virtsim(virtsim_binary, "sweep", str(config), "-o", str(tmp_path / "fifo"), "--force", "-q")
    one_error(sweep, "is a FIFO")
    # Checked before any case runs.
    regress = virtsim(virtsim_binary, "regress", "--case", "exitbench-cpuid-skylake-sp", "--report",
                      str(tmp_path / "fifo"), "--output-dir", str(tmp_path / "regress"), "-q")
    one_error(regress, "is a FIFO")
    assert not list((tmp_path / "regress").glob("*.h5"))
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)


# ---- temporaries: exclusive, unpredictable, cleaned up after a killed run ------------------


def test_planted_links_at_the_old_predictable_names_are_never_followed(virtsim_binary, tmp_path):
    """Older versions wrote OUT.tmp-<pid>, .virtsim-probe-<pid> and OUT.part-<mode>-<pid>: a link
    planted there had its target overwritten. exec keeps the shell's pid, so the names are known."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out.h5"
    names = ["out.h5.tmp-$$", ".virtsim-probe-$$", "out.h5.part-native-$$", "out.h5.part-shadow-$$"]
    plant = " && ".join(f"ln -s {shlex.quote(str(victim))} {name}" for name in names)
    command = (f"{plant} && exec {shlex.quote(str(virtsim_binary))} run {shlex.quote(str(TINY))} "
               f"{' '.join(SMALL)} --set 'experiment.compare=\"native,shadow\"' -o out.h5 -q")
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, env=ENV,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me"
    with h5py.File(out) as f:
        assert sorted(f["runs"]) == ["native", "shadow"]
    links = [p for p in tmp_path.iterdir() if p.is_symlink()]
    assert len(links) == len(names)  # the planted links are left alone, not replaced
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink()) == ["out.h5", "victim.txt"]


def test_a_killed_runs_temporary_is_removed_by_the_next_run(virtsim_binary, tmp_path):
    """A run killed while writing (here by SIGXFSZ, past a 64 KiB file-size limit) leaves its
    temporary; the next run of the same output removes it, and keeps those it must: a live
    process's, another host's, and anything not a regular file."""
    out = tmp_path / "out.h5"
    killed = subprocess.run(["bash", "-c", f"ulimit -f 64 && exec {shlex.quote(str(virtsim_binary))} run "
                             f"{shlex.quote(str(TINY))} {' '.join(SMALL)} -o out.h5 -q"],
                            cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert killed.returncode == -signal.SIGXFSZ, (killed.returncode, killed.stderr)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith("out.h5.tmp-"), left
    # Others' temporaries, which must stay.
    host = left[0].split("-", 3)[3]
    live = tmp_path / f"out.h5.tmp-{os.getpid()}-abcdefgh-{host}"
    foreign = tmp_path / "out.h5.tmp-1-abcdefgh-some-other-host"
    live.write_text("a live process's")
    foreign.write_text("another host's")
    (tmp_path / "out.h5.tmp-999999999-abcdefgh-x").symlink_to(tmp_path / "nowhere")
    # An older version's leftover, of a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / f"out.h5.tmp-{gone.pid}").write_text("old")

    result = virtsim(virtsim_binary, "run", str(TINY), *SMALL, "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.h5", live.name, foreign.name, "out.h5.tmp-999999999-abcdefgh-x"])


def test_sweep_resume_and_merge_remove_killed_processes_temporaries(virtsim_binary, tmp_path):
    config = tmp_path / "s.toml"
    config.write_text("[workload]\naccesses = 2000\nwarmup_accesses = 100\n[sweep]\nseeds = [1, 2]\n")
    out = tmp_path / "s.h5"
    assert virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "-q").returncode == 0
    host = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()
    out.unlink()
    (tmp_path / "s.h5.points" / "run0001.h5").unlink()  # a point to run again
    leftovers = [tmp_path / f"s.h5.tmp-{gone.pid}-abcdefgh-{host}",
                 tmp_path / "s.h5.points" / f"run0001.h5.tmp-{gone.pid}-abcdefgh-{host}"]
    for leftover in leftovers:
        leftover.write_text("left by a killed process")
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(out), "--resume", "-q")
    assert result.returncode == 0, result.stderr
    assert not [p for p in leftovers if p.exists()]
    with h5py.File(out) as f:
        assert sorted(f["runs"]) == ["run0000", "run0001"]


# ---- every documented vCPU count ----------------------------------------------------------


def test_sixty_four_vcpus_write_a_readable_file(virtsim_binary, tmp_path):
    """From 47 vCPUs on, the timeline's column names no longer fit an HDF5 attribute."""
    out = tmp_path / "c64.h5"
    result = virtsim(virtsim_binary, "run", str(TINY), "--set", "system.cpus=64", "--set", "workload.accesses=500",
                     "--set", "workload.warmup_accesses=50", "--set", "stats.dump_interval=0", "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert virtsim(virtsim_binary, "stats", str(out)).returncode == 0
    import virtsim_analysis as va
    with va.load(out) as r:
        timeline = r.timeline()
        metrics = set(r.metrics()["name"])
    assert list(timeline.columns[:2]) == ["run_id", "cycle"]
    assert set(timeline.columns[2:]) == metrics and len(metrics) > 4000
    assert "system.cpu63.dtlb.accesses" in timeline.columns or any(c.startswith("system.cpu63.") for c in metrics)


# ---- a full disk ----------------------------------------------------------------------------


def test_full_disk_is_said_and_leaves_no_temporary(virtsim_binary, tmp_path):
    """A 64 KiB tmpfs, mounted in a private mount namespace (gone with the command): the result
    does not fit. The error names the file and says why; nothing is left; an existing file at
    the output path keeps its bytes."""
    disk = tmp_path / "disk"
    disk.mkdir()
    runs = (f"{shlex.quote(str(virtsim_binary))} run {shlex.quote(str(TINY))} {' '.join(SMALL)} -q -o {disk}/r.h5")
    script = (f"mount -t tmpfs -o size=64k tmpfs {disk} || exit 111\n"
              f"{runs}; echo status=$?\n"
              f"echo keep > {disk}/r.h5; {runs} --force; echo status=$?\n"
              f"ls -A {disk}; cat {disk}/r.h5\n")
    unshare = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    result = subprocess.run([*unshare, "bash", "-c", script], capture_output=True, text=True, env=ENV, timeout=300)
    if result.returncode == 111 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot mount a small tmpfs here (needs root or user namespaces): {result.stderr.strip()}")
    assert result.stdout.split("\n") == ["status=2", "status=2", "r.h5", "keep", ""], (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("virtsim: error")]
    assert errors == [f"virtsim: error: {disk}/r.h5: cannot write the result file: no space left on device"] * 2, \
        result.stderr
    assert "Segmentation" not in result.stderr


# ---- damaged result files ------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 20, 300, 512, 600, 4096, -5000, -1])
def test_a_flipped_byte_anywhere_is_found_by_both_readers(small_result, tmp_path, virtsim_binary, offset):
    data = bytearray(small_result.read_bytes())
    data[offset] ^= 0x5A
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data)
    one_error(virtsim(virtsim_binary, "stats", str(bad)), f"{bad}: corrupted result file (")
    result = summary(bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [l for l in result.stderr.splitlines() if "corrupted result file" in l]
    assert len(result.stderr.splitlines()) == 1


def test_a_truncated_result_file_is_named_truncated(small_result, tmp_path, virtsim_binary):
    cut = tmp_path / "cut.h5"
    cut.write_bytes(small_result.read_bytes()[:100000])
    one_error(virtsim(virtsim_binary, "stats", str(cut)), "corrupted result file", "truncated")
    assert "truncated" in summary(cut).stderr


def test_an_intact_file_reads_and_has_its_checksum(small_result, virtsim_binary):
    assert virtsim(virtsim_binary, "stats", str(small_result)).returncode == 0
    assert summary(small_result).returncode == 0
    head = small_result.read_bytes()[:512]
    assert head.startswith(b"virtsim result file\nlength ")
    with h5py.File(small_result) as f:
        assert f.userblock_size == 512 and f.attrs["schema_version"] == 1


# ---- summary: what did not complete ----------------------------------------------------------


def test_summary_lists_failed_points_and_partial_runs(virtsim_binary, tmp_path):
    # A point stops midway when its trace turns out cut: a bad value would refuse the whole
    # sweep before it runs.
    trace = tmp_path / "t.vst"
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "20000").returncode == 0
    cut = tmp_path / "cut.vst"
    cut.write_bytes(trace.read_bytes()[: trace.stat().st_size * 2 // 3])
    config = tmp_path / "s.toml"
    config.write_text(f'[workload]\nkind = "trace"\n[sweep.grid]\nworkload.trace.path = ["{trace}", "{cut}"]\n')
    sweep = tmp_path / "s.h5"
    result = virtsim(virtsim_binary, "sweep", str(config), "-o", str(sweep), "-q")
    assert result.returncode == 1, result.stderr
    text = summary(sweep)
    assert text.returncode == 0, text.stderr
    assert "not complete: 1 of 2 points" in text.stdout, text.stdout
    assert "  point 1 (run0001): partial: " in text.stdout and "truncated block" in text.stdout, text.stdout

    partial = tmp_path / "partial.h5"
    run = virtsim(virtsim_binary, "run", str(TINY), "-o", str(partial), "-q", "--set", 'workload.kind="trace"',
                  "--set", f'workload.trace.path="{cut}"')
    assert run.returncode == 1, run.stderr
    text = summary(partial)
    assert text.returncode == 0, text.stderr
    assert "not complete: 1 of 1 runs" in text.stdout
    assert "  run0000: partial: " in text.stdout and "truncated block" in text.stdout
