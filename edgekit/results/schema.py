"""The benchmark result schema: one JSON document per measurement, the same on every device.

Every result keeps the raw per-run latencies, so a later comparison can run a statistical test
instead of comparing two means. Bump SCHEMA_VERSION when a field changes meaning; readers check it.
Standard library only: the on-device runner builds results with this module.

Version 2 (edgekit's harness self-check) changed two meanings and added fields; version 1 files
still load:

* ``latency_ms.throughput_per_s`` is timed runs / their wall time (or 1000 / mean), no longer
  1000 / p50, which overstated skewed distributions many times over.
* ``memory.model_rss_bytes`` excludes importing the runtime (``memory.runtime_import_rss_bytes``);
  ``rss_before_load_bytes`` is taken after the import.
* new, optional: ``method`` (how the runs were made: inputs re-set per run, the output self-check,
  why the loop stopped, resized input shapes), ``notes`` (a list of sentences, e.g. the time budget
  cut the runs), ``settings.max_time_s``, ``settings.input_shapes``, ``settings.output_check``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, TypedDict

SCHEMA = "edgekit.result"
SCHEMA_VERSION = 2
# Versions this code reads: every change so far only added fields or refined a figure.
READABLE_VERSIONS = (1, 2)

# Top-level keys every result has, whatever its status; tests and readers rely on them.
REQUIRED_KEYS = (
    "schema",
    "schema_version",
    "edgekit_version",
    "status",
    "created",
    "artifact",
    "device",
    "platform",
    "runtime",
    "settings",
)
# Present when status == "ok".
MEASUREMENT_KEYS = ("init_ms", "first_inference_ms", "latency_ms", "samples_ms", "memory", "delegates")


class SchemaError(ValueError):
    pass


# --- the one set of measurement defaults ----------------------------------------------------
# bench's flags, the Python API, the worker and the native tools on phones all read these.
BENCH_DEFAULTS: dict[str, Any] = {
    "warmup": 10,  # untimed runs before measuring
    "min_runs": 50,  # measure at least this many runs
    "min_time_s": 2.0,  # and for at least this many seconds
    "max_runs": 100_000,  # stop after this many runs
    "max_time_s": 20.0,  # the time budget when none is given (see time_budget)
}


def time_budget(min_time_s: float | None, max_time_s: float | None = None) -> float:
    """An artifact's time budget: ``max_time_s`` when given, else 20 s or 1.5x ``min_time_s`` when
    that is longer (the default budget never cuts into an explicit --min-time)."""
    if max_time_s is not None:
        return float(max_time_s)
    return max(float(BENCH_DEFAULTS["max_time_s"]), 1.5 * float(min_time_s or 0.0))


# --- typed documents: what is shipped to a device and what comes back -----------------------
class InputSource(TypedDict, total=False):
    kind: str  # random | file | image
    seed: int
    path: str
    label: str
    normalize: str | None


class WorkerSpec(TypedDict, total=False):
    """One measurement request (edgekit.api.bench_spec), the JSON every runner reads."""

    artifact: str
    format: str
    threads: int | None
    xnnpack: bool
    provider: str | None
    warmup: int
    min_runs: int
    min_time_s: float
    max_runs: int
    max_time_s: float | None
    input_shapes: dict[str, list[int]]
    output_check: bool
    inputs: InputSource
    save_outputs: str | None
    device_selector: str | None
    runtime_options: dict[str, Any]
    expect_sha256: str | None
    artifact_label: str
    artifact_meta: dict[str, Any]
    device: dict[str, Any]


class Settings(TypedDict, total=False):
    threads: int | None
    xnnpack: bool
    warmup: int
    min_runs: int
    min_time_s: float
    max_runs: int
    max_time_s: float | None
    input_shapes: dict[str, list[int]]
    output_check: bool
    inputs: InputSource


class ArtifactBlock(TypedDict, total=False):
    path: str
    name: str
    format: str | None
    sha256: str
    size_bytes: int
    gzip_bytes: int
    target: str


class DeviceBlock(TypedDict, total=False):
    name: str
    transport: str
    emulated: bool
    arch: str
    fingerprint: dict[str, Any] | None


class RuntimeBlock(TypedDict, total=False):
    name: str
    version: str | None
    threads: int | None
    xnnpack: bool
    delegate: str | None


class ErrorBlock(TypedDict, total=False):
    type: str
    message: str
    hint: str
    log_tail: list[str]
    traceback: str


class Result(TypedDict, total=False):
    """A result document; REQUIRED_KEYS always, MEASUREMENT_KEYS when status is ok."""

    schema: str
    schema_version: int
    edgekit_version: str
    created: str
    status: str  # ok | error
    artifact: ArtifactBlock
    device: DeviceBlock
    platform: dict[str, Any]
    runtime: RuntimeBlock
    settings: Settings
    error: ErrorBlock
    init_ms: float | None
    first_inference_ms: float | None
    latency_ms: dict[str, Any]
    samples_ms: list[float]
    memory: dict[str, Any]
    delegates: list[str]
    notes: list[str]
    method: dict[str, Any]
    thermal: dict[str, Any]


SETTINGS_KEYS = (
    "threads",
    "xnnpack",
    "warmup",
    "min_runs",
    "min_time_s",
    "max_runs",
    "max_time_s",
    "input_shapes",
    "output_check",
)
_SETTING_DEFAULTS: dict[str, Any] = {
    "threads": None,
    "xnnpack": True,
    "input_shapes": {},
    "output_check": True,
    **BENCH_DEFAULTS,
    "max_time_s": None,
}


def settings_of(spec: WorkerSpec | dict) -> Settings:
    """The settings block of a result: what the spec asked for, with the defaults filled in."""
    settings: dict = {k: spec.get(k, _SETTING_DEFAULTS[k]) for k in SETTINGS_KEYS}
    settings["inputs"] = spec.get("inputs") or {"kind": "random", "seed": 0}
    return settings  # type: ignore[return-value]


def new_result(
    spec: WorkerSpec | dict, *, artifact: ArtifactBlock, device: DeviceBlock, platform: dict, runtime: RuntimeBlock
) -> Result:
    """The one constructor of a result document (every runner's, on the host and on devices):
    the fields every result has, status "error" until the runner fills in a measurement. The
    runtime block gets the spec's threads and XNNPACK choice; settings come from ``spec``."""
    from edgekit import __version__

    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "edgekit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "error",
        "artifact": artifact,
        "device": device,
        "platform": platform,
        "runtime": {**runtime, "threads": spec.get("threads"), "xnnpack": bool(spec.get("xnnpack", True))},
        "settings": settings_of(spec),
    }


