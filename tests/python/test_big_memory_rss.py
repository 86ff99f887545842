"""scripts/big-memory-rss: the table of peak resident set against footprint on the performance
page, from tiny real runs (64 MiB footprints, a second or so), and its answers to bad input."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "big-memory-rss"
PAGE = REPO / "docs" / "performance.md"
BEGIN, END = "<!-- big-memory-rss:begin -->", "<!-- big-memory-rss:end -->"


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))


def test_the_script_writes_a_table_of_both_page_sizes(virtsim_binary, tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(PAGE.read_text())
    result = script("--footprints", "64MiB", "--page-sizes", "4k,2m", "--updates", "200", "--virtsim",
                    str(virtsim_binary), "--update-docs", "--page", str(page))
    assert result.returncode == 0, result.stderr
    progress = result.stdout.splitlines()
    assert progress[0].startswith("4 KiB pages, 64 MiB: peak RSS ") and progress[1].startswith("2 MiB pages, 64 MiB: ")
    before, after = PAGE.read_text().split(BEGIN)[0], PAGE.read_text().split(END)[1]
    text = page.read_text()
    assert text.startswith(before) and text.endswith(after)
    block = text.split(BEGIN)[1].split(END)[0]
    assert "--footprints 64MiB" in block and "In progress" not in block
    rows = [line for line in block.splitlines() if line.startswith("| 64 MiB")]
    assert len(rows) == 2
    for row, pages, tables in zip(rows, ("4 KiB", "2 MiB"), ("34", "2")):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[:3] == ["64 MiB", pages, f"{tables} (" + ("0.1" if pages == "4 KiB" else "0.0") + " MiB)"]
        # Every page of the footprint is mapped at the end: 16,384 frames of 4 KiB and more.
        assert int(cells[3].replace(",", "")) > 64 * 256
        rss = float(re.fullmatch(r"([\d,.]+) MiB", cells[4])[1].replace(",", ""))
        assert 1 < rss < 1024
        assert re.fullmatch(r"[\d,.]+ s", cells[5])


@pytest.mark.parametrize("args, message", [
    (["--footprints", "3MiB"], "footprint '3MiB': expected a positive multiple of 2 MiB"),
    (["--footprints", "1PiB"], "footprint '1PiB': expected a whole number with a unit"),
    (["--footprints", "4TiB"], "above system.memory.size_mib"),
    (["--footprints", "1,,4"], "--footprints '1,,4': expected a comma-separated list"),
    (["--page-sizes", "1g"], "unknown page size '1g' (expected 4k or 2m)"),
    (["--updates", "0"], "--updates 0: expected a positive number"),
])
def test_bad_input_is_one_line_and_status_2(virtsim_binary, args, message):
    result = script(*args, "--virtsim", str(virtsim_binary))
    assert result.returncode == 2
    assert result.stderr.startswith("big-memory-rss: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout


def test_a_page_without_the_markers_is_refused_before_any_run(virtsim_binary, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# no generated block\n")
    result = script("--footprints", "64MiB", "--virtsim", str(virtsim_binary), "--update-docs", "--page", str(page))
    assert result.returncode == 2 and "expected one generated block" in result.stderr and not result.stdout
