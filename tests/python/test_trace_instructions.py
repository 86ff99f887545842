"""A captured trace records each instruction's fetch and then its data accesses: the model counts
one instruction per fetch, not one per memory reference (it counted loads and stores too, which
made the captured programs' user work half again to twice as long as it is)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import json

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


def test_user_instructions_of_a_captured_trace_are_its_fetches(virtsim_binary, tmp_path):
    out = tmp_path / "gzip.h5"
    run = subprocess.run(
        [str(virtsim_binary), "run", "-q", "--set", 'experiment.compare=""', "--set", 'workload.kind="trace"',
         "--set", f'workload.trace.path="{REPO / "workloads" / "samples" / "gzip.vst"}"', "-o", str(out)],
        capture_output=True, text=True, env=ENV, timeout=300)
    assert run.returncode == 0, run.stderr
    stats = subprocess.run([str(virtsim_binary), "stats", "--json", "--all", str(out)], capture_output=True, text=True,
                           env=ENV, timeout=120)
    assert stats.returncode == 0, stats.stderr
    metrics = json.loads(stats.stdout)["run0000"]["metrics"]

    def get(key):
        return metrics[key]

    user = get("system.cpu0.instructions") - get("system.cpu0.kernel_instructions")
    fetches, loads, stores = get("system.cpu0.fetches"), get("system.cpu0.loads"), get("system.cpu0.stores")
    assert loads > 0.1 * fetches and stores > 0.1 * fetches  # the sample has data accesses to miscount
    # The user side's instructions are its fetches, give or take its few system-call and
    # privileged-instruction records; the kernel model's own accesses are not fetches.
    assert fetches <= user <= fetches * 1.01
