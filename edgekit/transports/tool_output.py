"""Read what the native benchmark binaries print, for devices where the Python runner cannot run
(Android phones): TFLite's ``benchmark_model`` and ExecuTorch's ``executor_runner``.

These tools print aggregates only (benchmark_model: count/min/max/avg/std and, since about TF 2.13,
p5/median/p95; executor_runner: the total time of N executions), never the per-run samples. The
result built from them says so (``latency_ms.aggregate_only``) and leaves what the tool did not
measure (p90, p99, trimmed mean, raw samples) empty instead of inventing it.

Delegate placement comes from TFLite's own log lines ("Replacing N out of M node(s) with delegate
(NAME) node, yielding P partitions"); a delegate that was asked for and took nothing (NNAPI "will
not be executed by the delegate", a GPU delegate that is never mentioned as replacing nodes) is
reported as a fallback to the CPU.
"""

from __future__ import annotations

import re

_NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_STAT_RE = re.compile(rf"count=(\d+)((?:\s+\w+={_NUM})+)", re.IGNORECASE)
_KV_RE = re.compile(rf"(\w+)=({_NUM})", re.IGNORECASE)
_TIMINGS_RE = re.compile(
    rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), Warmup \(avg\): ({_NUM}), "
    rf"Inference \(avg\): ({_NUM})"
)
_MEM_RE = re.compile(
    rf"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): init=({_NUM}) overall=({_NUM})"
)
_MEM_MONITOR_RE = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})")
_REPLACE_RE = re.compile(
    r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \((\w+)\) node"
    r"(?:, yielding (\d+) partitions)?"
)
_INIT_SESSION_RE = re.compile(rf"Initialized session in ({_NUM}) ?ms")
_GPU_SPLIT_RE = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations will run on the CPU")

# Delegate names in TFLite's log -> the names edgekit results use.
DELEGATE_NAMES = {
    "TfLiteXNNPackDelegate": "XNNPACK",
    "TfLiteGpuDelegateV2": "GPU",
    "TfLiteGpuDelegate": "GPU",
    "TfLiteNnapiDelegate": "NNAPI",
    "TfLiteHexagonDelegate": "Hexagon",
    "EdgeTpuDelegateForCustomOp": "EdgeTPU",
}
# Which log name a requested delegate flag must produce, to tell a silent fallback.
REQUESTED_TO_LOG = {"gpu": "GPU", "nnapi": "NNAPI", "hexagon": "Hexagon", "xnnpack": "XNNPACK"}


def _f(x: str | None) -> float | None:
    return float(x) if x is not None else None


def parse_stat_lines(text: str) -> list[dict]:
    """Every ``count=N first=.. curr=.. min=.. ...`` line (values in microseconds), in order."""
    stats = []
    for m in _STAT_RE.finditer(text):
        entry: dict = {"count": int(m.group(1))}
        for k, v in _KV_RE.findall(m.group(2)):
            entry[k.lower()] = float(v)
        stats.append(entry)
    return stats


def parse_benchmark_model(text: str, requested_delegate: str | None = None) -> dict:
    """Parse benchmark_model's combined stdout+stderr into timings (ms), memory and delegates.

    Returns {"ok": bool, "errors": [...], "init_ms", "first_inference_ms", "warmup_avg_ms",
    "steady": {count, min, max, avg, std, p5, median, p95 in ms}, "memory_mb": {...},
    "delegates": [...], "fallback": str | None}.
    """
    text = text.replace("\r", "")
    out: dict = {"ok": False, "errors": [], "delegates": [], "fallback": None}
    errors = [l.split("ERROR:", 1)[1].strip() for l in text.splitlines() if "ERROR:" in l]
    out["errors"] = [e for e in errors if e]
    timings = _TIMINGS_RE.search(text)
    if timings:
        init, first, warm, avg = (float(g) / 1000.0 for g in timings.groups())
        out.update(init_ms=init, first_inference_ms=first, warmup_avg_ms=warm, inference_avg_ms=avg)
    # The last count= line is the steady-state run (the first one is the warmup phase); in
    # op-profiling output a "Timings (microseconds): count=" summary repeats it.
    stat_lines = [
        l for l in text.splitlines() if "count=" in l and "Timings (microseconds)" not in l and "Memory (bytes)" not in l
    ]
    stats = parse_stat_lines("\n".join(stat_lines))
    full = [s for s in stats if "avg" in s and "min" in s]
    if full:
        s = full[-1]
        out["steady"] = {
            "count": s["count"],
            **{k: s[k] / 1000.0 for k in ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95") if k in s},
        }
        if len(full) >= 2:
            out["warmup_count"] = full[0]["count"]
    mem = None
    for mem in _MEM_RE.finditer(text):
        pass
    if mem:
        out["memory_mb"] = {"init": float(mem.group(1)), "overall": float(mem.group(2))}
    monitored = _MEM_MONITOR_RE.search(text)
    if monitored:
        out.setdefault("memory_mb", {})["peak_monitored"] = float(monitored.group(1))
    session = _INIT_SESSION_RE.search(text)
    if session:
        out["session_init_ms"] = float(session.group(1))
    for m in _REPLACE_RE.finditer(text):
        nodes, total, name, parts = m.groups()
        out["delegates"].append(
            {
                "name": DELEGATE_NAMES.get(name, name),
                "nodes": int(nodes),
                "total_nodes": int(total) if total else None,
                "partitions": int(parts) if parts else None,
            }
        )
    gpu_split = _GPU_SPLIT_RE.search(text)
    if gpu_split:
        out["gpu_cpu_split"] = {"gpu_ops": int(gpu_split.group(1)), "cpu_ops": int(gpu_split.group(2))}
    out["fallback"] = delegate_fallback(text, out["delegates"], requested_delegate)
    out["ok"] = "steady" in out and timings is not None and "Benchmarking failed" not in text
    return out


def delegate_fallback(text: str, delegates: list[dict], requested: str | None) -> str | None:
    """A sentence saying the requested delegate did not take (all of) the graph, else None."""
    if not requested or requested == "xnnpack":
        return None
    log_name = REQUESTED_TO_LOG.get(requested, requested)
    took = [d for d in delegates if d["name"] == log_name]
    if "will not be executed by the delegate" in text or not took:
        return f"the {log_name} delegate took no node; the model ran on the CPU"
    nodes = sum(d["nodes"] for d in took)
    total = took[0].get("total_nodes")
    if total and nodes < total:
        return f"the {log_name} delegate took {nodes} of {total} nodes; the rest ran on the CPU"
    return None


_ET_RUN_RE = re.compile(rf"Model executed successfully (\d+) time\(s\)(?: in ({_NUM}) ms)?")
_ET_LOAD_RE = re.compile(rf"Model loaded in ({_NUM}) ?ms", re.IGNORECASE)


def parse_executor_runner(text: str) -> dict:
    """Parse ExecuTorch executor_runner's log: 'Model executed successfully N time(s) in X ms.'"""
    out: dict = {"ok": False, "errors": []}
    out["errors"] = [l.strip() for l in text.splitlines() if re.match(r"^\s*E \d", l) or "failed with status" in l]
    m = None
    for m in _ET_RUN_RE.finditer(text):
        pass
    if m:
        n = int(m.group(1))
        out["count"] = n
        if m.group(2) is not None and n > 0:
            out["total_ms"] = float(m.group(2))
            out["avg_ms"] = float(m.group(2)) / n
        out["ok"] = "avg_ms" in out
    load = _ET_LOAD_RE.search(text)
    if load:
        out["load_ms"] = float(load.group(1))
    return out
