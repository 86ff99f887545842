"""Trace files end to end: generate, inspect, print, convert a real program's lackey log, run
it through the simulator (checked against the functional reference), and reject bad files
with the byte offset."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import pytest

from test_cli import SINGLE, virtsim, write, expect_error


def test_gen_info_cat(virtsim_binary, tmp_path):
    trace = tmp_path / "g.vst"
    result = virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "2000", "--seed", "3")
    assert result.returncode == 0, result.stderr
    info = virtsim(virtsim_binary, "trace", "info", str(trace))
    assert info.returncode == 0, info.stderr
    assert "version 6" in info.stdout and info.stderr == ""
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
    bad.write_bytes(data[:-29])  # the 24-byte trailer and 5 bytes of the block
    expect_error(virtsim(virtsim_binary, "trace", "info", str(bad)), "byte 32: truncated block")
    # A run refuses it before simulating and writes nothing.
    bad.write_bytes(data[:8] + b"\x07\x00" + data[10:])
    out = tmp_path / "x.h5"
    expect_error(virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "--set", 'workload.kind="trace"',
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
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{trace}"', "--set", f'system.nested.paging="{nested}"',
                     "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    assert metrics["system.cpu0.fetches"] == fetches
    assert metrics["system.mmu0.checked"] == metrics["walk.count"] > 0
    assert metrics["tlb.l1d.miss_rate"] < 0.05  # a real program has locality


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_real_programs_libraries_are_file_backed(virtsim_binary, tmp_path):
    """The loader opens and maps libc: file-backed mmaps of a named file, mprotects of its RELRO,
    and, run, read faults served from the page cache with fault-around."""
    log = tmp_path / "true.log"
    subprocess.run(["setarch", "-R", "valgrind", "--tool=lackey", "--trace-mem=yes", "--trace-syscalls=yes",
                    f"--log-file={log}", "/bin/true"], check=True, capture_output=True, timeout=300)
    trace = tmp_path / "true.vst"
    converted = virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(trace))
    assert converted.returncode == 0, converted.stderr
    files = dict(line.strip().split(": ", 1) for line in converted.stdout.splitlines() if line.startswith("  file "))
    libc = next(name for name, path in files.items() if path.endswith("/libc.so.6"))
    cat = virtsim(virtsim_binary, "trace", "cat", str(trace)).stdout.splitlines()
    assert any(line.startswith("mmap ") and f" {libc} offset " in line for line in cat)
    assert any(line.startswith("mprotect ") for line in cat)
    out = tmp_path / "true.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{trace}"', "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    assert 0 < metrics["system.kernel.file_faults"] <= metrics["system.kernel.demand_faults"]
    assert metrics["system.kernel.fault_around_pages"] > metrics["system.kernel.file_faults"]
    assert metrics["system.kernel.page_cache_pages"] > 0


def test_mprotect_and_mremap_entry_stores_trap_under_shadow_paging(virtsim_binary, tmp_path):
    """A hand-written lackey log: four pages touched, then an mprotect or an mremap of them. Under
    shadow paging every entry the kernel rewrites is a store into a watched table: one emulated
    write per present entry for mprotect, at least that many (the clears) for mremap. The moved
    pages are touched again, so that the exit's clears trap in their new table as they do in
    the old one without the mremap."""
    head = "==10== Lackey, an example Valgrind tool\n==10== Command: prog\n==10== Parent PID: 1\n==10== \n"
    touch = "".join(f" S 1000{i}000,8\n L 1000{i}008,8\n" for i in range(4))
    calls = {
        "base": "",
        "mprotect": "SYSCALL[10,1](10) sys_mprotect ( 0x10000000, 32768, 1 )[sync] --> Success(0x0)\n",
        "mremap": "SYSCALL[10,1](25) sys_mremap ( 0x10000000, 32768, 32768, 0x3, 0x20000000 ) "
                  "--> [pre-success] Success(0x20000000)\n" + "".join(f" L 2000{i}000,8\n" for i in range(4)),
    }
    metrics = {}
    for name, call in calls.items():
        log = tmp_path / f"{name}.log"
        log.write_text(head + "SYSCALL[10,1](9) sys_mmap ( 0x0, 32768, 3, 34, 4294967295, 0 ) --> [pre-success] "
                       "Success(0x10000000)\n" + touch + call + "SYSCALL[10,1](231) exit_group( 0 ) --> Success(0x0)\n")
        trace, out = tmp_path / f"{name}.vst", tmp_path / f"{name}.h5"
        assert virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(trace)).returncode == 0
        result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                         "--set", f'workload.trace.path="{trace}"', "--set", "system.shadow.enabled=true",
                         "--set", 'system.vmx.mode="vmx"', "--set", "system.shadow.check=true",
                         # Every store counted: no table unshadowed as flooded after 3 of them.
                         "--set", "system.shadow.write_flooding_threshold=0")
        assert result.returncode == 0, result.stderr
        metrics[name] = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    emulated = {name: m["system.shadow.writes_emulated"] for name, m in metrics.items()}
    assert emulated["mprotect"] == emulated["base"] + 4
    assert emulated["mremap"] >= emulated["base"] + 4
    assert metrics["mprotect"]["system.kernel.invlpgs"] == metrics["mremap"]["system.kernel.invlpgs"] == 4


def process_records(binary, trace: Path) -> list[str]:
    """The process records of a trace as text ("fork 10 -> 11", "switch pid 11", ...)."""
    cat = virtsim(binary, "trace", "cat", str(trace))
    assert cat.returncode == 0, cat.stderr
    return [line for line in cat.stdout.splitlines() if line.split()[0] in {"fork", "exec", "exit", "switch"}]


def lackey(log_file: str, *command: str, cwd: Path | None = None) -> None:
    subprocess.run(["setarch", "-R", "valgrind", "--tool=lackey", "--trace-mem=yes", "--trace-children=yes",
                    "--trace-syscalls=yes", f"--log-file={log_file}", *command],
                   check=True, capture_output=True, timeout=600, cwd=cwd)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_multi_process_capture_is_serialized(virtsim_binary, tmp_path):
    """sh forks two children: one log each, one trace with fork/exec/exit/switch in order."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lackey(f"{logs}/sh.%p", "sh", "-c", "/bin/true; /bin/true")
    pids = sorted(int(p.name.split(".")[1]) for p in logs.iterdir())
    assert len(pids) == 3
    root, first, second = pids  # pids grow: the shell, then its children in fork order
    trace = tmp_path / "sh.vst"
    converted = virtsim(virtsim_binary, "trace", "convert", str(logs), "-o", str(trace))
    assert converted.returncode == 0, converted.stderr
    assert "3 processes" in converted.stdout
    assert process_records(virtsim_binary, trace) == [
        f"switch pid {root}", f"exec pid {root}",
        f"fork {root} -> {first}", f"switch pid {first}", f"exec pid {first}", f"exit pid {first}",
        f"switch pid {root}",
        f"fork {root} -> {second}", f"switch pid {second}", f"exec pid {second}", f"exit pid {second}",
        f"switch pid {root}", f"exit pid {root}"]
    info = virtsim(virtsim_binary, "trace", "info", str(trace)).stdout
    counts = {line.split()[0]: int(line.split()[1]) for line in info.splitlines()[1:]}
    assert counts["mmap"] > 3 * 5 and counts["brk"] >= 3 and counts["syscall"] > 50
    # The same logs given one by one, in any order, make the same trace.
    again = tmp_path / "again.vst"
    files = sorted(map(str, logs.iterdir()), reverse=True)
    assert virtsim(virtsim_binary, "trace", "convert", *files, "-o", str(again)).returncode == 0
    assert again.read_bytes() == trace.read_bytes()
    # It runs: process records are counted and skipped until the guest OS model runs them.
    out = tmp_path / "sh.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{trace}"')
    assert result.returncode == 0, result.stderr
    # A limit cuts the capture short and still closes every process.
    cut = tmp_path / "cut.vst"
    limited = virtsim(virtsim_binary, "trace", "convert", str(logs), "-o", str(cut), "--limit", "400000")
    assert limited.returncode == 0 and "stopped at --limit" in limited.stdout, limited.stdout
    records = process_records(virtsim_binary, cut)
    assert records[-1] == f"exit pid {root}"
    forks = sum(r.startswith("fork") for r in records)
    assert forks >= 1 and sum(r.startswith("exit") for r in records) == forks + 1  # every process exits


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_system_calls_carry_their_bytes_and_object_and_copy_them_checked(virtsim_binary, tmp_path):
    """A shell pipeline: the echo's write says it moved 6 bytes into a pipe (its descriptors
    followed through pipe2 and dup2), the libraries' reads what they read of a file; the
    copies to and from the programs' buffers run with every walk checked, natively and nested."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lackey(f"{logs}/sh.%p", "sh", "-c", "echo hello | cat")
    trace = tmp_path / "pipe.vst"
    assert virtsim(virtsim_binary, "trace", "convert", str(logs), "-o", str(trace)).returncode == 0
    calls = [line for line in virtsim(virtsim_binary, "trace", "cat", str(trace)).stdout.splitlines()
             if line.startswith("syscall ")]
    assert any(line.startswith("syscall 1 bytes 6 object pipe buffer 0x") for line in calls), calls
    assert any(line.startswith("syscall 0 bytes 832 object file buffer 0x") for line in calls), calls  # ELF headers
    for nested in ("none", "npt4"):  # the preset is an AMD machine's
        out = tmp_path / f"pipe-{nested}.h5"
        result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                         "--set", f'workload.trace.path="{trace}"', "--set", f'system.nested.paging="{nested}"',
                         "--set", "system.mmu*.check=true", "--set", 'machine.preset="epyc-kvm"')
        assert result.returncode == 0, result.stderr
        metrics = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
        assert metrics["system.mmu0.checked"] == metrics["walk.count"] > 0
        assert metrics["system.cpu0.string_instructions"] > 2 * 20  # two sides of each read and write


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_single_log_streams_through_a_fifo(virtsim_binary, tmp_path):
    fifo = tmp_path / "true.fifo"
    os.mkfifo(fifo)
    trace = tmp_path / "true.vst"
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    reader = subprocess.Popen([str(virtsim_binary), "trace", "convert", str(fifo), "-o", str(trace)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lackey(str(fifo), "/bin/true")
    stdout, stderr = reader.communicate(timeout=300)
    assert reader.returncode == 0, stderr
    assert "1 processes" in stdout
    records = process_records(virtsim_binary, trace)
    assert records[0].startswith("switch pid") and records[-1].startswith("exit pid")


def test_bad_lackey_logs_name_file_and_line_and_leave_no_trace(virtsim_binary, tmp_path):
    log = write(tmp_path / "p.log", "==7== Lackey\n==7== Parent PID: 1\nI  0401b792,2\n L 1fff,8,9\n")
    out = tmp_path / "p.vst"
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(log), "-o", str(out)), f"{log}:4: not a lackey line")
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    expect_error(virtsim(virtsim_binary, "trace", "convert", str(empty), "-o", str(out)), "no lackey logs")


def test_every_bad_trace_names_the_byte(virtsim_binary, tmp_path):
    trace = tmp_path / "g.vst"
    virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "500")
    data = trace.read_bytes()
    bad = tmp_path / "bad.vst"
    cases = [
        (data[:10], "byte 10: truncated header"),
        (data[:20], "byte 16: truncated block header"),
        (data[:8] + b"\x07\x00" + data[10:], "byte 8: unsupported trace version 7"),
        (data[:16] + b"\xff\xff\xff\x7f" + data[20:], "byte 16: block sizes out of range"),
        (data[:34] + bytes(b ^ 0x5A for b in data[34:-24]) + data[-24:], "byte 16: corrupted block"),
    ]
    for content, message in cases:
        bad.write_bytes(content)
        expect_error(virtsim(virtsim_binary, "trace", "info", str(bad)), str(bad), message)


def cut_trace(virtsim_binary, tmp_path: Path) -> tuple[bytes, int]:
    """A valid trace of many blocks, and the offset of a block header in its middle."""
    trace = tmp_path / "whole.vst"
    assert virtsim(virtsim_binary, "trace", "gen", "-o", str(trace), "--accesses", "200000").returncode == 0
    data = trace.read_bytes()
    offset = 16
    offsets = []
    while offset < len(data):
        offsets.append(offset)
        size = int.from_bytes(data[offset:offset + 4], "little")
        if size == 0:  # the trailer
            break
        offset += 16 + size
    return data, offsets[len(offsets) // 2]


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_trace_turning_bad_midway_leaves_a_partial_result(virtsim_binary, tmp_path, damage):
    data, block = cut_trace(virtsim_binary, tmp_path)
    if damage == "truncated":
        bad_bytes, message = data[:block + 16 + 100], f"byte {block + 16}: truncated block"
    else:
        # One byte of the block's data flipped: its checksum says so.
        bad_bytes = data[:block + 40] + bytes([data[block + 40] ^ 0x20]) + data[block + 41:]
        message = f"byte {block}: corrupted block: its checksum"
    bad = tmp_path / "bad.vst"
    bad.write_bytes(bad_bytes)
    out = tmp_path / "partial.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{bad}"')
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert message in result.stderr and "partial" in result.stderr
    with h5py.File(out) as f:
        run = f["runs/run0000"]
        assert run.attrs["status"] == "partial"
        assert message in run.attrs["error"] and str(bad) in run.attrs["error"]
        metrics = {n.decode(): v for n, v in zip(run["metrics"]["name"], run["metrics"]["value"])}
        assert metrics["sim.instructions"] > 0 and metrics["sim.cycles"] > 0
        assert run["timeline"].shape[0] >= 1  # the statistics reached, as a final row
    stats = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json").stdout)["run0000"]
    assert stats["status"] == "partial" and message in stats["error"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "analysis"))
    summary = subprocess.run(["/usr/bin/python3", "-m", "virtsim_analysis", "summary", str(out)],
                             capture_output=True, text=True, env=env, timeout=120)
    assert summary.returncode == 0 and "run0000 is partial" in summary.stderr, summary.stderr
    # Without --force the partial file stays.
    assert virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "--set", 'workload.kind="trace"',
                   "--set", f'workload.trace.path="{bad}"').returncode == 2


SAMPLES = Path(__file__).resolve().parents[2] / "workloads" / "samples"


def documented_sample_counts() -> dict[str, dict[str, int]]:
    """The table of workloads/samples/README.md: sample file -> records by kind."""
    lines = [l for l in (SAMPLES / "README.md").read_text().splitlines() if l.startswith("| `")]
    header = next(l for l in (SAMPLES / "README.md").read_text().splitlines() if l.startswith("| sample"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    table = {}
    for line in lines:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        table[cells[0]] = {k: int(v) for k, v in zip(columns[1:], cells[1:]) if v.isdigit()}
    return table


def test_committed_samples_read_as_documented(virtsim_binary):
    table = documented_sample_counts()
    assert len(table) >= 4 and set(table) == {p.name for p in SAMPLES.glob("*.vst")}
    for name, expected in table.items():
        path = SAMPLES / name
        assert path.stat().st_size < 300 * 1024, name
        info = virtsim(virtsim_binary, "trace", "info", str(path))
        assert info.returncode == 0, info.stderr
        total = int(info.stdout.splitlines()[0].split()[-2])
        counts = {line.split()[0]: int(line.split()[1]) for line in info.stdout.splitlines()[1:]}
        memory = counts.get("load", 0) + counts.get("store", 0) + counts.get("fetch", 0)
        assert total == expected["records"], name
        assert memory == expected["memory"], name
        for kind in ["fork", "exec", "exit", "mmap", "syscall"]:
            assert counts.get(kind, 0) == expected[kind], (name, kind)


def test_a_multi_process_sample_runs_checked(virtsim_binary, tmp_path):
    """gcc's sample (three processes) through the simulator and its guest OS model, every walk
    checked: the driver forks cc1 and as, each execs and exits."""
    out = tmp_path / "gcc.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{SAMPLES / "gcc.vst"}"', "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    expected = documented_sample_counts()["gcc.vst"]
    # The program's references, and the kernel's own on top of them.
    assert metrics["system.cpu0.loads"] + metrics["system.cpu0.stores"] + metrics["system.cpu0.fetches"] \
        == expected["memory"] + metrics["system.kernel.kernel_references"]
    assert metrics["system.mmu0.checked"] == metrics["walk.count"] > 0
    assert metrics["system.kernel.forks"] == metrics["system.kernel.processes_created"] == expected["fork"]
    assert metrics["system.kernel.execs"] == expected["exec"]
    assert metrics["system.kernel.exits"] == expected["exit"]


def raw_trace(path: Path, records: bytes, count: int) -> Path:
    """A trace written byte by byte as docs/trace-format.md says (one block, compressed with
    the zstd command), for streams the converter would never make."""
    raw = path.with_suffix(".raw")
    raw.write_bytes(records)  # from a file, zstd states the content size in the frame, as the reader needs
    frame = subprocess.run(["zstd", "-q", "-c", str(raw)], capture_output=True, check=True).stdout
    header = b"VSTRACE\0" + (1).to_bytes(2, "little") + bytes(6)
    block = len(frame).to_bytes(4, "little") + len(records).to_bytes(4, "little") + count.to_bytes(4, "little")
    path.write_bytes(header + block + frame)
    return path


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.vst")))
def test_every_sample_runs_through_the_guest_os_checked(virtsim_binary, tmp_path, sample):
    out = tmp_path / "s.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{SAMPLES / sample}"', "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    expected = documented_sample_counts()[sample]
    assert metrics["system.kernel.exits"] == expected["exit"]
    assert metrics["system.kernel.demand_faults"] > 0


def test_events_out_of_order_name_the_byte_and_keep_a_partial_result(virtsim_binary, tmp_path):
    # switch 1, roi_begin, compute 1000, exit 7 (a process that never started), roi_end
    records = bytes([0x16, 1, 0x06, 0x01, 0xe8, 0x07, 0x12, 7, 0x07])  # 1000 as LEB128: e8 07
    trace = raw_trace(tmp_path / "order.vst", records, 5)
    assert virtsim(virtsim_binary, "trace", "info", str(trace)).returncode == 0  # well-formed as a file
    out = tmp_path / "o.h5"
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "--set", 'workload.kind="trace"',
                     "--set", f'workload.trace.path="{trace}"')
    assert result.returncode == 1, result.stderr
    assert "process 7, which never started or has exited (events out of order)" in result.stderr
    assert f"{trace}, record 4 (in the block at byte 16)" in result.stderr
    with h5py.File(out) as f:
        run = f["runs/run0000"]
        assert run.attrs["status"] == "partial"
        assert "events out of order" in run.attrs["error"]
        names = [n.decode() for n in run["metrics"]["name"]]
        values = dict(zip(names, run["metrics"]["value"]))
        assert values["sim.instructions"] >= 1000  # the compute record ran before the bad one
