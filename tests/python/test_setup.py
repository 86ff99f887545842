"""What the main job installs and builds: scripts/run-default asks scripts/setup for the command
line's packages alone, the test-only ones come with --with-tests, and the command line
configures and builds without GoogleTest, Google Benchmark or fmt."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup"

# Packages only the tests, the fuzzing, the notebooks or the docs site use.
TEST_ONLY = {
    "clang", "libclang-rt-dev", "slurmctld", "slurmd", "slurm-client", "munge", "jupyter-nbconvert",
    "python3-nbclient", "python3-ipykernel", "python3-pytest", "valgrind", "sqlite3", "mkdocs",
    "libgtest-dev", "libbenchmark-dev", "graphviz", "chromium", "redis-server", "redis-tools", "strace",
}


def package_groups() -> dict[str, list[str]]:
    """The arrays `NAME_packages=( ... )` in scripts/setup, comments dropped."""
    groups = {}
    for name, body in re.findall(r"^(\w+)_packages=\((.*?)^\)", SETUP.read_text(), re.M | re.S):
        groups[name] = [word for line in body.splitlines() for word in line.split("#", 1)[0].split()]
    return groups


def test_setup_has_the_four_groups():
    groups = package_groups()
    assert set(groups) == {"build", "analysis", "test", "capture"}
    assert {"valgrind", "redis-server", "redis-tools", "strace", "make"} <= set(groups["capture"])
    assert "libsystemc-dev" in groups["build"] and "python3-pytest" in groups["test"]


def test_the_main_job_installs_no_test_only_package():
    groups = package_groups()
    assert not TEST_ONLY & set(groups["build"]), TEST_ONLY & set(groups["build"])
    assert not [p for p in groups["build"] if p.startswith("python3")], groups["build"]
    # run-default asks for the build group alone; run-tests for everything.
    run_default = (REPO / "scripts" / "run-default").read_text()
    assert re.search(r'^"\$root/scripts/setup" default virtsim$', run_default, re.M), run_default
    run_tests = (REPO / "scripts" / "run-tests").read_text()
    assert re.findall(r"^scripts/setup (.*)$", run_tests, re.M) == ["--with-tests default", "--with-tests asan"]


def test_fmt_is_gone():
    groups = package_groups()
    assert not [p for group in groups.values() for p in group if "fmt" in p]
    cmake = [REPO / "CMakeLists.txt", *(REPO / "cmake").glob("*.cmake"), *REPO.glob("*/**/CMakeLists.txt")]
    assert not [str(f) for f in cmake if re.search(r"\bfmt\b", f.read_text())]


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_the_command_line_configures_without_the_test_libraries(tmp_path):
    """With VIRTSIM_TESTS off, CMake is forbidden to look for GoogleTest and Google Benchmark (a
    REQUIRED search for either would then fail), and no test binary is left in the build."""
    result = subprocess.run(
        ["cmake", "-S", str(REPO), "-B", str(tmp_path), "-G", "Ninja", "-DVIRTSIM_TESTS=OFF",
         "-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON", "-DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    targets = subprocess.run(["ninja", "-C", str(tmp_path), "-t", "targets", "all"], capture_output=True,
                             text=True, check=True).stdout
    assert "apps/virtsim:" in targets
    assert not re.search(r"_tests:|virtsim_microbench:", targets)


def test_setup_refuses_an_unknown_option():
    result = subprocess.run([str(SETUP), "--with-everything"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Usage: scripts/setup" in result.stderr
