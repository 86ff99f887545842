"""python3 -m virtsim_analysis summary FILE [--json]
python3 -m virtsim_analysis figures FILE -o DIR [--metric NAME] [--baseline MODE] [--only KIND ...]"""
from __future__ import annotations

import argparse
import json
import sys

from .canonical import canonical_metrics
from .results import SchemaError, load


def _error(error: Exception, path: str | None = None) -> int:
    """One line on standard error, naming the file; status 2."""
    text = str(error.args[0]) if error.args else str(error)
    if path and not text.startswith(path):
        text = f"{path}: cannot read result file: {text}"
    print(f"virtsim_analysis: error: {text}", file=sys.stderr)
    return 2


# What reading an odd file can raise beyond SchemaError and KeyError: h5py's OSError on a
# damaged object, TypeError or ValueError on a field of an unexpected type or shape.
READ_ERRORS = (SchemaError, KeyError, OSError, TypeError, ValueError, IndexError)


def not_complete(result) -> list[str]:
    """A line per run or sweep point whose status is not "ok", with its error: partial runs (the
    simulation stopped on an error; their metrics are those reached) and failed points (no run)."""
    lines = []
    if result.has_sweep:
        table = result.sweep()
        for _, row in table[table["status"] != "ok"].iterrows():
            run = f" ({row['run_id']})" if row["run_id"] else ""
            lines.append(f"point {row['point']}{run}: {row['status']}: {row['error'] or 'no error recorded'}")
        swept = set(table["run_id"])
    else:
        swept = set()
    for run in result.run_ids:
        attrs = result.run_attrs(run)
        if run not in swept and attrs.get("status") != "ok":
            lines.append(f"{run}: {attrs.get('status', 'no status')}: {attrs.get('error') or 'no error recorded'}")
    return lines


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
            _warn_partial(result)
            incomplete = not_complete(result)
            what = "points" if result.has_sweep else "runs"
            total = len(result.sweep()) if result.has_sweep else len(result.run_ids)
            table = canonical_metrics(result) if result.run_ids else None
    except READ_ERRORS as error:
        return _error(error, args.file)
    if args.json:
        runs = {} if table is None else {run: table.loc[run].to_dict() for run in table.index}
        print(json.dumps(runs, indent=1))
        return 0
    print(table.T.to_string() if table is not None else f"{args.file}: no runs")
    if incomplete:
        print(f"\nnot complete: {len(incomplete)} of {total} {what}")
        for line in incomplete:
            print(f"  {line}")
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
    except READ_ERRORS as error:
        if isinstance(error, OSError) and error.filename is not None:  # the output folder cannot be written
            return _error(OSError(f"{error.filename}: {error.strerror or error}"))
        return _error(error, args.file)
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
