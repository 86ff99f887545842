"""Kernel cost calibration: the native calibration program (virtsim-calibrate) in its quick
mode gives a well-formed, sane measurement; scripts/calibrate-kernel derives from it a machine
preset that `virtsim run` accepts; a bad measurement is one clear error naming the file and the
key; the committed regression cases are the ones the committed measurements give."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "calibrate-kernel"
NAMES = {"null_syscall", "fork_exit_wait", "fork_exec_wait", "first_touch", "cow_fault", "mmap_touch_munmap",
         "pipe_pingpong", "file_read", "file_write", "pipe_write", "pipe_read", "tcp_write", "tcp_read",
         "tcp_server_request", "epoll_wait", "poll", "open", "close", "stat", "fstat", "lseek", "vdso_clock_gettime",
         "clear_page"}


@pytest.fixture(scope="module")
def calibrate_binary(virtsim_binary) -> Path:
    # Beside the virtsim binary's build tree: build/apps/virtsim -> build/workloads/calibrate/.
    default = virtsim_binary.parents[1] / "workloads" / "calibrate" / "virtsim-calibrate"
    binary = Path(os.environ.get("VIRTSIM_CALIBRATE_BIN", default))
    if not binary.is_file():
        pytest.fail(f"{binary} not found: cmake --build build --target virtsim-calibrate")
    return binary


@pytest.fixture(scope="module")
def quick_measurement(tmp_path_factory, calibrate_binary) -> Path:
    out = tmp_path_factory.mktemp("calibration") / "quick.json"
    subprocess.run([str(calibrate_binary), "--quick", "--output", str(out)], check=True, timeout=300)
    return out


def by_name(measurement: dict) -> dict:
    return {(b["name"], b["size"]): b for b in measurement["benchmarks"]}


def test_the_quick_measurement_is_well_formed_and_sane(quick_measurement):
    m = json.loads(quick_measurement.read_text())
    assert m["format"] == "virtsim-calibration-1" and m["quick"] is True and m["repetitions"] == 3
    host = m["host"]
    for key in ("cpu_model", "kernel", "kernel_version", "machine", "date", "hypervisor", "dmi_vendor", "dmi_product",
                "transparent_hugepage", "loadavg", "tsc_method"):
        assert isinstance(host[key], str), key
    assert host["kernel"] == os.uname().release
    assert isinstance(host["virtualized"], bool)
    assert host["virtualized"] == bool(host["hypervisor"])
    assert 1e8 < host["tsc_hz"] < 1e10
    assert host["resident_pages"] > 0
    b = by_name(m)
    assert {name for name, _ in b} == NAMES
    assert {size for name, size in b if name == "mmap_touch_munmap"} == {1, 16, 64, 256}
    assert {size for name, size in b if name == "pipe_write"} == {64, 4096}
    assert {size for name, size in b if name == "file_write"} == {64, 4096, 65536}
    for (name, size), x in b.items():
        assert 0 < x["ns"]["min"] <= x["ns"]["median"] <= x["ns"]["max"], name
        assert x["cycles"]["median"] == pytest.approx(x["ns"]["median"] * host["tsc_hz"] / 1e9, rel=1e-3, abs=1)
        assert x["cpu_cycles"]["min"] == pytest.approx(x["cpu_ns"]["min"] * host["tsc_hz"] / 1e9, rel=1e-3, abs=1)
        # One CPU: the processes' CPU time is at most the elapsed time (give getrusage's
        # microseconds some room).
        assert 0 < x["cpu_ns"]["min"] <= x["ns"]["max"] * 1.05 + 1, name
        assert x["iterations"] > 0 and x["warmup_iterations"] > 0 and x["repetitions"] == 3
    null = b[("null_syscall", 0)]["cpu_ns"]["min"]
    fork = b[("fork_exit_wait", 0)]
    # A fork of a process costs far more than a null call; an exec more than a plain fork;
    # a larger parent more than a small one.
    assert fork["cpu_ns"]["min"] > 20 * null
    assert b[("fork_exec_wait", 0)]["cpu_ns"]["min"] > fork["cpu_ns"]["min"]
    assert b[("fork_exit_wait", 8192)]["cpu_ns"]["min"] > fork["cpu_ns"]["min"]
    assert 0 < fork["fork_call_share"] < 1
    assert fork["child_minor_faults_per_op"] >= 1  # the child writes its stack at least
    # One minor fault per page touched for the first time, or written while shared.
    for name in ("first_touch", "cow_fault"):
        assert b[(name, 1024)]["minor_faults_per_op"] == pytest.approx(1, abs=0.1), name
    for pages in (1, 16, 64, 256):
        assert b[("mmap_touch_munmap", pages)]["minor_faults_per_op"] == pytest.approx(pages, rel=0.1, abs=0.1)
    assert b[("null_syscall", 0)]["minor_faults_per_op"] < 0.01
    # System calls by class: a vDSO call enters no kernel; moving more bytes costs more; a TCP
    # write does the receiver's protocol work too; a server's request is a wait, a read and a write.
    assert b[("vdso_clock_gettime", 0)]["cpu_ns"]["min"] < null
    assert b[("file_read", 65536)]["cpu_ns"]["min"] > b[("file_read", 64)]["cpu_ns"]["min"]
    assert b[("tcp_write", 64)]["cpu_ns"]["min"] > b[("pipe_write", 64)]["cpu_ns"]["min"]
    request = b[("tcp_server_request", 64)]["cpu_ns"]["min"]
    assert request > b[("tcp_read", 64)]["cpu_ns"]["min"] + b[("epoll_wait", 0)]["cpu_ns"]["min"]
    for name in ("file_read", "pipe_read", "tcp_read", "lseek", "fstat", "epoll_wait"):
        assert all(x["minor_faults_per_op"] < 0.01 for (n, _), x in b.items() if n == name), name
    # Zeroing a page no cache holds: no fault (its pages were written before the timing), and at
    # least a cycle per 64-byte line, at most a memory latency's worth per line.
    clear = b[("clear_page", 8192)]
    assert clear["minor_faults_per_op"] < 0.01
    assert 64 <= clear["cpu_cycles"]["min"] < 64 * 1000


def test_only_runs_the_benchmarks_it_names_and_refuses_an_unknown_one(calibrate_binary, tmp_path):
    out = tmp_path / "only.json"
    subprocess.run([str(calibrate_binary), "--quick", "--only", "pipe_write:4096", "--only", "lseek", "--output",
                    str(out)], check=True, timeout=120)
    assert set(by_name(json.loads(out.read_text()))) == {("pipe_write", 4096), ("lseek", 0)}
    bad = subprocess.run([str(calibrate_binary), "--only", "pipe_write:7"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == ("virtsim-calibrate: error: --only pipe_write:7: no such benchmark (NAME or "
                                  "NAME:SIZE, as in the output)")


def run_script(*args: str, env_bin: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, VIRTSIM_BIN=str(env_bin), SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))


def test_the_derived_preset_reproduces_what_it_was_fitted_to_and_virtsim_runs_it(quick_measurement, virtsim_binary,
                                                                                  tmp_path):
    presets = tmp_path / "presets" / "machine"
    cases = tmp_path / "cases"
    presets.mkdir(parents=True)
    cases.mkdir()
    # One benchmark re-measured into (a copy of) the measurement, dated, before the derivation.
    measurement = tmp_path / "quick.json"
    measurement.write_text(quick_measurement.read_text())
    result = run_script("--measurement", str(measurement), "--presets", str(presets), "--cases", str(cases),
                        "--docs", str(tmp_path / "calibration.md"), "--measure-only", "pipe_write:4096", "--quick",
                        env_bin=virtsim_binary)
    assert result.returncode == 0, result.stderr
    remeasured = by_name(json.loads(measurement.read_text()))
    assert remeasured.keys() == by_name(json.loads(quick_measurement.read_text())).keys()
    assert "date" in remeasured[("pipe_write", 4096)] and "date" not in remeasured[("pipe_write", 64)]
    assert "added by `--measure-only`: pipe_write (4096 bytes)" in (tmp_path / "calibration.md").read_text()
    preset = presets / "epyc-kvm.toml"
    kernel = tomllib.loads(preset.read_text())["system"]["kernel"]
    assert kernel["syscall_instructions"] > 0 and kernel["fork_instructions"] > 0
    # Each system call class fitted (a TCP write costs more than a null call); vDSO calls cost
    # user instructions, fewer than a null call's kernel work.
    for cls in ("read", "write", "file_read", "file_write", "pipe_read", "pipe_write", "wait", "epoll", "poll", "open",
                "close", "stat", "fstat"):
        assert kernel[f"syscall_{cls}_instructions"] > 0, cls
    # A read's or write's cost per line moved, per object (0 when the copy alone costs enough).
    for kind in ("socket", "file", "pipe"):
        assert kernel.get(f"syscall_{kind}_line_instructions", 0) >= 0, kind
    assert kernel["syscall_write_instructions"] > kernel["syscall_instructions"]
    assert 0 < kernel["vdso_instructions"] < kernel["syscall_instructions"]
    assert "GENERATED by scripts/calibrate-kernel" in preset.read_text()
    # The rate of fast-string stores to lines no cache holds: the measured page zeroing over its
    # 64 lines (not a kernel cost: set, not fitted).
    clear = by_name(json.loads(quick_measurement.read_text()))[("clear_page", 8192)]
    cpu = tomllib.loads(preset.read_text())["system"]["cpu*"]
    assert cpu["string_store_line_cycles"] == max(1, round(clear["cpu_cycles"]["min"] / 64))
    # A config beside presets/machine/ finds the preset as `virtsim run` would.
    config = tmp_path / "uses-the-preset.toml"
    config.write_text('[machine]\npreset = "epyc-kvm"\n[workload]\nkind = "syscall_loop"\noperations = 200\n'
                      '[experiment]\ncompare = "native"\n')
    run = subprocess.run([str(virtsim_binary), "run", "-q", str(config), "-o", str(tmp_path / "r.h5")],
                         capture_output=True, text=True, env=dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1"))
    assert run.returncode == 0, run.stderr
    # Every fitted cost was met (or reported as not met) and its case written.
    written = sorted(p.name for p in cases.glob("calib-*-epyc-kvm.toml"))
    # (clear_page is no kernel cost: no case of its own)
    assert len(written) == len(by_name(json.loads(quick_measurement.read_text()))) - 1
    request = tomllib.loads((cases / "calib-tcp-server-request-64-epyc-kvm.toml").read_text())
    assert request["workload"]["syscall"]["numbers"] == "232,0,1"  # three calls per request
    fitted = tomllib.loads((cases / "calib-null-syscall-epyc-kvm.toml").read_text())
    assert fitted["case"]["kind"] == "measured" and fitted["expect"][0]["rel_tolerance"] == 0.2
    assert "| null_syscall |" in (tmp_path / "calibration.md").read_text()
    # The older presets without published figures take the host's fitted costs, their own
    # machine (the core that times those costs) kept.
    nehalem = tomllib.loads((presets / "nehalem.toml").read_text())
    assert nehalem["system"]["kernel"] == kernel
    assert nehalem["system"]["cpu*"]["dispatch_width"] == 4 and nehalem["system"]["vmx"]["vm_exit_cycles"] == 564


@pytest.mark.parametrize("edit, key", [
    (lambda m: m["benchmarks"][0]["cycles"].update(min="fast"), "benchmarks[0].cycles.min"),
    (lambda m: m["host"].pop("tsc_hz"), "host.tsc_hz"),
    (lambda m: m.update(format="lmbench"), "format"),
    (lambda m: m.update(benchmarks=[]), "benchmarks"),
])
def test_a_bad_measurement_is_one_error_naming_the_file_and_key(edit, key, virtsim_binary, tmp_path):
    measurement = json.loads((REPO / "experiments" / "calibration" / "epyc-kvm.json").read_text())
    edit(measurement)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(measurement))
    result = run_script("--measurement", str(bad), "--presets", str(tmp_path), "--cases", str(tmp_path),
                        "--docs", str(tmp_path / "c.md"), env_bin=virtsim_binary)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("virtsim: error: ")
    assert str(bad) in result.stderr and f"key '{key}'" in result.stderr
    assert not list(tmp_path.glob("*.toml"))


def test_a_measurement_that_is_not_json_is_one_error_with_its_line(virtsim_binary, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "virtsim-calibration-1",\n "host": }\n')
    result = run_script("--measurement", str(bad), "--docs", str(tmp_path / "c.md"), env_bin=virtsim_binary)
    assert result.returncode == 2
    assert result.stderr.startswith(f"virtsim: error: {bad}:2:") and "not JSON" in result.stderr


def test_the_committed_cases_hold_the_committed_measurements():
    """Each calib-* case expects its measurement's estimate (CPU time of the fastest repetition,
    or a published elapsed time) times its operations."""
    cases = sorted((REPO / "experiments" / "regression").glob("calib-*.toml"))
    assert cases
    for measurement in (REPO / "experiments" / "calibration").glob("*.json"):
        m = json.loads(measurement.read_text())
        if m.get("format") != "virtsim-calibration-1":
            continue  # another measurement kept beside them (KVM's exit-path code, say)
        preset = m.get("preset", "epyc-kvm")
        b = by_name(m)
        b.pop(("clear_page", 8192), None)  # a store rate the preset states, not a kernel cost with a case
        mine = [c for c in cases if c.stem.endswith("-" + preset)]
        assert len(mine) == len(b), preset
        for case in mine:
            config = tomllib.loads(case.read_text())
            name = case.stem[len("calib-"):-len("-" + preset)]
            parts = name.rsplit("-", 1)
            size = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0
            base = (parts[0] if size else name).replace("-", "_")
            # A syscall_loop of several call numbers makes that many calls per operation.
            calls = len(str(config["workload"].get("syscall", {}).get("numbers", "39")).split(","))
            operations = config["workload"]["operations"] / calls
            expected = b[(base, size)].get("cpu_cycles", b[(base, size)]["cycles"])["min"] * operations
            assert config["expect"][0]["value"] == pytest.approx(expected, abs=1), case.name
            assert config["machine"]["preset"] == preset


def test_published_figures_need_the_measurement_they_take_their_assumptions_from(virtsim_binary, tmp_path):
    published = json.loads((REPO / "experiments" / "calibration" / "aa2006-pentium4.json").read_text())
    assert published["assume_from"] == "epyc-kvm.json" and published["source"].startswith("K. Adams and O. Agesen")
    bad = tmp_path / "published.json"  # no epyc-kvm.json beside it
    bad.write_text(json.dumps(published))
    result = run_script("--measurement", str(bad), "--presets", str(tmp_path), "--cases", str(tmp_path),
                        "--docs", str(tmp_path / "c.md"), env_bin=virtsim_binary)
    assert result.returncode == 2
    assert result.stderr.startswith(f"virtsim: error: {bad}: key 'assume_from'") and result.stderr.count("\n") == 1


CARRYING = ("merom", "penryn", "nehalem", "westmere", "sandybridge", "barcelona", "shanghai", "skylake", "skylake-sp",
            "zen2", "bhargava2008")


def test_the_presets_without_published_figures_carry_the_committed_host_costs():
    """The presets with no published bare-metal kernel figures (the older generations, Skylake,
    Zen 2 and the machine Bhargava et al. simulated) hold the calibration host's fitted costs in
    their generated block, which says it is an assumption; the Pentium 4, with a published
    figure, keeps its own fit. Every shipped machine preset so has kernel costs of a measured
    kernel, none the model's defaults for fork and exit."""
    presets = REPO / "experiments" / "presets" / "machine"
    host = tomllib.loads((presets / "epyc-kvm.toml").read_text())["system"]["kernel"]
    assert set(CARRYING) == set(load_script().CARRIED_PRESETS)
    for path in presets.glob("*.toml"):
        kernel = tomllib.loads(path.read_text()).get("system", {}).get("kernel", {})
        if path.stem not in ("epyc-kvm", "this-host-kvm"):  # the host's own; this-host-kvm bases on it
            assert kernel.get("fork_instructions", 0) >= 100000, path.name
    for name in CARRYING:
        text = (presets / f"{name}.toml").read_text()
        assert tomllib.loads(text)["system"]["kernel"] == host, name
        block = text[text.index("# ---- kernel costs: GENERATED"):]
        assert "carried over from the calibration host" in block and "Assumption:" in block, name
    prescott = tomllib.loads((presets / "prescott.toml").read_text())["system"]["kernel"]
    assert prescott["fork_instructions"] != host["fork_instructions"]


