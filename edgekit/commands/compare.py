"""edgekit compare: the CI latency gate. Compares raw samples with a bootstrap CI and Mann-Whitney U.

Exits 1 when a candidate is slower than its baseline by more than --threshold with the chosen
confidence (the whole confidence interval of the latency ratio lies above 1 + threshold).
"""

from __future__ import annotations

import argparse
import os
import re

from edgekit.console import print_json
from edgekit.errors import CheckFailed, EdgekitError


def _fraction(text: str) -> float:
    text = text.strip()
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or percentage") from None


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two benchmark runs (or the latest runs with their baselines); non-zero on a regression",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="BASELINE and CANDIDATE are result JSON files (from 'edgekit bench -o') or run ids from\n"
        "'edgekit history'. Files holding several results are paired by target and device.\n"
        "Examples:\n  edgekit compare base.json new.json\n  edgekit compare 3 7\n"
        "  edgekit compare --baseline              # latest run of every target that has a baseline\n"
        "  edgekit compare --baseline new.json     # new.json against the stored baselines",
    )
    p.add_argument("refs", nargs="*", metavar="RESULT", help="BASELINE CANDIDATE, or with --baseline: CANDIDATE...")
    p.add_argument("--baseline", dest="use_baseline", action="store_true", help="compare with the baselines stored by 'edgekit history --set-baseline'")
    p.add_argument("--history", metavar="PATH", default=None, help="history file (default: $EDGEKIT_HISTORY or .edgekit/history.sqlite)")
    p.add_argument("--metric", default="p50", help="latency percentile(s) to test: p50, p90 or p50,p90 (default p50)")
    p.add_argument("--threshold", type=_fraction, default=None, help="regression threshold: 0.05 or 5%% (default 5%%)")
    p.add_argument("--confidence", type=float, default=None, help="confidence of the interval (default 0.95)")
    p.add_argument(
        "--no-run-noise", dest="run_noise", action="store_false",
        help="ignore the run-to-run noise measured from repeated baseline runs in the history",
    )
    p.add_argument("--json", action="store_true", help="print the comparisons as JSON")
    p.set_defaults(func=run)


def _load_ref(ref: str, history_path: str | None) -> tuple[list[dict], str]:
    from edgekit.results.schema import SchemaError, load_many

    if os.path.exists(ref):
        try:
            return load_many(ref), ref
        except OSError as exc:
            raise EdgekitError(f"cannot read {ref} ({exc.strerror})", "check the result file path") from None
        except (ValueError, SchemaError) as exc:
            raise EdgekitError(f"{ref}: {exc}", "pass a file written by 'edgekit bench -o'") from None
    m = re.fullmatch(r"#?(\d+)", ref)
    if m:
        from edgekit.results.history import History

        with History(history_path, create=False) as h:
            return [h.result(int(m.group(1)))], f"run {m.group(1)}"
    raise EdgekitError(f"{ref} is neither a result file nor a run id", "pass a JSON file from 'edgekit bench -o' or a run number from 'edgekit history'")


def _pairs(args) -> list[tuple[dict, dict, str, str]]:
    from edgekit.results.compare import device_key, pair_results, series_key
    from edgekit.results.history import History

    if not args.use_baseline:
        if len(args.refs) != 2:
            raise EdgekitError("compare needs BASELINE and CANDIDATE", "e.g. 'edgekit compare base.json new.json', or use --baseline")
        (base, bref), (cand, cref) = (_load_ref(r, args.history) for r in args.refs)
        return [(b, c, bref, cref) for b, c in pair_results(base, cand)]

    out = []
    with History(args.history, create=False) as h:
        if args.refs:
            candidates = []
            for arg in args.refs:
                results, ref = _load_ref(arg, args.history)
                candidates += [(r, ref) for r in results]
        else:
            candidates = []
            for b in h.baselines():
                latest = h.latest(b.series, b.device_key)
                if latest is not None and latest.id != b.id:
                    candidates.append((h.result(latest.id), f"run {latest.id}"))
            if not candidates:
                raise EdgekitError(
                    f"no run newer than a baseline in {h.path}",
                    "set one with 'edgekit history --set-baseline RUN', then benchmark again",
                )
        for cand, cref in candidates:
            bid = h.baseline_for(series_key(cand), device_key(cand))
            if bid is None:
                raise EdgekitError(
                    f"no baseline for {series_key(cand)} on this device ({device_key(cand)})",
                    "set one with 'edgekit history --set-baseline RUN' (see 'edgekit history')",
                )
            out.append((h.result(bid), cand, f"run {bid}", cref))
    return out


