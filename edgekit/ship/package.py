"""App packaging: copy artifacts into an Android app's assets or an iOS folder, with a sidecar per model.

App code needs more than the model file: input/output names, shapes and dtypes, the quantization
parameters to (de)quantize, the image normalization the model was trained with, and the labels.
The sidecar ``<model>.json`` carries them, and ``edgekit-models.json`` lists every packaged model
with its sha256 so the app (or a test) can verify what shipped.

TFLite metadata is not embedded: the maintained writers do not run on this stack. tflite-support
0.4.4 (last release 2023) needs protobuf < 4 (TensorFlow 2.21 needs protobuf 7) and its import fails
even with pure-Python protobuf ("generic_type: cannot initialize type StatusCode"); mediapipe 1.2.2's
metadata writer imports a C extension (``_pywrap_metadata_version``) its wheel does not ship. The
sidecar holds the same facts (see docs/report.md).

Inputs are artifact files or a build output directory (its manifest gives specs, target names,
quantization and accuracy). Everything is keyed on the artifact format's record (its packaging), never on
target names, so new targets package without changes here.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field

from edgekit import __version__
from edgekit.build.artifacts import (
    MANIFEST_NAME,
    ArtifactEntry,
    Manifest,
    atomic_write_bytes,
    atomic_write_json,
    sha256_file,
    temp_path_for,
)
from edgekit.errors import EdgekitError
from edgekit.runtimes.formats import FORMATS, Packaging, resolve

SIDECAR_SCHEMA = "edgekit.model-sidecar"
SIDECAR_VERSION = 1
INDEX_NAME = "edgekit-models.json"
ANDROID_ASSETS = os.path.join("app", "src", "main", "assets")
GRADLE_SNIPPET_NAME = "edgekit-noCompress.gradle.kts"

# Pixel-space normalization presets, model_input = (pixel - mean) / std (TFLite metadata convention).
NORMALIZATION_PRESETS = {
    "0,1": ([0.0], [255.0]),
    "-1,1": ([127.5], [127.5]),
    "raw": ([0.0], [1.0]),
    "0,255": ([0.0], [1.0]),
    "imagenet": ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
}


# How each format ships in apps is its record's ``packaging`` (edgekit.runtimes.formats.Packaging).
FormatPacking = Packaging


def packing_for(fmt: str) -> Packaging:
    record = FORMATS.get(fmt) if fmt in FORMATS else None
    if record is None or record.packaging is None:
        known = sorted(r.name for r in FORMATS.records() if r.packaging is not None)
        raise EdgekitError(
            f"edgekit does not know how to package {fmt!r} artifacts for apps",
            f"package one of: {', '.join(known)}",
        ) from None
    return record.packaging


@dataclass
class Item:
    """One artifact to package, with what is known about it."""

    path: str
    format: str
    entry: ArtifactEntry | None = None
    source: dict = field(default_factory=dict)  # manifest source block (build spec), when any

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


# --- collecting inputs ---------------------------------------------------------------------------


def collect(inputs: list[str], targets: list[str] | None = None) -> list[Item]:
    """Artifact files and build output directories -> items; ``targets`` filters manifest entries."""
    from edgekit.build.artifacts import find_manifest_entry
    from edgekit.runtimes import detect_format

    items: list[Item] = []
    for path in inputs:
        if os.path.isdir(path):
            if not os.path.exists(os.path.join(path, MANIFEST_NAME)):
                raise EdgekitError(
                    f"{path} is a directory without {MANIFEST_NAME}", "pass artifact files or an 'edgekit build' output directory"
                )
            manifest = Manifest.load(path, missing_ok=False)
            chosen = [e for e in manifest.entries.values() if e.file and e.status in ("built", "cached")]
            if targets:
                unknown = sorted(set(targets) - {e.target for e in manifest.entries.values()})
                if unknown:
                    raise EdgekitError(
                        f"no target {unknown[0]!r} in {manifest.path}",
                        f"choose from: {', '.join(sorted(manifest.entries)) or 'none'}",
                    )
                chosen = [e for e in chosen if e.target in targets]
            for e in chosen:
                file = manifest.artifact_path(e)
                if not file or not os.path.exists(file):
                    raise EdgekitError(f"{manifest.path} lists {e.file}, which is missing", "rebuild with 'edgekit build'")
                items.append(Item(file, e.format or detect_format(file), e, manifest.source))
        else:
            if not os.path.exists(path):
                raise EdgekitError(f"no such file: {path}", "pass artifact files or an 'edgekit build' output directory")
            fmt = detect_format(path)
            entry = find_manifest_entry(path)
            source = {}
            if entry is not None:
                source = Manifest.load(os.path.dirname(os.path.abspath(path))).source
            items.append(Item(path, fmt, entry, source))
    if not items:
        raise EdgekitError("nothing to package", "pass artifact files or a build directory with built targets")
    names = [i.name for i in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise EdgekitError(f"two artifacts are both named {dup[0]}", "package them in separate runs or rename one")
    for i in items:
        packing_for(i.format)
    return items


# --- tensor specs --------------------------------------------------------------------------------


def _tflite_specs(path: str) -> tuple[list[dict], list[dict]]:
    """From the flatbuffer (no runtime needed, so Edge TPU files work too)."""
    from edgekit.inspect import load_tflite

    sg = load_tflite(path).subgraphs[0]

    def spec(i: int) -> dict:
        t = sg.tensors[i]
        q = t.quantization
        d = {"name": t.name, "shape": list(t.shape or []), "dtype": t.dtype, "shape_signature": t.shape_signature}
        if q is not None and q.scales:
            if len(q.scales) == 1:
                d.update(scale=float(q.scales[0]), zero_point=int(q.zero_points[0] if q.zero_points else 0))
            else:
                d.update(per_channel=True)
        return d

    return [spec(i) for i in sg.inputs], [spec(i) for i in sg.outputs]


def _runtime_specs(path: str, fmt: str) -> tuple[list[dict], list[dict]]:
    """Load through the format's runtime (heavy import, only for formats without a file reader)."""
    from edgekit.runtimes import get_runtime
    from edgekit.runtimes.base import RunOptions

    session = get_runtime(fmt).load(path, RunOptions())
    try:
        return [s.to_dict() for s in session.inputs], [s.to_dict() for s in session.outputs_spec]
    finally:
        session.close()


