"""The manifest's schema, and a small checker for it (no jsonschema dependency on devices).

``MANIFEST_SCHEMA`` is written in JSON-Schema style (type, required, properties, enum, items) so it
can be published as-is; ``validate_manifest`` implements that subset and returns every problem
with its JSON path, so a test (or CI) can fail with all of them at once.
"""

from __future__ import annotations

from typing import Any

# Manifest versions this edgekit reads (it writes the newest); Manifest.load refuses others.
READABLE_VERSIONS = (1,)

_NUM = ["number", "null"]
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "dtype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "dtype": {"type": "string"},
        "scale": {"type": _NUM},
        "zero_point": {"type": ["integer", "null"]},
        "per_channel": {"type": "boolean"},
        # an artifact input that takes another layout than the source (edgekit/build/layout.py)
        "layout": {"type": "string"},
        "transposed_from": {"type": "string"},
    },
}
_CALIBRATION = {
    "type": ["object", "null"],
    "required": ["source", "count", "sha256", "random"],
    "properties": {
        "source": {"type": "string"},
        "count": {"type": "integer"},
        "sha256": {"type": "string", "pattern_len": 64},
        "random": {"type": "boolean"},
    },
}
_ACCURACY = {
    "type": ["object", "null"],
    "required": ["samples", "outputs", "cosine", "max_abs_error", "snr_db"],
    "properties": {
        "samples": {"type": "integer"},
        "cosine": {"type": _NUM},
        "max_abs_error": {"type": _NUM},
        "snr_db": {"type": _NUM},
        "top1_agreement": {"type": "number"},
        "top5_agreement": {"type": "number"},
        "accuracy": {"type": "number"},
        "reference_accuracy": {"type": "number"},
        "nn_agreement": {"type": "number"},
        "pixel_agreement": {"type": "number"},
        "calibration_samples": {"type": ["integer", "null"]},
        "sample_warnings": {"type": "array", "items": {"type": "string"}},
        "sanity": {
            "type": "object",
            "required": ["verdict", "reasons", "fail_below", "warn_below"],
            "properties": {
                "verdict": {"enum": ["ok", "warn", "fail"]},
                "reasons": {"type": "array", "items": {"type": "string"}},
                "fail_below": {"type": "number"},
                "warn_below": {"type": "number"},
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "cosine", "max_abs_error", "snr_db"],
                "properties": {
                    "name": {"type": "string"},
                    "kind": {"enum": ["classification", "embedding", "dense", "values"]},
                    "cosine": {"type": _NUM},
                    "max_abs_error": {"type": _NUM},
                    "snr_db": {"type": _NUM},
                    "finite": {"type": "boolean"},
                    "all_zero": {"type": "boolean"},
                    "constant": {"type": "boolean"},
                },
            },
        },
    },
}
ENTRY_SCHEMA = {
    "type": "object",
    "required": ["target", "status", "format", "quantization", "tool_versions", "inputs", "outputs", "error"],
    "properties": {
        "target": {"type": "string"},
        "status": {"enum": ["built", "cached", "failed"]},
        "format": {"type": ["string", "null"]},
        "file": {"type": ["string", "null"]},
        "sha256": {"type": ["string", "null"]},
        "size_bytes": {"type": ["integer", "null"]},
        "quantization": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": _TENSOR},
        "tool_versions": {"type": "object"},
        "calibration": _CALIBRATION,
        "accuracy": _ACCURACY,
        "build_time_s": {"type": _NUM},
        "cache_key": {"type": ["string", "null"]},
        "built_at": {"type": ["string", "null"]},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "error": {
            "type": ["object", "null"],
            "required": ["message"],
            "properties": {"message": {"type": "string"}, "hint": {"type": "string"}},
        },
        "extra": {"type": "object"},
    },
}
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "updated", "source", "artifacts"],
    "properties": {
        "schema": {"enum": ["edgekit.manifest"]},
        "schema_version": {"enum": list(READABLE_VERSIONS)},
        "updated": {"type": "string"},
        "source": {"type": "object"},
        "artifacts": {"type": "array", "items": ENTRY_SCHEMA},
    },
}

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def _check(value: Any, schema: dict, path: str, problems: list[str]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
        return
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is(value, t) for t in types):
            problems.append(f"{path}: expected {'/'.join(types)}, got {type(value).__name__}")
            return
    if isinstance(value, str) and "pattern_len" in schema and len(value) != schema["pattern_len"]:
        problems.append(f"{path}: expected {schema['pattern_len']} characters")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _check(value[key], sub, f"{path}.{key}", problems)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{i}]", problems)


def _non_finite(value: Any, path: str, problems: list[str]) -> None:
    """NaN/Infinity are not JSON (strict readers reject the tokens); the manifest writes null."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        problems.append(f"{path}: {value} is not strict JSON (write null and a note)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _non_finite(v, f"{path}.{k}", problems)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _non_finite(v, f"{path}[{i}]", problems)


def check_version(data: dict, where: str) -> None:
    """Refuse a manifest whose schema_version this edgekit cannot read, with one line that says
    whether a newer edgekit wrote it (Manifest.load calls this; the schema's enum is the same list)."""
    from edgekit.errors import EdgekitError

    version = data.get("schema_version")
    readable = ", ".join(map(str, READABLE_VERSIONS))
    if version in READABLE_VERSIONS and not isinstance(version, bool):
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > max(READABLE_VERSIONS):
        raise EdgekitError(
            f"{where} was written by a newer edgekit (manifest schema version {version}; this edgekit reads {readable})",
            "upgrade edgekit to read it, or build into another directory with this one",
        )
    raise EdgekitError(
        f"{where} has an unknown schema_version {version!r} (this edgekit reads {readable})", "delete it and rebuild with --force"
    )


def validate_manifest(data: dict) -> list[str]:
    """Every schema violation in a manifest document, plus the cross-field rules; [] when valid."""
    problems: list[str] = []
    _check(data, MANIFEST_SCHEMA, "$", problems)
    _non_finite(data, "$", problems)
    for i, entry in enumerate(data.get("artifacts") or []):
        if not isinstance(entry, dict):
            continue
        where = f"$.artifacts[{i}]"
        if entry.get("status") in ("built", "cached"):
            for key in ("file", "sha256", "size_bytes", "accuracy"):
                if entry.get(key) is None:
                    problems.append(f"{where}: a {entry['status']} artifact needs {key}")
            if not entry.get("inputs") or not entry.get("outputs"):
                problems.append(f"{where}: a {entry['status']} artifact needs its input/output signature")
        elif entry.get("status") == "failed" and not entry.get("error"):
            problems.append(f"{where}: a failed artifact needs an error saying why")
    return problems
