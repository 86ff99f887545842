"""python3 -m virtsim_analysis summary FILE [--json]
python3 -m virtsim_analysis figures FILE -o DIR [--metric NAME] [--baseline MODE] [--only KIND ...]"""
from __future__ import annotations

import argparse
import json
import sys

from .canonical import canonical_metrics
from .results import SchemaError, load


def _error(error: Exception) -> int:
    print(f"virtsim_analysis: error: {error.args[0] if error.args else error}", file=sys.stderr)
    return 2


def _warn_partial(result) -> None:
    """Partial runs stopped on an error (their metrics are those reached); failed points never ran."""
    for run in result.run_ids:
        attrs = result.run_attrs(run)
        if attrs.get("status") == "partial":
            print(f"virtsim_analysis: warning: {run} is partial: {attrs.get('error', '')}", file=sys.stderr)
    if result.has_sweep:
        table = result.sweep()
        for _, row in table[table["status"] == "failed"].iterrows():
            print(f"virtsim_analysis: warning: sweep point {row['point']} failed: {row['error']}", file=sys.stderr)


def summary(args: argparse.Namespace) -> int:
    try:
        with load(args.file) as result:
            table = canonical_metrics(result)
            statuses = {run: result.run_attrs(run) for run in result.run_ids}
    except (SchemaError, KeyError) as error:
        return _error(error)
    for run, attrs in statuses.items():
        if attrs.get("status") == "partial":  # the simulation stopped on an error: metrics so far
            print(f"virtsim_analysis: warning: {run} is partial: {attrs.get('error', '')}", file=sys.stderr)
    if args.json:
        print(json.dumps({run: table.loc[run].to_dict() for run in table.index}, indent=1))
    else:
        print(table.T.to_string())
    return 0


def figures(args: argparse.Namespace) -> int:
    import matplotlib
    matplotlib.use("Agg")  # files only, whatever the environment's display
    from .figures import write_figures

    try:
        with load(args.file) as result:
            _warn_partial(result)
        written = write_figures(args.file, args.output, metric=args.metric, baseline=args.baseline,
                                kinds=args.only, progress=lambda path: print(f"wrote {path}", flush=True),
                                note=lambda text: print(f"virtsim_analysis: note: {text}", file=sys.stderr))
    except (SchemaError, KeyError, ValueError) as error:
        return _error(error)
    except OSError as error:  # the output folder cannot be made or written
        return _error(OSError(f"{error.filename or args.output}: {error.strerror or error}"))
    print(f"{sum(1 for p in written if p.suffix == '.png')} figures in {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="virtsim_analysis", description="Summaries and figures of virtsim result files")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("summary", help="the canonical metrics of every run")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(run=summary)
    p = commands.add_parser("figures", help="write a folder of PNG figures from a result file")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="folder for the figures (made if missing)")
    p.add_argument("--metric", default="sim.cycles",
                   help="cost metric of the speedups: baseline / candidate (default: sim.cycles)")
    p.add_argument("--baseline", default=None,
                   help="memory_virtualization the speedups are over (default: native, when the sweep has it)")
    p.add_argument("--only", action="append", choices=["speedup", "exits", "grid", "cdf"],
                   help="only this kind of figure (repeatable; default: every kind the file allows)")
    p.set_defaults(run=figures)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