def tensor_specs(item: Item) -> tuple[list[dict], list[dict]]:
    if item.entry is not None and item.entry.inputs and item.entry.outputs:
        return list(item.entry.inputs), list(item.entry.outputs)
    ref = FORMATS.get(item.format).spec_reader  # a file reader when the format has one (no runtime import)
    return resolve(ref)(item.path) if ref else _runtime_specs(item.path, item.format)


def _quantization(spec: dict) -> dict | None:
    if spec.get("per_channel"):
        return {"per_channel": True}
    if spec.get("scale"):
        return {"scale": spec["scale"], "zero_point": spec.get("zero_point", 0)}
    return None


# --- normalization -------------------------------------------------------------------------------


def normalization_from_args(preset: str | None, mean: list[float] | None, std: list[float] | None) -> dict | None:
    if mean or std:
        if not (mean and std):
            raise EdgekitError("--mean and --std go together", "give both, e.g. --mean 127.5 --std 127.5")
        if any(s == 0 for s in std):
            raise EdgekitError("--std contains 0", "give a non-zero std per channel")
        return {"mean": mean, "std": std, "source": "command line"}
    if preset:
        if preset not in NORMALIZATION_PRESETS:
            raise EdgekitError(f"unknown normalization {preset!r}", f"choose one of: {', '.join(NORMALIZATION_PRESETS)}")
        m, s = NORMALIZATION_PRESETS[preset]
        return {"mean": m, "std": s, "preset": preset, "source": "command line"}
    return None


def normalization_from_manifest(source: dict) -> dict | None:
    """The image preprocessing of the build spec, when the build calibrated on an image folder."""
    cal = ((source or {}).get("spec") or {}).get("calibration") or {}
    pre = cal.get("preprocess") or {}
    path = cal.get("path") or ""
    if not pre or not path or path.lower().endswith((".npy", ".npz")):
        return None
    offset, divisor = {"0,1": (0.0, 255.0), "-1,1": (127.5, 127.5), "0,255": (0.0, 1.0)}.get(
        pre.get("scale", "0,1"), (0.0, 255.0)
    )
    m, s = pre.get("mean"), pre.get("std")
    channels = max(len(m or []), len(s or []), 1)
    m = m or [0.0] * channels
    s = s or [1.0] * channels
    return {
        "mean": [offset + mi * divisor for mi in m],
        "std": [divisor * si for si in s],
        "channel_order": pre.get("channel_order", "rgb"),
        "source": "build spec [calibration.preprocess]",
    }


