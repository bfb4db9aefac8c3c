"""Terminal output shared by commands: a rich console for tables and progress, JSON for machines."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (CI logs, files) gets a wide fixed width instead of rich's 80 columns, so tables
    # stay one row per line; a terminal keeps its own width.
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "140"))
    return Console(stderr=stderr, highlight=False, width=width)


def print_json(data: Any, file=None) -> None:
    json.dump(data, file or sys.stdout, indent=2, default=_json_default)
    (file or sys.stdout).write("\n")


def _json_default(obj: Any):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def warn(message: str) -> None:
    """A warning the user must see even when stdout is piped to a file."""
    print(f"edgekit: warning: {message}", file=sys.stderr)


def human_bytes(n: float | int | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def human_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.3f} s"
    if ms >= 1:
        return f"{ms:.3f} ms"
    return f"{ms * 1000:.1f} µs"
