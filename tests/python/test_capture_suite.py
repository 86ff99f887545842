"""The capture suite (workloads/capture/capture-suite): its committed manifest, the check of
captures against it, and its argument handling. Nothing here captures (lackey takes minutes
per workload): the checks run on small committed samples standing in for captures."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "workloads" / "capture" / "capture-suite"
MANIFEST = REPO / "workloads" / "capture" / "suite.toml"
SAMPLE = REPO / "workloads" / "samples" / "gzip.vst"
WORKLOADS = ["make", "redis", "sqlite", "graph", "gups", "python"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SUITE), *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **(env or {})))


def manifest() -> dict[str, dict]:
    return {w["name"]: w for w in tomllib.loads(MANIFEST.read_text())["workload"]}


def test_list_names_every_workload_with_its_command_and_capture_path(tmp_path):
    result = run("--list", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert re.findall(r"^(\w+): ", result.stdout, flags=re.M) == WORKLOADS
    assert f"{tmp_path}/redis.vst" in result.stdout
    assert "redis-server --port" in result.stdout and "make -j1 -C project" in result.stdout


def test_the_manifest_describes_full_size_captures_of_the_suite():
    entries = manifest()
    assert set(entries) <= set(WORKLOADS)
    for name, e in entries.items():
        assert e["trace"] == f"{name}.vst"
        assert e["capture"] == f"workloads/capture/capture-suite {name}"
        assert e["memory_references"] >= 10**8, f"{name}: the suite's workloads make at least 10^8 memory references"
        assert e["records"] > e["memory_references"] and e["bytes"] > 0 and e["processes"] >= 1
        assert re.fullmatch(r"[0-9a-f]{64}", e["sha256"])
    host = tomllib.loads(MANIFEST.read_text())["host"]
    assert host["valgrind"].startswith("valgrind-") and host["cpus"] >= 1


def fake_manifest(tmp_path: Path, content: bytes) -> Path:
    """A manifest whose one entry, gups, is the committed gzip sample's bytes."""
    path = tmp_path / "suite.toml"
    digest = hashlib.sha256(content).hexdigest()
    path.write_text(f"""[host]
cpus = 1

[[workload]]
name = "gups"
trace = "gups.vst"
capture = "workloads/capture/capture-suite gups"
memory_references = 80000
bytes = {len(content)}
sha256 = "{digest}"
""")
    return path


def test_check_passes_the_capture_the_manifest_describes(tmp_path):
    content = SAMPLE.read_bytes()
    (tmp_path / "gups.vst").write_bytes(content)
    result = run("--check", "-o", str(tmp_path), "--manifest", str(fake_manifest(tmp_path, content)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"gups: ok (80000 memory references, {len(content)} bytes)"


def test_check_names_a_missing_capture_and_the_command_that_makes_it(tmp_path):
    captures = tmp_path / "captures"
    captures.mkdir()
    result = run("--check", "-o", str(captures))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(manifest())
    for line in lines:
        name = line.split(":")[0]
        assert line == f"{name}: missing {captures}/{name}.vst (make it with: workloads/capture/capture-suite {name})"


def test_check_finds_a_capture_of_another_size_or_content(tmp_path):
    content = SAMPLE.read_bytes()
    listing = fake_manifest(tmp_path, content)
    (tmp_path / "gups.vst").write_bytes(content[:-1])
    result = run("--check", "-o", str(tmp_path), "--manifest", str(listing))
    assert result.returncode == 1
    assert f"has {len(content) - 1} bytes, the manifest {len(content)}" in result.stdout
    changed = bytearray(content)
    changed[100] ^= 1
    (tmp_path / "gups.vst").write_bytes(bytes(changed))
    result = run("--check", "-o", str(tmp_path), "--manifest", str(listing))
    assert result.returncode == 1
    assert "sha256 differs from the manifest's (re-capture: workloads/capture/capture-suite gups)" in result.stdout


def test_the_capture_folder_defaults_to_the_environment_then_captures_suite(tmp_path):
    assert f"{REPO}/captures/suite/gups.vst" in run("--list", env={"VIRTSIM_CAPTURES": ""}).stdout
    assert f"{tmp_path}/gups.vst" in run("--list", env={"VIRTSIM_CAPTURES": str(tmp_path)}).stdout


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown workload 'nope' (the suite: make, redis, sqlite, graph, gups, python)"),
    (["--strace", "x.txt", "gups"], "--strace, --rusage and --repeat go with --native"),
    (["--rusage", "x.json", "gups"], "--strace, --rusage and --repeat go with --native"),
    (["--repeat", "2", "gups"], "--strace, --rusage and --repeat go with --native"),
    (["--native", "--repeat", "0", "gups"], "--repeat must be at least 1, not 0"),
    (["--limit-per-process", "0", "gups"], "--limit-per-process must be a positive number of records, not 0"),
    (["--native"], "--native runs one workload: name it"),
    (["--native", "gups", "graph"], "--native runs one workload: name it"),
    (["--check", "nope"], "unknown workload 'nope'"),
])
def test_bad_arguments_are_one_error_line_and_status_2(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("capture-suite: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_modes_exclude_each_other():
    result = run("--check", "--list")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_check_of_a_workload_the_manifest_lacks_names_what_it_has(tmp_path):
    listing = fake_manifest(tmp_path, b"x")
    result = run("--check", "--manifest", str(listing), "graph")
    assert result.returncode == 2
    assert "has no workload 'graph' (it has: gups)" in result.stderr


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("gcc") is None, reason="strace or gcc not installed")
def test_native_run_reports_resource_usage_and_system_calls(tmp_path):
    """The fidelity command's two native runs of a workload, on the smallest one (gups: a
    fraction of a second natively)."""
    rusage, strace = tmp_path / "rusage.json", tmp_path / "strace.txt"
    assert run("--native", "gups", "--rusage", str(rusage), "--repeat", "2").returncode == 0
    import json
    usages = [json.loads(line) for line in rusage.read_text().splitlines()]
    assert len(usages) == 2
    for usage in usages:
        assert usage["minor_faults"] > 8192  # the 32 MiB table alone is 8192 pages
        assert set(usage) == {"minor_faults", "major_faults", "user_seconds", "system_seconds", "wall_seconds"}
    assert run("--native", "gups", "--strace", str(strace)).returncode == 0
    text = strace.read_text()
    assert re.search(r"^(\d+ +)?execve\(\"\./gups\"", text, flags=re.M) and "exit_group" in text


def test_a_missing_trace_names_the_capture_suite_command(tmp_path, virtsim_binary):
    """What the suite's sweep and regression cases print when a capture was never made."""
    missing = tmp_path / "redis.vst"
    result = subprocess.run([str(virtsim_binary), "run", "-q", "--set", 'workload.kind="trace"', "--set",
                             f'workload.trace.path="{missing}"', "-o", str(tmp_path / "out.h5")], capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"virtsim: error: workload.trace.path: {missing} does not exist (if it is a trace of "
                                     "the capture suite, workloads/capture/capture-suite redis makes it: docs/workloads.md)")
