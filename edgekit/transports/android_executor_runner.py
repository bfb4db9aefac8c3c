"""ExecuTorch ``.pte`` programs on a phone through ExecuTorch's ``executor_runner``: it prints
only an average over its executions, so the result is ``aggregate_only`` with the figures it does
not measure left None."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.results.schema import BENCH_DEFAULTS
from edgekit.transports.android_tools import base_result, run_tool
from edgekit.transports.base import last_line as _tail
from edgekit.transports.crash import log_tail
from edgekit.transports.tool_output import parse_executor_runner

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.transports.adb import AdbTransport


def run_executor_runner(t: "AdbTransport", spec: dict, local: str, remote: str, run_dir: str, timeout: float | None) -> dict:
    d = t.device
    binary = t.ensure_binary(
        d.executor_runner if d else None, d.executor_runner_remote if d else "/data/local/tmp/executor_runner", "executor_runner"
    )
    runs = int(spec.get("min_runs", BENCH_DEFAULTS["min_runs"]))
    argv = [binary, f"--model_path={remote}", f"--num_executions={runs}"]
    if d is not None and d.affinity:
        argv = ["taskset", d.affinity] + argv
    base = base_result(t, spec, local, {"name": "executor_runner", "version": None})
    output, failure = run_tool(t, dict(spec, artifact=local), "executor_runner", run_dir, argv, timeout)
    result = dict(base)
    result["tool_output_tail"] = output.strip().splitlines()[-12:]
    if failure is not None:
        result["error"] = failure.to_dict()
        return result
    parsed = parse_executor_runner(output)
    if not parsed["ok"]:
        result["error"] = {
            "type": "EdgekitError",
            "message": f"executor_runner failed on the device: {'; '.join(parsed['errors'][:2]) or _tail(output)}",
            "hint": "check the .pte's delegates are built into this executor_runner",
            "log_tail": log_tail(output),
        }
        return result
    avg = parsed["avg_ms"]
    result.update(
        {
            "status": "ok",
            "inputs": "executor_runner default inputs (ones)",
            "init_ms": parsed.get("load_ms"),
            "load_phases_ms": {},
            "first_inference_ms": None,
            "latency_ms": {
                "n": parsed["count"],
                "min": None,
                "p50": None,
                "p90": None,
                "p99": None,
                "max": None,
                "mean": avg,
                "std": None,
                "cv": 0.0,
                "trimmed_mean": None,
                "throughput_per_s": 1000.0 / avg if avg else None,
                "aggregate_only": True,
                "source": "executor_runner",
            },
            "samples_ms": [],
            "memory": {"peak_rss_bytes": None},
            "delegates": [],
        }
    )
    return result
