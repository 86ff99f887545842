"""Sweeps and multi-run files as tidy frames; speedups with confidence intervals over seeds;
the exit, walk-latency and reference-grid summaries the plots draw."""
from __future__ import annotations

import difflib
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .exit_reasons import common_reason

MODE = "memory_virtualization"

def t_critical_95(df: int) -> float:
    """Two-sided 95 % critical value of Student's t with df degrees of freedom (NaN for df < 1)."""
    if df < 1:
        return math.nan
    from scipy import stats  # here, so that reading result files needs no scipy
    return float(stats.t.ppf(0.975, df))


# ---- tables of runs ----------------------------------------------------------------------


def run_table(result) -> pd.DataFrame:
    """One row per sweep point (a file with /sweep: point, run_id, status, error, seed, the swept
    parameters) or per run (any other file: run_id, status, error, seed). Both get a
    memory_virtualization column (from each run's attribute when it was not swept).
    .attrs['parameters']: the swept parameters ([] without /sweep)."""
    if result.has_sweep:
        table = result.sweep()
        parameters = list(table.attrs["parameters"])
        if MODE not in table.columns:
            table[MODE] = [result.run_attrs(r).get(MODE, "") if r else "" for r in table["run_id"]]
    else:
        rows = []
        for run_id in result.run_ids:
            attrs = result.run_attrs(run_id)
            rows.append({"run_id": run_id, "status": attrs.get("status", ""), "error": attrs.get("error", ""),
                         "seed": int(attrs.get("seed", 0)), MODE: attrs.get(MODE, "")})
        table = pd.DataFrame(rows, columns=["run_id", "status", "error", "seed", MODE])
        table["seed"] = table["seed"].astype(np.int64)
        parameters = []
    table.attrs = {"parameters": parameters}
    return table


def _require_sweep(result) -> None:
    if not result.has_sweep:
        raise KeyError(f"{result.path}: no '/sweep' dataset: not a sweep result (virtsim sweep writes one)")


def check_metrics(result, names: Iterable[str], available: Iterable[str] | None = None) -> None:
    """KeyError naming the file and the first metric no run has (with close matches)."""
    known = set(available if available is not None else result.metrics()["name"].unique())
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise KeyError(f"{result.path}: no metric '{name}' in any run{hint}")


def _metric_list(metrics: str | Sequence[str] | None) -> list[str] | None:
    return [metrics] if isinstance(metrics, str) else (None if metrics is None else list(metrics))


def sweep_wide(result, metrics: str | Sequence[str] | None = None) -> pd.DataFrame:
    """A row per sweep point (failed points included, with NaN metrics), a column per metric
    (all of them when metrics is None) after the run_table columns."""
    _require_sweep(result)
    names = _metric_list(metrics)
    table = run_table(result)
    wide = result.metrics_wide()
    if names is None:
        names = list(wide.columns)
    check_metrics(result, names, wide.columns)
    frame = table.merge(wide[names], left_on="run_id", right_index=True, how="left")
    frame.attrs = {"parameters": table.attrs["parameters"], "metrics": names}
    return frame


def sweep_metrics(result, metrics: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Tidy: a row per (point with a run, metric): the run_table columns, then name, value,
    unit, kind."""
    _require_sweep(result)
    names = _metric_list(metrics)
    table = run_table(result)
    tidy = result.metrics()
    if names is not None:
        check_metrics(result, names, tidy["name"].unique())
        tidy = tidy[tidy["name"].isin(names)]
    frame = table[table["run_id"] != ""].merge(tidy, on="run_id", how="inner")
    frame.attrs = {"parameters": table.attrs["parameters"]}
    return frame


# ---- speedups -----------------------------------------------------------------------------


def _key_columns(frame: pd.DataFrame, by: str, on: Sequence[str] | None) -> list[str]:
    if on is not None:
        return [c for c in on if c != by]
    if "parameters" not in frame.attrs:
        raise ValueError("the frame has no attrs['parameters'] (lost in a pandas operation?): pass on=[columns]")
    return [c for c in frame.attrs["parameters"] if c != by]


def speedup_samples(frame: pd.DataFrame, metric: str = "sim.cycles", baseline: str = "native",
                    candidates: Sequence[str] | None = None, by: str = MODE,
                    on: Sequence[str] | None = None, statuses: Sequence[str] = ("ok",)) -> pd.DataFrame:
    """Per-seed speedups: for every candidate value of `by` and every setting of the `on` columns
    (default: the other swept parameters), metric(baseline) / metric(candidate) of the two runs
    with the same seed, so > 1 means the candidate is faster for a cost metric like sim.cycles.
    `frame` is sweep_wide's (a row per point). Only points whose status is in `statuses` count."""
    for column in [by, metric, "seed"]:
        if column not in frame.columns:
            raise KeyError(f"no column '{column}' in the frame (columns: {', '.join(map(str, frame.columns))})")
    keys = _key_columns(frame, by, on) + ["seed"]
    rows = frame[frame[metric].notna()]
    if "status" in rows.columns:
        rows = rows[rows["status"].isin(list(statuses))]

    def runs_of(value: str) -> pd.DataFrame:
        picked = rows[rows[by] == value][keys + [metric]]
        if picked.duplicated(keys).any():
            # Pairs must be one to one, or a ratio would silently mix runs of other settings.
            raise ValueError(f"several '{value}' runs share the same {', '.join(keys)}: pass on= with every "
                             "column that tells them apart")
        return picked

    base = runs_of(baseline)
    if candidates is None:
        candidates = [v for v in pd.unique(rows[by]) if v != baseline]
    out = []
    for candidate in candidates:
        pairs = runs_of(candidate).merge(base, on=keys, suffixes=("", "_baseline"))
        pairs[by] = candidate
        pairs["baseline"] = baseline
        pairs = pairs.rename(columns={metric: "value", f"{metric}_baseline": "baseline_value"})
        pairs["metric"] = metric
        pairs["speedup"] = pairs["baseline_value"] / pairs["value"]
        out.append(pairs)
    columns = keys[:-1] + [by, "baseline", "seed", "metric", "baseline_value", "value", "speedup"]
    result = pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)
    result.attrs = {"by": by, "on": keys[:-1], "metric": metric}
    return result


