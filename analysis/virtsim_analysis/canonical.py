"""The canonical metrics every run has (listed in the project README)."""
from __future__ import annotations

import pandas as pd

CANONICAL_METRICS = [
    "sim.instructions", "sim.cycles", "sim.ipc", "sim.seconds",
    "exits.total", "exits.per_kilo_instruction", "exits.cycles",
    "walk.count", "walk.refs", "walk.refs_per_walk", "walk.cycles_per_walk",
    "tlb.l1d.accesses", "tlb.l1d.misses", "tlb.l1d.miss_rate", "tlb.l1d.mpki",
    "tlb.stlb.accesses", "tlb.stlb.misses",
    "walk.two_dimensional", "walk.pwc_hit_rate", "walk.nested_tlb_hit_rate",
    "cache.llc.misses", "mem.accesses",
]


def canonical_metrics(result) -> pd.DataFrame:
    """run_id x canonical metric; a run lacking one is an error, not a silent NaN."""
    wide = result.metrics_wide()
    for run_id in wide.index:
        for name in CANONICAL_METRICS:
            if name not in wide.columns or pd.isna(wide.loc[run_id, name]):
                raise KeyError(f"{result.path}: run '{run_id}' has no canonical metric '{name}'")
    return wide[CANONICAL_METRICS]
