"""edgekit bench of .onnx files on onnxruntime, in the same worker as every other format."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit import api
from edgekit.errors import EdgekitError
from edgekit.results import schema
from tests.conftest import assert_one_line_error, run_cli
from tests.onnx.conftest import CLS, DET, REC

FAST = dict(warmup=1, min_runs=3, min_time_s=0.05)

# The README's shapes; the detector's documented 1x3x640x640 is replaced by 1x3x320x320 (a multiple
# of 32 as it needs, a quarter of the compute) to keep the suite lean.
SHAPES = {CLS: ([1, 3, 48, 192], [1, 2]), DET: ([1, 3, 320, 320], [1, 1, 320, 320]), REC: ([1, 3, 48, 320], [1, 40, 6625])}


def _direct(path: str, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


@pytest.mark.parametrize("name", [CLS, DET, REC])
def test_rapidocr_models_bench_at_their_shapes(rapidocr, tmp_path, name):
    shape, out_shape = SHAPES[name]
    path = str(rapidocr / name)
    saved = str(tmp_path / "out.npz")
    result = api.bench(path, threads=2, input_shapes={"x": shape}, save_outputs=saved, **FAST)
    schema.validate(result)
    assert result["status"] == "ok"
    assert result["artifact"]["format"] == "onnx"
    assert result["runtime"]["name"] == "onnxruntime" and result["runtime"]["version"]
    assert result["runtime"]["threads"] == 2
    assert [d["name"] for d in result["delegates"]] == ["CPUExecutionProvider"]
    assert result["input_specs"][0]["shape"] == shape and result["input_specs"][0]["shape_signature"][0] == -1
    assert result["output_specs"][0]["shape"] == out_shape
    assert result["method"]["input_shapes"] == {"x": shape}
    assert result["method"]["output_check"]["status"] == "ok"
    lat = result["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert result["first_inference_ms"] > 0 and result["init_ms"] > 0
    assert result["memory"]["peak_rss_bytes"] > result["memory"]["rss_start_bytes"] > 0
    # The outputs are onnxruntime's own on the same inputs (the worker's seeded random inputs).
    from edgekit.harness.inputs import random_inputs
    from edgekit.runtimes.base import TensorSpec

    (x,) = random_inputs([TensorSpec(name="x", shape=shape, dtype="float32")], 0)
    with np.load(saved) as z:
        np.testing.assert_array_equal(z["output_0"], _direct(path, x)[0])


def test_dynamic_input_without_a_shape_is_one_line(rapidocr):
    proc = run_cli("bench", str(rapidocr / CLS), "--min-time", "0.05")
    line = assert_one_line_error(proc, "input 'x'", "dynamic dimensions", "--input-shape x=1,3,1,1")
    assert "Traceback" not in line


def test_threads_reach_the_session(rapidocr):
    from edgekit.runtimes import get_runtime
    from edgekit.runtimes.base import RunOptions

    rt = get_runtime("onnx")
    session = rt.load(str(rapidocr / CLS), RunOptions(threads=3, input_shapes={"x": [1, 3, 48, 192]}))
    opts = session.sess.get_session_options()
    assert opts.intra_op_num_threads == 3 and opts.inter_op_num_threads == 1
    with pytest.raises(EdgekitError, match="has no input of that name"):
        rt.load(str(rapidocr / CLS), RunOptions(input_shapes={"image": [1, 3, 48, 192]}))
    with pytest.raises(EdgekitError, match="--no-xnnpack does not apply"):
        rt.load(str(rapidocr / CLS), RunOptions(xnnpack=False, input_shapes={"x": [1, 3, 48, 192]}))


def test_format_is_detected_from_bytes_and_name(rapidocr, tmp_path):
    from edgekit.runtimes import detect_format

    assert detect_format(str(rapidocr / CLS)) == "onnx"
    odd = tmp_path / "model.onnx"
    odd.write_bytes(b"\x00\x00\x00\x00 not protobuf")
    with pytest.raises(EdgekitError, match="is not an ONNX model") as exc:
        detect_format(str(odd))
    assert "re-export or re-download" in exc.value.hint
