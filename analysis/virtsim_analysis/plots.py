"""Plots of the frames in sweeps.py, one axes each, in the fixed colours of palette.py and the
words of labels.py. Each function draws on `ax` (a new paper-sized Figure's when None) and
returns the Figure. Figures are made without pyplot, so nothing here picks a GUI backend.
figures.py puts them together into the faceted figures of `virtsim_analysis figures`."""
from __future__ import annotations

import functools
import itertools
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colors
from matplotlib.figure import Figure

from . import labels, palette
from .exit_reasons import reason_rank
from .sweeps import MODE, varying


FORMATS = ("png", "svg", "pdf")


def styled(function):
    """Runs `function` in the package's paper style (palette.style()): matplotlib reads the font
    sizes when it makes an artist, ticks included, so drawing and saving both happen inside."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(palette.style()):
            return function(*args, **kwargs)
    return wrapper


@styled
def save(figure: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """The figure as STEM.png (300 dpi), STEM.svg and STEM.pdf (or the `formats` given);
    returns the paths written."""
    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        # No creation dates: the same figure gives the same bytes.
        undated = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
        figure.savefig(path, format=fmt, dpi=palette.DPI, metadata=undated)
        paths.append(path)
    return paths


@styled
def new_figure(width: float = palette.SINGLE_COLUMN, height: float = 2.4, **subplots) -> tuple[Figure, np.ndarray]:
    """A paper-sized Figure (inches) in the package's style, with a grid of axes (squeezed as
    plt.subplots does unless squeeze=False is passed)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots(**subplots)


def _axes(ax, width: float = palette.SINGLE_COLUMN, height: float = 2.4):
    return ax if ax is not None else new_figure(width, height)[1]


def _title(ax, title: str | None) -> None:
    if title:
        ax.set_title(textwrap.fill(title, 60))


def _legend(ax, title: str | None = None) -> None:
    # Beside the axes: bars and lines reach every corner of the plot.
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _words(names: Sequence[str], key) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return labels.setting(names, key)


def _categories(ax, names: Sequence[str], keys: Sequence[tuple], positions=None) -> None:
    """Tick labels in words for categories along x (several columns: their values joined)."""
    ax.set_xticks(range(len(keys)) if positions is None else positions, [_words(names, k) for k in keys])
    if names:
        ax.set_xlabel(labels.dimension(names))


def _ordered_reasons(columns) -> list[str]:
    return sorted(columns, key=reason_rank)


