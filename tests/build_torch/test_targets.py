"""Every PyTorch target on the digits example, through the shared build orchestrator (slow: one build)."""

from __future__ import annotations

import os

import pytest

from edgekit.results.schema import validate
from tests.conftest import assert_one_line_error, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.torch]

ALL = [
    "executorch-portable",
    "executorch-xnnpack",
    "executorch-xnnpack-int8",
    "executorch-xnnpack-dynamic-int8",
    "executorch-coreml",
    "ptl",
]


def test_every_target_builds_or_records_its_reason(digits_build):
    report, entries = digits_build
    assert list(entries) == ALL
    for name in ALL:
        e = entries[name]
        assert e.status == "built", (name, e.error)
        path = os.path.join(report.outdir, e.file)
        assert os.path.getsize(path) == e.size_bytes > 1000
        assert e.tool_versions.get("torch", "").startswith("2.13")
    # Core ML: lowered here, never invoked (needs Apple hardware), and the entry says so.
    coreml = entries["executorch-coreml"]
    assert "Apple" in coreml.extra["not_run"] and coreml.accuracy is None
    assert coreml.extra["delegation"]["backend"] == "CoreMLBackend" and coreml.extra["delegation"]["delegated_nodes"] > 0


def test_int8_accuracy_within_one_point_of_float(digits_build):
    _, entries = digits_build
    int8 = entries["executorch-xnnpack-int8"].accuracy
    assert int8["samples"] == 449
    assert int8["reference_accuracy"] > 90.0  # the float model really learned the digits
    assert abs(int8["reference_accuracy"] - int8["accuracy"]) <= 1.0, int8
    assert entries["executorch-xnnpack-int8"].quantization["weights"] == "int8 symmetric per-channel"
    assert entries["executorch-xnnpack-int8"].quantization["calibration_samples"] == 300
    assert entries["executorch-xnnpack-int8"].calibration["count"] == 300
    # int8 shrinks the file (fp32 weights -> int8)
    assert entries["executorch-xnnpack-int8"].size_bytes < 0.5 * entries["executorch-xnnpack"].size_bytes
    for name in ("executorch-portable", "executorch-xnnpack", "ptl"):
        assert entries[name].accuracy["cosine"] > 0.9999, (name, entries[name].accuracy)


def test_delegation_coverage_is_in_every_pte_entry(digits_build):
    _, entries = digits_build
    xnn = entries["executorch-xnnpack"].extra["delegation"]
    assert xnn["backend"] == "XnnpackBackend" and xnn["delegated_nodes"] > 0
    assert xnn["compute_fallback"] == {}, xnn  # every op of this CNN is one XNNPACK takes
    portable = entries["executorch-portable"].extra["delegation"]
    assert portable["delegated_nodes"] == 0
    assert portable["not_delegated"].get("aten_convolution_default") == 3, portable


def test_ptl_records_the_deprecation(digits_build):
    _, entries = digits_build
    ptl = entries["ptl"]
    assert any("Lite Interpreter is deprecated" in d for d in ptl.extra["deprecation"])
    assert any("deprecated" in w for w in ptl.warnings)
    assert "optimize_for_mobile" in ptl.extra  # fails on CPU wheels: recorded, not hidden


def test_pte_and_ptl_bench_through_the_harness_with_one_schema(digits_build):
    from edgekit import api

    report, entries = digits_build
    results = {}
    for name in ("executorch-xnnpack", "executorch-xnnpack-int8", "ptl"):
        path = os.path.join(report.outdir, entries[name].file)
        r = api.bench(path, threads=2, warmup=2, min_runs=10, min_time_s=0.0)
        validate(r)
        assert r["input_specs"][0]["shape"] == [1, 1, 8, 8]
        assert r["output_specs"][0]["shape"] == [1, 10]
        assert r["latency_ms"]["n"] >= 10 and r["latency_ms"]["p50"] > 0
        assert r["artifact"]["target"] == name and r["accuracy"]["samples"] == 449  # enriched from the manifest
        results[name] = r
    assert results["executorch-xnnpack"]["runtime"]["name"] == "executorch"
    d = results["executorch-xnnpack"]["delegates"][0]
    assert d["name"] == "XnnpackBackend" and d["nodes"] > 0 and d["not_delegated"] == {}
    assert results["ptl"]["runtime"]["name"] == "torch.jit.mobile"


def test_bench_cli_on_pte_and_coreml_not_runnable(digits_build):
    report, entries = digits_build
    pte = os.path.join(report.outdir, entries["executorch-xnnpack"].file)
    proc = run_cli("bench", pte, "--threads", "2", "--min-runs", "5", "--min-time", "0", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    assert "XnnpackBackend" in proc.stdout
    coreml = os.path.join(report.outdir, entries["executorch-coreml"].file)
    proc = run_cli("bench", coreml, "--min-runs", "1", "--min-time", "0", "--warmup", "0")
    assert_one_line_error(proc, "Core ML", "Apple")
