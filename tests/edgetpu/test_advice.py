"""The preflight's advice names the real cause: variables (CALL_ONCE), control flow, a dynamic batch,
a float model, an unsupported op; and the check command prints the summary before any table."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from edgekit.edgetpu import advice
from edgekit.edgetpu.preflight import check, predict
from edgekit.inspect.tflite_model import parse_bytes
from tests.conftest import assert_one_line_error, run_cli
from tests.edgetpu.graphs import conv, resource, subgraph_of, to_bytes
from tests.inspect.modelgen import Graph, conv_model

SHAPE = [1, 8, 8, 4]


def _all_advice(pre) -> str:
    return " | ".join([pre.fix] + [p["message"] + " " + p["hint"] for p in pre.problems] + [o.hint for o in pre.ops])


def test_call_once_variables_are_named_as_the_cause_not_control_flow():
    """A streaming model keeping its state in resource variables, initialised by CALL_ONCE."""
    g = Graph()
    g.op("CALL_ONCE", [], [], {"_type": "CallOnceOptions", "initSubgraphIndex": 1})
    h = resource(g, "state_handle")
    g.op("VAR_HANDLE", [], [h])
    state = g.tensor("state", SHAPE, "int8")
    g.op("READ_VARIABLE", [h], [state])
    x = g.tensor("frame", SHAPE, "int8")
    s = g.tensor("sum", SHAPE, "int8")
    g.op("ADD", [x, state], [s])
    y = conv(g, s, "out")
    g.op("ASSIGN_VARIABLE", [h, y], [])
    g.inputs, g.outputs = [x], [y]
    init = subgraph_of(g)
    h1 = resource(init, "state_handle")
    init.op("VAR_HANDLE", [], [h1])
    init.op("ASSIGN_VARIABLE", [h1, init.tensor("zeros", SHAPE, "int8", data=np.zeros(SHAPE, "int8"))], [])
    pre = predict(parse_bytes(to_bytes(g, [init])))
    cause = pre.problems[0]
    assert cause["cause"] == "variables" and cause["blocking"]
    assert "CALL_ONCE" in cause["message"] and "READ_VARIABLE" in cause["message"]
    assert "explicit inputs and outputs" in pre.fix
    text = _all_advice(pre)
    assert "IF" not in text.replace("IF/", "") and "WHILE" not in text and "control flow" not in text
    # no real pair with two subgraphs: what maps is uncertain; the variable ops are on the CPU for sure
    assert not pre.ready and [(o.name, o.placement) for o in pre.uncertain] == [("ADD", "tpu"), ("CONV_2D", "tpu")]
    assert all(o.certain for o in pre.ops if o.name in ("CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"))
    assert "resource variables" in pre.summary()


def test_if_control_flow_is_named():
    g = Graph()
    cond = g.tensor("cond", [1], "bool")
    x = g.tensor("x", SHAPE, "int8")
    y = g.tensor("y", SHAPE, "int8")
    g.op("IF", [cond, x], [y], {"_type": "IfOptions", "thenSubgraphIndex": 1, "elseSubgraphIndex": 2})
    g.inputs, g.outputs = [cond, x], [y]
    branches = []
    for name in ("then", "else"):
        b = subgraph_of(g)
        bi, bo = b.tensor(f"{name}_in", SHAPE, "int8"), b.tensor(f"{name}_out", SHAPE, "int8")
        b.op("RELU", [bi], [bo])
        b.inputs, b.outputs = [bi], [bo]
        branches.append(b)
    pre = predict(parse_bytes(to_bytes(g, branches)))
    assert pre.problems[0]["cause"] == "control-flow" and "IF x1" in pre.problems[0]["message"]
    assert "remove the control flow" in pre.fix and not pre.ready


def _keras_dynamic_batch() -> bytes:
    """What TensorFlow writes for a Keras int8 model left with batch None: every tensor [-1, ...]."""
    g = Graph()
    sig = [-1, 8, 8, 4]
    x = g.tensor("serving_default_input_layer:0", SHAPE, "int8", signature=sig)
    m = g.tensor("mul", SHAPE, "int8", signature=sig)
    g.op("MUL", [x, g.const("scale", [1], "int8")], [m], {"_type": "MulOptions"})
    y = conv(g, m, "StatefulPartitionedCall:0", signature=sig)
    g.inputs, g.outputs = [x], [y]
    return to_bytes(g, signatures=[("serving_default", 0, {"input_layer": x}, {"output_0": y})])


def test_dynamic_batch_suggests_the_exact_static_rebuild():
    pre = predict(parse_bytes(_keras_dynamic_batch()))
    assert pre.tpu_ops == 0 and not pre.ready
    cause = pre.problems[0]
    assert cause["cause"] == "dynamic-shape" and "batch -1" in cause["message"]
    assert "'input_layer' [-1, 8, 8, 4]" in cause["message"] and "2 of 2 ops" in cause["message"]
    assert pre.fix == (
        "rebuild with a static shape: edgekit build --source YOUR_MODEL -t tflite-int8 -t edgetpu "
        "--input-shape input_layer=1,8,8,4"
    )
    text = _all_advice(pre)
    assert "sits at the end" not in text and advice.NOT_QUANTIZED_HINT not in text  # the issue's wrong advice
    assert pre.first_blocking.index == 0 and pre.first_blocking.rule == "R2" and not pre.tail_only


def test_dynamic_spatial_dimensions_without_a_signature():
    g = Graph()
    x = g.tensor("serving_default_x:0", [1, 1, 1, 3], "int8", signature=[1, -1, -1, 3])
    y = g.tensor("y", [1, 1, 1, 3], "int8", signature=[1, -1, -1, 3])
    g.op("RELU", [x], [y])
    g.inputs, g.outputs = [x], [y]
    pre = predict(parse_bytes(g.to_bytes()))
    assert "--input-shape 'x=1,?,?,3'" in pre.fix and "in place of each ?" in pre.fix
    assert "dynamic dimensions" in pre.problems[0]["message"]


def test_float_model_is_not_quantized_but_a_float_input_is_not():
    pre = predict(parse_bytes(conv_model(dtype="float32", per_channel=False).to_bytes()))
    cause = pre.problems[0]
    assert cause["cause"] == "not-quantized" and cause["message"].startswith("Model not quantized: 5 of 5")
    assert pre.fix == advice.NOT_QUANTIZED_HINT
    # one float input converted in front of an int8 graph: 8-bit tensors are the majority, no such claim
    g = Graph()
    x = g.tensor("x", SHAPE, "float32")
    q = g.tensor("q", SHAPE, "int8")
    g.op("QUANTIZE", [x], [q])
    y = conv(g, conv(g, q, "c1"), "c2")
    g.inputs, g.outputs = [x], [y]
    pre = predict(parse_bytes(g.to_bytes()))
    assert [p["cause"] for p in pre.problems] == ["float-input"] and pre.ready


def test_unsupported_op_advice_names_the_op():
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    c = conv(g, x, "c1")
    d = g.tensor("gathered", SHAPE, "int8")
    g.op("GATHER_ND", [c, g.tensor("idx", [1, 1], "int32", data=np.zeros((1, 1), "int32"))], [d])
    y = conv(g, d, "c2")
    g.inputs, g.outputs = [x], [y]
    pre = predict(parse_bytes(g.to_bytes()))
    assert "#1 GATHER_ND (R5: GATHER_ND is not supported by the Edge TPU)" in pre.summary()
    assert "replace it with a supported op" in pre.fix and pre.first_blocking.certain


def test_check_prints_the_summary_first_and_the_table_only_with_ops(coral_models):
    model = coral_models / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    plain = run_cli("edgetpu", "check", model)
    assert plain.returncode == 1
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("Edge TPU preflight") and lines[1].strip().startswith("ops: 64 of 72 map")
    assert any(l.strip().startswith("first blocking op: #64 RESIZE_BILINEAR") for l in lines[:4])
    assert any(l.strip().startswith("fix: upsample in smaller steps") for l in lines[:6])
    assert "per-op placement (" not in plain.stdout and len(lines) < 15
    full = run_cli("edgetpu", "check", model, "--ops")
    assert full.stdout.index("fix:") < full.stdout.index("per-op placement (") and "ARG_MAX" in full.stdout
    doc = json.loads(run_cli("edgetpu", "check", model, "--json").stdout)
    assert len(doc["ops"]) == 72 and doc["ops"][70]["role"] == "after-segment" and doc["uncertain_ops"] == []
    assert doc["fix"].startswith("upsample") and "depends on the segment" in doc["placement_model"]


def test_check_escapes_model_strings(tmp_path):
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    y = g.tensor("y", SHAPE, "int8")
    g.op("[bold red]Evil\x1b[2J", [x], [y], custom=True)
    g.inputs, g.outputs = [x], [y]
    proc = run_cli("edgetpu", "check", g.save(tmp_path / "evil.tflite"), "--ops")
    assert "\x1b[2J" not in proc.stdout and "[bold red]Evil" in proc.stdout
    line = assert_one_line_error(proc, "not Edge TPU ready", "[bold red]Evil?[2J")
    assert "\x1b" not in proc.stderr, line


_CONVERT = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
out = sys.argv[1]
def rep(shape):
    return lambda: ([np.random.rand(*shape).astype("float32")] for _ in range(8))
def int8(conv, shape, io):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep(shape)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = io
    return conv.convert()
inp = tf.keras.Input((32, 32, 3), name="input_layer")  # batch left as None: the issue's Keras case
x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
x = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.layers.DepthwiseConv2D(3)(x))
m = tf.keras.Model(inp, tf.keras.layers.Dense(10, activation="softmax")(x))
open(os.path.join(out, "dynamic.tflite"), "wb").write(int8(tf.lite.TFLiteConverter.from_keras_model(m), (1, 32, 32, 3), tf.int8))
class Streaming(tf.Module):  # state kept in a resource variable, as streaming audio models do
    def __init__(self):
        self.state = tf.Variable(tf.zeros([1, 8]))
        self.w = tf.constant(np.random.rand(8, 8).astype("float32"))
    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    def __call__(self, x):
        s = tf.nn.relu(tf.matmul(x + self.state, self.w))
        self.state.assign(s)
        return s
s = Streaming()
conv = tf.lite.TFLiteConverter.from_concrete_functions([s.__call__.get_concrete_function()], s)
conv.experimental_enable_resource_variables = True
open(os.path.join(out, "stateful.tflite"), "wb").write(int8(conv, (1, 8), tf.int8))
"""


@pytest.mark.slow
@pytest.mark.tf
def test_advice_on_real_converter_output(tmp_path):
    """The same causes in what TensorFlow's converter really writes (names, CALL_ONCE, signatures)."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed (pip install 'edgekit[all]')")
    proc = subprocess.run([sys.executable, "-c", _CONVERT, str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dyn = check(str(tmp_path / "dynamic.tflite"))
    assert dyn.problems[0]["cause"] == "dynamic-shape" and dyn.tpu_ops == 0
    assert dyn.fix.endswith("--input-shape input_layer=1,32,32,3")
    state = check(str(tmp_path / "stateful.tflite"))
    assert [o.name for o in state.ops][:3] == ["CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE"]
    assert state.problems[0]["cause"] == "variables" and "explicit inputs and outputs" in state.fix
    assert "IF/WHILE" not in _all_advice(state) and not state.ready
