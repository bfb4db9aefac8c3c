"""A small conv net built with onnx.helper, with and without a defect of known size.

The defect: output channel ``CHANNEL`` of ``conv1`` (weights and bias) is scaled by ``SCALE`` and the
matching input channel of ``conv2`` divided by it. ReLU is positively homogeneous, so the float
function is unchanged (checked by the tests), but conv1's output, quantized per tensor, now spends
its 256 int8 levels on one channel 3000x wider than the rest, which round to a few levels.
"""

from __future__ import annotations

import numpy as np

SCALE = 3000.0
CHANNEL = 3
SHAPE = (1, 4, 16, 16)


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def he(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "w1": he(8, 4, 3, 3),
        "b1": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "w2": he(8, 8, 3, 3),
        "b2": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "w3": he(8, 8, 1, 1),
        "b3": (rng.standard_normal(8) * 0.1).astype(np.float32),
        "wf": he(4, 8).T.copy(),
        "bf": (rng.standard_normal(4) * 0.1).astype(np.float32),
    }


def with_defect(w: dict[str, np.ndarray], scale: float = SCALE, channel: int = CHANNEL) -> dict[str, np.ndarray]:
    w = {k: v.copy() for k, v in w.items()}
    w["w1"][channel] *= scale
    w["b1"][channel] *= scale
    w["w2"][:, channel] /= scale
    return w


def build(w: dict[str, np.ndarray]) -> bytes:
    """x -> conv1 -> relu -> conv2 -> relu -> conv3 -> global pool -> flatten -> fc (node names
    ``conv1`` ... ``fc``: what the report must show)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("GlobalAveragePool", ["c3"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "defect",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(v, k) for k, v in w.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def samples(n: int, seed: int = 1) -> np.ndarray:
    """[n, 4, 16, 16] inputs: smooth images plus noise, so conv activations are not all tiny."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *SHAPE[1:])).astype(np.float32)
