"""Where a toolchain's environment lives and whether it is usable: the cache key and its stale kin.

An environment's directory is ``<toolchains dir>/<name>-<key>``, the key being the first 12 hex
digits of sha256(the normalised pinned set + the interpreter's version and machine). Changing a pin
or the interpreter therefore makes a new directory; the old one stays (a build running in it is
not pulled from under its feet) and is listed as stale until ``edgekit toolchains remove``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import locks
from edgekit.errors import EXIT_INTERNAL, EdgekitError

MARKER = ".edgekit-installed"  # written last: its presence means the environment is complete
OWNER = ".edgekit-toolchain"  # written first: edgekit made this directory (remove deletes only these)
KEY_LEN = 12


def _tc(name_or_tc):
    from edgekit.toolchains import Toolchain, get

    return name_or_tc if isinstance(name_or_tc, Toolchain) else get(name_or_tc)


def base_python() -> str:
    """The interpreter new environments are made with: the base of ``sys.executable`` (a venv's
    own python would chain venvs; ``python -m venv`` from the base is what a user would type)."""
    base = getattr(sys, "_base_executable", None)
    if base and os.path.exists(base):
        return base
    for cand in (f"python{sys.version_info.major}.{sys.version_info.minor}", f"python{sys.version_info.major}", "python"):
        p = os.path.join(sys.base_prefix, "bin", cand)
        if os.path.exists(p):
            return p
    return sys.executable


def python_tag() -> str:
    """What a compiled wheel depends on: implementation, major.minor, machine."""
    v = sys.version_info
    return f"{sys.implementation.name}{v.major}.{v.minor}-{platform.machine()}"


def requirement_lines(tc) -> list[str]:
    """The pinned set as normalised lines (comments, blanks, case and order do not change the key)."""
    path = _tc(tc).requirements_path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgekitError(
            f"the requirements of toolchain {_tc(tc).name!r} are missing ({path}: {exc.strerror})",
            "reinstall edgekit",
            exit_code=EXIT_INTERNAL,
        ) from None
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(re.sub(r"\s+", "", line).lower().replace("_", "-"))
    return sorted(set(lines))


def env_key(name) -> str:
    h = hashlib.sha256()
    h.update("\n".join(requirement_lines(name)).encode())
    h.update(b"\0" + python_tag().encode())
    return h.hexdigest()[:KEY_LEN]


def env_dir(name) -> Path:
    """``<toolchains dir>/<name>-<sha256(requirement set + python version)[:12]>``."""
    from edgekit.toolchains import toolchains_dir

    tc = _tc(name)
    return toolchains_dir() / f"{tc.name}-{env_key(tc)}"


def env_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def python_for(name) -> str:
    """The toolchain's interpreter: ``EDGEKIT_TOOLCHAIN_<NAME>_PYTHON`` if set (an environment the
    user built and keeps), else the managed environment's (which may not be installed yet)."""
    tc = _tc(name)
    override = os.environ.get(tc.env_var)
    if override:
        return override
    return str(env_python(env_dir(tc)))


def read_marker(path: Path) -> dict | None:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_installed(path: Path) -> bool:
    return read_marker(path) is not None and env_python(path).exists()


def owned(path: Path) -> bool:
    return (path / OWNER).is_file()


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            total += st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
    return total


def _kin(tc) -> list[Path]:
    """Every directory edgekit made for this toolchain, whatever its key."""
    from edgekit.toolchains import toolchains_dir

    base = toolchains_dir()
    pat = re.compile(rf"^{re.escape(tc.name)}-[0-9a-f]{{{KEY_LEN}}}$")
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    return [p for p in entries if pat.match(p.name) and p.is_dir() and not p.is_symlink() and owned(p)]


def lock_path(path: Path) -> Path:
    """The install lock of the environment at ``path``: ``<toolchains dir>/.locks/<env>.lock``."""
    return path.parent / ".locks" / f"{path.name}.lock"


def lock_held(path: Path) -> bool:
    """Is an install of this environment running (its lock taken) in some process?"""
    return locks.holder(lock_path(path)) is not None


@dataclass
class EnvInfo:
    """What ``edgekit toolchains list`` shows for one toolchain."""

    name: str
    description: str
    path: str
    python: str
    installed: bool
    override: str | None = None  # EDGEKIT_TOOLCHAIN_<NAME>_PYTHON, when set
    size: int | None = None
    marker: dict = field(default_factory=dict)
    stale: list[dict] = field(default_factory=list)  # [{"path", "size", "installed"}]
    busy: bool = False  # another process holds its install lock right now

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def status(name, *, sizes: bool = True) -> EnvInfo:
    tc = _tc(name)
    path = env_dir(tc)
    override = os.environ.get(tc.env_var) or None
    installed = is_installed(path)
    info = EnvInfo(
        name=tc.name,
        description=tc.description,
        path=str(path),
        python=override or str(env_python(path)),
        installed=installed,
        override=override,
        size=dir_size(path) if sizes and path.exists() else None,
        marker=read_marker(path) or {},
        busy=lock_held(path),
    )
    for p in _kin(tc):
        if p != path:
            info.stale.append({"path": str(p), "installed": is_installed(p), "size": dir_size(p) if sizes else None})
    return info


def statuses(*, sizes: bool = True) -> list[EnvInfo]:
    from edgekit.toolchains import TOOLCHAINS

    return [status(n, sizes=sizes) for n in TOOLCHAINS.names()]
