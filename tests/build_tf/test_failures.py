"""Failures: one target failing keeps the others; bad inputs end in one `edgekit:` line."""

from __future__ import annotations

import os

import numpy as np
import pytest

from edgekit.build.manifest_schema import validate_manifest
from tests.build_tf.conftest import build_json, need_tf
from tests.conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.tf


def test_failing_target_does_not_remove_other_artifacts(tmp_path):
    need_tf()
    data = tmp_path / "cal.npy"
    np.save(data, np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32))
    out = tmp_path / "out"
    common = ["--source", "tests.build_tf.models:cumsum_model", "--calibration", str(data), "-o", str(out)]
    proc, report = build_json(*common, "-t", "tflite-fp32", "-t", "tflite-int8", "-t", "tflite-dynamic")
    assert proc.returncode == 1, proc.stderr[-2000:]
    e = {a["target"]: a for a in report["artifacts"]}
    # CUMSUM has no int8 kernel: TF 2.21 silently leaves it in float; edgekit refuses to call that full-integer
    assert e["tflite-int8"]["status"] == "failed"
    assert "not full-integer" in e["tflite-int8"]["error"]["message"] and "CUMSUM" in e["tflite-int8"]["error"]["message"]
    assert e["tflite-int8"]["file"] is None
    for ok in ("tflite-fp32", "tflite-dynamic"):  # before and after the failing one
        assert e[ok]["status"] == "built"
        assert os.path.exists(out / e[ok]["file"])
    assert validate_manifest(__import__("json").load(open(out / "manifest.json"))) == []
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]  # no temporary leftovers


def test_missing_source_is_one_line():
    proc = run_cli("build", "--source", "nowhere/model.keras", "-t", "tflite-fp32")
    assert_one_line_error(proc, "no such model", "nowhere/model.keras")


def test_unknown_target_is_one_line(tmp_path):
    proc = run_cli("build", "--source", "tests.build_tf.models:cumsum_model", "-t", "tflite-int3")
    assert_one_line_error(proc, "unknown target", "tflite-int3")


def test_nan_in_calibration_data_is_one_line(tmp_path):
    need_tf()
    arr = np.random.default_rng(0).normal(size=(20, 16)).astype(np.float32)
    arr[3, 5] = np.nan
    np.save(tmp_path / "bad.npy", arr)
    proc = run_cli(
        "build",
        "--source",
        "tests.build_tf.models:cumsum_model",
        "-t",
        "tflite-fp32",
        "--calibration",
        str(tmp_path / "bad.npy"),
        "-o",
        str(tmp_path / "o"),
    )
    assert_one_line_error(proc, "NaN")
    assert not (tmp_path / "o").exists()


def test_wrong_calibration_shape_is_one_line(tmp_path):
    need_tf()
    np.save(tmp_path / "bad.npy", np.zeros((20, 15), np.float32))
    proc = run_cli(
        "build",
        "--source",
        "tests.build_tf.models:cumsum_model",
        "-t",
        "tflite-int8",
        "--calibration",
        str(tmp_path / "bad.npy"),
        "-o",
        str(tmp_path / "o"),
    )
    assert_one_line_error(proc, "shape", "[20, 15]")


def test_int8_without_calibration_data_is_one_line(tmp_path):
    need_tf()
    proc = run_cli("build", "--source", "tests.build_tf.models:cumsum_model", "-t", "tflite-int8", "-o", str(tmp_path / "o"))
    assert_one_line_error(proc, "needs calibration data", "--random-calibration")


def test_factory_returning_no_model_is_one_line(tmp_path):
    need_tf()
    proc = run_cli("build", "--source", "tests.build_tf.models:not_a_model", "-t", "tflite-fp32", "-o", str(tmp_path / "o"))
    assert_one_line_error(proc, "cannot build from")


def test_bad_spec_file_is_one_line(tmp_path):
    spec = tmp_path / "edgekit.toml"
    spec.write_text('source = "m.keras"\ntargets = ["tflite-fp32"]\n[thresholds]\nmin_cosin = 0.9\n')
    assert_one_line_error(run_cli("build", str(spec)), "unknown threshold", "min_cosin")
    spec.write_text('source = "m.keras"\ntargets = "tflite-fp32"\n')
    assert_one_line_error(run_cli("build", str(spec)), "targets must be list")
