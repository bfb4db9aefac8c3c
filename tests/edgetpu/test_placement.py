"""Placement mechanisms on constructed graphs: an op the Edge TPU cannot take at the input, in the
middle, at the tail, on a side branch, and two parallel branches rejoining; TILE as compiler 16 maps it.

Each graph is small and built from code (tests/inspect/modelgen.py), so the expected placement of
every op can be stated by hand. Where the real pairs confirm the mechanism the prediction must be
certain; where they do not (parallel branches, a non-conversion op in front of the segment), it
must be marked uncertain.
"""

from __future__ import annotations

import numpy as np

from edgekit.edgetpu.preflight import predict
from edgekit.inspect.tflite_model import parse_bytes
from tests.edgetpu.graphs import axis, conv
from tests.inspect.modelgen import Graph

SHAPE = [1, 8, 8, 4]


def _predict(g: Graph):
    return predict(parse_bytes(g.to_bytes()))


def _roles(pre):
    return [(o.name, o.role, o.certain) for o in pre.ops]


def test_input_side_conversions_of_a_uint8_input_stay_in_front_of_the_segment():
    """The real pose-model case: CAST + QUANTIZE of a uint8 input, then an int8 graph that maps."""
    g = Graph()
    x = g.tensor("image", SHAPE, "uint8")
    f = g.tensor("image_float", SHAPE, "float32")
    g.op("CAST", [x], [f])
    q = g.tensor("image_q", SHAPE, "int8")
    g.op("QUANTIZE", [f], [q])
    y = conv(g, conv(g, q, "c1"), "c2")
    g.inputs, g.outputs = [x], [y]
    pre = _predict(g)
    assert _roles(pre) == [
        ("CAST", "input-side", True),
        ("QUANTIZE", "input-side", True),
        ("CONV_2D", "segment", True),
        ("CONV_2D", "segment", True),
    ]
    assert pre.tpu_ops == 2 and pre.first_blocking is None and pre.ready
    assert not any(p["cause"] == "not-quantized" for p in pre.problems)
    note = next(p for p in pre.problems if p["cause"] == "float-input")
    assert "#0 CAST, #1 QUANTIZE" in note["message"] and not note["blocking"]
    assert pre.fix.startswith("none needed") and "2 before the segment" in pre.summary()


def test_a_non_conversion_op_at_the_input_is_placed_by_data_flow_and_marked_uncertain():
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    p = g.tensor("pre", SHAPE, "int8")
    g.op("MyPreprocess", [x], [p], custom=True)
    y = conv(g, conv(g, p, "c1"), "c2")
    g.inputs, g.outputs = [x], [y]
    pre = _predict(g)
    assert [(o.role, o.certain) for o in pre.ops] == [("input-side", True), ("segment", False), ("segment", False)]
    assert "no real pair shows it for MyPreprocess" in pre.ops[1].uncertain_why
    assert [o.index for o in pre.uncertain] == [1, 2]


def test_unsupported_op_in_the_middle_ends_the_segment_and_forces_its_dependents():
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    c1 = conv(g, x, "c1")
    m = g.tensor("mid", SHAPE, "int8")
    g.op("MyMiddle", [c1], [m], custom=True)
    y = conv(g, conv(g, m, "c2"), "c3")
    g.inputs, g.outputs = [x], [y]
    pre = _predict(g)
    assert _roles(pre) == [
        ("CONV_2D", "segment", True),
        ("MyMiddle", "ends-segment", True),
        ("CONV_2D", "after-segment", True),
        ("CONV_2D", "after-segment", True),
    ]
    assert [o.rule for o in pre.ops[2:]] == ["R6", "R6"] and pre.ops[3].blocked_by == 1
    assert not pre.ready and not pre.tail_only and pre.first_blocking.index == 1
    split = next(p for p in pre.problems if p["cause"] == "split")
    assert "2 later supported op(s)" in split["message"] and pre.fix == split["hint"]


def test_unsupported_op_at_the_tail_is_fine():
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    c = conv(g, conv(g, x, "c1"), "c2")
    am = g.tensor("argmax", [1, 8, 8], "int32")
    g.op("ARG_MAX", [c, axis(g, "axis", 3)], [am], {"_type": "ArgMaxOptions", "outputType": 2})
    g.inputs, g.outputs = [x], [am]
    pre = _predict(g)
    assert _roles(pre)[-1] == ("ARG_MAX", "ends-segment", True)
    assert pre.tail_only and pre.ready and "fine" in pre.fix
    assert not any(p["cause"] == "split" for p in pre.problems)


def _side_branch(head_first: bool) -> Graph:
    """x -> c1 -> {custom head -> out2 ; c2 -> c3 -> out1}; the head listed before or after c2, c3."""
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    c1 = conv(g, x, "c1")

    def head():
        h = g.tensor("head", SHAPE, "int8")
        g.op("MyHead", [c1], [h], custom=True)
        return h

    h = head() if head_first else None
    y = conv(g, conv(g, c1, "c2"), "c3")
    h = h if head_first else head()
    g.inputs, g.outputs = [x], [y, h]
    return g


