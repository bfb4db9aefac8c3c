"""Which reader ``edgekit inspect`` hands a file to, and what to say about files it does not read.

``edgekit inspect`` reads .tflite files itself (edgekit.inspect.tflite_model) and any format whose
record names an inspector (``FormatRecord.inspector``: a module with ``describe(path,
input_shapes)`` and ``render(info)``; ONNX's is edgekit.inspect.onnx_model). Every other model file
gets one line naming what the file is and what edgekit can do with it, instead of "not a TFLite
model ... re-download it", which is wrong advice for a valid file. Detection reads a few bytes (and
a zip's member names); no framework is imported.
"""

from __future__ import annotations

import os
import zipfile

from edgekit.errors import EdgekitError

# Build sources edgekit reads but does not inspect: kind -> (what the file is, what to do with it)
SOURCE_KINDS: dict[str, tuple[str, str]] = {
    "torchscript": ("a TorchScript archive", "build it to the ptl target: edgekit build --source FILE -t ptl"),
    "pt2": ("a torch.export archive (.pt2)", "build it: edgekit build --source FILE -t onnx -t executorch-xnnpack ..."),
    "saved_model": ("a TensorFlow SavedModel", "build it: edgekit build --source DIR -t tflite-fp32 -t tflite-int8 ..."),
    "keras": ("a Keras model", "build it: edgekit build --source FILE -t tflite-fp32 -t tflite-int8 ..."),
}
RUNNABLE_TODO = "edgekit bench and edgekit run measure it; edgekit inspect reads .tflite and .onnx files"


def _zip_kind(path: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any("serialized_exported_program" in n or n.endswith("archive_format") for n in names):
        return "pt2"
    if "config.json" in names and any(n.endswith(".h5") for n in names):
        return "keras"
    return None


def choose(path: str) -> tuple[str, object]:
    """("tflite", None): the built-in reader; ("inspector", module name): a record's inspector;
    ("refuse", EdgekitError): the line for a file inspect does not read."""
    from edgekit.console import safe
    from edgekit.runtimes.formats import FORMATS, HEAD_BYTES

    shown = safe(path, markup=False)
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            what, todo = SOURCE_KINDS["saved_model"]
            return "refuse", EdgekitError(f"{shown} is {what}, which edgekit inspect does not read", todo)
        return "tflite", None  # the reader's own "is a directory" line
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return "tflite", None  # the reader's own error line for unreadable files
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite", None
    try:
        records = FORMATS.by_priority()
    except Exception:
        records = []
    for record in records:
        if record.detect(path, head):
            inspector = record.inspector
            if inspector:
                return "inspector", inspector
            return "refuse", EdgekitError(
                f"{shown} is a{'n' if record.title[:1].lower() in 'aeiou' else ''} {record.title} "
                f"({record.suffixes[0]}), which edgekit inspect does not read",
                RUNNABLE_TODO,
            )
    kind = None
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        kind = "keras"
    elif head[:2] == b"PK":
        kind = _zip_kind(path)
    if kind:
        what, todo = SOURCE_KINDS[kind]
        return "refuse", EdgekitError(f"{shown} is {what}, which edgekit inspect does not read", todo)
    return "tflite", None  # the TFLite reader says what is wrong with it
