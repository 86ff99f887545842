"""A result file turned into one figure per question (python3 -m virtsim_analysis figures):
each faceted into panels by the swept parameters, in the fixed colours of palette.py, saved as
PNG (300 dpi), SVG and PDF."""
from __future__ import annotations

import itertools
import math
import textwrap
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib import colors, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D

from . import labels, palette, plots
from .results import load
from .sweeps import (MODE, PRESET_ORDER, check_metrics, exits_by_reason, pooled_histogram, run_table, speedups,
                     sweep_wide, walk_latency_cdf)

KINDS = ("speedup", "exits", "grid", "cdf")
PANEL_HEIGHT = 1.45  # inches per row of panels
MAX_COLUMNS = 4      # panels side by side at double-column width; more go down the page


# ---- settings and their dimensions -----------------------------------------------------------


def dimensions(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    """The columns among `columns` that vary in frame, those that always change together (a
    zip: one determines the other) as one dimension."""
    dims: list[list[str]] = []
    for column in columns:
        if column not in frame.columns or frame[column].nunique(dropna=False) < 2:
            continue
        for dim in dims:
            lead = dim[0]
            if (frame.groupby(lead)[column].nunique().max() == 1 and
                    frame.groupby(column)[lead].nunique().max() == 1):
                dim.append(column)
                break
        else:
            dims.append([column])
    return dims


def _take(dims: list[list[str]], column: str, most: int | None = None, frame: pd.DataFrame | None = None):
    """Removes and returns the dimension holding `column` (unless it has more than `most` values)."""
    for dim in dims:
        if column in dim:
            if most is not None and frame is not None and frame[dim[0]].nunique() > most:
                return []
            dims.remove(dim)
            return dim
    return []


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """The distinct values of `columns` in frame order, but machine presets by release and modes
    in the palette's order."""
    if not columns:
        return [()]
    keys = list(dict.fromkeys(tuple(r) for r in frame[list(columns)].itertuples(index=False)))
    # Presets in release order, modes from native to nested paging (palette order); both stable.
    for column, order in (("machine.preset", PRESET_ORDER), (MODE, list(palette.MODE_COLOURS))):
        if column in columns:
            at = list(columns).index(column)
            rank = {value: i for i, value in enumerate(order)}
            keys.sort(key=lambda k: rank.get(k[at], len(rank)))
    return keys


def _select(frame: pd.DataFrame, columns: Sequence[str], key: tuple) -> pd.DataFrame:
    if not columns:
        return frame
    mask = np.ones(len(frame), dtype=bool)
    for column, value in zip(columns, key):
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


# ---- the faceted figure ----------------------------------------------------------------------


class Facets:
    """A grid of panels: a row per key of `rows`, a column per key of `cols` (wrapped onto more
    rows past MAX_COLUMNS when there are no rows), titled in words (columns on top, rows on the
    right); a legend and notes under it (finish)."""

    def __init__(self, rows: Sequence[str], row_keys: list[tuple], cols: Sequence[str], col_keys: list[tuple],
                 panel_height: float = PANEL_HEIGHT, sharey: bool | str = "row", sharex: bool | str = False,
                 width: float | None = None):
        self.rows, self.cols = list(rows), list(cols)
        self.xlabel = ""
        wrap = math.ceil(len(col_keys) / MAX_COLUMNS) if not rows and len(col_keys) > MAX_COLUMNS else 1
        ncols = math.ceil(len(col_keys) / wrap)
        nrows = len(row_keys) * wrap
        width = width or (palette.SINGLE_COLUMN if ncols == 1 else palette.DOUBLE_COLUMN)
        self.figure, axes = plots.new_figure(width, panel_height * nrows + 0.4, nrows=nrows, ncols=ncols,
                                             squeeze=False, sharey=sharey, sharex=sharex)
        FigureCanvasAgg(self.figure)
        self.panels: list[tuple[tuple, tuple, object]] = []
        for i, row_key in enumerate(row_keys):
            for j, col_key in enumerate(col_keys):
                r, c = i * wrap + j // ncols, j % ncols
                ax = axes[r, c]
                self.panels.append((row_key, col_key, ax))
                if r == 0 or wrap > 1:
                    ax.set_title(labels.setting(self.cols, col_key))
                if self.rows and c == ncols - 1:
                    ax.annotate(_wrap(labels.setting(self.rows, row_key), 18), xy=(1.04, 0.5),
                                xycoords="axes fraction", rotation=270, ha="left", va="center", ma="center",
                                annotation_clip=False)
        for ax in axes.ravel()[len(self.panels):]:
            ax.set_visible(False)
        self.axes = axes

    def label_outer(self) -> None:
        """Axis labels once: y on the first column, x once under the panels when every panel
        has the same one (else on the lowest panel of each column)."""
        for ax in self.axes[:, 1:].ravel():
            ax.set_ylabel("")
        shown = [ax for ax in self.axes.ravel() if ax.get_visible()]
        xlabels = {ax.get_xlabel() for ax in shown}
        if len(shown) > 1 and len(xlabels) == 1:
            self.xlabel = xlabels.pop()  # finish() writes it under the panels
            for ax in shown:
                ax.set_xlabel("")
            return
        for column in self.axes.T:
            visible = [ax for ax in column if ax.get_visible()]
            for ax in visible[:-1]:
                ax.set_xlabel("")


def _wrap(text: str, width: int = 10) -> str:
    return textwrap.fill(text, width, break_on_hyphens=False)


@plots.styled
def finish(figure, handles: Sequence, names: Sequence[str], title: str, notes: Sequence[str] = (),
           xlabel: str = "") -> None:
    """Suptitle; under the panels the x label they share, a legend (as many columns as fit the
    width) and notes; then tick labels that still overlap are turned upright (fit_tick_labels)."""
    figure.suptitle(textwrap.fill(title, int(figure.get_figwidth() * 15)))
    renderer = figure.canvas.get_renderer()
    width = figure.get_figwidth() * figure.dpi
    text = None
    if notes:
        chars = int(figure.get_figwidth() * 20)
        text = figure.text(0.5, 0.01, "\n".join(textwrap.fill(n, chars) for n in notes), ha="center", va="bottom",
                           fontsize=palette.FONT_SIZE - 1, color="#333333")
    below = (text.get_window_extent(renderer).height + 4) if text else 0
    legend = None
    for ncol in range(max(len(handles), 1), 0, -1):
        if legend:
            legend.remove()
        legend = figure.legend(handles, names, loc="lower center", ncol=ncol, frameon=False,
                               bbox_to_anchor=(0.5, below / (figure.get_figheight() * figure.dpi)),
                               handlelength=1.6, columnspacing=1.2) if handles else None
        if legend is None or legend.get_window_extent(renderer).width <= 0.98 * width:
            break
    used = below + (legend.get_window_extent(renderer).height + 2 if legend else 0)
    label = figure.text(0.5, 0, xlabel, ha="center", va="bottom") if xlabel else None
    legend_at = used
    used += label.get_window_extent(renderer).height + 8 if label else 0
    # The panels keep their height: the figure grows by what the legend and notes take.
    height = figure.get_figheight() + used / figure.dpi
    figure.set_figheight(height)
    if legend:
        legend.set_bbox_to_anchor((0.5, below / (height * figure.dpi)))
    if label:
        label.set_y((legend_at + 6) / (height * figure.dpi))
    figure.get_layout_engine().set(rect=(0, used / (height * figure.dpi), 1, 1 - used / (height * figure.dpi)))
    fit_tick_labels(figure)


def _overlap(boxes) -> bool:
    return any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def tick_label_boxes(ax, renderer, axis: str = "x", which: str = "major"):
    ticks = (ax.xaxis if axis == "x" else ax.yaxis).get_ticklabels(minor=which == "minor")
    return [t.get_window_extent(renderer) for t in ticks if t.get_visible() and t.get_text()]


@plots.styled
def fit_tick_labels(figure) -> None:
    """Turns the x tick labels of each axes upright where they overlap, then shrinks them if
    they still do; pushes group labels (major ticks over minor ones) below the minor labels."""
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        for which in ("minor", "major"):
            for step in ("smaller", "upright", "smaller"):
                if not _overlap(tick_label_boxes(ax, renderer, "x", which)):
                    break
                if step == "upright":
                    ax.tick_params(axis="x", which=which, labelrotation=90)
                else:
                    size = ax.xaxis.get_ticklabels(minor=which == "minor")[0].get_fontsize()
                    ax.tick_params(axis="x", which=which, labelsize=size - 1)
                figure.draw_without_rendering()
        minor = tick_label_boxes(ax, renderer, "x", "minor")
        if minor:
            depth = ax.get_window_extent(renderer).y0 - min(b.y0 for b in minor)
            ax.tick_params(axis="x", which="major", pad=depth * 72 / figure.dpi + 2, length=0)
    figure.draw_without_rendering()


def _two_level_ticks(ax, outer: Sequence[str], inner: Sequence[str], keys: list[tuple]) -> None:
    """Bars keyed by (outer values..., inner values...): the inner value under each bar, the
    outer one under each run of bars that share it, with a faint line between the runs."""
    n = len(outer)
    runs = [(k, list(g)) for k, g in itertools.groupby(range(len(keys)), key=lambda i: keys[i][:n])]
    ax.set_xticks([float(np.mean(g)) for _, g in runs], [_wrap(labels.setting(outer, k), 16) for k, _ in runs])
    # Under each bar its value only: the axis label names the dimension ("4 KiB", not "4 KiB pages").
    inner_words = [", ".join(dict.fromkeys(labels.value(c, v) for c, v in zip(inner, keys[i][n:])))
                   for i in range(len(keys))]
    ax.set_xticks(range(len(keys)), inner_words, minor=True)
    ax.tick_params(axis="x", which="minor", length=2)
    ax.xaxis.remove_overlapping_locs = False  # a lone bar's label sits where its group's does
    for _, g in runs[1:]:
        ax.axvline(g[0] - 0.5, color="#DDDDDD", linewidth=0.6, zorder=0)
    ax.set_xlabel(f"{labels.dimension(outer)}, {labels.dimension(inner)}")


def _category_ticks(ax, x: Sequence[str], keys: list[tuple]) -> None:
    if len(x) >= 2:
        _two_level_ticks(ax, x[:1], x[1:], keys)
    else:
        ax.set_xticks(range(len(keys)), [_wrap(labels.setting(x, k)) for k in keys])
        ax.set_xlabel(labels.dimension(x))


def short(value: float) -> str:
    """A number in three significant digits with an SI prefix: 42100 -> 42.1k."""
    return ticker.EngFormatter(places=None, sep="").format_eng(float(f"{value:.3g}"))


def _unique_handles(figure) -> tuple[list, list[str]]:
    """Every legend entry of the figure's axes once (the first handle of each label)."""
    handles = {}
    for ax in figure.axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    return list(handles.values()), list(handles)


# ---- the figures -----------------------------------------------------------------------------


@plots.styled
def speedup_figure(numbers: pd.DataFrame, title: str):
    """Grouped bars of speedups(): workloads along x, a panel per machine preset, a bar per
    candidate mode (and, with one candidate, per value of the next swept parameter, hatched)."""
    on = numbers.attrs["on"]
    dims = dimensions(numbers, on)
    x = _take(dims, "workload.kind") or (dims.pop(0) if dims else [])
    cols = _take(dims, "machine.preset")
    hue = [MODE]
    if numbers[MODE].nunique() == 1 and dims:
        hue += dims.pop(0)
    rows = [c for dim in dims for c in dim]
    facets = Facets(rows, _keys(numbers, rows), cols, _keys(numbers, cols), sharey=True)
    for row_key, col_key, ax in facets.panels:
        part = _select(_select(numbers, rows, row_key), cols, col_key)
        part.attrs = numbers.attrs
        plots.plot_speedups(part, x=x, hue=hue, ax=ax, legend=False, title=ax.get_title())
        _category_ticks(ax, x, _keys(part, x))
    facets.label_outer()
    notes = [_interval_note(numbers, x)]
    handles, names = _unique_handles(facets.figure)
    finish(facets.figure, handles, names, title, [n for n in notes if n], facets.xlabel)
    return facets.figure


def _interval_note(numbers: pd.DataFrame, x: Sequence[str]) -> str:
    seeds = sorted(set(int(n) for n in numbers["n"])) if len(numbers) else []
    text = (f"Bars: mean over {'/'.join(map(str, seeds))} seeds; error bars: 95 % Student-t confidence interval."
            if seeds and max(seeds) > 1 else "One seed: no confidence intervals.")
    fixed = numbers[numbers["deterministic"].astype(bool)] if "deterministic" in numbers else numbers.iloc[:0]
    if len(fixed):
        if x:
            whole = [k for k in _keys(fixed, x) if _select(numbers, x, k)["deterministic"].astype(bool).all()]
            what = ", ".join(labels.setting(x, k) for k in whole) if len(whole) == len(_keys(fixed, x)) else None
        else:
            what = None
        what = what or f"{len(fixed)} of {len(numbers)} settings"
        text += f" Deterministic (every seed gives the same result, so no interval): {what}."
    return text


@plots.styled
def exits_figure(table: pd.DataFrame, setting: Sequence[str], value: str, title: str, notes: list[str]):
    """Stacked bars of exits by reason (value 'count' or 'cycles', mean per run): a panel per
    workload (rows) and machine preset (columns; the mode when there are many presets), the
    other swept parameters along x."""
    reasons = [c for c in table.columns if c not in setting]
    dims = dimensions(table, setting)
    rows = _take(dims, "workload.kind")
    cols = _take(dims, "machine.preset", MAX_COLUMNS, table) or _take(dims, MODE)
    x = [c for dim in sorted(dims, key=lambda d: d != [MODE]) for c in dim]
    col_keys = _keys(table, cols)
    narrow = not x and len(col_keys) <= 3  # a bar per panel: a single column's width is enough
    facets = Facets(rows, _keys(table, rows), cols, col_keys, width=palette.SINGLE_COLUMN if narrow else None)
    for row_key, col_key, ax in facets.panels:
        part = _select(_select(table, rows, row_key), cols, col_key)
        keys = _keys(part, x)
        frame = pd.DataFrame([_select(part, x, k)[reasons].mean() for k in keys], columns=reasons)
        frame.attrs = {"value": value}
        plots.plot_exits(frame, ax=ax, legend=False, title=ax.get_title())
        _category_ticks(ax, x, keys)
        # Each bar's total over it: small totals (nested paging's few exits) are otherwise invisible.
        for i, total in enumerate(frame.sum(axis=1)):
            ax.text(i, total, short(total), ha="center", va="bottom", fontsize=palette.FONT_SIZE - 2)
        ax.margins(y=0.15)
        ax.yaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    facets.label_outer()
    handles, names = _unique_handles(facets.figure)
    finish(facets.figure, handles, names, title, notes, facets.xlabel)
    return facets.figure


@plots.styled
def cycles_per_exit_figure(counts: pd.DataFrame, cycles: pd.DataFrame, setting: Sequence[str], title: str,
                           notes: list[str]):
    """Cycles per exit by reason (a line per reason): machine presets along x in release order,
    a panel per workload (rows) and mode (columns), other swept parameters as line styles."""
    reasons = [c for c in counts.columns if c not in setting]
    per_exit = counts.copy()
    per_exit[reasons] = cycles[reasons] / counts[reasons].where(counts[reasons] > 0)
    dims = dimensions(per_exit, setting)
    rows = _take(dims, "workload.kind")
    cols = _take(dims, MODE)
    x = _take(dims, "machine.preset") or (dims.pop(0) if dims else [])
    styles = [c for dim in dims for c in dim]
    style_keys = _keys(per_exit, styles)
    col_keys = _keys(per_exit, cols)
    narrow = not x and len(col_keys) <= 3  # a point per reason and panel
    facets = Facets(rows, _keys(per_exit, rows), cols, col_keys, width=palette.SINGLE_COLUMN if narrow else None)
    for row_key, col_key, ax in facets.panels:
        part = _select(_select(per_exit, rows, row_key), cols, col_key)
        keys = _keys(part, x)
        for k, style_key in enumerate(style_keys):
            lines = _select(part, styles, style_key)
            frame = pd.DataFrame([_select(lines, x, key)[reasons].mean() if len(_select(lines, x, key))
                                  else pd.Series(np.nan, index=reasons) for key in keys], columns=reasons)
            plots.plot_exit_costs(frame, ax=ax, legend=False, title=ax.get_title(), empty_note=False,
                                  linestyle=palette.LINE_STYLES[k % len(palette.LINE_STYLES)])
        if not ax.lines:
            ax.text(0.5, 0.5, "no exits", transform=ax.transAxes, ha="center", va="center")
        ax.margins(x=0.1)  # the end labels of neighbouring panels apart
        _category_ticks(ax, x, keys)
        ax.yaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    for row in facets.axes:  # from 0 to the highest line of the row (the panels share y by row)
        tops = [np.nanmax(line.get_ydata()) for ax in row for line in ax.lines if len(line.get_ydata())]
        if tops:
            row[0].set_ylim(0, max(tops) * 1.08)
    facets.label_outer()
    handles, names = _unique_handles(facets.figure)
    _add_style_legend(handles, names, styles, style_keys)
    finish(facets.figure, handles, names, title, notes, facets.xlabel)
    return facets.figure


def _add_style_legend(handles: list, names: list, styles: Sequence[str], style_keys: list) -> None:
    """Legend entries for the line styles that tell other swept parameters apart (none when one)."""
    if len(style_keys) > 1:
        for k, style_key in enumerate(style_keys):
            handles.append(Line2D([], [], color="black", linestyle=palette.LINE_STYLES[k % len(palette.LINE_STYLES)]))
            names.append(labels.setting(styles, style_key))


@plots.styled
def ref_grid_figure(grids: pd.DataFrame, setting: Sequence[str], title: str, notes: list[str]):
    """Heatmaps of the mean reference grid per setting (column 'grid'): a panel per workload
    and other parameters (rows) and machine preset (columns), one colour scale for all."""
    dims = dimensions(grids, setting)
    cols = _take(dims, "machine.preset", MAX_COLUMNS, grids)
    rows = _take(dims, "workload.kind") + [c for dim in dims for c in dim]
    # Guest steps and nested levels with no reference in any panel are left out.
    total = sum(g.to_numpy(dtype=float) for g in grids["grid"])
    first = grids["grid"].iloc[0]
    keep_rows = [r for i, r in enumerate(first.index) if total[i].any()]
    keep_cols = [c for j, c in enumerate(first.columns) if total[:, j].any()]
    shown = [g.loc[keep_rows, keep_cols] for g in grids["grid"]]
    norm = plots.ref_grid_norm(shown)
    row_keys, col_keys = _keys(grids, rows), _keys(grids, cols)
    row_height = 0.2  # inches per guest step: room for a count in each cell
    cell = min(row_height, (palette.DOUBLE_COLUMN - 1.5) / max(len(col_keys), 1) / len(keep_cols))
    facets = Facets(rows, row_keys, cols, col_keys, sharey=False,
                    panel_height=row_height * len(keep_rows) + 0.5,
                    width=palette.SINGLE_COLUMN if len(col_keys) <= 2 else None)
    image = None
    for row_key, col_key, ax in facets.panels:
        index = _select(_select(grids.assign(_i=range(len(grids))), rows, row_key), cols, col_key)["_i"]
        if index.empty:
            ax.set_visible(False)
            continue
        plots.plot_ref_grid(shown[int(index.iloc[0])], ax=ax, norm=norm, colorbar=False, annotate=cell >= 0.19,
                            title=ax.get_title())
        image = ax.images[0]
    facets.label_outer()
    if image is not None:
        scale = "log scale" if isinstance(norm, colors.LogNorm) else "linear scale"
        facets.figure.colorbar(image, ax=[a for a in facets.axes.ravel() if a.get_visible()],
                               label=f"references per run\n({scale})", shrink=0.9 if len(row_keys) <= 2 else 0.5)
    finish(facets.figure, [], [], title, notes, facets.xlabel)
    return facets.figure


@plots.styled
def cdf_figure(cdfs: pd.DataFrame, setting: Sequence[str], title: str, notes: list[str]):
    """Walk-latency CDFs (column 'cdf'): a line per mode, a panel per workload (rows) and machine
    preset (columns), other swept parameters as line styles."""
    dims = dimensions(cdfs, setting)
    line = _take(dims, MODE) or _take(dims, "run_id")
    rows = _take(dims, "workload.kind")
    cols = _take(dims, "machine.preset", 6, cdfs)
    styles = [c for dim in dims for c in dim]
    style_keys = _keys(cdfs, styles)
    facets = Facets(rows, _keys(cdfs, rows), cols, _keys(cdfs, cols), sharey=True, sharex=True)
    for row_key, col_key, ax in facets.panels:
        part = _select(_select(cdfs, rows, row_key), cols, col_key)
        for k, style_key in enumerate(style_keys):
            lines = _select(part, styles, style_key)
            curves = {str(labels.setting(line, key) if line != [MODE] else key[0]): _select(lines, line, key)["cdf"].iloc[0]
                      for key in _keys(lines, line)}
            plots.plot_walk_cdfs(curves, ax=ax, legend=False, title=ax.get_title(),
                                 linestyle=palette.LINE_STYLES[k % len(palette.LINE_STYLES)])
        if all(cdf.empty for cdf in part["cdf"]):
            ax.text(0.5, 0.5, "no page walks", transform=ax.transAxes, ha="center", va="center")
    facets.label_outer()
    handles, names = [], []
    for key in _keys(cdfs, line):
        name = key[0] if line == [MODE] else labels.setting(line, key)
        handles.append(Line2D([], [], color=palette.MODE_COLOURS.get(name) or palette.mode_colour(name)))
        names.append(labels.value(MODE, name) if line == [MODE] else name)
    _add_style_legend(handles, names, styles, style_keys)
    finish(facets.figure, handles, names, title, notes, facets.xlabel)
    return facets.figure


# ---- the command ------------------------------------------------------------------------------


def _absent(frame: pd.DataFrame, shown, setting: Sequence[str]) -> str:
    """The settings of frame's rows that are not shown, in words: the values of a column that no
    shown row has ('native, GUPS'), then after a semicolon what the other hidden rows share
    ('fork and wait, nested paging, 2 MiB pages'), or how many they are."""
    shown = np.asarray(shown, dtype=bool)
    words, explained = [], np.zeros(len(frame), dtype=bool)
    for column in setting:
        for value in dict.fromkeys(frame[column]):
            rows = frame[column].eq(value).to_numpy()
            if not (rows & shown).any():
                words.append(labels.setting([column], [value]))
                explained |= rows
    parts = [", ".join(dict.fromkeys(words))] if words else []
    rest = frame[~shown & ~explained]
    if len(rest):
        shared = [c for c in setting if rest[c].nunique() == 1 and frame[c].nunique() > 1]
        parts.append(labels.setting(shared, [rest[c].iloc[0] for c in shared]) if shared
                     else f"{len(rest)} other settings")
    return "; ".join(parts)


def _only(shown: pd.DataFrame, every: pd.DataFrame, setting: Sequence[str]) -> str:
    """': fork and wait' when the settings shown share a value that others in the file do not."""
    fixed = [c for c in setting if shown[c].nunique() == 1 and every[c].nunique() > 1]
    return f": {labels.setting(fixed, [shown[c].iloc[0] for c in fixed])}" if fixed and len(shown) else ""


def _seeds_note(runs: pd.DataFrame, setting: Sequence[str], how: str) -> str:
    seeds = runs.groupby(list(setting), sort=False).size() if setting else pd.Series([len(runs)])
    counts = sorted(set(int(n) for n in seeds))
    return f"{how} over {'/'.join(map(str, counts))} seeds." if max(counts) > 1 else ""


def write_figures(path: str | Path, outdir: str | Path, metric: str = "sim.cycles", baseline: str | None = None,
                  kinds: Sequence[str] | None = None, progress: Callable[[Path], None] | None = None,
                  note: Callable[[str], None] | None = None, formats: Sequence[str] = plots.FORMATS,
                  drawn: Callable[[str, object], None] | None = None) -> list[Path]:
    """Write the figures of `kinds` (default all of KINDS) for the result file at `path` into
    `outdir` (made if missing), each as PNG, SVG and PDF (`formats`); returns the paths written,
    in order, calling progress(path) after each one, note(text) for every figure left out and
    why, and drawn(name, figure) with each matplotlib Figure once saved.

    speedup: needs /sweep: speedup-over-BASELINE (every mode over `baseline`, default native) and
             nested-over-shadow, with 95 % Student-t intervals over seeds, each with a CSV.
    exits:   exit-counts and exit-cycles (stacked by reason, mean per run), cycles-per-exit.
    grid:    ref-grid: the 2-D walk's references per guest step and nested level, per setting.
    cdf:     walk-latency-cdf: walk-latency CDFs (seeds pooled), a line per mode.
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
        runs = table[table["run_id"] != ""]
        if result.has_sweep:
            setting = list(table.attrs["parameters"])
        else:  # a run per mode (a comparison) or runs told apart by their ids
            setting = [MODE] if runs[MODE].is_unique else ["run_id"]

        def save(figure, name: str) -> None:
            outdir.mkdir(parents=True, exist_ok=True)
            for target in plots.save(figure, outdir / name, formats):
                written.append(target)
                progress(target)
            if drawn:
                drawn(name, figure)

        def save_csv(frame: pd.DataFrame, name: str) -> None:
            outdir.mkdir(parents=True, exist_ok=True)
            target = outdir / f"{name}.csv"
            frame.to_csv(target, index=False)
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
                comparisons.append((f"speedup-over-{chosen}", chosen, None))
            else:
                note(f"{result.path}: no speedups over '{chosen}': {MODE} takes the values {', '.join(modes) or 'none'}")
            nested = [m for m in modes if m.startswith("nested")]
            if chosen != "shadow" and "shadow" in modes and nested:
                comparisons.append(("nested-over-shadow", "shadow", nested))
            for name, base, candidates in comparisons:
                numbers = speedups(frame, metric=metric, baseline=base, candidates=candidates)
                what = "nested paging" if candidates else "each mode"
                figure = speedup_figure(numbers, f"Speedup of {what} over {labels.value(MODE, base)} "
                                                 f"({labels.metric(metric)})")
                save(figure, name)
                save_csv(numbers, name)

        if "exits" in kinds:
            counts = exits_by_reason(result, value="count", by=setting).reset_index()
            cycles = exits_by_reason(result, value="cycles", by=setting).reset_index()
            reasons = [c for c in counts.columns if c not in setting]
            exiting = (counts[reasons].sum(axis=1) > 0).to_numpy() if reasons else np.zeros(len(counts), bool)
            notes = [n for n in [_seeds_note(runs, setting, "Mean per run")] if n]
            silent = _absent(counts, exiting, setting)
            if silent and exiting.any():
                notes.append(f"No VM exits (not shown): {silent}.")
            if not exiting.any():
                note(f"{result.path}: no VM exits in any run: no exit figures")
            else:
                only = _only(counts[exiting], counts, setting)
                counts, cycles = counts[exiting], cycles[exiting]
                save(exits_figure(counts, setting, "count", f"VM exits per run by reason{only}", notes), "exit-counts")
                save(exits_figure(cycles, setting, "cycles", f"Cycles spent in VM exits per run, by reason{only}", notes),
                     "exit-cycles")
                cost_notes = ["Cycles per exit: hardware transition plus handler, mean over the runs' exits; "
                              "a gap where a reason did not occur."] + notes[1:]
                save(cycles_per_exit_figure(counts, cycles, setting, f"Cycles per VM exit by reason{only}", cost_notes),
                     "cycles-per-exit")

        if "grid" in kinds:
            rows = []
            for key, group in runs.groupby(setting, sort=False):
                grids = [result.walk(r, "ref_grid") for r in group["run_id"]]
                mean = sum(grids[1:], grids[0]) / len(grids)
                rows.append(dict(zip(setting, key if isinstance(key, tuple) else (key,)), grid=mean))
            grids = pd.DataFrame(rows)
            two_d = grids["grid"].map(lambda g: bool(g.drop(columns=["entry"], errors="ignore").to_numpy().any()))
            notes = [n for n in [_seeds_note(runs, setting, "Mean per run")] if n]
            if two_d.any() and not two_d.all():
                flat = _absent(grids, two_d.to_numpy(), setting)
                notes.append(f"Only one-dimensional walks (not shown): {flat}.")
                only = _only(grids[two_d], grids, setting)
                grids = grids[two_d]
            else:
                only = ""
            walk = "the two-dimensional page walk" if two_d.any() else "the page walk"
            save(ref_grid_figure(grids, setting, f"References per step of {walk}{only}", notes), "ref-grid")

        if "cdf" in kinds:
            rows = []
            for key, group in runs.groupby(setting, sort=False):
                hist = pooled_histogram([result.walk(r, "walk_cycles") for r in group["run_id"]])
                rows.append(dict(zip(setting, key if isinstance(key, tuple) else (key,)), cdf=walk_latency_cdf(hist)))
            cdfs = pd.DataFrame(rows)
            notes = [n for n in [_seeds_note(runs, setting, "The walks of each setting pooled")] if n]
            save(cdf_figure(cdfs, setting, "Page-walk latency (CDF)", notes), "walk-latency-cdf")
    return written
