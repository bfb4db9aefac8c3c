"""Run one measurement of one artifact, in its own process, and write one result JSON.

The host starts this as ``python -m edgekit.harness.worker --spec S --out O``; on a device the
same module runs from the single-file runner bundle. Runtimes can segfault, abort or keep thread
pools and allocator state between models; one process per measurement keeps a crash from taking
edgekit down and makes the peak-memory figure belong to this run alone.

Method (after pyperf and MLPerf): the runtime import, then load and tensor allocation are timed
(and sized) apart from inference; the first inference is reported on its own (it pays for lazy
packing and cache warm-up); then warmup runs are discarded; then at least ``min_runs`` runs and at
least ``min_time_s`` seconds are timed, one ``invoke()`` per sample with ``perf_counter_ns`` and
the garbage collector off, within a time budget (``max_time_s``) that ends slow models early.
Runtimes that consume their inputs get them re-set before every run, outside the timed span.
Afterwards the harness checks itself: the last run must reproduce the first run's outputs.

With ``--parent-pid`` the worker dies with the process that started it (edgekit.harness.lifetime).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import json
import os
import sys
import time
import traceback

from edgekit.errors import CheckFailed, EdgekitError
from edgekit.harness import fingerprint, stats
from edgekit.results.schema import BENCH_DEFAULTS, Result, WorkerSpec, new_result, time_budget

DEFAULTS = {
    "threads": None,
    "xnnpack": True,
    "provider": None,
    "device_selector": None,
    **BENCH_DEFAULTS,
    "max_time_s": None,  # None: results.schema.time_budget (20 s, or 1.5x min_time_s when longer)
    "input_shapes": {},
    "output_check": True,
    "inputs": {"kind": "random", "seed": 0},
    "save_outputs": None,
    "expect_sha256": None,
    "device": {"name": "host", "transport": "host", "emulated": False},
}
# A time budget never cuts the timed runs below this many (or min_runs, when that is smaller).
BUDGET_FLOOR_RUNS = 5


def file_digests(path: str) -> dict:
    """sha256, size and gzip-compressed size (what an app store download costs)."""
    with open(path, "rb") as f:
        data = f.read()  # one read serves all three; models are at most a few hundred MB
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "gzip_bytes": len(gzip.compress(data, 6)),
    }


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


def _options(spec: dict):
    from edgekit.runtimes.base import RunOptions

    src = spec.get("inputs") or {}
    inferred = {}
    if src.get("kind") == "file" and src.get("path"):
        from edgekit.harness.inputs import array_shapes

        inferred = array_shapes(src["path"])
    return RunOptions(
        threads=spec.get("threads"),
        xnnpack=bool(spec.get("xnnpack", True)),
        provider=spec.get("provider"),
        device=spec.get("device_selector"),
        extra=spec.get("runtime_options") or {},
        input_shapes={str(k): [int(d) for d in v] for k, v in (spec.get("input_shapes") or {}).items()},
        inferred_shapes=inferred,
    )


def _shape_notes(session, options) -> tuple[dict, list[str]]:
    """Which inputs run at a shape other than the model's declared one, and a note for each
    dynamic input left at its placeholder (a figure for shape [1, 1] says little about real use)."""
    from edgekit.runtimes.base import dynamic

    shapes, notes = {}, []
    for s in session.inputs:
        sig = s.shape_signature or s.shape
        if list(sig) != list(s.shape) or s.name in options.input_shapes:
            shapes[s.name] = list(s.shape)
        if dynamic(s) and s.name not in options.input_shapes and not options.inferred_shapes:
            notes.append(
                f"input {s.name!r} is dynamic {list(sig)} and ran at its placeholder shape {list(s.shape)}; "
                f"pass --input-shape {s.name}=... (or --input data) to measure at a real size"
            )
    return shapes, notes


def measure(spec: dict) -> dict:
    """Load, check, time and describe one artifact; returns a result (status ok)."""
    from edgekit.runtimes import detect_format, get_runtime

    path = spec["artifact"]
    fmt = spec.get("format") or detect_format(path)
    digests = file_digests(path)
    if spec.get("expect_sha256") and spec["expect_sha256"] != digests["sha256"]:
        raise EdgekitError(
            f"{os.path.basename(path)} on the device has sha256 {digests['sha256'][:12]}..., "
            f"expected {spec['expect_sha256'][:12]}...",
            "the copy was corrupted in transfer; run the command again",
        )
    options = _options(spec)
    runtime = get_runtime(fmt, options.provider)  # --runtime picks one of the format's providers
    runtime_info = runtime.describe(options)
    thermal_before = fingerprint.thermal()

    # Memory and time of importing the runtime are measured apart from the model's own: importing
    # torch for a .pte costs hundreds of MiB that no model is responsible for.
    rss_start = fingerprint.current_rss_bytes()
    t_import = time.perf_counter()
    runtime.import_runtime(options)
    import_ms = (time.perf_counter() - t_import) * 1e3
    rss_imported = fingerprint.current_rss_bytes()

    session = runtime.load(path, options)
    phases = dict(session.load_phases_ms)
    phases["import"] = import_ms + phases.get("import", 0.0)
    # init = what an app pays at start-up: building the interpreter (with delegates) and allocating.
    init_ms = sum(v for k, v in phases.items() if k != "import")
    rss_loaded = fingerprint.current_rss_bytes()
    input_shapes, notes = _shape_notes(session, options)

    arrays, input_desc = _inputs_for(session, spec)
    session.set_inputs(arrays)
    clock = time.perf_counter_ns
    budget_start = clock()
    session.invoke()
    first_ns = clock() - budget_start
    reference = [_copy(o) for o in session.outputs()]
    _check_outputs(reference, session)

    loop = timed_runs(session, spec, first_ns, budget_start)
    notes += loop.notes

    check = {"status": "skipped", "reason": "--no-output-check"}
    if spec.get("output_check", True):
        check = self_check(
            reference,
            session,
            arrays,
            os.path.basename(spec.get("artifact_label") or path),
            runs=1 + loop.warmup + len(loop.samples_ns),
        )
    saved = None
    if spec.get("save_outputs"):
        saved = _save_outputs(spec["save_outputs"], reference, session)

    samples_ms = [x / 1e6 for x in loop.samples_ns]
    latency = stats.summarize(samples_ms, wall_s=None if session.inputs_consumed else loop.wall_s)
    peak = fingerprint.peak_rss_bytes()
    result = base_result(spec, path, fmt, runtime_info, digests)
    result.update(
        {
            "status": "ok",
            "inputs": input_desc,
            "input_specs": [s.to_dict() for s in session.inputs],
            "output_specs": [s.to_dict() for s in session.outputs_spec],
            "init_ms": init_ms,
            "load_phases_ms": phases,
            "first_inference_ms": first_ns / 1e6,
            "warmup_runs": loop.warmup,
            "latency_ms": latency,
            "samples_ms": samples_ms,
            "wall_time_s": loop.wall_s,
            "memory": {
                "peak_rss_bytes": peak,
                "rss_start_bytes": rss_start,
                "rss_after_import_bytes": rss_imported,
                "runtime_import_rss_bytes": _diff(rss_imported, rss_start),
                "rss_before_load_bytes": rss_imported,  # version 1 readers: now after the runtime import
                "rss_after_load_bytes": rss_loaded,
                "model_rss_bytes": _diff(rss_loaded, rss_imported),
            },
            "method": {
                "timer": "perf_counter_ns around each invoke, garbage collector off",
                "inputs_reset_each_run": bool(session.inputs_consumed),
                "inputs": (
                    "re-set before every run, outside the timed span: the runtime reuses the input "
                    "buffers for intermediates, so a second run would read overwritten inputs"
                    if session.inputs_consumed
                    else "set once before the first inference"
                ),
                "input_shapes": input_shapes,
                "warmup_runs": loop.warmup,
                "warmup_requested": int(spec["warmup"]),
                "stopped_by": loop.stopped_by,
                "max_time_s": float(spec["max_time_s"]),
                "throughput": (
                    "1000 / mean latency (runs are separated by the input re-set)"
                    if session.inputs_consumed
                    else "timed runs / wall time of the timed runs"
                ),
                "output_check": check,
            },
            "notes": notes,
            "delegates": list(session.delegates),
            "outputs_file": saved,
            "thermal": {"before": thermal_before, "after": fingerprint.thermal()},
        }
    )
    session.close()
    return result


def _diff(a: int | None, b: int | None) -> int | None:
    return (a - b) if a is not None and b is not None else None


def _copy(arr):
    import numpy as np

    return np.array(arr, copy=True)


class Loop:
    """What the timed loop did: samples, wall time, warmup runs actually made, why it stopped."""

    def __init__(self) -> None:
        self.samples_ns: list[int] = []
        self.wall_s = 0.0
        self.warmup = 0
        self.stopped_by = ""
        self.notes: list[str] = []


def timed_runs(session, spec: dict, first_ns: int, budget_start: int) -> Loop:
    """Warmup and timed runs within the artifact's time budget (``max_time_s``, counted from the
    first inference).

    Normal models stop when both ``min_runs`` and ``min_time_s`` are reached. A slow model stops
    once at least BUDGET_FLOOR_RUNS runs are timed and the next run, predicted from the mean so
    far, would end past the budget (pyperf calibrates its loop count from measured run times the
    same way), so a 4 s model ends after about 20 s with 5 runs instead of 50 runs in 200 s. The
    warmup gets at most a tenth of the budget, predicted the same way; the first inference has
    already paid for lazy initialisation. Inputs a runtime consumes are re-set between runs,
    outside the timed spans.
    """
    loop = Loop()
    warmup = max(0, int(spec["warmup"]))
    min_runs = max(1, int(spec["min_runs"]))
    min_time_ns = int(float(spec["min_time_s"]) * 1e9)
    max_runs = max(min_runs, int(spec["max_runs"]))
    budget_ns = int(float(spec["max_time_s"]) * 1e9)
    floor = min(min_runs, BUDGET_FLOOR_RUNS)
    invoke = session.invoke
    reset = session.reset_inputs if session.inputs_consumed else None
    clock = time.perf_counter_ns

    last = first_ns
    w0 = clock()
    while loop.warmup < warmup and (clock() - w0) + last <= budget_ns // 10:
        if reset is not None:
            reset()
        t0 = clock()
        invoke()
        last = clock() - t0
        loop.warmup += 1
    if loop.warmup < warmup:
        loop.notes.append(f"warmup cut to {loop.warmup} of {warmup} runs to stay within the time budget (--max-time)")

    samples = loop.samples_ns
    append = samples.append
    total = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        while True:
            if reset is not None:
                reset()
            t0 = clock()
            invoke()
            t1 = clock()
            append(t1 - t0)
            total += t1 - t0
            n = len(samples)
            if n >= max_runs:
                loop.stopped_by = "max_runs"
                break
            if n >= min_runs and t1 - start >= min_time_ns:
                loop.stopped_by = "min_runs and min_time"
                break
            if n >= floor and (t1 - budget_start) + total // n > budget_ns:
                loop.stopped_by = "max_time"
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    loop.wall_s = (clock() - start) / 1e9
    if loop.stopped_by == "max_time":
        missing = []
        if n < min_runs:
            missing.append(f"{n} of --min-runs {min_runs} runs")
        if t1 - start < min_time_ns:
            missing.append(f"{(t1 - start) / 1e9:.1f} of --min-time {min_time_ns / 1e9:g} s")
        loop.notes.append(
            f"time budget reached (--max-time {budget_ns / 1e9:g} s): {' and '.join(missing) or f'{n} runs'}; "
            "percentiles from few runs are rough, raise --max-time for more"
        )
    return loop


def self_check(reference, session, arrays, name: str, runs: int) -> dict:
    """check_repeat on the last timed run; a model that keeps state in variable tensors (a TFLite
    LSTM carries its state from one invoke to the next) passes when resetting that state and
    running again reproduces the first outputs: its runs were timed with the state carried over,
    as an app feeding a stream would run it, and the result says so."""
    try:
        return check_repeat(reference, session.outputs(), session, name, runs)
    except CheckFailed:
        if not session.reset_state():
            raise
    session.set_inputs(arrays)
    session.invoke()
    check = check_repeat(reference, session.outputs(), session, name, runs)
    check["state"] = (
        "the model keeps state between invokes (variable tensors, e.g. an LSTM's); the timed runs "
        "carried it over, and resetting it reproduced the first outputs"
    )
    return check


def check_repeat(reference, outputs, session, name: str, runs: int) -> dict:
    """The harness checks itself: the last timed run, on the same inputs, must reproduce the first
    inference's outputs (bit for bit, or within the runtime's stated tolerance). A runtime that
    reads overwritten inputs or keeps state between runs fails here instead of being timed."""
    import numpy as np

    rtol, atol = session.repeat_tolerance
    worst = 0.0
    if len(reference) != len(outputs):
        raise CheckFailed(
            f"{name} returned {len(reference)} outputs on the first run and {len(outputs)} on the last",
            "the runtime or model keeps state between runs: report it with the model",
        )
    for i, (ref, out) in enumerate(zip(reference, outputs)):
        out = np.asarray(out)
        label = session.outputs_spec[i].name if i < len(session.outputs_spec) else f"output_{i}"
        problem = None
        if ref.shape != out.shape or ref.dtype != out.dtype:
            problem = f"{label!r} was {ref.dtype}{list(ref.shape)}, then {out.dtype}{list(out.shape)}"
        else:
            a, b = ref.astype(np.float64), out.astype(np.float64)
            same_nan = np.array_equal(np.isnan(a), np.isnan(b))
            diff = np.where(np.isnan(a) | np.isnan(b), 0.0, np.abs(a - b))
            d = float(diff.max()) if diff.size else 0.0
            worst = max(worst, d)
            ok = same_nan and bool(np.all(diff <= atol + rtol * np.abs(np.nan_to_num(a))))
            if not ok:
                where = int(np.argmax(diff)) if diff.size else 0
                problem = (
                    f"{label!r} max abs difference {d:.3g} at flat index {where}"
                    if same_nan
                    else f"{label!r} has NaN in other places"
                )
        if problem:
            tol = "bit-exact" if (rtol, atol) == (0.0, 0.0) else f"rtol {rtol:g}, atol {atol:g}"
            raise CheckFailed(
                f"the outputs of {name} changed between the first and the last of {runs} runs on the same inputs "
                f"({problem}; allowed: {tol}), so its timings cannot be trusted",
                "if the model keeps state between calls by design (variables, RNN state) rerun with "
                "--no-output-check; otherwise the runtime reuses memory it should not: report it with the model",
            )
    return {
        "status": "ok",
        "compared": f"first inference vs last of {runs} runs, same inputs",
        "rtol": rtol,
        "atol": atol,
        "max_abs_diff": worst,
    }


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


def base_result(spec: WorkerSpec, path: str, fmt: str | None, runtime_info: dict | None, digests: dict | None) -> Result:
    """The fields every result has, also when the measurement failed (results.schema.new_result
    with this machine's fingerprint)."""
    return new_result(
        {**DEFAULTS, **spec},
        artifact={
            "path": path,
            "name": os.path.basename(path),
            "format": fmt,
            **(digests or {}),
            **(spec.get("artifact_meta") or {}),
        },
        device={**DEFAULTS["device"], **(spec.get("device") or {}), "fingerprint": fingerprint.device_fingerprint()},
        platform=fingerprint.platform_info(),
        runtime=dict(runtime_info or {}),
    )


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
    spec["max_time_s"] = time_budget(spec.get("min_time_s"), spec.get("max_time_s"))
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
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit (removing --owned-dir) as soon as this process is no longer the parent"
    )
    parser.add_argument("--owned-dir", default=None, help="the run directory to remove if the parent dies")
    args = parser.parse_args(argv)
    if args.parent_pid:
        from edgekit.harness.lifetime import watch_parent

        watch_parent(args.parent_pid, args.owned_dir)
    spec = json.load(sys.stdin) if args.spec == "-" else json.load(open(args.spec, encoding="utf-8"))
    result = run_spec(spec)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, args.out)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
