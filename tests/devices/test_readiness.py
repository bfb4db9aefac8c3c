"""Device truth (issue 13, item 8; issue 15, item 9): `ready` only with evidence, no silent fallback
to the host CPU, and one broken profile breaks only itself."""

from __future__ import annotations

import json

import pytest

from edgekit.devices.profiles import get_device, load_devices, readiness, require_ready, scan_devices, selector_matches
from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.harness import probe
from tests.conftest import assert_one_line_error, run_cli

USB = {"type": "usb", "id": "18d1:9302", "state": "usb", "node": "/dev/bus/usb/002/003", "writable": True}
PCI = {"type": "pci", "node": "/dev/apex_0", "writable": True}
LIB = {"path": "/usr/lib/x86_64-linux-gnu/libedgetpu.so.1", "runtime_version": 14}


@pytest.fixture(scope="module")
def no_tpu_here():
    """The CLI tests need this machine's real state: no Edge TPU, no libedgetpu (true here and in CI)."""
    if probe.edgetpu_devices() or probe.libedgetpu_info():
        pytest.skip("an Edge TPU or libedgetpu is present on this machine")


def test_the_coral_usb_profile_is_ready_only_with_a_tpu_and_libedgetpu():
    coral = get_device("coral-usb-accelerator")
    assert readiness(coral, {"edgetpu_devices": [USB], "libedgetpu": LIB})["ready"] is True
    none = readiness(coral, {"edgetpu_devices": [], "libedgetpu": None})
    assert none["ready"] is False and len(none["missing"]) == 2
    assert readiness(coral, {"edgetpu_devices": [USB], "libedgetpu": None})["missing"] == [
        "libedgetpu (the Edge TPU runtime) is not installed"
    ]
    # A PCIe module does not answer to the profile's "usb".
    assert readiness(coral, {"edgetpu_devices": [PCI], "libedgetpu": LIB})["ready"] is False
    host = get_device("host")
    assert readiness(host, {"edgetpu_devices": [], "libedgetpu": None})["ready"] is True  # a CPU needs nothing
    assert readiness(get_device("coral-dev-board"))["ready"] is None  # remote: its own probe decides


@pytest.mark.parametrize(
    "selector,tpus,ok",
    [
        ("usb", [USB], True),
        ("usb:0", [USB], True),
        ("usb:1", [USB], False),
        ("usb:7", [USB, USB], False),
        ("pci:0", [USB, PCI], True),
        (":1", [USB, PCI], True),
        (":2", [USB, PCI], False),
        ("usb", [], False),
    ],
)
def test_selectors(selector, tpus, ok):
    assert selector_matches(selector, tpus) is ok


def test_require_ready_refuses_missing_hardware_and_cpu_models():
    coral = get_device("coral-usb-accelerator")
    with pytest.raises(EnvironmentMissing, match="no Edge TPU is attached") as info:
        require_ready(coral, ["edgetpu"], {"edgetpu_devices": [], "libedgetpu": LIB})
    assert info.value.exit_code == 3
    with pytest.raises(EdgekitError, match="no Edge TPU ops") as info:
        require_ready(coral, ["tflite"], {"edgetpu_devices": [USB], "libedgetpu": LIB})
    assert info.value.exit_code == 2
    require_ready(coral, ["edgetpu"], {"edgetpu_devices": [USB], "libedgetpu": LIB})  # all there: runs
    require_ready(get_device("host"), ["tflite"])


