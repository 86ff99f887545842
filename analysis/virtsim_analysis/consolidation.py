"""The consolidation experiment (experiments/sweeps/consolidation.toml): VMs time-sharing one
physical CPU, with VPID / ASID tagging on and off, 4 KiB and 2 MiB pages, short and long time
slices. consolidation_table() gives one row per run with the per-VM means of the system.vmK.*
statistics; plot_consolidation() draws TLB misses, walks and cycles per VM against the number
of VMs.

    python3 -m virtsim_analysis.consolidation RESULT.h5 -o STEM [--formats png,svg,pdf] [--markdown]
writes STEM.png/.svg/.pdf (those of --formats) and prints the table (as Markdown with --markdown)."""
from __future__ import annotations

import argparse
import re
import sys

import pandas as pd
from matplotlib.lines import Line2D

from . import palette
from .plots import new_figure, save, styled
from .results import load

VMS = "system.vms"
TAGGED = "system.vmx.tagged_tlb"
SLICE = "system.scheduler.time_slice_us"
PAGE = "system.nested.page_size"
# What the figure draws per VM (every STLB miss is a walk: system.vmK.walks equals stlb_misses).
PER_VM = {"stlb_misses": "STLB misses (walks) per VM", "walk_cycles": "walk cycles per VM", "cycles": "cycles per VM"}


def _bool(value) -> bool:
    return str(value).strip().lower() in ("true", "1")


def consolidation_table(result) -> pd.DataFrame:
    """One row per completed run: vms, tagged, slice_us, page ("4k"/"2m") and the mean over the
    run's VMs of each system.vmK.<leaf> in PER_VM (plus walks and switches)."""
    sweep = result.sweep()
    wide = result.metrics_wide()
    rows = []
    for _, point in sweep[sweep["status"] == "ok"].iterrows():
        metrics = wide.loc[point["run_id"]]
        vms = int(point[VMS])
        row = {"vms": vms, "tagged": _bool(point[TAGGED]), "slice_us": float(point[SLICE]),
               "page": str(point[PAGE]).strip('"')}
        for leaf in [*PER_VM, "walks", "switches"]:
            row[leaf] = sum(metrics[f"system.vm{k}.{leaf}"] for k in range(vms)) / vms
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["page", "slice_us", "tagged", "vms"], ignore_index=True)


PAGE_COLOURS = {"4k": palette.MODE_COLOURS["nested"], "2m": palette.MODE_COLOURS["shadow"]}
PAGE_MARKERS = {"4k": "o", "2m": "s"}


@styled
def plot_consolidation(table: pd.DataFrame):
    """A row of three panels (STLB misses, walk cycles, million cycles per VM) against the number of
    VMs per time slice: colour and marker are the page size, solid lines tagged (VPID on),
    dashed untagged. Counts are on a symmetric log scale, linear below 10, so zero shows."""
    slices = sorted(table["slice_us"].unique())
    figure, axes = new_figure(width=palette.DOUBLE_COLUMN, height=1.2 + 1.7 * len(slices), ncols=3,
                              nrows=len(slices), squeeze=False, sharex=True)
    counts = sorted(table["vms"].unique())
    for row, slice_us in zip(axes, slices):
        runs = table[table["slice_us"] == slice_us]
        for ax, (leaf, label) in zip(row, PER_VM.items()):
            for (page, tagged), group in runs.groupby(["page", "tagged"]):
                scale = 1e-6 if leaf == "cycles" else 1.0
                ax.plot(group["vms"], group[leaf] * scale, color=PAGE_COLOURS.get(page, "#555555"),
                        linestyle="-" if tagged else "--", marker=PAGE_MARKERS.get(page, "^"), markersize=3.5,
                        linewidth=1.0)
            ax.set_xscale("log", base=2)
            ax.set_xticks(counts, [str(v) for v in counts])
            ax.minorticks_off()
            if leaf == "cycles":
                ax.set_ylabel("million " + label)
            else:
                ax.set_yscale("symlog", linthresh=10)
                ax.set_ylim(0, max(10.0, runs[leaf].max()) * 3)
                ax.set_ylabel(label)
            ax.set_title(f"{slice_us / 1000:g} ms slices", fontsize="medium")
            ax.grid(True, linewidth=0.3, alpha=0.5)
    for ax in axes[-1]:
        ax.set_xlabel("VMs sharing one CPU")
    handles = [Line2D([], [], color=PAGE_COLOURS["4k"], marker=PAGE_MARKERS["4k"], markersize=3.5,
                      label="4 KiB pages"),
               Line2D([], [], color=PAGE_COLOURS["2m"], marker=PAGE_MARKERS["2m"], markersize=3.5,
                      label="2 MiB pages"),
               Line2D([], [], color="black", linestyle="-", label="VPID on"),
               Line2D([], [], color="black", linestyle="--", label="VPID off (flush at every switch)")]
    # Above the panels: the layout leaves the top strip to it.
    figure.get_layout_engine().set(rect=(0, 0, 1, 1 - 0.35 / figure.get_figheight()))
    figure.legend(handles=handles, loc="upper center", ncols=len(handles), frameon=False)
    return figure


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, numbers rounded."""
    shown = table.assign(tagged=table["tagged"].map({True: "on", False: "off"}))
    columns = ["page", "slice_us", "tagged", "vms", "stlb_misses", "walks", "walk_cycles", "cycles", "switches"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in shown[columns].iterrows():
        lines.append("| " + " | ".join(f"{v:,.0f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="virtsim_analysis.consolidation", description=__doc__.splitlines()[0])
    parser.add_argument("result", help="result file of experiments/sweeps/consolidation.toml")
    parser.add_argument("-o", "--output", help="figure stem (writes STEM.png, .svg and .pdf)")
    parser.add_argument("--formats", default="png,svg,pdf", help="figure formats, comma-separated")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    try:
        with load(args.result) as result:
            table = consolidation_table(result)
    except (KeyError, OSError, ValueError) as error:
        print(f"virtsim_analysis: error: {args.result}: not a consolidation sweep ({error})", file=sys.stderr)
        return 2
    print(markdown(table) if args.markdown else table.to_string(index=False))
    if args.output:
        save(plot_consolidation(table), re.sub(r"\.(png|svg|pdf)$", "", args.output), args.formats.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
