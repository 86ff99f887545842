"""Guest memory beyond host memory: simulated memory keeps the bytes of page tables and of what
the model reads back, and drops data bytes unless system.memory.byte_exact_data asks for them.
Dropping them must change no statistic, and must keep the simulator's resident set with the
page tables rather than the footprint (measured with getrusage of the child, never timed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli import SINGLE, virtsim

MODES = {
    "native": [],
    "shadow": ["--set", "system.shadow.enabled=true", "--set", 'system.vmx.mode="vmx"'],
    "nested": ["--set", 'system.nested.paging="ept4"', "--set", 'system.vmx.mode="vmx"'],
}


def metrics(binary: Path, out: Path) -> dict[str, float]:
    stats = virtsim(binary, "stats", str(out), "--json", "--all")
    assert stats.returncode == 0, stats.stderr
    return json.loads(stats.stdout)["run0000"]["metrics"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["fork_and_wait", "gups"])
def test_dropping_data_bytes_changes_no_statistic(virtsim_binary, tmp_path, mode, kind):
    runs = {}
    for exact in ("true", "false"):
        out = tmp_path / f"{exact}.h5"
        result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(out), "-q", "--set", f'workload.kind="{kind}"',
                         "--set", "workload.footprint_kib=4096", "--set", "workload.accesses=4000",
                         "--set", "workload.operations=8", "--set", f"system.memory.byte_exact_data={exact}",
                         *MODES[mode])
        assert result.returncode == 0, result.stderr
        runs[exact] = metrics(virtsim_binary, out)
    assert runs["true"].keys() == runs["false"].keys()
    differ = {k: (runs["true"][k], runs["false"][k]) for k in runs["true"] if runs["true"][k] != runs["false"][k]}
    assert not differ


def peak_resident_kib(binary: Path, out: Path, gib: int, huge_pages: bool) -> int:
    """Peak resident set (KiB) of one native GUPS run over `gib` GiB: the warm-up writes every
    4 KiB page of the footprint once (a demand fault each, or one per 2 MiB with huge pages), so
    the page tables map all of it; the region of interest is 1,000 updates."""
    memory_mib = (gib + gib // 32 + 2) * 1024
    args = [str(binary), "run", *SINGLE, "-o", str(out), "--force", "-q", "--set", 'workload.kind="gups"',
            "--set", f"workload.footprint_kib={gib << 20}", "--set", "workload.accesses=1000",
            "--set", "workload.warmup_accesses=0", "--set", f"system.guest_memory_mib={memory_mib}",
            "--set", f"system.memory.size_mib={memory_mib}",
            "--set", f"system.kernel.transparent_huge_pages={'true' if huge_pages else 'false'}"]
    # Linux carries a process's peak resident set across exec, and a child forked from this test
    # process starts from the test process's own (hundreds of MiB once the suite has loaded its
    # libraries). A fresh, small interpreter forks the run instead and reports its child's peak.
    result = subprocess.run([sys.executable, "-c", REPORT_CHILDS_PEAK_RSS, *args], capture_output=True, text=True,
                            env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])  # KiB on Linux


REPORT_CHILDS_PEAK_RSS = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.exit(code)
print(usage.ru_maxrss)
"""


def test_a_large_footprint_holds_page_tables_not_data(virtsim_binary, tmp_path):
    out = tmp_path / "gups.h5"
    # 4 KiB pages: three GiB more footprint add 1,536 page-table pages (6 MiB) and 768 Ki
    # data pages (3 GiB). Measured: 30.0 MiB at 1 GiB, 37.8 MiB at 4 GiB (the per-frame
    # reference counts, 0.6 MiB a GiB, and the frame table grow too; the warm-up's timeline
    # rows, 2.3 MiB a GiB, did before they went). The bound is twice the page tables.
    small = peak_resident_kib(virtsim_binary, out, 1, huge_pages=False)
    large = peak_resident_kib(virtsim_binary, out, 4, huge_pages=False)
    table_growth_kib = 3 * (1 << 20) // 512
    assert large - small < 2 * table_growth_kib, (small, large)
    # 64 GiB in 2 MiB pages: 32 page-directory pages; measured 30 MiB in all, where the data
    # alone would take 64 GiB.
    assert peak_resident_kib(virtsim_binary, out, 64, huge_pages=True) < 256 * 1024


def test_a_long_warm_up_keeps_no_timeline_rows(virtsim_binary, tmp_path):
    """A generator's warm-up ends in a region of interest, which drops the timeline rows made
    before it, so none are kept meanwhile: a row holds every statistic, and a terabyte
    footprint's demand faults would otherwise hold gigabytes of them. Measured before the
    change: 27 MiB with no timeline, 164 MiB with a row every 1,000 cycles (64 MiB of GUPS)."""
    peaks, timelines = {}, {}
    for interval in (0, 1000):
        out = tmp_path / f"every{interval}.h5"
        args = [str(virtsim_binary), "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="gups"',
                "--set", "workload.footprint_kib=65536", "--set", "workload.accesses=20000",
                "--set", "system.kernel.zero_pages=false", "--set", f"stats.dump_interval={interval}"]
        result = subprocess.run([sys.executable, "-c", REPORT_CHILDS_PEAK_RSS, *args], capture_output=True, text=True,
                                env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
        assert result.returncode == 0, result.stderr
        peaks[interval] = int(result.stdout.split()[-1])
        import virtsim_analysis as va
        with va.load(out) as r:
            timelines[interval] = r.timeline()
    assert peaks[1000] - peaks[0] < 16 * 1024, peaks
    # The region of interest's rows are all there: one per 1,000 cycles of simulated time and
    # the final one (their cycle column, the vCPU's own count, moves a quantum at a time).
    cycles = timelines[1000]["cycle"].to_numpy()
    assert len(cycles) > 100 and (cycles[1:] >= cycles[:-1]).all()
    assert len(timelines[0]) == 1 and cycles[-1] == timelines[0]["cycle"].iloc[0]
