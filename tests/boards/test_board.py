"""The emulated board itself: what it is, so the end-to-end tests mean what they claim.

A green end-to-end run only proves cross-architecture deployment if the far side really is an
aarch64 userland with its own Python and runtime and no TensorFlow; these checks pin that down.
"""

from __future__ import annotations

import pytest

from tests.boards import board as board_mod

# A cold first run builds the board (~5 min idle, far more on a loaded machine) inside the first
# test's setup, or waits there for CI's background pre-build: more than the suite's 900 s default.
pytestmark = [pytest.mark.board, pytest.mark.slow, pytest.mark.timeout(1800)]


def test_board_is_aarch64_over_ssh(board):
    proc = board.ssh("uname -m; id -un; cat /etc/debian_version; uname -n", check=True)
    machine, user, debian, hostname = proc.stdout.split()
    assert machine == "aarch64"
    assert hostname == board_mod.HOSTNAME  # its own name, not the host's, in fingerprints
    assert user == board_mod.USER
    assert debian.startswith("12")


def test_board_python_has_litert_and_no_tensorflow(board):
    code = (
        "import platform, importlib.util, importlib.metadata as m;"
        "print(platform.machine(), platform.python_version(), m.version('ai-edge-litert'), m.version('numpy'),"
        " importlib.util.find_spec('tensorflow') is not None, importlib.util.find_spec('tflite_runtime') is not None)"
    )
    proc = board.ssh(f'{board.python} -c "{code}"', check=True, timeout=180)
    machine, py, litert, numpy, has_tf, has_tflite_runtime = proc.stdout.split()
    assert machine == "aarch64"
    assert py.startswith("3.11.")
    assert litert == "2.3.0"
    assert numpy.startswith("2.")
    assert has_tf == "False" and has_tflite_runtime == "False"


def test_board_sees_an_arm_cpu(board):
    """LiteRT reads /proc/cpuinfo for CPU features; the host's x86 one makes it segfault."""
    proc = board.ssh("grep -m1 'CPU part' /proc/cpuinfo", check=True)
    assert "0xd08" in proc.stdout


def test_board_emulates_a_pi4_cpu_without_sve(board):
    """qemu's default CPU offers SVE, under which XNNPACK's int8 kernels gave wrong classes here;
    every process of a session must run as the Pi 4's Cortex-A72 (no SVE in its hwcaps)."""
    code = (
        "import os, struct; a = open('/proc/self/auxv', 'rb').read();"
        "v = dict(struct.iter_unpack('QQ', a)); print(os.environ.get('QEMU_CPU'), bool(v.get(16, 0) & (1 << 22)))"
    )
    proc = board.ssh(f'{board.python} -c "{code}"', check=True, timeout=120)
    assert proc.stdout.split() == [board_mod.QEMU_CPU, "False"]  # AT_HWCAP (16), HWCAP_SVE (1 << 22)


def test_stop_leaves_nothing_mounted_or_running(tmp_path):
    """A second board started and stopped inside the test: no mount, no process, no directory left."""
    if board_mod.unavailable_reason():
        pytest.skip(f"emulated aarch64 board unavailable: {board_mod.unavailable_reason()}")
    b = board_mod.start(base=tmp_path, log=lambda msg: None)
    rootfs, pid = b.rootfs, b.sshd_pid
    assert board_mod._mounts_under(rootfs)
    b.ssh("sleep 300 >/dev/null 2>&1 &", timeout=60)  # a stray process the stop must reap
    b.stop()
    assert board_mod._mounts_under(tmp_path) == []
    assert not b.workdir.exists()
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    b.stop()  # idempotent


def test_a_board_left_by_a_killed_session_is_swept(tmp_path):
    """SIGKILL skips every finalizer; the next start must not inherit its mounts and sshd."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    if board_mod.unavailable_reason():
        pytest.skip(f"emulated aarch64 board unavailable: {board_mod.unavailable_reason()}")
    code = (
        "import os, sys; from tests.boards import board as b;"
        f"bd = b.start(base=__import__('pathlib').Path({str(tmp_path)!r}), log=lambda m: None);"
        "print(bd.workdir, flush=True); os._exit(0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert board_mod._mounts_under(tmp_path), "the killed session left its board mounted"
    board_mod.sweep_stale(tmp_path, log=lambda m: None)
    assert board_mod._mounts_under(tmp_path) == []
    assert list(tmp_path.glob("edgekit-board-*")) == []