def _raw_pixels_ok(norm: dict, spec: dict) -> bool | None:
    """True when normalizing then quantizing is the identity on 0-255 pixels, so the app can copy
    the camera's uint8 RGB bytes straight in (Coral's quantized classifiers are like that)."""
    if spec.get("dtype") != "uint8" or not spec.get("scale"):
        return None
    scale, zp = spec["scale"], spec.get("zero_point", 0)
    for m, s in zip(norm["mean"], norm["std"]):
        gain = 1.0 / (s * scale)
        if abs(gain - 1.0) > 0.02 or abs(zp - m * gain) > 1.0:
            return False
    return True


# --- labels --------------------------------------------------------------------------------------


def read_labels(path: str) -> list[str]:
    from edgekit.api import read_labels as _read

    return _read(path)


# --- the sidecar ---------------------------------------------------------------------------------


def sidecar(
    item: Item, dest_name: str, sha256: str, normalization: dict | None, labels_file: str | None, labels: list[str] | None
) -> dict:
    inputs, outputs = tensor_specs(item)
    norm = normalization or normalization_from_manifest(item.source)
    in_docs = []
    for i, s in enumerate(inputs):
        d = {"name": s.get("name"), "shape": s.get("shape"), "dtype": s.get("dtype"), "quantization": _quantization(s)}
        if s.get("shape_signature") and -1 in (s.get("shape_signature") or []):
            d["shape_signature"] = s["shape_signature"]
        if i == 0 and norm:
            d["normalization"] = dict(norm)
            raw = _raw_pixels_ok(norm, s)
            if raw is not None:
                d["normalization"]["raw_pixels_ok"] = raw
        in_docs.append(d)
    out_docs = [
        {"name": s.get("name"), "shape": s.get("shape"), "dtype": s.get("dtype"), "quantization": _quantization(s)}
        for s in outputs
    ]
    entry = item.entry
    pack = packing_for(item.format)
    doc = {
        "schema": SIDECAR_SCHEMA,
        "schema_version": SIDECAR_VERSION,
        "model": dest_name,
        "format": item.format,
        "sha256": sha256,
        "size_bytes": os.path.getsize(item.path),
        "target": entry.target if entry else None,
        "inputs": in_docs,
        "outputs": out_docs,
        # The build's record when there is one; else what the tensors say.
        "quantization": (
            entry.quantization
            if entry and entry.quantization
            else {"source": "tensor parameters", "quantized_io": any(d["quantization"] for d in in_docs + out_docs)}
        ),
        "normalization": (
            None if norm else "not recorded: pass --normalize PRESET or --mean/--std when packaging an image model"
        ),
        "labels": ({"file": labels_file, "count": len(labels or [])} if labels_file else None),
        "accuracy": entry.accuracy if entry and entry.accuracy else None,
        "drift": _drift_summary(entry),
        "load": {"android": pack.android, "ios": pack.ios},
        "metadata_embedded": False,
        "edgekit_version": __version__,
    }
    if norm:
        doc["normalization"] = "see inputs[0].normalization"
    if labels and out_docs:
        n_classes = (out_docs[0].get("shape") or [0])[-1]
        if n_classes and n_classes != len(labels):
            from edgekit.console import warn

            warn(f"{labels_file} has {len(labels)} labels, {dest_name} outputs {n_classes} classes")
    return doc


def _drift_summary(entry) -> dict | None:
    """How far the app can trust the accuracy figures: on how many samples they rest (evaluation
    and calibration), the build's sanity verdict and its warnings. None without a build record."""
    acc = entry.accuracy if entry and entry.accuracy else None
    if not acc:
        return None
    sanity = acc.get("sanity") or {}
    return {
        "evaluation_samples": acc.get("samples"),
        "calibration_samples": acc.get("calibration_samples"),
        "verdict": sanity.get("verdict"),
        "warnings": list(sanity.get("reasons") or []) if sanity.get("verdict") == "warn" else [],
        "sample_warnings": list(acc.get("sample_warnings") or []),
    }


# --- writing layouts -----------------------------------------------------------------------------


def _copy(src: str, dest: str) -> str:
    """Copy atomically; returns the sha256 of what landed (checked against the source)."""
    tmp = temp_path_for(dest)
    try:
        shutil.copyfile(src, tmp)
        digest = sha256_file(tmp)
        if digest != sha256_file(src):
            raise EdgekitError(f"copy of {src} does not match its source", "check the disk and try again")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest


def gradle_snippet(suffixes: list[str]) -> str:
    exts = ", ".join(f'"{s}"' for s in suffixes)
    groovy = ", ".join(f"'{s}'" for s in suffixes)
    return (
        "// Generated by edgekit package. Model files must stay uncompressed in the APK: TFLite memory-maps\n"
        "// them from the asset, and compressed assets cannot be mapped (openFd fails).\n"
        "// Kotlin DSL (app/build.gradle.kts), inside android { }:\n"
        "android {\n"
        "    androidResources {\n"
        f"        noCompress += listOf({exts})\n"
        "    }\n"
        "}\n"
        f"// Groovy (app/build.gradle): android {{ androidResources {{ noCompress {groovy} }} }}\n"
    )


