"""Trace files that are cut, damaged or about to be overwritten: version 2's checksums and
trailer catch what version 1 let through, and `trace gen` / `trace convert` never lose a file
that existed before them."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from test_cli import virtsim, write, expect_error
from test_trace import SAMPLES, raw_trace


def block_offsets(data: bytes) -> list[int]:
    """The offsets of a version 2 trace's block headers, then of its trailer."""
    offsets, offset = [], 16
    while True:
        offsets.append(offset)
        size = int.from_bytes(data[offset:offset + 4], "little")
        if size == 0:
            return offsets
        offset += 16 + size


def test_a_trace_cut_at_a_block_boundary_is_an_error(virtsim_binary, tmp_path):
    trace = tmp_path / "g.vst"
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "100000").returncode == 0
    data = trace.read_bytes()
    offsets = block_offsets(data)
    assert len(offsets) > 3
    cut = tmp_path / "cut.vst"
    cut.write_bytes(data[:offsets[2]])
    expect_error(virtsim(virtsim_binary, "trace", "info", str(cut)),
                 f"{cut}: byte {offsets[2]}: the trace ends without its trailer after 2 blocks")


def test_a_flipped_byte_in_a_block_is_an_error(virtsim_binary, tmp_path):
    trace = tmp_path / "g.vst"
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "100000").returncode == 0
    data = bytearray(trace.read_bytes())
    offsets = block_offsets(bytes(data))
    data[offsets[1] + 100] ^= 0x04
    bad = tmp_path / "flip.vst"
    bad.write_bytes(bytes(data))
    expect_error(virtsim(virtsim_binary, "trace", "cat", str(bad)), f"byte {offsets[1]}: corrupted block: its checksum")


def test_a_block_of_no_records_is_an_error_even_in_version_1(virtsim_binary, tmp_path):
    trace = raw_trace(tmp_path / "empty-block.vst", bytes([0x06, 0x07]), 0)
    expect_error(virtsim(virtsim_binary, "trace", "info", str(trace)), "byte 16: block with no records")


def test_version_1_reads_with_one_warning(virtsim_binary):
    info = virtsim(virtsim_binary, "trace", "info", str(SAMPLES / "gzip.vst"))
    assert info.returncode == 0, info.stderr
    assert "version 1" in info.stdout
    lines = info.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("virtsim: warning: ") and "no checksums" in lines[0], info.stderr


def test_a_killed_trace_gen_leaves_no_trace_behind(virtsim_binary, tmp_path):
    out = tmp_path / "killed.vst"
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    gen = subprocess.Popen([str(virtsim_binary), "trace", "gen", "-o", str(out), "--accesses", "1000000000000"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait until several blocks are written (into the temporary file), then kill it.
        for _ in range(600):
            temporaries = list(tmp_path.glob("killed.vst.tmp-*"))
            if temporaries and temporaries[0].stat().st_size > 1 << 20:
                break
            time.sleep(0.1)
        else:
            pytest.fail("trace gen wrote nothing")
    finally:
        gen.send_signal(signal.SIGKILL)
        gen.wait()
    assert not out.exists()  # no file that reads as a whole trace
    # Its temporary, cut wherever the kill found it, is refused as a trace.
    expect_error(virtsim(virtsim_binary, "trace", "info", str(temporaries[0])), str(temporaries[0]), ": byte ")
    # The next trace gen to the same file removes what the killed one left.
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(out), "--accesses", "100").returncode == 0
    assert list(tmp_path.glob("killed.vst.tmp-*")) == []


def test_trace_gen_refuses_to_overwrite_without_force(virtsim_binary, tmp_path):
    out = write(tmp_path / "keep.vst", "precious")
    expect_error(virtsim(virtsim_binary, "trace", "gen", "-o", str(out), "--accesses", "100"),
                 f"output file '{out}' already exists; pass --force")
    assert out.read_text() == "precious"
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(out), "--accesses", "100", "--force").returncode == 0
    assert out.read_bytes().startswith(b"VSTRACE\0")
    assert list(tmp_path.iterdir()) == [out]


def test_trace_convert_never_loses_an_existing_file(virtsim_binary, tmp_path):
    log = write(tmp_path / "p.log", "==7== Lackey\n==7== Parent PID: 1\nI  0401b792,2\n L 1fff,8\n")
    out = write(tmp_path / "keep.vst", "precious")
    # A mistyped input, with --force: the output stays as it was.
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(tmp_path / "q.log"), "-o", str(out), "--force"),
                 "q.log: cannot open the lackey log")
    assert out.read_text() == "precious"
    # Without --force an existing output is refused before anything is read.
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(out)), "already exists")
    assert out.read_text() == "precious"
    # Onto its own input, with --force and under another name (a hard link): refused.
    before = log.read_bytes()
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(log), "--force"),
                 f"is the input {log} itself")
    os.link(log, tmp_path / "alias.vst")
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(tmp_path / "alias.vst"), "--force"),
                 "itself")
    assert log.read_bytes() == before
    # Into a folder it reads every file of.
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(tmp_path), "-o", str(tmp_path / "new.vst")),
                 "is in the input folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.vst", "keep.vst", "p.log"]


def test_trace_outputs_must_be_regular_files(virtsim_binary, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.vst"
    link.symlink_to(tmp_path / "target.vst")
    for out, kind in [(fifo, "is a FIFO, not a regular file"), (link, "is a symbolic link")]:
        expect_error(virtsim(virtsim_binary, "trace", "gen", "-o", str(out), "--accesses", "10", "--force"),
                     f"output path '{out}' {kind}")
    assert fifo.is_fifo() and link.is_symlink() and not (tmp_path / "target.vst").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--accesses", "-5", "--accesses: -5 is negative"),
    ("--footprint-kib", "0", "--footprint-kib: key 'workload.footprint_kib': value 0 is out of range"),
    ("--accesses", "0", "--accesses: key 'workload.accesses': value 0 is out of range"),
    ("--seed", "-1", "--seed: -1 is negative"),
])
def test_trace_gen_checks_its_numbers(virtsim_binary, tmp_path, option, value, message):
    out = tmp_path / "g.vst"
    result = subprocess.run([str(virtsim_binary), "trace", "gen", "-o", str(out), option, value],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    expect_error(result, message)
    assert result.stderr.count("virtsim: error") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_run_of_a_version_1_trace_warns_once(virtsim_binary, tmp_path):
    """Under a comparison of three modes, each in its own process: one warning, not three."""
    out = tmp_path / "v1.h5"
    result = virtsim(virtsim_binary, "run", "-o", str(out), "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{SAMPLES / "gzip.vst"}"')
    assert result.returncode == 0, result.stderr
    warnings = [l for l in result.stderr.splitlines() if l.startswith("virtsim: warning: ")]
    assert len(warnings) == 1 and "trace format version 1 has no checksums" in warnings[0], result.stderr
