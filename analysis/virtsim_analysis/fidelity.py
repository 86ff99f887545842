"""The guest OS model checked against the real kernel on the capture suite
(workloads/capture/capture-suite, manifest workloads/capture/suite.toml).

measure(): runs each workload natively (no Valgrind) with its capture's inputs, environment and
address layout, and reads what the kernel did: minor faults, user and system time (getrusage of
the traced program and its waited-for children, through `capture-suite --native --rusage`; the
median of several runs, the times their mean), and forks, execs, mmaps, munmaps and brks (strace -f, a separate run,
so that tracing does not slow the timed runs). The result is the reference file.
The timed runs are several (20 by default, on inputs made once): the median of each counter, the mean of the
user and system times, and the system-time share of all of them together.

replay(): runs each capture through the guest OS model natively (`virtsim run` with
workload.kind = "trace") and reads the model's counters. compare() puts the two side by side
with the tolerances below; page() is the generated docs page (docs/fidelity.md).
"""
from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import tomllib
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CAPTURE_SUITE = REPO / "workloads" / "capture" / "capture-suite"
MANIFEST = REPO / "workloads" / "capture" / "suite.toml"
REFERENCE = REPO / "experiments" / "fidelity" / "native.json"
MODEL = REPO / "experiments" / "fidelity" / "model.json"
PAGE = REPO / "docs" / "fidelity.md"

COUNT_TOLERANCE = 0.25      # forks, execs, mmap/munmap/brk calls and page faults: within 25 %
SHARE_TOLERANCE = 10.0      # the model's kernel share of time against system-time share: 10 points
# The judged share is the model's share of cycles spent in the kernel: the real figure is a
# share of time, and the kernel costs are calibrated to time (cycles), so time is compared with
# time. The share of instructions (what the kernel's instruction count alone says) is shown
# beside it, not judged: kernel code that misses in caches and TLBs more than user code takes a
# larger share of the time than of the instructions.
TIME_SHARE = "kernel share of time (%)"
# The kernel model's own time, apart from how fast the model runs the program's user code: the
# model's cycles at CPL 0 in seconds at the preset's clock against getrusage's system time (the
# mean of the runs); within the counters' tolerance.
KERNEL_TIME = "kernel time (s)"
INSTRUCTION_SHARE = "kernel share of instructions (%)"

# The model's page faults: the #PF exceptions its vCPUs took, as the regression cases count them.
# Like getrusage's minor faults, one per fault whatever its kind (not the sum of the guest OS
# model's per-kind statistics, which overlap: file_faults are also demand_faults).
FAULT_STATISTIC = re.compile(r"system\.cpu\d+\.page_faults")
# mmap, munmap and brk calls: the model's statistic where it declares one, else the records of
# that kind the model replayed (`virtsim trace info`).
CALL_STATISTICS = {"mmap": "system.kernel.mmaps", "munmap": "system.kernel.munmaps", "brk": "system.kernel.brks"}
COUNTERS = ["page faults", "forks", "execs", "mmap", "munmap", "brk"]


class FidelityError(Exception):
    """A missing capture or reference, a failed run: one line, naming the file and the fix."""


# --- The real kernel ----------------------------------------------------------------------

CLONE_THREAD = 0x10000
_CALL = re.compile(r"^(?:(\d+) +)?(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


def strace_counts(text: str) -> dict[str, int]:
    """Counts from `strace -f -o FILE` output: fork-like calls that made a process (clone,
    clone3 without CLONE_THREAD; fork, vfork), execve/execveat calls that succeeded, and
    mmap, munmap and brk calls. A call split by another process's line (`<unfinished ...>`,
    then `<... name resumed>`) is joined first."""
    counts = dict.fromkeys(["forks", "execs", "mmap", "munmap", "brk", "threads", "syscalls"], 0)
    pending: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        match = _CALL.match(line)
        if not match:
            continue  # signals, exits (+++), strace's own notes
        pid, resumed, name, rest = match.groups()
        if resumed:
            if pid not in pending:
                continue
            name, head = pending.pop(pid)
            rest = head + rest
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (name, rest[: -len("<unfinished ...>")])
            continue
        args, _, result = rest.rpartition(") = ")
        ok = result != "" and not result.startswith("-1") and not result.startswith("?")
        counts["syscalls"] += 1
        if name in ("clone", "clone3"):
            if "CLONE_THREAD" in args:
                counts["threads"] += 1
            elif ok:
                counts["forks"] += 1
        elif name in ("fork", "vfork") and ok:
            counts["forks"] += 1
        elif name in ("execve", "execveat") and (ok or result.startswith("?")):
            # A successful exec's result is printed after the new image starts: "= 0".
            counts["execs"] += ok
        elif name in ("mmap", "munmap", "brk"):
            counts[name] += 1
    return counts


def host_facts() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, flags=re.M)
    return {"cpu": model.group(1) if model else platform.processor(), "cpus": os.cpu_count() or 1,
            "kernel": platform.release(), "virtual_machine": bool(re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, flags=re.M)),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _native(name: str, options: list[str]) -> None:
    result = subprocess.run([str(CAPTURE_SUITE), "--native", name, *options], capture_output=True, text=True)
    if result.returncode != 0:
        raise FidelityError(f"capture-suite --native {name} failed: {result.stderr.strip()[-500:]}")


