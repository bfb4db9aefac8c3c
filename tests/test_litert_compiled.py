"""LiteRT's CompiledModel, the second provider of the tflite format: same outputs as the Interpreter
on real models, measured by the same worker, and the result says which provider ran."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.harness.inputs import random_inputs
from edgekit.runtimes import get_runtime
from edgekit.runtimes.base import RunOptions

pytest.importorskip("ai_edge_litert.compiled_model")

# CPU models from Coral's test data (the _edgetpu twins need an Edge TPU); the LSTM has variable
# tensors, which CompiledModel does not load (tested below).
MODELS = ("mobilenet_v1_0.25_128_quant.tflite", "split_concat.tflite", "deeplabv3_mnv2_dm05_pascal_quant.tflite")


def _run(provider: str | None, path: str, image: str | None = None) -> tuple[list, list[np.ndarray]]:
    session = get_runtime("tflite", provider).load(path, RunOptions(threads=1, provider=provider))
    try:
        if image:  # a segmenter gives all-background on noise: a real photo makes the output informative
            from edgekit.harness.inputs import image_to_array

            session.set_inputs([image_to_array(image, session.inputs[0])])
        else:
            session.set_inputs(random_inputs(session.inputs, 3))
        session.invoke()
        return [s.to_dict() for s in session.inputs], [np.array(o, copy=True) for o in session.outputs()]
    finally:
        session.close()


@pytest.mark.parametrize("name", MODELS)
def test_compiled_model_outputs_equal_the_interpreters(coral_models, name):
    path = str(coral_models / name)
    image = str(coral_models.parent / "images" / "dog_segmentation.bmp") if name.startswith("deeplab") else None
    specs_i, out_i = _run(None, path, image)
    specs_c, out_c = _run("litert-compiled", path, image)
    assert specs_c == specs_i  # same names, shapes, dtypes and quantization: the same inputs
    assert len(out_c) == len(out_i) > 0
    for a, b in zip(out_c, out_i):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert any(np.any(o != o.flat[0]) for o in out_i)  # not a constant output that would match anything


def test_bench_with_runtime_litert_compiled_records_the_provider(coral_models):
    from edgekit import api

    path = str(coral_models / "mobilenet_v1_0.25_128_quant.tflite")
    result = api.bench(path, provider="litert-compiled", threads=1, warmup=1, min_runs=5, min_time_s=0.0)
    assert result["status"] == "ok"
    assert result["runtime"]["name"] == "litert-compiled" and result["runtime"]["api"] == "CompiledModel"
    assert result["latency_ms"]["n"] >= 5 and result["latency_ms"]["p50"] > 0
    default = api.bench(path, threads=1, warmup=1, min_runs=5, min_time_s=0.0)
    assert default["runtime"]["name"] == "ai_edge_litert"  # no --runtime: the Interpreter, as before


def test_variable_tensors_are_one_clear_line(coral_models):
    from tests.conftest import assert_one_line_error, run_cli

    proc = run_cli(
        "bench",
        str(coral_models / "keras_lstm_mnist_ptq.tflite"),
        "--runtime",
        "litert-compiled",
        "--min-runs",
        "1",
        "--min-time",
        "0",
        "--warmup",
        "0",
        "--no-history",
    )
    line = assert_one_line_error(proc, "variable tensors")
    assert "omit --runtime litert-compiled" in line
