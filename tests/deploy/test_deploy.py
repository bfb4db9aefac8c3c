"""edgekit deploy against a real loopback OpenSSH device (and the host, and the adb-style pointer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_one_line_error, run_cli


def _deploy(devices, to, *args):
    return run_cli("deploy", "--device", "dev", "--devices-dir", str(devices), "--to", str(to), "--json", *map(str, args))


def _current(to: Path) -> str:
    return os.readlink(to / "current").rsplit("/", 1)[-1]


@pytest.fixture
def artifacts(tmp_path, coral_models):
    """A real model and a random 'model' so that contents differ between deploys."""
    d = tmp_path / "art"
    d.mkdir()
    model = d / "mobilenet_v1_0.25_128_quant.tflite"
    model.write_bytes((coral_models / model.name).read_bytes())
    blob = d / "labels.bin"
    blob.write_bytes(os.urandom(200_000))
    return model, blob


def test_deploy_redeploy_change_rollback_verify(ssh_device, artifacts, tmp_path):
    server, devices = ssh_device
    to = tmp_path / "device-deploy"
    model, blob = artifacts

    first = _deploy(devices, to, model, blob)
    assert first.returncode == 0, first.stderr
    r1 = json.loads(first.stdout)
    assert sorted(r1["sent"]) == sorted([model.name, blob.name]) and r1["changed"] and r1["previous"] is None
    assert _current(to) == r1["version"]
    on_device = to / "current" / model.name
    assert on_device.read_bytes() == model.read_bytes()
    manifest = json.loads((to / "current" / "manifest.json").read_text())
    assert {a["file"] for a in manifest["artifacts"]} == {model.name, blob.name}

    again = json.loads(_deploy(devices, to, model, blob).stdout)
    assert again["sent"] == [] and again["bytes_sent"] == 0 and not again["changed"]
    assert again["version"] == r1["version"] == _current(to)

    blob.write_bytes(os.urandom(200_000))
    r3 = json.loads(_deploy(devices, to, model, blob).stdout)
    assert r3["sent"] == [blob.name] and r3["reused"] == [model.name]  # only the changed file travels
    assert r3["previous"] == r1["version"] and _current(to) == r3["version"]
    assert os.readlink(to / "previous").endswith(r1["version"])

    back = run_cli("deploy", "--device", "dev", "--devices-dir", str(devices), "--to", str(to), "--rollback")
    assert back.returncode == 0, back.stderr
    assert _current(to) == r1["version"] and "rolled back" in back.stdout
    ok = run_cli("deploy", "--device", "dev", "--devices-dir", str(devices), "--to", str(to), "--verify")
    assert ok.returncode == 0, ok.stderr
    # ...and the cut-off deploy's lock died with its connection: the next deploy goes ahead.
    again = _deploy(devices, to, model, "--wait", "30")
    assert again.returncode == 0 and json.loads(again.stdout)["lock"]["locked"], again.stderr
    assert "2 file(s) match" in ok.stdout


def test_hash_mismatch_on_the_device_is_detected_and_repaired(ssh_device, artifacts, tmp_path):
    server, devices = ssh_device
    to = tmp_path / "device-deploy"
    model, blob = artifacts
    r1 = json.loads(_deploy(devices, to, model, blob).stdout)
    target = to / "versions" / r1["version"] / blob.name
    with open(target, "r+b") as f:  # bit rot / tampering on the device
        f.seek(1000)
        f.write(b"\xff\x00\xff")
    bad = run_cli("deploy", "--device", "dev", "--devices-dir", str(devices), "--to", str(to), "--verify")
    assert_one_line_error(bad, "hash mismatch", blob.name)
    assert bad.returncode == 1
    fixed = json.loads(_deploy(devices, to, model, blob).stdout)
    assert fixed["sent"] == [blob.name] and fixed["changed"]
    assert (to / "current" / blob.name).read_bytes() == blob.read_bytes()


def test_copy_corrupted_in_transit_is_refused(ssh_device, artifacts, tmp_path):
    """A link that alters bytes: the hash taken on the device catches it and current stays put."""
    from edgekit.ship import deploy
    from edgekit.devices.profiles import get_device
    from edgekit.errors import CheckFailed
    from edgekit.transports.base import open_transport

    server, devices = ssh_device
    to = tmp_path / "device-deploy"
    model, blob = artifacts
    r1 = json.loads(_deploy(devices, to, model).stdout)
    transport = open_transport(get_device("dev", [str(devices)]))
    real_push = transport.push
    flipped = tmp_path / "flipped.bin"

    def corrupting_push(local, remote):
        data = bytearray(Path(local).read_bytes())
        data[len(data) // 2] ^= 0x01
        flipped.write_bytes(bytes(data))
        real_push(str(flipped), remote)

    transport.push = corrupting_push
    blob_changed = deploy.collect([str(model), str(blob)])
    with transport, pytest.raises(CheckFailed, match="hash mismatch after copying labels.bin"):
        deploy.Deployer(transport, str(to), "ssh").deploy(blob_changed)
    assert _current(to) == r1["version"]
    assert not list((to / "store").glob(".tmp-*")), "the bad copy must not stay in the store"


@pytest.mark.slow
def test_interrupted_deploy_leaves_previous_version_current(ssh_device, artifacts, tmp_path):
    server, devices = ssh_device
    to = tmp_path / "device-deploy"
    model, _ = artifacts
    r1 = json.loads(_deploy(devices, to, model).stdout)
    big = tmp_path / "art" / "big.bin"
    with open(big, "wb") as f:  # 1 GiB of zeros, sparse on disk: cheap to make, slow enough to cut off
        f.truncate(1 << 30)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgekit",
            "deploy",
            "--device",
            "dev",
            "--devices-dir",
            str(devices),
            "--to",
            str(to),
            str(model),
            str(big),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=env,
    )
    deadline = time.monotonic() + 120
    partial = []
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in (to / "store").glob(".tmp-*") if p.stat().st_size > 0]
        if partial:
            break
        time.sleep(0.01)
    assert partial, f"the copy never started: {proc.communicate()}"
    server.kill()  # the device drops off the network mid-copy
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert len([l for l in err.splitlines() if l.startswith("edgekit:")]) == 1, err
    assert _current(to) == r1["version"]
    assert [v.name for v in (to / "versions").iterdir() if not v.name.startswith(".")] == [r1["version"]]
    assert (to / "current" / model.name).read_bytes() == model.read_bytes()
    server.start()  # the device comes back: the old version still verifies
    ok = run_cli("deploy", "--device", "dev", "--devices-dir", str(devices), "--to", str(to), "--verify")
    assert ok.returncode == 0, ok.stderr
    # ...and the cut-off deploy's lock died with its connection: the next deploy goes ahead.
    again = _deploy(devices, to, model, "--wait", "30")
    assert again.returncode == 0 and json.loads(again.stdout)["lock"]["locked"], again.stderr


def test_host_directory_deploy_and_adb_style_pointer(tmp_path, artifacts):
    """The host transport (a local directory), and text-file pointers as used on Android storage."""
    from edgekit.ship import deploy
    from edgekit.transports import TRANSPORTS

    model, blob = artifacts
    to = tmp_path / "local"
    r = run_cli("deploy", "--to", str(to), "--json", str(model))
    assert r.returncode == 0, r.stderr
    assert (to / "current" / model.name).read_bytes() == model.read_bytes()

    adb_dir = tmp_path / "adb-like"
    with TRANSPORTS.get("host")(None) as t:
        d = deploy.Deployer(t, str(adb_dir), "adb")
        v1 = d.deploy(deploy.collect([str(model)]))["version"]
        v2 = d.deploy(deploy.collect([str(model), str(blob)]))["version"]
        assert (adb_dir / "CURRENT").read_text().strip() == v2
        assert (adb_dir / "PREVIOUS").read_text().strip() == v1
        d.rollback()
        assert (adb_dir / "CURRENT").read_text().strip() == v1
        assert not (adb_dir / "current").exists()


def test_deploy_usage_errors(tmp_path):
    assert_one_line_error(run_cli("deploy", str(tmp_path / "missing.tflite"), "--to", str(tmp_path)), "no such file")
    f = tmp_path / "m.tflite"
    f.write_bytes(b"x" * 10)
    assert_one_line_error(run_cli("deploy", str(f)), "no deploy directory", "--to")
    assert_one_line_error(run_cli("deploy", "--to", str(tmp_path / "empty"), "--rollback"), "nothing to roll back")