def measure_one(name: str, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="virtsim-fidelity-") as tmp:
        path = Path(tmp) / "rusage.json"
        _native(name, ["--rusage", str(path), "--repeat", str(runs)])
        usages = [json.loads(line) for line in path.read_text().splitlines()]
        strace = Path(tmp) / "strace.txt"
        _native(name, ["--strace", str(strace)])
        calls = strace_counts(strace.read_text())
    median = {k: statistics.median(u[k] for u in usages) for k in usages[0]}
    # The kernel splits a process's run time into user and system time by the ticks that found it
    # in each (4 ms apart at this host's 250 Hz, tick-based accounting): over a run of tens of
    # milliseconds one run's system time is a few ticks' worth (gups: 6.7 to 21.1 ms over 30
    # runs, in steps of about a tick), so its median sits on one of those steps; the mean of
    # the runs converges on the time, and the share is taken over every run together.
    user, system = sum(u["user_seconds"] for u in usages), sum(u["system_seconds"] for u in usages)
    return {"minor_faults": int(median["minor_faults"]), "major_faults": int(median["major_faults"]),
            "user_seconds": round(user / len(usages), 4), "system_seconds": round(system / len(usages), 4),
            "system_seconds_per_run": [round(u["system_seconds"], 4) for u in usages],
            "wall_seconds": round(median["wall_seconds"], 4),
            "system_share_percent": round(100.0 * system / (user + system), 1) if user + system else 0.0,
            "runs": runs, "minor_faults_per_run": [u["minor_faults"] for u in usages],
            **{k: calls[k] for k in ("forks", "execs", "mmap", "munmap", "brk", "threads", "syscalls")}}


# --- The model ------------------------------------------------------------------------------

def manifest() -> dict[str, dict]:
    if not MANIFEST.is_file():
        raise FidelityError(f"{MANIFEST} is missing: capture the suite first (workloads/capture/capture-suite)")
    return {w["name"]: w for w in tomllib.loads(MANIFEST.read_text()).get("workload", [])}


def suite_names() -> list[str]:
    """The workloads capture-suite knows, captured or not."""
    listing = subprocess.run([str(CAPTURE_SUITE), "--list"], capture_output=True, text=True)
    if listing.returncode != 0:
        raise FidelityError(f"{CAPTURE_SUITE} --list failed: {listing.stderr.strip()}")
    return re.findall(r"^(\w+): ", listing.stdout, flags=re.M)


def capture_path(name: str, captures: Path) -> Path:
    return captures / f"{name}.vst"


