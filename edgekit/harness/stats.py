"""Latency statistics, in pure Python so the on-device runner needs nothing but the standard library.

Percentiles use linear interpolation between closest ranks (numpy's default ``linear`` method), so
figures match what users get from ``numpy.percentile`` on the raw samples stored in every result.
"""

from __future__ import annotations

import math
from typing import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of samples, numpy 'linear' method."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    data = sorted(samples)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return data[lo] + (data[hi] - data[lo]) * frac


def trimmed_mean(samples: Sequence[float], keep: float = 0.8) -> float:
    """Mean of the middle ``keep`` fraction: drops (1-keep)/2 of the samples at each end.

    Like scipy.stats.trim_mean(samples, (1-keep)/2): the number cut from each end is rounded down,
    so small sample sets are never trimmed to nothing.
    """
    if not samples:
        raise ValueError("trimmed mean of no samples")
    data = sorted(samples)
    cut = int((1.0 - keep) / 2.0 * len(data) + 1e-9)
    kept = data[cut : len(data) - cut] or data
    return math.fsum(kept) / len(kept)


def mean(samples: Sequence[float]) -> float:
    return math.fsum(samples) / len(samples)


def stdev(samples: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); 0 for a single sample."""
    n = len(samples)
    if n < 2:
        return 0.0
    m = mean(samples)
    return math.sqrt(math.fsum((x - m) ** 2 for x in samples) / (n - 1))


def summarize(samples_ms: Sequence[float], wall_s: float | None = None) -> dict:
    """The latency block of a result: every figure the report and the regression gate read.

    Throughput is what back-to-back inferences deliver: the timed runs over the wall time they
    took (``wall_s``), or 1000 / mean when no wall time applies. Never 1 / p50: on a skewed
    distribution (a .ptl with p50 248 us and mean 18.5 ms) that overstates it 75-fold.
    """
    if not samples_ms:
        raise ValueError("no samples to summarize")
    m = mean(samples_ms)
    p50 = percentile(samples_ms, 50)
    return {
        "n": len(samples_ms),
        "min": min(samples_ms),
        "p50": p50,
        "p90": percentile(samples_ms, 90),
        "p99": percentile(samples_ms, 99),
        "max": max(samples_ms),
        "mean": m,
        "std": stdev(samples_ms),
        "cv": stdev(samples_ms) / m if m else 0.0,
        "trimmed_mean": trimmed_mean(samples_ms, 0.8),
        "throughput_per_s": (len(samples_ms) / wall_s) if wall_s else (1000.0 / m if m > 0 else None),
    }
