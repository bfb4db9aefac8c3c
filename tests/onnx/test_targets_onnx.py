"""The PyTorch digits example built to onnx / onnx-int8 / onnx-dynamic, checked on held-out digits."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # one export + two quantizations (~30 s), shared by every test here


def _acc(entry) -> dict:
    return entry.accuracy["outputs"][0]


@pytest.mark.parametrize("target", ["onnx", "onnx-int8", "onnx-dynamic"])
def test_built_verified_and_within_half_a_point_of_eager(digits_onnx, target):
    _, info, entries = digits_onnx
    e = entries[target]
    assert e.status == "built", e.error
    assert e.format == "onnx" and e.path.endswith(".onnx")
    acc = _acc(e)
    assert acc["reference_accuracy"] == pytest.approx(info["float_accuracy"])  # eager PyTorch on the 449 held-out digits
    assert acc["accuracy"] >= acc["reference_accuracy"] - 0.5
    assert e.accuracy["samples"] == 449
    assert e.extra["opset"] >= 18 and e.extra["exporter"] == "torch.onnx.export(dynamo=True)"
    if target == "onnx":
        assert acc["max_abs_error"] < 1e-4
    else:
        assert acc["max_abs_error"] > 1e-4  # really quantized: an int8 model is never float-exact


def test_int8_is_per_channel_qdq_calibrated_on_training_digits(digits_onnx):
    import onnx
    from onnx import numpy_helper

    _, _, entries = digits_onnx
    e = entries["onnx-int8"]
    assert e.quantization["calibration_samples"] == 300 and e.quantization["per_channel"] is True
    m = onnx.load(e.path)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") >= 4 and ops.count("DequantizeLinear") >= 8
    consts = {t.name: t for t in m.graph.initializer}
    per_channel = [
        n
        for n in m.graph.node
        if n.op_type == "DequantizeLinear" and n.input[1] in consts and numpy_helper.to_array(consts[n.input[1]]).size > 1
    ]
    assert len(per_channel) >= 3  # the conv weights' scales, one per output channel
    assert any(t.data_type == onnx.TensorProto.INT8 for t in m.graph.initializer)


def test_dynamic_has_no_calibration_and_integer_ops(digits_onnx):
    import onnx

    _, _, entries = digits_onnx
    e = entries["onnx-dynamic"]
    assert e.quantization["calibration_samples"] == 0
    ops = {n.op_type for n in onnx.load(e.path).graph.node}
    assert ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}


def test_bench_of_the_built_artifact(digits_onnx):
    from edgekit import api

    _, _, entries = digits_onnx
    r = api.bench(entries["onnx-int8"].path, threads=1, warmup=1, min_runs=3, min_time_s=0.05)
    assert r["status"] == "ok" and r["input_specs"][0]["name"] == "pixels"
    assert r["output_specs"][0]["shape"] == [1, 10]
