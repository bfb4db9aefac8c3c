"""Graphs for the preflight's mechanism tests: several subgraphs, signatures, resource tensors.

tests/inspect/modelgen.py builds one-subgraph models; the Edge TPU advice also has to see models
with a CALL_ONCE initialisation subgraph, IF branches and signature names (what TensorFlow's
converter writes for Keras inputs), so this adds those on top of the same Graph builder.
"""

from __future__ import annotations

import numpy as np

from tests.inspect.modelgen import Graph, schema

CONV_OPTS = {"_type": "Conv2DOptions", "strideW": 1, "strideH": 1, "dilationWFactor": 1, "dilationHFactor": 1}


def subgraph_of(g: Graph) -> Graph:
    """A further subgraph whose buffers and op codes are shared with ``g`` (one model, one index space)."""
    sub = Graph()
    if not g.buffers:
        g.buffers.append(schema().BufferT())
    sub.buffers, sub.opcodes = g.buffers, g.opcodes
    return sub


def resource(g: Graph, name: str) -> int:
    idx = g.tensor(name, [], "int32")
    g.tensors[idx].type = schema().TensorType.RESOURCE
    return idx


def to_bytes(main: Graph, others: list[Graph] = (), signatures: list[tuple[str, int, dict, dict]] = ()) -> bytes:
    """Serialize ``main`` + ``others`` as subgraphs 0..n; signatures as (key, subgraph, {name: tensor}, {...})."""
    import flatbuffers

    s = schema()
    if not main.buffers:
        main.buffers.append(s.BufferT())
    subgraphs = []
    for i, g in enumerate([main, *others]):
        sg = s.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = g.tensors, g.ops, g.inputs, g.outputs
        sg.name = "main" if i == 0 else f"sub{i}"
        subgraphs.append(sg)
    defs = []
    for key, index, ins, outs in signatures:
        d = s.SignatureDefT()
        d.signatureKey, d.subgraphIndex = key, index
        d.inputs, d.outputs = [], []
        for names, target in ((ins, d.inputs), (outs, d.outputs)):
            for name, t in names.items():
                m = s.TensorMapT()
                m.name, m.tensorIndex = name, t
                target.append(m)
        defs.append(d)
    m = s.ModelT()
    m.version, m.description = 3, "edgekit preflight test model"
    m.operatorCodes = [oc for _, oc in main.opcodes]
    m.subgraphs, m.buffers = subgraphs, main.buffers
    m.signatureDefs = defs or None
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def conv(g: Graph, x: int, name: str, shape=(1, 8, 8, 4), dtype: str = "int8", signature=None) -> int:
    """A 1x1 CONV_2D keeping ``shape``: the op every mechanism graph uses as 'ordinary mappable compute'."""
    c = shape[-1]
    w = g.const(f"{name}/w", [c, 1, 1, c], dtype if dtype != "float32" else "float32")
    b = g.const(f"{name}/b", [c], "int32" if dtype != "float32" else "float32", scale=0.0025 if dtype != "float32" else None)
    y = g.tensor(name, list(shape), dtype, signature=signature)
    g.op("CONV_2D", [x, w, b], [y], dict(CONV_OPTS))
    return y


def axis(g: Graph, name: str, value) -> int:
    return g.tensor(name, [len(np.atleast_1d(value))] if np.ndim(value) else [], "int32", data=np.asarray(value, dtype="int32"))