def package(
    items: list[Item],
    dest_dir: str,
    platform: str,
    *,
    normalization: dict | None = None,
    labels_path: str | None = None,
    force: bool = False,
) -> dict:
    """Copy ``items`` into ``dest_dir`` with sidecars and an index; returns the index document."""
    if platform not in ("android", "ios"):
        raise EdgekitError(f"unknown platform {platform!r}", "use android or ios")
    os.makedirs(dest_dir, exist_ok=True)
    labels = read_labels(labels_path) if labels_path else None
    labels_file = None
    if labels_path:
        labels_file = os.path.splitext(os.path.basename(labels_path))[0] + ".txt"
        atomic_write_bytes(os.path.join(dest_dir, labels_file), ("\n".join(labels or []) + "\n").encode("utf-8"))
    models = []
    for item in items:
        pack = packing_for(item.format)
        stem = os.path.splitext(item.name)[0]
        dest_name = f"{stem}.{pack.suffix}"
        dest = os.path.join(dest_dir, dest_name)
        if os.path.exists(dest) and not force and sha256_file(dest) != sha256_file(item.path):
            raise EdgekitError(f"{dest} exists with different content", "pass --force to replace it")
        digest = _copy(item.path, dest)
        doc = sidecar(item, dest_name, digest, normalization, labels_file, labels)
        sidecar_name = f"{stem}.json"
        atomic_write_json(os.path.join(dest_dir, sidecar_name), doc)
        models.append(
            {
                "model": dest_name,
                "sidecar": sidecar_name,
                "format": item.format,
                "sha256": digest,
                "size_bytes": doc["size_bytes"],
                "target": doc["target"],
                "no_compress": pack.no_compress,
            }
        )
    suffixes = sorted({packing_for(i.format).suffix for i in items if packing_for(i.format).no_compress})
    index = {
        "schema": "edgekit.app-models",
        "schema_version": 1,
        "platform": platform,
        "models": models,
        "labels": labels_file,
        "notes": sorted({packing_for(i.format).android if platform == "android" else packing_for(i.format).ios for i in items}),
        "edgekit_version": __version__,
    }
    if platform == "android":
        index["no_compress"] = suffixes
    atomic_write_json(os.path.join(dest_dir, INDEX_NAME), index)
    return index


def package_android(
    items: list[Item], app_dir: str, assets_dir: str | None = None, write_gradle: bool = True, **kw
) -> tuple[dict, str, str | None]:
    """(index, assets directory, path of the written Gradle snippet or None)."""
    if not os.path.isdir(app_dir):
        raise EdgekitError(f"no such directory: {app_dir}", "pass the Android project's root directory (the one holding app/)")
    dest = assets_dir or os.path.join(app_dir, ANDROID_ASSETS)
    index = package(items, dest, "android", **kw)
    snippet_path = None
    if write_gradle and index["no_compress"]:
        module_dir = os.path.join(app_dir, "app") if os.path.isdir(os.path.join(app_dir, "app")) else app_dir
        snippet_path = os.path.join(module_dir, GRADLE_SNIPPET_NAME)
        atomic_write_bytes(snippet_path, gradle_snippet(index["no_compress"]).encode("utf-8"))
    return index, dest, snippet_path


IOS_README = """Models packaged by edgekit for an Xcode target.

Add this folder to the app target as a folder reference (drag it into Xcode, choose "Create folder
references" and tick the app target), so the files keep this layout inside the bundle:

    let url = Bundle.main.url(forResource: "MODEL", withExtension: "tflite", subdirectory: "FOLDER")

Each MODEL.json sidecar gives input/output names, shapes, dtypes, quantization (scale, zero point),
image normalization and the labels file; edgekit-models.json lists every model with its sha256.
"""


def package_ios(items: list[Item], dest_dir: str, **kw) -> dict:
    index = package(items, dest_dir, "ios", **kw)
    text = IOS_README.replace("FOLDER", os.path.basename(os.path.abspath(dest_dir)))
    atomic_write_bytes(os.path.join(dest_dir, "README.txt"), text.encode("utf-8"))
    return index


def load_index(dest_dir: str) -> dict:
    with open(os.path.join(dest_dir, INDEX_NAME), encoding="utf-8") as f:
        return json.load(f)
