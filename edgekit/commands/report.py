"""edgekit report: a self-contained HTML report (or Markdown) from benchmark result files."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("report", help="HTML or Markdown report from result JSON files", description=__doc__)
    p.add_argument(
        "results", nargs="+", metavar="RESULTS", help="result JSON files from 'edgekit bench -o' (one result or a list each)"
    )
    p.add_argument("-o", "--output", help="write here (default: Markdown to stdout); the suffix picks the format")
    p.add_argument("--format", dest="fmt", choices=["html", "md"], default=None, help="html or md (default: from -o, else md)")
    p.add_argument("--title", default="edgekit benchmark report", help="the report's title")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api

    text, fmt = api.report(args.results, fmt=args.fmt, title=args.title, output=args.output)
    if args.output:
        print(f"wrote {args.output} ({fmt}, {len(text) // 1024} KiB)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
