"""Converter toolchains: pinned environments edgekit creates, caches and runs workers in.

Some converters cannot share edgekit's environment (litert-torch needs typing_extensions < 4.13;
onnx2tf 1.29 pins tensorflow 2.19, numpy 1.26 and onnx 1.19), so each one is a *toolchain*: a
complete pinned requirement set shipped in ``edgekit/toolchains/requirements/``, installed on first
use into a virtualenv of its own under ``~/.cache/edgekit/toolchains/`` (the pattern of
pre-commit's per-hook environments). The main environment never imports a toolchain's packages;
it runs a standalone worker script (``edgekit/toolchains/workers/<worker>.py``) with the
toolchain's Python and exchanges files: a spec JSON in, a result JSON out.

Standard library only at import: the CLI lists and the harness never pay for a converter.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgekit.registry import Registry

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS_DIR = PACKAGE_DIR / "requirements"
WORKERS_DIR = PACKAGE_DIR / "workers"


@dataclass(frozen=True)
class Toolchain:
    """One converter environment.

    ``requirements`` is the file name of a complete pinned lock (every package, ``name==version``)
    in ``edgekit/toolchains/requirements/``; an absolute path is accepted too (tests, a user's own
    toolchain). Installed with ``pip install --no-deps``, so the lock alone decides what is in the
    environment and two machines get the same one.
    ``python``: the interpreter constraint or notes (the environment is made with the interpreter
    edgekit runs on; ``check_python`` refuses one the pins cannot install on).
    ``smoke``: Python code run in the new environment before it is marked installed (an import
    that proves the lock is usable), or empty.
    """

    name: str
    description: str
    requirements: str
    python: str = ""
    smoke: str = ""
    # (major, minor) bounds the pinned wheels exist for; () means any.
    python_min: tuple[int, int] = ()
    python_max: tuple[int, int] = ()

    @property
    def requirements_path(self) -> Path:
        p = Path(self.requirements)
        return p if p.is_absolute() else REQUIREMENTS_DIR / p

    @property
    def env_var(self) -> str:
        """``EDGEKIT_TOOLCHAIN_<NAME>_PYTHON``: an interpreter of an environment the user built."""
        return f"EDGEKIT_TOOLCHAIN_{re.sub(r'[^A-Za-z0-9]', '_', self.name).upper()}_PYTHON"


TOOLCHAINS: Registry[Toolchain] = Registry(
    "toolchain",
    {"litert": "edgekit.toolchains.litert", "onnx2tf": "edgekit.toolchains.onnx2tf"},
)


def get(name: str) -> Toolchain:
    return TOOLCHAINS.get(name)


def toolchains_dir() -> Path:
    """``$EDGEKIT_TOOLCHAINS_DIR`` or ``~/.cache/edgekit/toolchains`` (``$XDG_CACHE_HOME`` honoured)."""
    explicit = os.environ.get("EDGEKIT_TOOLCHAINS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgekit" / "toolchains"


# The public API lives in small modules; re-exported here so callers import one name.
from edgekit.toolchains.envs import (  # noqa: E402 (after the names those modules import from here)
    EnvInfo,
    base_python,
    env_dir,
    env_key,
    python_for,
    status,
    statuses,
)
from edgekit.toolchains.installer import download, ensure, install, remove  # noqa: E402
from edgekit.toolchains.worker import run_worker  # noqa: E402

__all__ = [
    "REQUIREMENTS_DIR",
    "TOOLCHAINS",
    "WORKERS_DIR",
    "EnvInfo",
    "Toolchain",
    "base_python",
    "download",
    "ensure",
    "env_dir",
    "env_key",
    "get",
    "install",
    "python_for",
    "remove",
    "run_worker",
    "status",
    "statuses",
    "toolchains_dir",
]
