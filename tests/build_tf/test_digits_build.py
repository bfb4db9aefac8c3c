"""`edgekit build` on the digits example: the issue's "Done when" list, on a real trained model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from edgekit.build.manifest_schema import validate_manifest
from tests.build_tf.conftest import FIVE, build_json

pytestmark = pytest.mark.tf


def _entries(report: dict) -> dict:
    return {a["target"]: a for a in report["artifacts"]}


def test_all_five_targets_built(digits_build):
    proc, report = digits_build
    assert proc.returncode == 0, proc.stderr[-2000:]
    entries = _entries(report)
    assert list(entries) == FIVE
    for name, e in entries.items():
        assert e["status"] == "built", (name, e["error"])
        path = os.path.join(report["outdir"], e["file"])
        assert os.path.getsize(path) == e["size_bytes"] > 0
        # the converter's ~hundreds of lines of stdout noise never reach the user's --json output
    assert json.loads(proc.stdout)["ok"] is True


def test_manifest_validates_and_records_what_the_issue_asks(digits_build):
    _, report = digits_build
    with open(os.path.join(report["outdir"], "manifest.json")) as f:
        manifest = json.load(f)
    assert validate_manifest(manifest) == []
    entries = _entries(manifest)
    int8 = entries["tflite-int8"]
    assert int8["quantization"]["io_dtype"] == "int8"
    assert int8["inputs"][0]["dtype"] == "int8" and int8["inputs"][0]["scale"] > 0
    assert int8["outputs"][0]["zero_point"] is not None
    assert int8["calibration"]["count"] == 300 and len(int8["calibration"]["sha256"]) == 64
    assert int8["calibration"]["random"] is False
    assert "tensorflow" in int8["tool_versions"] and any(k.startswith("runtime:") for k in int8["tool_versions"])
    assert int8["build_time_s"] > 0
    assert entries["tflite-fp32"]["calibration"] is None  # fp32 does not calibrate
    # evaluation was the held-out test set, not the calibration data
    assert int8["accuracy"]["evaluation"]["source"].endswith("test.npz")
    assert int8["accuracy"]["samples"] == 449
    assert manifest["source"]["kind"] == "keras" and len(manifest["source"]["sha256"]) == 64


def test_int8_accuracy_within_one_point_of_float(digits_build):
    _, report = digits_build
    acc = _entries(report)["tflite-int8"]["accuracy"]
    assert acc["reference_accuracy"] > 95.0  # the float model really learned the digits
    assert acc["accuracy"] >= acc["reference_accuracy"] - 1.0
    assert acc["top1_agreement"] >= 0.97 and acc["cosine"] > 0.98
    for name, e in _entries(report).items():
        assert e["accuracy"]["outputs"][0]["snr_db"] > 20, name


def test_int8_is_at_most_0_3x_fp32(digits_build):
    _, report = digits_build
    e = _entries(report)
    assert e["tflite-int8"]["size_bytes"] <= 0.3 * e["tflite-fp32"]["size_bytes"]
    assert e["tflite-fp16"]["size_bytes"] < 0.6 * e["tflite-fp32"]["size_bytes"]


def test_artifacts_load_and_invoke_in_the_benchmark_harness(digits_build):
    from edgekit import api

    _, report = digits_build
    for name, e in _entries(report).items():
        result = api.bench(os.path.join(report["outdir"], e["file"]), warmup=1, min_runs=3, min_time_s=0.0, timeout=300)
        assert result["status"] == "ok", name
        assert result["artifact"]["sha256"] == e["sha256"]
        assert result["artifact"].get("target") == name  # found through the manifest


def test_second_build_reuses_every_artifact(digits_build, digits_rebuild):
    _, first = digits_build
    proc, second = digits_rebuild
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name, e in _entries(second).items():
        assert e["status"] == "cached", name
        assert e["sha256"] == _entries(first)[name]["sha256"]


def test_threshold_miss_keeps_the_artifact_and_exits_non_zero(digits_build, digits_dir, tmp_path):
    _, report = digits_build
    work = tmp_path / "w"
    shutil.copytree(digits_dir, work, ignore=shutil.ignore_patterns("artifacts"))
    shutil.copytree(report["outdir"], work / "artifacts")
    proc, r2 = build_json(str(work / "edgekit.toml"), "--threshold", "tflite-fp16.min_snr_db=500")
    assert proc.returncode == 1
    e = _entries(r2)
    assert e["tflite-fp16"]["status"] == "failed"
    assert "min_snr_db" in e["tflite-fp16"]["error"]["message"]
    assert os.path.exists(work / "artifacts" / e["tflite-fp16"]["file"])  # kept for inspection
    assert all(e[t]["status"] == "cached" for t in FIVE if t != "tflite-fp16")


def test_keras_export_saved_model_gives_the_keras_graph(digits_build, digits_dir, tmp_path):
    """A Keras 3 ``model.export()`` SavedModel (the serving export users are told to make) builds
    to the same compact graph as the .keras file, with the same int8 accuracy."""
    _, keras_report = digits_build
    saved = tmp_path / "exported"
    code = "import keras, sys; m = keras.models.load_model(sys.argv[1]); m.export(sys.argv[2], verbose=False)"
    subprocess.run(
        [sys.executable, "-c", code, str(digits_dir / "digits_cnn.keras"), str(saved)],
        check=True,
        capture_output=True,
        timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    proc, report = build_json(
        str(digits_dir / "edgekit.toml"),
        "--source",
        str(saved),
        "-t",
        "tflite-fp32",
        "-t",
        "tflite-int8",
        "-o",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got, ref = _entries(report), _entries(keras_report)
    from edgekit.targets.tflite import RESOURCE_VARIABLE_OPS, op_histogram

    for target in ("tflite-fp32", "tflite-int8"):
        with open(os.path.join(report["outdir"], got[target]["file"]), "rb") as f:
            ops = op_histogram(f.read())
        with open(os.path.join(keras_report["outdir"], ref[target]["file"]), "rb") as f:
            ref_ops = op_histogram(f.read())
        assert not set(ops) & RESOURCE_VARIABLE_OPS, ops
        assert ops == ref_ops, (target, ops, ref_ops)
    assert got["tflite-int8"]["accuracy"]["accuracy"] == pytest.approx(ref["tflite-int8"]["accuracy"]["accuracy"], abs=1.0)
