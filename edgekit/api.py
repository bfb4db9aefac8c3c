"""The Python API behind every command: the CLI only parses arguments and prints what these return.

Scripts use the same functions: each takes typed parameters (the command's flags, by name) and
returns plain data (a dict, or the report object the command prints); a failure a user can cause
raises :class:`edgekit.errors.EdgekitError` (its ``line()`` is the CLI's one ``edgekit:`` line).

=================  =========================================================================
command            function
=================  =========================================================================
bench              :func:`bench`, :func:`bench_pool` (--device), :func:`bench_spec` (the spec)
run                :func:`run_model`, :func:`classify`
build              :func:`build`
compare            :func:`compare`, then :func:`gate` for the exit verdict
history            :func:`history_runs`, :func:`history_add`, :func:`history_result`,
                   :func:`set_baseline`, :func:`baselines`
report             :func:`report`
inspect            :func:`inspect`
devices            :func:`devices`
doctor             :func:`doctor`, then :func:`doctor_verdict`
provision          :func:`provision`
deploy             :func:`deploy`, :func:`rollback`, :func:`deploy_status`
package            :func:`package`
edgetpu            :func:`edgetpu_check`, :func:`edgetpu_compile`
gpu                :func:`gpu_check`
profile            :func:`profile`
quant-report       :func:`quant_report`
=================  =========================================================================
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Sequence

from edgekit.errors import EdgekitError, error_from_dict, require_model_file

from edgekit.results.schema import BENCH_DEFAULTS, WorkerSpec, time_budget

# The most interpreter threads bench accepts. Far more threads than cores only measures the
# scheduler, and absurd counts (--threads 100000) make runtimes segfault creating their pools,
# which would then be blamed on the model. 256 covers every phone, board and server CPU.
MAX_THREADS = 256


def check_run_settings(
    *,
    threads: int | None = None,
    warmup: int = 0,
    min_runs: int = 1,
    max_runs: int = BENCH_DEFAULTS["max_runs"],
    min_time_s: float = 0.0,
    timeout: float | None = None,
    max_time_s: float | None = None,
) -> None:
    """The sanity limits of a measurement's settings, checked before any worker starts, so a
    mistyped flag is one line (exit 2) instead of a runtime crash or a silently changed run."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise EdgekitError(
            f"--threads must be between 1 and {MAX_THREADS}, not {threads}",
            f"this machine has {os.cpu_count() or 1} cores; omit --threads for the runtime's default",
        )
    if warmup < 0:
        raise EdgekitError(f"--warmup must be 0 or more, not {warmup}", "use e.g. --warmup 10")
    if min_runs < 1:
        raise EdgekitError(f"--min-runs must be at least 1, not {min_runs}", "use e.g. --min-runs 50")
    if max_runs < min_runs:
        raise EdgekitError(f"--max-runs {max_runs} is below --min-runs {min_runs}", "raise --max-runs or lower --min-runs")
    if not min_time_s >= 0:  # also NaN
        raise EdgekitError(f"--min-time must be 0 or more seconds, not {min_time_s}", "use e.g. --min-time 2")
    if timeout is not None and not timeout > 0:
        raise EdgekitError(f"--timeout must be a positive number of seconds, not {timeout:g}", "use e.g. --timeout 900")
    if max_time_s is not None:
        if not max_time_s > 0:
            raise EdgekitError(
                f"--max-time must be positive, not {max_time_s:g}", f"omit it for {BENCH_DEFAULTS['max_time_s']:g} s"
            )
        if max_time_s < min_time_s:
            raise EdgekitError(
                f"--max-time {max_time_s:g} is below --min-time {min_time_s:g}",
                "the time budget must leave room for the minimum time: raise --max-time",
            )


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
    max_runs: int = BENCH_DEFAULTS["max_runs"],
    max_time_s: float | None = None,
    inputs: dict | None = None,
    save_outputs: str | None = None,
    device_selector: str | None = None,
    runtime_options: dict | None = None,
    input_shapes: Sequence[str] | dict | None = None,
    output_check: bool = True,
) -> WorkerSpec:
    """The worker spec for one measurement: the one document host and device runners both read.

    ``max_time_s`` is the artifact's time budget (default 20 s, or 1.5x ``min_time_s`` when that is
    longer): a slow model stops after at least 5 timed runs once the next would overrun it."""
    from edgekit.runtimes import detect_format

    check_run_settings(
        threads=threads, warmup=warmup, min_runs=min_runs, max_runs=max_runs, min_time_s=min_time_s, max_time_s=max_time_s
    )
    require_model_file(path)
    max_time_s = time_budget(min_time_s, max_time_s)  # the default never cuts into an explicit --min-time
    fmt = detect_format(path)
    if device_selector is not None:
        from edgekit.devices.profiles import check_edgetpu_selector

        check_edgetpu_selector(device_selector)
        from edgekit.runtimes.formats import get_format

        if get_format(fmt).accelerator != "edgetpu":  # it would be ignored, and the run would look like an Edge TPU figure
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


