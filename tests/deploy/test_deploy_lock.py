"""Deploys to one directory take turns: a lock held on the device, released when its holder ends."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.ship.lock import deploy_lock
from edgekit.transports import TRANSPORTS
from tests.conftest import ROOT, assert_one_line_error, run_cli


@pytest.fixture
def two_models(tmp_path, coral_models):
    d = tmp_path / "art"
    d.mkdir()
    a = d / "a.tflite"
    a.write_bytes((coral_models / "mobilenet_v1_0.25_128_quant.tflite").read_bytes())
    b = d / "b.bin"
    b.write_bytes(os.urandom(300_000))
    return a, b


def test_a_held_lock_makes_the_next_deploy_wait_then_fail_in_one_line(tmp_path, two_models):
    to = tmp_path / "dir"
    with TRANSPORTS.get("host")(None) as t, deploy_lock(t, str(to)) as lock:
        assert lock["locked"] and (to / ".deploy.owner").read_text().startswith(f"edgekit pid {os.getpid()} ")
        t0 = time.monotonic()
        busy = run_cli("deploy", "--to", to, "--wait", "1.5", two_models[0])
        line = assert_one_line_error(busy, "another deploy to")
        assert f"edgekit pid {os.getpid()} on" in line and "--wait" in line, line
        assert "for another deploy to" in busy.stderr.splitlines()[0]
        assert time.monotonic() - t0 >= 1.5
        assert not (to / "current").exists()  # nothing was switched while locked
    ok = run_cli("deploy", "--to", to, "--json", two_models[0])
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["lock"]["locked"] is True


def test_a_waiting_deploy_goes_ahead_when_the_lock_is_released(tmp_path, two_models):
    to = tmp_path / "dir"
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_HISTORY="off")
    with contextlib.ExitStack() as stack:
        t = stack.enter_context(TRANSPORTS.get("host")(None))
        stack.enter_context(deploy_lock(t, str(to)))
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit", "deploy", "--to", str(to), "--json", str(two_models[0])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        note = proc.stderr.readline()  # released only once the deploy says it is waiting
        assert "s for another deploy to" in note, note
        time.sleep(0.5)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["lock"]["locked"] and report["lock"]["waited_s"] >= 0.5
    assert os.readlink(to / "current").endswith(report["version"])


def test_concurrent_deploys_are_serialised_and_both_complete(tmp_path, two_models):
    """Two real deploys started together: one after the other, never interleaved, so one ends
    current and the other is exactly its previous, each with all its files."""
    to = tmp_path / "dir"
    a, b = two_models
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_HISTORY="off")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edgekit", "deploy", "--to", str(to), "--json", *map(str, files)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        for files in ((a,), (a, b))
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    current = os.readlink(to / "current").rsplit("/", 1)[-1]
    previous = os.readlink(to / "previous").rsplit("/", 1)[-1]
    last, first = sorted(reports, key=lambda r: r["version"] == current, reverse=True)
    assert current == last["version"] and previous == first["version"] == last["previous"]
    for r in reports:
        files = sorted(p.name for p in (to / "versions" / r["version"]).iterdir())
        assert files == sorted([*r["files"], "manifest.json"])
    assert all(r["lock"]["locked"] for r in reports)


def test_lock_dies_with_its_holder(tmp_path, two_models):
    """A deploy killed outright (SIGKILL: no cleanup runs) does not leave the directory locked."""
    to = tmp_path / "dir"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from edgekit.ship.lock import deploy_lock; from edgekit.transports import TRANSPORTS\n"
            "with TRANSPORTS.get('host')(None) as t, deploy_lock(t, sys.argv[1]):\n"
            "    print('held', flush=True); time.sleep(600)",
            str(to),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert_one_line_error(run_cli("deploy", "--to", to, "--wait", "0", two_models[0]), "another deploy")
        holder.kill()
        holder.wait()
        r = run_cli("deploy", "--to", to, "--wait", "20", "--json", two_models[0])
        assert r.returncode == 0, r.stderr
    finally:
        holder.kill()


def test_no_flock_on_the_device_deploys_unlocked_and_says_so(tmp_path, two_models):
    """Busybox builds without flock exist: the deploy still works, with a warning."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in ("/usr/bin", "/bin"):
        for name in os.listdir(d):
            if name != "flock" and not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(Path(d) / name)
    to = tmp_path / "dir"
    r = run_cli("deploy", "--to", to, "--json", two_models[0], env={"PATH": str(bin_dir)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lock"] == {
        "locked": False,
        "waited_s": 0.0,
        "note": ("no flock on the device: this deploy was not protected against a concurrent one"),
    }
    plain = run_cli("deploy", "--to", to, *two_models, env={"PATH": str(bin_dir)})
    assert plain.returncode == 0 and "edgekit: warning: no flock on the device" in plain.stderr, plain.stderr


def test_ssh_lock_is_released_when_the_connection_drops(ssh_device, two_models, tmp_path):
    """Over SSH the lock lives in a shell on the device; killing edgekit's ssh client (a lost link)
    must end that shell and free the directory for the next deploy."""
    from edgekit.devices.profiles import get_device
    from edgekit.transports.base import open_transport

    server, devices = ssh_device
    to = tmp_path / "device-dir"
    with contextlib.ExitStack() as stack:
        t = stack.enter_context(open_transport(get_device("dev", [str(devices)])))
        assert stack.enter_context(deploy_lock(t, str(to)))["locked"]
        busy = run_cli("deploy", "--device", "dev", "--devices-dir", devices, "--to", to, "--wait", "0", two_models[0])
        assert_one_line_error(busy, "another deploy")
        # The link goes: kill the ssh client that holds the remote shell (not a clean close).
        procs = [p for p in _children() if "flock" in p[1] or ".deploy.lock" in p[1]]
        assert procs, "no ssh process holding the lock found"
        for pid, _ in procs:
            os.kill(pid, 9)
        r = run_cli("deploy", "--device", "dev", "--devices-dir", devices, "--to", to, "--wait", "30", "--json", two_models[0])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["lock"]["locked"]


def _children() -> list[tuple[int, str]]:
    """(pid, command line) of this test process's ssh children."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != os.getpid():
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        if cmd.startswith("ssh "):
            out.append((int(pid), cmd))
    return out
