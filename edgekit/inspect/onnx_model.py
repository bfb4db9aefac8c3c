"""What is inside an .onnx file: opset, inputs/outputs with dynamic dimensions, ops, parameters, MACs.

Read with the ``onnx`` package (host only; imported lazily). Parameters are the initializers plus
the tensors of ``Constant`` nodes (Paddle2ONNX exports, such as the RapidOCR models, keep every
weight in Constant nodes and have no initializers at all).

MACs are counted for Conv, ConvTranspose, Gemm and MatMul at one stated input shape
(``--input-shape x=1,3,48,192``), because most ONNX models declare dynamic dimensions and their
compute depends on them. Shapes come from ``onnx.shape_inference.infer_shapes(data_prop=True)``;
where that leaves a counted op's shape unknown (a Reshape fed by computed shapes, common in
exported attention blocks), and onnxruntime is installed, the missing shapes come from one
onnxruntime run on zeros at the stated shape with those tensors added as graph outputs. The
result says which of the two gave the shapes and which ops stayed uncounted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from edgekit.errors import EdgekitError, require_model_file

COUNTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# ONNX TensorProto.DataType -> (numpy name, bytes per element)
DTYPES = {
    1: ("float32", 4),
    2: ("uint8", 1),
    3: ("int8", 1),
    4: ("uint16", 2),
    5: ("int16", 2),
    6: ("int32", 4),
    7: ("int64", 8),
    8: ("string", 0),
    9: ("bool", 1),
    10: ("float16", 2),
    11: ("float64", 8),
    12: ("uint32", 4),
    13: ("uint64", 8),
    16: ("bfloat16", 2),
}


def _prod(dims: Sequence[int]) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _import_onnx():
    try:
        import onnx

        return onnx
    except ImportError:
        from edgekit.errors import EnvironmentMissing

        raise EnvironmentMissing("reading .onnx files needs the onnx package", "pip install 'edgekit[onnx]'") from None


def load(path: str):
    """The ModelProto of ``path`` (external data loaded when present); one EdgekitError on a bad file."""
    require_model_file(path, "an .onnx file")
    with open(path, "rb") as f:
        if f.read(8)[4:8] == b"ORTM":
            raise EdgekitError(
                f"{path} is an ONNX Runtime (.ort) model, which edgekit inspect does not read",
                "inspect the .onnx it was converted from; edgekit bench runs the .ort",
            )
    onnx = _import_onnx()
    try:
        return onnx.load(path)
    except Exception as exc:  # DecodeError, ValidationError, missing external data ...
        from edgekit.console import safe

        raise EdgekitError(
            f"{safe(path, markup=False)} is not a readable ONNX model ({type(exc).__name__}: {str(exc)[:160]})",
            "the file is truncated or not an .onnx; re-export or re-download it",
        ) from None


def _value_dims(value: Any) -> tuple[list[int], list[str | None]]:
    """A ValueInfoProto's dims: ints with -1 for dynamic, and the symbolic name of each dynamic one."""
    dims, names = [], []
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return dims, names
    for d in t.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
            names.append(None)
        else:
            dims.append(-1)
            names.append(d.dim_param or None)
    return dims, names


def _io(value: Any) -> dict:
    dims, names = _value_dims(value)
    elem = value.type.tensor_type.elem_type
    return {
        "name": value.name,
        "dtype": DTYPES.get(elem, (f"type{elem}", 0))[0],
        "shape": dims,
        "dim_names": names,
        "dynamic_dims": [i for i, d in enumerate(dims) if d < 0],
    }


def graph_inputs(model: Any) -> list[Any]:
    """The real inputs (older exporters also list every initializer as a graph input)."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _constants(model: Any) -> dict[str, Any]:
    """name -> TensorProto of every initializer and Constant node's value (weights, shapes)."""
    out = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.HasField("t"):
                    out[node.output[0]] = a.t
    return out


def _tensor_bytes(t: Any) -> tuple[int, int]:
    n = _prod(t.dims)
    size = DTYPES.get(t.data_type, ("", 0))[1]
    return n, n * size


