"""Confirm a verdict from separate runs by measuring baseline and candidate again, alternately.

Why: a gate that compares two runs made at different times cannot tell a slower artifact from a
slower machine. Measured on this project's 2-core CI machine (a cloud VM): the p50 of one unchanged
model switches between two levels about 22% apart (0.46 and 0.56 ms for mobilenet_v1_0.25_128)
for stretches of a fraction of a second to several seconds, with the process on the CPU the whole
time (thread CPU time / wall time 0.999, no steal). Three repeated baseline runs that all fell on
the fast level gave a run-to-run noise of 0.3%, and a fourth, unchanged run on the slow level was
then "regressed +22%". A reference workload timed before and after each run did not explain it
(its correlation with the model's speed was 0.4), so no covariate can fix it after the fact; only
measuring both sides under the same conditions can.

So, when asked, the gate re-measures: ``rounds`` rounds, each one fresh worker of the baseline
artifact and one of the candidate, back to back, the order alternating (ABBA) so a drift within a
round favours neither side. Each round gives one log ratio of the metric, and they are analysed as
the two sequences of a 2x2 crossover trial: the effect is the mean of the AB rounds' mean and the BA
rounds' mean, so a period effect (the second measurement of a round systematically slower: heat, a
machine whose speed level changes at about the length of one measurement) cancels instead of
widening the interval, with a Student t interval from the within-sequence spread (df = rounds - 2),
never narrower than the bootstrap interval of all rounds' samples pooled. The verdict is the usual
rule (:func:`edgekit.results.compare.rule`). Simulated with the measured 22% level change flipping
every 1 to 5 measurements (20 seeds each, 1% jitter): a true +20% was "regressed" in 100/100 cases
with 6 rounds, while a plain paired t-test over rounds found 0/20 when the level flipped at every
measurement; an unchanged artifact was never "regressed" by either.

It needs both artifact files, unchanged (sha256 checked), and the device the results were measured
on. In CI the baseline artifact is usually an older build: keep it and pass it with
``--baseline-artifact``. Confirmation rounds are not recorded in the history.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from edgekit.errors import EdgekitError

DEFAULT_ROUNDS = 6
MIN_ROUNDS = 4  # two of each order: fewer and the spread within an order is not an estimate of anything

# result["settings"] keys that api.bench takes back: the run is repeated exactly as recorded.
_RERUN_SETTINGS = (
    "threads",
    "xnnpack",
    "provider",
    "warmup",
    "min_runs",
    "min_time_s",
    "max_runs",
    "max_time_s",
    "inputs",
    "input_shapes",
    "output_check",
    "device_selector",
    "runtime_options",
)


@dataclass
class Confirmation:
    """The verdict of ``rounds`` alternated re-measurements of one pair, on one metric."""

    metric: str
    rounds: int
    ratios: list[float]  # candidate / baseline, one per round
    ratio: float  # geometric mean of ``ratios``
    ci_low: float
    ci_high: float
    verdict: str
    baseline: float = 0.0  # geometric mean over rounds of the baseline's metric, ms
    candidate: float = 0.0
    n_baseline: int = 0  # samples over all rounds
    n_candidate: int = 0
    mw_p_value: float | None = None  # one-sided U test on the pooled samples
    order: list[str] = field(default_factory=list)  # "AB" or "BA" per round (A = baseline)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def artifact_file(result: dict, override: str | None = None, side: str = "baseline") -> str:
    """The file to re-measure for ``result``: ``override`` or the recorded path, with the recorded sha256.

    A file at the recorded path with another sha256 is a newer build (the usual case for a baseline
    in CI), and measuring it would confirm nothing."""
    art = result.get("artifact") or {}
    path = override or art.get("path")
    want = art.get("sha256")
    if not path or not os.path.isfile(path):
        raise EdgekitError(
            f"the {side} artifact {path or art.get('name') or '?'} is not on this machine",
            f"keep the {side} artifact and pass it with --{side}-artifact PATH",
        )
    from edgekit.build.artifacts import sha256_file

    got = sha256_file(path)
    if want and got != want:
        raise EdgekitError(
            f"{path} has sha256 {got[:12]}..., the {side} result measured {want[:12]}... (the file was rebuilt since)",
            f"pass the {side} artifact that was measured with --{side}-artifact PATH",
        )
    return path


def rerun_options(result: dict) -> dict:
    """api.bench keyword arguments that repeat ``result``'s measurement: its settings and device."""
    settings = result.get("settings") or {}
    opts = {k: settings[k] for k in _RERUN_SETTINGS if k in settings and settings[k] is not None}
    device = (result.get("device") or {}).get("name")
    if device and device != "host":
        opts["device"] = device
    return opts


def _metric_value(result: dict, metric: str) -> float:
    import numpy as np

    from edgekit.results.compare import METRICS

    samples = result.get("samples_ms") or []
    if metric in METRICS and samples:
        return float(np.percentile(np.asarray(samples, dtype=float), METRICS[metric]))
    mean = (result.get("latency_ms") or {}).get("mean")
    if not mean:
        raise EdgekitError("a confirmation run reported no latency", "check the artifact benches on its own with 'edgekit bench'")
    return float(mean)


