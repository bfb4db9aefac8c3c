"""What ``edgetpu_compiler`` 16 can map, as data: supported ops, their conditions, known op versions.

Source: Coral's "TensorFlow models on the Edge TPU" op table and the observed behaviour in
../shared/docs/edgetpu-ops.md (rules R1..R8), checked against the compiled model pairs in the test
data. Each condition returns None (fine) or the reason the compiler will refuse the op. Conditions
marked "heuristic" encode observed refusals the compiler does not document precisely. The evidence
records at the end say which predictions a real compiled pair confirms; the preflight marks the
others uncertain.
"""

from __future__ import annotations

from typing import Callable

from edgekit.inspect.tflite_model import OperatorInfo, SubgraphInfo

EIGHT_BIT = ("int8", "uint8")
ON_CHIP_BYTES = 8 * 1024 * 1024  # ~8 MiB of SRAM for parameters (R8)
# Largest spatial upsampling factor of RESIZE_* we predict the compiler accepts (heuristic: the
# DeepLab pair shows a 1x1 -> 33x33 bilinear resize refused; Coral says large upsampling may be
# refused "to avoid loss in precision" without giving the limit).
MAX_RESIZE_FACTOR = 8

# Highest op version compiler 16 knows (R7): the versions TFLite's runtime_version.cc dates at
# TF <= 2.5.0, the schema generation compiler 16 was built with. Measured anchor: QUANTIZE v3 (TF 2.7)
# is rejected. A newer version means the compiler either rejects the op or fails to read the model.
MAX_KNOWN_VERSION: dict[str, int] = {
    "ADD": 3,
    "AVERAGE_POOL_2D": 3,
    "CONCATENATION": 3,
    "CONV_2D": 5,
    "DEPTHWISE_CONV_2D": 6,
    "EXPAND_DIMS": 1,
    "FULLY_CONNECTED": 9,
    "L2_NORMALIZATION": 2,
    "LOGISTIC": 3,
    "LSTM": 4,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": 3,
    "MAXIMUM": 4,
    "MAX_POOL_2D": 3,
    "MEAN": 3,
    "MINIMUM": 4,
    "MUL": 4,
    "PACK": 3,
    "PAD": 3,
    "PRELU": 1,
    "QUANTIZE": 2,
    "REDUCE_MAX": 3,
    "REDUCE_MIN": 3,
    "RELU": 3,
    "RELU6": 3,
    "RELU_N1_TO_1": 1,
    "RESHAPE": 1,
    "RESIZE_BILINEAR": 4,
    "RESIZE_NEAREST_NEIGHBOR": 4,
    "SLICE": 5,
    "SOFTMAX": 3,
    "SPACE_TO_DEPTH": 2,
    "SPLIT": 4,
    "SQUEEZE": 2,
    "STRIDED_SLICE": 5,
    "SUB": 5,
    "TANH": 3,
    "TRANSPOSE": 5,
    "TRANSPOSE_CONV": 3,
    "RSQRT": 2,
    "SQUARED_DIFFERENCE": 2,
    "SUM": 2,
    "DEQUANTIZE": 4,
    "ARG_MAX": 2,
    "CAST": 1,
    "TILE": 2,
}
# The one R7 limit a real compile confirmed (edgetpu-ops.md R7); the others are dated, not observed.
R7_CONFIRMED = {"QUANTIZE"}

# Ops whose arithmetic dominates a model: "Edge TPU ready" means all of these are mapped.
COMPUTE_OPS = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "TRANSPOSE_CONV",
    "LSTM",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "BATCH_MATMUL",
    "CONV_3D",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "MEAN",
    "ADD",
    "MUL",
    "SUB",
    "SOFTMAX",
    "L2_NORMALIZATION",
}

Check = Callable[[SubgraphInfo, OperatorInfo], "str | None"]


def _fused(op: OperatorInfo) -> str | None:
    if op.options.get("FusedActivationFunction", 0):
        return "has a fused activation, which the Edge TPU does not support on this op"
    return None


def _dilation(op: OperatorInfo) -> str | None:
    if op.options.get("DilationWFactor", 1) != op.options.get("DilationHFactor", 1):
        return "has different x and y dilation"
    return None


def _rank_of(sg: SubgraphInfo, idx: int) -> int:
    return len(sg.tensors[idx].shape) if 0 <= idx < len(sg.tensors) else 0


