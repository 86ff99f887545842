"""Sampled runs against full detailed runs (docs/sampling.md, scripts/check-sampling).

A case is a trace of the capture suite with a memory virtualization; each is run twice with
`virtsim run`: in full detail, and sampled (sampling.enabled). The sampled estimates of cycles per
reference and walk cycles per reference, each with its confidence interval, are compared with the
full run's values; the CPU time of the two runs gives the speed-up.
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "sampling.md"
MACHINE_PRESET = "epyc-kvm"  # the capture host's machine, as scripts/fidelity replays them
NATIVE = ('system.nested.paging="none"', 'system.vmx.mode="none"')
NESTED = ('system.nested.paging="npt4"', 'system.vmx.mode="svm"')  # the preset's own, said explicitly
# Ten cases: every workload of the suite natively, four under nested paging.
CASES = [(name, "native", NATIVE) for name in ("make", "redis", "sqlite", "graph", "gups", "python")] + \
        [(name, "nested", NESTED) for name in ("sqlite", "graph", "gups", "python")]
METRICS = ("cycles_per_reference", "walk_cycles_per_reference")
BEGIN = "<!-- check-sampling: begin (generated; do not edit) -->"
END = "<!-- check-sampling: end -->"


class SamplingCheckError(Exception):
    pass


def per_reference(metrics: dict) -> dict[str, float]:
    """A full run's cycles and walk cycles per guest memory reference (loads, stores, fetches)."""
    def total(pattern: str) -> float:
        return sum(v for k, v in metrics.items() if re.fullmatch(pattern, k))
    references = total(r"system\.cpu\d+\.(loads|stores|fetches)")
    if references == 0:
        raise SamplingCheckError("the run made no memory references")
    return {"cycles_per_reference": metrics["sim.cycles"] / references,
            "walk_cycles_per_reference": total(r"system\.mmu\d+\.walker\.cycles") / references}


def run(binary: Path, settings: list[str]) -> tuple[dict, float]:
    """One `virtsim run` with `settings` (KEY=VALUE each): its metrics and its CPU time (s)."""
    with tempfile.TemporaryDirectory(prefix="virtsim-sampling-") as tmp:
        out = Path(tmp) / "run.h5"
        env = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run([str(binary), "run", "-q", "--set", 'experiment.compare=""',
                                 *(a for s in settings for a in ("--set", s)), "-o", str(out)],
                                capture_output=True, text=True, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SamplingCheckError(f"virtsim run {' '.join(settings)} failed: {result.stderr.strip()[-500:]}")
        stats = subprocess.run([str(binary), "stats", "--json", "--all", str(out)], capture_output=True, text=True,
                               env=env)
        if stats.returncode != 0:
            raise SamplingCheckError(f"virtsim stats failed: {stats.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return next(iter(json.loads(stats.stdout).values()))["metrics"], cpu


def plan_settings(window: int, warmup: int, period: int, confidence: float) -> list[str]:
    return ["sampling.enabled=true", f"sampling.window={window}", f"sampling.warmup={warmup}",
            f"sampling.period={period}", f"sampling.confidence={confidence}"]


@dataclass
class CaseResult:
    workload: str
    mode: str
    full: dict[str, float]
    estimate: dict[str, tuple[float, float]]  # metric: (mean, half width)
    windows: int
    full_seconds: float
    sampled_seconds: float
    inside: dict[str, bool] = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.full_seconds / self.sampled_seconds if self.sampled_seconds > 0 else 0.0


def compare(workload: str, mode: str, full_metrics: dict, sampled_metrics: dict, full_seconds: float,
            sampled_seconds: float) -> CaseResult:
    full = per_reference(full_metrics)
    estimate = {m: (sampled_metrics[f"sampling.{m}.mean"], sampled_metrics[f"sampling.{m}.half_width"])
                for m in METRICS}
    result = CaseResult(workload, mode, full, estimate, int(sampled_metrics["sampling.windows"]), full_seconds,
                        sampled_seconds)
    result.inside = {m: abs(full[m] - estimate[m][0]) <= estimate[m][1] for m in METRICS}
    return result


def run_case(binary: Path, trace: Path, workload: str, mode: str, extra: tuple[str, ...], plan: list[str],
             settings: tuple[str, ...] = ()) -> CaseResult:
    if not trace.is_file():
        raise SamplingCheckError(f"{trace}: capture missing: make it with workloads/capture/capture-suite {workload}")
    common = [f'machine.preset="{MACHINE_PRESET}"', 'workload.kind="trace"', f"workload.trace.path={json.dumps(str(trace))}",
              *extra, *settings]
    full, full_seconds = run(binary, common)
    sampled, sampled_seconds = run(binary, common + plan)
    return compare(workload, mode, full, sampled, full_seconds, sampled_seconds)


def render(results: list[CaseResult], command: str, date: str, plan: list[str]) -> str:
    """The generated block of docs/sampling.md."""
    inside = {m: sum(r.inside[m] for r in results) for m in METRICS}
    lines = [BEGIN, "",
             f"Made {date} by `{command}` (plan: {', '.join(f'`{s}`' for s in plan)}; machine preset "
             f"`{MACHINE_PRESET}`; CPU time of each whole `virtsim run`).", "",
             "| workload | mode | full: cycles/ref | sampled (95 % interval) | in | full: walk cycles/ref | "
             "sampled (95 % interval) | in | windows | full CPU s | sampled CPU s | speed-up |",
             "|---|---|---:|---:|:-:|---:|---:|:-:|---:|---:|---:|---:|"]
    for r in results:
        cells = [r.workload, r.mode]
        for m in METRICS:
            mean, half = r.estimate[m]
            cells += [f"{r.full[m]:.4f}", f"{mean:.4f} ± {half:.4f}", "yes" if r.inside[m] else "**no**"]
        cells += [str(r.windows), f"{r.full_seconds:.1f}", f"{r.sampled_seconds:.1f}", f"{r.speedup:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Within the interval: cycles per reference {inside[METRICS[0]]} of {len(results)}, "
              f"walk cycles per reference {inside[METRICS[1]]} of {len(results)}. "
              f"Speed-up (full CPU time / sampled): {min(r.speedup for r in results):.2f}x to "
              f"{max(r.speedup for r in results):.2f}x.", "", END]
    return "\n".join(lines)


def write_page(page: Path, block: str) -> None:
    text = page.read_text()
    if BEGIN not in text or END not in text:
        raise SamplingCheckError(f"{page}: no generated block ({BEGIN} ... {END}) to replace")
    head, rest = text.split(BEGIN, 1)
    page.write_text(head + block + rest.split(END, 1)[1])
