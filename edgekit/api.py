"""The Python API behind every command: the CLI only parses arguments and prints what these return."""

from __future__ import annotations

import os
import re
from typing import Any, Sequence

from edgekit.errors import EdgekitError, error_from_dict, require_model_file

BENCH_DEFAULTS = {"warmup": 10, "min_runs": 50, "min_time_s": 2.0, "max_time_s": 20.0}
# The most interpreter threads bench accepts. Far more threads than cores only measures the
# scheduler, and absurd counts (--threads 100000) make runtimes segfault creating their pools,
# which would then be blamed on the model. 256 covers every phone, board and server CPU.
MAX_THREADS = 256


def check_run_settings(*, threads: int | None = None, warmup: int = 0, min_runs: int = 1,
                       max_runs: int = 100_000, min_time_s: float = 0.0, timeout: float | None = None,
                       max_time_s: float | None = None) -> None:
    """The sanity limits of a measurement's settings, checked before any worker starts, so a
    mistyped flag is one line (exit 2) instead of a runtime crash or a silently changed run."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise EdgekitError(f"--threads must be between 1 and {MAX_THREADS}, not {threads}",
                           f"this machine has {os.cpu_count() or 1} cores; omit --threads for the runtime's default")
    if warmup < 0:
        raise EdgekitError(f"--warmup must be 0 or more, not {warmup}", "use e.g. --warmup 10")
    if min_runs < 1:
        raise EdgekitError(f"--min-runs must be at least 1, not {min_runs}", "use e.g. --min-runs 50")
    if max_runs < min_runs:
        raise EdgekitError(f"--max-runs {max_runs} is below --min-runs {min_runs}",
                           "raise --max-runs or lower --min-runs")
    if not min_time_s >= 0:  # also NaN
        raise EdgekitError(f"--min-time must be 0 or more seconds, not {min_time_s}", "use e.g. --min-time 2")
    if timeout is not None and not timeout > 0:
        raise EdgekitError(f"--timeout must be a positive number of seconds, not {timeout:g}",
                           "use e.g. --timeout 900")
    if max_time_s is not None:
        if not max_time_s > 0:
            raise EdgekitError(f"--max-time must be positive, not {max_time_s:g}",
                               f"omit it for {BENCH_DEFAULTS['max_time_s']:g} s")
        if max_time_s < min_time_s:
            raise EdgekitError(f"--max-time {max_time_s:g} is below --min-time {min_time_s:g}",
                               "the time budget must leave room for the minimum time: raise --max-time")


def parse_input_shapes(items: Sequence[str] | dict | None) -> dict[str, list[int]]:
    """``["audio=1,16000", "mask=1,16"]`` (repeatable --input-shape) -> {"audio": [1, 16000], ...}."""
    from edgekit.runtimes.base import parse_shape

    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): parse_shape(",".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in items.items()}
    out: dict[str, list[int]] = {}
    for item in items:
        name, sep, dims = str(item).rpartition("=")
        if not sep or not name:
            raise EdgekitError(f"--input-shape {item!r} is not NAME=DIMS", "write it like --input-shape audio=1,16000")
        if name in out:
            raise EdgekitError(f"--input-shape gives {name!r} twice", "give each input's shape once")
        out[name] = parse_shape(dims)
    return out


def bench_spec(
    path: str,
    *,
    threads: int | None = None,
    xnnpack: bool = True,
    provider: str | None = None,
    warmup: int = BENCH_DEFAULTS["warmup"],
    min_runs: int = BENCH_DEFAULTS["min_runs"],
    min_time_s: float = BENCH_DEFAULTS["min_time_s"],
    max_runs: int = 100_000,
    max_time_s: float | None = None,
    inputs: dict | None = None,
    save_outputs: str | None = None,
    device_selector: str | None = None,
    runtime_options: dict | None = None,
    input_shapes: Sequence[str] | dict | None = None,
    output_check: bool = True,
) -> dict:
    """The worker spec for one measurement: the one document host and device runners both read.

    ``max_time_s`` is the artifact's time budget (default 20 s, or 1.5x ``min_time_s`` when that is
    longer): a slow model stops after at least 5 timed runs once the next would overrun it."""
    from edgekit.runtimes import detect_format

    check_run_settings(threads=threads, warmup=warmup, min_runs=min_runs, max_runs=max_runs, min_time_s=min_time_s,
                       max_time_s=max_time_s)
    require_model_file(path)
    if max_time_s is None:  # the default budget never cuts into an explicit --min-time
        max_time_s = max(BENCH_DEFAULTS["max_time_s"], 1.5 * min_time_s)
    fmt = detect_format(path)
    if device_selector is not None:
        from edgekit.devices.profiles import check_edgetpu_selector

        check_edgetpu_selector(device_selector)
        if fmt != "edgetpu":  # it would be ignored, and the run would look like an Edge TPU figure
            raise EdgekitError(
                f"--edgetpu-device {device_selector} applies to Edge TPU models, and {os.path.basename(path)} "
                f"is a {fmt} model without Edge TPU ops",
                "drop --edgetpu-device for it, or compile it first ('edgekit edgetpu compile')",
            )
    return {
        "artifact": os.path.abspath(path),
        "format": fmt,
        "threads": threads,
        "xnnpack": xnnpack,
        "provider": provider,
        "warmup": warmup,
        "min_runs": min_runs,
        "min_time_s": min_time_s,
        "max_runs": max_runs,
        "max_time_s": float(max_time_s),
        "input_shapes": parse_input_shapes(input_shapes),
        "output_check": bool(output_check),
        "inputs": inputs or {"kind": "random", "seed": 0},
        "save_outputs": save_outputs,
        "device_selector": device_selector,
        "runtime_options": runtime_options or {},
    }


def enrich(result: dict) -> dict:
    """Add what the host knows about the artifact (MACs, manifest entry) to a device's result."""
    if result.get("status") != "ok":
        return result
    from edgekit.inspect import model_facts

    facts = model_facts(result["artifact"]["path"])
    if facts:
        result.setdefault("model", {}).update(facts)
        macs = facts.get("macs")
        p50 = result["latency_ms"]["p50"]
        if macs and p50:
            result["model"]["mac_per_s"] = macs / (p50 / 1e3)
    from edgekit.build.artifacts import find_manifest_entry

    entry = find_manifest_entry(result["artifact"]["path"])
    if entry is not None:
        result["artifact"]["target"] = entry.target
        if entry.accuracy:
            result["accuracy"] = entry.accuracy
        if (entry.extra or {}).get("quant_report"):  # the HTML report plots it by depth
            result["quantization_report"] = entry.extra["quant_report"]
    return result


