"""Quantization diagnosis and repair on a model with a known, injected defect (examples/keras_hostile:
one channel between block2_conv and block3_conv spans a 3000x wider range; float function unchanged)."""

from __future__ import annotations

import json

import pytest

from tests.quant_tf.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def _entries(report: dict) -> dict:
    return {e["target"]: e for e in report["artifacts"]}


def test_plain_int8_fails_the_drift_gate(hostile_build):
    proc, report = hostile_build
    int8 = _entries(report)["tflite-int8"]
    assert int8["status"] == "failed", int8
    assert int8["accuracy"]["cosine"] < 0.9  # the injected defect really costs accuracy
    assert proc.returncode != 0  # a failed target fails the build
    # the failure points at the repair
    assert "tflite-int8-mixed" in int8["error"]["hint"]


def test_explain_names_the_hostile_layers_first(hostile_build):
    _, report = hostile_build
    int8 = _entries(report)["tflite-int8"]
    qr = int8["extra"]["quant_report"]
    top3 = [l["source_name"] for l in qr["worst"][:3]]
    assert "block2_conv" in top3 and "block3_conv" in top3, top3
    assert qr["measure"] == "local" and qr["layers"] >= 6
    # the unharmed first layer is not blamed
    first = (
        next(l for l in qr["worst"] if l["source_name"] == "block1_conv")
        if any(l["source_name"] == "block1_conv" for l in qr["worst"])
        else None
    )
    assert first is None or first["channel_snr_db"] > 30


def test_mixed_meets_the_budget_with_the_kept_layers_listed(hostile_build):
    _, report = hostile_build
    mixed = _entries(report)["tflite-int8-mixed"]
    assert mixed["status"] == "built", mixed.get("error")
    repair = mixed["extra"]["repair"]
    assert repair["met"] is True and repair["budget"]["min_cosine"] == 0.99
    kept = [k["layer"] for k in repair["kept_layers"]]
    assert kept and set(kept) <= {"block2_conv", "block3_conv"}, kept
    assert mixed["quantization"]["kept_float"] == kept
    # judged on held-out samples by the same budget: cosine >= 0.99 against float
    assert mixed["accuracy"]["cosine"] >= 0.99
    assert mixed["accuracy"]["samples"] > 100
    # the search scored 32 of the 200 calibration digits, held apart from the 168 it calibrated on,
    # and the record's verdict is the held-out one
    assert repair["split"] == {**repair["split"], "calibration_samples": 168, "search_samples": 32}
    assert mixed["quantization"]["calibration_samples"] == 168
    assert repair["search_met"] and repair["held_out"]["met"]
    assert repair["held_out"]["cosine"] == pytest.approx(mixed["accuracy"]["cosine"])
    # int8 I/O kept, and the cost is stated against plain int8 and fp32
    assert mixed["inputs"][0]["dtype"] == "int8"
    size = repair["cost"]["size_bytes"]
    assert size["int8"] < size["mixed"] < size["fp32"]
    assert "DEQUANTIZE" in mixed["extra"]["ops"]  # the kept layers run float between (de)quantize ops
    assert repair["edgetpu"]["kept_layers_on_cpu"] == kept


def test_quant_report_reads_the_manifest(hostile_build, hostile_dir):
    _, report = hostile_build
    art = hostile_dir / "artifacts" / _entries(report)["tflite-int8-mixed"]["file"]
    proc = run_cli("quant-report", str(art), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["target"] == "tflite-int8-mixed"
    assert [k["layer"] for k in doc["repair"]["kept_layers"]]
    assert doc["quant_report"]["worst"][0]["source_name"] in ("block2_conv", "block3_conv")
    text = run_cli("quant-report", str(art))
    assert text.returncode == 0 and "block2_conv" in text.stdout and "kept in float" in text.stdout


def test_quant_report_without_a_report_says_how_to_get_one(tmp_path):
    proc = run_cli("quant-report", str(tmp_path / "missing.tflite"))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("edgekit: ") and "missing.tflite" in line


def test_html_report_plots_error_by_depth(hostile_build, hostile_dir, tmp_path):
    _, report = hostile_build
    art = hostile_dir / "artifacts" / _entries(report)["tflite-int8"]["file"]
    out = tmp_path / "r.json"
    bench = run_cli("bench", str(art), "--min-runs", "5", "--min-time", "0", "--warmup", "1", "-o", str(out), "--no-history")
    assert bench.returncode == 0, bench.stderr
    html = tmp_path / "r.html"
    rep = run_cli("report", str(out), "-o", str(html))
    assert rep.returncode == 0, rep.stderr
    text = html.read_text()
    assert 'data-plot="error-by-depth"' in text
    assert "block2_conv" in text  # each dot names its layer
