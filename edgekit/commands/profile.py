"""edgekit profile: per-op times of an ExecuTorch .pte (ETDump + ETRecord through the Inspector)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("profile", help="per-op profile of a .pte (delegated or not, p50 per op)", description=__doc__)
    p.add_argument("model", metavar="MODEL.pte")
    p.add_argument("--etrecord", help="the ETRecord written at build (default: MODEL.pte.etrecord when present)")
    p.add_argument("--runs", type=int, default=20, help="profiled inferences (default 20)")
    p.add_argument("--threads", type=int, default=None, help="runtime threads")
    p.add_argument("--json", action="store_true", help="print the profile as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api
    from edgekit.console import console, print_json

    prof = api.profile(args.model, etrecord=args.etrecord, runs=args.runs, threads=args.threads)
    if args.json:
        print_json(prof)
        return 0
    from rich.table import Table

    table = Table(title=f"per-op profile of {args.model} ({prof['runs']} runs, tracer on)")
    for col in ("event", "op types", "where", "p50 ms", "p90 ms"):
        table.add_column(col, justify="right" if col.endswith("ms") else "left")
    for r in prof["ops"]:
        where = r["backend"] or "portable" if not r["delegated"] else (r["backend"] or "delegate")
        table.add_row(
            str(r["event"]),
            ", ".join(r["op_types"]) or "-",
            where,
            "-" if r["p50_ms"] is None else f"{r['p50_ms']:.4f}",
            "-" if r["p90_ms"] is None else f"{r['p90_ms']:.4f}",
        )
    console().print(table)
    if not prof["etrecord"]:
        console().print("no ETRecord: op types unknown; build with --option TARGET.etrecord=true", style="yellow")
    return 0
