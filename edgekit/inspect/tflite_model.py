"""Read a .tflite flatbuffer into plain dataclasses: what is inside a model, without running it.

Parsing uses the ``tflite`` PyPI package: the flatbuffers-generated Python bindings of TFLite's
``schema.fbs`` (pure Python, needs only ``flatbuffers`` and numpy, kept in step with TensorFlow's
schema: 2.18 reads models from TF 2.21 with op versions, per-channel quantization, signatures and
metadata). We do not hand-write a parser (the schema has hundreds of tables and evolves), and we do
not use the schema module inside ai-edge-litert because inspection must work on machines that have
no runtime at all (a laptop preparing an Edge TPU model, CI). Nothing here imports TensorFlow.

A flatbuffer has no checksum; a truncated or corrupt file shows up as out-of-range offsets deep in
the accessors (struct.error, IndexError, absurd vector lengths). Every such failure becomes one
EdgekitError naming the file.
"""

from __future__ import annotations

import inspect as _pyinspect
from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.console import safe
from edgekit.errors import EdgekitError, require_model_file

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
# BuiltinOperator value that marks "the real code is in the 32-bit builtin_code field".
PLACEHOLDER_FOR_GREATER_OP_CODES = 127
CUSTOM_BUILTIN = 32
# Element counts saturate here (2**62): far above any real tensor, small enough to stay a machine int.
ELEMENTS_CAP = 1 << 62

# schema TensorType -> numpy dtype name (the names results and runtimes use everywhere else)
_NUMPY_DTYPE = {
    "FLOAT32": "float32",
    "FLOAT16": "float16",
    "FLOAT64": "float64",
    "BFLOAT16": "bfloat16",
    "INT32": "int32",
    "UINT8": "uint8",
    "INT64": "int64",
    "STRING": "string",
    "BOOL": "bool",
    "INT16": "int16",
    "COMPLEX64": "complex64",
    "INT8": "int8",
    "COMPLEX128": "complex128",
    "UINT64": "uint64",
    "RESOURCE": "resource",
    "VARIANT": "variant",
    "UINT32": "uint32",
    "UINT16": "uint16",
    "INT4": "int4",
    "INT2": "int2",
}
_ITEMSIZE = {
    "float32": 4,
    "float16": 2,
    "float64": 8,
    "bfloat16": 2,
    "int32": 4,
    "uint8": 1,
    "int64": 8,
    "bool": 1,
    "int16": 2,
    "complex64": 8,
    "int8": 1,
    "complex128": 16,
    "uint64": 8,
    "uint32": 4,
    "uint16": 2,
    "int4": 0.5,
    "int2": 0.25,
}


@dataclass
class Quantization:
    scales: list[float]
    zero_points: list[int]
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    def to_dict(self) -> dict:
        return {
            "scales": self.scales,
            "zero_points": self.zero_points,
            "quantized_dimension": self.quantized_dimension,
            "per_channel": self.per_channel,
        }


@dataclass
class TensorInfo:
    index: int
    name: str
    shape: list[int]
    shape_signature: list[int] | None
    dtype: str
    buffer: int
    data_bytes: int  # bytes of constant data stored in the model for this tensor (0: computed at run time)
    is_variable: bool = False
    quantization: Quantization | None = None
    values: list[int] | None = None  # contents of small integer constants (axes, paddings, shapes)

    @property
    def is_constant(self) -> bool:
        return self.data_bytes > 0

    @property
    def dynamic(self) -> bool:
        return bool(self.shape_signature) and any(d < 0 for d in self.shape_signature)

    @property
    def dynamic_dims(self) -> list[int]:
        """Axes whose size is decided at run time (-1 in ``shape_signature``); ``shape`` holds a placeholder."""
        return [i for i, d in enumerate(self.shape_signature or []) if d < 0]

    @property
    def elements(self) -> int:
        """Element count, saturated at ELEMENTS_CAP: a corrupt shape of 200,000 huge dimensions must not
        become a 6-million-digit integer (quadratic work) just to be summed into a parameter count."""
        n = 1
        for d in self.shape:
            d = int(d)
            if d <= 0:
                return 0
            n = min(n * d, ELEMENTS_CAP)
        return n

    def to_dict(self) -> dict:
        # Written out rather than dataclasses.asdict: asdict deep-copies every list and was most of
        # the time of `inspect --json` on a model with tens of thousands of tensors and operators.
        return {
            "index": self.index,
            "name": self.name,
            "shape": self.shape,
            "shape_signature": self.shape_signature,
            "dtype": self.dtype,
            "buffer": self.buffer,
            "data_bytes": self.data_bytes,
            "is_variable": self.is_variable,
            "quantization": self.quantization.to_dict() if self.quantization else None,
            "values": self.values,
            "constant": self.is_constant,
            "dynamic_dims": self.dynamic_dims,
        }


