"""The regression gate: decide from raw per-run samples whether a candidate is slower than a baseline.

Two means on a shared machine differ by several percent from one run to the next, so a bare
percentage would fail CI on noise. Instead the gate estimates the ratio candidate/baseline of a
latency percentile (p50 by default) with a *moving-block* bootstrap confidence interval, and calls
it a regression only when both hold: the estimated slowdown exceeds the threshold, and the whole
interval lies above 1 (the candidate is slower with the chosen confidence); and "unchanged" only
when the whole interval lies below 1 + threshold. Blocks (rather than single samples) are resampled
because samples are taken in time order and a burst of background load slows a run of
consecutive samples; resampling them one by one would pretend they are independent and make the
interval too narrow. A one-sided Mann-Whitney U test (normal approximation with tie correction) is
reported beside it as a second opinion that does not depend on one percentile.

Within-run resampling cannot see what changes *between* runs (CPU frequency, another job on the
machine, memory layout): on a busy 2-core machine the p50 of one unchanged model moved by 40%
between five runs. So when the history holds repeated runs of the baseline artifact on the same
device (at least MIN_NOISE_RUNS), the spread of their percentiles is the run-to-run noise, and the
interval is widened to at least what that noise alone would give (Student t quantile: the spread is
estimated from few runs). Only repeats of the baseline itself count (same sha256, device and
settings, recorded before the candidate): a candidate never feeds the noise it is judged against,
or a slow candidate would widen the interval until nothing is significant. A machine too noisy to
resolve the threshold yields "inconclusive", which fails a ``--baseline`` gate by default: a gate
that cannot see must not pass silently. The rule in words is :func:`rule`.

Phones measured by benchmark_model / executor_runner have no per-run samples; those results are
compared on their means with a normal interval from the runner's own standard deviation, under the
same noise floor and verdict rules (:func:`compare_aggregates`).

numpy only (no scipy): numpy is a core dependency, scipy is not. numpy is imported inside the
functions so that ``edgekit --help`` (which imports this module through the bench command's
history options) stays fast.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Sequence

from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # annotations only: numpy is imported where it is used
    import numpy as np

DEFAULT_THRESHOLD = 0.05  # like ExecuTorch's benchmark dashboard
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000
METRICS = {"p50": 50.0, "p90": 90.0}
MIN_SAMPLES = 5  # fewer and neither the bootstrap nor the U test says anything
MIN_NOISE_RUNS = 3  # repeated runs needed before their spread is trusted as run-to-run noise

# Verdicts. REGRESSED always fails the gate; INCONCLUSIVE fails it in --baseline mode unless relaxed.
REGRESSED = "regressed"
INCONCLUSIVE = "inconclusive"
UNCHANGED = "unchanged"
IMPROVED = "improved"
VERDICTS = (REGRESSED, INCONCLUSIVE, UNCHANGED, IMPROVED)


def rule(threshold: float = DEFAULT_THRESHOLD, confidence: float = DEFAULT_CONFIDENCE) -> str:
    """The verdict rule in words: the one statement --help, the compare footer and docs/report.md use."""
    t, c = f"{threshold:.0%}", f"{confidence:.0%}"
    return (
        f"regressed = the estimate is slower than +{t} and the whole {c} interval of the ratio is above 0%; "
        f"improved = faster than -{t} with the whole interval below 0%; "
        f"unchanged = the whole interval is below +{t}; "
        f"inconclusive = anything else: the interval reaches above +{t} but does not show a regression "
        f"(too noisy to resolve {t}). The interval is at least as wide as the run-to-run noise of repeated "
        f"baseline runs (same sha256, device and settings, recorded before the candidate)"
    )


@dataclass
class Comparison:
    """One baseline/candidate pair, with everything needed to explain the verdict."""

    metric: str
    baseline: float  # the metric on the baseline's samples, ms
    candidate: float
    ratio: float  # candidate / baseline
    ci_low: float
    ci_high: float
    confidence: float
    threshold: float
    mw_p_value: float | None  # one-sided: candidate slower than baseline; None without raw samples
    n_baseline: int
    n_candidate: int
    verdict: str
    run_noise: float | None = None  # SD of log(percentile) across repeated baseline runs
    noise_runs: int = 0
    label: str = ""
    baseline_ref: str = ""
    candidate_ref: str = ""
    baseline_identity: str = ""  # path and sha256 prefix of each side: never just a file name
    candidate_identity: str = ""
    setup: str = ""  # the candidate's runtime and settings, in words
    differences: list[str] = field(default_factory=list)  # what the two sides differ in, printed above the verdict
    notes: list[str] = field(default_factory=list)
    confirmation: dict | None = None  # edgekit.results.confirm: the alternated re-measurement, when made
    separate_runs: dict | None = None  # the verdict, ratio and interval of the separate runs it replaced

    @property
    def regressed(self) -> bool:
        return self.verdict == REGRESSED

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["regressed"] = self.regressed
        d["change_pct"] = self.change_pct
        return d


def _block_length(n: int) -> int:
    # n^(1/3) is the usual order for the moving-block bootstrap; short blocks for short runs.
    return max(1, int(round(n ** (1.0 / 3.0))))


def _bootstrap_stat(samples: np.ndarray, q: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` moving-block bootstrap replicates of the q-th percentile of ``samples``."""
    import numpy as np

    n = samples.size
    block = _block_length(n)
    nblocks = -(-n // block)
    offsets = np.arange(block)
    out = np.empty(resamples)
    # Chunk so a 100,000-sample run never materialises a resamples x n matrix at once.
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))
    for start in range(0, resamples, chunk):
        m = min(chunk, resamples - start)
        starts = rng.integers(0, n - block + 1, size=(m, nblocks))
        idx = (starts[:, :, None] + offsets).reshape(m, -1)[:, :n]
        out[start : start + m] = np.percentile(samples[idx], q, axis=1)
    return out


