"""The bad-input corpus (tests/bad_input): each case gets its exit status, one message naming
what is wrong, and leaves every file that existed before it untouched."""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "bad_input"
CASE_KEYS = {"name", "defect", "program", "args", "setup", "status", "message", "creates", "env", "root"}


def load_cases() -> list[tuple[str, dict]]:
    cases: list[tuple[str, dict]] = []
    names: set[str] = set()
    for manifest in sorted(CORPUS.glob("*.toml")):
        with manifest.open("rb") as f:
            data = tomllib.load(f)
        for case in data.get("case", []):
            unknown = set(case) - CASE_KEYS
            assert not unknown, f"{manifest.name}: case {case.get('name')}: unknown keys {sorted(unknown)}"
            assert case["name"] not in names, f"{manifest.name}: duplicate case name {case['name']}"
            names.add(case["name"])
            cases.append((f"{manifest.stem}/{case['name']}", case))
    return cases


CASES = load_cases()


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root (symlinks not followed): its kind and, for files, its bytes' hash."""
    entries: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                entries[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            elif stat.S_ISDIR(st.st_mode):
                entries[rel] = ("dir",)
            else:
                entries[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_rdev)
    return entries


def test_cases_that_need_root_say_so():
    """A case whose setup makes a device node fails as any other user: it is marked `root = true`."""
    unmarked = [name for name, case in CASES if "mknod" in case.get("setup", "") and case.get("root") is not True]
    assert not unmarked, f"mark these cases root = true: {unmarked}"


def test_a_case_that_needs_root_is_skipped_as_any_other_user(monkeypatch, tmp_path, virtsim_binary):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    case = next(case for _, case in CASES if case.get("root"))
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        test_bad_input(case, tmp_path, virtsim_binary)
    assert not (tmp_path / "case").exists()  # skipped before its setup ran


def test_corpus_is_large_enough():
    assert len(CASES) >= 60, f"the bad-input corpus has {len(CASES)} cases; issue 23 asks for at least 60"


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_bad_input(case, tmp_path, virtsim_binary):
    if case.get("root") and os.geteuid() != 0:
        pytest.skip("needs root (its setup makes a device node); the test command as root runs it")
    work = tmp_path / "case"
    shutil.copytree(CORPUS / "files", work, symlinks=True)
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1", VIRTSIM_BIN=str(virtsim_binary))
    env.update(case.get("env", {}))
    if "setup" in case:
        subprocess.run(["bash", "-euc", case["setup"]], cwd=work, env=env, check=True, timeout=120)
    before = snapshot(work)

    program = case.get("program", "virtsim")
    if program == "virtsim":
        command = [str(virtsim_binary), *case["args"]]
    elif program == "analysis":
        env["PYTHONPATH"] = str(REPO / "analysis")
        command = [sys.executable, "-m", "virtsim_analysis", *case["args"]]
    else:
        pytest.fail(f"unknown program {program!r}")
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)

    shown = f"exit {result.returncode}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == case["status"], shown
    assert re.search(case["message"], result.stderr), shown
    if program == "virtsim":
        errors = [line for line in result.stderr.splitlines() if line.startswith("virtsim: error")]
        assert len(errors) == 1, shown
    else:
        assert "Traceback" not in result.stderr, shown

    after = snapshot(work)
    for rel, entry in before.items():
        assert after.get(rel) == entry, f"{rel} changed or vanished: {entry} -> {after.get(rel)}\n{shown}"
    created = [rel for rel in after if rel not in before]
    allowed = case.get("creates", [])
    unexpected = [rel for rel in created if not any(fnmatch.fnmatch(rel, g) for g in allowed)]
    assert not unexpected, f"the command left {unexpected}\n{shown}"
