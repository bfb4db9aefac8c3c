"""Models with dynamic input shapes: --input-shape (and --input arrays) resize them before allocation.

The test model is an audio front end like the one a user reported: input ``audio`` with signature
[-1, -1] (placeholder [1, 1]) -> EXPAND_DIMS x2 -> a 400-tap CONV_2D with stride 160 (VALID) ->
MEAN. At its placeholder length of 1 sample the convolution has no valid output, and XNNPACK fails
to prepare ("XNNPack delegate failed to reshape runtime"): exactly what the user saw. Built with
the flatbuffer builder in milliseconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit import api
from edgekit.errors import EdgekitError
from edgekit.results import schema
from tests.conftest import assert_one_line_error, run_cli

pytest.importorskip("ai_edge_litert")

FAST = dict(warmup=1, min_runs=3, min_time_s=0.0)


def audio_frontend(path):
    from tests.inspect.modelgen import Graph

    g = Graph()
    x = g.tensor("audio", [1, 1], "float32", signature=[-1, -1])
    a1 = g.tensor("axis1", [], "int32", data=np.array(1, dtype="int32"))
    a2 = g.tensor("axis2", [], "int32", data=np.array(-1, dtype="int32"))
    e1 = g.tensor("e1", [1, 1, 1], "float32", signature=[-1, 1, -1])
    g.op("EXPAND_DIMS", [x, a1], [e1])
    e2 = g.tensor("e2", [1, 1, 1, 1], "float32", signature=[-1, 1, -1, 1])
    g.op("EXPAND_DIMS", [e1, a2], [e2])
    w = g.tensor("filt", [16, 1, 400, 1], "float32", data=np.random.default_rng(0).normal(size=(16, 1, 400, 1)).astype("float32"))
    b = g.tensor("bias", [16], "float32", data=np.zeros(16, dtype="float32"))
    c = g.tensor("frames", [1, 1, 1, 16], "float32", signature=[-1, 1, -1, 16])
    g.op(
        "CONV_2D",
        [e2, w, b],
        [c],
        {
            "_type": "Conv2DOptions",
            "padding": 1,
            "strideW": 160,
            "strideH": 1,
            "dilationWFactor": 1,
            "dilationHFactor": 1,
            "fusedActivationFunction": 1,
        },
    )
    axes = g.tensor("axes", [2], "int32", data=np.array([1, 2], dtype="int32"))
    out = g.tensor("features", [1, 16], "float32", signature=[-1, 16])
    g.op("MEAN", [c, axes], [out], {"_type": "ReducerOptions", "keepDims": False})
    g.inputs, g.outputs = [x], [out]
    return g.save(path)


@pytest.fixture(scope="module")
def dyn_model(tmp_path_factory):
    return audio_frontend(tmp_path_factory.mktemp("dyn") / "audio_frontend.tflite")


def test_placeholder_shape_fails_with_a_hint_naming_the_option(dyn_model):
    proc = run_cli("bench", dyn_model, "--min-runs", "3", "--min-time", "0")
    line = assert_one_line_error(proc, "dynamic input", "'audio'", "--input-shape audio=")
    assert "reshape runtime" in line  # the runtime's own reason is kept


def test_input_shape_resizes_before_allocation(dyn_model):
    r = api.bench(str(dyn_model), input_shapes=["audio=1,16000"], **FAST)
    schema.validate(r)
    (spec,) = r["input_specs"]
    assert spec["shape"] == [1, 16000] and spec["shape_signature"] == [-1, -1]
    assert r["method"]["input_shapes"] == {"audio": [1, 16000]}
    assert r["settings"]["input_shapes"] == {"audio": [1, 16000]}
    assert r["output_specs"][0]["shape"] == [1, 16]
    assert r["method"]["output_check"]["status"] == "ok"
    # a longer signal is more work: (16000-400)/160+1 = 98 frames vs (64000-400)/160+1 = 398
    r4 = api.bench(str(dyn_model), input_shapes={"audio": [1, 64000]}, threads=1, warmup=2, min_runs=20, min_time_s=0.2)
    r1 = api.bench(str(dyn_model), input_shapes={"audio": [1, 16000]}, threads=1, warmup=2, min_runs=20, min_time_s=0.2)
    assert r4["latency_ms"]["p50"] > 1.5 * r1["latency_ms"]["p50"]


def test_shape_inferred_from_input_arrays(dyn_model, tmp_path):
    x = np.random.default_rng(1).uniform(-1, 1, (1, 8000)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    r = api.bench(str(dyn_model), inputs={"kind": "file", "path": str(tmp_path / "a.npy")}, **FAST)
    assert r["input_specs"][0]["shape"] == [1, 8000]
    np.savez(tmp_path / "named.npz", audio=x[0, :4000][None])
    r = api.bench(str(dyn_model), inputs={"kind": "file", "path": str(tmp_path / "named.npz")}, **FAST)
    assert r["input_specs"][0]["shape"] == [1, 4000]
    # the outputs are the model's on that data: compare with a direct interpreter run
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "o.npz"
    api.bench(str(dyn_model), inputs={"kind": "file", "path": str(tmp_path / "a.npy")}, save_outputs=str(out), **FAST)
    interp = Interpreter(model_path=str(dyn_model))
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], [1, 8000])
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    want = interp.get_tensor(interp.get_output_details()[0]["index"])
    with np.load(out) as z:
        np.testing.assert_allclose(z["output_0"], want, rtol=1e-5, atol=1e-6)


def test_unknown_name_lists_the_real_names(dyn_model):
    proc = run_cli("bench", dyn_model, "--input-shape", "audoi=1,16000")
    assert_one_line_error(proc, "no input of that name", "'audio'")
    proc = run_cli("bench", dyn_model, "--input-shape", "audio=1,16000,1")
    assert_one_line_error(proc, "3 dimension(s)", "give all 2 dimensions")
    proc = run_cli("bench", dyn_model, "--input-shape", "audio=1,-5")
    assert_one_line_error(proc, "not a shape")
    proc = run_cli("bench", dyn_model, "--input-shape", "1,16000")
    assert_one_line_error(proc, "NAME=DIMS")


def test_unknown_name_on_a_fixed_real_model(coral_models):
    proc = run_cli("bench", coral_models / "mobilenet_v1_0.25_128_quant.tflite", "--input-shape", "x=1,96,96,3")
    assert_one_line_error(proc, "no input of that name", "'input'")


def test_bench_and_run_cli_take_the_option(dyn_model, tmp_path):
    proc = run_cli("bench", dyn_model, "--input-shape", "audio=1,16000", "--min-runs", "3", "--min-time", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["input_specs"][0]["shape"] == [1, 16000]
    np.save(tmp_path / "a.npy", np.random.default_rng(2).uniform(-1, 1, (1, 16000)).astype(np.float32))
    proc = run_cli("run", dyn_model, "--input", tmp_path / "a.npy", "--json")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("run", dyn_model, "--input", tmp_path / "a.npy", "--input-shape", "audio=1,16000", "--json")
    assert proc.returncode == 0, proc.stderr


def test_placeholder_run_of_a_tolerant_dynamic_model_is_noted(tmp_path):
    """A dynamic model that does run at its placeholder shape: the result says what it measured."""
    from tests.inspect.modelgen import Graph

    g = Graph()
    x = g.tensor("x", [1, 1], "float32", signature=[-1, -1])
    c = g.tensor("c", [1], "float32", data=np.array([0.5], dtype="float32"))
    y = g.tensor("y", [1, 1], "float32", signature=[-1, -1])
    g.op("MUL", [x, c], [y], {"_type": "MulOptions"})
    g.inputs, g.outputs = [x], [y]
    path = g.save(tmp_path / "mul.tflite")
    r = api.bench(str(path), **FAST)
    assert any("placeholder shape [1, 1]" in n and "--input-shape x=" in n for n in r["notes"])
    r = api.bench(str(path), input_shapes=["x=4,256"], **FAST)
    assert not r["notes"] and r["input_specs"][0]["shape"] == [4, 256]


def test_device_spec_and_probe_carry_the_shape(dyn_model):
    """The spec a device worker receives holds the shapes; the probe doctor runs resizes too."""
    spec = api.bench_spec(str(dyn_model), input_shapes=["audio=1,16000"])
    assert spec["input_shapes"] == {"audio": [1, 16000]}
    from edgekit.harness import probe

    assert probe.load(str(dyn_model), "tflite")["ok"] is False
    ok = probe.load(str(dyn_model), "tflite", input_shapes={"audio": [1, 16000]})
    assert ok["ok"] is True and ok["dynamic_inputs"] == {"audio": [-1, -1]}
    assert "no input named" in probe.load(str(dyn_model), "tflite", input_shapes={"nope": [1]})["error"]


def test_parse_input_shapes():
    assert api.parse_input_shapes(["serving_default_x:0=1,3", "y=2x2"]) == {"serving_default_x:0": [1, 3], "y": [2, 2]}
    with pytest.raises(EdgekitError, match="twice"):
        api.parse_input_shapes(["a=1", "a=2"])


def test_doctor_loads_a_dynamic_model_at_the_given_shape(dyn_model):
    """doctor's load check fails at the placeholder shape and passes with --input-shape (issue 13, item 5)."""
    bad = run_cli("doctor", dyn_model, "--json")
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and not report["artifacts"][0]["ok"]
    assert "reshape runtime" in json.dumps(report["artifacts"][0]["problems"])
    good = run_cli("doctor", dyn_model, "--input-shape", "audio=1,1280", "--json")
    report = json.loads(good.stdout)
    assert good.returncode == 0, good.stderr
    assert report["artifacts"][0]["ok"] and report["artifacts"][0]["load"].get("error") is None
    wrong = run_cli("doctor", dyn_model, "--input-shape", "speech=1,1280")
    assert_one_line_error(wrong, "speech", "audio")
