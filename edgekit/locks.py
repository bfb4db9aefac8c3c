"""One inter-process lock: an exclusive ``fcntl.flock`` on a small file, stamped with its holder.

It serves a device's benchmark slot (edgekit.devices.pool: two CI jobs sharing a board queue)
and a toolchain environment's install (edgekit.toolchains.installer: two builds, or a build and
``edgekit toolchains remove``, never work on one environment at once). Standard library only, so
the on-device harness can take one too.

Why this shape:
- flock on an open file, not "the file exists": the kernel drops the lock when its holder exits or
  is killed, so a crashed run never leaves a stale lock for a person to break, and no pid has to be
  guessed dead. The one way a lock outlives its taker is a child that inherited the open file
  (``os.fork``, multiprocessing's fork); the holder line then says the stamped pid is gone.
- Lock files are never deleted. Unlinking one while another process has it open (waiting on it or
  holding it) splits the lock in two: the next process to open the path makes a new file and
  "holds" a lock of its own beside the old holder. A few bytes per device or environment stay.
- The holder writes ``pid N on HOST since TIME`` into the file once it has the lock, so whoever
  waits, and the timeout error, can say who is in the way. A stamp is only read while someone holds
  the lock, so it never names an old holder.
- Waiting polls a non-blocking flock instead of blocking: a blocking flock cannot time out without
  signals, which only the main thread receives (the pool waits in threads). ``timeout=0`` tries once.
- A timeout is one ``edgekit:`` line; the caller words it (it knows what is busy and what to do)
  through ``busy(holder, timeout)``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from edgekit.errors import EdgekitError

Busy = Callable[[str, float], EdgekitError]  # (who holds it, seconds waited) -> the error to raise
NOBODY_YET = "another process"  # the holder has the lock but has not written its stamp yet


def stamp() -> str:
    """What a holder writes into its lock file: enough for a person to find the process."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return f"pid {os.getpid()} on {socket.gethostname()} since {since}"


def _read_holder(f) -> str:
    f.seek(0)
    text = f.read(4096).strip()
    line = re.sub(r"[^\x20-\x7e]", "?", text.splitlines()[0] if text else "")[:200]
    if not line:
        return NOBODY_YET
    m = re.match(r"pid (\d+) on (\S+)", line)
    if m and m.group(2) == socket.gethostname() and not _alive(int(m.group(1))):
        line += " (that process is gone; a process it started still holds the lock)"
    return line


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user
        return True
    return True


def holder(path: Path) -> str | None:
    """Who holds the lock at ``path`` right now (their stamp), or None when nobody does.
    Never creates the file; takes the lock for an instant when it is free."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_holder(f)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _default_busy(path: Path) -> Busy:
    def busy(who: str, timeout: float) -> EdgekitError:
        return EdgekitError(f"{path} stayed locked by {who} for {timeout:.0f} s", "wait for that process to finish, or stop it")

    return busy


@contextlib.contextmanager
def hold(
    path: Path,
    *,
    timeout: float | None = None,
    poll: float = 0.1,
    on_wait: Callable[[str], None] | None = None,
    busy: Busy | None = None,
) -> Iterator[float]:
    """Hold the exclusive lock at ``path`` (made with its directory if missing); yields the seconds
    spent waiting. ``on_wait(holder)`` is called once when it starts to wait; after ``timeout``
    seconds (None: for ever; 0: one try) the error from ``busy(holder, timeout)`` is raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(path, "a+", encoding="utf-8", errors="replace") as f:
        waited_once = False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if timeout is not None and time.monotonic() - start >= timeout:
                    raise (busy or _default_busy(path))(_read_holder(f), timeout) from None
                if on_wait is not None and not waited_once:
                    on_wait(_read_holder(f))
                waited_once = True
                time.sleep(poll)
        try:
            f.seek(0)
            f.truncate()
            f.write(stamp() + "\n")
            f.flush()
            yield time.monotonic() - start
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