def load_script():
    loader = importlib.machinery.SourceFileLoader("calibrate_kernel", str(SCRIPT))
    spec = importlib.util.spec_from_loader("calibrate_kernel", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate_kernel"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


def test_the_fit_does_not_read_the_kernel_costs_of_the_preset_it_runs_on(virtsim_binary, tmp_path, monkeypatch):
    """The host's costs are fitted on the zen2 preset, which carries the costs the fit writes (and
    the Pentium 4's on its own preset): every model run of the fit sets each cost it fits, so a
    preset's block never reaches it and re-running the fit gives the same bits. Checked on every
    microbenchmark's model configuration, and by a run of the fork benchmark with zen2's block
    replaced by other costs."""
    script = load_script()
    monkeypatch.setattr(script, "VIRTSIM", virtsim_binary)
    host = script.read_measurement(REPO / "experiments" / "calibration" / "epyc-kvm.json")
    assert host.machine_lines()[:2] == ["[machine]", f'preset = "{script.HOST_GEOMETRY}"']
    presets = REPO / "experiments" / "presets" / "machine"
    blocks = set()
    for path in presets.glob("*.toml"):
        blocks |= set(tomllib.loads(path.read_text()).get("system", {}).get("kernel", {}))
    for m in script.microbenchmarks(host):
        kernel = tomllib.loads(script.config_text(host, m, {}))["system"]["kernel"]
        # Every cost any preset's block sets and every cost the fit fits is set by the run itself.
        assert blocks <= kernel.keys(), (m.label, blocks - kernel.keys())
        assert {p for f in script.microbenchmarks(host) if f.parameter for p in script.fitted_parameters(f)} <= kernel.keys()
    fork = next(m for m in script.microbenchmarks(host) if m.name == "fork_exit_wait" and m.size == 0)
    fork.operations = 8
    committed = script.model_cycles_per_op(host, fork, {})
    other = tmp_path / "presets" / "machine"
    other.mkdir(parents=True)
    text = (presets / "zen2.toml").read_text()
    assert script.BEGIN in text
    block = tomllib.loads(text[text.index(script.BEGIN):])["system"]["kernel"]
    (other / "zen2.toml").write_text(text[:text.index(script.BEGIN)] + "[system.kernel]\n" +
                                     "".join(f"{k} = {3 * v + 7}\n" for k, v in block.items()))
    monkeypatch.setenv("VIRTSIM_PRESET_PATH", str(tmp_path / "presets"))
    assert script.model_cycles_per_op(host, fork, {}) == committed
    # The doctored preset is the one virtsim loads: a run that leaves the costs to the preset moves.
    monkeypatch.setattr(script, "FIT_START", {})
    assert script.model_cycles_per_op(host, fork, {}) != committed
