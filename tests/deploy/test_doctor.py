"""edgekit doctor and provision: on the host, on a real older runtime, over the loopback SSH device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error, run_cli
from tests.sshd import to_toml

PROBE = Path(__file__).resolve().parents[2] / "edgekit" / "harness" / "probe.py"


def _host_profile(devices: Path, name: str, python: str) -> None:
    devices.mkdir(parents=True, exist_ok=True)
    (devices / f"{name}.toml").write_text(to_toml({"transport": "host", "python": python}))


def _codes(artifact: dict) -> set:
    return {p["code"] for p in artifact["problems"]}


def test_doctor_on_the_host_reports_what_is_installed():
    proc = run_cli("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    facts = report["facts"]
    assert facts["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert facts["os"]["machine"] == os.uname().machine
    assert facts["packages"]["ai-edge-litert"] == version("ai-edge-litert")
    assert facts["packages"]["numpy"] == version("numpy")
    assert facts["libedgetpu"] is None and facts["edgetpu_devices"] == []  # no Coral hardware here
    text = run_cli("doctor")
    assert text.returncode == 0 and "ai-edge-litert:  " + version("ai-edge-litert") in text.stdout


def test_doctor_host_models_and_edgetpu_fixes(coral_models):
    cpu = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    tpu = coral_models / "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
    tpu13 = coral_models / "split_concat_edgetpu.tflite"
    proc = run_cli("doctor", "--json", cpu, tpu, tpu13)
    assert proc.returncode == 1  # the Edge TPU models cannot run here
    arts = json.loads(proc.stdout)["artifacts"]
    assert arts[0]["ok"] and arts[0]["load"]["ok"] and arts[0]["min_runtime_version"] == "1.5.0"
    assert arts[1]["format"] == "edgetpu" and not arts[1]["ok"]
    assert {"no-libedgetpu", "no-edgetpu"} <= _codes(arts[1])
    # The runtime version each compiled package demands, read from its DWN1 package.
    assert arts[1]["edgetpu_runtime_version_needed"] == 12 and arts[2]["edgetpu_runtime_version_needed"] == 13
    fixes = [f["command"] for p in arts[1]["problems"] for f in p["fixes"]]
    assert any("coral-edgetpu-stable" in f for f in fixes) and any("apt-get install -y libedgetpu1-std" in f for f in fixes)


def test_doctor_libedgetpu_too_old_from_facts(coral_models):
    """The comparison itself, on facts as the probe reports them for a board with libedgetpu 12."""
    from edgekit.devices.doctor import check_tflite

    facts = json.loads(subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True).stdout.split(" ", 1)[1])
    facts["libedgetpu"] = {
        "path": "/usr/lib/aarch64-linux-gnu/libedgetpu.so.1",
        "runtime_version": 12,
        "package": "libedgetpu1-std",
        "package_version": "14.1",
    }
    facts["edgetpu_devices"] = [{"type": "usb", "id": "18d1:9302", "writable": True}]
    facts["os"]["uid"] = 1000
    problems, info = check_tflite(str(coral_models / "split_concat_edgetpu.tflite"), facts, "python3", None, edgetpu=True)
    (too_old,) = [p for p in problems if p.code == "libedgetpu-too-old"]
    assert "requires runtime version 13" in too_old.message and "runtime version 12" in too_old.message
    assert too_old.fixes[0].command == "sudo apt-get install -y --only-upgrade libedgetpu1-std"
    assert "--min_runtime_version 12" in too_old.fixes[1].command


def test_doctor_names_old_runtime_problem_and_fix(old_runtime_python, new_converter_model, tmp_path):
    devices = tmp_path / "devices"
    _host_profile(devices, "old-pi", old_runtime_python)
    proc = run_cli("doctor", "--device", "old-pi", "--devices-dir", devices, "--json", new_converter_model)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["facts"]["packages"]["tflite-runtime"] == "2.14.0"
    assert report["facts"]["packages"]["tensorflow"] is None
    (art,) = report["artifacts"]
    assert art["min_runtime_version"] == "2.17.0" and art["ops_above_v1"]["FULLY_CONNECTED"] == 12
    assert {"runtime-too-old", "op-version-unknown"} <= _codes(art)
    op = next(p for p in art["problems"] if p["code"] == "op-version-unknown")
    assert "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" in op["message"]
    assert op["fixes"][0]["command"] == f"{old_runtime_python} -m pip install -U ai-edge-litert"

    text = run_cli("doctor", "--device", "old-pi", "--devices-dir", devices, new_converter_model)
    assert text.returncode == 1
    assert_one_line_error(text, "cannot run on device 'old-pi'", "edgekit provision --device old-pi")
    assert "needs TFLite runtime 2.17.0 or newer" in text.stdout and "tflite-runtime 2.14.0" in text.stdout
    assert f"fix: {old_runtime_python} -m pip install -U ai-edge-litert" in text.stdout


def test_doctor_and_provision_dry_run_over_ssh(ssh_device, old_runtime_python, new_converter_model, tmp_path):
    """A device reached over SSH whose python is a virtualenv path and that has no TensorFlow."""
    server, devices = ssh_device
    server.write_profile(devices, "pi", python=old_runtime_python)
    proc = run_cli("doctor", "--device", "pi", "--devices-dir", devices, "--json", new_converter_model)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["python"] == old_runtime_python and report["facts"]["python"]["venv"]
    assert "op-version-unknown" in _codes(report["artifacts"][0])
    dry = run_cli("provision", "--device", "pi", "--devices-dir", devices, "--dry-run", "--json", new_converter_model)
    assert dry.returncode == 0, dry.stderr
    steps = json.loads(dry.stdout)["steps"]
    assert [s["action"] for s in steps] == ["would run"]
    assert steps[0]["command"] == f"{old_runtime_python} -m pip install -U ai-edge-litert"
    still = subprocess.run(
        [old_runtime_python, "-c", "import importlib.util as u; print(u.find_spec('ai_edge_litert'))"],
        capture_output=True,
        text=True,
    )
    assert still.stdout.strip() == "None"  # a dry run changes nothing


def test_provision_prints_system_fixes_and_never_sudo(tmp_path, coral_models):
    """An Edge TPU model on this host: the apt steps are printed, never run without --sudo."""
    devices = tmp_path / "devices"
    _host_profile(devices, "here", sys.executable)
    proc = run_cli(
        "provision", "--device", "here", "--devices-dir", devices, "--json", coral_models / "split_concat_edgetpu.tflite"
    )
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout)["steps"]
    assert steps and all(s["action"] in ("print", "note") for s in steps)
    assert any("libedgetpu1-std" in s["command"] for s in steps)


@pytest.mark.slow
def test_provision_installs_litert_into_the_device_venv(tmp_path, new_converter_model):
    """A real provision: a fresh virtualenv without any TFLite runtime gets ai-edge-litert from PyPI
    and then loads the model that tflite-runtime 2.14 could not."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    devices = tmp_path / "devices"
    _host_profile(devices, "fresh", str(venv / "bin" / "python"))
    before = json.loads(run_cli("doctor", "--device", "fresh", "--devices-dir", devices, "--json", new_converter_model).stdout)
    assert "no-tflite-runtime" in _codes(before["artifacts"][0])
    proc = run_cli("provision", "--device", "fresh", "--devices-dir", devices, new_converter_model, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ran: " in proc.stdout and "ready for the given artifacts" in proc.stdout


def test_probe_tells_coral_pycoral_from_the_pypi_impostor(tmp_path):
    """probe.py reads the distribution's file list (never imports it) to tell the two apart."""

    def fake(root: Path, files: list[str]) -> dict:
        info = root / "pycoral-2.0.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pycoral\nVersion: 2.0.0\nSummary: test\n")
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
        env = dict(os.environ, PYTHONPATH=str(root))
        out = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, env=env).stdout
        return json.loads(out.split(" ", 1)[1])["pycoral"]

    assert fake(tmp_path / "a", ["pycoral/__init__.py", "pycoral/cli.py"])["genuine"] is False
    assert fake(tmp_path / "b", ["pycoral/__init__.py", "pycoral/utils/edgetpu.py"])["genuine"] is True


def test_doctor_errors_are_one_line(tmp_path):
    assert_one_line_error(run_cli("doctor", str(tmp_path / "nope.tflite")), "no such file")
    assert_one_line_error(run_cli("doctor", "--device", "no-such-device"), "unknown device")
    devices = tmp_path / "devices"
    _host_profile(devices, "nopython", str(tmp_path / "missing" / "python"))
    assert_one_line_error(run_cli("doctor", "--device", "nopython", "--devices-dir", devices), "python")