def paired_verdict(
    baselines: Sequence[dict],
    candidates: Sequence[dict],
    *,
    metric: str = "p50",
    threshold: float,
    confidence: float,
    order: Sequence[str] = (),
) -> Confirmation:
    """The verdict of alternated rounds: round i is (baselines[i], candidates[i]), measured back to back."""
    import numpy as np

    from edgekit.results.compare import METRICS, _t_quantile, _verdict, mann_whitney_greater, ratio_ci

    n = len(baselines)
    if n != len(candidates) or n < MIN_ROUNDS:
        raise EdgekitError(f"{n} confirmation rounds are too few", f"use --confirm {MIN_ROUNDS} or more")
    a_vals = [_metric_value(b, metric) for b in baselines]
    b_vals = [_metric_value(c, metric) for c in candidates]
    ratios = [y / x for x, y in zip(a_vals, b_vals)]
    logs = np.log(ratios)
    order = list(order) or ["AB" if i % 2 == 0 else "BA" for i in range(n)]
    seqs = [logs[[i for i, o in enumerate(order) if o == which]] for which in ("AB", "BA")]
    if min(len(q) for q in seqs) < 2:
        raise EdgekitError(
            f"{n} confirmation rounds do not hold two of each order (AB, BA)", f"use --confirm {MIN_ROUNDS} or more"
        )
    effect = (seqs[0].mean() + seqs[1].mean()) / 2  # a period effect cancels between the two orders
    se = math.sqrt(sum(q.var(ddof=1) / len(q) for q in seqs) / 4)
    half = _t_quantile(0.5 + confidence / 2, n - 2) * se
    point = float(math.exp(effect))
    lo, hi = point * math.exp(-half), point * math.exp(half)
    pooled_b = [x for r in baselines for x in (r.get("samples_ms") or [])]
    pooled_c = [x for r in candidates for x in (r.get("samples_ms") or [])]
    p_value = None
    if metric in METRICS and len(pooled_b) >= 5 and len(pooled_c) >= 5:
        # The spread over few rounds can come out small by chance: never claim more than the samples show.
        _, blo, bhi = ratio_ci(pooled_b, pooled_c, METRICS[metric], confidence, resamples=1000)
        lo, hi = min(lo, blo), max(hi, bhi)
        _, p_value = mann_whitney_greater(pooled_b, pooled_c)
    return Confirmation(
        metric=metric,
        rounds=n,
        ratios=[float(r) for r in ratios],
        ratio=point,
        ci_low=float(lo),
        ci_high=float(hi),
        verdict=_verdict(point, lo, hi, threshold),
        baseline=float(np.exp(np.log(a_vals).mean())),
        candidate=float(np.exp(np.log(b_vals).mean())),
        n_baseline=len(pooled_b) or n,
        n_candidate=len(pooled_c) or n,
        mw_p_value=p_value,
        order=list(order),
    )


def measure_rounds(
    baseline: dict,
    candidate: dict,
    *,
    rounds: int = DEFAULT_ROUNDS,
    baseline_artifact: str | None = None,
    candidate_artifact: str | None = None,
    bench: Callable[..., dict] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict], list[dict], list[str], float]:
    """Measure both artifacts ``rounds`` times, alternately; returns (baselines, candidates, order, seconds).

    ``bench`` is api.bench (a fresh worker per measurement); tests pass another measuring function."""
    if rounds < MIN_ROUNDS:
        raise EdgekitError(
            f"--confirm {rounds} is too few rounds", f"use --confirm {MIN_ROUNDS} or more (default {DEFAULT_ROUNDS})"
        )
    if bench is None:
        from edgekit.api import bench
    a_path = artifact_file(baseline, baseline_artifact, "baseline")
    b_path = artifact_file(candidate, candidate_artifact, "candidate")
    a_opts, b_opts = rerun_options(baseline), rerun_options(candidate)
    out_a: list[dict] = []
    out_b: list[dict] = []
    order: list[str] = []
    start = time.monotonic()
    for i in range(rounds):
        pair = (("A", a_path, a_opts, out_a), ("B", b_path, b_opts, out_b))
        if i % 2:
            pair = pair[::-1]  # ABBA: a drift within a round favours neither side
        for _, path, opts, dest in pair:
            dest.append(bench(path, **opts))
        order.append("".join(p[0] for p in pair))
        if progress:
            progress(f"confirmation round {i + 1}/{rounds} ({order[-1]}): ratio {_ratio_text(out_a[-1], out_b[-1])}")
    return out_a, out_b, order, time.monotonic() - start


def _ratio_text(a: dict, b: dict) -> str:
    try:
        return f"{_metric_value(b, 'p50') / _metric_value(a, 'p50'):.3f}"
    except EdgekitError:
        return "?"


def apply(comparison: Any, confirmation: Confirmation) -> None:
    """Replace a separate-runs verdict with the confirmed one, keeping what the separate runs said."""
    c = comparison
    fields = ("verdict", "ratio", "ci_low", "ci_high", "baseline", "candidate", "n_baseline", "n_candidate", "mw_p_value")
    before = {k: getattr(c, k) for k in fields}
    c.separate_runs = before
    c.confirmation = confirmation.to_dict()
    for k in fields:
        setattr(c, k, getattr(confirmation, k))
    pct = f"{(confirmation.ratio - 1) * 100:+.1f}%"
    ci = f"{(confirmation.ci_low - 1) * 100:+.1f}%..{(confirmation.ci_high - 1) * 100:+.1f}%"
    c.notes.append(
        f"confirmed by {confirmation.rounds} alternated rounds ({' '.join(confirmation.order) or 'AB/BA'}, "
        f"{confirmation.seconds:.0f} s): {confirmation.verdict} {pct} ({c.confidence:.0%} CI {ci}); "
        f"the separate runs said {before['verdict']} {(before['ratio'] - 1) * 100:+.1f}%"
    )
