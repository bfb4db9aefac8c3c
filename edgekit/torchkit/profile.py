"""Per-op profile of a .pte: ETRecord (written at build, ``--option TARGET.etrecord=true``) + ETDump
(recorded by the ExecuTorch runtime in a worker process) summarized by ExecuTorch's Inspector.

Only on request: the event tracer costs time per op, so normal ``bench`` runs keep it off, and the
debug buffer stays at 0 (intermediate-output capture distorts timings, and a buffer too small for
them aborted the whole process in our measurements). Without an ETRecord the events still have
names and times, but not the source op types.
"""

from __future__ import annotations

import math
import os
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def summarize(etdump_path: str, etrecord_path: str | None) -> list[dict]:
    """One row per profiled event of the Execute block: op types, delegated or not, p10/p50/p90 ms."""
    try:
        from executorch.devtools import Inspector
    except ImportError as exc:
        raise EnvironmentMissing(f"ExecuTorch's Inspector cannot be imported ({exc})", "pip install 'edgekit[torch]'") from None
    try:
        inspector = Inspector(etdump_path=etdump_path, etrecord=etrecord_path)
        df = inspector.to_dataframe()
    except Exception as exc:
        raise EdgekitError(
            f"the Inspector could not read the profile ({type(exc).__name__}: {str(exc)[:200]})",
            "rebuild the .pte with etrecord=true and profile again",
        ) from None
    rows = []
    for rec in df.to_dict("records"):
        if rec.get("event_block_name") != "Execute" or rec.get("event_name") == "Method::execute":
            continue
        ops = [str(o) for o in (rec.get("op_types") or [])]
        raw = rec.get("raw") or []
        rows.append(
            {
                "event": rec.get("event_name"),
                "op_types": ops,
                "delegated": bool(rec.get("is_delegated_op")) or rec.get("event_name") == "DELEGATE_CALL",
                "backend": rec.get("delegate_backend_name"),
                "p10_ms": _num(rec.get("p10 (ms)")),
                "p50_ms": _num(rec.get("p50 (ms)")),
                "p90_ms": _num(rec.get("p90 (ms)")),
                "count": len(raw) if hasattr(raw, "__len__") else None,
            }
        )
    return rows


def profile_pte(
    path: str, *, etrecord: str | None = None, runs: int = 20, threads: int | None = None, timeout: float | None = 600.0
) -> dict:
    """Run ``path`` with the event tracer on, in a worker process, and summarize per op."""
    from edgekit import api

    if etrecord is None and os.path.exists(path + ".etrecord"):
        etrecord = path + ".etrecord"
    if etrecord is not None and not os.path.exists(etrecord):
        raise EdgekitError(f"no such ETRecord: {etrecord}", "build the target with --option TARGET.etrecord=true")
    from edgekit.harness.lifetime import owned_tempdir

    with owned_tempdir("etdump") as tmp:
        etdump = os.path.join(tmp, "run.etdp")
        result = api.bench(
            path,
            threads=threads,
            warmup=2,
            min_runs=max(1, runs),
            min_time_s=0.0,
            max_runs=max(1, runs),
            runtime_options={"etdump_path": etdump},
            timeout=timeout,
        )
        from edgekit.runtimes.executorch import FORMAT as PTE  # ETDump is ExecuTorch's own event trace

        if result["artifact"].get("format") != PTE.name:
            raise EdgekitError(f"{path} is not an ExecuTorch program", "per-op profiles work for .pte files")
        if not os.path.exists(etdump):
            raise EnvironmentMissing(
                "the ExecuTorch runtime wrote no ETDump (its event tracer is not built in)",
                "use an executorch wheel built with EXECUTORCH_ENABLE_EVENT_TRACER=ON",
            )
        rows = summarize(etdump, etrecord)
    return {
        "artifact": path,
        "etrecord": etrecord,
        "runs": runs,
        "threads": threads,
        "ops": rows,
        "latency_ms_with_tracer": result["latency_ms"]["p50"],
    }
