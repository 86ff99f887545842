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


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> dict[str, str]:
    """A real single-node Slurm cluster on localhost for the session (scripts/slurm-local: munged,
    slurmctld and slurmd from Debian, every file under a temporary directory), stopped at the
    end however the tests went. Yields the environment its clients need (SLURM_CONF). Fails,
    never skips, when the cluster cannot be started."""
    import shlex

    cluster = tmp_path_factory.mktemp("slurm")
    script = REPO / "scripts" / "slurm-local"

    def stop() -> None:
        subprocess.run([str(script), "stop", str(cluster)], capture_output=True, timeout=120)

    try:
        # Bounded: up to a few minutes only when the Debian packages must be installed first.
        started = subprocess.run([str(script), "start", str(cluster)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as e:
        stop()
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        pytest.fail(f"scripts/slurm-local start {cluster} did not finish in {e.timeout} s:\n{err}")
    if started.returncode != 0:
        stop()
        pytest.fail(f"could not start a local Slurm cluster (scripts/slurm-local start {cluster}, exit "
                    f"{started.returncode}):\n{started.stderr}")
    env: dict[str, str] = {}
    for line in started.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            env[name] = value
    if "SLURM_CONF" not in env:
        stop()
        pytest.fail(f"scripts/slurm-local start printed no SLURM_CONF:\n{started.stdout}\n{started.stderr}")
    try:
        yield env
    finally:
        stop()


@pytest.fixture(scope="session")
def sweep_small_result(tmp_path_factory, virtsim_binary) -> Path:
    """tests/python/data/sweep-small.toml run by `virtsim sweep`: 48 points, a few seconds."""
    out = tmp_path_factory.mktemp("sweep-small") / "sweep-small.h5"
    subprocess.run([str(virtsim_binary), "sweep", str(REPO / "tests" / "python" / "data" / "sweep-small.toml"),
                    "-j", "2", "-o", str(out), "-q"], check=True,
                   env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"), timeout=600)
    return out


@pytest.fixture(scope="session")
def compare_result(tmp_path_factory, virtsim_binary) -> Path:
    """tiny.toml compared natively, under shadow and under nested paging: runs native, shadow,
    nested in one file without /sweep."""
    out = tmp_path_factory.mktemp("compare") / "compare.h5"
    subprocess.run([str(virtsim_binary), "run", str(REPO / "tests" / "python" / "data" / "tiny.toml"),
                    "--set", 'experiment.compare="native,shadow,nested"', "-o", str(out), "-q"], check=True,
                   env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"), timeout=600)
    return out
