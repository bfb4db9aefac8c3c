"""Manifest.load uses the manifest schema's version rule: a manifest from a newer edgekit is one
clear ``edgekit:`` line (in the product, not only in tests), an old supported one still loads."""

from __future__ import annotations

import json

import pytest

from edgekit.build.artifacts import MANIFEST_SCHEMA_VERSION, Manifest
from edgekit.build.manifest_schema import READABLE_VERSIONS, validate_manifest
from edgekit.errors import EdgekitError
from tests.conftest import assert_one_line_error, run_cli

ENTRY = {
    "target": "tflite-fp32",
    "status": "built",
    "format": "tflite",
    "file": "m.tflite",
    "sha256": "0" * 64,
    "size_bytes": 4,
    "inputs": [{"name": "x", "shape": [1, 4], "dtype": "float32"}],
    "outputs": [{"name": "y", "shape": [1, 2], "dtype": "float32"}],
    "accuracy": {"passed": True},
}


def _write(d, version) -> None:
    d.mkdir(exist_ok=True)
    doc = {
        "schema": "edgekit.manifest",
        "updated": "2026-01-01T00:00:00+00:00",
        "source": {"path": "m.keras"},
        "artifacts": [ENTRY],
    }
    if version is not None:
        doc["schema_version"] = version
    (d / "manifest.json").write_text(json.dumps(doc))
    (d / "m.tflite").write_bytes(b"TFL3")


def test_supported_version_loads(tmp_path):
    assert MANIFEST_SCHEMA_VERSION in READABLE_VERSIONS
    _write(tmp_path / "old", READABLE_VERSIONS[0])
    m = Manifest.load(str(tmp_path / "old"), missing_ok=False)
    assert list(m.entries) == ["tflite-fp32"] and m.entries["tflite-fp32"].sha256 == "0" * 64
    problems = validate_manifest(json.loads((tmp_path / "old" / "manifest.json").read_text()))
    assert not [p for p in problems if "schema_version" in p]  # (the entry here is deliberately partial)


def test_newer_manifest_is_one_clear_line(tmp_path):
    _write(tmp_path / "new", max(READABLE_VERSIONS) + 1)
    with pytest.raises(EdgekitError, match="written by a newer edgekit") as info:
        Manifest.load(str(tmp_path / "new"))
    assert f"schema version {max(READABLE_VERSIONS) + 1}" in info.value.message and "upgrade edgekit" in info.value.hint
    # the validator agrees (one rule, two readers)
    assert any("schema_version" in p for p in validate_manifest(json.loads((tmp_path / "new" / "manifest.json").read_text())))
    proc = run_cli("package", str(tmp_path / "new"), "--ios", str(tmp_path / "ios"))
    assert_one_line_error(proc, "manifest.json was written by a newer edgekit", "upgrade edgekit")
    assert not (tmp_path / "ios").exists()


@pytest.mark.parametrize("version", [None, "1", 0, True])
def test_unknown_versions_refused(tmp_path, version):
    _write(tmp_path / "odd", version)
    with pytest.raises(EdgekitError, match="unknown schema_version"):
        Manifest.load(str(tmp_path / "odd"))
