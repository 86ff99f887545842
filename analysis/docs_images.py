"""Regenerates the figures the documentation shows (docs/images/*.png) from the two shipped sweeps:

    build/apps/virtsim sweep experiments/sweeps/nested_vs_shadow.toml -j 2 -o results/nested_vs_shadow.h5
    build/apps/virtsim sweep experiments/sweeps/exits_by_generation.toml -j 2 -o results/exits_by_generation.h5
    PYTHONPATH=analysis /usr/bin/python3 analysis/docs_images.py results/nested_vs_shadow.h5 \\
        results/exits_by_generation.h5 docs/images

The faceted figures are those of `python3 -m virtsim_analysis figures`; the reference grid and
the walk-latency CDFs are one setting's (GUPS on Skylake, 4 KiB pages), at single-column width."""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import virtsim_analysis as va  # noqa: E402
from virtsim_analysis import figures, plots  # noqa: E402

MODE = "memory_virtualization"
# The setting the single-setting figures show.
EXAMPLE = {"workload.kind": "gups", "machine.preset": "skylake", "system.nested.page_size": "4k"}


def faceted(result: Path, outdir: Path, kinds: list[str], wanted: dict[str, str]) -> None:
    """The `figures` command's figures of `kinds` named in `wanted` (its name: the docs' name), as PNG."""
    scratch = outdir / ".figures"
    figures.write_figures(result, scratch, kinds=kinds, formats=("png",))
    for name, docs_name in wanted.items():
        (scratch / f"{name}.png").replace(outdir / docs_name)
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()


def example_runs(r) -> dict[str, list[str]]:
    table = va.run_table(r)
    chosen = table[(table["status"] == "ok") & (table[list(EXAMPLE)] == list(EXAMPLE.values())).all(axis=1)]
    return {mode: list(group["run_id"]) for mode, group in chosen.groupby(MODE, sort=False)}


def single_setting(result: Path, outdir: Path) -> None:
    with va.load(result) as r:
        runs = example_runs(r)
        grids = [r.walk(run, "ref_grid") for run in runs["nested"]]
        grid = sum(grids[1:], grids[0]) / len(grids)
        grid = grid.loc[grid.any(axis=1), grid.any(axis=0)]  # the steps and levels that were used
        figure = plots.plot_ref_grid(grid, title=f"GUPS under nested paging, Skylake, 4 KiB pages "
                                                 f"(mean of {len(grids)} runs)")
        plots.save(figure, outdir / "ref-grid-nested-gups", ("png",))
        order = [m for m in va.palette.MODE_COLOURS if m in runs]
        cdfs = {mode: va.walk_latency_cdf(va.pooled_histogram([r.walk(run, "walk_cycles") for run in runs[mode]]))
                for mode in order}
    figure = plots.plot_walk_cdfs(cdfs, title=f"GUPS, Skylake, 4 KiB pages ({len(runs['nested'])} seeds pooled)",
                                  legend=False)
    with matplotlib.rc_context(va.palette.style()):
        figure.axes[0].legend(loc="lower right", frameon=False)
    plots.save(figure, outdir / "walk-cycles-cdf-gups", ("png",))


def main(nested_vs_shadow: str, exits_by_generation: str, outdir: str) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    faceted(Path(nested_vs_shadow), out, ["speedup", "cdf"], {"nested-over-shadow": "nested-over-shadow.png",
                                          "speedup-over-native": "speedup-over-native.png",
                                          "walk-latency-cdf": "walk-latency-cdf.png"})
    faceted(Path(exits_by_generation), out, ["exits", "grid"], {"cycles-per-exit": "cycles-per-exit.png",
                                             "exit-cycles": "exit-cycles.png", "ref-grid": "ref-grid.png"})
    single_setting(Path(nested_vs_shadow), out)
    print(f"wrote the figures of {out}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
