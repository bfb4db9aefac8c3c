"""`deploy --to '~/x'` means the device user's home (issue 15, item 9), asked of the device itself."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from edgekit.ship.deploy import device_home_path
from edgekit.errors import EdgekitError
from tests.conftest import run_cli


def test_tilde_goes_to_the_device_users_home_not_a_literal_dir(ssh_device, coral_models, tmp_path):
    server, devices = ssh_device
    model = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    sub = f".cache/edgekit-test/deploy-home-{uuid.uuid4().hex[:8]}"
    probe = run_cli("doctor", "--device", "dev", "--devices-dir", devices, "--json", "--no-load")
    assert probe.returncode == 0, probe.stderr + probe.stdout
    home = json.loads(probe.stdout)["facts"]["home"]  # the device's own answer (a loopback device here)
    literal = Path(home) / "~"
    existed = literal.exists()
    try:
        r = run_cli("deploy", "--device", "dev", "--devices-dir", devices, "--to", f"~/{sub}", "--json", model)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["dir"] == f"{home}/{sub}"
        assert (Path(home) / sub / "current" / model.name).read_bytes() == model.read_bytes()
        assert literal.exists() == existed  # no directory named '~' in the login directory
        status = run_cli("deploy", "--device", "dev", "--devices-dir", devices, "--to", f"~/{sub}", "--status")
        assert status.returncode == 0 and out["version"] in status.stdout, status.stderr
    finally:
        shutil.rmtree(Path(home) / sub, ignore_errors=True)


class _FakeRun:
    """A transport whose only effect is answering $HOME: what device_home_path reads."""

    def __init__(self, home: str, code: int = 0):
        self.home, self.code, self.argv = home, code, None

    def run(self, argv, timeout=None):
        import subprocess

        self.argv = argv
        return subprocess.CompletedProcess(argv, self.code, stdout=self.home, stderr="")


@pytest.mark.parametrize(
    "to,home,expected",
    [
        ("~", "/home/pi", "/home/pi"),
        ("~/", "/home/pi", "/home/pi"),
        ("~/models/v1", "/home/pi/", "/home/pi/models/v1"),
        ("~/x", "/", "/x"),
        ("/abs/dir", "/home/pi", "/abs/dir"),
        ("rel/dir", "/home/pi", "rel/dir"),
    ],
)
def test_home_expansion_rules(to, home, expected):
    t = _FakeRun(home)
    assert device_home_path(t, to, "pi") == expected
    assert (t.argv is None) == (not to.startswith("~"))  # the device is asked only when needed


def test_no_home_or_another_users_home_is_one_clear_error():
    with pytest.raises(EdgekitError, match="reports no home directory"):
        device_home_path(_FakeRun(""), "~/x", "phone")
    with pytest.raises(EdgekitError, match="only ~ and ~/"):
        device_home_path(_FakeRun("/home/pi"), "~root/x", "pi")


def test_host_deploy_expands_tilde_here(tmp_path, coral_models, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    r = run_cli(
        "deploy", "--to", "~/deployed", "--json", coral_models / "mobilenet_v1_0.25_128_quant.tflite", env={"HOME": str(home)}
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dir"] == str(home / "deployed") and (home / "deployed" / "current").is_symlink()
    bad = run_cli("deploy", "--device", "dev", "--to", "~nobody/x", coral_models / "mobilenet_v1_0.25_128_quant.tflite")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