def test_a_side_branch_does_not_decide_the_placement_of_ops_that_do_not_depend_on_it():
    pre = _predict(_side_branch(head_first=True))
    # execution order: c1, MyHead, c2, c3. By order c2/c3 would be on the CPU; by data flow they map.
    assert [(o.name, o.placement) for o in pre.ops] == [
        ("CONV_2D", "tpu"),
        ("MyHead", "cpu"),
        ("CONV_2D", "tpu"),
        ("CONV_2D", "tpu"),
    ]
    assert [o.certain for o in pre.ops] == [True, True, False, False]
    assert "does not depend on it" in pre.ops[2].uncertain_why and "parallel branches" in pre.ops[2].uncertain_why
    assert pre.tail_only and pre.ready
    listed_last = _predict(_side_branch(head_first=False))  # the head last: both readings agree, all certain
    assert [o.placement for o in listed_last.ops] == ["tpu", "tpu", "tpu", "cpu"] and not listed_last.uncertain


def _rejoin(blocked_branch_first: bool) -> Graph:
    """x -> ca -> A ; x -> cb -> MyOp -> B ; ADD(A, B) -> cc."""
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")

    def branch_a():
        return conv(g, x, "ca")

    def branch_b():
        cb = conv(g, x, "cb")
        b = g.tensor("b", SHAPE, "int8")
        g.op("MyOp", [cb], [b], custom=True)
        return b

    if blocked_branch_first:
        b = branch_b()
        a = branch_a()
    else:
        a = branch_a()
        b = branch_b()
    s = g.tensor("sum", SHAPE, "int8")
    g.op("ADD", [a, b], [s])
    y = conv(g, s, "cc")
    g.inputs, g.outputs = [x], [y]
    return g


def test_two_parallel_branches_rejoining():
    pre = _predict(_rejoin(blocked_branch_first=False))
    assert _roles(pre) == [
        ("CONV_2D", "segment", True),
        ("CONV_2D", "segment", True),
        ("MyOp", "ends-segment", True),
        ("ADD", "after-segment", True),
        ("CONV_2D", "after-segment", True),
    ]
    assert not pre.ready and "2 later supported op(s)" in next(p for p in pre.problems if p["cause"] == "split")["message"]
    # the unblocked branch listed after the blocking op: it still maps by data flow, marked uncertain
    pre = _predict(_rejoin(blocked_branch_first=True))
    assert [(o.name, o.role, o.certain) for o in pre.ops] == [
        ("CONV_2D", "segment", True),
        ("MyOp", "ends-segment", True),
        ("CONV_2D", "segment", False),
        ("ADD", "after-segment", True),
        ("CONV_2D", "after-segment", True),
    ]


def test_tile_maps_and_only_the_final_resize_and_arg_max_stay_on_the_cpu():
    """The real segmentation-model case: pooled features TILEd back onto the feature map."""
    g = Graph()
    x = g.tensor("x", SHAPE, "int8")
    f = conv(g, x, "features")
    pooled = g.tensor("pooled", [1, 1, 1, 4], "int8")
    g.op("MEAN", [f, axis(g, "mean/axes", [1, 2])], [pooled], {"_type": "ReducerOptions", "keepDims": True})
    tiled = g.tensor("tiled", SHAPE, "int8")
    g.op("TILE", [pooled, axis(g, "multiples", [1, 8, 8, 1])], [tiled])
    cat = g.tensor("concat", [1, 8, 8, 8], "int8")
    g.op("CONCATENATION", [f, tiled], [cat], {"_type": "ConcatenationOptions", "axis": 3})
    logits = conv(g, cat, "logits", shape=(1, 8, 8, 8))
    up = g.tensor("upsampled", [1, 128, 128, 8], "int8")
    g.op(
        "RESIZE_BILINEAR",
        [logits, g.tensor("size", [2], "int32", data=np.array([128, 128], "int32"))],
        [up],
        {"_type": "ResizeBilinearOptions"},
    )
    am = g.tensor("argmax", [1, 128, 128], "int32")
    g.op("ARG_MAX", [up, axis(g, "axis", 3)], [am], {"_type": "ArgMaxOptions", "outputType": 2})
    g.inputs, g.outputs = [x], [am]
    pre = _predict(g)
    assert pre.cpu_op_names() == [(5, "RESIZE_BILINEAR"), (6, "ARG_MAX")]
    assert pre.ops[2].name == "TILE" and pre.ops[2].placement == "tpu" and pre.ops[2].certain
    # x16 from 8x8 is refused only by the heuristic limit: uncertain; ARG_MAX is on the CPU whatever happens
    assert not pre.ops[5].certain and "heuristic" in pre.ops[5].uncertain_why and pre.ops[6].certain
    assert pre.tail_only