def speedups(frame: pd.DataFrame, metric: str = "sim.cycles", baseline: str = "native",
             candidates: Sequence[str] | None = None, by: str = MODE, on: Sequence[str] | None = None,
             statuses: Sequence[str] = ("ok",)) -> pd.DataFrame:
    """speedup_samples averaged over seeds: a row per candidate and setting of `on` with n (seeds
    paired), speedup (mean of the per-seed ratios), std, a 95 % Student-t confidence interval
    ci_low..ci_high (ci_half_width), and deterministic: True where the seed changes neither run
    (every seed measured the same baseline and candidate values). One seed, or a deterministic
    setting: std and the interval are NaN (no spread to estimate, rather than a zero-width
    interval)."""
    samples = speedup_samples(frame, metric, baseline, candidates, by, on, statuses)
    keys = samples.attrs["on"] + [by, "baseline", "metric"]
    columns = keys + ["n", "speedup", "std", "ci_low", "ci_high", "ci_half_width", "deterministic"]
    if samples.empty:
        out = pd.DataFrame(columns=columns)
    else:
        grouped = samples.groupby(keys, sort=False, dropna=False)
        out = grouped["speedup"].agg(n="count", speedup="mean", std="std").reset_index()
        same = grouped[["value", "baseline_value"]].nunique().reset_index(drop=True)
        out["deterministic"] = ((out["n"] > 1) & (same["value"] == 1) & (same["baseline_value"] == 1)).to_numpy()
        out.loc[out["deterministic"], "std"] = math.nan
        out["ci_half_width"] = [t_critical_95(int(n) - 1) * s / math.sqrt(n) for n, s in zip(out["n"], out["std"])]
        out["ci_low"] = out["speedup"] - out["ci_half_width"]
        out["ci_high"] = out["speedup"] + out["ci_half_width"]
        out = out[columns]
    out.attrs = dict(samples.attrs, baseline=baseline)
    return out


# ---- exits ---------------------------------------------------------------------------------


def with_reasons(exits: pd.DataFrame) -> pd.DataFrame:
    """An exits frame (ResultFile.exits()) with a `reason` column before `code`: the common name
    of exit_reasons.py, one per reason across VT-x and AMD-V; `code` and `name` stay as the file
    has them (the manual's)."""
    reasons = [common_reason(m, c, n) for m, c, n in zip(exits["mode"], exits["code"], exits["name"])]
    return exits.assign(reason=pd.Series(reasons, index=exits.index, dtype=object)).reindex(
        columns=[*[c for c in exits.columns if c not in ("code", "name", "count", "cycles")], "reason", "code", "name",
                 "count", "cycles"])


def exits_table(result) -> pd.DataFrame:
    """Every exits row of every run with its run_table columns (point, seed, parameters...) and
    its common reason name (with_reasons)."""
    table = run_table(result)
    exits = with_reasons(result.exits())
    frame = table[table["run_id"] != ""].merge(exits, on="run_id", how="inner")
    frame.attrs = {"parameters": table.attrs["parameters"]}
    return frame