def _repeated_runs(history_path: str | None, baseline: dict, limit: int = 20) -> list[dict]:
    """Recent runs of the baseline's artifact on its device, from the history when there is one."""
    from edgekit.results.compare import device_key
    from edgekit.results.history import History, default_path

    sha = (baseline.get("artifact") or {}).get("sha256")
    if not sha or not os.path.exists(history_path or default_path()):
        return []
    with History(history_path, create=False) as h:
        rows = h.runs(sha256=sha, device=device_key(baseline), status="ok", limit=limit)
        return [h.result(r.id) for r in rows]


def run(args) -> int:
    from edgekit.results import compare as cmpmod

    metrics = [m.strip() for m in args.metric.split(",") if m.strip()]
    threshold = cmpmod.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    confidence = cmpmod.DEFAULT_CONFIDENCE if args.confidence is None else args.confidence
    comparisons = []
    seen = set()
    for base, cand, bref, cref in _pairs(args):
        repeated = _repeated_runs(args.history, base) if args.run_noise else []
        for metric in metrics:
            c = cmpmod.compare_results(
                base, cand, metric=metric, threshold=threshold, confidence=confidence,
                baseline_ref=bref, candidate_ref=cref, repeated=repeated,
            )
            # Aggregate-only results compare on the mean whatever the metric asked: once is enough.
            key = (c.label, bref, cref, c.metric)
            if key not in seen:
                seen.add(key)
                comparisons.append(c)
    if args.json:
        print_json([c.to_dict() for c in comparisons])
    else:
        print_comparisons(comparisons)
    bad = [c for c in comparisons if c.regressed]
    if bad:
        worst = max(bad, key=lambda c: c.ratio)
        raise CheckFailed(
            f"{len(bad)} of {len(comparisons)} comparison{'s' if len(comparisons) != 1 else ''} regressed beyond "
            f"{threshold:.0%} (worst: {worst.label} {worst.metric} {worst.change_pct:+.1f}%, "
            f"{worst.confidence:.0%} CI {(worst.ci_low - 1) * 100:+.1f}%..{(worst.ci_high - 1) * 100:+.1f}%)",
            "find the change that slowed it, or set a new baseline with 'edgekit history --set-baseline RUN' if it is intended",
        )
    return 0


def print_comparisons(comparisons) -> None:
    from rich.table import Table

    from edgekit.console import console, human_ms

    colors = {"regressed": "bold red", "possible regression": "yellow", "improved": "green", "unchanged": ""}
    title = "Latency: bootstrap CI of the ratio, one-sided Mann-Whitney U"
    if any(c.mw_p_value is None for c in comparisons):
        title += " (mean rows: normal CI from the runner's aggregates)"
    table = Table(title=title, title_justify="left")
    for col, just in (("artifact", "left"), ("metric", "left"), ("baseline", "right"), ("candidate", "right"),
                      ("change", "right"), ("CI", "right"), ("p (U)", "right"), ("verdict", "left")):
        table.add_column(col, justify=just)
    for c in comparisons:
        style = colors.get(c.verdict, "")
        verdict = f"[{style}]{c.verdict}[/{style}]" if style else c.verdict
        table.add_row(
            c.label,
            c.metric,
            human_ms(c.baseline),
            human_ms(c.candidate),
            f"{c.change_pct:+.1f}%",
            f"{(c.ci_low - 1) * 100:+.1f}%..{(c.ci_high - 1) * 100:+.1f}%",
            "-" if c.mw_p_value is None else f"{c.mw_p_value:.2g}",
            verdict,
        )
    out = console()
    out.print(table)
    if comparisons:
        c0 = comparisons[0]
        out.print(f"threshold {c0.threshold:.0%}, {c0.confidence:.0%} confidence: 'regressed' means slower by more than {c0.threshold:.0%} with the whole interval above 0%")
    seen = set()
    for c in comparisons:
        if (c.label, c.baseline_ref, c.candidate_ref) in seen:
            continue
        seen.add((c.label, c.baseline_ref, c.candidate_ref))
        noise = f"; run-to-run noise {c.run_noise:.1%} from {c.noise_runs} runs" if c.run_noise is not None else ""
        out.print(f"{c.label}: baseline {c.baseline_ref} (n={c.n_baseline}), candidate {c.candidate_ref} (n={c.n_candidate}){noise}")
        for note in c.notes:
            out.print(f"  [yellow]note:[/yellow] {note}")
