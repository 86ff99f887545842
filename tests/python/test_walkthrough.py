"""The walk-through from a config to a plot works as written, in a fresh clone.

The walk-through is the text between `<!-- walkthrough:begin -->` and `<!-- walkthrough:end -->`
in README.md or in one page under docs/ (wherever it lives). Inside the markers:
- each ```sh block runs with bash (errexit, pipefail) in the clone's root, in order;
- each ```python block runs with `PYTHONPATH=analysis /usr/bin/python3`, as the text tells readers;
- a ```text block right after one of those is what it prints: its lines must come out in that
  order (runs of spaces count as one, `...` stands for any text, such as the clone's path);
  other blocks (```toml...) are shown, not run.
The clone is of this working tree (uncommitted edits included), its build/ a link to the build
the tests use, so the walk-through's build/apps/virtsim is the binary under test."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- walkthrough:begin -->", "<!-- walkthrough:end -->"
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.M | re.S)


def walkthrough() -> tuple[Path, list[tuple[str, str]]]:
    """The page holding the markers, and its fenced blocks between them as (language, text)."""
    pages = [p for p in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))] if BEGIN in p.read_text()]
    assert len(pages) == 1, f"the walk-through's markers {BEGIN} ... {END} must be in exactly one page: {pages}"
    text = pages[0].read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, pages[0]
    body = text[text.index(BEGIN):text.index(END)]
    blocks = [(m.group(2), re.sub(rf"^{m.group(1)}", "", m.group(3), flags=re.M)) for m in FENCE.finditer(body)]
    return pages[0], blocks


def fresh_clone(where: Path, build: Path) -> Path:
    """git clone of this repository, with the working tree's uncommitted changes laid over it."""
    clone = where / "virtsim"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=300)
    changed = subprocess.run(["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split("\0")
    deleted = subprocess.run(["git", "ls-files", "-z", "--deleted"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    for rel in filter(None, deleted):
        (clone / rel).unlink(missing_ok=True)
    for rel in filter(None, changed):
        if (REPO / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, clone / rel)
    (clone / "build").symlink_to(build)
    return clone


def shown_lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def printed_in_order(shown: str, printed: str) -> bool:
    """Whether each line shown comes out, in the order shown, among the lines printed."""
    lines = iter(shown_lines(printed))
    for line in shown_lines(shown):
        pattern = re.compile(".*".join(map(re.escape, line.split("..."))))
        if not any(pattern.fullmatch(out) for out in lines):
            return False
    return True


def test_walkthrough_blocks_are_found():
    page, blocks = walkthrough()
    languages = [language for language, _ in blocks]
    assert "sh" in languages, f"{page}: no ```sh block between the walk-through's markers"


def test_walkthrough_runs_as_written(virtsim_binary, tmp_path):
    page, blocks = walkthrough()
    build = virtsim_binary.resolve().parents[1]
    assert (build / "apps" / "virtsim").is_file(), f"{virtsim_binary} is not in a build tree's apps/"
    clone = fresh_clone(tmp_path, build)
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1", MPLBACKEND="Agg",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("VIRTSIM_RESULTS", None)
    env.pop("VIRTSIM_FIGURES", None)
    env.pop("PWD", None)  # bash sets it to the clone
    last_output = None
    for language, text in blocks:
        if language == "sh":
            command = ["bash", "-e", "-o", "pipefail", "-c", text]
            run_env = env
        elif language == "python":
            command = ["/usr/bin/python3", "-c", text]
            run_env = dict(env, PYTHONPATH="analysis")
        elif language == "text" and last_output is not None:
            assert printed_in_order(text, last_output), \
                f"{page}: the walk-through shows\n{text}\nbut the command printed\n{last_output}"
            last_output = None
            continue
        else:
            last_output = None
            continue
        result = subprocess.run(command, cwd=clone, env=run_env, capture_output=True, text=True, timeout=1200)
        assert result.returncode == 0, (f"{page}: this walk-through block failed (exit {result.returncode}):\n"
                                        f"{text}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")
        last_output = result.stdout


def test_shown_output_must_be_printed_in_order():
    printed = "sweep: 216 points\nresults: /tmp/x/results/s.h5 (a run per point)\n"
    assert printed_in_order("sweep:  216 points\nresults: .../results/s.h5 (a run per point)", printed)
    assert not printed_in_order("results: .../s.h5 (a run per point)\nsweep: 216 points", printed)
    assert not printed_in_order("sweep: 215 points", printed)
