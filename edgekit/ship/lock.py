"""One deploy at a time per deploy directory, across every machine that deploys to it.

Two deploys to one directory at once would each switch ``current`` with their own idea of what
``previous`` is, and one deploy's cleanup could remove a file the other has just stored. A lock on
the *device* (not on the machine running edgekit) covers two laptops deploying to one board.

Why a held process rather than a lock file with a timestamp: a deploy cut off mid-way (link lost,
power, SIGKILL) cannot remove a lock file, and any stale-lock timeout would either block the next
deploy for that long or break the lock of a slow but live deploy of a large model. Instead a small
shell on the device takes ``flock`` on ``DIR/.deploy.lock`` and then waits on its stdin; the kernel
releases the lock the moment that shell ends, which it does when edgekit closes the pipe, exits,
or loses the connection (SSH and adb end the remote command then). ``flock`` is util-linux on
Linux boards and toybox on Android; both take the fd form used here. Where there is no ``flock``
the deploy proceeds unlocked and says so.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import queue
import socket
import subprocess
import threading
import time
from typing import Iterator

from edgekit.errors import EdgekitError

LOCK_NAME = ".deploy.lock"
OWNER_NAME = ".deploy.owner"
DEFAULT_WAIT_S = 300.0
BUSY = 75  # EX_TEMPFAIL
NO_FLOCK = 127
ANSWER_S = 60.0  # the lock script answers at once; this is for slow links and emulated boards

# $1 deploy dir, $2 owner text. Prints "locked" once held, then holds it until stdin closes.
LOCK_SH = r"""
d=$1; info=$2
mkdir -p "$d" || exit 1
command -v flock >/dev/null 2>&1 || exit 127
exec 9>>"$d/.deploy.lock" || exit 1
flock -n 9 || { cat "$d/.deploy.owner" 2>/dev/null; exit 75; }
printf '%s\n' "$info" > "$d/.deploy.owner"
echo locked
exec cat >/dev/null
"""


def owner_text() -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"edgekit pid {os.getpid()} on {socket.gethostname()} since {stamp}"


def _first_line(stream, wait: float) -> str | None:
    """The process's first output line, or None if it wrote nothing within ``wait`` seconds
    (a reader thread: select() does not work on pipes on every OS)."""
    q: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: q.put(stream.readline()), daemon=True).start()
    try:
        return q.get(timeout=wait)
    except queue.Empty:
        return None


def _stop(proc: subprocess.Popen) -> None:
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def deploy_lock(transport, directory: str, wait: float = DEFAULT_WAIT_S, on_wait=None) -> Iterator[dict]:
    """Hold the deploy lock of ``directory`` on the transport's device; yields what happened
    (``{"locked": bool, "waited_s": float, "note": str | None}``) for the deploy report.

    ``on_wait(holder)`` is called once when another deploy holds the lock, so a person sees why
    nothing moves. Raises a one-line EdgekitError when it is still held after ``wait`` seconds.
    """
    start = time.monotonic()
    announced = False
    while True:
        proc = transport.start(["sh", "-c", LOCK_SH, "sh", directory, owner_text()])
        line = _first_line(proc.stdout, wait=ANSWER_S)
        if line is not None and line.strip() == "locked":
            break
        if line is None:  # no answer at all: a hung link
            _stop(proc)
            raise EdgekitError(
                f"device {transport.device_name!r} did not answer while taking the deploy lock",
                "check the device's network and run again",
            )
        rest = line + proc.stdout.read()
        rc = proc.wait()
        if rc == NO_FLOCK:
            yield {
                "locked": False,
                "waited_s": 0.0,
                "note": "no flock on the device: this deploy was not protected against a concurrent one",
            }
            return
        if rc != BUSY:
            err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
            raise EdgekitError(
                f"could not take the deploy lock in {directory} on device {transport.device_name!r} "
                f"({(err[-1] if err else f'exit status {rc}')[:200]})",
                f"check that {directory} is writable there",
            )
        holder = rest.strip() or "another deploy"
        if time.monotonic() - start >= wait:
            raise EdgekitError(
                f"another deploy to {directory} on device {transport.device_name!r} is in progress ({holder})",
                f"wait for it to finish, or pass --wait SECONDS to wait longer than {wait:g} s",
            )
        if on_wait and not announced:
            on_wait(holder)
            announced = True
        time.sleep(min(1.0, max(0.0, wait - (time.monotonic() - start))))
    try:
        yield {"locked": True, "waited_s": round(time.monotonic() - start, 3), "note": None}
    finally:
        _stop(proc)
