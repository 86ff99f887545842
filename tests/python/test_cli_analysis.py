"""python3 -m virtsim_analysis summary on real and bad files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


def summary(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "virtsim_analysis", "summary", *args], capture_output=True,
                          text=True, cwd=ANALYSIS)


def test_summary_text_and_json(tiny_result):
    text = summary(str(tiny_result))
    assert text.returncode == 0, text.stderr
    assert "walk.refs_per_walk" in text.stdout and "run0000" in text.stdout
    data = json.loads(summary(str(tiny_result), "--json").stdout)
    assert data["run0000"]["tlb.l1d.accesses"] >= 20000  # one per access, more after page faults


def test_summary_of_a_bad_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("nope")
    result = summary(str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr


def figures(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "virtsim_analysis", "figures", *args], capture_output=True,
                          text=True, cwd=ANALYSIS, timeout=300)


def test_figures_are_png_svg_pdf_and_the_same_every_time(compare_result, tmp_path):
    """The same result file gives byte-identical figures (no dates, fixed SVG ids)."""
    outputs = []
    for attempt in ("first", "second"):
        result = figures(str(compare_result), "-o", str(tmp_path / attempt), "--only", "cdf")
        assert result.returncode == 0, result.stderr
        outputs.append(tmp_path / attempt)
        assert result.stdout.splitlines() == [f"wrote {tmp_path / attempt / 'walk-latency-cdf'}.{fmt}"
                                              for fmt in ("png", "svg", "pdf")] + [f"1 figures in {tmp_path / attempt}"]
    for fmt in ("png", "svg", "pdf"):
        first, second = (folder / f"walk-latency-cdf.{fmt}" for folder in outputs)
        assert first.read_bytes() == second.read_bytes(), fmt
