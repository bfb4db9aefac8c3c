"""Device profiles: the shipped ones validate, broken ones fail with one clear line."""

from __future__ import annotations

import pytest

from edgekit.devices.profiles import SHIPPED_DIR, get_device, load_devices, load_profile, profile_from_dict
from edgekit.errors import EdgekitError
from tests.conftest import assert_one_line_error, run_cli

SHIPPED = {"host", "raspberry-pi-4", "raspberry-pi-5", "coral-dev-board", "coral-usb-accelerator", "android-arm64"}


def test_shipped_profiles_load_and_validate():
    found = {p.stem for p in SHIPPED_DIR.glob("*.toml")}
    assert SHIPPED <= found
    devices = load_devices()
    for name in SHIPPED:
        assert devices[name].source.endswith(f"{name}.toml")
    assert devices["raspberry-pi-4"].transport == "ssh" and devices["raspberry-pi-4"].arch == "aarch64"
    assert devices["coral-dev-board"].edgetpu_device == "pci:0"
    assert devices["coral-usb-accelerator"].transport == "host"
    android = devices["android-arm64"]
    assert android.transport == "adb" and android.benchmark_model.endswith("benchmark_model")
    assert android.workdir == "/data/local/tmp"


@pytest.mark.parametrize(
    "data, needles",
    [
        ({"transport": "ssh", "hots": "pi"}, ["unknown key 'hots'", "did you mean 'host'"]),
        ({"transport": "serial"}, ["unknown transport 'serial'", "host"]),
        ({"transport": "ssh"}, ["needs a host"]),
        ({"host": "pi"}, ["no transport"]),
        ({"transport": "ssh", "host": "pi", "port": "22"}, ["port must be an integer"]),
        ({"transport": "ssh", "host": "pi", "port": 70000}, ["out of range"]),
        ({"transport": "ssh", "host": "pi", "threads": 0}, ["threads must be at least 1"]),
        ({"transport": "ssh", "host": "pi", "affinity": "cores 4-7"}, ["not a hex cpu mask"]),
        ({"transport": "host", "serial": "abc"}, ["only apply to adb"]),
        ({"transport": "adb", "host": "pi"}, ["only apply to ssh"]),
        ({"transport": "ssh", "host": "pi", "runtimes": ["tensorrt"]}, ["unknown runtime 'tensorrt'"]),  # onnx is a format now
        ({"transport": "ssh", "host": "pi", "ssh_options": ["-v"]}, ["key=value"]),
        ({"transport": "ssh", "host": "pi", "workdir": "tmp"}, ["absolute path"]),
        ({"transport": "ssh", "host": "pi", "emulated": "yes"}, ["emulated must be true or false"]),
    ],
)
def test_invalid_profiles_are_clear_errors(data, needles):
    with pytest.raises(EdgekitError) as info:
        profile_from_dict("board", data, "board.toml")
    line = info.value.line().lower()
    assert line.startswith("edgekit: device profile board.toml:")
    for needle in needles:
        assert needle.lower() in line


def test_emulated_flag_and_user_dir_override(tmp_path, monkeypatch):
    user = tmp_path / "config" / "edgekit" / "devices"
    user.mkdir(parents=True)
    (user / "raspberry-pi-4.toml").write_text('transport = "ssh"\nhost = "10.0.0.7"\nemulated = true\narch = "aarch64"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    pi = get_device("raspberry-pi-4")
    assert pi.host == "10.0.0.7" and pi.emulated is True  # the user's file replaces the shipped one


def test_bad_toml_and_unknown_device(tmp_path):
    (tmp_path / "broken.toml").write_text('transport = "ssh\n')
    with pytest.raises(EdgekitError, match="not valid TOML"):
        load_profile(tmp_path / "broken.toml")
    with pytest.raises(EdgekitError, match="did you mean 'raspberry-pi-4'"):
        get_device("raspbery-pi-4")


def test_cli_errors_are_one_line(tmp_path, small_model):
    assert_one_line_error(run_cli("bench", "--device", "no-such-board", small_model), "unknown device 'no-such-board'")
    assert_one_line_error(
        run_cli("bench", "--device", "x", "--devices-dir", tmp_path / "missing", small_model), "no such devices directory"
    )
    (tmp_path / "typo.toml").write_text('transport = "ssh"\nhostname = "pi"\n')
    # Only the command that uses the broken profile fails (tests/devices/test_readiness.py has the rest).
    assert_one_line_error(run_cli("bench", "--device", "typo", "--devices-dir", tmp_path, small_model), "unknown key 'hostname'")