def fix_shapes(model: Any, shapes: Mapping[str, Sequence[int]]) -> Any:
    """A copy of ``model`` whose inputs have the given concrete shapes (names and ranks checked)."""
    import copy

    inputs = {i.name: i for i in graph_inputs(model)}
    for name, shape in shapes.items():
        if name not in inputs:
            raise EdgekitError(
                f"--input-shape names {name!r}, but the model has no input of that name",
                f"its inputs are: {', '.join(repr(n) for n in inputs) or 'none'}",
            )
        rank = len(inputs[name].type.tensor_type.shape.dim)
        if len(shape) != rank:
            raise EdgekitError(
                f"--input-shape gives {name!r} {len(shape)} dimension(s), the input has {rank}",
                f"give all {rank} dimensions, e.g. {name}={','.join(['1'] * rank)}",
            )
    m = copy.deepcopy(model)
    for i in graph_inputs(m):
        if i.name in shapes:
            for d, v in zip(i.type.tensor_type.shape.dim, shapes[i.name]):
                d.Clear()
                d.dim_value = int(v)
    return m


def _inferred_shapes(model: Any) -> dict[str, list[int]]:
    onnx = _import_onnx()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        inferred = model
    shapes: dict[str, list[int]] = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        dims, _ = _value_dims(v)
        if v.type.tensor_type.HasField("shape") and all(d > 0 for d in dims):
            shapes[v.name] = dims
    return shapes


