"""Time budget, throughput and memory accounting of a measurement, and the result schema's versions.

Slow models are simulated honestly with small budgets on real models: a budget far below what
--min-runs needs must stop the loop at the budget (never below 5 runs) and say so in the result.
"""

from __future__ import annotations

import copy

import pytest

from edgekit import api
from edgekit.harness import stats
from edgekit.results import schema
from tests.conftest import assert_one_line_error, run_cli

pytest.importorskip("ai_edge_litert")


def test_budget_stops_a_long_run_and_says_so(coral_models):
    model = str(coral_models / "mobilenet_v2_1.0_224_quant.tflite")
    r = api.bench(model, threads=1, warmup=2, min_runs=100_000, min_time_s=0.0, max_time_s=0.5)
    n = r["latency_ms"]["n"]
    assert 5 <= n < 100_000
    assert r["method"]["stopped_by"] == "max_time"
    assert any("time budget reached (--max-time 0.5 s)" in note and "of --min-runs 100000" in note for note in r["notes"])
    # the budget counts from the first inference; the last run may end past it by at most one run
    spent_s = (r["first_inference_ms"] + sum(r["samples_ms"])) / 1e3
    assert spent_s <= 0.5 + 2 * max(r["samples_ms"]) / 1e3 + 0.2


def test_budget_never_cuts_below_five_runs_and_trims_warmup(coral_models):
    model = str(coral_models / "mobilenet_v2_1.0_224_quant.tflite")
    r = api.bench(model, threads=1, warmup=10, min_runs=50, min_time_s=0.0, max_time_s=0.001)
    assert r["latency_ms"]["n"] == 5
    assert r["warmup_runs"] == 0 and r["method"]["warmup_requested"] == 10
    assert any("warmup cut to 0 of 10" in note for note in r["notes"])
    schema.validate(r)


def test_normal_runs_are_untouched_by_the_budget(coral_models):
    r = api.bench(str(coral_models / "split_concat.tflite"), warmup=1, min_runs=50, min_time_s=0.1)
    assert r["method"]["stopped_by"] == "min_runs and min_time" and r["notes"] == []
    assert r["latency_ms"]["n"] >= 50 and r["warmup_runs"] == 1


def test_throughput_is_runs_over_wall_time_not_one_over_p50(coral_models):
    r = api.bench(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), threads=1, warmup=2, min_runs=30, min_time_s=0.2)
    lat = r["latency_ms"]
    assert lat["throughput_per_s"] == pytest.approx(lat["n"] / r["wall_time_s"])
    assert r["method"]["throughput"].startswith("timed runs / wall time")
    # the wall time holds every timed span, so the rate is never above 1000 / mean
    assert r["wall_time_s"] >= sum(r["samples_ms"]) / 1e3
    assert lat["throughput_per_s"] <= 1000.0 / lat["mean"] * (1 + 1e-9)


def test_skewed_samples_throughput_follows_the_mean():
    """The reported .ptl case: p50 0.248 ms, mean 18.5 ms. 1/p50 said 4,032/s; the truth is ~54/s."""
    samples = [0.248] * 93 + [260.0] * 7
    s = stats.summarize(samples)
    assert s["p50"] == pytest.approx(0.248)
    assert s["throughput_per_s"] == pytest.approx(1000.0 / s["mean"]) and s["throughput_per_s"] < 60
    assert stats.summarize(samples, wall_s=2.0)["throughput_per_s"] == pytest.approx(50.0)


def test_memory_splits_the_runtime_import_from_the_model(coral_models):
    r = api.bench(str(coral_models / "mobilenet_v2_1.0_224_quant.tflite"), warmup=0, min_runs=3, min_time_s=0.0)
    m = r["memory"]
    assert m["runtime_import_rss_bytes"] == m["rss_after_import_bytes"] - m["rss_start_bytes"] > 0
    assert m["model_rss_bytes"] == m["rss_after_load_bytes"] - m["rss_after_import_bytes"]
    # the model holds 3.4 MB of weights the interpreter maps and packs: more than that, less than 100 MiB
    assert 3 * 2**20 < m["model_rss_bytes"] < 100 * 2**20
    assert r["load_phases_ms"]["import"] > 0 and r["init_ms"] == pytest.approx(
        sum(v for k, v in r["load_phases_ms"].items() if k != "import")
    )


def test_budget_flags_are_validated(coral_models):
    model = coral_models / "split_concat.tflite"
    assert_one_line_error(run_cli("bench", model, "--max-time", "0"), "--max-time must be positive")
    assert_one_line_error(run_cli("bench", model, "--max-time", "1", "--min-time", "2"), "below --min-time")


def test_schema_reads_version_1_and_2_only(coral_models):
    r = api.bench(str(coral_models / "split_concat.tflite"), warmup=0, min_runs=3, min_time_s=0.0)
    assert r["schema_version"] == schema.SCHEMA_VERSION == 2
    schema.validate(r)
    old = copy.deepcopy(r)
    old["schema_version"] = 1
    for key in ("method", "notes"):
        old.pop(key)
    schema.validate(old)  # results written before the self-check still load
    future = dict(r, schema_version=3)
    with pytest.raises(schema.SchemaError, match="upgrade edgekit"):
        schema.validate(future)
    with pytest.raises(schema.SchemaError, match="notes"):
        schema.validate(dict(r, notes="x"))


def test_the_summary_prints_the_notes_and_the_import(coral_models):
    proc = run_cli(
        "bench",
        coral_models / "mobilenet_v2_1.0_224_quant.tflite",
        "--threads",
        "1",
        "--min-runs",
        "100000",
        "--min-time",
        "0",
        "--max-time",
        "0.3",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Note: time budget reached (--max-time 0.3 s)" in proc.stdout
    assert "runtime import" in proc.stdout
