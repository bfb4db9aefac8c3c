"""Nothing outlives the edgekit process that started it: worker processes and temporary directories.

A worker orphaned by ``kill -9`` of ``edgekit bench`` used to keep measuring for its full run (tens
of seconds, competing with the next benchmark for the CPU) and leave its run directory behind.
Two mechanisms, both cheap:

* The worker watches its parent (``--parent-pid``): on Linux the kernel sends it SIGTERM when the
  parent dies (``PR_SET_PDEATHSIG`` through ctypes), and on every POSIX system a daemon thread
  notices the parent is gone (the worker is re-parented, ``os.getppid()`` changes) within a quarter
  of a second. Either way the worker removes the directory it was told it owns and exits at once
  with ``os._exit``. The thread runs while the main thread is inside a native invoke that released
  the GIL (LiteRT does); a native call that keeps the GIL delays the exit until it returns.
* Temporary directories carry their owner's pid in the name, ``edgekit-<kind>-<pid>-<random>``, so
  any later run can remove the ones whose owner is gone (:func:`sweep_stale`), and never one whose
  owner still runs. Only directories of the current user, matching that exact pattern, are touched.

Standard library only: this module ships to devices inside the runner bundle.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator

# edgekit-run-1234-abcd1234, edgekit-out-1234-..., edgekit-etdump-1234-...
OWNED = re.compile(r"^edgekit-([a-z]+)-(\d+)-[A-Za-z0-9_]+$")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.25
EXIT_PARENT_GONE = 143  # like a SIGTERM death: 128 + 15


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie (a zombie has exited; only its
    parent has not reaped it yet). Errs on the side of "alive": a pid we may not signal is alive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def owned_name(kind: str) -> str:
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"temp dir kind must be lowercase letters, not {kind!r}")
    return f"edgekit-{kind}-{os.getpid()}-"


def make_owned_dir(kind: str, base: str | None = None) -> str:
    """A new private directory named after this process (see module doc); stale ones of dead
    owners in the same place are removed first."""
    base = base or tempfile.gettempdir()
    sweep_stale(base)
    return tempfile.mkdtemp(prefix=owned_name(kind), dir=base)


@contextmanager
def owned_tempdir(kind: str, base: str | None = None) -> Iterator[str]:
    """Like tempfile.TemporaryDirectory, with the owner's pid in the name."""
    path = make_owned_dir(kind, base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def owner_pid(name: str) -> int | None:
    m = OWNED.match(name)
    return int(m.group(2)) if m else None


def sweep_stale(base: str | None = None) -> list[str]:
    """Remove ``edgekit-<kind>-<pid>-*`` directories in ``base`` whose owner pid is gone.

    Safe by construction: only exact matches of the owned pattern, only real directories (no
    symlinks) of the current user, never while the owner lives. A reused pid keeps a stale
    directory for longer, never removes a live one. Returns what was removed.
    """
    base = base or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    me = os.getpid()
    for name in names:
        pid = owner_pid(name)
        if pid is None or pid == me or pid_alive(pid):
            continue
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        import stat as _stat

        if not _stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


def _set_pdeathsig(sig: int) -> bool:
    """Ask the Linux kernel to send ``sig`` to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent_pid: int, owned_dir: str | None = None) -> dict:
    """End this process (after removing ``owned_dir``) as soon as ``parent_pid`` is no longer its
    parent. Returns what was set up, for the result's method record."""
    lock = threading.Lock()

    def die(*_args) -> None:
        if not lock.acquire(blocking=False):
            return
        if owned_dir:
            shutil.rmtree(owned_dir, ignore_errors=True)
        os._exit(EXIT_PARENT_GONE)

    if os.getppid() != parent_pid:  # the parent died before we got here
        die()
    pdeathsig = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, die)
        pdeathsig = _set_pdeathsig(signal.SIGTERM)
        if os.getppid() != parent_pid:  # died between the first check and prctl
            die()

    def poll() -> None:
        while True:
            time.sleep(POLL_S)
            if os.getppid() != parent_pid:
                die()

    threading.Thread(target=poll, name="edgekit-parent-watch", daemon=True).start()
    return {"parent_pid": parent_pid, "pdeathsig": pdeathsig, "poll_s": POLL_S}
