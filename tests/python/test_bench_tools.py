"""The measuring tools under bench/: the floor tools read what they are given, and the scripts
refuse bad arguments with one clear line. Nothing here measures or asserts a speed."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import REPO

ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


@pytest.fixture(scope="module")
def bench_dir(virtsim_binary):
    tools = virtsim_binary.parent.parent / "bench"
    for name in ("virtsim_floor", "virtsim_trace_floor"):
        if not (tools / name).is_file():
            pytest.fail(f"{tools / name} not found: build with VIRTSIM_TESTS and VIRTSIM_BENCHMARKS (scripts/setup)")
    return tools


def references(output: str) -> int:
    return int(re.search(r"memory references (\d+)", output).group(1))


def test_floor_takes_every_memory_record_of_a_trace_as_the_decoding_floor_does(virtsim_binary, bench_dir, tmp_path):
    trace = tmp_path / "hit.vst"
    subprocess.run([str(virtsim_binary), "trace", "gen", "-o", str(trace), "--pattern", "random", "--footprint-kib",
                    "64", "--accesses", "5000"], check=True, env=ENV, capture_output=True, timeout=120)
    decoded = subprocess.run([str(bench_dir / "virtsim_floor"), str(trace), "1"], check=True, env=ENV,
                             capture_output=True, text=True, timeout=120).stdout
    decoding = subprocess.run([str(bench_dir / "virtsim_trace_floor"), str(trace), "1"], check=True, env=ENV,
                              capture_output=True, text=True, timeout=120).stdout
    assert references(decoded) == references(decoding) >= 5000  # at least the accesses asked for
    assert re.search(r"^floor [\d.]+ M memory references/s \(CPU time\)$", decoded, flags=re.M)


def test_floor_generates_the_references_it_is_asked_for(bench_dir):
    out = subprocess.run([str(bench_dir / "virtsim_floor"), "--random", "1000", "1"], check=True, env=ENV,
                         capture_output=True, text=True, timeout=120).stdout
    assert references(out) == 1000
    # 64 KiB are 16 pages: the L1 DTLB misses on each page's first reference only.
    assert re.search(r"L1 DTLB hits (\d+)", out).group(1) == str(1000 - 16)


@pytest.mark.parametrize("args, message", [
    (["--random", "x"], "--random N: expected a whole number >= 1, got 'x'"),
    (["--random", "0"], "--random N: expected a whole number >= 1, got '0'"),
])
def test_floor_refuses_a_bad_count(bench_dir, args, message):
    r = subprocess.run([str(bench_dir / "virtsim_floor"), *args], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().endswith("error: " + message)


@pytest.mark.parametrize("script, args, message", [
    ("instructions-per-reference", ["--cases", "hit,pt_update_x"],
     "instructions-per-reference: error: unknown case 'pt_update_x' (expected hit, gups, gups_ept4, fork_shadow, "
     "pt_update_N, any of those with _functional, or floor)"),
    ("instructions-per-reference", ["--cases", "floor_functional"],
     "instructions-per-reference: error: unknown case 'floor_functional' (expected hit, gups, gups_ept4, fork_shadow, "
     "pt_update_N, any of those with _functional, or floor)"),
    ("instructions-per-reference", ["--speed"],
     "instructions-per-reference: error: unknown argument '--speed' (expected --update-docs, --cases LIST or "
     "--virtsim PATH)"),
    ("throughput", ["--fast"], "throughput: error: unknown option '--fast' (expected --update-docs or --instructions)"),
])
def test_scripts_refuse_bad_arguments_with_one_line(script, args, message):
    r = subprocess.run([str(REPO / "bench" / script), *args], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert r.stdout == ""