def _shapes_from_run(model: Any, names: Sequence[str], fixed: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Shapes of tensors ``names`` from one onnxruntime run on zeros (empty if that cannot run)."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        return {}
    onnx = _import_onnx()
    m = onnx.ModelProto()
    m.CopyFrom(model)
    present = {o.name for o in m.graph.output}
    for n in names:
        if n not in present:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the tensors named
        sess = ort.InferenceSession(m.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
        from edgekit.runtimes.onnxrt import ORT_TYPES

        feed = {i.name: np.zeros(fixed[i.name], dtype=ORT_TYPES.get(i.type, "float32")) for i in sess.get_inputs()}
        wanted = [n for n in names]
        outs = sess.run(wanted, feed)
    except Exception:
        return {}
    return {n: [int(d) for d in np.shape(o)] for n, o in zip(wanted, outs)}


def _attr(node: Any, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            onnx = _import_onnx()
            return onnx.helper.get_attribute_value(a)
    return default


def _node_macs(node: Any, shape) -> int | None:
    """MACs of one counted node, or None when a needed shape is unknown."""
    op = node.op_type
    if op == "Conv":
        out, w = shape(node.output[0]), shape(node.input[1])
        if out is None or w is None:
            return None
        return _prod(out) * _prod(w[1:])  # each output element: C/group * kernel MACs
    if op == "ConvTranspose":
        x, w = shape(node.input[0]), shape(node.input[1])
        if x is None or w is None:
            return None
        return _prod(x) * _prod(w[1:])  # each input element scatters into M/group * kernel outputs
    if op == "Gemm":
        a, b = shape(node.input[0]), shape(node.input[1])
        if a is None or b is None or len(a) != 2 or len(b) != 2:
            return None
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if _attr(node, "transB", 0) else b[1]
        return m * k * n
    if op == "MatMul":
        a, out = shape(node.input[0]), shape(node.output[0])
        if a is None or out is None or not a:
            return None
        return _prod(out) * a[-1]
    return None


def count_macs(model: Any, fixed: Mapping[str, Sequence[int]]) -> dict:
    """MACs of the counted ops at the shapes ``fixed`` (every dynamic input must be given)."""
    consts = _constants(model)
    const_shapes = {k: [int(d) for d in t.dims] for k, t in consts.items()}
    m = fix_shapes(model, fixed) if fixed else model
    shapes = _inferred_shapes(m)
    heavy = [n for n in model.graph.node if n.op_type in COUNTED]

    def shape(name: str):
        if name in const_shapes:
            return const_shapes[name]
        return shapes.get(name)

    missing = sorted(
        {t for n in heavy if _node_macs(n, shape) is None for t in (*n.input[:2], n.output[0]) if t and shape(t) is None}
    )
    how = "onnx.shape_inference"
    if missing:
        ran = _shapes_from_run(m, missing, fixed)
        if ran:
            shapes.update(ran)
            how = "onnx.shape_inference, and one onnxruntime run on zeros for the shapes it could not infer"
    per_type: dict[str, int] = {}
    total = 0
    uncounted: dict[str, int] = {}
    for n in heavy:
        macs = _node_macs(n, shape)
        if macs is None:
            uncounted[n.op_type] = uncounted.get(n.op_type, 0) + 1
            continue
        per_type[n.op_type] = per_type.get(n.op_type, 0) + macs
        total += macs
    return {
        "total": total,
        "by_op": per_type,
        "not_counted": uncounted,
        "counted_types": list(COUNTED),
        "shapes_from": how,
        "at": {k: list(v) for k, v in fixed.items()},
    }


def describe(path: str, input_shapes: Mapping[str, Sequence[int]] | None = None) -> dict:
    """Everything ``edgekit inspect model.onnx --json`` prints."""
    model = load(path)
    inputs = [_io(i) for i in graph_inputs(model)]
    outputs = [_io(o) for o in model.graph.output]
    op_counts: dict[str, int] = {}
    for n in model.graph.node:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        op_counts[key] = op_counts.get(key, 0) + 1
    count = nbytes = 0
    for t in _constants(model).values():
        if t.data_type in (6, 7) and len(t.dims) <= 1:
            continue  # int32/int64 vectors are shapes, axes and indices, not weights
        c, b = _tensor_bytes(t)
        count, nbytes = count + c, nbytes + b
    fixed = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    if fixed:
        fix_shapes(model, fixed)  # names and ranks checked before anything is counted
    for i in inputs:  # a fully static input needs no --input-shape
        if i["name"] not in fixed and not i["dynamic_dims"]:
            fixed[i["name"]] = list(i["shape"])
    open_inputs = [i for i in inputs if i["name"] not in fixed]
    if open_inputs:
        first = open_inputs[0]
        example = ",".join(str(d) if d > 0 else "1" for d in first["shape"])
        macs = {
            "total": None,
            "by_op": {},
            "not_counted": {},
            "counted_types": list(COUNTED),
            "shapes_from": None,
            "at": {},
            "needs": f"--input-shape {first['name']}={example} (with the real sizes of its dynamic dimensions)",
        }
    else:
        macs = count_macs(model, fixed)
    return {
        "path": os.path.abspath(path),
        "format": "onnx",
        "file_bytes": os.path.getsize(path),
        "ir_version": int(model.ir_version),
        "opset": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "graph": model.graph.name,
        "inputs": inputs,
        "outputs": outputs,
        "nodes": len(model.graph.node),
        "op_counts": dict(sorted(op_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "params": count,
        "param_bytes": nbytes,
        "macs": macs["total"],
        "macs_detail": macs,
        "metadata": {p.key: p.value[:200] for p in model.metadata_props},
    }


def render(info: dict, out=None) -> None:
    """The table view of ``describe`` for people; every string from the file escaped."""
    from rich.table import Table

    from edgekit.console import console, human_bytes, safe
    from edgekit.inspect.report import print_summary

    out = out or console()
    out.print(f"[bold]{safe(info['path'], limit=200)}[/bold]")

    def shape(io: dict) -> str:
        dims = [str(d) if d >= 0 else f"{safe(n or '?', limit=24)}*" for d, n in zip(io["shape"], io["dim_names"])]
        return "[" + ",".join(dims) + "]"

    md = info["macs_detail"]
    if md["total"] is None:
        mac_text = f"- (dynamic inputs: pass {safe(md.get('needs', '--input-shape'))})"
    else:
        mac_text = f"{md['total'] / 1e6:.2f} M at " + ", ".join(f"{safe(k)}={','.join(map(str, v))}" for k, v in md["at"].items())
        mac_text += " (" + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in md["by_op"].items()) + ")"
        if md["not_counted"]:
            mac_text += "; not counted (shape unknown): " + ", ".join(f"{k} x{v}" for k, v in md["not_counted"].items())
    rows = [
        ("file size", human_bytes(info["file_bytes"])),
        ("format", f"ONNX (IR version {info['ir_version']})"),
        ("opset", ", ".join(f"{safe(k)} {v}" for k, v in info["opset"].items())),
        ("producer", safe(info["producer"], limit=80) or "-"),
        ("nodes", str(info["nodes"])),
        ("parameters", f"{info['params']:,} ({human_bytes(info['param_bytes'])})"),
        ("estimated MACs", mac_text),
    ]
    print_summary(out, rows)
    io_table = Table(title="inputs and outputs (* marks a dynamic dimension)")
    for col in ("", "name", "dtype", "shape"):
        io_table.add_column(col)
    for kind, items in (("input", info["inputs"]), ("output", info["outputs"])):
        for io in items[:50]:
            io_table.add_row(kind, safe(io["name"], limit=80), io["dtype"], shape(io))
    out.print(io_table)
    ops = Table(title="operators")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    for k, v in list(info["op_counts"].items())[:300]:
        ops.add_row(safe(k, limit=80), str(v))
    out.print(ops)
    if any(io["dynamic_dims"] for io in info["inputs"]) and md["total"] is None:
        out.print(
            "[yellow]The model has dynamic input dimensions: fix them with --input-shape NAME=DIMS to count MACs "
            "(and to bench it).[/yellow]"
        )
