"""`virtsim skinit-demo`: a device's DMA into the Secure Loader Block is copied before SKINIT and
refused (and counted) after it; an intercepted SKINIT protects nothing; bad input is one error line."""
from __future__ import annotations

import os
import re
import subprocess

ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


def demo(binary, *args):
    return subprocess.run([str(binary), "skinit-demo", *args], capture_output=True, text=True, env=ENV, timeout=120)


def test_dma_into_the_slb_is_refused_after_skinit(virtsim_binary):
    run = demo(virtsim_binary)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    before = next(l for l in lines if l.startswith("before SKINIT:"))
    assert "-> 0x108000: completed, 4096 bytes copied, byte-exact" in before
    assert "SKINIT:        launched: 4096 image bytes measured" in run.stdout
    assert "SL_DEV_EN 1" in run.stdout and "GIF 0" in run.stdout
    after = [l for l in lines if l.startswith("after SKINIT:")]
    assert "-> 0x108000: REFUSED (descriptor aborted, ERROR), 0 bytes copied" in after[0]
    assert "-> 0x300000: completed, 4096 bytes copied, byte-exact" in after[1]
    assert "DMA descriptors completed 2, aborted 1" in run.stdout
    assert "refused 1 (SLB protection 1); SKINIT launches 1, intercepts 0" in run.stdout
    # The copy's time is the memory module's: 64 bursts of a read and a write at its latency,
    # two descriptor reads and two write-backs.
    assert re.search(r"byte-exact, 13200 cycles", before)


def test_the_memory_latency_sets_the_dma_time(virtsim_binary):
    run = demo(virtsim_binary, "--set", "memory.latency=50")
    assert run.returncode == 0, run.stderr
    assert "byte-exact, 6600 cycles" in run.stdout


def test_an_intercepted_skinit_exits_and_leaves_the_slb_open(virtsim_binary):
    run = demo(virtsim_binary, "--intercept")
    assert run.returncode == 0, run.stderr
    assert "intercepted in a guest: #VMEXIT 0x86 (SKINIT)" in run.stdout
    assert "REFUSED" not in run.stdout
    assert "refused 0 (SLB protection 0); SKINIT launches 0, intercepts 1" in run.stdout


def test_an_unknown_parameter_is_one_error_line(virtsim_binary):
    run = demo(virtsim_binary, "--set", "dma.burst_byte=32")
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("virtsim: error: ") and "dma.burst_bytes" in run.stderr


def test_the_docs_page_shows_what_the_demo_prints(virtsim_binary):
    """docs/secure-launch.md quotes both demo runs; a change to the demo must be re-pasted there."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "secure-launch.md").read_text()
    for args in ([], ["--intercept"]):
        run = demo(virtsim_binary, *args)
        assert run.returncode == 0, run.stderr
        quoted = "$ virtsim skinit-demo" + "".join(" " + a for a in args) + "\n" + run.stdout
        assert quoted in page, f"docs/secure-launch.md does not show the output of skinit-demo {' '.join(args)}"
