"""Shared fixtures: the built virtsim binary and a tiny real result file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "analysis"))


@pytest.fixture(scope="session")
def virtsim_binary() -> Path:
    binary = Path(os.environ.get("VIRTSIM_BIN", REPO / "build" / "apps" / "virtsim"))
    if not binary.is_file():
        pytest.fail(f"virtsim binary not found at {binary}: build first (scripts/setup) or set VIRTSIM_BIN")
    return binary


@pytest.fixture(scope="session")
def tiny_result(tmp_path_factory, virtsim_binary) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    subprocess.run([str(virtsim_binary), "run", str(REPO / "tests" / "python" / "data" / "tiny.toml"), "-o", str(out),
                    "-q"], check=True, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"), timeout=600)
    return out