def _group_keys(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    return list(dict.fromkeys(tuple(row) for row in frame[list(columns)].itertuples(index=False))) if columns else [()]


@styled
def plot_speedups(speedups: pd.DataFrame, x: str | Sequence[str] | None = None, hue: str | Sequence[str] | None = None,
                  ax=None, title: str | None = None, legend: bool = True):
    """Grouped bars of speedups() with their 95 % intervals as error bars: none where the
    interval is NaN (one seed, or a deterministic setting: every seed gave the same runs).
    x: the columns naming a group (default: the `on` columns that vary); hue: the columns telling
    the bars of a group apart (default: the compared column). A bar takes its mode's colour;
    a second hue column gets hatches. A dashed line marks 1."""
    ax = _axes(ax)
    by = speedups.attrs.get("by", MODE)
    hue = [hue or by] if isinstance(hue, str) or hue is None else list(hue)
    if x is None:
        x = [c for c in varying(speedups, speedups.attrs.get("on", [])) if c not in hue]
    x = [x] if isinstance(x, str) else list(x)
    groups = _group_keys(speedups, x)
    bars = _group_keys(speedups, hue) if len(speedups) else []
    several_baselines = "baseline" in speedups and speedups["baseline"].nunique() > 1
    width = 0.8 / max(len(bars), 1)
    hatch_values = list(dict.fromkeys(b[1:] for b in bars))
    for j, bar in enumerate(bars):
        part = speedups[(speedups[hue] == pd.Series(bar, index=hue)).all(axis=1)]
        if x and part.duplicated(x).any():
            raise ValueError(f"several '{bar}' rows per bar at the same {', '.join(x)}: filter the frame, "
                             "draw one axes per setting, or add columns to x")
        where = [groups.index(tuple(r)) for r in part[x].itertuples(index=False)] if x else [0] * len(part)
        xs = np.array(where, dtype=float) + (j - (len(bars) - 1) / 2) * width
        heights = part["speedup"].to_numpy(dtype=float)
        mode = part[by].iloc[0] if by in part and len(part) else str(bar[0])
        name = _words(hue, bar)
        if several_baselines:
            name = f"{name} over {labels.value(MODE, part['baseline'].iloc[0])}"
        ax.bar(xs, heights, width=width, label=name, color=palette.mode_colour(str(mode)), edgecolor="white",
               linewidth=0.4, hatch=palette.HATCHES[hatch_values.index(bar[1:]) % len(palette.HATCHES)])
        errors = part["ci_half_width"].to_numpy(dtype=float) if "ci_half_width" in part else np.full(len(part), np.nan)
        finite = np.isfinite(errors)
        if finite.any():
            ax.errorbar(xs[finite], heights[finite], yerr=errors[finite], fmt="none", ecolor="black",
                        elinewidth=0.6, capsize=1.5)
    ax.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
    _categories(ax, x, groups)
    baseline = speedups.attrs.get("baseline") or (speedups["baseline"].iloc[0] if len(speedups) else "baseline")
    metric = labels.metric(speedups.attrs.get("metric", "sim.cycles"))
    over = "the baseline" if several_baselines else labels.value(MODE, baseline)
    ax.set_ylabel(textwrap.fill(f"speedup over {over} (ratio of {metric})", 26))
    if legend and bars:
        _legend(ax)
    _title(ax, title)
    return ax.figure


@styled
def plot_exits(table: pd.DataFrame, ax=None, title: str | None = None, ylabel: str | None = None,
               legend: bool = True):
    """Stacked bars of exits_by_reason(): a bar per row (setting), a segment per reason that
    occurs in the table, in the fixed order and colour of each reason (palette.py)."""
    ax = _axes(ax)
    bottom = np.zeros(len(table))
    reasons = [r for r in _ordered_reasons(table.columns) if table[r].to_numpy(dtype=float).any()]
    for reason in reasons:
        values = table[reason].to_numpy(dtype=float)
        ax.bar(range(len(table)), values, bottom=bottom, label=str(reason), color=palette.reason_colour(reason),
               width=0.7)
        bottom += values
    if not reasons:
        ax.text(0.5, 0.5, "no exits", transform=ax.transAxes, ha="center", va="center")
    names = [n for n in table.index.names if n is not None]
    _categories(ax, names, [k if isinstance(k, tuple) else (k,) for k in table.index])
    value = table.attrs.get("value", "count")
    ax.set_ylabel(ylabel or ("VM exits per run" if value == "count" else "cycles in VM exits per run"))
    if legend and reasons:
        _legend(ax, "exit reason")
    _title(ax, title)
    return ax.figure


@styled
def plot_exit_costs(table: pd.DataFrame, ax=None, title: str | None = None, ylabel: str = "cycles per exit",
                    linestyle: str = "-", legend: bool = True, empty_note: bool = True):
    """A line per column (exit reason, in its fixed colour) across the rows (e.g. machine
    presets in generation order), as for exits_by_reason(value='cycles') /
    exits_by_reason(value='count'); NaN (no such exits there) leaves a gap, a column of NaN no line
    (and a table of NaN the words "no exits", unless empty_note is False)."""
    ax = _axes(ax)
    drawn = 0
    for reason in _ordered_reasons(table.columns):
        values = table[reason].to_numpy(dtype=float)
        if np.isnan(values).all():
            continue
        ax.plot(range(len(table)), values, marker="o", label=str(reason), color=palette.reason_colour(reason),
                linestyle=linestyle)
        drawn += 1
    names = [n for n in table.index.names if n is not None]
    _categories(ax, names, [k if isinstance(k, tuple) else (k,) for k in table.index])
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if not drawn and empty_note:
        ax.text(0.5, 0.5, "no exits", transform=ax.transAxes, ha="center", va="center")
    elif drawn and legend:
        _legend(ax, "exit reason")
    _title(ax, title)
    return ax.figure


def ref_grid_norm(grids: Sequence[pd.DataFrame]) -> colors.Normalize:
    """One colour scale for several reference grids: logarithmic when the nonzero counts span
    more than a decade, linear otherwise."""
    values = np.concatenate([g.to_numpy(dtype=float).ravel() for g in grids]) if grids else np.zeros(1)
    positive = values[values > 0]
    if positive.size and positive.max() / positive.min() > 10:
        return colors.LogNorm(vmin=positive.min(), vmax=positive.max())
    return colors.Normalize(vmin=0, vmax=positive.max() if positive.size else 1)


@styled
def plot_ref_grid(grid: pd.DataFrame, ax=None, title: str | None = None, norm: colors.Normalize | None = None,
                  colorbar: bool = True, annotate: bool = True):
    """Heatmap of a walks/ref_grid matrix (guest step x nested level). Cells without a
    reference are blank; the colour scale is ref_grid_norm's unless `norm` is given; with
    annotate, each nonzero cell is labelled with its count. The image holds exactly the
    matrix's values (blank cells: masked zeros)."""
    ax = _axes(ax, height=2.8)
    values = grid.to_numpy(dtype=float)
    norm = norm or ref_grid_norm([grid])
    image = ax.imshow(np.ma.masked_equal(values, 0), cmap="viridis", norm=norm, aspect="equal")
    if colorbar:
        scale = "log scale" if isinstance(norm, colors.LogNorm) else "linear scale"
        ax.figure.colorbar(image, ax=ax, label=f"references ({scale})")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(values.shape[0]), [str(r) for r in grid.index])
    ax.set_xlabel("nested (host) level")
    ax.set_ylabel("guest step")
    if annotate:
        cmap = image.get_cmap()
        for (row, col), count in np.ndenumerate(values):
            if count:
                red, green, blue, _ = cmap(norm(count))
                light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
                ax.text(col, row, _count(count), ha="center", va="center", fontsize="x-small",
                        color="black" if light else "white")
    _title(ax, title)
    return ax.figure


