"""Build small synthetic .tflite files in tests, with exact shapes, dtypes and op versions.

Uses the object API of the TFLite schema module that ai-edge-litert ships (the `tflite` package the
inspector reads with has no builders). Building flatbuffers directly, instead of converting a Keras
model, takes milliseconds and lets a test state exactly what it checks: a conv whose MACs are
computed by hand, an op code above 127, a dynamic dimension, a rank-5 tensor, a float op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_NP_TO_TFL = {
    "float32": "FLOAT32",
    "float16": "FLOAT16",
    "int32": "INT32",
    "uint8": "UINT8",
    "int64": "INT64",
    "bool": "BOOL",
    "int16": "INT16",
    "int8": "INT8",
}


def schema():
    import ai_edge_litert.schema_py_generated as s

    return s


@dataclass
class Graph:
    tensors: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    buffers: list = field(default_factory=list)
    metadata: list = field(default_factory=list)
    opcodes: list = field(default_factory=list)

    def tensor(
        self,
        name: str,
        shape,
        dtype: str = "int8",
        data=None,
        scale=None,
        zero_point=None,
        signature=None,
        quantized_dimension: int = 0,
    ) -> int:
        """Add a tensor; ``data`` makes it constant. int8/uint8 tensors get a default scale."""
        s = schema()
        t = s.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = getattr(s.TensorType, _NP_TO_TFL[dtype])
        if signature is not None:
            t.shapeSignature = list(signature)
        if scale is None and dtype in ("int8", "uint8", "int16"):
            scale = 0.05
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = list(np.atleast_1d(scale).astype(float))
            zp = zero_point if zero_point is not None else 0
            q.zeroPoint = list(np.atleast_1d(zp).astype(int)) if np.ndim(zp) else [int(zp)] * len(q.scale)
            q.quantizedDimension = quantized_dimension
            t.quantization = q
        if data is not None:
            buf = s.BufferT()
            arr = np.asarray(data, dtype=dtype if dtype != "bool" else "bool")
            buf.data = np.frombuffer(arr.tobytes(), dtype=np.uint8)  # packed with CreateNumpyVector: fast
            t.buffer = self._add_buffer(buf)
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name: str, shape, dtype: str = "int8", **kw) -> int:
        n = int(np.prod(shape)) if shape else 1
        return self.tensor(name, shape, dtype, data=np.ones(n, dtype=dtype).reshape(shape), **kw)

    def _add_buffer(self, buf) -> int:
        if not self.buffers:
            self.buffers.append(schema().BufferT())  # buffer 0: the empty sentinel
        self.buffers.append(buf)
        return len(self.buffers) - 1

    def _opcode(self, name: str, version: int, custom: bool, code: int | None) -> int:
        s = schema()
        key = (name, version)
        for i, (k, _) in enumerate(self.opcodes):
            if k == key:
                return i
        oc = s.OperatorCodeT()
        oc.version = version
        if custom:
            oc.customCode = name
            real = s.BuiltinOperator.CUSTOM
        else:
            real = code if code is not None else getattr(s.BuiltinOperator, name)
        oc.builtinCode = real
        oc.deprecatedBuiltinCode = min(real, 127)
        self.opcodes.append((key, oc))
        return len(self.opcodes) - 1

    def op(
        self,
        name: str,
        inputs,
        outputs,
        options: dict | None = None,
        version: int = 1,
        custom: bool = False,
        code: int | None = None,
        custom_options: bytes | None = None,
    ) -> int:
        s = schema()
        o = s.OperatorT()
        o.opcodeIndex = self._opcode(name, version, custom, code)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        if options:
            opts = dict(options)
            kind = opts.pop("_type")
            obj = getattr(s, kind + "T")()
            for k, v in opts.items():
                setattr(obj, k, v)
            o.builtinOptionsType = getattr(s.BuiltinOptions, kind)
            o.builtinOptions = obj
        if custom_options:
            o.customOptions = list(custom_options)
        self.ops.append(o)
        return len(self.ops) - 1

    def add_metadata(self, name: str, data: bytes) -> None:
        s = schema()
        buf = s.BufferT()
        buf.data = list(data)
        m = s.MetadataT()
        m.name = name
        m.buffer = self._add_buffer(buf)
        self.metadata.append(m)

    def to_bytes(self) -> bytes:
        import flatbuffers

        s = schema()
        if not self.buffers:
            self.buffers.append(s.BufferT())
        sg = s.SubGraphT()
        sg.tensors, sg.operators = self.tensors, self.ops
        sg.inputs, sg.outputs, sg.name = self.inputs, self.outputs, "main"
        m = s.ModelT()
        m.version = 3
        m.description = "edgekit test model"
        m.operatorCodes = [oc for _, oc in self.opcodes]
        m.subgraphs = [sg]
        m.buffers = self.buffers
        m.metadata = self.metadata or None
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def save(self, path: Path) -> Path:
        Path(path).write_bytes(self.to_bytes())
        return Path(path)


def conv_model(
    dtype: str = "int8",
    h: int = 16,
    w: int = 16,
    cin: int = 3,
    cout: int = 8,
    k: int = 3,
    stride: int = 2,
    per_channel: bool = True,
) -> Graph:
    """input [1,h,w,cin] -> CONV_2D(k x k, stride, SAME) -> DEPTHWISE 3x3 -> mean-free FC head.

    Returns the graph; shapes are chosen so the hand computation in the tests is easy to follow.
    """
    g = Graph()
    oh, ow = -(-h // stride), -(-w // stride)
    x = g.tensor("input", [1, h, w, cin], dtype)
    wscale = (
        list(np.linspace(0.01, 0.02, cout)) if per_channel and dtype == "int8" else (0.02 if dtype in ("int8", "uint8") else None)
    )
    wq = g.const("conv/w", [cout, k, k, cin], dtype, scale=wscale, zero_point=0)
    bq = g.const(
        "conv/b",
        [cout],
        "int32" if dtype in ("int8", "uint8") else dtype,
        scale=(np.asarray(wscale) * 0.05).tolist() if dtype in ("int8", "uint8") else None,
    )
    y = g.tensor("conv/out", [1, oh, ow, cout], dtype)
    conv_opts = {
        "_type": "Conv2DOptions",
        "padding": 0,
        "strideW": stride,
        "strideH": stride,
        "dilationWFactor": 1,
        "dilationHFactor": 1,
    }
    g.op("CONV_2D", [x, wq, bq], [y], conv_opts, version=3 if per_channel else 1)
    dw = g.const("dw/w", [1, 3, 3, cout], dtype, scale=wscale, zero_point=0, quantized_dimension=3)
    db = g.const("dw/b", [cout], "int32" if dtype in ("int8", "uint8") else dtype)
    z = g.tensor("dw/out", [1, oh, ow, cout], dtype)
    g.op(
        "DEPTHWISE_CONV_2D",
        [y, dw, db],
        [z],
        {
            "_type": "DepthwiseConv2DOptions",
            "padding": 0,
            "strideW": 1,
            "strideH": 1,
            "depthMultiplier": 1,
            "dilationWFactor": 1,
            "dilationHFactor": 1,
        },
        version=3 if per_channel else 1,
    )
    shape = g.tensor("reshape/shape", [2], "int32", data=np.array([1, oh * ow * cout], dtype="int32"))
    r = g.tensor("flat", [1, oh * ow * cout], dtype)
    g.op("RESHAPE", [z, shape], [r])
    fw = g.const("fc/w", [10, oh * ow * cout], dtype)
    fb = g.const("fc/b", [10], "int32" if dtype in ("int8", "uint8") else dtype)
    out = g.tensor("logits", [1, 10], dtype)
    g.op("FULLY_CONNECTED", [r, fw, fb], [out], {"_type": "FullyConnectedOptions"}, version=1)
    g.inputs, g.outputs = [x], [out]
    return g
