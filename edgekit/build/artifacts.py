"""Artifacts on disk and the manifest that describes them.

Every file edgekit produces is written to a temporary name in the same directory and renamed into
place, so a crash or Ctrl-C never leaves a half-written model or manifest where a real one was.
The manifest is the contract between build, bench, package and deploy: one entry per target,
kept (with its error) also when the target failed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.errors import EdgekitError

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "edgekit.manifest"
MANIFEST_SCHEMA_VERSION = 1  # written; edgekit.build.manifest_schema.READABLE_VERSIONS are read


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def temp_prefix() -> str:
    """``.tmp-PID-``: a temporary file names its owner, so a later build can tell a leftover of a
    killed process (pid gone) from a file another running process is still writing."""
    return f".tmp-{os.getpid()}-"


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename.

    Any OSError (a file where a directory should be, a directory given as the file, permissions,
    a read-only or full file system) becomes one EdgekitError naming ``path`` itself, never the
    temporary name, and the temporary file is removed.
    """
    from edgekit.errors import os_error

    if os.path.isdir(path):  # os.replace would name the temp file and say "Is a directory"
        raise os_error(IsADirectoryError(21, "Is a directory", path), path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=os.path.basename(path), dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; manifests and artifacts are shared files
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise os_error(exc, path) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def atomic_write_json(path: str, obj: Any, strict: bool = False) -> None:
    """``strict``: refuse NaN/Infinity (not JSON; strict readers reject them) instead of writing them."""
    text = json.dumps(obj, indent=2, default=_default, allow_nan=not strict)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def check_writable(path: str) -> str:
    """Fail now, before minutes of measuring, when ``path`` can never be written: it is a
    directory, a file sits where a directory of its path should be, or the nearest existing
    directory is not writable (permissions, read-only file system). A full disk shows only at
    write time. Creates nothing."""
    import errno

    from edgekit.errors import os_error

    if os.path.isdir(path):
        raise os_error(IsADirectoryError(errno.EISDIR, "Is a directory", path), path)
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise os_error(NotADirectoryError(errno.ENOTDIR, "Not a directory", path), path)
    if not os.access(parent, os.W_OK | os.X_OK):
        try:
            ro = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        except (OSError, AttributeError):
            ro = False
        code = errno.EROFS if ro else errno.EACCES
        raise os_error(OSError(code, os.strerror(code), path), path)
    return path


def temp_path_for(path: str) -> str:
    """A temporary path beside ``path`` for tools that insist on writing files themselves;
    publish it with ``os.replace(tmp, path)`` once the file is complete and checked."""
    from edgekit.errors import os_error

    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=os.path.basename(path), dir=directory)
    except OSError as exc:
        raise os_error(exc, path) from None
    os.close(fd)
    return tmp


def _default(obj: Any):
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ArtifactEntry:
    """One target's outcome. ``status`` is "built", "failed" (kept, with ``error``) or "cached"."""

    target: str
    status: str
    format: str | None = None
    file: str | None = None  # relative to the manifest's directory
    sha256: str | None = None
    size_bytes: int | None = None
    quantization: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)  # TensorSpec dicts
    outputs: list = field(default_factory=list)
    tool_versions: dict = field(default_factory=dict)
    calibration: dict | None = None
    accuracy: dict | None = None
    build_time_s: float | None = None
    cache_key: str | None = None
    built_at: str | None = None
    warnings: list = field(default_factory=list)
    error: dict | None = None
    extra: dict = field(default_factory=dict)  # target-specific: edgetpu compile report, delegation ...

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ArtifactEntry":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class Manifest:
    """OUTDIR/manifest.json: the source and one entry per target, saved atomically after each change."""

    def __init__(self, outdir: str, source: dict | None = None, entries: dict[str, ArtifactEntry] | None = None):
        self.outdir = outdir
        self.source = source or {}
        self.entries: dict[str, ArtifactEntry] = entries or {}

    @property
    def path(self) -> str:
        return os.path.join(self.outdir, MANIFEST_NAME)

    @classmethod
    def load(cls, outdir: str, missing_ok: bool = True) -> "Manifest":
        path = os.path.join(outdir, MANIFEST_NAME)
        if not os.path.exists(path):
            if missing_ok:
                return cls(outdir)
            raise EdgekitError(f"no manifest in {outdir}", "run 'edgekit build' first, or point at its output directory")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise EdgekitError(f"cannot read {path} ({exc})", "delete it and rebuild with --force") from None
        if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
            raise EdgekitError(f"{path} is not an edgekit manifest", "point at a directory written by 'edgekit build'")
        from edgekit.build.manifest_schema import check_version

        check_version(data, path)
        entries = {e["target"]: ArtifactEntry.from_dict(e) for e in data.get("artifacts", [])}
        return cls(outdir, data.get("source", {}), entries)

    def put(self, entry: ArtifactEntry) -> None:
        self.entries[entry.target] = entry
        self.save()

    def save(self) -> None:
        """Strict JSON: a non-finite number left anywhere becomes null with a note in ``notes``."""
        from edgekit.build.accuracy import strict_json

        notes: list[str] = []
        doc = strict_json(self.to_dict(), notes=notes)
        if notes:
            doc["notes"] = sorted(set(doc.get("notes") or []) | {f"{n} (not JSON; recorded as null)" for n in notes})
        atomic_write_json(self.path, doc, strict=True)

    def to_dict(self) -> dict:
        return {
            "schema": MANIFEST_SCHEMA,
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "updated": now_iso(),
            "source": self.source,
            "artifacts": [e.to_dict() for e in self.entries.values()],
        }

    def artifact_path(self, entry: ArtifactEntry) -> str | None:
        return os.path.join(self.outdir, entry.file) if entry.file else None


def find_manifest_entry(artifact_path: str) -> ArtifactEntry | None:
    """The manifest entry describing ``artifact_path``, when it sits in a build output directory."""
    outdir = os.path.dirname(os.path.abspath(artifact_path))
    if not os.path.exists(os.path.join(outdir, MANIFEST_NAME)):
        return None
    try:
        manifest = Manifest.load(outdir)
    except EdgekitError:
        return None
    name = os.path.basename(artifact_path)
    for entry in manifest.entries.values():
        if entry.file == name:
            return entry
    return None