def _count(value: float) -> str:
    """A count in at most four characters: 271996 -> 272k."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return f"{scaled:.0f}{suffix}" if scaled >= 10 else f"{scaled:.1f}{suffix}"
    return f"{value:.0f}"


@styled
def plot_walk_cdfs(cdfs: Mapping[str, pd.DataFrame], ax=None, title: str | None = None,
                   colours: Mapping[str, str] | None = None, linestyle: str = "-", legend: bool = True,
                   log: bool = True):
    """A line per walk_latency_cdf() frame, labelled by its key and mean latency; an empty one
    (no walks) gets a legend entry only. A key that is a memory-virtualization mode takes the
    mode's colour unless `colours` names one; latency on a log axis unless log=False."""
    ax = _axes(ax)
    spare = itertools.cycle(palette.MODE_COLOURS.values())
    for name, cdf in cdfs.items():
        colour = (colours or {}).get(name) or palette.MODE_COLOURS.get(name) or next(spare)
        shown = labels.value(MODE, name)
        if cdf.empty:
            ax.plot([], [], label=f"{shown} (no walks)", color=colour, linestyle=linestyle)
        else:
            mean = cdf.attrs.get("mean")
            text = f"{shown} (mean {mean:.0f} cycles)" if mean is not None and np.isfinite(mean) else shown
            ax.plot(cdf["cycles"], cdf["fraction"], label=text, color=colour, linestyle=linestyle)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("walk latency (cycles)")
    ax.set_ylabel("fraction of walks")
    ax.set_ylim(0, 1.02)
    if legend and cdfs:
        _legend(ax)
    _title(ax, title)
    return ax.figure
