"""tools/kvm-probe: the real-KVM probe's output, its refusals, its watchdog, and the preset made
from its committed measurement. Tests that need KVM skip with the probe's own one-line reason
where /dev/kvm is absent or unusable."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEASUREMENT = REPO / "experiments" / "kvm-probe" / "this-host.toml"
UNAVAILABLE = 3
BENCHMARKS = ["nop", "cpuid", "io_kernel", "io_user", "mmio", "nop_supervisor", "cpuid_supervisor", "hlt", "page_fault"]


@pytest.fixture(scope="module")
def probe_binary() -> Path:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("kvm-probe is built on Linux x86-64 only")
    default = Path(os.environ.get("VIRTSIM_BIN", REPO / "build" / "apps" / "virtsim")).parents[1] / "tools" / "kvm-probe" / "kvm-probe"
    binary = Path(os.environ.get("KVM_PROBE_BIN", default))
    if not binary.is_file():
        pytest.fail(f"kvm-probe not found at {binary}: build the default target or set KVM_PROBE_BIN")
    return binary


def run_probe(binary: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout)


def skip_if_unavailable(result: subprocess.CompletedProcess) -> None:
    if result.returncode == UNAVAILABLE:
        pytest.skip(result.stderr.strip())


@pytest.fixture(scope="module")
def quick_measurement(probe_binary) -> dict:
    result = run_probe(probe_binary, "--quick", "--timeout", "120")
    skip_if_unavailable(result)
    assert result.returncode == 0, result.stderr
    return tomllib.loads(result.stdout)


def test_quick_run_reports_every_benchmark_with_positive_figures(quick_measurement):
    m = quick_measurement
    repetitions = m["probe"]["repetitions"]
    assert m["host"]["tsc_khz"] > 0
    # KVM's TSC rate and the host's TSC timed against CLOCK_MONOTONIC_RAW are one clock.
    assert abs(m["host"]["tsc_khz_calibrated"] / m["host"]["tsc_khz"] - 1) < 0.05
    for name in BENCHMARKS:
        section = m[name]
        assert section["operations"] > 0, name
        assert section["cycles_per_operation"] > 0, name
        assert section["minimum_cycles_per_operation"] <= section["cycles_per_operation"], name
    for name in BENCHMARKS[:-1]:
        assert len(m[name]["samples"]) == repetitions and all(s > 0 for s in m[name]["samples"]), name
    assert m["hlt"]["loop_cycles_per_operation"] > m["hlt"]["cycles_per_operation"]


def test_exits_to_user_space_cost_more_than_exits_handled_in_the_kernel(quick_measurement):
    m = quick_measurement
    assert m["io_user"]["cycles_per_operation"] > m["io_kernel"]["cycles_per_operation"]
    assert m["mmio"]["cycles_per_operation"] > m["io_kernel"]["cycles_per_operation"]
    # The probe's own share of an exit to user space is a part of it.
    for name in ("io_user", "mmio", "hlt"):
        assert 0 < m[name]["probe_cycles_per_operation"] < m[name]["loop_cycles_per_operation" if name == "hlt" else "cycles_per_operation"]
    # Every exit costs more than an iteration of the loop that makes it.
    assert m["cpuid"]["cycles_per_operation"] > m["nop"]["cycles_per_operation"]
    # A page whose host memory was just dropped costs a fault; touched again, it does not.
    assert m["page_fault"]["first_touch_cycles"] > m["page_fault"]["second_touch_cycles"]


@pytest.mark.parametrize("name", ["this-host.toml", "this-host-cpl0.toml"])
def test_the_committed_measurements_have_the_structure_the_probe_writes(quick_measurement, name):
    committed = tomllib.loads((MEASUREMENT.parent / name).read_text())
    assert set(committed) == set(quick_measurement)
    for table, values in quick_measurement.items():
        assert set(committed[table]) == set(values), table
    assert committed["probe"]["quick"] is False


def test_a_missing_or_foreign_device_is_refused_in_one_line_with_its_own_status(probe_binary, tmp_path):
    missing = run_probe(probe_binary, "--device", str(tmp_path / "no-kvm"))
    assert missing.returncode == UNAVAILABLE
    assert missing.stderr == f"kvm-probe: unavailable: open {tmp_path / 'no-kvm'}: No such file or directory\n"
    assert missing.stdout == ""
    not_kvm = run_probe(probe_binary, "--device", "/dev/null")
    assert not_kvm.returncode == UNAVAILABLE
    assert not_kvm.stderr.startswith("kvm-probe: unavailable: /dev/null is not KVM")
    assert len(not_kvm.stderr.splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unknown or incomplete argument '--bogus'"),
    (["--repetitions", "0"], "--repetitions: expected 1 to 64"),
    (["--guest-cpl", "1"], "--guest-cpl: expected 0 or 3"),
    (["--timeout"], "unknown or incomplete argument '--timeout'"),
])
def test_bad_arguments_stop_with_status_2(probe_binary, args, message):
    result = run_probe(probe_binary, *args)
    assert result.returncode == 2
    assert result.stderr == f"kvm-probe: error: {message}" + (" (kvm-probe --help lists them)\n" if "argument" in message else "\n")


def test_the_watchdog_bounds_a_run(probe_binary):
    # 64 repetitions of every benchmark take well over a second on any KVM host.
    result = run_probe(probe_binary, "--timeout", "1", "--repetitions", "64", timeout=60)
    skip_if_unavailable(result)
    assert result.returncode == 4
    assert result.stderr == "kvm-probe: watchdog: the measurement took longer than its time limit\n"


def test_the_preset_made_from_the_measurement_runs_and_reproduces_its_cpuid(virtsim_binary, tmp_path):
    """The this-host-kvm preset is accepted by `virtsim run`, and its whole CPUID exit is the
    measured one it was derived from (its round trip is that measurement less the model's
    handler; tools/kvm-probe/update-this-host)."""
    config = tmp_path / "probe.toml"
    config.write_text('[machine]\npreset = "this-host-kvm"\n[workload]\nkind = "exitbench"\n'
                      '[workload.exitbench]\nbenchmark = "cpuid"\noperations = 200\n[experiment]\ncompare = ""\n')
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    out = tmp_path / "probe.h5"
    result = subprocess.run([str(virtsim_binary), "run", str(config), "-o", str(out), "-q"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    stats = subprocess.run([str(virtsim_binary), "stats", str(out), "--json", "--all"], capture_output=True, text=True,
                           env=env, timeout=300)
    metrics = json.loads(stats.stdout)["run0000"]["metrics"]
    measured = tomllib.loads(MEASUREMENT.read_text())
    assert metrics["workload.cycles_per_operation"] == pytest.approx(measured["cpuid"]["cycles_per_operation"], rel=0.01)
    described = subprocess.run([str(virtsim_binary), "describe", str(config), "--json"], capture_output=True, text=True,
                               env=env, timeout=300)
    values = {p["name"]: p["value"] for p in json.loads(described.stdout)["parameters"]}
    assert values["system.vmx.mode"] == "svm"
    assert values["system.shadow.enabled"] is True
    assert values["system.nested.paging"] == "none"
    assert values["system.clock_ghz"] == pytest.approx(measured["host"]["tsc_khz"] / 1e6)


def test_the_preset_and_cases_are_what_update_this_host_makes_today(virtsim_binary, tmp_path):
    """The committed preset and kvm-probe cases follow from the committed measurement and today's
    model; after a change of the handler model, rerun tools/kvm-probe/update-this-host."""
    made = subprocess.run([str(REPO / "tools" / "kvm-probe" / "update-this-host"), "--out", str(tmp_path),
                           "--virtsim", str(virtsim_binary)], capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    files = [Path("experiments/presets/machine/this-host-kvm.toml"),
             *(Path("experiments/regression") / p.name for p in (tmp_path / "experiments" / "regression").glob("*.toml"))]
    assert len(files) == 6
    for name in files:
        assert (tmp_path / name).read_text() == (REPO / name).read_text(), f"{name} is stale: run tools/kvm-probe/update-this-host"
