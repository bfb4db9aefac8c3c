"""Transports own their capabilities: a transport registered by a test (tests/devices/toy_transport.py)
shows up in `edgekit devices` with its own address and state, its profile keys are validated,
keys of other transports are refused, and pool/deploy ask it for the lock key and pointer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgekit.errors import EdgekitError
from tests.conftest import ROOT, assert_one_line_error

TOY_CLI = "import sys, tests.devices.toy_transport; from edgekit.cli import main; raise SystemExit(main(sys.argv[1:]))"


def toy_cli(*args: str) -> subprocess.CompletedProcess:
    """The real CLI in a child process that has the toy transport registered."""
    env = {"PYTHONPATH": str(ROOT), "EDGEKIT_HISTORY": "off", "PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".no-home")}
    return subprocess.run([sys.executable, "-c", TOY_CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


@pytest.fixture()
def toy_dir(tmp_path):
    d = tmp_path / "devices"
    d.mkdir()
    (d / "crate.toml").write_text('transport = "toy"\ndock = "bay-3"\narch = "riscv64"\n')
    return d


def test_toy_device_listed_with_its_own_address_and_state(toy_dir):
    proc = toy_cli("devices", "--devices-dir", str(toy_dir), "--json", "--timeout", "0.5")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    row = next(r for r in data["configured"] if r["name"] == "crate")
    assert (row["transport"], row["address"], row["state"]) == ("toy", "toy://bay-3", "docked")
    assert row["detail"] == "in bay-3 (timeout 0.5)"
    assert {"kind": "toy", "id": "bay-9", "state": "empty", "detail": "no profile"} in data["discovered"]
    assert "toy survey ran" in data["notes"]
    table = toy_cli("devices", "--devices-dir", str(toy_dir), "--timeout", "0.5")
    assert table.returncode == 0, table.stderr
    line = next(l for l in table.stdout.splitlines() if "crate" in l)
    assert "toy://bay-3" in line and "docked" in line and "localhost" not in line and "this machine" not in line


def test_toy_profile_keys_validated_by_the_transport(toy_dir):
    (toy_dir / "stray.toml").write_text('transport = "toy"\ndock = "bay-1"\nserial = "ABC"\n')
    proc = toy_cli("deploy", "--device", "stray", "--devices-dir", str(toy_dir), "--status")
    assert_one_line_error(proc, "stray.toml", "serial only apply to adb devices, this one uses toy")
    (toy_dir / "nodock.toml").write_text('transport = "toy"\n')
    assert_one_line_error(
        toy_cli("deploy", "--device", "nodock", "--devices-dir", str(toy_dir), "--status"), "a toy device needs a dock"
    )
    (toy_dir / "badbay.toml").write_text('transport = "toy"\ndock = "shelf"\n')
    assert_one_line_error(
        toy_cli("deploy", "--device", "badbay", "--devices-dir", str(toy_dir), "--status"), "dock 'shelf' is not a bay"
    )
    # the toy's own key is refused on the transports that do not take it
    (toy_dir / "sshdock.toml").write_text('transport = "ssh"\nhost = "pi"\ndock = "bay-1"\n')
    assert_one_line_error(
        toy_cli("deploy", "--device", "sshdock", "--devices-dir", str(toy_dir), "--status"),
        "dock only apply to toy devices, this one uses ssh",
    )


def test_lock_key_deploy_pointer_and_defaults_come_from_the_record(monkeypatch):
    import tests.devices.toy_transport  # noqa: F401  (registers "toy")
    from edgekit.devices.pool import lock_key
    from edgekit.devices.profiles import profile_from_dict
    from edgekit.ship.deploy import TEXTFILE, Deployer, default_dir

    a = profile_from_dict("a", {"transport": "toy", "dock": "bay-2"})
    b = profile_from_dict("b", {"transport": "toy", "dock": "bay-2", "description": "same crate"})
    other = profile_from_dict("c", {"transport": "toy", "dock": "bay-5"})
    assert a.options == {"dock": "bay-2"} and a.workdir == "/toy/tmp"
    assert lock_key(a) == lock_key(b) != lock_key(other)
    assert lock_key(a).startswith("toy-bay-2-")
    assert default_dir(a) == "/toy/deploy"
    assert Deployer(object(), "/toy/deploy", "toy").pointer is TEXTFILE
    with pytest.raises(EdgekitError, match="only apply to toy devices"):
        profile_from_dict("h", {"transport": "host", "dock": "bay-1"})


def test_shipped_transports_keep_their_answers():
    from edgekit.devices.pool import lock_key
    from edgekit.devices.profiles import profile_from_dict
    from edgekit.ship.deploy import SYMLINK, TEXTFILE, Deployer, default_dir

    ssh = profile_from_dict("pi", {"transport": "ssh", "host": "pi.local", "user": "me", "port": 2222})
    adb = profile_from_dict("phone", {"transport": "adb", "serial": "R58M"})
    host = profile_from_dict("here", {"transport": "host"})
    assert (ssh.address, adb.address, host.address) == ("me@pi.local:2222", "R58M", "localhost")
    assert lock_key(ssh).startswith("ssh-me_pi.local_2222-") or lock_key(ssh).startswith("ssh-me@pi.local_2222-")
    assert lock_key(adb).startswith("adb-R58M-") and lock_key(host).startswith("host-")
    assert (default_dir(ssh), default_dir(adb), default_dir(host)) == ("edgekit-deploy", "/data/local/tmp/edgekit-deploy", None)
    assert adb.workdir == "/data/local/tmp" and ssh.workdir == "/tmp"
    assert Deployer(object(), "/d", "adb").pointer is TEXTFILE and Deployer(object(), "/d", "ssh").pointer is SYMLINK
