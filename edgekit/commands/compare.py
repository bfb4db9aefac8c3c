"""edgekit compare: the CI latency gate. Compares raw samples with a bootstrap CI and Mann-Whitney U.

A series is one artifact path (or build target) on one device with one runtime and its settings;
--baseline pairs each candidate with the baseline of its series, whose artifact may be another
build (the sha256 change is printed). Results of different paths, settings or devices are compared
only when asked (two files, or --pair-by name), with the differences printed above the verdict.
Exit 1 on "regressed", and in --baseline mode also on "inconclusive" (--on-inconclusive pass
relaxes that). Separate runs cannot tell a slower artifact from a machine that was slower at the
time; --confirm re-measures both alternately and decides on that (edgekit.results.confirm).
"""

from __future__ import annotations

import argparse
import textwrap

from edgekit.console import print_json, progress_line


def _fraction(text: str) -> float:
    text = text.strip()
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or percentage") from None


def register(sub) -> None:
    from edgekit.results.compare import rule
    from edgekit.results.confirm import DEFAULT_ROUNDS

    p = sub.add_parser(
        "compare",
        help="compare two benchmark runs (or the latest runs with their baselines); non-zero on a regression",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="BASELINE and CANDIDATE are result JSON files (from 'edgekit bench -o') or run ids from\n"
        "'edgekit history'. Files holding several results are paired by series (artifact path,\ndevice, runtime settings), or with --pair-by name by file name and device.\n"
        "Examples:\n  edgekit compare base.json new.json\n  edgekit compare 3 7\n"
        "  edgekit compare --baseline              # latest run of every series that has a baseline\n"
        "  edgekit compare --baseline new.json     # new.json against the stored baselines\n\n"
        + textwrap.fill("Verdicts (defaults: --threshold 5%, --confidence 0.95): " + rule() + ".", 100),
    )
    p.add_argument("refs", nargs="*", metavar="RESULT", help="BASELINE CANDIDATE, or with --baseline: CANDIDATE...")
    p.add_argument(
        "--baseline",
        dest="use_baseline",
        action="store_true",
        help="compare with the baselines stored by 'edgekit history --set-baseline'",
    )
    p.add_argument(
        "--history", metavar="PATH", default=None, help="history file (default: $EDGEKIT_HISTORY or .edgekit/history.sqlite)"
    )
    p.add_argument("--metric", default="p50", help="latency percentile(s) to test: p50, p90 or p50,p90 (default p50)")
    p.add_argument("--threshold", type=_fraction, default=None, help="regression threshold: 0.05 or 5%% (default 5%%)")
    p.add_argument("--confidence", type=float, default=None, help="confidence of the interval (default 0.95)")
    p.add_argument(
        "--no-run-noise",
        dest="run_noise",
        action="store_false",
        help="ignore the run-to-run noise measured from repeated baseline runs in the history",
    )
    p.add_argument(
        "--pair-by",
        choices=["series", "name"],
        default="series",
        help="series (default): same artifact path, device and settings; name: the same file name or "
        "target on the same device, whatever its directory or settings (differences are printed)",
    )
    p.add_argument(
        "--on-inconclusive",
        choices=["fail", "pass"],
        default=None,
        help="exit status for an inconclusive comparison (default: fail with --baseline, pass otherwise)",
    )
    p.add_argument(
        "--confirm",
        type=int,
        nargs="?",
        const=DEFAULT_ROUNDS,
        default=0,
        metavar="ROUNDS",
        help=f"re-measure every pair that is not unchanged: ROUNDS (default {DEFAULT_ROUNDS}) rounds of baseline and "
        "candidate back to back, alternating, on the device they were measured on; their verdict replaces the "
        "separate runs' (a machine that changed speed between two runs cannot fake a regression then)",
    )
    p.add_argument(
        "--baseline-artifact",
        metavar="PATH",
        default=None,
        help="with --confirm: the baseline's file when its recorded path holds another build now (sha256 checked)",
    )
    p.add_argument(
        "--candidate-artifact", metavar="PATH", default=None, help="with --confirm: the candidate's file (sha256 checked)"
    )
    p.add_argument("--json", action="store_true", help="print the comparisons as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api

    comparisons = api.compare(
        args.refs,
        use_baseline=args.use_baseline,
        history=args.history,
        metric=args.metric,
        threshold=args.threshold,
        confidence=args.confidence,
        run_noise=args.run_noise,
        pair_by=args.pair_by,
        confirm=args.confirm,
        baseline_artifact=args.baseline_artifact,
        candidate_artifact=args.candidate_artifact,
        progress=progress_line,
    )
    if args.json:
        print_json([c.to_dict() for c in comparisons])
    else:
        print_comparisons(comparisons)
    api.gate(
        comparisons, threshold=args.threshold, on_inconclusive=args.on_inconclusive or ("fail" if args.use_baseline else "pass")
    )
    return 0


def print_comparisons(comparisons) -> None:
    """What was paired (and how the two differ) above the verdicts, the rule below them."""
    from rich.table import Table

    from edgekit.console import safe as escape
    from edgekit.console import console, human_ms
    from edgekit.results.compare import rule

    out = console()
    seen = set()
    for c in comparisons:
        if (c.label, c.baseline_ref, c.candidate_ref) in seen:
            continue
        seen.add((c.label, c.baseline_ref, c.candidate_ref))
        noise = (
            f"; run-to-run noise {c.run_noise:.1%} from {c.noise_runs} runs of the baseline" if c.run_noise is not None else ""
        )
        out.print(
            escape(
                f"{c.label} ({c.setup}): baseline {c.baseline_ref} {c.baseline_identity} (n={c.n_baseline}), "
                f"candidate {c.candidate_ref}"
                + ("" if c.candidate_identity == c.baseline_identity else f" {c.candidate_identity}")
                + f" (n={c.n_candidate}){noise}"
            )
        )
        for d in c.differences:
            out.print(f"  [bold yellow]differs:[/bold yellow] {escape(d)}")
        for note in c.notes:
            out.print(f"  [yellow]note:[/yellow] {escape(note)}")
    colors = {"regressed": "bold red", "inconclusive": "yellow", "improved": "green", "unchanged": ""}
    title = "Latency: bootstrap CI of the ratio, one-sided Mann-Whitney U"
    if any(c.mw_p_value is None for c in comparisons):
        title += " (mean rows: normal CI from the runner's aggregates)"
    table = Table(title=title, title_justify="left")
    for col, just in (
        ("artifact", "left"),
        ("metric", "left"),
        ("baseline", "right"),
        ("candidate", "right"),
        ("change", "right"),
        ("CI", "right"),
        ("p (U)", "right"),
        ("verdict", "left"),
    ):
        table.add_column(col, justify=just)
    for c in comparisons:
        style = colors.get(c.verdict, "")
        verdict = c.verdict + (" (confirmed)" if c.confirmation else "")
        verdict = f"[{style}]{verdict}[/{style}]" if style else verdict
        table.add_row(
            escape(c.label),
            c.metric,
            human_ms(c.baseline),
            human_ms(c.candidate),
            f"{c.change_pct:+.1f}%",
            f"{(c.ci_low - 1) * 100:+.1f}%..{(c.ci_high - 1) * 100:+.1f}%",
            "-" if c.mw_p_value is None else f"{c.mw_p_value:.2g}",
            verdict,
        )
    out.print(table)
    if comparisons:
        out.print(escape(rule(comparisons[0].threshold, comparisons[0].confidence)) + ".")
