"""Terminal output shared by commands: a rich console for tables and progress, JSON for machines."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any


def console(stderr: bool = False, file=None):
    """A rich console for edgekit's own markup; text from models, files or devices goes through ``safe``.

    ``emoji=False``: a tensor named ``:warning:`` must print as written, not as a pictogram.
    """
    from rich.console import Console

    stream = file or (sys.stderr if stderr else sys.stdout)
    # Piped output (CI logs, files) gets a wide fixed width instead of rich's 80 columns, so tables
    # stay one row per line; a terminal keeps its own width.
    isatty = getattr(stream, "isatty", lambda: False)
    width = None if isatty() else int(os.environ.get("COLUMNS", "140"))
    return Console(file=file, stderr=stderr, highlight=False, emoji=False, width=width)


# C0 controls, DEL, C1 controls (0x9b is a one-byte CSI on some terminals) and the Unicode
# bidirectional overrides/isolates that reorder what a reader sees ("trojan source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object, *, markup: bool = True, limit: int | None = None) -> str:
    """Text from a model, a file name or a device, made safe to print on a terminal.

    Control characters become visible escapes (ESC -> ``\\x1b``, newline -> ``\\n``) so a name can
    neither move the cursor, clear the screen nor forge extra output lines; with ``markup`` (for
    rich sinks: ``console().print``, table cells) rich markup such as ``[/bold]`` is escaped so it
    prints literally instead of styling or raising. ``limit`` cuts very long names (a corrupt file
    can hold a 100,000-character one) to that many characters with a note of the full length.
    Plain ``print`` sinks (one-line errors, warnings) pass ``markup=False``.
    """
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + f"... ({len(s):,} characters)"
    s = _CONTROL.sub(_visible, s)
    if markup:
        from rich.markup import escape

        s = escape(s)
    return s


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
    """A warning the user must see even when stdout is piped to a file (control characters escaped)."""
    print(f"edgekit: warning: {safe(message, markup=False)}", file=sys.stderr)


def progress_line(line: str) -> None:
    """One indented progress line on stderr (stdout stays the command's result, e.g. --json)."""
    import sys

    print(f"  {safe(line, markup=False)}", file=sys.stderr, flush=True)


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
