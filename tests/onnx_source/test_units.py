"""ONNX as a source without the converter toolchain: detection, shapes, layouts, the worker's parts."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from edgekit.build import layout
from edgekit.errors import EdgekitError
from edgekit.sources import InputSpec, detect_kind, load_source, source_name
from tests.conftest import ROOT, assert_one_line_error, run_cli
from tests.onnx_source.conftest import CLASSIFIER

WORKER = ROOT / "edgekit" / "toolchains" / "workers" / "onnx2tf_convert.py"


def load_worker():
    """The standalone worker as a module (it imports only the stdlib at import time)."""
    spec = importlib.util.spec_from_file_location("onnx2tf_convert", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_onnx_files_are_detected_and_named(rapidocr):
    assert detect_kind(str(CLASSIFIER)) == "onnx"
    assert source_name(str(CLASSIFIER)) == "ch_ppocr_mobile_v2.0_cls_infer"


def test_dynamic_dims_need_an_input_shape(rapidocr):
    with pytest.raises(EdgekitError) as info:
        load_source(str(CLASSIFIER))
    assert "dynamic dimensions [?, 3, ?, ?]" in info.value.message
    assert "--input-shape x=1,3,64,64" in info.value.hint


def test_cli_says_it_in_one_line(rapidocr):
    proc = run_cli("build", "--source", CLASSIFIER, "-t", "tflite-fp32", "-o", os.devnull + "-nonexistent-out")
    assert_one_line_error(proc, "dynamic dimensions", "--input-shape x=1,3,")


def test_declared_shape_fixes_them_and_onnxruntime_is_the_reference(rapidocr):
    import onnxruntime as ort

    src = load_source(str(CLASSIFIER), inputs=[InputSpec("x", [1, 3, 48, 192])])
    assert src.framework == "onnx" and src.kind == "onnx"
    assert [i.to_dict() for i in src.inputs] == [{"name": "x", "shape": [1, 3, 48, 192], "dtype": "float32"}]
    assert src.info["opset"] == {"ai.onnx": 11} and src.info["dynamic_inputs"] == {"x": ["?", 3, "?", "?"]}
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 48, 192)).astype(np.float32)
    want = ort.InferenceSession(str(CLASSIFIER), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = src.predict([x])[0]
    np.testing.assert_array_equal(got, want)
    assert got.shape == (3, 2) and np.allclose(got.sum(axis=1), 1, atol=1e-5)


def test_wrong_input_name_lists_the_real_ones(rapidocr):
    with pytest.raises(EdgekitError) as info:
        load_source(str(CLASSIFIER), inputs=[InputSpec("image", [1, 3, 48, 192])])
    assert "no input named 'image'" in info.value.message and "x" in info.value.message


def test_a_declared_static_dim_must_match(rapidocr):
    with pytest.raises(EdgekitError) as info:
        load_source(str(CLASSIFIER), inputs=[InputSpec("x", [1, 1, 48, 192])])
    assert "does not match" in info.value.message


def test_modes_onnx2tf_does_not_make_are_refused_before_building(rapidocr, tmp_path):
    proc = run_cli(
        "build",
        "--source",
        CLASSIFIER,
        "--input-shape",
        "x=1,3,48,192",
        "-t",
        "tflite-int16x8",
        "--random-calibration",
        "-o",
        tmp_path / "out",
    )
    assert proc.returncode != 0
    assert "the onnx TFLite converter cannot write tflite-int16x8" in proc.stdout + proc.stderr


def test_layout_records_follow_the_shapes():
    recs = layout.derive([[1, 3, 48, 192], [1, 10]], [[1, 48, 192, 3], [1, 10]], ["x", "t"])
    assert recs == [{"name": "x", "layout": "NHWC", "transposed_from": "NCHW", "perm": [0, 2, 3, 1]}, None]
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    t = np.ones((2, 10), np.float32)
    fed = layout.to_artifact([x, t], recs)
    assert fed[0].shape == (2, 4, 5, 3) and fed[0][1, 2, 3, 0] == x[1, 0, 2, 3] and fed[1] is t
    assert layout.to_artifact([x], None)[0] is x
    tensors = layout.annotate([{"name": "x", "shape": [1, 48, 192, 3]}, {"name": "t", "shape": [1, 10]}], recs, ["x", "t"])
    assert tensors[0]["layout"] == "NHWC" and tensors[0]["transposed_from"] == "NCHW" and "layout" not in tensors[1]
    assert layout.derive([[1, 3, 8, 8]], [[1, 8, 8, 3]], ["x"])[0]["layout"] == "NHWC"
    assert layout.derive([[1, 2, 16]], [[1, 16, 2]], ["a"])[0] == {
        "name": "a",
        "layout": "NWC",
        "transposed_from": "NCW",
        "perm": [0, 2, 1],
    }
    with pytest.raises(EdgekitError):
        layout.derive([[1, 3, 8, 8]], [[1, 64, 3]], ["x"])


def test_worker_renames_nodes_tensorflow_rejects(rapidocr):
    import onnx

    worker = load_worker()
    model = onnx.load(str(CLASSIFIER))
    before = [n.name for n in model.graph.node]
    assert sum("@" in n for n in before) > 100  # Paddle2ONNX names such as Softmax@0
    renamed = worker.rename_nodes(model)
    after = [n.name for n in model.graph.node]
    assert renamed["Softmax@0"] == "Softmax_0" and len(renamed) == sum(bool(worker.SAFE_NAME.search(n)) for n in before)
    assert not any(worker.SAFE_NAME.search(n) for n in after)
    named = [n for n in after if n]
    assert len(set(named)) == len(named)


def test_worker_quotes_onnx2tf_reasons(tmp_path):
    worker = load_worker()
    log = tmp_path / "onnx2tf.log"
    log.write_text(
        "W0000 noise\n\x1b[32mINFO:\x1b[0m \x1b[35monnx_op_type\x1b[0m: Reshape\x1b[35m onnx_op_name\x1b[0m: Reshape_18\n"
        '\x1b[31mERROR:\x1b[0m The trace log is below.\nTraceback (most recent call last):\n  File "x.py", line 1\n'
        '    raise ValueError("Dimension %d must be >= 0" % value)\nValueError: Dimension -1 must be >= 0\n'
        "\x1b[31mERROR:\x1b[0m Read this and deal with it.\n"
    )
    assert worker.reason_from_log(str(log)) == "ValueError: Dimension -1 must be >= 0 (converting Reshape node Reshape_18)"
    log.write_text("INFO: x\n\x1b[31mERROR:\x1b[0m FooBar OP is not yet implemented.\n")
    assert worker.reason_from_log(str(log)) == "FooBar OP is not yet implemented."
    assert "no TensorFlow equivalent" in worker.hint_for("FooBar OP is not yet implemented.")
    assert worker.channels_last_perm(4) == [0, 2, 3, 1]
