"""Estimated multiply-accumulates of a TFLite model, from tensor shapes alone.

MACs divide into latency to give achieved MAC/s, the number that tells whether a device runs a
model near its compute limit. Only the ops that dominate compute in vision and language models are
counted; every other op is listed by name so nobody mistakes the estimate for a full count.
A dynamic dimension (-1 in the shape signature) is counted at the size stored in ``shape`` (the
converter's placeholder, often 1); ``counted_at`` lists those inputs so the figure is never read as
the cost at the sizes a user will feed.

Every counter reads operands through ``_operand``: a corrupt or hand-made file can give an op fewer
inputs or outputs than its kind has, or shapes no real model has (rank 200,000, 2**31-1 per axis);
such an op is "not counted", never an exception and never a huge-integer computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Callable

from edgekit.inspect.tflite_model import OperatorInfo, SubgraphInfo, TFLiteModel


# No TFLite kernel takes tensors above rank 8 (XNNPACK stops at 6); beyond that a shape is corrupt.
MAX_RANK = 8


def _shape(sg: SubgraphInfo, idx: int) -> list[int] | None:
    if idx < 0 or idx >= len(sg.tensors):
        return None
    shape = sg.tensors[idx].shape
    if not shape or len(shape) > MAX_RANK:
        return None
    return shape if all(d > 0 for d in shape) else None


def _operand(sg: SubgraphInfo, indices: list[int], position: int) -> list[int] | None:
    """Shape of the op's ``position``-th input or output, None when the op has no such operand."""
    return _shape(sg, indices[position]) if position < len(indices) else None


def _conv2d(sg: SubgraphInfo, op: OperatorInfo) -> int | None:
    # output [N, OH, OW, OC], filter [OC, KH, KW, IC / groups]: each output element is KH*KW*ICg MACs
    out, w = _operand(sg, op.outputs, 0), _operand(sg, op.inputs, 1)
    if out is None or w is None or len(w) != 4:
        return None
    return prod(out) * w[1] * w[2] * w[3]


def _depthwise(sg: SubgraphInfo, op: OperatorInfo) -> int | None:
    # output [N, OH, OW, C*M], filter [1, KH, KW, C*M]: each output element is KH*KW MACs
    out, w = _operand(sg, op.outputs, 0), _operand(sg, op.inputs, 1)
    if out is None or w is None or len(w) != 4:
        return None
    return prod(out) * w[1] * w[2]


def _fully_connected(sg: SubgraphInfo, op: OperatorInfo) -> int | None:
    # filter [units, K]; every output element is one K-long dot product
    out, w = _operand(sg, op.outputs, 0), _operand(sg, op.inputs, 1)
    if out is None or w is None or len(w) != 2:
        return None
    return prod(out) * w[1]


def _transpose_conv(sg: SubgraphInfo, op: OperatorInfo) -> int | None:
    # inputs: (output_shape, filter [OC, KH, KW, IC], input [N, H, W, IC]); each input element is
    # scattered into KH*KW*OC outputs
    w, x = _operand(sg, op.inputs, 1), _operand(sg, op.inputs, 2)
    if w is None or x is None or len(w) != 4:
        return None
    return prod(x) * w[0] * w[1] * w[2]


def _batch_matmul(sg: SubgraphInfo, op: OperatorInfo) -> int | None:
    # A [..., M, K] (or [..., K, M] with adj_x), output [..., M, N]: each output element is K MACs
    a, out = _operand(sg, op.inputs, 0), _operand(sg, op.outputs, 0)
    if a is None or out is None or len(a) < 2:
        return None
    k = a[-2] if op.options.get("AdjX") else a[-1]
    return prod(out) * k


COUNTERS: dict[str, Callable[[SubgraphInfo, OperatorInfo], int | None]] = {
    "CONV_2D": _conv2d,
    "DEPTHWISE_CONV_2D": _depthwise,
    "FULLY_CONNECTED": _fully_connected,
    "TRANSPOSE_CONV": _transpose_conv,
    "BATCH_MATMUL": _batch_matmul,
}

# Ops with real arithmetic that the estimate leaves out; named separately in the report so a model
# dominated by them (an LSTM, a compiled Edge TPU graph) is not read as "cheap".
HEAVY_UNCOUNTED = {
    "LSTM",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "RNN",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "BIDIRECTIONAL_SEQUENCE_RNN",
    "SVDF",
    "CONV_3D",
    "CONV_3D_TRANSPOSE",
    "edgetpu-custom-op",
}


@dataclass
class MacEstimate:
    total: int = 0
    per_op: dict[int, int] = field(default_factory=dict)  # operator index (main subgraph) -> MACs
    by_type: dict[str, int] = field(default_factory=dict)
    not_counted: dict[str, int] = field(default_factory=dict)  # op name -> how many were not counted
    heavy_not_counted: list[str] = field(default_factory=list)
    # inputs with dynamic dimensions, with the stored shape the estimate used for them
    counted_at: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when no op with substantial arithmetic was left out."""
        return not self.heavy_not_counted

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "by_type": self.by_type,
            "not_counted": self.not_counted,
            "heavy_not_counted": self.heavy_not_counted,
            "counted_types": sorted(COUNTERS),
            "counted_at": self.counted_at,
        }


def estimate(model: TFLiteModel) -> MacEstimate:
    """MACs of every subgraph (control-flow bodies counted once each)."""
    est = MacEstimate()
    for sg in model.subgraphs[:1]:
        for i in sg.inputs:
            t = sg.tensors[i] if 0 <= i < len(sg.tensors) else None
            if t is not None and t.dynamic:
                est.counted_at.append(
                    {
                        "tensor": t.index,
                        "name": t.name,
                        "shape": t.shape,
                        "shape_signature": t.shape_signature,
                        "dynamic_dims": t.dynamic_dims,
                    }
                )
    for sg in model.subgraphs:
        for op in sg.operators:
            counter = COUNTERS.get(op.name) if not op.custom else None
            macs = counter(sg, op) if counter else None
            if macs is None:
                est.not_counted[op.name] = est.not_counted.get(op.name, 0) + 1
                if (op.name in HEAVY_UNCOUNTED or op.name in COUNTERS) and op.name not in est.heavy_not_counted:
                    est.heavy_not_counted.append(op.name)
                continue
            est.total += macs
            est.by_type[op.name] = est.by_type.get(op.name, 0) + macs
            if sg.index == 0:
                est.per_op[op.index] = macs
    return est
