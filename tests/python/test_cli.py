"""The virtsim command line end to end: bad input gets a clear message and status 2 and
leaves nothing half-written; good input gives deterministic, well-formed output."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "python" / "data" / "tiny.toml"
# The embedded default experiment compares memory virtualizations; this makes it one run.
SINGLE = ("--set", 'experiment.compare=""')


def virtsim(binary: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def expect_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


# ---- bad input ---------------------------------------------------------------------------


def test_missing_config_file(virtsim_binary, tmp_path):
    out = tmp_path / "out.h5"
    result = virtsim(virtsim_binary, "run", str(tmp_path / "nope.toml"), "-o", str(out))
    expect_error(result, f"{tmp_path / 'nope.toml'}: config file not found")
    assert not out.exists()


def test_toml_syntax_error_has_line_and_column(virtsim_binary, tmp_path):
    config = write(tmp_path / "bad.toml", "[system]\ncpus = = 2\n")
    result = virtsim(virtsim_binary, "run", str(config), "-o", str(tmp_path / "o.h5"))
    expect_error(result, "TOML syntax error")
    assert re.search(re.escape(str(config)) + r":2:\d+:", result.stderr), result.stderr


def test_unknown_key_suggests_the_right_one(virtsim_binary, tmp_path):
    config = write(tmp_path / "typo.toml", "[system]\ncpuz = 2\n")
    result = virtsim(virtsim_binary, "run", str(config), "-o", str(tmp_path / "o.h5"))
    expect_error(result, f"{config}:2:8: unknown key 'system.cpuz'", "did you mean 'system.cpus'")


def test_wrong_type_names_key_and_expected_type(virtsim_binary, tmp_path):
    config = write(tmp_path / "type.toml", '[system]\ncpus = "two"\n')
    result = virtsim(virtsim_binary, "run", str(config), "-o", str(tmp_path / "o.h5"))
    expect_error(result, f"{config}:2:8: key 'system.cpus': got a string", "expected an integer in [1, 64]")


def test_value_out_of_range(virtsim_binary, tmp_path):
    config = write(tmp_path / "range.toml", "[system]\ncpus = 0\n")
    result = virtsim(virtsim_binary, "run", str(config), "-o", str(tmp_path / "o.h5"))
    expect_error(result, "key 'system.cpus': value 0 is out of range", "[1, 64]")


def test_unknown_preset_lists_the_available_ones(virtsim_binary, tmp_path):
    config = write(tmp_path / "preset.toml", '[machine]\npreset = "pentium9"\n')
    result = virtsim(virtsim_binary, "run", str(config), "-o", str(tmp_path / "o.h5"))
    expect_error(result, "key 'machine.preset': unknown preset \"pentium9\"", "available:", "skylake")


def test_unknown_key_from_set_option(virtsim_binary, tmp_path):
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(tmp_path / "o.h5"), "--set", "system.cpu0.cpj=2")
    expect_error(result, "--set system.cpu0.cpj: unknown key", "did you mean 'system.cpu0.cpi'")


@pytest.mark.parametrize("where", ["missing-dir", "file-as-dir", "proc"])
def test_unwritable_output_directory(virtsim_binary, tmp_path, where):
    if where == "missing-dir":
        out = tmp_path / "no" / "such" / "dir" / "o.h5"
    elif where == "file-as-dir":
        out = write(tmp_path / "plain", "x") / "o.h5"
    else:
        out = Path("/proc/virtsim-test.h5")  # not writable, even for root
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out))
    expect_error(result, str(out.parent))
    assert "writ" in result.stderr or "exist" in result.stderr or "director" in result.stderr, result.stderr
    assert not out.exists()


def test_existing_output_is_kept_without_force(virtsim_binary, tmp_path):
    out = write(tmp_path / "keep.h5", "precious")
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out))
    expect_error(result, f"'{out}' already exists", "--force")
    assert out.read_text() == "precious"
    forced = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "--force", "-q")
    assert forced.returncode == 0, forced.stderr
    assert h5py.is_hdf5(out)


def test_unknown_command_line_option(virtsim_binary):
    result = virtsim(virtsim_binary, "run", "--bogus")
    expect_error(result, "--bogus")


def test_failed_simulation_writes_a_partial_result(virtsim_binary, tmp_path):
    # 64 MiB of footprint cannot fit in 16 MiB of simulated memory: the run dies mid-way,
    # and what was simulated until then is kept, marked partial, with the error.
    out = tmp_path / "o.h5"
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "--set", "system.memory.size_mib=16",
                     "--set", "workload.footprint_kib=65536", "--set", "workload.pattern=stream",
                     "--set", "workload.stride=4096")
    assert result.returncode == 1, result.stderr
    assert "out of simulated physical memory" in result.stderr
    assert list(tmp_path.iterdir()) == [out]  # no temporary left behind
    with h5py.File(out) as f:
        run = f["runs/run0000"]
        assert run.attrs["status"] == "partial"
        assert "out of simulated physical memory" in run.attrs["error"]
    # An existing file is still never overwritten without --force, and nothing is simulated.
    again = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out))
    expect_error(again, "exists")


# ---- good input --------------------------------------------------------------------------


def metrics_json(binary: Path, path: Path, everything: bool = False) -> dict:
    result = virtsim(binary, "stats", str(path), "--json", *(["--all"] if everything else []))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_same_seed_same_results_other_seed_other_results(virtsim_binary, tmp_path):
    paths = []
    for name, seed in [("a", 5), ("b", 5), ("c", 6)]:
        out = tmp_path / f"{name}.h5"
        result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q", "--set", f"run.seed={seed}")
        assert result.returncode == 0, result.stderr
        paths.append(out)
    a, b, c = (metrics_json(virtsim_binary, p, everything=True)["run0000"]["metrics"] for p in paths)
    assert a == b
    assert a["tlb.l1d.misses"] != c["tlb.l1d.misses"]
    # Same user work, different addresses (so the kernel's page-fault work differs).
    user = lambda m: m["sim.instructions"] - m["system.cpu0.kernel_instructions"]
    assert user(a) == user(c)


def test_run_prints_summary_and_result_path(virtsim_binary, tmp_path):
    out = tmp_path / "s.h5"
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"results: {out}" in result.stdout
    for name in ["sim.instructions", "walk.refs_per_walk", "tlb.l1d.misses"]:
        assert name in result.stdout
    assert "simulating" not in result.stderr  # progress is for terminals (test_commands.py)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_stats_prints_canonical_metrics_and_rejects_non_hdf5(virtsim_binary, tiny_result, tmp_path):
    data = metrics_json(virtsim_binary, tiny_result)
    metrics = data["run0000"]["metrics"]
    assert data["run0000"]["status"] == "ok"
    assert metrics["walk.refs_per_walk"] == pytest.approx(metrics["walk.refs"] / metrics["walk.count"])
    text = virtsim(virtsim_binary, "stats", str(tiny_result))
    assert text.returncode == 0 and "walk.cycles_per_walk" in text.stdout
    bogus = write(tmp_path / "bogus.h5", "not hdf5")
    expect_error(virtsim(virtsim_binary, "stats", str(bogus)), str(bogus))


def test_describe_json_lists_parameters_and_statistics(virtsim_binary):
    result = virtsim(virtsim_binary, "describe", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    params = {p["name"]: p for p in data["parameters"]}
    stats = {s["name"]: s for s in data["statistics"]}
    assert len(params) == len(data["parameters"]) and len(stats) == len(data["statistics"])
    assert params["system.cpu0.dtlb.entries_4k"]["default"] == 64
    assert params["system.cpus"]["allowed"] == "an integer in [1, 64]"
    assert all(p["description"] for p in data["parameters"])
    assert {s["kind"] for s in data["statistics"]} >= {"counter", "histogram", "vector", "formula"}
    for name in ["sim.instructions", "walk.count", "tlb.l1d.mpki", "system.mmu0.walker.refs_per_walk"]:
        assert name in stats


def test_describe_follows_the_config(virtsim_binary):
    result = virtsim(virtsim_binary, "describe", "--json", "--set", "system.cpus=2")
    names = {p["name"] for p in json.loads(result.stdout)["parameters"]}
    assert "system.cpu1.dtlb.entries_4k" in names


def test_platform_dot_is_valid_graphviz(virtsim_binary, tmp_path):
    result = virtsim(virtsim_binary, "platform", "--dot", "--set", "system.cpus=2")
    assert result.returncode == 0, result.stderr
    assert '"cpu1"->"mmu1"' in result.stdout
    svg = subprocess.run(["dot", "-Tsvg"], input=result.stdout, capture_output=True, text=True)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout


def test_parameter_pages_list_every_parameter_and_statistic_of_describe(virtsim_binary):
    """docs/parameters/ (generated by scripts/update-docs; tests/python/test_docs.py checks it is
    current) names every parameter and statistic `virtsim describe` gives, instance numbers
    collapsed to N, once per component type."""
    described = json.loads(virtsim(virtsim_binary, "describe", "--json", "--set", "system.cpus=2").stdout)
    pages = "\n".join(p.read_text() for p in (REPO / "docs" / "parameters").glob("*.md"))
    for item in described["parameters"] + described["statistics"]:
        name = re.sub(r"^system\.([a-z]+)\d+\b", r"system.\1N", item["name"])
        assert f"| `{name}` |" in pages, f"{name} is not in docs/parameters/: run scripts/update-docs"
    assert "| `system.cpu1." not in pages and "| `system.cpuN.dtlb.entries_4k` |" in pages


def test_two_vcpus_each_run_the_workload(virtsim_binary, tmp_path):
    runs = {}
    for cpus in (1, 2):
        out = tmp_path / f"cpus{cpus}.h5"
        result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q", "--set", f"system.cpus={cpus}")
        assert result.returncode == 0, result.stderr
        runs[cpus] = out
    one = metrics_json(virtsim_binary, runs[1], everything=True)["run0000"]["metrics"]
    two = metrics_json(virtsim_binary, runs[2], everything=True)["run0000"]["metrics"]
    # Each vCPU runs its own instance of the workload in its own address space: the same user
    # instructions (the kernel's page-fault work depends on where the pages land).
    user = lambda m, cpu: m[f"system.cpu{cpu}.instructions"] - m[f"system.cpu{cpu}.kernel_instructions"]
    assert user(two, 0) == user(two, 1) == user(one, 0)
    assert two["tlb.l1d.accesses"] >= 2 * 20000  # each vCPU: one lookup per access (more after faults)
    with h5py.File(runs[2]) as f:
        names = {n.decode() for n in f["runs/run0000/metrics"]["name"]}
    assert {"system.cpu0.instructions", "system.cpu1.instructions", "system.mmu1.walker.walks"} <= names


def test_platform_text_lists_components_and_bindings(virtsim_binary):
    result = virtsim(virtsim_binary, "platform")
    assert result.returncode == 0, result.stderr
    assert "cpu0 (vcpu)" in result.stdout and "memory (memory)" in result.stdout
    assert "translate -> mmu0.translate" in result.stdout
    assert "fault_handler -> kernel.faults" in result.stdout


def test_version(virtsim_binary):
    result = virtsim(virtsim_binary, "--version")
    assert result.returncode == 0
    assert re.match(r"\d+\.\d+\.\d+ \(", result.stdout), result.stdout


def test_translation_check_compares_every_walk_and_changes_nothing(virtsim_binary, tmp_path):
    plain, checked = tmp_path / "plain.h5", tmp_path / "checked.h5"
    for out, extra in [(plain, []), (checked, ["--set", "system.mmu*.check=true"])]:
        result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q", *extra)
        assert result.returncode == 0, result.stderr
    a = metrics_json(virtsim_binary, plain)["run0000"]["metrics"]
    b = metrics_json(virtsim_binary, checked)["run0000"]["metrics"]
    assert a == b  # canonical metrics: the check costs no simulated time
    everything = json.loads(virtsim(virtsim_binary, "stats", str(checked), "--json", "--all").stdout)
    metrics = everything["run0000"]["metrics"]
    assert metrics["system.mmu0.checked"] == metrics["walk.count"] > 0
    unchecked = json.loads(virtsim(virtsim_binary, "stats", str(plain), "--json", "--all").stdout)
    assert unchecked["run0000"]["metrics"]["system.mmu0.checked"] == 0


def test_the_documented_example_config_applies(virtsim_binary):
    example = REPO / "experiments" / "example.toml"
    assert example.read_text().split("\n[", 1)[1] in (REPO / "docs" / "configs.md").read_text()  # the docs show it
    result = virtsim(virtsim_binary, "describe", str(example), "--json")
    assert result.returncode == 0, result.stderr
    values = {p["name"]: p["value"] for p in json.loads(result.stdout)["parameters"]}
    assert values["system.cpu0.dtlb.entries_4k"] == values["system.cpu1.dtlb.entries_4k"] == 128
    assert values["system.cpu1.dtlb.ways_4k"] == 4  # from the preset
    assert values["workload.pattern"] == "hotspot"


@pytest.mark.parametrize("paging,nested", [
    ("32bit", "none"), ("pae", "none"), ("4level", "none"), ("5level", "none"),
    ("4level", "ept4"), ("5level", "ept5"), ("pae", "npt4"), ("32bit", "ept4"), ("4level", "npt5"),
])
def test_every_paging_mode_runs_checked_end_to_end(virtsim_binary, tmp_path, paging, nested):
    """Each guest paging mode natively and under EPT / NPT: every walk is compared with the
    functional reference at run time, and the reference grid matches the walk counts."""
    out = tmp_path / "run.h5"
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q",
                     "--set", f'system.kernel.paging="{paging}"', "--set", f'system.nested.paging="{nested}"',
                     "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    everything = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)
    metrics = everything["run0000"]["metrics"]
    assert metrics["system.mmu0.checked"] == metrics["walk.count"] > 0
    with h5py.File(out) as f:
        grid = f["runs/run0000/walks/ref_grid"][()]
    assert grid.sum() == metrics["walk.refs"]
    if nested == "none":
        assert grid[:, :5].sum() == 0 and metrics["walk.two_dimensional"] == 0
    else:
        assert grid[:, :5].sum() > 0 and metrics["walk.two_dimensional"] == metrics["walk.count"]


def test_nested_paging_costs_more_references_per_walk(virtsim_binary, tmp_path):
    metrics = {}
    for nested in ("none", "ept4"):
        out = tmp_path / f"{nested}.h5"
        result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(out), "-q",
                         "--set", f'system.nested.paging="{nested}"',
                         "--set", "system.mmu*.walker.pwc.enabled=false",
                         "--set", "system.mmu*.walker.nested_pwc.enabled=false",
                         "--set", "system.mmu*.walker.nested_tlb.enabled=false",
                         # Kernel work as instructions only: no direct-map walks (2 MiB pages) to count.
                         "--set", "system.kernel.memory_references=false")
        assert result.returncode == 0, result.stderr
        metrics[nested] = json.loads(virtsim(virtsim_binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]
    # The tiny workload's walks read 4 guest entries each (4 KiB pages; a demand-paging fault is
    # found at the PTE). Natively that is 4 references; under 4-level EPT with every cache off,
    # 24 for a walk that completes and 4 x (4 + 1) = 20 for one that faults in the guest.
    native, nested = metrics["none"], metrics["ept4"]
    assert native["walk.refs"] == 4 * native["walk.count"]
    faults = nested["system.mmu0.walker.faults"]
    assert faults > 0
    assert nested["walk.refs"] == 24 * (nested["walk.count"] - faults) + 20 * faults


def test_layout_must_suit_the_paging_mode(virtsim_binary, tmp_path):
    result = virtsim(virtsim_binary, "run", str(TINY), "-o", str(tmp_path / "x.h5"),
                     "--set", 'system.kernel.paging="pae"', "--set", 'system.kernel.layout="linux64"')
    expect_error(result, "system.kernel.layout", "4level")
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("preset", ["skylake", "zen2", "bhargava2008"])
def test_machine_presets_apply_and_run(virtsim_binary, tmp_path, preset):
    config = write(tmp_path / "m.toml", f'[machine]\npreset = "{preset}"\n'
                   "[workload]\nfootprint_kib = 4096\nwarmup_accesses = 1000\naccesses = 5000\n")
    described = virtsim(virtsim_binary, "describe", str(config), "--json")
    assert described.returncode == 0, described.stderr
    values = {p["name"]: p["value"] for p in json.loads(described.stdout)["parameters"]}
    mixed = values["system.cpu0.dtlb.mixed_entries"]
    assert mixed == (0 if preset == "skylake" else 64)  # Zen 2 and the ASPLOS 2008 machine: one 64-entry array
    out = tmp_path / "m.h5"
    paging = "npt4" if preset == "zen2" else "ept4"  # Zen 2 runs AMD-V: NPT, not EPT
    result = virtsim(virtsim_binary, "run", str(config), "-o", str(out), "-q", "--set", f'system.nested.paging="{paging}"',
                     "--set", "system.mmu*.check=true")
    assert result.returncode == 0, result.stderr
    assert metrics_json(virtsim_binary, out)["run0000"]["metrics"]["walk.two_dimensional"] > 0


PRESETS = ["prescott", "merom", "penryn", "nehalem", "westmere", "sandybridge", "skylake-sp",
           "barcelona", "shanghai", "zen2"]


def bench_run(binary, tmp_path, preset, benchmark, *extra):
    config = write(tmp_path / f"{preset}-{benchmark}.toml",
                   f'[machine]\npreset = "{preset}"\n[workload]\nkind = "exitbench"\n'
                   f'[workload.exitbench]\nbenchmark = "{benchmark}"\noperations = 500\nwarmup_operations = 20\n')
    out = tmp_path / f"{preset}-{benchmark}.h5"
    result = virtsim(binary, "run", str(config), "-o", str(out), "-q", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(virtsim(binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"], out


@pytest.mark.parametrize("preset", PRESETS)
def test_cpuid_round_trip_equals_the_presets_transitions(virtsim_binary, tmp_path, preset):
    """The timing identity: with no handler cost a CPUID costs exactly VM exit + VM entry."""
    metrics, out = bench_run(virtsim_binary, tmp_path, preset, "cpuid", "--set", "system.hypervisor.enabled=false")
    described = virtsim(virtsim_binary, "describe", str(tmp_path / f"{preset}-cpuid.toml"), "--json")
    values = {p["name"]: p["value"] for p in json.loads(described.stdout)["parameters"]}
    assert metrics["workload.cycles_per_operation"] == values["system.vmx.vm_exit_cycles"] + values["system.vmx.vm_entry_cycles"]
    assert metrics["exits.total"] == 500
    with h5py.File(out) as f:
        exits = f["runs/run0000/exits"][()]
    names = [n.decode() if isinstance(n, bytes) else n for n in exits["name"]]
    assert names == ["CPUID"]  # the name both manuals use
    assert exits["count"][0] == 500
    assert int(exits["code"][0]) == (10 if values["system.vmx.mode"] == "vmx" else 0x72)


def test_exit_costs_follow_the_handler_model(virtsim_binary, tmp_path):
    kernel, _ = bench_run(virtsim_binary, tmp_path, "nehalem", "io_kernel")
    user, _ = bench_run(virtsim_binary, tmp_path, "nehalem", "io_user")
    described = json.loads(virtsim(virtsim_binary, "describe", "--json").stdout)["parameters"]
    defaults = {p["name"]: p["default"] for p in described}
    trip = defaults["system.hypervisor.user_space_cycles"]
    # Port I/O to the user-space device model costs the trip to user space more.
    assert user["workload.cycles_per_operation"] - kernel["workload.cycles_per_operation"] == trip
    assert user["system.virt0.user_space_exits"] == 500 and kernel["system.virt0.user_space_exits"] == 0
    # The handler's loads of hypervisor data went through the vCPU's caches: the exit path's
    # lines and the io handler's on every exit.
    lines = defaults["system.hypervisor.exit_path_memory_lines"] + defaults["system.hypervisor.io_memory_lines"]
    assert kernel["system.virt0.handler_memory_reads"] == lines * 500
    assert kernel["system.virt0.handler_memory_cycles"] >= lines * 500 * 4  # at least an L1 hit each
    # The exit's cost splits into its transitions, the handlers' instructions, their VMCS
    # accesses and their loads.
    parts = ("transition_cycles", "handler_instruction_cycles", "vmcs_access_cycles", "handler_memory_cycles")
    assert sum(kernel[f"system.virt0.{k}"] for k in parts) == kernel["system.virt0.exit_cycles"]
    # RDTSC exits only with RDTSC exiting; MOV to CR8 only without the TPR shadow.
    plain, _ = bench_run(virtsim_binary, tmp_path, "nehalem", "rdtsc")
    assert plain["exits.total"] == 0
    exiting, _ = bench_run(virtsim_binary, tmp_path, "westmere", "rdtsc", "--set", "system.vmx.rdtsc_exiting=true")
    assert exiting["exits.total"] == 500
    shadow, _ = bench_run(virtsim_binary, tmp_path, "nehalem", "mov_cr8")
    assert shadow["exits.total"] == 0
    no_shadow, _ = bench_run(virtsim_binary, tmp_path, "zen2", "mov_cr8", "--set", "system.vmx.use_tpr_shadow=false")
    assert no_shadow["exits.total"] == 500


def test_native_instructions_do_not_exit(virtsim_binary, tmp_path):
    metrics, _ = bench_run(virtsim_binary, tmp_path, "skylake", "cpuid")  # skylake.toml leaves VT-x off
    assert metrics["exits.total"] == 0
    assert metrics["workload.cycles_per_operation"] == 1


def test_sensitive_unprivileged_instructions_are_holes_without_assist(virtsim_binary, tmp_path):
    native, _ = bench_run(virtsim_binary, tmp_path, "skylake", "sgdt", "--set", "system.cpu0.deprivileged_kernel=true")
    assert native["system.cpu0.virtualization_holes"] == 500
    assert native["exits.total"] == 0
    covered, _ = bench_run(virtsim_binary, tmp_path, "nehalem", "sgdt", "--set", "system.vmx.descriptor_table_exiting=true")
    assert covered["exits.total"] == 500
    assert covered["system.cpu0.virtualization_holes"] == 0


def test_cpuid_masking_for_migration_is_applied_and_counted(virtsim_binary, tmp_path):
    mask = ["--set", "workload.exitbench.cpuid_leaf=1", "--set", f"system.hypervisor.cpuid_mask_leaf1_ecx={0xffffffff & ~(1 << 5)}"]
    masked, _ = bench_run(virtsim_binary, tmp_path, "barcelona", "cpuid", *mask)
    assert masked["system.virt0.cpuid_masked"] == 500
    assert masked["system.virt0.cpuid_guest_ecx"] == 0xffffffff & ~(1 << 5)  # the guest no longer sees bit 5
    (tmp_path / "unmasked").mkdir()
    unmasked, _ = bench_run(virtsim_binary, tmp_path / "unmasked", "barcelona", "cpuid", "--set", "workload.exitbench.cpuid_leaf=1")
    assert unmasked["system.virt0.cpuid_masked"] == 0


@pytest.mark.parametrize("preset,exits", [("nehalem", True), ("zen2", False)])
def test_preemption_timer_interrupts_guest_work(virtsim_binary, tmp_path, preset, exits):
    metrics, _ = bench_run(virtsim_binary, tmp_path, preset, "preemption_timer",
                           "--set", "system.vmx.preemption_timer_cycles=1000")
    if exits:  # VT-x: about one timer exit per 1000 cycles of guest work
        assert metrics["system.virt0.preemption_timer_exits"] >= 400
        assert metrics["workload.cycles_per_operation"] > 1000
    else:      # AMD-V has no preemption timer: only the guest work, 1000 instructions the zen2 preset's
        # out-of-order core (the default core model) dispatches 6 a cycle
        assert metrics["system.virt0.preemption_timer_exits"] == 0
        assert metrics["workload.cycles_per_operation"] == pytest.approx(1000 / 6, abs=0.01)