def _fully_connected(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    if op.options.get("WeightsFormat", 0) != 0:
        return "uses a shuffled weight format (only the default format maps)"
    if op.options.get("KeepNumDims") and _rank_of(sg, op.outputs[0]) > 2:
        return "keeps more than one dimension per batch in its output"
    return None


def resize_factor(sg: SubgraphInfo, op: OperatorInfo) -> float | None:
    """Largest spatial upsampling factor of a RESIZE_* op (None when the shapes do not say)."""
    src, dst = sg.tensors[op.inputs[0]].shape, sg.tensors[op.outputs[0]].shape
    if len(src) == 4 and len(dst) == 4 and src[1] > 0 and src[2] > 0:
        return max(dst[1] / src[1], dst[2] / src[2])
    return None


def _resize(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    factor = resize_factor(sg, op)
    if factor is not None:
        src, dst = sg.tensors[op.inputs[0]].shape, sg.tensors[op.outputs[0]].shape
        if factor > MAX_RESIZE_FACTOR:
            return (
                f"upsamples {src[1]}x{src[2]} to {dst[1]}x{dst[2]} (x{factor:.0f}); large upsampling is refused "
                f"to avoid precision loss (heuristic: above x{MAX_RESIZE_FACTOR})"
            )
    return None


def _softmax(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    shape = sg.tensors[op.inputs[0]].shape
    inner = [d for d in shape[:-1] if d > 1]
    if inner:
        return f"has input {shape}; only a 1-D softmax (per batch) maps"
    if shape and shape[-1] > 16000:
        return f"has {shape[-1]} elements; at most 16,000 map"
    return None


def _not_batch_axis(axis_getter: Callable[[SubgraphInfo, OperatorInfo], list[int] | None], data_input: int = 0) -> Check:
    def check(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
        axes = axis_getter(sg, op)
        rank = _rank_of(sg, op.inputs[data_input]) if len(op.inputs) > data_input else 0
        if axes and rank > 1 and any(a % rank == 0 for a in axes):
            return "works along the batch dimension"
        return None

    return check


def _axis_option(name: str) -> Callable[[SubgraphInfo, OperatorInfo], list[int] | None]:
    return lambda sg, op: [int(op.options[name])] if name in op.options else None


def _strided_slice(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    if op.options.get("EllipsisMask", 0) or op.options.get("NewAxisMask", 0):
        return "uses an ellipsis or new-axis mask"
    strides = sg.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    if strides is not None and not strides.is_constant:
        return "has strides that are not constant"
    return None


def _squeeze(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    src, dst = sg.tensors[op.inputs[0]].shape, sg.tensors[op.outputs[0]].shape

    def strip(shape: list[int]) -> list[int]:
        return shape[next((i for i, d in enumerate(shape) if d != 1), len(shape)) :]

    # only leading ones may go: [1,5,10] -> [5,10] is free, [5,1,10] -> [5,10] needs a relayout
    if strip(src) != strip(dst):
        return f"squeezes {src} to {dst}, which needs a relayout"
    return None


def _const_axes(input_pos: int) -> Callable[[SubgraphInfo, OperatorInfo], list[int] | None]:
    def get(sg: SubgraphInfo, op: OperatorInfo) -> list[int] | None:
        if len(op.inputs) <= input_pos or op.inputs[input_pos] < 0:
            return None
        return sg.tensors[op.inputs[input_pos]].values

    return get


def _pad(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    pads = _const_axes(1)(sg, op)
    if pads and len(pads) >= 2 and (pads[0] or pads[1]) and _rank_of(sg, op.inputs[0]) > 1:
        return "pads along the batch dimension"
    return None


def _mean(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    reason = _not_batch_axis(_const_axes(1))(sg, op)
    if reason:
        return reason
    axes, shape = _const_axes(1)(sg, op) or [], sg.tensors[op.inputs[0]].shape
    rank = len(shape)
    if rank and any(a % rank == rank - 1 for a in axes) and shape[-1] % 4:
        return f"reduces over {shape[-1]} channels; a channel reduction needs a multiple of 4"
    return None


def _prelu(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    alpha = sg.tensors[op.inputs[1]].shape if len(op.inputs) > 1 else []
    if any(d > 1 for d in alpha[:-1]):
        return f"has alpha of shape {alpha}; only its innermost dimension may be larger than 1"
    return None


def _concat(sg: SubgraphInfo, op: OperatorInfo) -> str | None:
    reason = _fused(op)
    if reason:
        return reason
    consts = [i for i in op.inputs if i >= 0 and sg.tensors[i].is_constant]
    if consts and len(op.inputs) != 2:
        return "has a constant input among more than two inputs"
    return None


# builtin op -> condition check (None: no condition beyond R1..R4)
SUPPORTED: dict[str, Check | None] = {
    "ADD": None,
    "AVERAGE_POOL_2D": lambda sg, op: _fused(op),
    "CONCATENATION": _concat,
    "CONV_2D": lambda sg, op: _dilation(op),
    "DEPTHWISE_CONV_2D": lambda sg, op: _dilation(op),
    "EXPAND_DIMS": None,
    "FULLY_CONNECTED": _fully_connected,
    "L2_NORMALIZATION": None,
    "LOGISTIC": None,
    "LSTM": None,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": None,
    "MAXIMUM": None,
    "MAX_POOL_2D": lambda sg, op: _fused(op),
    "MEAN": _mean,
    "MINIMUM": None,
    "MUL": None,
    "PACK": _not_batch_axis(_axis_option("Axis")),
    "PAD": _pad,
    "PRELU": _prelu,
    "QUANTIZE": None,
    "REDUCE_MAX": _not_batch_axis(_const_axes(1)),
    "REDUCE_MIN": _not_batch_axis(_const_axes(1)),
    "RELU": None,
    "RELU6": None,
    "RELU_N1_TO_1": None,
    "RESHAPE": None,
    "RESIZE_BILINEAR": _resize,
    "RESIZE_NEAREST_NEIGHBOR": _resize,
    "SLICE": None,
    "SOFTMAX": _softmax,
    "SPACE_TO_DEPTH": None,
    "SPLIT": _not_batch_axis(_const_axes(0), data_input=1),
    "SQUEEZE": _squeeze,
    "STRIDED_SLICE": _strided_slice,
    "SUB": None,
    "TANH": None,
    "TRANSPOSE": None,
    "TRANSPOSE_CONV": None,
    "RSQRT": None,
    "SQUARED_DIFFERENCE": None,
    "SUM": None,
    "TILE": None,
}

# Ops that keep a 16-bit cell state or 32-bit scratch by design and still map (integer LSTM).
WIDE_STATE_OK = {"LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM"}


# ---------------------------------------------------------------------------------------------
# Evidence: how sure each prediction can be. The preflight marks a prediction "uncertain" when the
# rule that decided it is neither confirmed by a real compiled pair nor documented by Coral.
# "pair":       mapped by compiler 16 in the compiled pairs of ../shared/testdata/coral (the test
#               tests/edgetpu/test_preflight.py::test_preflight_agrees_op_by_op_with_all_12_pairs
#               checks this list against the pairs)
# "seen":       seen mapped in a real compiled model recorded in edgetpu-ops.md, not in the test data
# "documented": in Coral's published op table, not seen in a pair here
# "unverified": listed in newer tables only, or its conditions are unknown
PAIR_MAPPED = {
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "PAD",
    "QUANTIZE",
    "RESHAPE",
    "SOFTMAX",
    "SPLIT",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
}
SEEN_MAPPED = {
    "TILE": "seen mapped by compiler 16 in a real segmentation model (edgetpu-ops.md), not in Coral's table",
}
UNVERIFIED_MAPPED = {
    "TRANSPOSE": "seen mapped by compiler 16, but the conditions under which it maps are unverified",
    "TRANSPOSE_CONV": "listed in newer op tables only; never seen mapped here",
    "RSQRT": "listed in newer op tables only; never seen mapped here",
    "SQUARED_DIFFERENCE": "listed in newer op tables only; never seen mapped here",
    "SUM": "listed in newer op tables only; never seen mapped here",
}
# Builtins seen on the CPU on their own merits in real compiled models (edgetpu-ops.md). Any other
# builtin outside SUPPORTED is predicted on the CPU too, but uncertain: compiler 16 maps TILE,
# which is not in the published table either.
SEEN_ON_CPU = {"ARG_MAX", "CAST", "DEQUANTIZE", "DIV", "FLOOR_DIV", "GATHER_ND", "SQRT", "UNPACK"}
# Input-side conversions: seen left on the CPU in front of the segment (a CAST and a QUANTIZE of a
# uint8 input in a real pose model; edgetpu-ops.md R6). Other ops in front of the segment are
# predicted the same way by data flow, but no real pair confirms it.
INPUT_CONVERSIONS = {"CAST", "QUANTIZE", "DEQUANTIZE"}


def map_basis(name: str) -> tuple[str, str]:
    """(basis, note) for predicting ``name`` on the Edge TPU; basis as in the table above."""
    if name in PAIR_MAPPED:
        return "pair", "mapped in the real compiled pairs"
    if name in SEEN_MAPPED:
        return "seen", SEEN_MAPPED[name]
    if name in UNVERIFIED_MAPPED:
        return "unverified", UNVERIFIED_MAPPED[name]
    return "documented", "in Coral's published op table"


# State and control flow: ops that put work into further subgraphs or keep state between
# invocations. One record per cause: the ops that show it, what it means, and what to do.
SUBGRAPH_CAUSES: list[dict] = [
    {
        "cause": "variables",
        "ops": {"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"},
        "message": "the model keeps state in resource variables ({ops}); CALL_ONCE runs an initialisation "
        "subgraph, and compiler 16 compiles only the first subgraph",
        "hint": "export the model with its state as explicit inputs and outputs instead of variables (streaming "
        "models: the external-state export mode), then convert and check again",
    },
    {
        "cause": "control-flow",
        "ops": {"IF", "WHILE"},
        "message": "the model uses control flow ({ops}) whose branches or loop body live in further subgraphs; "
        "compiler 16 compiles only the first subgraph",
        "hint": "remove the control flow before converting (unroll the loop, or compute both branches and "
        "select the result with arithmetic)",
    },
]
STATE_AND_CONTROL_OPS = set().union(*(c["ops"] for c in SUBGRAPH_CAUSES))
