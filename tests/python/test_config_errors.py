"""Bad parameters, on the embedded default experiment (a comparison of three memory
virtualizations) and in config files: one error naming the key, status 2, before anything
runs, and nothing written."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from test_cli import write


def run_in(binary: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    return subprocess.run([str(binary), "run", "-q", *args], capture_output=True, text=True, env=env, cwd=folder,
                          timeout=600)


def expect_one_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    shown = (result.returncode, result.stderr)
    assert result.returncode == 2, shown
    assert [l for l in result.stderr.splitlines() if l.startswith("virtsim:")] == result.stderr.splitlines(), shown
    assert result.stderr.count("virtsim: error: ") == 1, shown
    for fragment in fragments:
        assert fragment in result.stderr, shown


@pytest.mark.parametrize("setting, fragments", [
    # A typo: was printed by each of the three runs, status 1, and an empty result file.
    ("system.cpuz=2", ["--set system.cpuz: unknown key 'system.cpuz'; did you mean 'system.cpus'"]),
    # Replaced by every mode of the comparison, so never checked.
    ('system.vmx.mode="vtx"', ["--set system.vmx.mode: key 'system.vmx.mode': got \"vtx\"; expected one of"]),
    # Elaboration checks that said "simulation failed" without the key.
    ("system.line_bytes=48", ["key 'system.line_bytes': 48 bytes is not a power of two; expected 16, 32"]),
    ("system.cpu0.dtlb.entries_4k=7", ["--set system.cpu0.dtlb.entries_4k: key 'system.cpu0.dtlb.entries_4k': "
                                       "7 entries do not divide into 4 ways"]),
    # Shown as null.
    ("workload.store_fraction=nan", ["key 'workload.store_fraction': got nan, not a finite number"]),
    ("workload.hot_probability=inf", ["key 'workload.hot_probability': got inf, not a finite number"]),
    # Two runs writing one part file; an unknown name.
    ('experiment.compare="native,native"', ["key 'experiment.compare': \"native\" is named twice"]),
    ('experiment.compare="native,nested,vtx"', ["key 'experiment.compare': \"vtx\" is not a memory virtualization"]),
    # Only the first line was applied, both recorded.
    ("system.cpus=2\nsystem.cpuz=3", ["a line break in an assignment; expected one key=value per --set"]),
])
def test_a_bad_setting_on_the_default_experiment(virtsim_binary, tmp_path, setting, fragments):
    result = run_in(virtsim_binary, tmp_path, "--set", setting)
    expect_one_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []  # not even results/


def test_a_bad_value_in_a_file_names_file_line_and_key(virtsim_binary, tmp_path):
    config = write(tmp_path / "exp.toml", '[experiment]\ncompare = ""\n[system]\nline_bytes = 96\n')
    expect_one_error(run_in(virtsim_binary, tmp_path, str(config), "-o", "out.h5"),
                     f"{config}:4:14: key 'system.line_bytes': 96 bytes is not a power of two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]


@pytest.mark.parametrize("preset", ["../../../../../../etc/hostname", "/etc/hostname", "../machine/skylake"])
def test_preset_names_are_not_paths(virtsim_binary, tmp_path, preset):
    config = write(tmp_path / "exp.toml", f'[machine]\npreset = "{preset}"\n')
    expect_one_error(run_in(virtsim_binary, tmp_path, str(config), "-o", "out.h5"),
                     f"{config}:2:10: key 'machine.preset': \"{preset}\" is not a preset name", "skylake")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]


def test_generator_sizes_of_zero(virtsim_binary, tmp_path):
    """A fork_and_wait parent with no heap was a simulation failure midway; children that exec
    and touch no pages mapped an empty area, another."""
    common = ["--set", 'experiment.compare=""', "--set", 'workload.kind="fork_and_wait"', "--set",
              "workload.operations=5"]
    expect_one_error(run_in(virtsim_binary, tmp_path, "-o", "a.h5", *common, "--set", "workload.fork.parent_pages=0"),
                     "key 'workload.fork.parent_pages': value 0 is out of range; expected an integer in [1, ")
    assert list(tmp_path.iterdir()) == []
    result = run_in(virtsim_binary, tmp_path, "-o", "b.h5", *common, "--set", "workload.fork.child_writes=0",
                    "--set", "workload.fork.exec=true")
    assert result.returncode == 0, result.stderr
