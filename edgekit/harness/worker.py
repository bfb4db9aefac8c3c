"""Run one measurement of one artifact, in its own process, and write one result JSON.

The host starts this as ``python -m edgekit.harness.worker --spec S --out O``; on a device the
same module runs from the single-file runner bundle. Runtimes can segfault, abort or keep thread
pools and allocator state between models; one process per measurement keeps a crash from taking
edgekit down and makes the peak-memory figure belong to this run alone.

Method (after pyperf and MLPerf): load and tensor allocation are timed apart from inference; the
first inference is reported on its own (it pays for lazy packing and cache warm-up); then warmup
runs are discarded; then at least ``min_runs`` runs and at least ``min_time_s`` seconds are timed,
one ``invoke()`` per sample with ``perf_counter_ns`` and the garbage collector off.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import gzip
import hashlib
import json
import os
import sys
import time
import traceback

from edgekit import __version__
from edgekit.errors import EdgekitError
from edgekit.harness import fingerprint, stats
from edgekit.results.schema import SCHEMA, SCHEMA_VERSION

DEFAULTS = {
    "threads": None,
    "xnnpack": True,
    "provider": None,
    "device_selector": None,
    "warmup": 10,
    "min_runs": 50,
    "min_time_s": 2.0,
    "max_runs": 100_000,
    "max_time_s": 300.0,
    "inputs": {"kind": "random", "seed": 0},
    "save_outputs": None,
    "expect_sha256": None,
    "device": {"name": "host", "transport": "host", "emulated": False},
}


def file_digests(path: str) -> dict:
    """sha256, size and gzip-compressed size (what an app store download costs)."""
    with open(path, "rb") as f:
        data = f.read()  # one read serves all three; models are at most a few hundred MB
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "gzip_bytes": len(gzip.compress(data, 6)),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _inputs_for(session, spec: dict):
    from edgekit.harness import inputs as inputs_mod

    src = spec.get("inputs") or {"kind": "random"}
    kind = src.get("kind", "random")
    if kind == "random":
        arrays = inputs_mod.random_inputs(session.inputs, int(src.get("seed", 0)))
        return inputs_mod.check_inputs(session.inputs, arrays, "random inputs"), "random"
    if kind == "file":
        return inputs_mod.load_array_file(src["path"], session.inputs), src.get("label") or os.path.basename(src["path"])
    if kind == "image":
        if len(session.inputs) != 1:
            raise EdgekitError("--image works for models with one input", "pass inputs with --input FILE.npz")
        arr = inputs_mod.image_to_array(src["path"], session.inputs[0], src.get("normalize"))
        return [arr], os.path.basename(src["path"])
    raise EdgekitError(f"unknown input kind {kind!r}", "use random, file or image")


def measure(spec: dict) -> dict:
    """Load, check, time and describe one artifact; returns a result (status ok)."""
    from edgekit.runtimes import detect_format, get_runtime
    from edgekit.runtimes.base import RunOptions

    path = spec["artifact"]
    fmt = spec.get("format") or detect_format(path)
    digests = file_digests(path)
    if spec.get("expect_sha256") and spec["expect_sha256"] != digests["sha256"]:
        raise EdgekitError(
            f"{os.path.basename(path)} on the device has sha256 {digests['sha256'][:12]}..., "
            f"expected {spec['expect_sha256'][:12]}...",
            "the copy was corrupted in transfer; run the command again",
        )
    runtime = get_runtime(fmt)
    options = RunOptions(
        threads=spec.get("threads"),
        xnnpack=bool(spec.get("xnnpack", True)),
        provider=spec.get("provider"),
        device=spec.get("device_selector"),
        extra=spec.get("runtime_options") or {},
    )
    runtime_info = runtime.describe(options)
    thermal_before = fingerprint.thermal()
    rss_before = fingerprint.current_rss_bytes()

    session = runtime.load(path, options)
    # init = what an app pays at start-up: building the interpreter (with delegates) and allocating.
    # The Python import of the runtime is reported apart in load_phases_ms["import"].
    init_ms = sum(v for k, v in session.load_phases_ms.items() if k != "import")
    rss_loaded = fingerprint.current_rss_bytes()

    arrays, input_desc = _inputs_for(session, spec)
    session.set_inputs(arrays)
    t0 = time.perf_counter_ns()
    session.invoke()
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    outputs = session.outputs()
    _check_outputs(outputs, session)

    warmup = int(spec["warmup"])
    min_runs = max(1, int(spec["min_runs"]))
    min_time_ns = int(float(spec["min_time_s"]) * 1e9)
    max_runs = max(min_runs, int(spec["max_runs"]))
    max_time_ns = int(float(spec["max_time_s"]) * 1e9)
    invoke = session.invoke
    clock = time.perf_counter_ns
    for _ in range(warmup):
        invoke()
    samples_ns: list[int] = []
    append = samples_ns.append
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        while True:
            t0 = clock()
            invoke()
            t1 = clock()
            append(t1 - t0)
            n = len(samples_ns)
            elapsed = t1 - start
            if (n >= min_runs and elapsed >= min_time_ns) or n >= max_runs or elapsed >= max_time_ns:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    wall_s = (clock() - start) / 1e9
    samples_ms = [s / 1e6 for s in samples_ns]
    outputs = session.outputs()
    saved = None
    if spec.get("save_outputs"):
        saved = _save_outputs(spec["save_outputs"], outputs, session)

    peak = fingerprint.peak_rss_bytes()
    result = base_result(spec, path, fmt, runtime_info, digests)
    result.update(
        {
            "status": "ok",
            "inputs": input_desc,
            "input_specs": [s.to_dict() for s in session.inputs],
            "output_specs": [s.to_dict() for s in session.outputs_spec],
            "init_ms": init_ms,
            "load_phases_ms": dict(session.load_phases_ms),
            "first_inference_ms": first_ms,
            "warmup_runs": warmup,
            "latency_ms": stats.summarize(samples_ms),
            "samples_ms": samples_ms,
            "wall_time_s": wall_s,
            "memory": {
                "peak_rss_bytes": peak,
                "rss_before_load_bytes": rss_before,
                "rss_after_load_bytes": rss_loaded,
                "model_rss_bytes": (rss_loaded - rss_before) if rss_before and rss_loaded else None,
            },
            "delegates": list(session.delegates),
            "outputs_file": saved,
            "thermal": {"before": thermal_before, "after": fingerprint.thermal()},
        }
    )
    session.close()
    return result


def _check_outputs(outputs, session) -> None:
    import numpy as np

    for spec, arr in zip(session.outputs_spec, outputs):
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise EdgekitError(
                f"output {spec.name!r} holds NaN or Inf after the first inference",
                "the model is broken (for example unfrozen weights); rebuild it and check it with edgekit build",
            )


def _save_outputs(path: str, outputs, session) -> str:
    import numpy as np

    named = {}
    for i, (spec, arr) in enumerate(zip(session.outputs_spec, outputs)):
        named[f"output_{i}"] = np.asarray(arr)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **named)
    os.replace(tmp, path)
    return path


def base_result(spec: dict, path: str, fmt: str | None, runtime_info: dict | None, digests: dict | None) -> dict:
    """The fields every result has, also when the measurement failed."""
    settings = {k: spec.get(k, DEFAULTS[k]) for k in ("threads", "xnnpack", "warmup", "min_runs", "min_time_s", "max_runs")}
    settings["inputs"] = spec.get("inputs") or DEFAULTS["inputs"]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": __version__,
        "created": _now(),
        "status": "error",
        "artifact": {
            "path": path,
            "name": os.path.basename(path),
            "format": fmt,
            **(digests or {}),
            **(spec.get("artifact_meta") or {}),
        },
        "device": {**DEFAULTS["device"], **(spec.get("device") or {}), "fingerprint": fingerprint.device_fingerprint()},
        "platform": fingerprint.platform_info(),
        "runtime": {**(runtime_info or {}), "threads": spec.get("threads"), "xnnpack": bool(spec.get("xnnpack", True))},
        "settings": settings,
    }


def _user_facing(error: dict, spec: dict) -> dict:
    """Name the user's file in messages, not the temporary copy a remote transport ran."""
    label = spec.get("artifact_label")
    if label and label != spec["artifact"]:
        for key in ("message", "hint"):
            if isinstance(error.get(key), str):
                error[key] = error[key].replace(spec["artifact"], label)
    return error


def run_spec(spec: dict) -> dict:
    """Measure, turning every failure into a result with status "error" (never an exception)."""
    spec = {**DEFAULTS, **spec}
    try:
        return measure(spec)
    except EdgekitError as exc:
        result = base_result(spec, spec["artifact"], spec.get("format"), None, None)
        result["error"] = _user_facing(exc.to_dict(), spec)
        return result
    except Exception as exc:  # a runtime raising something we did not anticipate
        result = base_result(spec, spec["artifact"], spec.get("format"), None, None)
        result["error"] = {
            "type": "EdgekitError",
            "message": f"the runtime failed: {type(exc).__name__}: {str(exc).strip()[:400]}",
            "hint": "check the model with 'edgekit inspect'; rerun with --debug for details",
            "traceback": traceback.format_exc(limit=8),
        }
        result["error"] = _user_facing(result["error"], spec)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgekit-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON file with the measurement spec, or - for stdin")
    parser.add_argument("--out", required=True, help="where to write the result JSON")
    args = parser.parse_args(argv)
    spec = json.load(sys.stdin) if args.spec == "-" else json.load(open(args.spec, encoding="utf-8"))
    result = run_spec(spec)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, args.out)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
