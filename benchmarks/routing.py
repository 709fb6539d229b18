"""Routing benchmarks against published best-known solutions.

    python benchmarks/routing.py --family solomon --only C101,R101 --time-limit 10
    python benchmarks/routing.py --family kim --json out.json

Runs every selected engine on every instance, checks each result with the
independent checker of ``optimizer.bench`` and prints one table row per instance.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from _common import git_commit

from optimizer.bench import ENGINES, format_markdown, format_table, run_bench
from optimizer.instances import FAMILIES

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--instances",
        type=Path,
        default=DEFAULT_DIR,
        help=f"benchmark root or family folder (default {DEFAULT_DIR})",
    )
    ap.add_argument("--family", choices=FAMILIES, default="solomon")
    ap.add_argument("--only", default="", help="comma-separated instance names")
    ap.add_argument(
        "--time-limit", type=float, default=10.0, help="seconds per instance and engine"
    )
    ap.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help=f"comma-separated, first is the main one (default {','.join(ENGINES)})",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the bench document here")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-run progress lines")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="do not run: print the table of a saved bench document",
    )
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        print(format_markdown(saved) if args.markdown else format_table(saved))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    commit_at_start = git_commit()
    doc = run_bench(
        args.instances,
        args.family,
        only=[s for s in args.only.split(",") if s.strip()] or None,
        time_limit_s=args.time_limit,
        engines=[e.strip() for e in args.engines.split(",") if e.strip()],
        progress=None if args.quiet else progress,
    )
    doc["commit"] = commit_at_start
    doc["command"] = "python benchmarks/routing.py " + " ".join(argv or sys.argv[1:])
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(format_markdown(doc) if args.markdown else format_table(doc))
    print(
        f"wall {doc['wall_s']} s, peak RSS {doc['peak_rss_mb']} MB, "
        f"peak Python allocations {doc['peak_python_alloc_mb']} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