def bench_pool(
    models: Sequence[str],
    devices: Sequence[str],
    *,
    devices_dir: Sequence[str] = (),
    timeout: float | None = None,
    on_result: Any = None,
    **options: Any,
) -> list:
    """Measure every model on every configured device (profile names), the devices concurrently
    and one benchmark per device at a time (edgekit.devices.pool). ``options`` are
    :func:`bench_spec`'s; ``on_result(device_profile, result)`` is called as each result arrives
    (successful ones already carry the host's MACs and manifest entry). Returns one DeviceRun per
    device (``device``, ``results``, ``error``): a failing device never loses the others'."""
    from edgekit.devices.pool import run_pool
    from edgekit.devices.profiles import get_device

    profiles = [get_device(name, devices_dir) for name in devices]
    specs = [bench_spec(model, **options) for model in models]

    def arrived(device, result):
        if result.get("status") == "ok":
            enrich(result)  # MACs and the manifest entry, known on the host only
        if on_result is not None:
            on_result(device, result)

    return run_pool(profiles, specs, timeout=timeout, on_result=arrived)


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
        raise EdgekitError(
            f"--image needs a model with one input; this one has {len(main.inputs)}",
            "pass the inputs as an .npz keyed by input name (--input)",
        )
    t = main.tensors[main.inputs[0]]
    q = t.quantization
    tspec = TensorSpec(
        name=t.name,
        shape=list(t.shape),
        dtype=t.dtype,
        shape_signature=t.shape_signature,
        scale=q.scales[0] if q and len(q.scales) == 1 else None,
        zero_point=q.zero_points[0] if q and len(q.zero_points) == 1 else None,
    )
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


def build(spec: Any = None, *, force: bool = False, progress: bool | str = False, debug: bool = False, **overrides: Any):
    """Build every target of a spec (a BuildSpec, a path to edgekit.toml, or None for flags only).

    ``overrides`` are BuildSpec fields (source=..., targets=[...], outdir=...); ``progress`` is
    False/"off", True/"bars" or "lines"; ``debug`` keeps tracebacks. Returns a BuildReport whose
    ``ok`` is False when any target failed or missed a threshold.
    """
    from edgekit.build import spec as spec_mod
    from edgekit.build.orchestrator import build as _build

    if spec is None:
        spec = spec_mod.BuildSpec(base_dir=os.getcwd())
    elif isinstance(spec, (str, os.PathLike)):
        spec = spec_mod.load_spec(os.fspath(spec))
    if overrides:
        spec = spec_mod.with_overrides(spec, **overrides)
    return _build(spec, force=force, progress=progress, debug=debug)


