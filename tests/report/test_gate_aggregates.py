"""The regression gate on phones' results: benchmark_model / executor_runner print aggregates only.

The baseline is a real benchmark_model run parsed from real output (tests/devices/data, origin in
its README); candidates are that run with its mean and spread scaled, i.e. a known effect.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.results.compare import IMPROVED, INCONCLUSIVE, REGRESSED, UNCHANGED, compare_results
from edgekit.results.schema import validate
from edgekit.transports.android_benchmark_model import result_from_benchmark_model
from edgekit.transports.tool_output import parse_benchmark_model
from tests.conftest import assert_one_line_error, run_cli

DATA = Path(__file__).parents[1] / "devices" / "data"


def phone_result() -> dict:
    """mobilenet on an arm64 phone, XNNPACK: count=1000, avg 63.74 ms, std 60.72 ms (a long tail)."""
    base = {
        "schema": "edgekit.result",
        "schema_version": 1,
        "edgekit_version": "0",
        "created": "2026-01-01T00:00:00+00:00",
        "status": "error",
        "artifact": {"path": "m.tflite", "name": "m.tflite", "format": "tflite", "sha256": "ab" * 32},
        "device": {"name": "phone", "transport": "adb", "emulated": False, "fingerprint": {"serial": "X"}},
        "platform": {},
        "runtime": {"name": "benchmark_model", "threads": 4},
        "settings": {},
    }
    parsed = parse_benchmark_model((DATA / "benchmark_model_android_xnnpack.txt").read_text())
    return validate(result_from_benchmark_model(base, parsed, ""))


def scaled(result: dict, factor: float, sha: str = "cd" * 32, created: str = "2026-01-02T00:00:00+00:00") -> dict:
    """The run with its latency scaled by ``factor`` (a known effect), measured at ``created``
    (by default after the baseline and its repeats, as a candidate is)."""
    r = copy.deepcopy(result)
    r["created"] = created
    lat = r["latency_ms"]
    for key in ("mean", "std", "p50", "min", "max"):
        if lat.get(key) is not None:
            lat[key] *= factor
    r["artifact"]["sha256"] = sha
    return r


def expected_half_width(lat: dict, confidence: float = 0.95) -> float:
    """The log-scale half-width the gate should use: z * sqrt(2 * (cv^2 / n)) for two equal runs."""
    from statistics import NormalDist

    cv = lat["std"] / lat["mean"]
    return NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(2 * cv * cv / lat["n"])


def test_known_effects_on_a_real_phone_run():
    base = phone_result()
    assert base["samples_ms"] == [] and base["latency_ms"]["aggregate_only"]
    half = expected_half_width(base["latency_ms"])
    assert 0.07 < half < 0.10  # CV 95% over 1000 runs: the phone's tail makes +-8% the resolution

    same = compare_results(base, scaled(base, 1.0))
    assert same.metric == "mean" and same.mw_p_value is None
    assert same.ci_low == pytest.approx(math.exp(-half)) and same.ci_high == pytest.approx(math.exp(half))
    assert any("aggregates only" in n and "instead of the p50" in n for n in same.notes)
    # +-8.3% cannot resolve a 5% threshold: even an identical run is inconclusive, not "unchanged".
    assert same.verdict == INCONCLUSIVE and any("inconclusive" in n for n in same.notes)
    assert compare_results(base, scaled(base, 1.0), threshold=0.10).verdict == UNCHANGED

    assert compare_results(base, scaled(base, 1.30)).verdict == REGRESSED
    assert compare_results(base, scaled(base, 1.06)).verdict == INCONCLUSIVE  # beyond 5%, not resolvable
    assert compare_results(base, scaled(base, 1.03), threshold=0.15).verdict == UNCHANGED
    assert compare_results(base, scaled(base, 0.70)).verdict == IMPROVED


def test_run_to_run_noise_from_repeated_means_widens_the_interval():
    base = phone_result()
    factors = (0.85, 1.0, 1.15, 0.9, 1.1)  # a phone that heats up and cools down between runs
    repeated = [scaled(base, f, sha="ab" * 32, created=f"2026-01-01T00:0{i}:00+00:00") for i, f in enumerate(factors)]
    alone = compare_results(base, scaled(base, 1.30))
    noisy = compare_results(base, scaled(base, 1.30), repeated=repeated)
    assert alone.verdict == REGRESSED and alone.run_noise is None
    assert noisy.noise_runs == 5 and noisy.run_noise == pytest.approx(statistics.stdev(math.log(f) for f in factors))
    assert noisy.ci_low < alone.ci_low and noisy.verdict == INCONCLUSIVE


def test_executor_runner_without_spread_needs_repeated_runs():
    base = phone_result()
    base["latency_ms"]["std"] = None  # executor_runner prints only "N time(s) in T ms"
    cand = scaled(base, 1.5)
    with pytest.raises(EdgekitError, match="no spread") as err:
        compare_results(base, cand)
    assert "record at least 3 runs" in err.value.hint
    steady = [scaled(base, f, sha="ab" * 32, created=f"2026-01-01T00:0{i}:00+00:00") for i, f in enumerate((0.99, 1.0, 1.01))]
    assert compare_results(base, cand, repeated=steady).verdict == REGRESSED
    # Three runs 1% apart: t(2) = 4.3 makes the interval +-6%, too wide to call +1% unchanged at 5%;
    # five such runs (t(4) = 2.8) resolve it.
    assert compare_results(base, scaled(base, 1.01), repeated=steady).verdict == INCONCLUSIVE
    five = [
        scaled(base, f, sha="ab" * 32, created=f"2026-01-01T00:0{i}:00+00:00")
        for i, f in enumerate((0.99, 1.0, 1.01, 1.0, 0.995))
    ]
    assert compare_results(base, scaled(base, 1.01), repeated=five).verdict == UNCHANGED


def test_compare_cli_gates_phone_results(tmp_path):
    base = phone_result()
    paths = {}
    for name, factor in (("base", 1.0), ("same", 1.0), ("slow", 1.30)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(scaled(base, factor) if name != "base" else base))
    ok = run_cli("compare", paths["base"], paths["same"], "--metric", "p50,p90", "--json", "--threshold", "10%")
    assert ok.returncode == 0, ok.stderr
    rows = json.loads(ok.stdout)
    assert [(r["metric"], r["verdict"]) for r in rows] == [("mean", "unchanged")]  # one row, not one per metric
    table = run_cli("compare", paths["base"], paths["same"], "--threshold", "10%")
    assert table.returncode == 0 and "aggregates only" in table.stdout and "unchanged" in table.stdout
    # At 5% the phone's own spread cannot decide: reported; two files pass unless asked to fail.
    unsure = run_cli("compare", paths["base"], paths["same"])
    assert unsure.returncode == 0 and "inconclusive" in unsure.stdout, unsure.stdout + unsure.stderr
    assert_one_line_error(run_cli("compare", paths["base"], paths["same"], "--on-inconclusive", "fail"), "inconclusive at 5%")
    slow = run_cli("compare", paths["base"], paths["slow"])
    assert slow.returncode == 1 and "regressed" in slow.stdout
    assert_one_line_error(slow, "regressed beyond 5%", "mean +30.0%")
