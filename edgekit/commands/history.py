"""edgekit history: list and filter recorded benchmark runs, choose baselines, import/export results."""

from __future__ import annotations

import argparse

from edgekit.console import print_json


def register(sub) -> None:
    p = sub.add_parser(
        "history",
        help="list recorded benchmark runs and set regression baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Every 'edgekit bench' appends its results (unless --no-history).\n"
        "Examples:\n  edgekit history --artifact mobilenet --limit 5\n"
        "  edgekit history --set-baseline 12\n  edgekit compare --baseline",
    )
    p.add_argument("--history", metavar="PATH", default=None, help="history file (default: $EDGEKIT_HISTORY or .edgekit/history.sqlite)")
    p.add_argument("--artifact", help="only runs whose target or file name contains this")
    p.add_argument("--sha", dest="sha256", help="only runs of artifacts whose sha256 starts with this")
    p.add_argument("--device", help="only runs on this device (name or fingerprint key prefix)")
    p.add_argument("--status", choices=["ok", "error"], help="only successful or failed runs")
    p.add_argument("--since", help="only runs measured at or after this ISO date/time")
    p.add_argument("--limit", type=int, default=50, help="at most this many runs, newest first (default 50; 0 for all)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--set-baseline", type=int, metavar="RUN", help="make RUN the baseline of its target on its device")
    act.add_argument("--baselines", action="store_true", help="list the stored baselines")
    act.add_argument("--show", type=int, metavar="RUN", help="print the full result JSON of RUN")
    act.add_argument("--add", nargs="+", metavar="RESULT", help="append result JSON files (e.g. from another machine)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit.results.history import History

    if args.add:
        from edgekit.results.schema import SchemaError, load_many
        from edgekit.errors import EdgekitError

        with History(args.history) as h:
            ids = []
            for path in args.add:
                try:
                    results = load_many(path)
                except OSError as exc:
                    raise EdgekitError(f"cannot read {path} ({exc.strerror})", "check the result file path") from None
                except (ValueError, SchemaError) as exc:
                    raise EdgekitError(f"{path}: {exc}", "pass files written by 'edgekit bench -o'") from None
                ids += [h.append(r, f"file {path}") for r in results]
        print_json({"added": ids}) if args.json else print(f"added run{'s' if len(ids) != 1 else ''} {', '.join(map(str, ids))} to {h.path}")
        return 0

    with History(args.history, create=False) as h:
        if args.show is not None:
            print_json(h.result(args.show))
            return 0
        if args.set_baseline is not None:
            r = h.set_baseline(args.set_baseline)
            if args.json:
                print_json(r.to_dict())
            else:
                print(f"run {r.id} is now the baseline of {r.series} on {r.device_name} ({r.device_key})")
            return 0
        if args.baselines:
            rows = h.baselines()
        else:
            rows = h.runs(
                artifact=args.artifact,
                sha256=args.sha256,
                device=args.device,
                status=args.status,
                since=args.since,
                limit=args.limit or None,
            )
        if args.json:
            print_json([r.to_dict() for r in rows])
            return 0
        print_runs(rows, h.path)
    return 0


def print_runs(rows, path: str) -> None:
    from rich.table import Table

    from edgekit.console import console, human_ms

    table = Table(title=f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {path}", title_justify="left")
    for col, just in (("run", "right"), ("measured", "left"), ("artifact", "left"), ("sha256", "left"),
                      ("device", "left"), ("runtime", "left"), ("p50", "right"), ("p90", "right"), ("n", "right"), ("", "left")):
        table.add_column(col, justify=just)
    for r in rows:
        table.add_row(
            str(r.id),
            r.created.replace("T", " ")[:16],
            r.series if r.series == r.artifact_name else f"{r.series} ({r.artifact_name})",
            (r.artifact_sha256 or "-")[:8],
            f"{r.device_name} {r.device_key[:6]}",
            r.runtime or "-",
            human_ms(r.p50_ms) if r.status == "ok" else "[red]error[/red]",
            human_ms(r.p90_ms) if r.status == "ok" else "",
            str(r.n or ""),
            "[bold]baseline[/bold]" if r.baseline else "",
        )
    console().print(table)
