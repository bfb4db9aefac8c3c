"""Build the single-file runner (``runner.pyz``) pushed to SSH devices.

The bundle is a zipapp of the very modules the host's worker imports (edgekit/__init__.py,
errors.py, registry.py, harness/, runtimes/, results/ and whatever edgekit modules those import),
with a ``__main__.py`` that calls ``edgekit.harness.worker.main``. So a Raspberry Pi measures with
the same statistics and the same result schema as the host: there is no second copy of the code.
It needs only the device's Python, numpy and the runtime it drives (ai_edge_litert,
tflite_runtime, pycoral's libedgetpu, executorch).

The zip is deterministic (sorted entries, fixed timestamps and modes) and cached under
``~/.cache/edgekit/runner/`` by the hash of its contents, so repeated runs reuse one file and a
changed module yields a new runner.
"""

from __future__ import annotations

import ast
import hashlib
import os
import threading
import zipfile
from pathlib import Path

from edgekit.errors import EdgekitError

PKG_DIR = Path(__file__).resolve().parent.parent  # .../edgekit
# Roots of the bundle; edgekit modules they import are followed and added too.
ROOT_MODULES = ("edgekit/__init__.py", "edgekit/errors.py", "edgekit/registry.py")
ROOT_PACKAGES = ("edgekit/harness", "edgekit/runtimes", "edgekit/results")
# Host-only modules that must never ride along even if something imports them lazily.
EXCLUDE = ("edgekit/harness/bundle.py", "edgekit/cli.py", "edgekit/api.py", "edgekit/console.py")
MAIN = (
    "# edgekit single-file runner: the host's measurement worker, run on a device.\n"
    "import sys\n"
    "from edgekit.harness.worker import main\n"
    "sys.exit(main())\n"
)
BUNDLE_FORMAT = 1
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _module_file(module: str) -> str | None:
    """edgekit.x.y -> 'edgekit/x/y.py' or 'edgekit/x/y/__init__.py' (relative to PKG_DIR.parent)."""
    rel = module.replace(".", "/")
    for cand in (rel + ".py", rel + "/__init__.py"):
        if (PKG_DIR.parent / cand).is_file():
            return cand
    return None


def _edgekit_imports(rel: str) -> set[str]:
    """Files of the edgekit modules ``rel`` imports (at top level or inside functions)."""
    tree = ast.parse((PKG_DIR.parent / rel).read_text(encoding="utf-8"), rel)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    files = set()
    for name in names:
        if name == "edgekit" or name.startswith("edgekit."):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # parent packages are imported too
                f = _module_file(".".join(parts[:i]))
                if f:
                    files.add(f)
    return files


def bundle_files() -> list[str]:
    """Sorted relative paths of every module that goes into the runner."""
    todo = list(ROOT_MODULES)
    for pkg in ROOT_PACKAGES:
        todo += sorted(str(p.relative_to(PKG_DIR.parent)) for p in (PKG_DIR.parent / pkg).glob("*.py"))
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen or rel in EXCLUDE:
            continue
        seen.add(rel)
        todo.extend(sorted(_edgekit_imports(rel) - seen))
    return sorted(seen)


def _entries() -> list[tuple[str, bytes]]:
    entries = [(rel, (PKG_DIR.parent / rel).read_bytes()) for rel in bundle_files()]
    entries.append(("__main__.py", MAIN.encode()))
    return sorted(entries)


def content_hash(entries: list[tuple[str, bytes]] | None = None) -> str:
    h = hashlib.sha256(f"edgekit-runner-{BUNDLE_FORMAT}\n".encode())
    for name, data in entries if entries is not None else _entries():
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgekit" / "runner"


def write_pyz(path: str | os.PathLike, entries: list[tuple[str, bytes]] | None = None) -> str:
    """Write a deterministic runner zip to ``path`` (atomically); returns the path."""
    entries = entries if entries is not None else _entries()
    path = str(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as raw:
            raw.write(b"#!/usr/bin/env python3\n")  # zipapp shebang: `./runner.pyz` works too
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, data in entries:
                    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, data, compresslevel=9)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise EdgekitError(
            f"cannot write the device runner to {path} ({exc})", "check the disk space and permissions of the cache directory"
        ) from None
    return path


# Device pools call runner_pyz() from one thread per device; CPython 3.11's ast.parse is not safe
# to run concurrently ("SystemError: AST constructor recursion depth mismatch" was seen with two
# device threads), so the bundle is built by one thread at a time.
_BUILD_LOCK = threading.Lock()


def runner_pyz() -> str:
    """The path of the cached runner for the current code (built on first use)."""
    with _BUILD_LOCK:
        entries = _entries()
        digest = content_hash(entries)
        path = cache_dir() / f"runner-{digest[:16]}.pyz"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_pyz(path, entries)
        return str(path)
