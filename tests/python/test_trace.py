"""Trace files end to end: generate, inspect, print, convert a real program's lackey log, run
it through the simulator (checked against the functional reference), and reject bad files
with the byte offset."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_cli import virtsim, write, expect_error


def test_gen_info_cat(virtsim_binary, tmp_path):
    trace = tmp_path / "g.vst"
    result = virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "2000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    info = virtsim(virtsim_binary, "trace", "info", str(trace))
    assert info.returncode == 0, info.stderr
    assert "version 1" in info.stdout
    counts = {line.split()[0]: int(line.split()[1]) for line in info.stdout.splitlines()[1:]}
    assert counts["load"] + counts["store"] == 2000 + 100  # region of interest plus warm-up
    assert counts["roi_begin"] == counts["roi_end"] == 1
    cat = virtsim(virtsim_binary, "trace", "cat", str(trace), "--limit", "4")
    assert cat.returncode == 0 and len(cat.stdout.splitlines()) == 4
    # Same seed, same bytes; another seed, other bytes.
    again, other = tmp_path / "again.vst", tmp_path / "other.vst"
    virtsim(virtsim_binary, "trace", "gen", "-o", str(again), "--accesses", "2000", "--seed", "3")
    virtsim(virtsim_binary, "trace", "gen", "-o", str(other), "--accesses", "2000", "--seed", "4")
    assert trace.read_bytes() == again.read_bytes() != other.read_bytes()


def test_bad_trace_files_name_the_byte(virtsim_binary, tmp_path):
    trace = tmp_path / "g.vst"
    virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "500")
    data = trace.read_bytes()
    bad = tmp_path / "bad.vst"
    bad.write_bytes(b"PK\x03\x04" + data[4:])
    expect_error(virtsim(virtsim_binary, "trace", "info", str(bad)), str(bad), "byte 0: not a virtsim trace")
    bad.write_bytes(data[:-5])
    expect_error(virtsim(virtsim_binary, "trace", "info", str(bad)), "byte 28: truncated block")
    # A run refuses it before simulating and writes nothing.
    bad.write_bytes(data[:8] + b"\x07\x00" + data[10:])
    out = tmp_path / "x.h5"
    expect_error(virtsim(virtsim_binary, "run", "-o", str(out), "--set", 'workload.kind="trace"',
                         "--set", f'workload.trace.path="{bad}"'), "byte 8: unsupported trace version 7")
    assert not out.exists()
    log = write(tmp_path / "lk.log", "I  0401b792,2\n S 1fff000610,8\nnonsense here\n")
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(tmp_path / "lk.vst")),
                 "lk.log:3: not a lackey line")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.parametrize("nested", ["none", "ept4"])
def test_a_real_program_runs_checked(virtsim_binary, tmp_path, nested):
    """/bin/true traced by Valgrind's lackey, converted, and simulated with every walk checked."""
    log = tmp_path / "true.log"
    subprocess.run(["setarch", "-R", "valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={log}", "/bin/true"],
                   check=True, capture_output=True, timeout=300)
    trace = tmp_path / "true.vst"
    converted = virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(trace))
    assert converted.returncode == 0, converted.stderr
    info = virtsim(virtsim_binary, "trace", "info", str(trace)).stdout
    fetches = int(next(l.split()[1] for l in info.splitlines() if l.strip().startswith("fetch")))
    assert fetches > 10000  # the dynamic loader alone runs tens of thousands of instructions
    out = tmp_path / "true.h5"
    result = virtsim(virtsim_binary, "run", "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{trace}"', "--set", f'system.nested.paging="{nested}"',
                     "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    assert metrics["system.cpu0.fetches"] == fetches
    assert metrics["system.mmu0.checked"] == metrics["walk.count"] > 0
    assert metrics["tlb.l1d.miss_rate"] < 0.05  # a real program has locality