def test_bench_on_the_coral_profile_without_a_tpu_fails_in_one_line(no_tpu_here, small_model, coral_models):
    for model in (small_model, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"):
        r = run_cli("bench", "--device", "coral-usb-accelerator", model, "--json")
        line = assert_one_line_error(r, "coral-usb-accelerator", "no Edge TPU is attached", "libedgetpu")
        assert r.returncode == 3 and json.loads(r.stdout or "[]") == [], line  # nothing measured on the host instead
    r = run_cli("run", "--device", "coral-usb-accelerator", small_model, "--image", coral_models.parent / "images" / "parrot.jpg")
    assert r.returncode == 3 and "no Edge TPU is attached" in r.stderr


def test_devices_does_not_call_the_coral_profile_ready(no_tpu_here):
    r = run_cli("devices", "--json", "--timeout", "0.2")
    assert r.returncode == 0, r.stderr
    states = {d["name"]: d for d in json.loads(r.stdout)["configured"]}
    assert states["coral-usb-accelerator"]["state"] == "missing"
    assert "libedgetpu" in states["coral-usb-accelerator"]["detail"]
    assert states["host"]["state"] == "ready"


def test_doctor_on_the_coral_profile_is_not_can_run(no_tpu_here, small_model, coral_models):
    """The issue's case: "can run", exit 0, for the Coral profile with nothing attached."""
    for model in (small_model, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"):
        r = run_cli("doctor", "--device", "coral-usb-accelerator", model)
        assert_one_line_error(r, "not ready", "libedgetpu")
        assert r.returncode == 1 and "can run" not in r.stdout
    j = run_cli("doctor", "--json", "--device", "coral-usb-accelerator", small_model)
    report = json.loads(j.stdout)
    assert report["device_ok"] is False and report["ok"] is False
    assert {"no-libedgetpu", "no-edgetpu"} <= {p["code"] for p in report["problems"]}
    assert "no-edgetpu-ops" in {p["code"] for p in report["artifacts"][0]["problems"]}
    bare = run_cli("doctor", "--device", "coral-usb-accelerator")  # no artifact: the device itself
    assert bare.returncode == 1 and "not ready" in bare.stderr
    host = run_cli("doctor", small_model)
    assert host.returncode == 0 and "can run" in host.stdout, host.stderr


def test_edgetpu_device_on_a_cpu_model_is_rejected(small_model, coral_models):
    r = run_cli("bench", small_model, "--edgetpu-device", "usb:7")
    assert_one_line_error(r, "--edgetpu-device usb:7", "without edge tpu ops")
    assert r.returncode == 2
    r = run_cli("run", small_model, "--image", coral_models.parent / "images" / "parrot.jpg", "--edgetpu-device", "usb:0")
    assert r.returncode == 2 and "without Edge TPU ops" in r.stderr
    r = run_cli("bench", coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite", "--edgetpu-device", "usb7")
    assert_one_line_error(r, "unknown Edge TPU device 'usb7'")
    with pytest.raises(EdgekitError, match="unknown Edge TPU device"):
        from edgekit.devices.profiles import profile_from_dict

        profile_from_dict("tpu", {"transport": "host", "edgetpu_device": "usb-0"}, "tpu.toml")


# --- a broken profile breaks only itself -----------------------------------------------------------


@pytest.fixture
def mixed_dir(tmp_path):
    (tmp_path / "typo.toml").write_text('transport = "ssh"\nhostname = "pi"\n')
    (tmp_path / "bad-syntax.toml").write_text('transport = "ssh\n')
    (tmp_path / "good.toml").write_text('description = "a valid one"\ntransport = "host"\n')
    return tmp_path


def test_valid_profiles_survive_a_broken_neighbour(mixed_dir, small_model):
    found, broken = scan_devices([str(mixed_dir)])
    assert "good" in found and "host" in found
    assert set(broken) == {"typo", "bad-syntax"}
    ok = run_cli(
        "bench",
        "--device",
        "good",
        "--devices-dir",
        mixed_dir,
        small_model,
        "--min-runs",
        "2",
        "--min-time",
        "0",
        "--warmup",
        "0",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"
    warnings = [l for l in ok.stderr.splitlines() if l.startswith("edgekit: warning:")]
    assert len(warnings) == 2 and all("skipped" in w for w in warnings)  # once per broken file
    assert any("typo.toml" in w for w in warnings) and any("bad-syntax.toml" in w for w in warnings)
    bad = run_cli("bench", "--device", "typo", "--devices-dir", mixed_dir, small_model)
    assert_one_line_error(bad, "typo.toml", "unknown key 'hostname'")
    assert bad.returncode == 2


def test_devices_lists_broken_profiles_and_the_valid_ones(mixed_dir):
    r = run_cli("devices", "--devices-dir", mixed_dir, "--no-probe", "--json")
    assert r.returncode == 0, r.stderr
    rows = {d["name"]: d for d in json.loads(r.stdout)["configured"]}
    assert rows["typo"]["state"] == "broken" and "unknown key 'hostname'" in rows["typo"]["detail"]
    assert rows["bad-syntax"]["state"] == "broken" and "not valid TOML" in rows["bad-syntax"]["detail"]
    assert rows["good"]["state"] == "not probed" and rows["host"]["transport"] == "host"
    table = run_cli("devices", "--devices-dir", mixed_dir, "--no-probe")
    assert table.returncode == 0 and "broken" in table.stdout and "good" in table.stdout


def test_a_broken_override_does_not_fall_back_to_the_shipped_profile(tmp_path, monkeypatch):
    """A user's host.toml with a typo must not silently become the shipped host profile."""
    user = tmp_path / "config" / "edgekit" / "devices"
    user.mkdir(parents=True)
    (user / "host.toml").write_text('transport = "host"\nthreds = 2\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(EdgekitError, match="unknown key 'threds'"):
        get_device("host")
    assert "host" not in load_devices(warn=False)
    assert get_device("raspberry-pi-4").transport == "ssh"
