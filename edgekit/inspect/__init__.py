"""Model inspection: what is inside an artifact, read from the file without running it.

``describe(path)`` is the full picture behind ``edgekit inspect``; ``model_facts(path)`` is the cheap
summary other stages attach to results (MACs for MAC/s, parameter count). Only the standard library
and the pure-Python ``tflite`` schema bindings are used: no runtime, no TensorFlow.
"""

from __future__ import annotations

import os

from edgekit.errors import EdgekitError


def load_tflite(path: str):
    """Parse a .tflite into dataclasses (see tflite_model); one EdgekitError on any problem."""
    from edgekit.inspect.tflite_model import load

    return load(path)


def describe(path: str) -> dict:
    """Everything ``edgekit inspect --json`` prints, as one JSON-ready dict."""
    from edgekit.inspect.tflite_model import load

    return _describe(load(path), os.path.abspath(path))


def describe_bytes(data: bytes, name: str = "<bytes>") -> dict:
    """``describe`` of a model held in memory (the fuzz campaign's entry: no temp file per case)."""
    from edgekit.inspect.tflite_model import parse_bytes

    return _describe(parse_bytes(data, name), name)


def _describe(model, path: str) -> dict:
    from edgekit.inspect import edgetpu_compiled, macs

    est = macs.estimate(model)
    count, nbytes = model.params()
    op_counts: dict[str, int] = {}
    for _, op in model.all_operators():
        op_counts[op.name] = op_counts.get(op.name, 0) + 1
    subgraphs = []
    for sg in model.subgraphs:
        ops = []
        for op in sg.operators:
            d = op.to_dict()
            d["macs"] = est.per_op.get(op.index) if sg.index == 0 else None
            d["input_shapes"] = [sg.tensors[i].shape if i >= 0 else None for i in op.inputs]
            d["output_shapes"] = [sg.tensors[i].shape if i >= 0 else None for i in op.outputs]
            ops.append(d)
        subgraphs.append(
            {
                "index": sg.index,
                "name": sg.name,
                "inputs": [sg.tensors[i].to_dict() for i in sg.inputs if 0 <= i < len(sg.tensors)],
                "outputs": [sg.tensors[i].to_dict() for i in sg.outputs if 0 <= i < len(sg.tensors)],
                "operators": ops,
                "tensors": [t.to_dict() for t in sg.tensors],
            }
        )
    per_channel = sum(1 for sg in model.subgraphs for t in sg.tensors if t.quantization and t.quantization.per_channel)
    from dataclasses import asdict

    return {
        "path": path,
        "file_bytes": model.file_bytes,
        "format": "tflite",
        "schema_version": model.schema_version,
        "description": model.description,
        "min_runtime_version": model.min_runtime_version,
        "ops": sum(len(sg.operators) for sg in model.subgraphs),
        "op_counts": op_counts,
        "custom_ops": model.custom_ops(),
        "params": count,
        "param_bytes": nbytes,
        "per_channel_tensors": per_channel,
        "macs": est.total,
        "macs_detail": est.to_dict(),
        "edgetpu": edgetpu_compiled.placement(model),
        "subgraphs": subgraphs,
        "signatures": [asdict(s) for s in model.signatures],
        "metadata": [asdict(m) for m in model.metadata],
    }


def model_facts(path: str) -> dict | None:
    """Cheap facts for results: MACs, params, op count, min runtime version. Never raises.

    None for formats this module does not read (.pte, .ptl) and for files it cannot parse (the
    benchmark that asked has its own error path). MACs are None for Edge TPU compiled models: their
    compute is hidden inside the compiled custom op, so MAC/s would be meaningless.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[4:8] != b"TFL3":
            return None
        from edgekit.inspect import macs as macs_mod
        from edgekit.inspect.tflite_model import load

        model = load(path)
        est = macs_mod.estimate(model)
        count, nbytes = model.params()
        return {
            "macs": est.total if est.total and not model.edgetpu_compiled else None,
            "macs_complete": est.complete,
            "params": count,
            "param_bytes": nbytes,
            "ops": sum(len(sg.operators) for sg in model.subgraphs),
            "min_runtime_version": model.min_runtime_version,
        }
    except (EdgekitError, OSError, Exception):
        return None