def bench(
    path: str,
    *,
    timeout: float | None = None,
    raise_on_error: bool = True,
    device: str | None = None,
    devices_dir: Sequence[str] = (),
    **options: Any,
) -> dict:
    """Measure ``path`` in a fresh worker process on this machine, or on the configured ``device``
    (a profile name, see edgekit.devices.profiles); returns the result document."""
    from edgekit.transports.host import HostTransport

    check_run_settings(timeout=timeout)
    spec = bench_spec(path, **options)
    if device:
        from edgekit.devices.profiles import get_device
        from edgekit.harness.lifetime import owned_tempdir
        from edgekit.devices.pool import run_on_device

        profile = get_device(device, devices_dir)
        with owned_tempdir("input") as tmp:
            spec = image_decoded_here(spec, tmp)
            run = run_on_device(profile, [spec], timeout=timeout)
        if run.error is not None:
            raise run.error
        result = run.results[0]
    else:
        result = HostTransport().run_worker(spec, timeout=timeout)
    if result.get("status") != "ok" and raise_on_error:
        raise error_from_dict(result.get("error") or {})
    return enrich(result)


def image_decoded_here(spec: dict, tmp: str) -> dict:
    """For a device run, decode an ``--image`` input on this machine into the model's input array.

    Boards often have only numpy and a TFLite runtime (no Pillow), and one decode everywhere keeps
    a device's outputs comparable with a host run of the same image. The model's input spec comes
    from the file itself (the inspector), so no runtime is needed here. Formats the inspector does
    not read keep the image, which the device then decodes (and says so if it has no Pillow).
    """
    inputs = spec.get("inputs") or {}
    if inputs.get("kind") != "image" or not str(spec["artifact"]).lower().endswith(".tflite"):
        return spec
    import numpy as np

    from edgekit.harness.inputs import image_to_array
    from edgekit.inspect import load_tflite
    from edgekit.runtimes.base import TensorSpec

    main = load_tflite(spec["artifact"]).main
    if len(main.inputs) != 1:
        raise EdgekitError(f"--image needs a model with one input; this one has {len(main.inputs)}",
                           "pass the inputs as an .npz keyed by input name (--input)")
    t = main.tensors[main.inputs[0]]
    q = t.quantization
    tspec = TensorSpec(name=t.name, shape=list(t.shape), dtype=t.dtype, shape_signature=t.shape_signature,
                       scale=q.scales[0] if q and len(q.scales) == 1 else None,
                       zero_point=q.zero_points[0] if q and len(q.zero_points) == 1 else None)
    out = os.path.join(tmp, "input.npy")
    np.save(out, image_to_array(inputs["path"], tspec, inputs.get("normalize")))
    label = f"{os.path.basename(inputs['path'])} (decoded on the host)"
    return dict(spec, inputs={"kind": "file", "path": out, "label": label})


