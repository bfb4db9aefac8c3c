""".onnx results and artifacts through history, the gate, the report, packaging and doctor."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.onnx.conftest import CLS

FEW = ("--warmup", "1", "--min-runs", "5", "--min-time", "0.05", "--threads", "1")


def test_history_report_and_gate_take_onnx_results(rapidocr, tmp_path):
    hist = str(tmp_path / "h.sqlite")
    model = str(rapidocr / CLS)
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        proc = run_cli("bench", model, "--input-shape", "x=1,3,48,192", *FEW, "-o", str(out), "--history", hist)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    listing = run_cli("history", "--history", hist, "--json")
    assert listing.returncode == 0, listing.stderr
    assert CLS in listing.stdout and "onnxruntime" in listing.stdout
    gate = run_cli("compare", str(outs[0]), str(outs[1]), "--json")
    assert gate.returncode in (0, 1), gate.stderr  # a verdict, whatever it is; never a crash
    verdict = json.loads(gate.stdout)
    assert verdict
    md = run_cli("report", str(outs[0]), str(outs[1]))
    assert md.returncode == 0, md.stderr
    row = next(l for l in md.stdout.splitlines() if CLS.replace("_", "\\_") in l)
    assert "| onnx |" in row and "CPUExecutionProvider" in row and "| ok |" in row


@pytest.mark.slow
def test_package_android_puts_onnx_in_assets(digits_onnx, tmp_path):
    work, _, entries = digits_onnx
    app = tmp_path / "app"
    (app / "app").mkdir(parents=True)
    proc = run_cli("package", "--android", str(app), str(work / "artifacts"), "--json", "--no-gradle")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assets = app / "app" / "src" / "main" / "assets"
    models = {m["target"]: m for m in info["models"]}
    assert set(models) == {"onnx", "onnx-int8", "onnx-dynamic"}
    for m in models.values():
        assert (assets / m["model"]).is_file() and m["model"].endswith(".onnx")
        assert m["sha256"] == entries[m["target"]].sha256
    assert any("ONNX Runtime Mobile" in n for n in info["notes"])


def _facts(machine: str, version: str | None, venv: bool = True, writable: bool = True) -> dict:
    return {
        "os": {"system": "Linux", "machine": machine, "apt": True, "uid": 1000},
        "home": "/home/pi",
        "python": {"venv": venv, "writable": writable, "ensurepip": True},
        "packages": {"onnxruntime": version},
    }


def test_doctor_names_the_pi_sigill_wheel_and_pins_a_later_one():
    from edgekit.devices.onnx_check import check_onnx

    problems, info = check_onnx("m.onnx", _facts("aarch64", "1.21.0"), "/home/pi/v/bin/python")
    (p,) = problems
    assert p.code == "onnxruntime-sigill" and "microsoft/onnxruntime#23957" in p.message
    assert "onnxruntime==1.23.0" in p.fixes[0].command
    assert check_onnx("m.onnx", _facts("x86_64", "1.21.0"), "python")[0] == []  # x86-64 wheels are fine
    assert check_onnx("m.onnx", _facts("aarch64", "1.23.0"), "python")[0] == []
    assert info["runtime"] == {"name": "onnxruntime", "version": "1.21.0"}


def test_doctor_installs_into_a_user_venv_when_the_board_venv_is_root_owned():
    from edgekit.devices.onnx_check import check_onnx

    (p,), _ = check_onnx("m.onnx", _facts("aarch64", None, venv=True, writable=False), "/opt/litert-venv/bin/python")
    assert p.code == "no-onnxruntime" and "SIGILL" in p.message and "#23957" in p.message
    kinds = [f.kind for f in p.fixes]
    assert kinds == ["venv", "pip", "manual"]
    assert p.fixes[0].argv == ["python3", "-m", "venv", "/home/pi/edgekit-venv"]
    assert p.fixes[1].argv == ["/home/pi/edgekit-venv/bin/python", "-m", "pip", "install", "onnxruntime==1.23.0", "numpy"]
    assert all(f.safe for f in p.fixes[:2])
    (p,), _ = check_onnx("m.onnx", _facts("x86_64", None), "/venv/bin/python")
    assert [f.argv for f in p.fixes] == [["/venv/bin/python", "-m", "pip", "install", "onnxruntime==1.32.0", "numpy"]]


def test_doctor_on_this_host_loads_the_model(rapidocr):
    proc = run_cli("doctor", str(rapidocr / CLS), "--json")
    assert proc.returncode == 0, proc.stderr
    (art,) = json.loads(proc.stdout)["artifacts"]
    assert art["format"] == "onnx" and art["ok"] and art["load"]["ok"] and art["load"]["runtime"] == "onnxruntime"
    assert art["runtime"]["name"] == "onnxruntime"