@dataclass
class OperatorInfo:
    index: int
    name: str  # builtin name (CONV_2D) or the custom code (edgetpu-custom-op)
    builtin_code: int
    custom: bool
    version: int
    inputs: list[int]  # tensor indices; -1 marks an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    custom_options_bytes: int = 0
    # The custom options themselves, kept only for Edge TPU ops (the compiler's package, whose
    # runtime version doctor checks); None for every other op.
    custom_options: bytes | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "builtin_code": self.builtin_code,
            "custom": self.custom,
            "version": self.version,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "options": self.options,
            "custom_options_bytes": self.custom_options_bytes,
        }


@dataclass
class SubgraphInfo:
    index: int
    name: str
    tensors: list[TensorInfo]
    operators: list[OperatorInfo]
    inputs: list[int]
    outputs: list[int]

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "operators": [o.to_dict() for o in self.operators],
            "tensors": [t.to_dict() for t in self.tensors],
        }


@dataclass
class SignatureInfo:
    key: str
    subgraph_index: int
    inputs: dict[str, int]  # signature name -> tensor index
    outputs: dict[str, int]


@dataclass
class MetadataEntry:
    name: str
    buffer: int
    size_bytes: int
    value: str | None = None  # decoded when the entry is text we know (min_runtime_version)


@dataclass
class TFLiteModel:
    path: str
    file_bytes: int
    schema_version: int
    description: str
    subgraphs: list[SubgraphInfo]
    signatures: list[SignatureInfo]
    metadata: list[MetadataEntry]
    buffers: int

    @property
    def main(self) -> SubgraphInfo:
        return self.subgraphs[0]

    @property
    def min_runtime_version(self) -> str | None:
        for m in self.metadata:
            if m.name == "min_runtime_version":
                return m.value
        return None

    def all_operators(self) -> list[tuple[SubgraphInfo, OperatorInfo]]:
        return [(sg, op) for sg in self.subgraphs for op in sg.operators]

    def custom_ops(self) -> list[str]:
        seen: list[str] = []
        for _, op in self.all_operators():
            if op.custom and op.name not in seen:
                seen.append(op.name)
        return seen

    def params(self) -> tuple[int, int]:
        """(count, bytes) of constant tensors with data: weights, biases, and constant shapes.

        A buffer shared by several tensors is counted once.
        """
        count = nbytes = 0
        seen: set[int] = set()
        for sg in self.subgraphs:
            for t in sg.tensors:
                if t.is_constant and t.buffer not in seen:
                    seen.add(t.buffer)
                    count += t.elements
                    nbytes += t.data_bytes
        return count, nbytes

    @property
    def edgetpu_compiled(self) -> bool:
        return EDGETPU_CUSTOM_OP in self.custom_ops()

    def to_dict(self) -> dict:
        count, nbytes = self.params()
        return {
            "path": self.path,
            "file_bytes": self.file_bytes,
            "schema_version": self.schema_version,
            "description": self.description,
            "min_runtime_version": self.min_runtime_version,
            "params": count,
            "param_bytes": nbytes,
            "custom_ops": self.custom_ops(),
            "subgraphs": [sg.to_dict() for sg in self.subgraphs],
            "signatures": [asdict(s) for s in self.signatures],
            "metadata": [asdict(m) for m in self.metadata],
            "buffers": self.buffers,
        }


# ---------------------------------------------------------------------------------------------
def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class _Corrupt(Exception):
    pass


def _checked_length(n: int, limit: int) -> int:
    """Vector lengths read from a damaged file can be billions; refuse before looping over them."""
    if n < 0 or n > limit:
        raise _Corrupt(f"a vector claims {n} entries in a {limit}-byte file")
    return n


_OPTIONS_CACHE: dict[str, list[str]] = {}


def _option_getters(cls) -> list[str]:
    """Scalar and vector-as-numpy accessors of a generated options table, discovered once.

    Reading every option generically keeps this module free of a per-op table that would go stale
    as the schema grows; MAC estimation and the Edge TPU preflight pick the few fields they need.
    """
    key = cls.__name__
    if key not in _OPTIONS_CACHE:
        names = []
        for name, fn in vars(cls).items():
            if name.startswith("_") or name in ("Init", "GetRootAs") or name.startswith("GetRootAs"):
                continue
            if name.endswith(("IsNone", "Length", "BufferHasIdentifier")) or not callable(fn):
                continue
            try:
                params = list(_pyinspect.signature(fn).parameters)
            except (TypeError, ValueError):
                continue
            if params == ["self"]:
                names.append(name)
        _OPTIONS_CACHE[key] = names
    return _OPTIONS_CACHE[key]


