"""TFLite models on a phone through TensorFlow Lite's ``benchmark_model``: its flags from a
bench spec, and its printed output (parsed by edgekit.transports.tool_output) as a result
document that says ``aggregate_only`` (the tool prints aggregates, no per-run samples)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.errors import EdgekitError
from edgekit.results.schema import BENCH_DEFAULTS
from edgekit.transports.android_tools import base_result, requested_delegate, run_tool
from edgekit.transports.base import last_line as _tail
from edgekit.transports.crash import log_tail
from edgekit.transports.tool_output import parse_benchmark_model

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.transports.adb import AdbTransport


def benchmark_model_argv(spec: dict, binary: str, model: str, affinity: str | None) -> list[str]:
    """benchmark_model's flags for a spec (warmup, runs, time, threads, delegate)."""
    d = BENCH_DEFAULTS
    argv = [
        binary,
        f"--graph={model}",
        f"--warmup_runs={int(spec.get('warmup', d['warmup']))}",
        f"--num_runs={int(spec.get('min_runs', d['min_runs']))}",
        f"--min_secs={float(spec.get('min_time_s', d['min_time_s'])):g}",
        f"--max_secs={float(spec.get('max_time_s', 300.0)):g}",
        "--report_peak_memory_footprint=true",
    ]
    if spec.get("threads"):
        argv.append(f"--num_threads={int(spec['threads'])}")
    delegate = requested_delegate(spec)
    argv.append(f"--use_xnnpack={'true' if spec.get('xnnpack', True) and delegate in (None, 'xnnpack') else 'false'}")
    if delegate == "gpu":
        argv.append("--use_gpu=true")
    elif delegate == "nnapi":
        argv.append("--use_nnapi=true")
    elif delegate == "hexagon":
        argv.append("--use_hexagon=true")
    elif delegate not in (None, "xnnpack"):
        raise EdgekitError(f"unknown delegate {delegate!r} for benchmark_model", "use xnnpack, gpu, nnapi or hexagon")
    if affinity:
        argv = ["taskset", affinity] + argv
    return argv


def result_from_benchmark_model(base: dict, parsed: dict, output: str) -> dict:
    """Fill a result from parse_benchmark_model(); status error with the tool's ERROR lines."""
    result = dict(base)
    if not parsed["ok"]:
        message = "; ".join(parsed["errors"][:3]) or _tail(output)
        result["error"] = {
            "type": "EdgekitError",
            "message": f"benchmark_model failed on the device: {message}",
            "hint": "check the model runs with this runtime version (edgekit inspect shows its minimum)",
        }
        return result
    steady = parsed["steady"]
    avg = steady["avg"]
    latency = {
        "n": steady["count"],
        "min": steady["min"],
        "p50": steady.get("median"),
        "p90": None,
        "p99": None,
        "max": steady["max"],
        "mean": avg,
        "std": steady.get("std"),
        "cv": (steady.get("std") or 0.0) / avg if avg else 0.0,
        "trimmed_mean": None,
        "p5": steady.get("p5"),
        "p95": steady.get("p95"),
        "throughput_per_s": 1000.0 / avg if avg else None,  # schema v2: 1000 / mean, never 1 / p50
        "aggregate_only": True,
        "source": "benchmark_model",
    }
    mem = parsed.get("memory_mb") or {}
    result.update(
        {
            "status": "ok",
            "inputs": "random (benchmark_model)",
            "init_ms": parsed["init_ms"],
            "load_phases_ms": {"init": parsed["init_ms"]},
            "first_inference_ms": parsed["first_inference_ms"],
            "warmup_runs": parsed.get("warmup_count"),
            "warmup_avg_ms": parsed.get("warmup_avg_ms"),
            "latency_ms": latency,
            "samples_ms": [],
            "memory": {
                "peak_rss_bytes": int(mem["overall"] * 1024 * 1024) if "overall" in mem else None,
                "model_rss_bytes": int(mem["init"] * 1024 * 1024) if "init" in mem else None,
                "footprint_mb": mem or None,
            },
            "delegates": parsed["delegates"],
            "delegate_fallback": parsed["fallback"],
        }
    )
    return result


def run_benchmark_model(t: "AdbTransport", spec: dict, local: str, remote: str, run_dir: str, timeout: float | None) -> dict:
    d = t.device
    binary = t.ensure_binary(
        d.benchmark_model if d else None, d.benchmark_model_remote if d else "/data/local/tmp/benchmark_model", "benchmark_model"
    )
    argv = benchmark_model_argv(spec, binary, remote, d.affinity if d else None)
    base = base_result(
        t,
        spec,
        local,
        {
            "name": "benchmark_model",
            "version": None,
            "delegate": requested_delegate(spec) or ("xnnpack" if spec.get("xnnpack", True) else None),
        },
    )
    output, failure = run_tool(t, dict(spec, artifact=local), "benchmark_model", run_dir, argv, timeout)
    if failure is not None:
        result = dict(base, error=failure.to_dict())
    else:
        result = result_from_benchmark_model(base, parse_benchmark_model(output, requested_delegate(spec)), output)
        if result.get("status") != "ok":
            result["error"].setdefault("log_tail", log_tail(output))
    result["tool_output_tail"] = output.strip().splitlines()[-12:]
    return result
