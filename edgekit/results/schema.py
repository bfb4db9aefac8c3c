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
