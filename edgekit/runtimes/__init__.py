"""Runtimes by artifact format, and recognising an artifact's format from its bytes.

Each format's runtime lives in its own module and registers itself in RUNTIMES; modules are
imported only when a format is first used, so a device with only a TFLite runtime never tries to
import ExecuTorch. Standard library only at import time (this package ships to devices).
"""

from __future__ import annotations

import os
import zipfile

from edgekit.errors import EdgekitError, require_model_file
from edgekit.registry import Registry

RUNTIMES: Registry = Registry(
    "runtime format",
    {
        "tflite": "edgekit.runtimes.litert",
        "edgetpu": "edgekit.runtimes.edgetpu",
        "pte": "edgekit.runtimes.executorch",
        "ptl": "edgekit.runtimes.ptl",
    },
)

EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


def _is_tflite(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] == b"TFL3"


def detect_format(path: str) -> str:
    """The artifact format of ``path``, from its content first and its name second."""
    require_model_file(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if _is_tflite(head):
        with open(path, "rb") as f:
            data = f.read()
        return "edgetpu" if EDGETPU_CUSTOM_OP in data else "tflite"
    if len(head) >= 8 and head[4:6] == b"ET":
        return "pte"
    if head[:2] == b"PK" and path.endswith((".ptl", ".pt")):
        try:
            with zipfile.ZipFile(path) as z:
                if any(n.endswith("bytecode.pkl") for n in z.namelist()):
                    return "ptl"
        except zipfile.BadZipFile:
            pass
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".tflite":
        raise EdgekitError(
            f"{path} is not a TFLite model (no TFL3 flatbuffer identifier)",
            "the file is truncated or not a .tflite; rebuild or re-download it",
        )
    raise EdgekitError(
        f"cannot tell the format of {path}",
        "edgekit runs .tflite, _edgetpu.tflite, .pte and .ptl files",
    )


def get_runtime(fmt: str):
    return RUNTIMES.get(fmt)