def devices(devices_dir: Sequence[str] = (), *, timeout: float = 2.0, probe: bool = True) -> dict:
    """The configured device profiles with their state now, and what can be discovered.

    Each transport kind surveys its own profiles (``Transport.survey``: SSH reachability within
    ``timeout`` seconds, one ``adb devices`` listing, this machine's Edge TPU probe), so a new
    transport reports its own address and state. ``probe=False`` contacts nothing. Returns
    ``{"configured": [...], "discovered": [...], "notes": [...]}`` (what ``--json`` prints); a broken
    profile file is a ``broken`` row, not an error.
    """
    from edgekit.devices.profiles import scan_devices
    from edgekit.transports import TRANSPORTS
    from edgekit.transports.base import transport_class

    profiles, broken = scan_devices(devices_dir)
    notes: list[str] = []
    states: dict[str, dict] = {}
    discovered: list[dict] = []
    if probe:
        for kind in TRANSPORTS.names():
            survey = transport_class(kind).survey([p for p in profiles.values() if p.transport == kind], timeout)
            states.update(survey.states)
            discovered += survey.discovered
            notes += survey.notes
    configured = []
    for name, p in sorted(profiles.items()):
        state = states.get(name) or {"state": "not probed", "detail": None}
        configured.append(
            {
                "name": name,
                "transport": p.transport,
                "address": p.address,
                "arch": p.arch,
                "emulated": p.emulated,
                "description": p.description,
                "source": p.source,
                **state,
            }
        )
    for name, exc in sorted(broken.items()):
        configured.append(
            {
                "name": name,
                "transport": "-",
                "address": None,
                "arch": "-",
                "emulated": False,
                "description": None,
                "source": None,
                "state": "broken",
                "detail": exc.message,
            }
        )
        notes.append(f"{name!r} is skipped, only commands that use it fail ({exc.hint})")
    configured.sort(key=lambda d: d["name"])
    if probe:
        from edgekit.edgetpu.discovery import list_edgetpus

        try:
            edgetpus = list_edgetpus()
        except EdgekitError as exc:
            edgetpus = None
            notes.append(exc.line())
        for tpu in edgetpus or []:
            info = tpu if isinstance(tpu, dict) else getattr(tpu, "__dict__", {"id": str(tpu)})
            discovered.append(
                {
                    "kind": "edgetpu",
                    "id": str(info.get("path") or info.get("id") or info.get("type") or tpu),
                    "state": str(info.get("state", "attached")),
                    "detail": ", ".join(f"{k}={v}" for k, v in info.items()),
                }
            )
    return {"configured": configured, "discovered": discovered, "notes": notes}


