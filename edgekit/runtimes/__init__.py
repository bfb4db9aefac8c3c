"""Runtimes by artifact format, and recognising an artifact's format from its bytes.

Each format's runtime module owns the format's record (``edgekit.runtimes.formats``): detection,
suffixes, providers and the rest. Modules are imported only when a format is first used or
listed, and never import their framework at top level, so a device with only a TFLite runtime
never tries to import ExecuTorch. Standard library only at import time (this package ships to devices).
"""

from __future__ import annotations

from edgekit.errors import EdgekitError, require_model_file
from edgekit.runtimes.formats import FORMATS, HEAD_BYTES, runnable_files, runtime_for

EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


class _Runtimes:
    """The default runtime of each format, by format name (``RUNTIMES.get(fmt)``), read from the
    format records (their first provider); kept for callers of the former registry."""

    kind = "runtime format"

    def names(self) -> list[str]:
        return FORMATS.names()

    def get(self, name: str):
        return runtime_for(name)

    def __contains__(self, name: object) -> bool:
        return name in FORMATS

    def __iter__(self):
        return iter(self.names())


RUNTIMES = _Runtimes()


def detect_format(path: str) -> str:
    """The artifact format of ``path``, from its content first (records by priority) and its name second."""
    require_model_file(path)
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    records = FORMATS.by_priority()
    for record in records:
        if record.detect(path, head):
            return record.name
    lower = path.lower()
    for record in records:
        if record.hints.mismatch and lower.endswith(record.suffixes):
            what, hint = record.hints.mismatch
            raise EdgekitError(f"{path} {what}", hint)
    raise EdgekitError(f"cannot tell the format of {path}", f"edgekit runs {runnable_files()} files")


def get_runtime(fmt: str, provider: str | None = None):
    """The Runtime for ``fmt``; ``provider`` (--runtime) picks one of the format's providers."""
    return runtime_for(fmt, provider)
