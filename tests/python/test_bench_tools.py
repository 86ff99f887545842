"""The measuring tools under bench/: the floor tools read what they are given, and the scripts
refuse bad arguments with one clear line. Nothing here measures or asserts a speed."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import REPO

ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


@pytest.fixture(scope="module")
def bench_dir(virtsim_binary):
    tools = virtsim_binary.parent.parent / "bench"
    for name in ("virtsim_floor", "virtsim_trace_floor", "virtsim_trace_head"):
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


def test_trace_head_keeps_the_first_memory_references_and_the_records_before_them(virtsim_binary, bench_dir,
                                                                                  tmp_path):
    trace, head = tmp_path / "hit.vst", tmp_path / "head.vst"
    subprocess.run([str(virtsim_binary), "trace", "gen", "-o", str(trace), "--pattern", "random", "--footprint-kib",
                    "64", "--accesses", "5000"], check=True, env=ENV, capture_output=True, timeout=120)
    out = subprocess.run([str(bench_dir / "virtsim_trace_head"), str(trace), str(head), "1000"], check=True, env=ENV,
                         capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("1000 memory references, ")
    floor = subprocess.run([str(bench_dir / "virtsim_trace_floor"), str(head), "1"], check=True, env=ENV,
                           capture_output=True, text=True, timeout=120).stdout
    assert references(floor) == 1000
    bad = subprocess.run([str(bench_dir / "virtsim_trace_head"), str(trace), str(head), "0"], env=ENV,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "virtsim_trace_head: error: expected TRACE OUTPUT N (N: memory references, at least 1)"


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
     "instructions-per-reference: error: unknown case 'pt_update_x' (expected hit, gups, gups_ept4, fork_native, fork_shadow, build_native,"
     " build_shadow, make_native, make_shadow, pt_update_N, any of those with _functional, floor, make_floor or"
     " make_trace_floor)"),
    ("instructions-per-reference", ["--cases", "floor_functional"],
     "instructions-per-reference: error: unknown case 'floor_functional' (expected hit, gups, gups_ept4, fork_native, fork_shadow, build_native,"
     " build_shadow, make_native, make_shadow, pt_update_N, any of those with _functional, floor, make_floor or"
     " make_trace_floor)"),
    ("instructions-per-reference", ["--speed"],
     "instructions-per-reference: error: unknown argument '--speed' (expected --update-docs, --cases LIST or "
     "--virtsim PATH)"),
    ("throughput", ["--fast"], "throughput: error: unknown option '--fast' (expected --update-docs or --instructions)"),
    ("stats-fingerprint", [], "stats-fingerprint: error: no OUTDIR (usage: bench/stats-fingerprint OUTDIR [--virtsim PATH])"),
    ("stats-fingerprint", ["/tmp/x", "--fast"],
     "stats-fingerprint: error: unknown argument '--fast' (expected OUTDIR and --virtsim PATH)"),
])
def test_scripts_refuse_bad_arguments_with_one_line(script, args, message):
    r = subprocess.run([str(REPO / "bench" / script), *args], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert r.stdout == ""


def test_stats_fingerprint_writes_every_configuration_the_same_way_twice(virtsim_binary, tmp_path):
    # What a speed change is checked with: the statistics of each configuration, as JSON; two
    # runs of one build must agree byte for byte, or a comparison of two builds would mean nothing.
    script = str(REPO / "bench" / "stats-fingerprint")
    for out in ("a", "b"):
        r = subprocess.run([script, str(tmp_path / out), "--virtsim", str(virtsim_binary)], env=ENV,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "a").glob("*.json"))
    assert len(files) == 22
    for name in files:
        assert json.loads((tmp_path / "a" / name).read_text())
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_instructions_per_reference_counts_the_floors_whole_timed_loop(bench_dir):
    # The floor's loop is an L1 DTLB lookup per decoded reference: tens of host instructions. A
    # callgrind toggle that also matched GCC's '[clone .cold]' part of the loop stopped counting
    # at the first miss, and the table said 0.0.
    result = subprocess.run([str(REPO / "bench" / "instructions-per-reference"), "--cases", "floor"], env=ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    per_reference = float(re.search(r"^floor\s+([\d.]+)", result.stdout, flags=re.M).group(1))
    assert per_reference > 10, result.stdout
