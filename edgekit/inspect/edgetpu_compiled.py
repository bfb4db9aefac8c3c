"""Recognise a model compiled by Coral's ``edgetpu_compiler`` and say what still runs on the CPU.

The compiler replaces every op it maps with one custom op ``edgetpu-custom-op`` (one per Edge TPU
segment) that carries the compiled executable in its custom options; every other op left in the
graph runs on the CPU. So the compiled file itself records the placement, with no log needed.
"""

from __future__ import annotations

from edgekit.inspect.tflite_model import EDGETPU_CUSTOM_OP, TFLiteModel


def placement(model: TFLiteModel) -> dict:
    """{"compiled": bool, "tpu_segments": n, "tpu_executable_bytes": b, "cpu_ops": [...]} (main subgraph)."""
    sg = model.main
    segments = [op for op in sg.operators if op.name == EDGETPU_CUSTOM_OP]
    cpu = [
        {"index": op.index, "name": op.name, "version": op.version, "custom": op.custom}
        for op in sg.operators
        if op.name != EDGETPU_CUSTOM_OP
    ]
    return {
        "compiled": bool(segments),
        "tpu_segments": len(segments),
        "tpu_executable_bytes": sum(op.custom_options_bytes for op in segments),
        "cpu_ops": cpu if segments else [],
        "cpu_op_counts": _counts(cpu) if segments else {},
    }


def _counts(ops: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for op in ops:
        out[op["name"]] = out.get(op["name"], 0) + 1
    return out