def _read_options(op, kind: int, tfl, option_names: dict[int, str]) -> dict[str, Any]:
    from edgekit.inspect import fastfields

    if not kind:
        return {}
    cls_name = option_names.get(kind)
    cls = getattr(tfl, cls_name, None) if cls_name else None
    table = op.BuiltinOptions()
    if cls is None or table is None:
        return {"_type": cls_name or f"options_{kind}"}
    fields = fastfields.layout(cls)
    if fields is not None:  # the common case: scalars and numeric vectors, one struct call each
        return {"_type": cls_name, **fastfields.read_all(table.Bytes, table.Pos, fields)}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {"_type": cls_name}
    for name in _option_getters(cls):
        value = getattr(obj, name)()
        if hasattr(value, "tolist"):
            value = value.tolist()
        elif value is not None and not isinstance(value, (int, float, bool, str, bytes, list)):
            continue  # nested tables (rare in options) are not needed by any reader here
        out[name] = _str(value) if isinstance(value, bytes) else value
    return out


def load(path: str) -> TFLiteModel:
    """Parse ``path``; every problem a user can cause becomes one EdgekitError."""
    require_model_file(path, "a .tflite file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except PermissionError:
        raise EdgekitError(
            f"cannot read {safe(path, markup=False)}: permission denied",
            "check the file's permissions (chmod +r) or run as its owner",
        ) from None
    except OSError as exc:
        raise EdgekitError(
            f"cannot read {safe(path, markup=False)}: {exc.strerror or type(exc).__name__}", "check the path and the disk"
        ) from None
    return parse_bytes(data, path)


def parse_bytes(data: bytes, path: str = "<bytes>") -> TFLiteModel:
    """Parse a model held in memory; ``path`` only names it in messages. Never raises anything but
    EdgekitError: a flatbuffer has no checksum, so any exception from the accessors means corruption."""
    shown = safe(path, markup=False)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgekitError(
            f"{shown} is not a TFLite model (no TFL3 flatbuffer identifier)",
            "pass a .tflite file; a truncated download also loses the header, so re-download or rebuild it",
        )
    try:
        return _parse(path, data)
    except EdgekitError:
        raise
    except RecursionError:
        reason = "RecursionError"
    except MemoryError:
        reason = "MemoryError: a length field claims more than this machine can hold"
    except Exception as exc:  # struct.error, IndexError, _Corrupt, UnicodeDecodeError, ValueError ...
        reason = f"{type(exc).__name__}: {str(exc)[:120]}"
    raise EdgekitError(
        f"{shown} is a truncated or corrupt TFLite flatbuffer ({safe(reason, markup=False)})",
        "rebuild or re-download the model",
    )


def _parse(path: str, data: bytes) -> TFLiteModel:
    import flatbuffers
    import tflite as tfl
    from tflite.utils import BUILTIN_OPCODE2NAME

    from edgekit.inspect import fastfields

    limit = len(data)
    buf = bytearray(data)
    model = tfl.Model.GetRootAs(buf, 0)
    op_fields = fastfields.layout(tfl.Operator, partial=True)
    op_slot = fastfields.slot(tfl.SubGraph, "Operators")
    tensor_slot = fastfields.slot(tfl.SubGraph, "Tensors")
    custom_slot = fastfields.slot(tfl.Operator, "CustomOptions")
    type_names = _enum_names(tfl.TensorType)
    option_names = _enum_names(tfl.BuiltinOptions)

    # Op codes. Schema v3a widened the code to int32 in `builtin_code` and kept the old int8 field as
    # `deprecated_builtin_code`, which holds 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) for codes > 127.
    # Old writers fill only the deprecated field (new field reads 0), new writers fill both; the
    # schema's own rule (schema_utils.cc GetBuiltinCode) is the larger of the two.
    opcodes: list[tuple[int, str, bool, int]] = []
    for i in range(_checked_length(model.OperatorCodesLength(), limit)):
        oc = model.OperatorCodes(i)
        deprecated = int(oc.DeprecatedBuiltinCode())
        # Read builtin_code raw: the package's BuiltinCode() already folds in the deprecated field.
        raw = oc._tab.Offset(10)
        wide = oc._tab.Get(flatbuffers.number_types.Int32Flags, raw + oc._tab.Pos) if raw else 0
        code = max(deprecated, int(wide))
        version = int(oc.Version() or 1)
        if code == CUSTOM_BUILTIN:
            opcodes.append((code, _str(oc.CustomCode()) or "CUSTOM", True, version))
        else:
            opcodes.append((code, BUILTIN_OPCODE2NAME.get(code, f"BUILTIN_{code}"), False, version))

    buffer_sizes: list[int] = []
    small: dict[int, bytes] = {}  # bytes of tiny buffers, for the values of axis/shape constants
    for i in range(_checked_length(model.BuffersLength(), limit)):
        b = model.Buffers(i)
        size = int(b.DataLength())
        if size:
            start = b._tab.Vector(b._tab.Offset(4))
            if start + size > limit:
                raise _Corrupt(f"buffer {i} ends at byte {start + size}, past the end of the file")
            if size <= 128:
                small[i] = bytes(data[start : start + size])
        if not size and b.Size() and b.Offset() > 1:  # >2 GB models keep data outside the flatbuffer
            size = int(b.Size())
        buffer_sizes.append(size)

    subgraphs: list[SubgraphInfo] = []
    for s in range(_checked_length(model.SubgraphsLength(), limit)):
        sg = model.Subgraphs(s)
        tensors: list[TensorInfo] = []
        t_vec = sg._tab.Offset(tensor_slot)
        first, n_tensors = fastfields.vector_span(buf, sg._tab.Pos + t_vec, 4) if t_vec else (0, 0)
        for t in range(_checked_length(n_tensors, limit)):
            tensors.append(_tensor(buf, fastfields.table_at(buf, first + 4 * t), t, tfl, type_names, buffer_sizes, small))
        ops: list[OperatorInfo] = []
        # Operators are read through fastfields (one struct call per field): a model can have tens
        # of thousands, and the generated accessors cost ~90 us each (issue 15: seconds per inspect).
        op_vec = sg._tab.Offset(op_slot)
        first, n_ops = fastfields.vector_span(buf, sg._tab.Pos + op_vec, 4) if op_vec else (0, 0)
        for o in range(_checked_length(n_ops, limit)):
            pos = fastfields.table_at(buf, first + 4 * o)
            idx = int(fastfields.read(buf, pos, op_fields["OpcodeIndex"]))
            if idx >= len(opcodes):
                raise _Corrupt(f"operator {o} refers to op code {idx} of {len(opcodes)}")
            code, name, custom, version = opcodes[idx]
            kind = int(fastfields.read(buf, pos, op_fields["BuiltinOptionsType"]))
            op = None
            if kind and not custom:
                op = tfl.Operator()
                op.Init(buf, pos)
            ops.append(
                OperatorInfo(
                    index=o,
                    name=name,
                    builtin_code=code,
                    custom=custom,
                    version=version,
                    inputs=_int_list(fastfields.read(buf, pos, op_fields["InputsAsNumpy"])),
                    outputs=_int_list(fastfields.read(buf, pos, op_fields["OutputsAsNumpy"])),
                    options=_read_options(op, kind, tfl, option_names) if op is not None else {},
                    custom_options_bytes=_vector_len(buf, pos, custom_slot),
                    custom_options=_vector_bytes(buf, pos, custom_slot) if name == EDGETPU_CUSTOM_OP else None,
                )
            )
        for op in ops:
            for t in op.inputs + op.outputs:
                if t >= len(tensors) or t < -1:  # -1 is the schema's "optional input omitted"
                    raise _Corrupt(f"operator {op.index} refers to tensor {t} of {len(tensors)}")
        subgraphs.append(
            SubgraphInfo(
                index=s,
                name=_str(sg.Name()),
                tensors=tensors,
                operators=ops,
                inputs=[int(x) for x in (sg.InputsAsNumpy() if sg.InputsLength() else [])],
                outputs=[int(x) for x in (sg.OutputsAsNumpy() if sg.OutputsLength() else [])],
            )
        )
    if not subgraphs:
        raise _Corrupt("the model has no subgraphs")

    signatures: list[SignatureInfo] = []
    for i in range(_checked_length(model.SignatureDefsLength(), limit)):
        sd = model.SignatureDefs(i)
        signatures.append(
            SignatureInfo(
                key=_str(sd.SignatureKey()),
                subgraph_index=int(sd.SubgraphIndex()),
                inputs={
                    _str(sd.Inputs(j).Name()): int(sd.Inputs(j).TensorIndex())
                    for j in range(_checked_length(sd.InputsLength(), limit))
                },
                outputs={
                    _str(sd.Outputs(j).Name()): int(sd.Outputs(j).TensorIndex())
                    for j in range(_checked_length(sd.OutputsLength(), limit))
                },
            )
        )

    metadata: list[MetadataEntry] = []
    for i in range(_checked_length(model.MetadataLength(), limit)):
        m = model.Metadata(i)
        name = _str(m.Name())
        bi = int(m.Buffer())
        size = buffer_sizes[bi] if 0 <= bi < len(buffer_sizes) else 0
        value = None
        if name == "min_runtime_version" and size:
            # A fixed 16-byte field holding e.g. "2.17.0" padded with NULs.
            raw = model.Buffers(bi).DataAsNumpy().tobytes()
            value = raw.split(b"\0", 1)[0].decode("ascii", errors="replace") or None
        metadata.append(MetadataEntry(name=name, buffer=bi, size_bytes=size, value=value))

    return TFLiteModel(
        path=path,
        file_bytes=len(data),
        schema_version=int(model.Version()),
        description=_str(model.Description()),
        subgraphs=subgraphs,
        signatures=signatures,
        metadata=metadata,
        buffers=len(buffer_sizes),
    )


def _int_list(value) -> list[int]:
    return value.tolist() if hasattr(value, "tolist") else []


def _vector_len(buf: bytearray, pos: int, slot: int) -> int:
    from edgekit.inspect import fastfields

    o = fastfields.field_offset(buf, pos, slot)
    return fastfields.vector_span(buf, pos + o, 1)[1] if o else 0


def _vector_bytes(buf: bytearray, pos: int, slot: int) -> bytes | None:
    from edgekit.inspect import fastfields

    o = fastfields.field_offset(buf, pos, slot)
    if not o:
        return None
    start, n = fastfields.vector_span(buf, pos + o, 1)
    return bytes(buf[start : start + n])


def _tensor(
    buf: bytearray, pos: int, index: int, tfl, type_names: dict[int, str], buffer_sizes: list[int], small: dict[int, bytes]
) -> TensorInfo:
    """One tensor, read through fastfields like the operators (a model can have tens of thousands)."""
    from edgekit.inspect import fastfields as F

    tf = F.layout(tfl.Tensor, partial=True)
    shape = _int_list(F.read(buf, pos, tf["ShapeAsNumpy"]))
    sig = _int_list(F.read(buf, pos, tf["ShapeSignatureAsNumpy"])) or None
    code = int(F.read(buf, pos, tf["Type"]))
    dtype = _NUMPY_DTYPE.get(type_names.get(code, ""), type_names.get(code, f"type_{code}").lower())
    buffer = int(F.read(buf, pos, tf["Buffer"]))
    if buffer >= len(buffer_sizes) and buffer_sizes:
        raise _Corrupt(f"tensor {index} refers to buffer {buffer} of {len(buffer_sizes)}")
    data_bytes = buffer_sizes[buffer] if 0 < buffer < len(buffer_sizes) else 0
    name = ""
    o = F.field_offset(buf, pos, F.slot(tfl.Tensor, "Name"))
    if o:
        start, count = F.vector_span(buf, pos + o, 1)
        name = bytes(buf[start : start + count]).decode("utf-8", errors="replace")
    quant = None
    q = None
    o = F.field_offset(buf, pos, F.slot(tfl.Tensor, "Quantization"))
    if o:
        q = tfl.QuantizationParameters()
        q.Init(buf, F.table_at(buf, pos + o))
    if q is not None and q.ScaleLength():
        scales = [float(x) for x in q.ScaleAsNumpy()]
        zps = [int(x) for x in q.ZeroPointAsNumpy()] if q.ZeroPointLength() else [0] * len(scales)
        quant = Quantization(scales=scales, zero_points=zps, quantized_dimension=int(q.QuantizedDimension()))
    return TensorInfo(
        index=index,
        name=name,
        shape=shape,
        shape_signature=sig,
        dtype=dtype,
        buffer=buffer,
        data_bytes=data_bytes,
        is_variable=bool(F.read(buf, pos, tf["IsVariable"])),
        quantization=quant,
        values=_small_values(small.get(buffer), dtype) if buffer else None,
    )


def _small_values(raw: bytes | None, dtype: str) -> list[int] | None:
    if not raw or dtype not in ("int32", "int64"):
        return None
    import numpy as np

    arr = np.frombuffer(raw, dtype=np.int32 if dtype == "int32" else np.int64)
    return [int(x) for x in arr]


def itemsize(dtype: str) -> float:
    return _ITEMSIZE.get(dtype, 0)
