"""Read virtsim HDF5 result files into pandas DataFrames (schema: docs/results-schema.md);
sweeps, speedups with confidence intervals, exit and walk summaries (sweeps.py); exit reasons
named alike for VT-x and AMD-V (exit_reasons.py); the fixed colours and words of figures
(palette.py, labels.py); plots and figures (plots.py, figures.py, imported on first use so that
reading files needs no matplotlib)."""
from . import labels, palette
from .canonical import CANONICAL_METRICS, canonical_metrics
from .exit_reasons import common_reason
from .results import SCHEMA_VERSION, ResultFile, SchemaError, load
from .sweeps import (PRESET_ORDER, by_generation, check_metrics, exits_by_reason, exits_table, pooled_histogram,
                     run_table, speedup_samples, speedups, sweep_metrics, sweep_wide, t_critical_95, varying,
                     walk_latency_cdf, with_reasons)

__all__ = ["CANONICAL_METRICS", "PRESET_ORDER", "SCHEMA_VERSION", "ResultFile", "SchemaError", "by_generation",
           "canonical_metrics", "common_reason", "labels", "palette", "check_metrics", "exits_by_reason", "exits_table", "load", "pooled_histogram",
           "run_table", "speedup_samples", "speedups", "sweep_metrics", "sweep_wide", "t_critical_95", "varying",
           "walk_latency_cdf", "with_reasons"]


def __getattr__(name):
    # `va.plots` and `va.figures` without importing matplotlib for every reader of result files.
    if name in ("plots", "figures"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