def validate(result: dict) -> dict:
    """Check a result has the fields of its schema version; returns it for chaining."""
    if not isinstance(result, dict):
        raise SchemaError("a result is a JSON object")
    if result.get("schema") != SCHEMA:
        raise SchemaError(f"not an edgekit result (schema={result.get('schema')!r})")
    if result.get("schema_version") not in READABLE_VERSIONS:
        raise SchemaError(
            f"result schema version {result.get('schema_version')} is not one this edgekit reads "
            f"({', '.join(map(str, READABLE_VERSIONS))}); upgrade edgekit"
        )
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if result.get("status") == "ok":
        missing += [k for k in MEASUREMENT_KEYS if k not in result]
        lat = result.get("latency_ms", {})
        for k in ("min", "p50", "p90", "p99", "max", "mean", "std", "trimmed_mean", "n"):
            if k not in lat:
                missing.append(f"latency_ms.{k}")
        # aggregate_only: a native tool (Android's benchmark_model) printed aggregates, no samples;
        # its result keeps samples_ms empty and the figures it did not measure None.
        if not lat.get("aggregate_only") and len(result.get("samples_ms", [])) != lat.get("n"):
            raise SchemaError("samples_ms does not hold latency_ms.n samples")
    elif result.get("status") == "error":
        if not isinstance(result.get("error"), dict):
            missing.append("error")
    else:
        raise SchemaError(f"unknown status {result.get('status')!r}")
    if "notes" in result and not isinstance(result["notes"], list):
        raise SchemaError("notes is a list of sentences")
    if "method" in result and not isinstance(result["method"], dict):
        raise SchemaError("method is an object")
    if missing:
        raise SchemaError(f"result lacks {', '.join(missing)}")
    return result


def load(path: str) -> dict:
    """Read and validate a result file (a list of results is also accepted by load_many)."""
    return validate(_read_json(path))


def _read_json(path: str):
    """The file's JSON; a text or binary file passed by mistake is a SchemaError naming what it is,
    not the decoder's "Expecting value: line 1 column 1 (char 0)"."""
    import json

    with open(path, "rb") as f:
        raw = f.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SchemaError("not a JSON file (binary content)") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not a JSON file (parse error at line {exc.lineno}, column {exc.colno})") from None


def load_many(path: str) -> list[dict]:
    data = _read_json(path)
    items = data if isinstance(data, list) else [data]
    return [validate(r) for r in items]