# --- compare and the gate ----------------------------------------------------------------------
def compare(
    refs: Sequence[str] = (),
    *,
    use_baseline: bool = False,
    history: str | None = None,
    metric: str = "p50",
    threshold: float | None = None,
    confidence: float | None = None,
    run_noise: bool = True,
    pair_by: str = "series",
    confirm: int = 0,
    baseline_artifact: str | None = None,
    candidate_artifact: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list:
    """Compare benchmark results: ``refs`` are BASELINE and CANDIDATE (result files or history run
    ids), or with ``use_baseline`` candidates (default: the latest run of every series) against the
    stored baselines. ``metric`` is "p50", "p90" or "p50,p90"; ``run_noise`` widens the verdict by
    the noise of repeated baseline runs in the history. ``confirm`` (rounds, 3 or more) re-measures
    every pair whose verdict is not "unchanged" alternately, baseline and candidate back to back,
    and replaces the verdict with that one (edgekit.results.confirm); ``baseline_artifact`` /
    ``candidate_artifact`` name the files when the recorded paths hold other builds now. Returns
    edgekit.results.compare Comparisons (``verdict``, ``regressed``, ``to_dict()``); :func:`gate`
    turns them into a verdict."""
    from edgekit.results import compare as cmpmod
    from edgekit.results.pairing import pairs, repeated_runs

    metrics = [m.strip() for m in metric.split(",") if m.strip()]
    threshold = cmpmod.DEFAULT_THRESHOLD if threshold is None else threshold
    confidence = cmpmod.DEFAULT_CONFIDENCE if confidence is None else confidence
    comparisons = []
    seen = set()
    found = pairs(refs, use_baseline=use_baseline, history=history, pair_by=pair_by)
    if (baseline_artifact or candidate_artifact) and len(found) != 1:
        raise EdgekitError(
            f"--baseline-artifact/--candidate-artifact name one file, and {len(found)} pairs were found",
            "compare one baseline with one candidate to name their files",
        )
    for base, cand, bref, cref in found:
        repeated = repeated_runs(history, base) if run_noise else []
        mine = []
        for m in metrics:
            c = cmpmod.compare_results(
                base,
                cand,
                metric=m,
                threshold=threshold,
                confidence=confidence,
                baseline_ref=bref,
                candidate_ref=cref,
                repeated=repeated,
            )
            # Aggregate-only results compare on the mean whatever the metric asked: once is enough.
            key = (c.label, bref, cref, c.metric)
            if key not in seen:
                seen.add(key)
                mine.append(c)
        if confirm and any(c.verdict != cmpmod.UNCHANGED for c in mine):
            _confirm_pair(base, cand, mine, confirm, baseline_artifact, candidate_artifact, progress)
        comparisons += mine
    return comparisons


def _confirm_pair(base: dict, cand: dict, comparisons: list, rounds: int, base_file, cand_file, progress) -> None:
    """Re-measure one pair alternately and give its comparisons the confirmed verdicts; when that
    cannot be done (a file gone or rebuilt, a device away), each comparison says why and keeps its
    separate-runs verdict, which still decides the gate."""
    from edgekit.results import confirm as conf

    try:
        if progress:
            progress(f"confirming {comparisons[0].label}: {rounds} alternated rounds of baseline and candidate")
        a, b, order, seconds = conf.measure_rounds(
            base, cand, rounds=rounds, baseline_artifact=base_file, candidate_artifact=cand_file, progress=progress
        )
        for c in comparisons:
            result = conf.paired_verdict(a, b, metric=c.metric, threshold=c.threshold, confidence=c.confidence, order=order)
            result.seconds = seconds
            conf.apply(c, result)
    except EdgekitError as exc:
        for c in comparisons:
            c.notes.append(f"not confirmed: {exc.message}; {exc.hint}" if exc.hint else f"not confirmed: {exc.message}")


def gate(comparisons: Sequence, *, threshold: float | None = None, on_inconclusive: str = "pass") -> None:
    """The CI verdict of :func:`compare`'s comparisons: raises CheckFailed (exit 1) when one
    regressed, or when one is inconclusive and ``on_inconclusive`` is "fail"; returns None when
    the gate passes."""
    from edgekit.errors import CheckFailed
    from edgekit.results import compare as cmpmod

    threshold = cmpmod.DEFAULT_THRESHOLD if threshold is None else threshold
    bad = [c for c in comparisons if c.regressed]
    unsure = [c for c in comparisons if c.verdict == cmpmod.INCONCLUSIVE]
    plural = "s" if len(comparisons) != 1 else ""
    if not bad and unsure and on_inconclusive == "fail":
        worst = max(unsure, key=lambda c: c.ci_high)
        raise CheckFailed(
            f"{len(unsure)} of {len(comparisons)} comparison{plural} inconclusive at "
            f"{threshold:.0%} (e.g. {worst.label} {worst.metric} {worst.change_pct:+.1f}%, {worst.confidence:.0%} CI "
            f"{(worst.ci_low - 1) * 100:+.1f}%..{(worst.ci_high - 1) * 100:+.1f}%): the gate cannot see a {threshold:.0%} change",
            "more runs (--min-runs/--min-time), a quieter machine or a larger --threshold; --on-inconclusive pass to accept",
        )
    if bad:
        worst = max(bad, key=lambda c: c.ratio)
        raise CheckFailed(
            f"{len(bad)} of {len(comparisons)} comparison{plural} regressed beyond "
            f"{threshold:.0%} (worst: {worst.label} {worst.metric} {worst.change_pct:+.1f}%, "
            f"{worst.confidence:.0%} CI {(worst.ci_low - 1) * 100:+.1f}%..{(worst.ci_high - 1) * 100:+.1f}%)",
            "find the change that slowed it, or set a new baseline with 'edgekit history --set-baseline RUN' if it is intended",
        )


# --- history -------------------------------------------------------------------------------------
def history_runs(
    *,
    history: str | None = None,
    artifact: str | None = None,
    sha256: str | None = None,
    device: str | None = None,
    status: str | None = None,
    since: str | None = None,
    limit: int | None = 50,
) -> tuple[list, str]:
    """Recorded runs, newest first, filtered like ``edgekit history`` (``since``: an ISO UTC
    time, see edgekit.results.history.parse_since); returns (runs, the history file's path)."""
    from edgekit.results.history import History

    with History(history, create=False) as h:
        return h.runs(artifact=artifact, sha256=sha256, device=device, status=status, since=since, limit=limit or None), h.path


def baselines(*, history: str | None = None) -> tuple[list, str]:
    """The runs set as baselines; returns (runs, the history file's path)."""
    from edgekit.results.history import History

    with History(history, create=False) as h:
        return h.baselines(), h.path


def history_result(run_id: int, *, history: str | None = None) -> dict:
    """The full result document of one recorded run."""
    from edgekit.results.history import History

    with History(history, create=False) as h:
        return h.result(run_id)


def set_baseline(run_id: int, *, history: str | None = None):
    """Make a run the baseline of its series (artifact, device, settings); returns its Run."""
    from edgekit.results.history import History

    with History(history, create=False) as h:
        return h.set_baseline(run_id)


def history_add(paths: Sequence[str], *, history: str | None = None) -> tuple[list[int], str]:
    """Append result files (from ``edgekit bench -o``) to the history; returns (run ids, path)."""
    from edgekit.results.history import History
    from edgekit.results.schema import SchemaError, load_many

    with History(history) as h:
        ids = []
        for path in paths:
            try:
                results = load_many(path)
            except OSError as exc:
                raise EdgekitError(f"cannot read {path} ({exc.strerror})", "check the result file path") from None
            except (ValueError, SchemaError) as exc:
                raise EdgekitError(f"{path}: {exc}", "pass files written by 'edgekit bench -o'") from None
            ids += [h.append(r, f"file {path}") for r in results]
        return ids, h.path


# --- reports and model facts ---------------------------------------------------------------------
def report(
    results: Sequence[str], *, fmt: str | None = None, title: str = "edgekit benchmark report", output: str | None = None
) -> tuple[str, str]:
    """Render result files as a report (``fmt`` "html" or "md"; default from ``output``'s suffix,
    else Markdown) and write it atomically to ``output`` when given; returns (text, format)."""
    from edgekit.build.artifacts import atomic_write_bytes
    from edgekit.report import format_for, load_results, render

    fmt = format_for(output, fmt)
    text = render(load_results(list(results)), fmt, title)
    if output:
        atomic_write_bytes(output, text.encode("utf-8"))
    return text, fmt


def inspect(model: str, *, input_shapes: Sequence[str] | dict | None = None) -> dict:
    """Everything edgekit reads from a model file without running it: a .tflite's tensors, ops,
    quantization, MACs, signatures, minimum runtime version and Edge TPU placement, or what the
    format's record's inspector reads (``FormatRecord.inspector``; .onnx: opset, dynamic dims, ops,
    parameters, MACs at ``input_shapes``). ``info["format"]`` names the format it was read as.
    Other model files (TorchScript, SavedModel, Keras, formats without an inspector) end in one
    EdgekitError naming what the file is and what edgekit does with it."""
    import importlib

    from edgekit.inspect.formats import choose

    how, what = choose(model)
    if how == "refuse":
        raise what  # type: ignore[misc]
    if how == "inspector":
        return importlib.import_module(str(what)).describe(model, parse_input_shapes(input_shapes))
    from edgekit.inspect import describe

    return describe(model)


def profile(model: str, *, etrecord: str | None = None, runs: int = 20, threads: int | None = None) -> dict:
    """Per-op timings of a .pte with ExecuTorch's tracer (``runs`` profiled inferences; op types
    from the ETRecord written at build, default MODEL.pte.etrecord when present)."""
    from edgekit.torchkit.profile import profile_pte

    if runs < 1:
        raise EdgekitError("--runs must be at least 1", "e.g. --runs 20")
    return profile_pte(model, etrecord=etrecord, runs=runs, threads=threads)


def quant_report(artifact: str) -> dict:
    """What the build recorded about a quantized artifact's layers (its manifest beside it): each
    layer's error, worst first (``build --explain``), and for ``*-mixed`` targets the layers kept
    at higher precision with the budget and the cost."""
    from edgekit.quant.report import for_artifact

    return for_artifact(artifact)


def edgetpu_check(model: str):
    """Predict which ops of a full-int8 .tflite the Edge TPU compiler maps (or read a compiled
    model's placement); returns a Preflight (``ready``, ``summary()``, ``to_dict()``)."""
    from edgekit.edgetpu.preflight import check

    return check(model)


def edgetpu_compile(
    model: str,
    out_dir: str | None = None,
    *,
    min_runtime_version: str | None = None,
    segments: int | None = None,
    timeout: float = 180.0,
    show_ops: bool = True,
) -> dict:
    """Compile a full-int8 .tflite with edgetpu_compiler after the preflight (default output
    directory: beside the model); returns the compile report (files, placement, warnings)."""
    from edgekit.edgetpu import service

    out_dir = out_dir or os.path.dirname(os.path.abspath(model))
    return service.compile_with_preflight(
        model, out_dir, show_ops=show_ops, min_runtime_version=min_runtime_version, segments=segments, timeout=timeout
    )


def gpu_check(model: str, analyzer_python: str | None = None):
    """Which ops of a .tflite the GPU delegate takes (TensorFlow's analyzer, in ``analyzer_python``
    or $EDGEKIT_GPU_PYTHON when given); returns a GpuCheck (``fully_compatible``, ``to_dict()``)."""
    from edgekit.inspect import gpu

    return gpu.check(model, analyzer_python)


# --- devices: check, provision, deploy, package --------------------------------------------------
def doctor(
    device: str | None = None,
    artifacts: Sequence[str] = (),
    *,
    devices_dirs: Sequence[str] = (),
    provider: str | None = None,
    try_load: bool = True,
    input_shapes: Sequence[str] | None = None,
) -> dict:
    """Can ``device`` (a profile name; default this machine) run ``artifacts``? Facts, problems
    with their fixes, and a verdict per artifact; :func:`doctor_verdict` raises when it cannot."""
    from edgekit.devices import doctor as doctor_mod

    return doctor_mod.doctor(
        device, list(artifacts), devices_dirs=devices_dirs, provider=provider, try_load=try_load, input_shapes=input_shapes
    )


def doctor_verdict(report: dict, device: str | None = None) -> None:
    """Raise CheckFailed (exit 1) with the first problem when :func:`doctor`'s report is not ok."""
    from edgekit.errors import CheckFailed

    if report["ok"]:
        return
    where = f"device {report['device']!r}" if device else "this machine"
    fix = f"apply the fixes listed above, or run 'edgekit provision{' --device ' + device if device else ''}'"
    if not report.get("device_ok", True):
        errors = [p for p in report["problems"] if p.get("severity") == "error"]
        count = f"; none of {len(report['artifacts'])} artifact(s) can run there" if report["artifacts"] else ""
        more = "" if len(errors) == 1 else f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise CheckFailed(f"{where} is not ready: {errors[0]['message']}{more}{count}", fix)
    bad = [a for a in report["artifacts"] if not a["ok"]]
    problems = bad[0]["problems"]
    first = next((p for p in problems if p.get("severity") == "error"), problems[0] if problems else {})
    reason = first.get("message") or first.get("code") or "see the report above"
    raise CheckFailed(
        f"{len(bad)} of {len(report['artifacts'])} artifact(s) cannot run on {where} ({bad[0]['name']}: {reason})",
        fix,
    )


def provision(
    device: str,
    artifacts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    sudo: bool = False,
    devices_dirs: Sequence[str] = (),
    provider: str | None = None,
) -> dict:
    """Install what ``device`` lacks to run ``artifacts``: the safe fixes run (a venv, pip), the
    system ones (apt, udev) only with ``sudo``; returns the steps and the after-check."""
    from edgekit.devices.provision import provision as _provision

    return _provision(device, list(artifacts), dry_run=dry_run, sudo=sudo, devices_dirs=devices_dirs, provider=provider)


def _deploy_wait(wait: float | None) -> dict:
    if wait is not None and wait < 0:
        raise EdgekitError(f"--wait must be 0 or more seconds, not {wait:g}", "e.g. --wait 60")
    return {} if wait is None else {"wait": wait}


def deploy(
    artifacts: Sequence[str],
    device: str | None = None,
    to: str | None = None,
    *,
    devices_dirs: Sequence[str] = (),
    keep: int = 3,
    wait: float | None = None,
) -> dict:
    """Put ``artifacts`` on ``device`` (default this machine, then ``to`` is needed) as a new
    verified version and switch ``current`` to it atomically; ``keep`` older versions stay,
    ``wait`` seconds for another deploy's lock. Returns what was sent and reused."""
    from edgekit.ship import deploy as deploy_mod

    locking = _deploy_wait(wait)
    if keep < 0:
        raise EdgekitError(f"--keep must be 0 or more, not {keep}", "e.g. --keep 3")
    return deploy_mod.deploy(list(artifacts), device, to, keep=keep, devices_dirs=devices_dirs, **locking)


def rollback(
    device: str | None = None, to: str | None = None, *, devices_dirs: Sequence[str] = (), wait: float | None = None
) -> dict:
    """Switch ``current`` back to the previous deployed version."""
    from edgekit.ship import deploy as deploy_mod

    return deploy_mod.rollback(device, to, devices_dirs=devices_dirs, **_deploy_wait(wait))


def deploy_status(
    device: str | None = None,
    to: str | None = None,
    *,
    devices_dirs: Sequence[str] = (),
    verify: bool = False,
    wait: float | None = None,
) -> dict:
    """The current and previous versions of a deploy directory; ``verify`` re-hashes the current
    version's files on the device (CheckFailed when one differs)."""
    from edgekit.ship import deploy as deploy_mod

    _deploy_wait(wait)
    return deploy_mod.status(device, to, verify=verify, devices_dirs=devices_dirs)


def package(
    inputs: Sequence[str],
    *,
    android: str | None = None,
    ios: str | None = None,
    assets_dir: str | None = None,
    targets: Sequence[str] | None = None,
    labels: str | None = None,
    normalize: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    write_gradle: bool = True,
    force: bool = False,
) -> dict:
    """Copy artifacts (files or a build directory, optionally only ``targets``) into an Android
    app (``android``: the project root; assets in app/src/main/assets or ``assets_dir``) or an
    iOS folder (``ios``), each with a sidecar JSON (normalization, labels). Returns the package
    index with ``directory`` and ``gradle_snippet`` (the noCompress file written, or None)."""
    from edgekit.ship import package as pk

    if bool(android) == bool(ios):
        raise EdgekitError("give one of android or ios", "package into an Android app or an iOS folder")
    items = pk.collect(list(inputs), list(targets) if targets else None)
    norm = pk.normalization_from_args(normalize, list(mean) if mean else None, list(std) if std else None)
    kw = dict(normalization=norm, labels_path=labels, force=force)
    snippet_path = None
    if android:
        index, dest, snippet_path = pk.package_android(items, android, assets_dir, write_gradle, **kw)
    else:
        dest = ios
        index = pk.package_ios(items, dest, **kw)
    return {**index, "directory": dest, "gradle_snippet": snippet_path}
