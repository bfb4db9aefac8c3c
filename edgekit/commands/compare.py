"""edgekit compare: the CI latency gate. Compares raw samples with a bootstrap CI and Mann-Whitney U.

A series is one artifact path (or build target) on one device with one runtime and its settings;
--baseline pairs each candidate with the baseline of its series, whose artifact may be another
build (the sha256 change is printed). Results of different paths, settings or devices are compared
only when asked (two files, or --pair-by name), with the differences printed above the verdict.
Exit 1 on "regressed", and in --baseline mode also on "inconclusive" (--on-inconclusive pass
relaxes that).
"""

from __future__ import annotations

import argparse
import os
import re
import textwrap

from edgekit.console import print_json
from edgekit.errors import CheckFailed, EdgekitError


def _fraction(text: str) -> float:
    text = text.strip()
    try:
        return float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or percentage") from None


def register(sub) -> None:
    from edgekit.results.compare import rule

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
    p.add_argument("--baseline", dest="use_baseline", action="store_true", help="compare with the baselines stored by 'edgekit history --set-baseline'")
    p.add_argument("--history", metavar="PATH", default=None, help="history file (default: $EDGEKIT_HISTORY or .edgekit/history.sqlite)")
    p.add_argument("--metric", default="p50", help="latency percentile(s) to test: p50, p90 or p50,p90 (default p50)")
    p.add_argument("--threshold", type=_fraction, default=None, help="regression threshold: 0.05 or 5%% (default 5%%)")
    p.add_argument("--confidence", type=float, default=None, help="confidence of the interval (default 0.95)")
    p.add_argument(
        "--no-run-noise", dest="run_noise", action="store_false",
        help="ignore the run-to-run noise measured from repeated baseline runs in the history",
    )
    p.add_argument(
        "--pair-by", choices=["series", "name"], default="series",
        help="series (default): same artifact path, device and settings; name: the same file name or "
        "target on the same device, whatever its directory or settings (differences are printed)",
    )
    p.add_argument(
        "--on-inconclusive", choices=["fail", "pass"], default=None,
        help="exit status for an inconclusive comparison (default: fail with --baseline, pass otherwise)",
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
    from edgekit.results.compare import pair_results
    from edgekit.results.history import History

    if not args.use_baseline:
        if len(args.refs) != 2:
            raise EdgekitError("compare needs BASELINE and CANDIDATE", "e.g. 'edgekit compare base.json new.json', or use --baseline")
        (base, bref), (cand, cref) = (_load_ref(r, args.history) for r in args.refs)
        return [(b, c, bref, cref) for b, c in pair_results(base, cand, args.pair_by)]

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
                latest = h.latest(b.series, b.device_key, b.setup_key)
                if latest is not None and latest.id != b.id:
                    candidates.append((h.result(latest.id), f"run {latest.id}"))
            candidates += _unpaired_latest(h, args.pair_by == "name")
            if not candidates:
                raise EdgekitError(
                    f"no run newer than a baseline in {h.path}",
                    "set one with 'edgekit history --set-baseline RUN', then benchmark again",
                )
        for cand, cref in candidates:
            bid = _baseline_id(h, cand, args.pair_by)
            out.append((h.result(bid), cand, f"run {bid}", cref))
    return out


def _unpaired_latest(h, pair: bool) -> list[tuple[dict, str]]:
    """Latest runs of series without a baseline whose name has one on the same device (the same file
    with other settings, or a same-named file elsewhere): compared with --pair-by name, else named
    in a warning, so a slow run in a neighbouring series is never passed over in silence."""
    from edgekit.console import warn
    from edgekit.results.series import display_name

    bases = h.baselines()
    keyed = {(b.series, b.device_key, b.setup_key) for b in bases}
    names = {(display_name(h.result(b.id)), b.device_key) for b in bases}
    out, seen = [], set()
    for r in h.runs(status="ok"):
        key = (r.series, r.device_key, r.setup_key)
        if key in keyed or key in seen:
            continue
        seen.add(key)
        doc = h.result(r.id)
        if (display_name(doc), r.device_key) not in names:
            continue
        if pair:
            out.append((doc, f"run {r.id}"))
        else:
            warn(f"run {r.id} ({r.artifact_path or r.series}, {r.setup}) has no baseline of its own and was not compared; "
                 "set one, or pass --pair-by name to compare it with the baseline of the same name")
    return out


def _baseline_id(h, cand: dict, pair_by: str) -> int:
    """The stored baseline of the candidate's series; with --pair-by name, of its name on its device."""
    from edgekit.results.series import device_key, display_name, identity, series_key, setup_key, setup_text

    bid = h.baseline_for(series_key(cand), device_key(cand), setup_key(cand))
    if bid is not None:
        return bid
    same_name = [b for b in h.baselines()
                 if b.device_key == device_key(cand) and display_name(h.result(b.id)) == display_name(cand)]
    if pair_by == "name" and len(same_name) == 1:
        return same_name[0].id
    if pair_by == "name" and same_name:
        raise EdgekitError(
            f"{len(same_name)} baselines are named {display_name(cand)} on this device (runs "
            f"{', '.join(str(b.id) for b in same_name)})", "compare with one of them by run id: 'edgekit compare RUN FILE'",
        )
    others = "; ".join(f"run {b.id}: {identity(h.result(b.id))}, {b.setup}" for b in same_name)
    raise EdgekitError(
        f"no baseline for {identity(cand)} with {setup_text(cand)} on this device ({device_key(cand)[:6]})"
        + (f"; baselines of the same name differ in path or settings ({others})" if others else ""),
        "set one with 'edgekit history --set-baseline RUN'"
        + (", or pass --pair-by name to compare with it anyway" if same_name else " (see 'edgekit history')"),
    )


def _repeated_runs(history_path: str | None, baseline: dict, limit: int = 20) -> list[dict]:
    """Recent runs of the baseline's artifact (sha256) with its settings on its device, from the
    history when there is one; compare_results keeps those recorded before the candidate."""
    from edgekit.results.compare import device_key, setup_key
    from edgekit.results.history import History, default_path

    sha = (baseline.get("artifact") or {}).get("sha256")
    if not sha or not os.path.exists(history_path or default_path()):
        return []
    with History(history_path, create=False) as h:
        rows = h.runs(sha256=sha, device=device_key(baseline), status="ok", setup=setup_key(baseline), limit=limit * 3)
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
    fail_inconclusive = (args.on_inconclusive or ("fail" if args.use_baseline else "pass")) == "fail"
    unsure = [c for c in comparisons if c.verdict == cmpmod.INCONCLUSIVE]
    if not bad and unsure and fail_inconclusive:
        worst = max(unsure, key=lambda c: c.ci_high)
        raise CheckFailed(
            f"{len(unsure)} of {len(comparisons)} comparison{'s' if len(comparisons) != 1 else ''} inconclusive at "
            f"{threshold:.0%} (e.g. {worst.label} {worst.metric} {worst.change_pct:+.1f}%, {worst.confidence:.0%} CI "
            f"{(worst.ci_low - 1) * 100:+.1f}%..{(worst.ci_high - 1) * 100:+.1f}%): the gate cannot see a {threshold:.0%} change",
            "more runs (--min-runs/--min-time), a quieter machine or a larger --threshold; --on-inconclusive pass to accept",
        )
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
        noise = (f"; run-to-run noise {c.run_noise:.1%} from {c.noise_runs} runs of the baseline"
                 if c.run_noise is not None else "")
        out.print(escape(f"{c.label} ({c.setup}): baseline {c.baseline_ref} {c.baseline_identity} (n={c.n_baseline}), "
                         f"candidate {c.candidate_ref}" + ("" if c.candidate_identity == c.baseline_identity else f" {c.candidate_identity}")
                         + f" (n={c.n_candidate}){noise}"))
        for d in c.differences:
            out.print(f"  [bold yellow]differs:[/bold yellow] {escape(d)}")
        for note in c.notes:
            out.print(f"  [yellow]note:[/yellow] {escape(note)}")
    colors = {"regressed": "bold red", "inconclusive": "yellow", "improved": "green", "unchanged": ""}
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
