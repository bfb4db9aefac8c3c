"""The Edge TPU preflight against ground truth (compiled pairs) and against each rule on small graphs."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from edgekit.edgetpu import placement, rules
from edgekit.edgetpu.preflight import check, classify_op, ground_truth, predict
from edgekit.inspect.tflite_model import load, parse_bytes
from tests.conftest import assert_one_line_error, run_cli
from tests.inspect.modelgen import Graph, conv_model


def _pairs(coral):
    """Every CPU model with its compiled twin, in models/ and more_models/ (12 pairs)."""
    pairs = []
    for folder in ("models", "more_models"):
        for compiled in sorted((coral / folder).glob("*_edgetpu.tflite")):
            cpu = compiled.with_name(compiled.name.replace("_edgetpu.tflite", ".tflite"))
            if cpu.exists():
                pairs.append((cpu, compiled))
    return pairs


def test_preflight_agrees_op_by_op_with_all_12_pairs(coral, capsys):
    pairs = _pairs(coral)
    assert len(pairs) == 12, pairs
    lines, agree_pairs, agree_ops, total_ops, unsure = [], 0, 0, 0, 0
    disagreements, mapped_types = [], set()
    for cpu, compiled in pairs:
        cpu_model = load(str(cpu))
        pre = predict(cpu_model)
        truth = set(ground_truth(cpu_model, load(str(compiled))))
        predicted = {o.index for o in pre.ops if o.placement == "cpu"}
        # per position: every op's predicted placement against the compiler's
        wrong = [(o.index, o.name, o.placement) for o in pre.ops if (o.index in truth) != (o.placement == "cpu")]
        # per op type: the CPU ops left in the compiled file, counted by name
        truth_types = Counter(cpu_model.main.operators[i].name for i in truth)
        pred_types = Counter(cpu_model.main.operators[i].name for i in predicted)
        ok = not wrong and truth_types == pred_types and len(pre.ops) == len(cpu_model.main.operators)
        agree_pairs += ok
        agree_ops += len(pre.ops) - len(wrong)
        total_ops += len(pre.ops)
        unsure += len(pre.uncertain)
        mapped_types |= {op.name for op in cpu_model.main.operators if op.index not in truth}
        if not ok:
            disagreements.append((cpu.name, wrong))
        # the pairs cannot tell data flow from execution order: both readings must agree here
        order = placement.by_execution_order(cpu_model.main, [classify_op(cpu_model.main, op) for op in cpu_model.main.operators])
        assert [on for on, _ in order] == [o.placement == "tpu" for o in pre.ops], cpu.name
        lines.append(
            f"  {cpu.name}: {len(pre.ops) - len(wrong)}/{len(pre.ops)} ops agree; "
            f"CPU ops predicted {dict(pred_types) or '{}'} vs compiled {dict(truth_types) or '{}'}"
        )
    summary = (
        f"preflight vs edgetpu_compiler ground truth: {agree_pairs}/{len(pairs)} pairs, "
        f"{agree_ops}/{total_ops} ops agree, {unsure} predictions marked uncertain"
    )
    with capsys.disabled():
        print("\n" + summary + "\n" + "\n".join(lines))
    assert not disagreements, disagreements
    assert agree_ops == total_ops == 460 and unsure == 0
    # the evidence record says "mapped in a real pair" for exactly the op types the pairs map
    assert rules.PAIR_MAPPED == mapped_types


def test_preflight_runs_on_every_model(coral, coral_models):
    paths = sorted(coral_models.glob("*.tflite")) + sorted((coral / "more_models").glob("*.tflite"))
    assert len(paths) == 27
    for path in paths:
        pre = check(str(path))
        json.dumps(pre.to_dict(), allow_nan=False)
        assert len(pre.ops) == len(load(str(path)).main.operators)
    deeplab = check(str(coral_models / "deeplabv3_mnv2_dm05_pascal_quant.tflite"))
    assert not deeplab.ready and deeplab.first_blocking.index == 64
    assert deeplab.first_blocking.name == "RESIZE_BILINEAR" and not deeplab.tail_only
    split = [p for p in deeplab.problems if p["cause"] == "split"]
    assert split and "5 later supported op(s)" in split[0]["message"]
    assert [o.role for o in deeplab.ops[64:]] == ["ends-segment"] + ["after-segment"] * 7
    posenet = check(str(coral_models / "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"))
    assert posenet.ready and posenet.tail_only and "fine" in posenet.fix
    ssd = check(str(coral_models / "ssd_mobilenet_v1_coco_quant_postprocess_head_layers.tflite"))
    assert ssd.cpu_op_names() == [(16, "TFLite_Detection_PostProcess")]
    compiled = check(str(coral_models / "ssd_mobilenet_v2_coco_quant_postprocess_segment_3_of_4_edgetpu.tflite"))
    assert compiled.already_compiled and compiled.tpu_ops == 1 and compiled.cpu_ops == 3


def _chain(ops: list[tuple], dtype="int8", shape=(1, 8, 8, 4)) -> Graph:
    """x -> op1 -> op2 ... each (name, kwargs) with one activation in and one out of ``shape``."""
    g = Graph()
    cur = g.tensor("x", list(shape), dtype)
    g.inputs = [cur]
    for i, (name, kw) in enumerate(ops):
        out_dtype = kw.pop("out_dtype", dtype)
        in_t = kw.pop("in_tensor", None)
        nxt = g.tensor(f"t{i}", kw.pop("out_shape", list(shape)), out_dtype, signature=kw.pop("signature", None))
        g.op(name, [in_t if in_t is not None else cur] + kw.pop("extra_inputs", []), [nxt], **kw)
        cur = nxt
    g.outputs = [cur]
    return g


def _placements(g: Graph):
    pre = predict(parse_bytes(g.to_bytes()))
    return pre, [(o.name, o.placement, o.rule) for o in pre.ops]


def test_rule_R1_float_op_in_the_middle_splits_the_graph():
    g = _chain([("RELU", {}), ("DEQUANTIZE", {"out_dtype": "float32"}), ("RELU", {}), ("LOGISTIC", {})])
    # after the float DEQUANTIZE, RELU/LOGISTIC see float tensors: both rule themselves out too
    pre, placed = _placements(g)
    assert placed[0] == ("RELU", "tpu", None)
    assert placed[1][1:] == ("cpu", "R5")  # DEQUANTIZE is not an Edge TPU op at all
    assert all(p[1] == "cpu" for p in placed[2:])
    g2 = _chain([("RELU", {}), ("MUL", {"out_dtype": "float32"}), ("RELU", {"out_dtype": "int8"}), ("RELU", {})])
    pre2, placed2 = _placements(g2)
    assert placed2[1] == ("MUL", "cpu", "R1")
    assert [p[2] for p in placed2[2:]] == ["R1", "R6"]  # a float-input RELU (R1), then forced by the segment end
    assert not pre2.ready


def test_rule_R2_dynamic_shape_and_R4_rank():
    g = _chain([("RELU", {"signature": [-1, 8, 8, 4]}), ("RELU", {})])
    _, placed = _placements(g)
    assert placed[0] == ("RELU", "cpu", "R2")
    g = _chain([("RELU", {})], shape=(2, 3, 8, 8, 4))
    _, placed = _placements(g)
    assert placed[0] == ("RELU", "cpu", "R4")
    ok = _chain([("RELU", {})], shape=(1, 1, 8, 8, 4))  # only the 3 innermost dims > 1: fine
    assert _placements(ok)[1][0][1] == "tpu"


def test_rule_R5_custom_op_in_the_middle_and_R7_newer_op_version():
    g = _chain([("RELU", {}), ("MyCustomOp", {"custom": True}), ("RELU", {})])
    pre, placed = _placements(g)
    assert placed == [("RELU", "tpu", None), ("MyCustomOp", "cpu", "R5"), ("RELU", "cpu", "R6")]
    assert pre.first_blocking.index == 1 and not pre.tail_only
    g = _chain([("RELU", {}), ("QUANTIZE", {"version": 3})])
    pre, placed = _placements(g)
    assert placed[1] == ("QUANTIZE", "cpu", "R7")
    assert any(p["rule"] == "R7" and "QUANTIZE v3" in p["message"] for p in pre.problems)
    assert pre.tail_only and pre.ready  # a QUANTIZE at the end is not a compute op


def test_input_side_float_quantize_stays_in_front_of_the_segment():
    g = _chain(
        [
            ("QUANTIZE", {"out_dtype": "int8"}),
            ("RELU", {}),
            (
                "CONV_2D",
                {
                    "extra_inputs": [],
                    "options": {"_type": "Conv2DOptions", "strideW": 1, "strideH": 1, "dilationWFactor": 1, "dilationHFactor": 1},
                },
            ),
        ],
        dtype="float32",
    )
    # rebuild: float input -> QUANTIZE -> int8 RELU -> int8 CONV_2D (weights added below)
    g = Graph()
    x = g.tensor("x", [1, 8, 8, 4], "float32")
    q = g.tensor("q", [1, 8, 8, 4], "int8")
    g.op("QUANTIZE", [x], [q])
    r = g.tensor("r", [1, 8, 8, 4], "int8")
    g.op("RELU", [q], [r])
    w, b = g.const("w", [4, 1, 1, 4], "int8"), g.const("b", [4], "int32", scale=0.0025)
    y = g.tensor("y", [1, 8, 8, 4], "int8")
    g.op(
        "CONV_2D",
        [r, w, b],
        [y],
        {"_type": "Conv2DOptions", "strideW": 1, "strideH": 1, "dilationWFactor": 1, "dilationHFactor": 1},
    )
    g.inputs, g.outputs = [x], [y]
    pre, placed = _placements(g)
    assert placed == [("QUANTIZE", "cpu", "R1"), ("RELU", "tpu", None), ("CONV_2D", "tpu", None)]
    assert pre.first_blocking is None and pre.ready


def test_op_conditions_dilation_fused_pool_batch_axis_and_R8_off_chip():
    g = Graph()
    x = g.tensor("x", [1, 8, 8, 4], "int8")
    w, b = g.const("w", [4, 3, 3, 4], "int8"), g.const("b", [4], "int32", scale=0.0025)
    y = g.tensor("y", [1, 8, 8, 4], "int8")
    g.op(
        "CONV_2D",
        [x, w, b],
        [y],
        {"_type": "Conv2DOptions", "strideW": 1, "strideH": 1, "dilationWFactor": 2, "dilationHFactor": 1},
    )
    g.inputs, g.outputs = [x], [y]
    pre, placed = _placements(g)
    assert placed[0][1:] == ("cpu", "R5") and "dilation" in pre.ops[0].reason
    g = _chain(
        [
            (
                "MAX_POOL_2D",
                {
                    "options": {
                        "_type": "Pool2DOptions",
                        "fusedActivationFunction": 1,
                        "filterWidth": 1,
                        "filterHeight": 1,
                        "strideW": 1,
                        "strideH": 1,
                    }
                },
            )
        ]
    )
    pre, _ = _placements(g)
    assert pre.ops[0].placement == "cpu" and "fused activation" in pre.ops[0].reason
    g = Graph()
    x = g.tensor("x", [2, 8, 4], "int8")
    pads = g.tensor("pads", [3, 2], "int32", data=np.array([[1, 0], [0, 0], [0, 0]], dtype="int32"))
    y = g.tensor("y", [3, 8, 4], "int8")
    g.op("PAD", [x, pads], [y])
    g.inputs, g.outputs = [x], [y]
    pre, _ = _placements(g)
    assert pre.ops[0].placement == "cpu" and "batch" in pre.ops[0].reason
    # R8: 9 MiB of FC weights exceed the ~8 MiB on-chip memory
    g = Graph()
    x = g.tensor("x", [1, 3072], "int8")
    w, b = g.const("w", [3072, 3072], "int8"), g.const("b", [3072], "int32", scale=0.0025)
    y = g.tensor("y", [1, 3072], "int8")
    g.op("FULLY_CONNECTED", [x, w, b], [y], {"_type": "FullyConnectedOptions"})
    g.inputs, g.outputs = [x], [y]
    pre, _ = _placements(g)
    assert pre.off_chip_predicted and any(p["rule"] == "R8" for p in pre.problems)
    small = predict(parse_bytes(conv_model().to_bytes()))
    assert not small.off_chip_predicted and small.ready


def test_check_command_exit_status_and_json(coral_models, tmp_path):
    ready = run_cli("edgetpu", "check", coral_models / "mobilenet_v1_0.25_128_quant.tflite")
    assert ready.returncode == 0, ready.stderr
    assert "Edge TPU ready" in ready.stdout
    partial = run_cli("edgetpu", "check", coral_models / "deeplabv3_mnv2_dm05_pascal_quant.tflite", "--json")
    line = assert_one_line_error(partial, "not Edge TPU ready", "RESIZE_BILINEAR")
    assert partial.returncode == 1, line
    doc = json.loads(partial.stdout)
    assert doc["first_blocking"]["index"] == 64 and doc["cpu_ops"] == 8 and doc["ready"] is False
    float_model = conv_model(dtype="float32", per_channel=False).save(tmp_path / "float.tflite")
    proc = run_cli("edgetpu", "check", float_model)
    assert_one_line_error(proc, "not Edge TPU ready", "Model not quantized", "build tflite-int8")
    assert_one_line_error(run_cli("edgetpu", "check", tmp_path / "nope.tflite"), "no such file")


def _layout_model(inner: bool, perm=(0, 2, 3, 1)) -> Graph:
    """int8 NCHW input -> TRANSPOSE(0,2,3,1) -> RELU [-> TRANSPOSE(0,3,1,2) -> RELU]: litert-torch's layout ops."""
    g = Graph()
    x = g.tensor("x", [1, 4, 8, 8])
    t = g.tensor("nhwc", [1, 8, 8, 4])
    g.op("TRANSPOSE", [x, g.tensor("perm", [4], "int32", data=list(perm))], [t])
    r = g.tensor("r", [1, 8, 8, 4])
    g.op("RELU", [t], [r])
    out = r
    if inner:
        back = g.tensor("nchw", [1, 4, 8, 8])
        g.op("TRANSPOSE", [r, g.tensor("perm2", [4], "int32", data=[0, 3, 1, 2])], [back])
        out = g.tensor("y", [1, 4, 8, 8])
        g.op("RELU", [back], [out])
    g.inputs, g.outputs = [x], [out]
    return g


def test_layout_transposes_of_a_channels_first_model_are_named_with_where_they_sit():
    pre, placed = _placements(_layout_model(inner=False))
    assert placed[0] == ("TRANSPOSE", "tpu", None) and pre.ready
    note = next(p for p in pre.problems if p["cause"] == "layout")
    assert "#0 NCHW -> NHWC at the input (predicted on the Edge TPU)" in note["message"]
    assert not note["blocking"] and note["hint"].startswith("none needed")
    pre, _ = _placements(_layout_model(inner=True))
    note = next(p for p in pre.problems if p["cause"] == "layout")
    assert "2 layout TRANSPOSE op(s)" in note["message"] and "#2 NHWC -> NCHW inside the graph" in note["message"]
    assert "ends the segment" in note["hint"] and "AdaptiveAvgPool2d" in note["hint"]
    # an ordinary (non-layout) permutation is not a layout note
    pre, _ = _placements(_layout_model(inner=False, perm=(0, 1, 3, 2)))
    assert not any(p["cause"] == "layout" for p in pre.problems)