def read_labels(path: str) -> list[str]:
    """Labels, one per line; 'ID label' lines (Coral's format) are keyed by their ID."""
    if not os.path.exists(path):
        raise EdgekitError(f"no such labels file: {path}", "check the path given to --labels")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    pairs = [re.match(r"^\s*(\d+)[\s:]+(.+)$", l) for l in lines]
    if lines and all(pairs):
        table: dict[int, str] = {int(m.group(1)): m.group(2).strip() for m in pairs if m}
        return [table.get(i, str(i)) for i in range(max(table) + 1)]
    return [l.strip() for l in lines]


def run_model(
    path: str,
    *,
    image: str | None = None,
    input_file: str | None = None,
    labels: str | None = None,
    top_k: int = 5,
    normalize: str | None = None,
    task: str = "auto",
    **options: Any,
) -> dict:
    """Run a model once and say what came out (edgekit/results/decode.py): a classifier's top-k when the
    output is one vector of class scores, else a summary per output; ``why`` gives the evidence."""
    import numpy as np

    from edgekit.results import decode
    from edgekit.harness.lifetime import owned_tempdir
    from edgekit.runtimes.base import TensorSpec

    if image and input_file:
        raise EdgekitError("give --image or --input, not both", "pick one input source")
    if image:
        src = {"kind": "image", "path": os.path.abspath(image), "normalize": normalize}
    elif input_file:
        src = {"kind": "file", "path": os.path.abspath(input_file)}
    else:
        raise EdgekitError("nothing to run", "pass --image FILE (or --input FILE.npy)")
    if top_k < 1:
        raise EdgekitError(f"--top-k must be at least 1, not {top_k}", "e.g. --top-k 5")
    if task not in decode.TASKS:
        raise EdgekitError(f"unknown task {task!r}", "use --task " + ", ".join(decode.TASKS))
    label_list = read_labels(labels) if labels else None
    with owned_tempdir("out") as tmp:
        out = os.path.join(tmp, "outputs.npz")
        result = bench(path, inputs=src, save_outputs=out, warmup=0, min_runs=1, min_time_s=0.0, max_runs=1, **options)
        with np.load(out) as data:
            outputs = [data[f"output_{i}"] for i in range(len(data.files))]
    specs = [TensorSpec(**s) for s in result["output_specs"]]
    answer = decode.decode(outputs, specs, task=task, k=top_k, labels=label_list)
    if answer.get("warning"):
        from edgekit.console import warn

        warn(f"{labels}: {answer['warning']}")
    return {"artifact": result["artifact"], **answer, "latency_ms": result["first_inference_ms"], "result": result}


def classify(path: str, **kwargs: Any) -> dict:
    """Run a classifier once and decode its top-k; refuses outputs that are not class scores."""
    return run_model(path, **{"task": "classify", **kwargs})


def build(spec: Any = None, *, force: bool = False, progress: bool = False, **overrides: Any):
    """Build every target of a spec (a BuildSpec, a path to edgekit.toml, or None for flags only).

    ``overrides`` are BuildSpec fields (source=..., targets=[...], outdir=...); returns a
    BuildReport whose ``ok`` is False when any target failed or missed a threshold.
    """
    from edgekit.build import spec as spec_mod
    from edgekit.build.orchestrator import build as _build

    if spec is None:
        spec = spec_mod.BuildSpec(base_dir=os.getcwd())
    elif isinstance(spec, (str, os.PathLike)):
        spec = spec_mod.load_spec(os.fspath(spec))
    return _build(spec_mod.with_overrides(spec, **overrides), force=force, progress=progress)