def exits_by_reason(result, value: str = "count", by: Sequence[str] | None = None,
                    statuses: Sequence[str] = ("ok", "partial")) -> pd.DataFrame:
    """Exits (value 'count' or 'cycles') per reason, averaged over the runs of each setting of
    `by` (default: every swept parameter; without /sweep: run_id). Index: the `by` values;
    columns: the reasons' common names (exit_reasons.py: the same for VT-x and AMD-V), most
    frequent first; a run without a reason counts 0 for it."""
    if value not in ("count", "cycles"):
        raise ValueError(f"value must be 'count' or 'cycles', not '{value}'")
    table = run_table(result)
    if by is None:
        by = table.attrs["parameters"] or ["run_id"]
    by = list(by)
    for column in by:
        if column not in table.columns:
            raise KeyError(f"{result.path}: no column '{column}' to group exits by "
                           f"(columns: {', '.join(table.columns)})")
    runs = table[(table["run_id"] != "") & table["status"].isin(list(statuses))]
    exits = with_reasons(result.exits())
    per_run = exits.pivot_table(index="run_id", columns="reason", values=value, aggfunc="sum")
    per_run = per_run.reindex(runs["run_id"]).fillna(0).astype(float)
    per_run.columns.name = None
    order = per_run.sum().sort_values(ascending=False, kind="stable").index
    keys = runs[by].set_axis(runs["run_id"].to_numpy())  # run_id may itself be a key
    joined = pd.concat([keys, per_run[order]], axis=1)
    if by:
        out = joined.groupby(by, sort=False).mean()
    else:  # nothing to tell the runs apart: one row, the mean of them all
        out = joined.mean().to_frame("all runs").T
    out.attrs = {"value": value, "by": by}
    return out


# ---- walks -------------------------------------------------------------------------------


def pooled_histogram(histograms: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Several runs' histograms of one statistic (same buckets) summed into one."""
    if not histograms:
        raise ValueError("no histograms to pool")
    first = histograms[0]
    for other in histograms[1:]:
        if not np.array_equal(other["bucket_low"].to_numpy(), first["bucket_low"].to_numpy()):
            raise ValueError("histograms with different buckets cannot be pooled")
    pooled = first[["bucket_low", "bucket_high"]].copy()
    pooled["count"] = sum(h["count"].to_numpy(dtype=np.uint64) for h in histograms)
    attrs = dict(first.attrs)
    for key in ("samples", "underflow", "overflow"):
        attrs[key] = int(sum(int(h.attrs.get(key, 0)) for h in histograms))
    sampled = [h for h in histograms if int(h.attrs.get("samples", 0)) > 0]
    if sampled:
        attrs["min"] = min(float(h.attrs["min"]) for h in sampled)
        attrs["max"] = max(float(h.attrs["max"]) for h in sampled)
        attrs["sum"] = float(sum(float(h.attrs.get("sum", 0)) for h in sampled))
        attrs["mean"] = attrs["sum"] / attrs["samples"]
    pooled.attrs = attrs
    return pooled


def walk_latency_cdf(histogram: pd.DataFrame) -> pd.DataFrame:
    """The cumulative distribution a histogram pins down: (min, 0), then at every bucket edge
    strictly between min and max the share of samples below it, then (max, 1). Columns cycles,
    fraction; empty when there were no samples."""
    samples = int(histogram.attrs.get("samples", 0))
    if samples == 0:
        return pd.DataFrame({"cycles": pd.Series(dtype=float), "fraction": pd.Series(dtype=float)})
    low, high = float(histogram.attrs["min"]), float(histogram.attrs["max"])
    below = int(histogram.attrs.get("underflow", 0)) + np.cumsum(histogram["count"].to_numpy(dtype=np.int64))
    edges = histogram["bucket_high"].to_numpy(dtype=float)
    inside = (edges > low) & (edges < high)
    cycles = np.concatenate([[low], edges[inside], [high]])
    fraction = np.concatenate([[0.0], below[inside] / samples, [1.0]])
    cdf = pd.DataFrame({"cycles": cycles, "fraction": fraction})
    cdf.attrs = {"samples": samples, "mean": float(histogram.attrs.get("mean", np.nan))}
    return cdf


# ---- settings --------------------------------------------------------------------------

# The machine presets (experiments/presets/machine/) by release: Intel, then AMD, then the rest.
PRESET_ORDER = ["prescott", "merom", "penryn", "nehalem", "westmere", "sandybridge", "skylake", "skylake-sp",
                "barcelona", "shanghai", "zen2", "bhargava2008"]


def by_generation(frame: pd.DataFrame, column: str = "machine.preset") -> pd.DataFrame:
    """frame's rows with the presets of `column` in PRESET_ORDER (unknown ones after, as they
    came). `column` is a column or an index level; rows that differ in an index level before it
    stay apart, in their order."""
    rank = {preset: i for i, preset in enumerate(PRESET_ORDER)}
    if column in frame.columns:
        keys = [[rank.get(v, len(rank)) for v in frame[column]]]
    elif column in (frame.index.names or []):
        position = list(frame.index.names).index(column)
        keys = []
        for level in range(position):  # the outer levels, each in order of first appearance
            values = frame.index.get_level_values(level)
            first = {v: i for i, v in reversed(list(enumerate(values)))}
            keys.append([first[v] for v in values])
        keys.append([rank.get(v, len(rank)) for v in frame.index.get_level_values(column)])
    else:
        raise KeyError(f"no column or index level '{column}'")
    order = np.lexsort(keys[::-1])  # lexsort's last key is the primary one; it is stable
    return frame.iloc[order]


def varying(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns among `columns` that take more than one value in frame."""
    return [c for c in columns if c in frame.columns and frame[c].nunique(dropna=False) > 1]
