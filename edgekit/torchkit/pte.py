"""What a .pte file delegates, read from the file itself (no build-time information needed).

A .pte's execution plan is a list of instructions: ``DelegateCall`` runs one lowered partition on
a backend, ``KernelCall`` runs one operator on the portable (or quantized/optimized) kernels. So
the ops left off the delegate are exactly the KernelCalls, by operator name. How many graph nodes
a partition took is inside the backend's opaque payload; for XNNPACK the payload is an ``XN01``
flatbuffer whose ``xnodes`` vector holds one entry per XNNPACK node, which we count with the
generic flatbuffers reader (XNNPACK ships no Python deserializer).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# Operators that do real arithmetic work: falling back to portable kernels for these is what makes
# a delegated model 100x slower (measured: 3.0 ms on XNNPACK vs 824 ms portable for a small CNN).
COMPUTE_OPS = (
    "conv",
    "convolution",
    "linear",
    "addmm",
    "mm",
    "bmm",
    "matmul",
    "baddbmm",
    "avg_pool",
    "max_pool",
    "adaptive_avg_pool",
    "mean",
    "sum",
    "softmax",
    "log_softmax",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "native_layer_norm",
    "upsample",
    "scaled_dot_product",
    "embedding",
    "lstm",
    "gru",
    "cumsum",
    "einsum",
)
# Kernel calls that only move or reinterpret data (memory planning glue, not compute).
GLUE_OPS = (
    "getitem",
    "alloc",
    "view",
    "_to_dim_order_copy",
    "clone",
    "expand_copy",
    "unsqueeze",
    "squeeze",
    "permute",
    "reshape",
    "select",
    "slice",
    "detach",
    "_assert",
)


def is_compute_op(op: str) -> bool:
    """True when ``op`` (``aten::conv2d``, ``aten_convolution_default`` ...) does compute."""
    base = op.lower().replace("::", "_").replace(".", "_")
    base = base[len("aten_") :] if base.startswith("aten_") else base
    return base.startswith(COMPUTE_OPS) and not base.startswith(GLUE_OPS)


def _xnnpack_node_count(payload: bytes) -> int | None:
    """Number of XNNPACK nodes in one XnnpackBackend payload (XH00 header + XN01 flatbuffer)."""
    try:
        from flatbuffers.table import Table
    except ImportError:
        return None
    data = bytes(payload)
    if data[4:8] == b"XH00":
        off = int.from_bytes(data[10:14], "little")
        size = int.from_bytes(data[14:18], "little")
        data = data[off : off + size]
    if data[4:8] != b"XN01":
        return None
    root = int.from_bytes(data[0:4], "little")
    table = Table(bytearray(data), root)
    o = table.Offset(6)  # field 1 of XNNGraph: xnodes
    return table.VectorLen(o) if o else 0


def _delegate_payload(program: Any, delegate: Any) -> bytes | None:
    ref = delegate.processed
    try:
        if int(ref.location) == 0:  # INLINE: restored into backend_delegate_data by the deserializer
            return program.backend_delegate_data[ref.index].data
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return None


def read_delegation(path_or_bytes: str | bytes, method: str = "forward") -> dict:
    """Delegation of one method of a .pte: per backend partitions and nodes, kernels left behind.

    Returns ``{"backends": {name: {"partitions": n, "nodes": n|None}}, "kernels": {op: count},
    "compute_fallback": {op: count}, "instructions": n}``.
    """
    from executorch.exir._serialize._program import deserialize_pte_binary

    data = open(path_or_bytes, "rb").read() if isinstance(path_or_bytes, str) else path_or_bytes
    program = deserialize_pte_binary(data).program
    plans = {p.name: p for p in program.execution_plan}
    plan = plans.get(method) or program.execution_plan[0]
    backends: dict[str, dict] = {}
    kernels: Counter = Counter()
    n_instr = 0
    for chain in plan.chains:
        for instr in chain.instructions:
            n_instr += 1
            args = instr.instr_args
            kind = type(args).__name__
            if kind == "DelegateCall":
                delegate = plan.delegates[args.delegate_index]
                entry = backends.setdefault(delegate.id, {"partitions": 0, "nodes": 0})
                entry["partitions"] += 1
                payload = _delegate_payload(program, delegate)
                count = _xnnpack_node_count(payload) if payload and delegate.id == "XnnpackBackend" else None
                if count is None or entry["nodes"] is None:
                    entry["nodes"] = None  # opaque payload: count unknown, partitions still known
                else:
                    entry["nodes"] += count
            elif kind == "KernelCall":
                op = plan.operators[args.op_index]
                name = op.name + (f".{op.overload}" if getattr(op, "overload", "") else "")
                kernels[name] += 1
    fallback = {op: n for op, n in kernels.items() if is_compute_op(op)}
    return {
        "backends": backends,
        "kernels": dict(sorted(kernels.items())),
        "compute_fallback": dict(sorted(fallback.items())),
        "instructions": n_instr,
    }


def session_delegates(info: dict) -> list[dict]:
    """The harness's ``delegates`` entries (the same shape the TFLite runtime reports)."""
    kernels = info["kernels"]
    n_kernels = sum(kernels.values())
    if not info["backends"]:
        return [
            {
                "name": "none (portable kernels)",
                "nodes": 0,
                "total_nodes": n_kernels,
                "partitions": 0,
                "not_delegated": dict(kernels),
            }
        ]
    out = []
    for name, b in info["backends"].items():
        nodes = b["nodes"] if b["nodes"] is not None else b["partitions"]
        out.append(
            {
                "name": name,
                "nodes": nodes,
                "total_nodes": nodes + n_kernels,
                "partitions": b["partitions"],
                "not_delegated": dict(kernels),
                **({"compute_fallback": dict(info["compute_fallback"])} if info["compute_fallback"] else {}),
            }
        )
    return out
