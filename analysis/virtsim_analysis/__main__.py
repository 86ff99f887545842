"""python3 -m virtsim_analysis summary FILE [--json]"""
from __future__ import annotations

import argparse
import json
import sys

from .canonical import canonical_metrics
from .results import SchemaError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="virtsim_analysis", description="Summaries of virtsim result files")
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="the canonical metrics of every run")
    summary.add_argument("file")
    summary.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        with load(args.file) as result:
            table = canonical_metrics(result)
            statuses = {run: result.run_attrs(run) for run in result.run_ids}
    except (SchemaError, KeyError) as error:
        print(f"virtsim_analysis: error: {error.args[0]}", file=sys.stderr)
        return 2
    for run, attrs in statuses.items():
        if attrs.get("status") == "partial":  # the simulation stopped on an error: metrics so far
            print(f"virtsim_analysis: warning: {run} is partial: {attrs.get('error', '')}", file=sys.stderr)
    if args.json:
        print(json.dumps({run: table.loc[run].to_dict() for run in table.index}, indent=1))
    else:
        print(table.T.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
