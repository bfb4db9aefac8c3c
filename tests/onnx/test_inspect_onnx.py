"""edgekit inspect on .onnx files: the shared RapidOCR models and a model whose MACs are counted by hand."""

from __future__ import annotations

import json

import pytest

from edgekit.inspect import onnx_model
from tests.conftest import assert_one_line_error, run_cli
from tests.onnx.conftest import CLS, DET, REC


def test_hand_counted_macs_match(hand_model):
    path, expected = hand_model
    info = onnx_model.describe(path, {"x": [1, 3, 8, 8]})
    assert info["macs"] == expected
    assert info["macs_detail"]["by_op"] == {"Conv": 1728, "ConvTranspose": 512, "Gemm": 640, "MatMul": 30}
    assert info["macs_detail"]["not_counted"] == {}
    assert info["params"] == 4 * 3 * 9 + 4 * 2 * 4 + 128 * 5 + 5 * 6  # the int64 shape vector is no weight
    (x,) = info["inputs"]
    assert x["dynamic_dims"] == [0, 2] and x["dim_names"] == ["N", None, "H", None]


def test_dynamic_inputs_without_a_shape_say_what_to_pass(hand_model):
    info = onnx_model.describe(hand_model[0])
    assert info["macs"] is None
    assert info["macs_detail"]["needs"].startswith("--input-shape x=1,3,1,8")


def test_classifier(rapidocr):
    info = onnx_model.describe(str(rapidocr / CLS), {"x": [1, 3, 48, 192]})
    assert info["opset"] == {"ai.onnx": 11}
    assert info["nodes"] == 566
    assert info["op_counts"]["Conv"] == 53 and info["op_counts"]["HardSigmoid"] == 9
    assert info["op_counts"]["Softmax"] == 1 and info["op_counts"]["MatMul"] >= 1
    (x,) = info["inputs"]
    assert x["shape"] == [-1, 3, -1, -1] and x["dynamic_dims"] == [0, 2, 3]
    assert info["outputs"][0]["dynamic_dims"] == [0]
    # Weights live in Constant nodes (no initializers): 522.9 KiB of a 571.8 KiB file.
    assert 0.85 * info["file_bytes"] < info["param_bytes"] < info["file_bytes"]
    assert info["macs_detail"]["not_counted"] == {}
    assert 15e6 < info["macs_detail"]["by_op"]["Conv"] < 18e6


def test_detector_macs_scale_with_the_image(rapidocr):
    """Fully convolutional: 4x the pixels must give 4x the MACs (an independent check of the shape
    propagation, including ConvTranspose), less a little: the squeeze-excite 1x1 convs after a
    global pool cost the same at any size."""
    small = onnx_model.describe(str(rapidocr / DET), {"x": [1, 3, 320, 320]})
    big = onnx_model.describe(str(rapidocr / DET), {"x": [1, 3, 640, 640]})
    assert small["opset"] == {"ai.onnx": 12} and small["nodes"] == 672
    assert small["op_counts"]["ConvTranspose"] >= 1 and small["op_counts"]["Resize"] >= 1
    assert small["macs_detail"]["not_counted"] == {} and small["macs_detail"]["by_op"]["ConvTranspose"] > 0
    assert 0.999 * 4 * small["macs"] < big["macs"] < 4 * small["macs"]
    assert [i["dim_names"] for i in small["inputs"]] == [
        ["p2o.DynamicDimension.0", None, "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"]
    ]


def test_recognizer_counts_matmuls_that_shape_inference_cannot(rapidocr):
    info = onnx_model.describe(str(rapidocr / REC), {"x": [1, 3, 48, 320]})
    md = info["macs_detail"]
    assert md["not_counted"] == {}
    assert md["by_op"]["MatMul"] > 10e6
    assert "onnxruntime run" in md["shapes_from"]
    assert info["outputs"][0]["shape"] == [-1, -1, 6625]
    wide = onnx_model.describe(str(rapidocr / REC), {"x": [1, 3, 48, 640]})
    assert 1.9 * info["macs"] < wide["macs"] < 2.1 * info["macs"]  # the sequence doubles with the width


def test_cli_json_and_table(rapidocr):
    proc = run_cli("inspect", str(rapidocr / CLS), "--input-shape", "x=1,3,48,192", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format"] == "onnx" and info["macs"] > 0
    table = run_cli("inspect", str(rapidocr / CLS))
    assert table.returncode == 0, table.stderr
    assert "ai.onnx 11" in table.stdout and "HardSigmoid" in table.stdout
    assert "--input-shape x=1,3,1,1" in " ".join(table.stdout.split())


def test_api_inspect_reads_through_the_record(rapidocr, hand_model):
    """api.inspect hands .onnx to the record's inspector (shapes as CLI strings or a dict) and
    .tflite to the TFLite reader."""
    from edgekit import api

    path, expected = hand_model
    assert api.inspect(path, input_shapes=["x=1,3,8,8"])["macs"] == expected
    assert api.inspect(path, input_shapes={"x": [1, 3, 8, 8]})["macs"] == expected
    assert api.inspect(path)["macs"] is None  # dynamic inputs and no shapes: nothing counted
    a = api.inspect(str(rapidocr / CLS), input_shapes=["x=1,3,48,192"])
    b = api.inspect(str(rapidocr / CLS), input_shapes=["x=1,3,48,96"])
    assert a["format"] == "onnx" and a["macs"] > b["macs"] > 0
    coral = rapidocr.parent.parent / "coral" / "models" / "mobilenet_v1_0.25_128_quant.tflite"
    assert api.inspect(str(coral))["macs"] == 13570304


def test_wrong_input_name_is_one_line(rapidocr):
    proc = run_cli("inspect", str(rapidocr / CLS), "--input-shape", "image=1,3,48,192")
    assert_one_line_error(proc, "no input of that name", "'x'")


@pytest.mark.parametrize("kind", ["torchscript", "saved_model", "keras", "truncated_onnx"])
def test_other_files_are_named_not_called_broken(tmp_path, kind):
    if kind == "torchscript":
        torch = pytest.importorskip("torch")
        path = tmp_path / "m.pt"
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
        proc = run_cli("inspect", str(path))
        line = assert_one_line_error(proc, "TorchScript", "-t ptl")
    elif kind == "saved_model":
        (tmp_path / "sm").mkdir()
        (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
        proc = run_cli("inspect", str(tmp_path / "sm"))
        line = assert_one_line_error(proc, "SavedModel", "edgekit build")
    elif kind == "keras":
        path = tmp_path / "m.h5"
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
        proc = run_cli("inspect", str(path))
        line = assert_one_line_error(proc, "Keras", "edgekit build")
    else:
        path = tmp_path / "cut.onnx"
        path.write_bytes(b"\x08\x07\x12\x0cPaddlePaddle\x3a\xff\xff\xff\x0f")
        proc = run_cli("inspect", str(path))
        line = assert_one_line_error(proc, "not a readable ONNX model")
    assert "re-download or rebuild" not in line and "not a TFLite model" not in line
