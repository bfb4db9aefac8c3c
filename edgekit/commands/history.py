"""edgekit history: list and filter recorded benchmark runs, choose baselines, import/export results."""

from __future__ import annotations

import argparse
import os

from edgekit.console import print_json, safe


def _since(text: str) -> str:
    from edgekit.results.history import parse_since
    from edgekit.errors import EdgekitError

    try:
        return parse_since(text)
    except EdgekitError as exc:
        raise argparse.ArgumentTypeError(f"{exc.message}; {exc.hint}") from None


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
    p.add_argument(
        "--history", metavar="PATH", default=None, help="history file (default: $EDGEKIT_HISTORY or .edgekit/history.sqlite)"
    )
    p.add_argument("--artifact", help="only runs whose target or file name contains this")
    p.add_argument("--sha", dest="sha256", help="only runs of artifacts whose sha256 starts with this")
    p.add_argument("--device", help="only runs on this device (name or fingerprint key prefix)")
    p.add_argument("--status", choices=["ok", "error"], help="only successful or failed runs")
    p.add_argument(
        "--since",
        type=_since,
        help="only runs measured at or after this: an ISO date or date-time (local time unless it has an offset), "
        "today, yesterday, or an age like 30m, 12h, 7d, 2w",
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many runs, newest first (default 50; 0 for all)")
    act = p.add_mutually_exclusive_group()
    act.add_argument(
        "--set-baseline",
        type=int,
        metavar="RUN",
        help="make RUN the baseline of its series (artifact path, device, runtime settings)",
    )
    act.add_argument("--baselines", action="store_true", help="list the stored baselines")
    act.add_argument("--show", type=int, metavar="RUN", help="print the full result JSON of RUN")
    act.add_argument("--add", nargs="+", metavar="RESULT", help="append result JSON files (e.g. from another machine)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api

    if args.add:
        ids, path = api.history_add(args.add, history=args.history)
        print_json({"added": ids}) if args.json else print(
            f"added run{'s' if len(ids) != 1 else ''} {', '.join(map(str, ids))} to {path}"
        )
        return 0
    if args.show is not None:
        print_json(api.history_result(args.show, history=args.history))
        return 0
    if args.set_baseline is not None:
        r = api.set_baseline(args.set_baseline, history=args.history)
        if args.json:
            print_json(r.to_dict())
        else:
            print(
                f"run {r.id} is now the baseline of {r.artifact_path or r.series} (sha256 {(r.artifact_sha256 or '-')[:8]}, "
                f"{r.setup}) on {r.device_name} ({r.device_key[:6]})"
            )
        return 0
    if args.baselines:
        rows, path = api.baselines(history=args.history)
    else:
        rows, path = api.history_runs(
            history=args.history,
            artifact=args.artifact,
            sha256=args.sha256,
            device=args.device,
            status=args.status,
            since=args.since,
            limit=args.limit,
        )
    if args.json:
        print_json([r.to_dict() for r in rows])
        return 0
    print_runs(rows, path)
    return 0


def print_runs(rows, path: str) -> None:
    """One row per run; the artifact shows its directory and sha256 prefix, so two files of the
    same name are never shown as one."""
    from rich.table import Table

    from edgekit.console import console, human_ms

    table = Table(title=safe(f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {path}"), title_justify="left")
    for col, just in (
        ("run", "right"),
        ("measured", "left"),
        ("artifact", "left"),
        ("sha256", "left"),
        ("device", "left"),
        ("runtime", "left"),
        ("p50", "right"),
        ("p90", "right"),
        ("n", "right"),
        ("", "left"),
    ):
        # fold, not truncate: two same-named files differ in their directory, which must show.
        table.add_column(col, justify=just, overflow="fold" if col in ("artifact", "runtime") else "ellipsis")
    for r in rows:
        where = r.artifact_path or r.series
        name = r.artifact_name or os.path.basename(where)
        target = r.series.split(" in ", 1)[0] if r.series != where else ""
        label = safe(name if not target else f"{target} ({name})")
        directory = os.path.dirname(where)
        if directory:
            label += f"\n[dim]{safe(directory)}[/dim]"
        setup = safe(r.setup or r.runtime or "-")
        table.add_row(
            str(r.id),
            r.created.replace("T", " ")[:16],
            label,
            safe((r.artifact_sha256 or "-")[:8]),
            safe(f"{r.device_name} {r.device_key[:6]}"),
            safe(r.runtime or "-") + (f"\n[dim]{setup}[/dim]" if r.setup else ""),
            human_ms(r.p50_ms) if r.status == "ok" else "[red]error[/red]",
            human_ms(r.p90_ms) if r.status == "ok" else "",
            str(r.n or ""),
            "[bold]baseline[/bold]" if r.baseline else "",
        )
    console().print(table)


def add_history_options(parser) -> None:
    """--history PATH / --no-history, shared by every command that produces results (they hand
    ``path=args.history, enabled=not args.no_history`` to edgekit.results.history.record)."""
    from edgekit.results.history import ENV_VAR

    g = parser.add_mutually_exclusive_group()
    g.add_argument(
        "--history",
        metavar="PATH",
        default=None,
        help=f"results history to append to (default: ${ENV_VAR} or .edgekit/history.sqlite in the project)",
    )
    g.add_argument("--no-history", action="store_true", help="do not record the results in the history")
