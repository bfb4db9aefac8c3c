"""The harness statistics agree with numpy on known samples, and reject what they cannot summarise."""

import numpy as np
import pytest

from edgekit.harness import stats

SAMPLES = [
    [5.0],
    [3.0, 1.0, 2.0],
    [1.0, 2.0, 3.0, 4.0, 100.0],
    list(np.random.default_rng(1).lognormal(0.5, 0.4, size=1001)),
    list(np.random.default_rng(2).uniform(1, 2, size=10)),
]


@pytest.mark.parametrize("samples", SAMPLES)
@pytest.mark.parametrize("q", [0, 1, 10, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy_linear(samples, q):
    assert stats.percentile(samples, q) == pytest.approx(np.percentile(samples, q), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("samples", SAMPLES)
def test_summary_matches_numpy(samples):
    s = stats.summarize(samples)
    arr = np.asarray(samples)
    assert s["n"] == len(samples)
    assert s["min"] == arr.min() and s["max"] == arr.max()
    assert s["mean"] == pytest.approx(arr.mean())
    assert s["std"] == pytest.approx(arr.std(ddof=1) if len(arr) > 1 else 0.0)
    assert s["p50"] == pytest.approx(np.median(arr))
    assert s["p90"] == pytest.approx(np.percentile(arr, 90))
    assert s["p99"] == pytest.approx(np.percentile(arr, 99))
    assert s["throughput_per_s"] == pytest.approx(1000.0 / np.mean(arr))  # not 1/p50: see test_harness_budget


def test_trimmed_mean_drops_ten_percent_each_side():
    data = list(range(1, 11)) + [1000.0] * 0
    # 10 samples: cut 1 at each end -> mean of 2..9
    assert stats.trimmed_mean(data) == pytest.approx(np.mean(range(2, 10)))
    outlier = [10.0] * 18 + [0.0, 10_000.0]
    assert stats.trimmed_mean(outlier) == pytest.approx(10.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for n in (7, 20, 101, 1000):
        x = rng.exponential(size=n)
        assert stats.trimmed_mean(list(x)) == pytest.approx(scipy_stats.trim_mean(x, 0.1))


def test_trimmed_mean_keeps_small_sets():
    assert stats.trimmed_mean([4.0, 6.0]) == 5.0


def test_empty_and_bad_input_raise():
    with pytest.raises(ValueError):
        stats.summarize([])
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)
    with pytest.raises(ValueError):
        stats.trimmed_mean([])
