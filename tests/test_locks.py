"""edgekit.locks: one holder at a time across processes, who holds it, a timeout that names them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit import locks
from edgekit.devices.pool import device_lock
from edgekit.devices.profiles import profile_from_dict
from edgekit.errors import EdgekitError

ROOT = Path(__file__).resolve().parents[1]
HOLD = "import sys, time; from pathlib import Path; from edgekit import locks\nwith locks.hold(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)\n"


def hold_in_subprocess(lock: Path) -> subprocess.Popen:
    """Another process holding ``lock`` until the caller kills it by its pid."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def end(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_a_second_process_is_named_timed_out_and_gets_the_lock_when_the_first_dies(tmp_path):
    lock = tmp_path / "sub" / "x.lock"
    proc = hold_in_subprocess(lock)
    try:
        who = locks.holder(lock)
        assert who is not None and who.startswith(f"pid {proc.pid} on {socket.gethostname()} since ")
        seen: list[str] = []
        started = time.monotonic()
        with pytest.raises(EdgekitError) as err:
            with locks.hold(lock, timeout=0.5, on_wait=seen.append):
                pytest.fail("took a lock another process holds")
        assert time.monotonic() - started >= 0.5
        assert seen == [who], "on_wait is told once, with the holder"
        assert err.value.line().count("\n") == 0 and f"locked by pid {proc.pid} on" in err.value.line()
        with pytest.raises(EdgekitError):  # timeout 0: one try, no waiting line
            with locks.hold(lock, timeout=0, on_wait=seen.append):
                pass
        assert len(seen) == 1
    finally:
        end(proc)
    assert locks.holder(lock) is None, "the kernel drops a dead holder's lock: nothing stale to break"
    with locks.hold(lock, timeout=0) as waited:
        assert waited < 0.5
        assert lock.read_text().startswith(f"pid {os.getpid()} ")


def test_holder_never_creates_the_file_and_names_a_gone_stamp(tmp_path):
    assert locks.holder(tmp_path / "none.lock") is None and not (tmp_path / "none.lock").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    lock = tmp_path / "y.lock"
    with locks.hold(lock):
        # a fork that inherited the file keeps the lock after the stamped process died
        lock.write_text(f"pid {dead.strip()} on {socket.gethostname()} since then\n\x1b[31m")
        who = locks.holder(lock)
    assert who is not None and "that process is gone" in who and "\x1b" not in who


def test_device_lock_timeout_names_the_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    board = profile_from_dict("board", {"transport": "host"})
    with device_lock(board):
        with pytest.raises(EdgekitError) as err:
            with device_lock(board, timeout=0.3):
                pass
    line = err.value.line()
    assert line.startswith("edgekit: device 'board' stayed busy with another benchmark for 0 s (held by pid ")
    assert f"pid {os.getpid()} on " in line and "; wait for it to finish (lock " in line
