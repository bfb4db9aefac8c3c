"""MobileNetV2 (random-initialised, made realistic): the compact graph, whatever the source.

Measured trap: `tf.saved_model.save(keras3_model)` + `from_saved_model` gives ~1,000 ops with
VAR_HANDLE/READ_VARIABLE (30x slower). edgekit must give the same ~65-op graph as the Keras path.
And int16x8 of a plain `MobileNetV2(weights=None)` converts but cannot be allocated: a failed
target with the runtime's reason, never a silent success.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgekit.targets.tflite import RESOURCE_VARIABLE_OPS
from tests.build_tf.conftest import MNV2_EXAMPLE, build_json, need_tf

pytestmark = [pytest.mark.slow, pytest.mark.tf]

DATA = ["--calibration", "mobilenetv2:calibration_images", "--calibration-count", "8", "--eval-count", "4"]


def _ops(path: str) -> dict:
    from edgekit.targets.tflite import op_histogram

    with open(path, "rb") as f:
        return op_histogram(f.read())


@pytest.fixture(scope="session")
def keras_fp32(tmp_path_factory, mnv2_env):
    need_tf()
    out = tmp_path_factory.mktemp("mnv2_keras")
    proc, report = build_json(
        "--source", "mobilenetv2:realistic_mobilenetv2", "-t", "tflite-fp32", *DATA, "-o", str(out), env=mnv2_env
    )
    assert report is not None, proc.stderr[-3000:]
    return proc, report


def test_keras_source_gives_the_compact_graph(keras_fp32):
    proc, report = keras_fp32
    assert proc.returncode == 0, proc.stderr[-2000:]
    e = report["artifacts"][0]
    ops = _ops(os.path.join(report["outdir"], e["file"]))
    assert sum(ops.values()) <= 70, ops
    assert not set(ops) & RESOURCE_VARIABLE_OPS
    assert e["extra"]["op_count"] == sum(ops.values())
    assert 13e6 < e["size_bytes"] < 15e6
    assert e["accuracy"]["cosine"] > 0.9999


def test_tf_saved_model_save_trap_still_gives_the_compact_graph(tmp_path, mnv2_env, keras_fp32):
    need_tf()
    saved = tmp_path / "tf_saved"
    code = f"import mobilenetv2, tensorflow as tf; tf.saved_model.save(mobilenetv2.realistic_mobilenetv2(), {str(saved)!r})"
    env = dict(os.environ, PYTHONPATH=mnv2_env["PYTHONPATH"], TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env, cwd=str(MNV2_EXAMPLE), timeout=600)
    proc, report = build_json("--source", str(saved), "-t", "tflite-fp32", *DATA, "-o", str(tmp_path / "out"), env=mnv2_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    e = report["artifacts"][0]
    ops = _ops(os.path.join(report["outdir"], e["file"]))
    assert not set(ops) & RESOURCE_VARIABLE_OPS, ops
    assert sum(ops.values()) == keras_fp32[1]["artifacts"][0]["extra"]["op_count"]
    assert e["extra"]["converter_path"] == "frozen_signature"
    assert any("resource-variable" in w and "READ_VARIABLE" in w for w in e["warnings"]), e["warnings"]
    assert e["accuracy"]["cosine"] > 0.9999


def test_int16x8_that_cannot_allocate_is_a_failed_target(tmp_path, mnv2_env):
    need_tf()
    proc, report = build_json(
        "--source", "mobilenetv2:plain_mobilenetv2", "-t", "tflite-int16x8", *DATA, "-o", str(tmp_path), env=mnv2_env
    )
    assert proc.returncode == 1
    e = report["artifacts"][0]
    assert e["status"] == "failed" and e["file"] is None
    msg = e["error"]["message"]
    assert msg.startswith("built but unusable") and "failed to prepare" in msg, msg
    assert ".tmp-" not in msg
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tflite")]