def _virtsim(binary: Path, *args: str) -> str:
    env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise FidelityError(f"virtsim {' '.join(args[:1])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


# The machine the captures replay on: the preset whose kernel costs scripts/calibrate-kernel
# derived from this host's kernel, the one the native figures come from.
MACHINE_PRESET = "epyc-kvm"


def replay(name: str, trace: Path, binary: Path, settings: tuple[str, ...] = ()) -> dict:
    """The model's counters for one capture, run natively on MACHINE_PRESET (with `settings`,
    KEY=VALUE each, on top)."""
    if not trace.is_file():
        raise FidelityError(f"{trace}: capture missing: make it with workloads/capture/capture-suite {name}"
                            f"{'' if trace.parent == default_captures() else ' -o ' + str(trace.parent)}")
    with tempfile.TemporaryDirectory(prefix="virtsim-fidelity-") as tmp:
        out = Path(tmp) / "run.h5"
        env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
        result = subprocess.run([str(binary), "run", "-q", "--set", f'machine.preset="{MACHINE_PRESET}"',
                                 "--set", 'workload.kind="trace"', "--set",
                                 f"workload.trace.path={json.dumps(str(trace))}", "--set", 'experiment.compare=""',
                                 *(a for s in settings for a in ("--set", s)),
                                 "-o", str(out)], capture_output=True, text=True, env=env)
        # Exit status 1 with a result file: the replay stopped midway (a partial result); the
        # table says so rather than comparing the counters of part of the run.
        if result.returncode != 0 and not (result.returncode == 1 and out.is_file()):
            raise FidelityError(f"virtsim run of {trace} failed: {result.stderr.strip()[-500:]}")
        runs = json.loads(_virtsim(binary, "stats", "--json", "--all", str(out)))
    run = next(iter(runs.values()))
    stopped = next((l.removeprefix("virtsim: ").replace(f"{REPO}/", "") for l in result.stderr.splitlines()
                    if "simulation failed" in l), "")
    metrics = run["metrics"]
    info = _virtsim(binary, "trace", "info", str(trace))
    records = {k: int(v) for k, v in re.findall(r"^  ([a-z_]+) +(\d+)$", info, flags=re.M)}
    instructions = sum(v for k, v in metrics.items() if re.fullmatch(r"system\.cpu\d+\.instructions", k))
    kernel = sum(v for k, v in metrics.items() if re.fullmatch(r"system\.cpu\d+\.kernel_instructions", k))
    # Cycles at CPL 0 over all cycles, of every vCPU, less the halted ones (idle, which
    # getrusage counts as neither user nor system time).
    def total(statistic: str) -> float:
        return sum(v for k, v in metrics.items() if re.fullmatch(rf"system\.cpu\d+\.{statistic}", k))
    halted = total("halted_cycles")
    busy, kernel_busy = total("cycles") - halted, total("kernel_cycles") - halted
    seconds_per_cycle = metrics.get("sim.seconds", 0.0) / metrics["sim.cycles"] if metrics.get("sim.cycles") else 0.0
    faults_from = sorted(s for s in metrics if FAULT_STATISTIC.fullmatch(s))
    model = {"status": run.get("status", "ok"), "error": stopped if run.get("status", "ok") != "ok" else "",
             "page faults": model_page_faults(metrics),
             "page_faults_from": faults_from,
             "forks": int(metrics.get("system.kernel.forks", 0)), "execs": int(metrics.get("system.kernel.execs", 0)),
             "kernel_share_percent": round(100.0 * kernel / instructions, 1) if instructions else 0.0,
             "kernel_time_share_percent": round(100.0 * kernel_busy / busy, 1) if busy > 0 else 0.0,
             "kernel_seconds": round(kernel_busy * seconds_per_cycle, 6),
             "user_seconds": round((busy - kernel_busy) * seconds_per_cycle, 6),
             "instructions": int(instructions), "kernel_instructions": int(kernel),
             "cycles": int(metrics.get("sim.cycles", 0)),
             "user_cycles": int(sum(v for k, v in metrics.items() if re.fullmatch(r"system\.cpu\d+\.user_cycles", k))),
             "calls_from": {}}
    for call, statistic in CALL_STATISTICS.items():
        if statistic in metrics:
            model[call], model["calls_from"][call] = int(metrics[statistic]), statistic
        else:
            model[call], model["calls_from"][call] = records.get(call, 0), "trace records"
    return model


def model_page_faults(metrics: dict) -> int:
    """The page faults of a run's statistics: every vCPU's #PF exceptions."""
    return int(sum(v for k, v in metrics.items() if FAULT_STATISTIC.fullmatch(k)))


def default_captures() -> Path:
    return Path(os.environ.get("VIRTSIM_CAPTURES") or REPO / "captures" / "suite").resolve()


# --- The comparison ---------------------------------------------------------------------------

def real_value(reference: dict, counter: str) -> float:
    return reference["minor_faults"] + reference["major_faults"] if counter == "page faults" else reference[counter]


def compare(reference: dict, model: dict) -> list[dict]:
    """A row per counter: real, model, the model's error and whether it is within tolerance."""
    rows = []
    for counter in COUNTERS:
        real, modelled = real_value(reference, counter), model[counter]
        error = (modelled - real) / real if real else (0.0 if modelled == 0 else float("inf"))
        rows.append({"counter": counter, "real": real, "model": modelled, "error": error,
                     "pass": abs(error) <= COUNT_TOLERANCE})
    kernel_seconds = model.get("kernel_seconds")  # absent from a replay before it was measured
    system = reference["system_seconds"]
    error = None if kernel_seconds is None or not system else (kernel_seconds - system) / system
    rows.append({"counter": KERNEL_TIME, "real": system, "model": kernel_seconds, "error": error,
                 "pass": error is not None and abs(error) <= COUNT_TOLERANCE})
    real_share = reference["system_share_percent"]
    time_share = model.get("kernel_time_share_percent")  # absent from a replay before it was measured
    rows.append({"counter": TIME_SHARE, "real": real_share, "model": time_share,
                 "error": None if time_share is None else time_share - real_share,
                 "pass": time_share is not None and abs(time_share - real_share) <= SHARE_TOLERANCE})
    share = model["kernel_share_percent"]
    rows.append({"counter": INSTRUCTION_SHARE, "real": real_share, "model": share, "error": share - real_share,
                 "pass": None})
    return rows


def _result_text(row: dict) -> str:
    if row["pass"] is None:
        return "shown, not judged"
    return "pass" if row["pass"] else "**fail**"


def _number(value: float | None, counter: str = "") -> str:
    if value is None:
        return "n/a"
    if counter == KERNEL_TIME:
        return f"{value:.4f}"
    return f"{value:.1f}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"


def _error_text(row: dict) -> str:
    if row["error"] is None:
        return "n/a"
    if row["counter"].startswith("kernel share"):
        return f"{row['error']:+.1f} points"
    return "n/a" if row["error"] == float("inf") else f"{100 * row['error']:+.0f} %"


def preset_clock_ghz() -> float:
    """The clock of the preset the replays run on (its [system] clock_ghz)."""
    preset = REPO / "experiments" / "presets" / "machine" / f"{MACHINE_PRESET}.toml"
    try:
        return float(tomllib.loads(preset.read_text())["system"]["clock_ghz"])
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as e:
        raise FidelityError(f"{preset}: cannot read its [system] clock_ghz ({e})")


def _user_ratio(model: dict, reference: dict) -> str:
    """How many times the native user time the model's is: a model that runs the program's own
    code slower than the CPU does makes the kernel's share of time smaller, however faithful
    the kernel's time."""
    if not model.get("user_seconds") or not reference.get("user_seconds"):
        return ""
    return f" (user time {model['user_seconds'] / reference['user_seconds']:.1f} times the native)"


def _model_time(model: dict) -> str:
    """The model's cycles, and its user and kernel time in seconds at the preset's clock (to
    set beside the native user and system time)."""
    cycles, share = model["cycles"], model.get("kernel_time_share_percent")
    text = f"{cycles:,} cycles"
    if "kernel_seconds" in model:
        return f"{text}: {model['user_seconds']:.4f} s user and {model['kernel_seconds']:.4f} s kernel"
    ghz = preset_clock_ghz()
    if share is None:
        return text
    seconds = cycles / (ghz * 1e9)
    return (f"{text}, {seconds * (1 - share / 100):.4f} s user and {seconds * share / 100:.4f} s kernel at the "
            f"preset's {ghz} GHz")


def page(reference_doc: dict, model_doc: dict, suite: dict[str, dict]) -> str:
    host = reference_doc.get("host", {})
    lines = ["# Fidelity against the real kernel", "",
             "Generated by `scripts/fidelity` (do not edit): each workload of the capture suite",
             "([workloads.md](workloads.md#the-capture-suite)) run natively on this host, what the kernel did,",
             "against what virtsim's guest OS model does replaying the workload's capture. The native",
             "figures are `experiments/fidelity/native.json` (`scripts/fidelity --measure`), the model's",
             "`experiments/fidelity/model.json` (`scripts/fidelity`, which needs the captures).", "",
             "What is compared, and the tolerance of a pass:", "",
             "- **page faults**: the page faults the model's vCPUs took (`system.cpuN.page_faults`, every kind",
             "  once) against the minor and major faults of `getrusage` (the traced",
             f"  program and its waited-for children); within {int(100 * COUNT_TOLERANCE)} %.",
             "- **forks, execs**: `system.kernel.forks` and `execs` against `clone`/`clone3` without",
             "  `CLONE_THREAD`, `fork`, `vfork`, and successful `execve`/`execveat` (`strace -f`); the",
             f"  program's own start counts as an exec on both sides; within {int(100 * COUNT_TOLERANCE)} %.",
             "- **mmap, munmap, brk**: calls (`strace -f`) against the model's calls (its statistic where",
             "  it declares one, else the records of that kind it replayed); within"
             f" {int(100 * COUNT_TOLERANCE)} %.",
             "- **kernel time**: the model's cycles at CPL 0 (halted ones left out) in seconds at the preset's",
             "  clock against the system time of `getrusage` (the mean of the timed runs, one run's being a few timer ticks'",
             "  worth; a reference measured before they were means has the median run's); within"
             f" {int(100 * COUNT_TOLERANCE)} %. This is the kernel model's own",
             "  time, apart from how fast the model runs the program's user code.",
             "- **kernel share of time**: the model's cycles at CPL 0 over all its cycles (`kernel_cycles` over",
             "  `cycles` of each vCPU, halted cycles left out of both) against system time over user + system",
             "  time (`getrusage`, summed over the timed runs: the kernel splits run time into user and system",
             "  time by timer ticks, coarse over a run of tens of milliseconds); within"
             f" {SHARE_TOLERANCE:.0f} points. Time against time:",
             "  the real figure is a share of time and the model's kernel costs are calibrated to time",
             "  ([calibration.md](calibration.md)).",
             "- **kernel share of instructions**: the model's kernel instructions over all its instructions,",
             "  against the same system-time share; shown, not judged. The model's kernel costs count the",
             "  dispatch slots a kernel path takes on the vCPU's out-of-order core (`system.cpuN.core_model =",
             "  \"interval\"`, the default) at its full width, fitted to time ([calibration.md](calibration.md)),",
             "  not the instructions it retires, so this share runs above the share of time.",
             "- System calls: the model charges each system call record by its class (read, write, pread,",
             "  pwrite, wait, epoll, poll, open, close, stat, fstat, lseek; others a null call); a read or write",
             "  of a format-5 capture by the object its descriptor refers to (file, pipe, socket) and the bytes",
             "  it moved, copied line by line; each cost measured on this host ([calibration.md](calibration.md)).",
             "  Valgrind serves `gettimeofday` and",
             "  `clock_gettime` as system calls where a native program calls the vDSO in user mode: the model",
             "  runs those records as user instructions.", "",
             "Caveats: this host is a virtual machine" + (" (the CPU flags say so)" if host.get("virtual_machine") else "") +
             " shared with other jobs: user and",
             "system times are read from `getrusage`, take the kernel share as a rough figure. The captures ran",
             "under Valgrind, which preloads a library of its own (`vgpreload_core`) into every traced process:",
             "the dynamic loader opens and maps it with 4 `mmap` calls a native run does not make. A capture in",
             "trace format 6 tags those mappings and leaves out the calls on the library's descriptor, and the",
             "model counts none of them (`system.kernel.tool_mappings`); a capture made before (format 5:",
             "`virtsim trace info` says which, and replaying it warns) still counts 4 more `mmap` calls per",
             "process. Valgrind also places the mappings itself, without the 2 MiB alignment this host's kernel",
             "(Linux 6.7 on) gives an anonymous mapping whose length is a multiple of 2 MiB (Linux 6.1 gives",
             "none): jemalloc (redis) finds its first 2 MiB chunk unaligned, unmaps it, maps 2 MiB - 4 KiB more",
             "and trims both ends, 1 `mmap` and 3 `munmap` calls a native run here does not make; `capture-suite`",
             "writes such a retry as the one aligned `mmap` of a native run (`virtsim trace convert",
             "--thp-aligned-anonymous`).",
             "Threads are not forks on the real side (`strace` tells them apart by",
             "`CLONE_THREAD`); the model's side counts the trace's fork records.", ""]
    lines += [f"Native figures: measured {host.get('date', '?')} on {host.get('cpu', '?')} ({host.get('cpus', '?')} CPUs), "
              f"Linux {host.get('kernel', '?')}. Model: virtsim {model_doc.get('revision', '?')}, "
              f"replayed {model_doc.get('date', '?')}, on the `{MACHINE_PRESET}` preset (this host's kernel costs, calibrated in calibration.md), native (no virtualization).", ""]
    references, models = reference_doc.get("workloads", {}), model_doc.get("workloads", {})
    names = list(suite) + [n for n in {**references, **models} if n not in suite]
    summary = ["| workload | counters within tolerance |", "|---|---|"]
    body = []
    for name in names:
        entry = suite.get(name, {})
        body += [f"## {name}", "", entry.get("description", ""), ""]
        if entry:
            body += [f"Traced: `{entry['command']}`; {entry['memory_references']:,} memory references "
                     f"({entry['bytes'] / 1e6:.0f} MB of trace).", ""]
        if name not in references or name not in models:
            missing = "native figures (`scripts/fidelity --measure " + name + "`)" if name not in references else \
                "the model's replay (`scripts/fidelity " + name + "`)"
            body += [f"Not compared: {missing} missing.", ""]
            summary.append(f"| [{name}](#{name}) | not compared |")
            continue
        if models[name].get("status", "ok") != "ok":
            error = models[name].get("error") or "no error recorded"
            body += [f"Not compared: the model's replay stopped before the end ({models[name]['status']}): `{error}`.", ""]
            summary.append(f"| [{name}](#{name}) | not compared: the replay stopped |")
            continue
        rows = compare(references[name], models[name])
        judged = [r for r in rows if r["pass"] is not None]
        summary.append(f"| [{name}](#{name}) | {sum(r['pass'] for r in judged)} of {len(judged)} |")
        body += ["| counter | real kernel | model | model - real | result |", "|---|---|---|---|---|"]
        for r in rows:
            body.append(f"| {r['counter']} | {_number(r['real'], r['counter'])} | {_number(r['model'], r['counter'])} | "
                        f"{_error_text(r)} | "
                        f"{_result_text(r)} |")
        ref = references[name]
        body += ["", f"Native: {ref['user_seconds']} s user, {ref['system_seconds']} s system, {ref.get('wall_seconds', '?')} s "
                 + (f"elapsed (times the means of {ref['runs']} runs, elapsed their median; " if ref.get('system_seconds_per_run')
                    else f"elapsed (medians of {ref['runs']} runs, measured before the times were means; ")
                 + f"minor faults per run {min(ref['minor_faults_per_run'])} to {max(ref['minor_faults_per_run'])}"
                 + (f", system time per run {min(ref['system_seconds_per_run'])} to {max(ref['system_seconds_per_run'])} s"
                    if ref.get('system_seconds_per_run') else "") + "), "
                 f"{ref['syscalls']:,} system "
                 f"calls, {ref['threads']} threads started. Model: {models[name]['instructions']:,} instructions, "
                 f"{models[name]['kernel_instructions']:,} in the kernel; {_model_time(models[name])}"
                 f"{_user_ratio(models[name], ref)}.", ""]
    return "\n".join(lines + summary + [""] + body)


# --- Regression cases ---------------------------------------------------------------------------

CASES = REPO / "experiments" / "regression" / "capture-suite"


def case_name(name: str) -> str:
    return f"kernel-fidelity-{name}"


def case_text(name: str, entry: dict, reference: dict, host: dict, model: dict | None) -> str:
    """The regression case that keeps one workload's fidelity: the native figures as its
    expectations, the model's last result as its STATUS."""
    faults = reference["minor_faults"] + reference["major_faults"]
    share = reference["system_share_percent"] / 100.0
    ghz = preset_clock_ghz()
    kernel_cycles = reference["system_seconds"] * ghz * 1e9
    if model and model.get("status", "ok") != "ok":
        status = (f"# STATUS: fails with virtsim {model.get('revision', '?')} ({model.get('date', '?')}): the replay stops before\n"
                  f"# the end ({model['status']}): {model.get('error') or 'no error recorded'}")
    elif model:
        rows = {r["counter"]: r for r in compare(reference, model)}
        verdict = "passes" if all(rows[c]["pass"] for c in ("page faults", "forks", "execs", KERNEL_TIME, TIME_SHARE)) \
            else "fails"
        status = (f"# STATUS: {verdict} with virtsim {model.get('revision', '?')} ({model.get('date', '?')}): page faults "
                  f"{model['page faults']} ({_error_text(rows['page faults'])}), forks {model['forks']}, execs {model['execs']},\n"
                  f"# kernel time {_number(model.get('kernel_seconds'), KERNEL_TIME)} s ({_error_text(rows[KERNEL_TIME])}), "
                  f"kernel share of time {_number(model.get('kernel_time_share_percent'))} % ({_error_text(rows[TIME_SHARE])}), of"
                  f" instructions {model['kernel_share_percent']} %;\n# the model's kernel costs decide the kernel time, its speed on"
                  f" the program's own code the share as well (docs/fidelity.md).")
    else:
        status = "# STATUS: not run yet (scripts/fidelity replays the capture and rewrites this line)."
    return f"""# The guest OS model against the real kernel on the capture suite's {name} workload: {entry['description']}.
# Generated by scripts/fidelity from experiments/fidelity/native.json (do not edit; the fidelity
# table of every counter is docs/fidelity.md).
#
# What is compared: `virtsim run` of the capture captures/suite/{name}.vst (`{entry['command']}`,
# {entry['memory_references']} memory references) on the {MACHINE_PRESET} preset (this host's calibrated kernel costs), natively, against the same
# program run natively on this host, measured by `scripts/fidelity --measure` on {host.get('date', '?')}
# ({host.get('cpu', '?')}, {host.get('cpus', '?')} CPUs, Linux {host.get('kernel', '?')}, a virtual machine): page faults taken
# against getrusage's minor + major faults ({faults}), forks and execs against strace -f's
# ({reference['forks']} and {reference['execs']}), and the cycles spent in the kernel against the system time
# ({reference['system_seconds']} s, {kernel_cycles:.0f} cycles at the preset's {ghz} GHz), all within {int(100 * COUNT_TOLERANCE)} %; the share of cycles spent in the kernel
# against the share of system time in user + system time ({reference['system_share_percent']} %), within {SHARE_TOLERANCE:.0f} points
# (time against time; the captures make no HLT, so no halted cycles count in the kernel's).
# Tolerances: the capture ran under Valgrind (its preload library and loader placement change a
# few mappings) and getrusage's times on a shared virtual machine are coarse.
# Not in the fast subset, nor in `virtsim regress --full` of experiments/regression/: the capture
# is large and made on each machine (not committed), so these cases have their own folder, run
# from the repository root with `virtsim regress experiments/regression/capture-suite --full`
# (or `--case {case_name(name)}`). Without the capture the run stops with an error naming the file
# and `workloads/capture/capture-suite {name}`, which makes it.
#
{status}
[case]
kind = "published"
fast = false
description = "The guest OS model replaying the {name} capture takes the page faults, forks and execs the real kernel did for it natively (within {int(100 * COUNT_TOLERANCE)} %) and spends in the kernel the real system time (within {int(100 * COUNT_TOLERANCE)} %) and a share of its time within {SHARE_TOLERANCE:.0f} points of the real system-time share."
source = "measured natively on this host with scripts/fidelity --measure, {host.get('date', '?')}: experiments/fidelity/native.json"

[machine]
preset = "{MACHINE_PRESET}"

[workload]
kind = "trace"

[workload.trace]
path = "captures/suite/{name}.vst"

[experiment]
compare = ""

[[expect]]
metric = "system.cpu0.page_faults"
value = {faults}
rel_tolerance = {COUNT_TOLERANCE}

[[expect]]
metric = "system.kernel.forks"
value = {reference['forks']}
{'rel_tolerance = ' + str(COUNT_TOLERANCE) if reference['forks'] else 'tolerance = 0'}

[[expect]]
metric = "system.kernel.execs"
value = {reference['execs']}
{'rel_tolerance = ' + str(COUNT_TOLERANCE) if reference['execs'] else 'tolerance = 0'}

[[expect]]
metric = "system.cpu0.kernel_cycles"
value = {kernel_cycles:.0f}
rel_tolerance = {COUNT_TOLERANCE}

[[expect]]
metric = "system.cpu0.kernel_cycles"
over = "system.cpu0.cycles"
value = {share:.3f}
tolerance = {SHARE_TOLERANCE / 100:.2f}
"""


def write_cases(reference_doc: dict, model_doc: dict, suite: dict[str, dict], folder: Path = CASES) -> list[Path]:
    written = []
    for name, reference in reference_doc.get("workloads", {}).items():
        if name not in suite:
            continue
        path = folder / f"{case_name(name)}.toml"
        model = model_doc.get("workloads", {}).get(name)
        if model:
            model = {**model, "revision": model_doc.get("revision", "?"), "date": model_doc.get("date", "?")}
        path.write_text(case_text(name, suite[name], reference, reference_doc.get("host", {}), model))
        written.append(path)
    return written
