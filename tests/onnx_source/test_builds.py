"""ONNX -> TFLite through the onnx2tf toolchain on the shared RapidOCR models (network blocked)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import EdgekitError

pytestmark = pytest.mark.slow

NHWC = {"layout": "NHWC", "transposed_from": "NCHW"}


def _input(entry: dict) -> dict:
    (x,) = entry["inputs"]
    return x


def test_classifier_fp32_matches_onnxruntime_on_held_out_text_lines(classifier_build):
    e = classifier_build["by_target"]["tflite-fp32"]
    assert e["status"] == "built", e["error"]
    acc = e["accuracy"]
    assert acc["samples"] == 40 and acc["cosine"] >= 0.999, acc
    assert acc["max_abs_error"] < 1e-3
    x = _input(e)
    assert x["shape"] == [1, 48, 192, 3] and {k: x[k] for k in NHWC} == NHWC
    assert e["extra"]["input_layout"] == [{"name": "x", **NHWC, "perm": [0, 2, 3, 1]}]
    assert e["extra"]["renamed_nodes"]["count"] > 100  # Paddle2ONNX's Conv@0 ...
    assert e["tool_versions"]["onnx2tf"] == "1.29.24"
    assert "calibration samples" in e["extra"]["onnx2tf_sample_data"]  # not onnx2tf's download


def test_classifier_int8_is_calibrated_and_its_drift_reported(classifier_build):
    e = classifier_build["by_target"]["tflite-int8"]
    assert e["status"] == "built", e["error"]
    acc = e["accuracy"]
    assert acc["samples"] == 40 and acc["calibration_samples"] == 80
    assert acc["sanity"]["verdict"] in ("ok", "warn")
    assert 0.9 <= acc["cosine"] < 1.0 and acc["max_abs_error"] > 0  # quantized: close, not equal
    assert "top1_agreement" in acc
    x = _input(e)
    assert x["dtype"] == "int8" and x["scale"] and x["shape"] == [1, 48, 192, 3] and x["layout"] == "NHWC"
    assert e["quantization"]["io_dtype"] == "int8" and e["quantization"]["calibration_samples"] == 80
    assert e["extra"]["float_ops"] == {}
    assert e["calibration"]["count"] == 80


def test_int8_drift_check_feeds_nhwc(classifier_build, rapidocr):
    """Re-run the int8 artifact by hand on a held-out style sample: NHWC after quantization
    reproduces onnxruntime's class; the NCHW array reshaped (a layout bug) would not be the same."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from tests.conftest import CORAL
    from tests.onnx_source.conftest import CLASSIFIER
    from tests.onnx_source.data import text_lines

    e = classifier_build["by_target"]["tflite-int8"]
    it = Interpreter(str(classifier_build["outdir"] / e["file"]))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    xs = text_lines(CORAL, 16, seed=7)
    ref = ort.InferenceSession(str(CLASSIFIER), providers=["CPUExecutionProvider"]).run(None, {"x": xs})[0]
    scale, zp = inp["quantization"]
    oscale, ozp = out["quantization"]

    def run(x):
        it.set_tensor(inp["index"], np.clip(np.round(x / scale + zp), -128, 127).astype(np.int8))
        it.invoke()
        return (it.get_tensor(out["index"]).astype(np.float32) - ozp) * oscale

    right = np.concatenate([run(x[None].transpose(0, 2, 3, 1)) for x in xs])
    wrong = np.concatenate([run(x.reshape(1, 48, 192, 3)) for x in xs])
    assert np.abs(right - ref).max() < np.abs(wrong - ref).max()
    assert (right.argmax(1) == ref.argmax(1)).mean() >= 0.8


def _op_versions(path) -> dict:
    import tflite

    model = tflite.Model.GetRootAsModel(bytearray(path.read_bytes()), 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    return {
        names[max(c.BuiltinCode(), c.DeprecatedBuiltinCode())]: c.Version()
        for c in (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
    }


def test_an_edgetpu_target_makes_onnx2tf_write_convolutions_the_compiler_knows(classifier_build):
    """Grouped convolutions are CONV_2D v6 from onnx2tf (edgetpu_compiler 16 knows up to v5): with an
    edgetpu target in the build, the int8 artifact is converted with -dgc; the fp32 one is not."""
    by = classifier_build["by_target"]
    out = classifier_build["outdir"]
    assert "disable_group_convolution" in by["tflite-int8"]["extra"]["onnx2tf_flags"]
    assert "onnx2tf_flags" not in by["tflite-fp32"]["extra"]
    assert _op_versions(out / by["tflite-int8"]["file"])["CONV_2D"] <= 5
    assert _op_versions(out / by["tflite-fp32"]["file"])["CONV_2D"] == 6


def test_edgetpu_compiles_the_int8_artifact_or_records_its_preflight(classifier_build):
    e = classifier_build["by_target"]["edgetpu"]
    if e["status"] == "built":  # edgetpu_compiler installed
        assert e["extra"]["edgetpu"]["preflight_summary"]
        assert e["extra"]["input_layout"][0]["layout"] == "NHWC"
    else:
        err = e["error"]
        assert err["type"] == "EnvironmentMissing" and "preflight report was written" in err["message"], err
        assert err["preflight_file"].endswith(".json") and err["preflight_summary"]
        assert (classifier_build["outdir"] / err["preflight_file"]).is_file()


def test_detector_fp32_matches_onnxruntime(detector_build):
    e = detector_build["by_target"]["tflite-fp32"]
    assert e["status"] == "built", e["error"]
    acc = e["accuracy"]
    assert acc["samples"] == 6 and acc["cosine"] >= 0.999, acc
    assert _input(e)["shape"] == [1, 320, 320, 3] and _input(e)["layout"] == "NHWC"
    assert [o["shape"] for o in e["outputs"]] == [[1, 1, 320, 320]]  # onnx2tf keeps this output NCHW
    assert "seeded uniform noise" in e["extra"]["onnx2tf_sample_data"]  # no calibration data given


def test_worker_quotes_onnx2tfs_reason_when_conversion_fails(toolchain_env, rapidocr, tmp_path, monkeypatch):
    """Without fixed shapes, onnx2tf itself fails on Paddle2ONNX's -1 dims: one line, its words."""
    from edgekit.toolchains import run_worker
    from tests.onnx_source.conftest import CLASSIFIER

    for k, v in toolchain_env.items():
        monkeypatch.setenv(k, v)
    spec = {
        "onnx": str(CLASSIFIER),
        "input_shapes": {},
        "mode": "fp32",
        "output": str(tmp_path / "m.tflite"),
        "workdir": str(tmp_path / "w"),
    }
    with pytest.raises(EdgekitError) as info:
        run_worker("onnx2tf", "onnx2tf_convert", spec, workdir=str(tmp_path), timeout=900)
    assert info.value.message.startswith("onnx2tf could not convert the model: ValueError: Dimension -1 must be >= 0")
    assert "\n" not in info.value.message
