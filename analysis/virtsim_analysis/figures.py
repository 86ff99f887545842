"""A result file turned into a folder of PNG figures (python3 -m virtsim_analysis figures)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from . import plots
from .results import load
from .sweeps import (MODE, check_metrics, exits_by_reason, label, pooled_histogram, run_table, speedups,
                     sweep_wide, varying, walk_latency_cdf)

KINDS = ("speedup", "exits", "grid", "cdf")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "all"


def _settings(runs: pd.DataFrame, columns: Sequence[str]) -> list[tuple[tuple, pd.DataFrame]]:
    """The runs grouped by the values of `columns`, in file (plan) order."""
    if not columns:
        return [((), runs)]
    grouper = columns[0] if len(columns) == 1 else list(columns)  # a lone name gives scalar keys
    return [(key if isinstance(key, tuple) else (key,), group) for key, group in runs.groupby(grouper, sort=False)]


def _names(columns: Sequence[str], key: tuple, shown: Sequence[str]) -> tuple[str, str]:
    """(file-name part, title) of one setting, from the columns that vary across settings."""
    values = dict(zip(columns, key))
    parts = [str(values[c]) for c in shown]
    title = ", ".join(f"{c}={values[c]}" for c in shown)
    return _slug("_".join(parts)) if parts else "", title


def write_figures(path: str | Path, outdir: str | Path, metric: str = "sim.cycles", baseline: str | None = None,
                  kinds: Sequence[str] | None = None, progress: Callable[[Path], None] | None = None,
                  note: Callable[[str], None] | None = None) -> list[Path]:
    """Write the figures of `kinds` (default all of KINDS) for the result file at `path` into
    `outdir` (made if missing); returns the paths written, in order, calling progress(path)
    after each one and note(text) for every figure kind left out and why.

    speedup: needs /sweep; every mode against `baseline` (default native) and nested modes
        against shadow, with 95 % intervals over seeds, as bars and as CSV.
    exits:   exits per reason (count and cycles), a stacked bar per setting (mean over seeds).
    grid:    a heatmap of walks/ref_grid per setting (summed over seeds).
    cdf:     walk-latency CDFs (walks/walk_cycles, seeds pooled), a line per mode.
    A setting is a sweep point without its seed, or a run of a file without /sweep."""
    progress = progress or (lambda p: None)
    note = note or (lambda text: None)
    explicit = kinds is not None
    kinds = list(dict.fromkeys(kinds or KINDS))
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown figure kind '{kind}' (kinds: {', '.join(KINDS)})")
    outdir = Path(outdir)
    written: list[Path] = []

    with load(path) as result:
        # Everything that can be wrong with the input is checked before a file is written.
        if not result.run_ids:
            raise ValueError(f"{result.path}: no runs under '/runs' to draw (did every sweep point fail?)")
        check_metrics(result, [metric])
        if "speedup" in kinds and not result.has_sweep:
            if explicit:
                raise KeyError(f"{result.path}: no '/sweep' dataset: speedup figures need a sweep result "
                               "(virtsim sweep writes one)")
            kinds.remove("speedup")
            skipped = f"{result.path}: no '/sweep' dataset: no speedup figures"
        else:
            skipped = None
        if outdir.exists() and not outdir.is_dir():
            raise ValueError(f"{outdir}: exists and is not a directory")
        if skipped:
            note(skipped)

        table = run_table(result)
        parameters = table.attrs["parameters"]
        runs = table[table["run_id"] != ""]
        # A setting is everything but the seed; without /sweep, each run is one.
        setting_columns = parameters if result.has_sweep else ["run_id"]
        shown = varying(runs, setting_columns) if result.has_sweep else ["run_id"]

        def save(figure, name: str) -> None:
            outdir.mkdir(parents=True, exist_ok=True)
            target = outdir / name
            figure.savefig(target, format="png", dpi=100)
            written.append(target)
            progress(target)

        if "speedup" in kinds:
            frame = sweep_wide(result, metric)
            ok = frame[frame["status"] == "ok"]
            modes = list(dict.fromkeys(ok[MODE]))
            chosen = baseline or "native"
            if baseline is not None and baseline not in modes:
                raise KeyError(f"{result.path}: no '{MODE}' = '{baseline}' among the points that ran "
                               f"({', '.join(modes) or 'none'})")
            comparisons = []
            if chosen in modes and len(modes) > 1:
                comparisons.append((f"speedup-vs-{_slug(chosen)}", chosen, None))
            else:
                note(f"{result.path}: no speedups over '{chosen}': {MODE} takes the values {', '.join(modes) or 'none'}")
            nested = [m for m in modes if m.startswith("nested")]
            if chosen != "shadow" and "shadow" in modes and nested:
                comparisons.append(("speedup-nested-vs-shadow", "shadow", nested))
            for name, base, candidates in comparisons:
                numbers = speedups(frame, metric=metric, baseline=base, candidates=candidates)
                figure = plots.plot_speedups(numbers, title=f"speedup over {base} ({metric}), 95 % CI over seeds")
                save(figure, f"{name}.png")
                csv = outdir / f"{name}.csv"
                numbers.to_csv(csv, index=False)
                written.append(csv)
                progress(csv)

        if "exits" in kinds:
            for value in ("count", "cycles"):
                by_reason = exits_by_reason(result, value=value, by=shown)
                over = ", mean over seeds" if result.has_sweep else ""
                figure = plots.plot_exits(by_reason, title=f"VM exits by reason ({value}{over})")
                save(figure, f"exits-{value}.png")

        if "grid" in kinds:
            for key, group in _settings(runs, setting_columns):
                slug, title = _names(setting_columns, key, shown)
                grids = [result.walk(r, "ref_grid") for r in group["run_id"]]
                grid = sum(grids[1:], grids[0])
                seeds = f" ({len(grids)} seeds summed)" if len(grids) > 1 else ""
                figure = plots.plot_ref_grid(grid, title=f"walk references {title}{seeds}".strip())
                save(figure, f"ref-grid-{slug or 'all'}.png")

        if "cdf" in kinds:
            # A figure per setting but for the mode, a line per mode; without /sweep, a line per run.
            if result.has_sweep:
                outer, line = [c for c in setting_columns if c != MODE], (MODE if MODE in parameters else None)
            else:
                outer, line = [], "run_id"
            outer_shown = [c for c in shown if c in outer]
            for key, group in _settings(runs, outer):
                slug, title = _names(outer, key, outer_shown)
                cdfs = {}
                for value, members in (_settings(group, [line]) if line else [((), group)]):
                    hist = pooled_histogram([result.walk(r, "walk_cycles") for r in members["run_id"]])
                    cdfs[label(value) or "all runs"] = walk_latency_cdf(hist)
                figure = plots.plot_walk_cdfs(cdfs, title=f"walk latency {title}".strip())
                save(figure, f"walk-cycles-cdf-{slug}.png" if slug else "walk-cycles-cdf.png")
    return written
