"""Capture what native libraries print on file descriptor 2 during a call.

TFLite and ExecuTorch report delegate placement ("Replacing 64 out of 66 node(s) with delegate")
and load failures only on the C-level stderr, which Python's sys.stderr redirection cannot see.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator


class Captured:
    text: str = ""


@contextmanager
def native_stderr(echo: bool = False) -> Iterator[Captured]:
    result = Captured()
    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # no real stderr (embedded, pytest capture)
        fd = 2
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield result
        finally:
            try:
                sys.stderr.flush()
            except Exception:
                pass
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            result.text = tmp.read().decode("utf-8", "replace")
            if echo and result.text:
                os.write(fd, result.text.encode())
