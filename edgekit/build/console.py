"""What a build shows on the terminal, and what it keeps out of it.

TensorFlow, absl, oneDNN and the converters write hundreds of lines straight to file descriptors
1 and 2 (C++ logging, not Python's ``sys.stderr``), some twice, and into the middle of a progress
bar. ``CapturedTerminal`` points both descriptors at a file for the whole build and hands the
build a stream on the real terminal; what the libraries wrote becomes the build log
(``OUTDIR/build.log``, named in the manifest; ``--debug`` prints it).

``StepProgress`` is the progress the orchestrator and the targets use (``task``, ``note``,
``warn``): rich bars on a terminal, one plain line per step when stderr is a pipe or a file (so
``edgekit build ... 2>&1 | tee log`` shows progress as it happens), nothing with ``--json``. A
task that is iterated more often than its total (the TFLite converter walks an int16x8
representative dataset twice) counts passes instead of showing "6/3".
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import IO, Any

LOG_LIMIT_BYTES = 1 << 20  # the build log keeps the last MiB


class CapturedTerminal:
    """Context manager: fds 1 and 2 go to a temporary file; ``terminal`` writes to the real stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.terminal: IO[str] = sys.stderr
        self.text = ""
        self._saved: dict[int, int] = {}
        self._tmp: Any = None

    def __enter__(self) -> "CapturedTerminal":
        if not self.enabled:
            return self
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            self._tmp = tempfile.TemporaryFile()
            self._saved = {fd: os.dup(fd) for fd in (1, 2)}
            self.terminal = os.fdopen(os.dup(self._saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")
            for fd in (1, 2):
                os.dup2(self._tmp.fileno(), fd)
        except OSError:  # no usable descriptors (a daemon without stderr): build without capturing
            self._restore()
            self.enabled = False
            self.terminal = sys.stderr
        return self

    def _restore(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        for fd, orig in self._saved.items():
            os.dup2(orig, fd)
            os.close(orig)
        self._saved = {}

    def __exit__(self, *exc: Any) -> bool:
        if not self.enabled:
            return False
        self._restore()
        try:
            self.terminal.flush()
            self.terminal.close()
        except Exception:
            pass
        self.terminal = sys.stderr
        if self._tmp is not None:
            size = self._tmp.seek(0, os.SEEK_END)
            self._tmp.seek(max(0, size - LOG_LIMIT_BYTES))
            self.text = self._tmp.read().decode("utf-8", "replace")
            self._tmp.close()
        return False


class _Task:
    """One step. ``advance`` is cheap (targets call it per calibration sample)."""

    def __init__(self, owner: "StepProgress", description: str, total: int | None, rich_id: Any = None):
        self.owner, self.description, self.total, self._id = owner, description, total, rich_id
        self.completed = 0
        self.passes = 1

    def advance(self, n: int = 1) -> None:
        self.completed += n
        if self.total and self.completed > self.total:  # a new pass over the same samples
            self.passes += 1
            self.completed = self.completed - self.total
            self.owner._pass(self)
        self.owner._update(self)

    def update(self, **kwargs: Any) -> None:
        if "completed" in kwargs:
            self.completed = int(kwargs["completed"])
        if "total" in kwargs:
            self.total = kwargs["total"]
        if "description" in kwargs:
            self.description = kwargs["description"]
        self.owner._update(self)

    def done(self) -> None:
        if self.total is not None:
            self.completed = self.total
        self.owner._update(self)


class StepProgress:
    """``mode``: "bars" (rich, on a terminal), "lines" (one line per step) or "off"."""

    def __init__(self, mode: str = "off", terminal: IO[str] | None = None):
        self.mode = mode
        self.terminal = terminal or sys.stderr
        self._rich = None
        self._t0 = time.monotonic()
        if mode == "bars":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self.terminal, highlight=False),
                transient=False,
            )

    def __enter__(self) -> "StepProgress":
        if self._rich is not None:
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: Any) -> bool:
        if self._rich is not None:
            self._rich.__exit__(*exc)
        return False

    def task(self, description: str, total: int | None = None) -> _Task:
        rich_id = self._rich.add_task(_escape(description), total=total) if self._rich is not None else None
        t = _Task(self, description, total, rich_id)
        if self.mode == "lines":
            self._line(description)
        return t

    def _update(self, t: _Task) -> None:
        if self._rich is not None:
            self._rich.update(t._id, completed=t.completed, total=t.total)

    def _pass(self, t: _Task) -> None:
        text = f"{t.description}, pass {t.passes}"
        if self._rich is not None:
            self._rich.update(t._id, description=_escape(text))
        elif self.mode == "lines" and t.passes <= 5:  # a task miscounted by its caller must not flood a log
            self._line(text)

    def _line(self, text: str) -> None:
        self.terminal.write(f"edgekit build [{time.monotonic() - self._t0:6.1f} s] {_plain(text)}\n")
        self.terminal.flush()

    def note(self, text: str) -> None:
        """A result line (e.g. "tflite-int8: built"); plain text, never markup."""
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False)
        elif self.mode == "lines":
            self._line(text)

    def warn(self, text: str) -> None:
        """A warning the user sees now (also with --json, on stderr); the report repeats it."""
        line = f"edgekit: warning: {_plain(text)}"
        if self._rich is not None:
            self._rich.console.print(line, markup=False, highlight=False, style="yellow")
        else:
            self.terminal.write(line + "\n")
            self.terminal.flush()


def _plain(text: str) -> str:
    """Control characters from model or file names shown as escapes, never sent to the terminal."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(_plain(text))
