"""A worker dies with the edgekit process that started it, and temp dirs of dead owners are swept.

Before: ``kill -9`` of ``edgekit bench`` left its worker measuring for its whole run (43 s seen) and
its run directory in TMPDIR. The parent here is a real process this test starts (a Python running
edgekit's bench API on a real model for a minute); the test kills it with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from edgekit.harness import lifetime
from tests.conftest import ROOT

PARENT = """
import sys
from edgekit import api
api.bench(sys.argv[1], warmup=0, min_runs=1, min_time_s=60.0, max_time_s=120.0, max_runs=10**9)
"""


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(name))
    return out


def _wait_for(predicate, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_dies_with_its_parent_and_removes_its_run_dir(coral_models, tmp_path):
    pytest.importorskip("ai_edge_litert")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path), EDGEKIT_HISTORY="off")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(coral_models / "split_concat.tflite")], env=env)
    try:
        workers = _wait_for(lambda: _children(parent.pid), 60)
        assert workers, "the worker never started"
        (worker,) = workers
        run_dirs = _wait_for(lambda: [n for n in os.listdir(tmp_path) if n.startswith("edgekit-run-")], 30)
        assert run_dirs == [n for n in run_dirs if lifetime.owner_pid(n) == parent.pid]
        time.sleep(1.0)  # the worker is measuring now
        assert lifetime.pid_alive(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        t0 = time.monotonic()
        assert _wait_for(lambda: not lifetime.pid_alive(worker), 5), "the orphaned worker kept running"
        gone_after = time.monotonic() - t0
        assert _wait_for(lambda: not any(n.startswith("edgekit-run-") for n in os.listdir(tmp_path)), 5), os.listdir(tmp_path)
        assert gone_after < 5
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_sweep_removes_only_dirs_of_dead_owners(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"edgekit-run-{dead.pid}-abcd1234"
    live = tmp_path / f"edgekit-run-{os.getppid()}-abcd1234"  # the test runner's parent: alive
    mine = tmp_path / f"edgekit-out-{os.getpid()}-abcd1234"
    foreign = tmp_path / f"edgekit-run-{dead.pid}"  # not the owned pattern: never touched
    other = tmp_path / "edgekit-run.12345678"  # remote transports' run dirs have their own sweep
    for d in (stale, live, mine, foreign, other):
        d.mkdir()
        (d / "f").write_text("x")
    link = tmp_path / f"edgekit-run-{dead.pid}-link0000"
    link.symlink_to(live)
    removed = lifetime.sweep_stale(str(tmp_path))
    assert removed == [str(stale)]
    assert not stale.exists()
    for d in (live, mine, foreign, other, link):
        assert os.path.lexists(d), d
    assert (live / "f").exists()


def test_owned_tempdir_carries_the_pid_and_cleans_up(tmp_path):
    with lifetime.owned_tempdir("run", str(tmp_path)) as d:
        assert lifetime.owner_pid(os.path.basename(d)) == os.getpid()
        assert os.path.isdir(d)
    assert not os.path.exists(d)


def test_watch_parent_exits_when_the_parent_is_already_gone(tmp_path):
    """The race the worker closes: its parent died before the watch was set up."""
    owned = tmp_path / "edgekit-run-1-x"
    owned.mkdir()
    code = (
        "import sys; from edgekit.harness.lifetime import watch_parent; "
        f"watch_parent(999999999, {str(owned)!r}); print('still here')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == lifetime.EXIT_PARENT_GONE and "still here" not in proc.stdout
    assert not owned.exists()
