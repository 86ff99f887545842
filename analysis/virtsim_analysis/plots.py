"""Plots of the frames in sweeps.py. Each function draws on `ax` (a new Figure's when None) and
returns the Figure. Figures are made without pyplot, so nothing here picks a GUI backend."""
from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .sweeps import MODE, label, varying


def _axes(ax, width: float = 7.0, height: float = 4.5):
    if ax is not None:
        return ax
    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def _title(ax, title: str | None) -> None:
    if title:
        ax.set_title(textwrap.fill(title, 70), fontsize="medium")


def _legend(ax, title: str | None = None) -> None:
    # Beside the axes: bars and lines reach every corner of the plot.
    ax.legend(title=title, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _tick_labels(ax, labels: Sequence[str]) -> None:
    ax.set_xticks(range(len(labels)))
    long = max((len(s) for s in labels), default=0) > 12 or len(labels) > 6
    ax.set_xticklabels(labels, rotation=30 if long else 0, ha="right" if long else "center")


def plot_speedups(speedups: pd.DataFrame, x: str | Sequence[str] | None = None, hue: str | None = None,
                  ax=None, title: str | None = None):
    """Grouped bars of speedups() with their 95 % intervals as error bars (none where the
    interval is NaN: one seed). x: the columns naming a group (default: the `on` columns that
    vary); hue: a bar per value in each group (default: the compared column). A line marks 1."""
    ax = _axes(ax)
    hue = hue or speedups.attrs.get("by", MODE)
    if x is None:
        x = varying(speedups, speedups.attrs.get("on", []))
    x = [x] if isinstance(x, str) else list(x)
    several_baselines = speedups["baseline"].nunique() > 1 if "baseline" in speedups else False
    groups = list(dict.fromkeys(tuple(row) for row in speedups[x].itertuples(index=False))) if x else [()]
    hues = list(dict.fromkeys(speedups[hue])) if len(speedups) else []
    width = 0.8 / max(len(hues), 1)
    for j, value in enumerate(hues):
        part = speedups[speedups[hue] == value]
        if x and part.duplicated(x).any():
            raise ValueError(f"several '{value}' rows per bar at the same {', '.join(x)}: filter the frame, "
                             "draw one axes per setting, or add columns to x")
        where = {tuple(row): i for i, row in enumerate(part[x].itertuples(index=False))} if x else {(): 0}
        rows = [(groups.index(key), part.iloc[i]) for key, i in where.items()]
        xs = np.array([g for g, _ in rows], dtype=float) + (j - (len(hues) - 1) / 2) * width
        heights = np.array([float(r["speedup"]) for _, r in rows])
        name = str(value)
        if several_baselines:
            name = f"{value} vs {rows[0][1]['baseline']}"
        ax.bar(xs, heights, width=width, label=name)
        errors = np.array([float(r.get("ci_half_width", np.nan)) for _, r in rows])
        finite = np.isfinite(errors)
        if finite.any():
            ax.errorbar(xs[finite], heights[finite], yerr=errors[finite], fmt="none", ecolor="black", capsize=3)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    _tick_labels(ax, [label(g) for g in groups])
    if x:
        ax.set_xlabel(textwrap.fill(" / ".join(x), 45))
    baseline = speedups.attrs.get("baseline") or (speedups["baseline"].iloc[0] if len(speedups) else "baseline")
    metric = speedups.attrs.get("metric", "sim.cycles")
    ax.set_ylabel(f"speedup over {baseline if not several_baselines else 'baseline'} ({metric})")
    if hues:
        _legend(ax, None if several_baselines else hue)
    _title(ax, title)
    return ax.figure


def plot_exits(table: pd.DataFrame, ax=None, title: str | None = None, ylabel: str | None = None):
    """Stacked bars of exits_by_reason(): a bar per row (setting), a segment per reason that
    occurs in the table (in its column order, bottom up). A reason's colour follows its column,
    so parts of one table drawn on several axes agree."""
    ax = _axes(ax, width=max(7.0, 0.45 * len(table) + 3))
    labels = [label(i) if isinstance(i, tuple) else str(i) for i in table.index]
    bottom = np.zeros(len(table))
    reasons = [(i, r) for i, r in enumerate(table.columns) if table[r].to_numpy(dtype=float).any()]
    for i, reason in reasons:
        values = table[reason].to_numpy(dtype=float)
        ax.bar(range(len(table)), values, bottom=bottom, label=str(reason), color=f"C{i % 10}")
        bottom += values
    if reasons:
        _legend(ax, "exit reason")
    else:
        ax.text(0.5, 0.5, "no exits", transform=ax.transAxes, ha="center", va="center")
    _tick_labels(ax, labels)
    names = table.index.names
    if any(n is not None for n in names):
        ax.set_xlabel(textwrap.fill(" / ".join(str(n) for n in names), 45))
    value = table.attrs.get("value", "count")
    ax.set_ylabel(ylabel or ("exits per run" if value == "count" else "exit cycles per run"))
    _title(ax, title)
    return ax.figure


def plot_exit_costs(table: pd.DataFrame, ax=None, title: str | None = None, ylabel: str = "cycles per exit"):
    """A line per column (exit reason) across the rows (e.g. machine presets in generation
    order), as for exits_by_reason(value='cycles') / exits_by_reason(value='count'); NaN (no
    such exits there) leaves a gap, a column of NaN no line. Colours follow the columns."""
    ax = _axes(ax)
    drawn = 0
    for i, reason in enumerate(table.columns):
        values = table[reason].to_numpy(dtype=float)
        if np.isnan(values).all():
            continue
        ax.plot(range(len(table)), values, marker="o", label=str(reason), color=f"C{i % 10}")
        drawn += 1
    _tick_labels(ax, [label(i) if isinstance(i, tuple) else str(i) for i in table.index])
    names = table.index.names
    if any(n is not None for n in names):
        ax.set_xlabel(textwrap.fill(" / ".join(str(n) for n in names), 45))
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if drawn:
        _legend(ax, "exit reason")
    else:
        ax.text(0.5, 0.5, "no exits", transform=ax.transAxes, ha="center", va="center")
    _title(ax, title)
    return ax.figure


def plot_ref_grid(grid: pd.DataFrame, ax=None, title: str | None = None):
    """Heatmap of a walks/ref_grid matrix (guest step x nested level), each nonzero cell
    labelled with its count. The image holds exactly the matrix's values."""
    ax = _axes(ax, width=6.0, height=5.0)
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="viridis", aspect="equal")
    ax.figure.colorbar(image, ax=ax, label="references")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(values.shape[0]), [str(r) for r in grid.index])
    ax.set_xlabel("nested level (entry: the guest entry itself)")
    ax.set_ylabel("guest step")
    top = values.max() if values.size else 0
    for (row, col), count in np.ndenumerate(values):
        if count:
            ax.text(col, row, f"{int(count)}", ha="center", va="center", fontsize="small",
                    color="black" if count > top / 2 else "white")
    _title(ax, title)
    return ax.figure


def plot_walk_cdfs(cdfs: Mapping[str, pd.DataFrame], ax=None, title: str | None = None):
    """A line per walk_latency_cdf() frame, labelled by its key and mean latency; an empty one
    (no walks) gets a legend entry only."""
    ax = _axes(ax)
    for name, cdf in cdfs.items():
        if cdf.empty:
            ax.plot([], [], label=f"{name} (no walks)")
        else:
            mean = cdf.attrs.get("mean")
            text = f"{name} (mean {mean:.1f})" if mean is not None else str(name)
            ax.plot(cdf["cycles"], cdf["fraction"], marker=".", label=text)
    ax.set_xlabel("walk latency (cycles)")
    ax.set_ylabel("fraction of walks")
    ax.set_ylim(0, 1.02)
    if cdfs:
        _legend(ax)
    _title(ax, title)
    return ax.figure
