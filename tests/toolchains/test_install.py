"""Installing a toy toolchain offline from a wheel built here: marker last, lock, redo, errors."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from edgekit.errors import EnvironmentMissing
from edgekit.toolchains import TOOLCHAINS, ensure, env_dir, install, status
from edgekit.toolchains.envs import MARKER, OWNER
from edgekit.toolchains.installer import env_lock, log_path, pip_failure
from tests.toolchains.conftest import TOY_VERSION, build_wheel


def test_offline_install_marker_lock_and_reuse(toy, wheelhouse):
    """Two installs at once: the second waits on the lock, then finds the env made and reuses it."""
    path = env_dir("toy")
    lines: list[str] = []
    with env_lock(path):  # "another build" holds the lock
        t = threading.Thread(target=lambda: lines.append(install("toy", find_links=str(wheelhouse), progress=lines.append)))
        t.start()
        time.sleep(1.0)
        assert t.is_alive(), "install must wait for the lock"
        assert any("waiting for another install" in ln for ln in lines), lines
        assert not path.exists()
        assert status("toy", sizes=False).busy
    t.join(120)
    assert not t.is_alive()
    python = lines[-1]
    assert python == str(path / "bin" / "python")
    marker = json.loads((path / MARKER).read_text())
    assert marker["name"] == "toy" and marker["offline"] is True and marker["packages"] == 1
    assert (path / OWNER).is_file()
    assert any("1/1 edgekit_toy" in ln for ln in lines) and any(ln.startswith("toy: installed 1 packages") for ln in lines)
    # the package is importable in the toolchain's python, and edgekit is not
    out = subprocess.run(
        [python, "-c", "import edgekit_toy; print(edgekit_toy.VERSION)"], capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == TOY_VERSION
    assert subprocess.run([python, "-c", "import edgekit"], capture_output=True, cwd="/", check=False).returncode != 0
    log = log_path("toy")
    assert "edgekit_toy" in log.read_text()

    mtime = (path / MARKER).stat().st_mtime
    started = time.monotonic()
    assert ensure("toy", progress=lines.append) == python
    assert time.monotonic() - started < 1.0 and (path / MARKER).stat().st_mtime == mtime
    info = status("toy")
    assert info.installed and info.size and info.size > 10_000 and not info.stale and not info.busy


def test_half_made_env_is_redone_and_failure_leaves_nothing(toy, wheelhouse, tmp_path, monkeypatch):
    path = env_dir("toy")
    path.mkdir(parents=True)
    (path / OWNER).write_text("edgekit toolchain toy\n")
    (path / "debris").write_text("a killed install")  # no marker: half-made
    assert not status("toy", sizes=False).installed

    # An empty wheel directory: pip cannot resolve the pin offline -> one line quoting pip.
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EnvironmentMissing) as info:
        install("toy", find_links=str(empty))
    msg = str(info.value)
    assert msg.count("\n") == 0 and msg.startswith("edgekit: pip install failed for the toy toolchain")
    assert f"edgekit_toy=={TOY_VERSION}" in msg and "Could not find a version" in msg, msg
    assert str(log_path("toy")) in msg
    assert not path.exists(), "a failed install leaves no half-made environment"

    monkeypatch.setenv("EDGEKIT_WHEELHOUSE", str(wheelhouse))  # the variable alone makes it offline
    install("toy")
    assert (path / MARKER).is_file() and not (path / "debris").exists()


def test_incomplete_lock_is_named(toy, tmp_path, monkeypatch):
    """A pinned set missing a dependency fails pip check: the lock, not the user, must be fixed."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, requires=("edgekit-missing-dep>=1",))
    with pytest.raises(EnvironmentMissing) as info:
        install("toy", find_links=str(wheels))
    msg = str(info.value)
    assert "pinned set of the toy toolchain is incomplete" in msg and "edgekit-missing-dep" in msg, msg
    assert not env_dir("toy").exists()


def test_network_down_is_one_line(toy, monkeypatch):
    """No wheel directory and an index that cannot be reached: the line says network, and how to go offline."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip names the connection error only when it retries
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(EnvironmentMissing) as info:
        install("toy")
    msg = str(info.value)
    assert "could not reach the package index" in msg and "Connection refused" in msg, msg
    assert "--find-links DIR" in msg and msg.count("\n") == 0
    assert not env_dir("toy").exists()


def test_pip_failure_wording():
    tc = TOOLCHAINS.get("litert")
    tail = [
        "Collecting torch==2.13.0",
        "ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: none)",
        "ERROR: No matching distribution found for torch==2.13.0",
    ]
    err = pip_failure(tc, "pip install", tail, log_path("litert"), 1)
    assert err.message == (
        "pip install failed for the litert toolchain: Could not find a version that satisfies "
        "the requirement torch==2.13.0 (from versions: none)"
    )
    retry = (
        "WARNING: Retrying (Retry(total=4...)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3"
        ".connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary "
        "failure in name resolution')': /simple/torch/"
    )
    tail = [retry, *tail]
    err = pip_failure(tc, "pip install", tail, log_path("litert"), 1)
    assert "could not reach the package index" in err.message and "Temporary failure in name resolution" in err.message
    assert "--find-links" in err.hint


def test_silent_pip_gets_heartbeat_lines(toy, wheelhouse, monkeypatch):
    """pip says nothing for minutes while it unpacks torch: progress must still move."""
    from edgekit.toolchains import installer as install_mod

    monkeypatch.setattr(install_mod, "HEARTBEAT_S", 0.05)
    lines: list[str] = []
    install("toy", find_links=str(wheelhouse), progress=lines.append)
    assert any(ln.startswith("toy: still ") for ln in lines), lines