def ratio_ci(
    baseline: Sequence[float],
    candidate: Sequence[float],
    q: float = 50.0,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap interval of percentile(candidate)/percentile(baseline)."""
    import numpy as np

    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    point = float(np.percentile(b, q) / np.percentile(a, q))
    rng = np.random.default_rng(seed)
    ratios = _bootstrap_stat(b, q, resamples, rng) / _bootstrap_stat(a, q, resamples, rng)
    alpha = 1.0 - confidence
    lo, hi = np.percentile(ratios, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return point, float(lo), float(hi)


def _t_quantile(p: float, df: int) -> float:
    """Student t quantile by bisection on its CDF (regularized incomplete beta via a series),
    standard library only; exact enough (1e-9) for a confidence interval."""
    from statistics import NormalDist

    if df > 200:
        return NormalDist().inv_cdf(p)

    def cdf(t: float) -> float:
        # P(T <= t) = 1 - 0.5 * I_x(df/2, 1/2) with x = df / (df + t^2), for t >= 0
        x = df / (df + t * t)
        a, b = df / 2.0, 0.5
        # continued fraction (Lentz) for the regularized incomplete beta function
        lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        front = math.exp(math.log(x) * a + math.log1p(-x) * b + lbeta) / a
        f, c, d = 1.0, 1.0, 0.0
        for i in range(400):
            m = i // 2
            if i == 0:
                num = 1.0
            elif i % 2 == 0:
                num = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m))
            else:
                num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
            c = 1.0 + num / (c if abs(c) > 1e-300 else 1e-300)
            f *= c * d
            if abs(1.0 - c * d) < 1e-12:
                break
        ibeta = front * (f - 1.0)
        return 1.0 - 0.5 * ibeta

    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def run_noise(runs: Sequence[Sequence[float]], q: float = 50.0) -> float | None:
    """Run-to-run noise: the SD of log(percentile) over repeated runs of one artifact on one device.

    It already contains each run's own sampling error, so it is a floor for the interval, not an
    extra term added on top of the bootstrap. None with fewer than MIN_NOISE_RUNS runs.
    """
    import numpy as np

    runs = [r for r in runs if len(r) >= MIN_SAMPLES]
    if len(runs) < MIN_NOISE_RUNS:
        return None
    logs = np.log([np.percentile(np.asarray(r, dtype=float), q) for r in runs])
    return float(np.std(logs, ddof=1))


def mann_whitney_greater(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """U statistic of the candidate and the one-sided p-value of "candidate tends to be slower".

    Normal approximation with tie correction and continuity correction, as scipy's
    ``mannwhitneyu(candidate, baseline, alternative="greater", method="asymptotic")``.
    """
    import numpy as np

    a = np.asarray(baseline, dtype=float)
    b = np.asarray(candidate, dtype=float)
    n1, n2 = b.size, a.size
    both = np.concatenate([b, a])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size)
    sorted_vals = both[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, counts)
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = float((counts**3 - counts).sum()) / (n * (n - 1)) if n > 1 else 0.0
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0:
        return u, 0.5
    z = (u - mu - 0.5) / sigma
    p = 0.5 * math.erfc(z / math.sqrt(2.0))
    return u, p


def compare_samples(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    metric: str = "p50",
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    noise: float | None = None,
    noise_runs: int = 0,
) -> Comparison:
    """The verdict for two raw sample sets (milliseconds); ``noise`` from :func:`run_noise`."""
    import numpy as np

    if metric not in METRICS:
        raise EdgekitError(f"unknown metric {metric!r}", f"choose one of: {', '.join(METRICS)}")
    if not 0 <= threshold < 1:
        raise EdgekitError(f"threshold {threshold} is not a fraction", "use e.g. --threshold 0.05 for 5%")
    if not 0.5 <= confidence < 1:
        raise EdgekitError(f"confidence {confidence} is outside 0.5..1", "use e.g. --confidence 0.95")
    for name, s in (("baseline", baseline), ("candidate", candidate)):
        if len(s) < MIN_SAMPLES:
            raise EdgekitError(
                f"the {name} has {len(s)} samples, too few to compare",
                f"benchmark with at least {MIN_SAMPLES} runs (e.g. --min-runs 50)",
            )
    q = METRICS[metric]
    # Cost grows with resamples x samples; very long runs get fewer resamples (never under 300),
    # which their already narrow intervals can afford.
    resamples = min(resamples, max(300, 20_000_000 // max(len(baseline), len(candidate))))
    point, lo, hi = ratio_ci(baseline, candidate, q, confidence, resamples, seed)
    lo, hi = _widen(point, lo, hi, confidence, noise, noise_runs)
    _, p = mann_whitney_greater(baseline, candidate)
    verdict = _verdict(point, lo, hi, threshold)
    return Comparison(
        metric=metric,
        baseline=float(np.percentile(baseline, q)),
        candidate=float(np.percentile(candidate, q)),
        ratio=point,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        threshold=threshold,
        mw_p_value=p,
        n_baseline=len(baseline),
        n_candidate=len(candidate),
        verdict=verdict,
        run_noise=noise,
        noise_runs=noise_runs if noise else 0,
    )


def _verdict(point: float, lo: float, hi: float, threshold: float) -> str:
    """See :func:`rule` (the same rule in words)."""
    if point > 1.0 + threshold and lo > 1.0:
        return REGRESSED
    if point < 1.0 - threshold and hi < 1.0:
        return IMPROVED
    if hi < 1.0 + threshold:
        return UNCHANGED  # whatever the truth, it is not a slowdown beyond the threshold
    return INCONCLUSIVE  # the interval reaches past the threshold without showing a regression


def _widen(point: float, lo: float, hi: float, confidence: float, noise: float | None, noise_runs: int) -> tuple[float, float]:
    """Widen [lo, hi] to at least what the run-to-run noise alone gives for two independent runs."""
    if not noise:
        return lo, hi
    # Two independent runs each off by `noise` (log SD): log-ratio SD is sqrt(2) * noise.
    half = _t_quantile(0.5 + confidence / 2, max(1, noise_runs - 1)) * math.sqrt(2.0) * noise
    return min(lo, point * math.exp(-half)), max(hi, point * math.exp(half))


def mean_noise(means: Sequence[float]) -> float | None:
    """Run-to-run noise from the (positive) means of repeated runs: SD of log(mean); None with too few."""
    import numpy as np

    if len(means) < MIN_NOISE_RUNS:
        return None
    return float(np.std(np.log(means), ddof=1))


def compare_aggregates(
    baseline: dict,
    candidate: dict,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
    noise: float | None = None,
    noise_runs: int = 0,
) -> Comparison:
    """The verdict for two ``latency_ms`` summaries when a runner printed no per-run samples.

    Phones are measured by ``benchmark_model`` / ``executor_runner``, which print a count, mean and
    (benchmark_model) standard deviation, nothing per run. The ratio of means then gets a normal
    interval on the log scale from each run's standard error (std / sqrt(n): it treats the runs of
    one measurement as independent, so it is too narrow when the phone drifts during a run), and
    that interval is widened to the run-to-run noise of repeated baseline runs when the history has
    them, which is what protects against that. With neither a spread nor repeated runs there is
    nothing to test, and the gate says so instead of comparing two bare means.
    """
    from statistics import NormalDist

    mb, mc = baseline.get("mean"), candidate.get("mean")
    if not mb or not mc:
        raise EdgekitError("a result has no mean latency to compare", "compare two successful benchmark runs")
    for name, lat in (("baseline", baseline), ("candidate", candidate)):
        if (lat.get("n") or 0) < MIN_SAMPLES:
            raise EdgekitError(
                f"the {name} has {lat.get('n') or 0} runs, too few to compare",
                f"benchmark with at least {MIN_SAMPLES} runs (e.g. --min-runs 50)",
            )
    point = mc / mb
    both = (baseline, candidate)
    if all(lat.get("std") is not None for lat in both):
        se = math.sqrt(sum((lat["std"] / lat["mean"]) ** 2 / lat["n"] for lat in both))
        half = NormalDist().inv_cdf(0.5 + confidence / 2) * se
        lo, hi = point * math.exp(-half), point * math.exp(half)
    elif noise:
        lo = hi = point
    else:
        raise EdgekitError(
            "the runner reported no spread (executor_runner prints only an average), so one run of each cannot be tested",
            f"record at least {MIN_NOISE_RUNS} runs of the baseline artifact on this device "
            "(edgekit bench, repeated) so the gate can measure run-to-run noise",
        )
    lo, hi = _widen(point, lo, hi, confidence, noise, noise_runs)
    return Comparison(
        metric="mean",
        baseline=float(mb),
        candidate=float(mc),
        ratio=point,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        threshold=threshold,
        mw_p_value=None,
        n_baseline=int(baseline["n"]),
        n_candidate=int(candidate["n"]),
        verdict=_verdict(point, lo, hi, threshold),
        run_noise=noise,
        noise_runs=noise_runs if noise else 0,
    )


# --- results ------------------------------------------------------------------------------------

from edgekit.results.series import (  # noqa: E402  (re-exported: the history keys on them)
    device_key,
    differences,
    display_name,
    full_key,
    identity,
    setup_key,
    setup_text,
)


def baseline_repeats(baseline: dict, candidate: dict, runs: Sequence[dict]) -> list[dict]:
    """The runs that may measure the run-to-run noise: repeats of the baseline itself.

    Same sha256, device and settings as the baseline, successful, and recorded before the
    candidate (the candidate's own history row, and anything measured after it, never count).
    """
    want = (baseline.get("artifact") or {}).get("sha256"), device_key(baseline), setup_key(baseline)
    cand_time = candidate.get("created")
    out = []
    for r in runs:
        if r.get("status") != "ok" or ((r.get("artifact") or {}).get("sha256"), device_key(r), setup_key(r)) != want:
            continue
        if cand_time and r.get("created") and str(r["created"]) >= str(cand_time):
            continue
        if r is candidate or (r.get("samples_ms") and r.get("samples_ms") == candidate.get("samples_ms")):
            continue
        out.append(r)
    return out


def compare_results(
    baseline: dict,
    candidate: dict,
    *,
    metric: str = "p50",
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    baseline_ref: str = "",
    candidate_ref: str = "",
    repeated: Sequence[dict] = (),
    seed: int = 0,
) -> Comparison:
    """Compare two result documents on their raw ``samples_ms``.

    ``repeated``: other runs from the history; :func:`baseline_repeats` keeps those that are
    repeats of the baseline, and with MIN_NOISE_RUNS or more their spread sets the noise floor.
    """
    for name, r in (("baseline", baseline), ("candidate", candidate)):
        if r.get("status") != "ok":
            err = (r.get("error") or {}).get("message", "no measurement")
            raise EdgekitError(
                f"the {name} {display_name(r)} is an error result ({err})", "compare two successful benchmark runs"
            )
    same_runs = baseline_repeats(baseline, candidate, repeated)
    aggregate = [
        name
        for name, r in (("baseline", baseline), ("candidate", candidate))
        if not r.get("samples_ms") and (r.get("latency_ms") or {}).get("aggregate_only")
    ]
    if aggregate:
        # benchmark_model / executor_runner on a phone: no per-run samples, so the mean is the
        # only statistic with a known spread; run-to-run noise comes from the runs' means.
        same = [m for m in ((r.get("latency_ms") or {}).get("mean") for r in same_runs) if m and m > 0]
        noise = mean_noise(same)
        cmp = compare_aggregates(
            baseline.get("latency_ms") or {},
            candidate.get("latency_ms") or {},
            threshold=threshold,
            confidence=confidence,
            noise=noise,
            noise_runs=len(same),
        )
    else:
        same = [r["samples_ms"] for r in same_runs if len(r.get("samples_ms") or ()) >= MIN_SAMPLES]
        noise = run_noise(same, METRICS.get(metric, 50.0)) if metric in METRICS else None
        cmp = compare_samples(
            baseline["samples_ms"],
            candidate["samples_ms"],
            metric=metric,
            threshold=threshold,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
            noise=noise,
            noise_runs=len(same),
        )
    cmp.label = display_name(candidate)
    cmp.baseline_ref, cmp.candidate_ref = baseline_ref, candidate_ref
    cmp.baseline_identity, cmp.candidate_identity = identity(baseline), identity(candidate)
    cmp.setup = setup_text(candidate)
    cmp.differences = differences(baseline, candidate)
    cmp.notes = []
    if aggregate:
        cmp.notes.append(
            f"the {' and '.join(aggregate)} reported aggregates only (no per-run samples): compared on the "
            f"mean{'' if metric == 'mean' else f' instead of the {metric}'} with a normal interval"
        )
    if noise is None:
        cmp.notes.append(
            f"no run-to-run noise: {len(same)} earlier run{'s' if len(same) != 1 else ''} of the baseline artifact "
            f"with these settings on this device (needs {MIN_NOISE_RUNS}), so the interval covers only the runs' "
            f"own spread; bench the baseline {MIN_NOISE_RUNS}+ times before setting it"
        )
    elif math.sqrt(2.0) * noise > threshold / 2:
        cmp.notes.append(
            f"run-to-run noise on this device is {noise:.1%} ({len(same)} runs of the baseline): "
            f"too much to resolve a {threshold:.0%} change; quiet the machine, or raise --threshold"
        )
    if cmp.verdict == REGRESSED:
        cmp.notes.append(
            "measured in separate runs: a machine that changed speed between them looks the same; "
            "--confirm re-measures both artifacts alternately (edgekit.results.confirm)"
        )
    if cmp.verdict == INCONCLUSIVE:
        cmp.notes.append(
            f"inconclusive: the {confidence:.0%} interval {(cmp.ci_low - 1) * 100:+.1f}%..{(cmp.ci_high - 1) * 100:+.1f}% "
            f"reaches past +{threshold:.0%} without showing a regression; more runs (--min-runs, --min-time), "
            "a quieter machine, or a larger --threshold"
        )
    return cmp


PAIR_BY = ("series", "name")


def _pair_key(result: dict, pair_by: str) -> tuple:
    if pair_by == "name":
        return display_name(result), device_key(result)
    return full_key(result)


def pair_results(baselines: list[dict], candidates: list[dict], pair_by: str = "series") -> list[tuple[dict, dict]]:
    """Match candidates to baselines: one series (path, device, settings) by default, or the same
    file name / target on the same device with ``pair_by="name"``. One result each is paired as
    given (the user named both files); every pair's differences are printed above its verdict."""
    if len(baselines) == 1 and len(candidates) == 1:
        return [(baselines[0], candidates[0])]
    index: dict[tuple, dict] = {}
    for r in baselines:
        key = _pair_key(r, pair_by)
        if key in index and pair_by == "name":
            raise EdgekitError(
                f"two baseline results are both {display_name(r)} on one device ({identity(index[key])} and {identity(r)})",
                "pair by series (the default), or pass the two results to compare as single files",
            )
        index[key] = r
    pairs = [(index[_pair_key(c, pair_by)], c) for c in candidates if _pair_key(c, pair_by) in index]
    if not pairs:
        hint = (
            "results pair when they are of the same artifact path, device and settings; "
            "--pair-by name pairs the same file name on the same device"
            if pair_by == "series"
            else "compare results of the same targets measured on the same device"
        )
        raise EdgekitError("no candidate result matches a baseline result", hint)
    return pairs
