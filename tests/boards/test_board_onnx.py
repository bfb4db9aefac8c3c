"""An .onnx on the emulated Raspberry Pi: provision installs onnxruntime into a venv the board's user
owns (the board's /opt/litert-venv belongs to root), and a bench there gives the host's outputs.

onnxruntime publishes manylinux aarch64 wheels; provision pins 1.23.0 there (the Pi 4 SIGILL of the
1.21.0 wheel, microsoft/onnxruntime#23957, is what doctor warns about). Installing it under qemu
took 85 s when measured; the bench itself is a few runs of the small RapidOCR classifier.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.boards import board as board_mod
from tests.boards.conftest import DEVICE
from tests.conftest import SHARED

pytestmark = [pytest.mark.board, pytest.mark.slow, pytest.mark.timeout(2400)]
pytest.importorskip("onnxruntime")

CLS = SHARED / "testdata" / "onnx" / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
ORT_DEVICE = "emulated-pi-onnx"
FEW = dict(warmup=1, min_runs=3, min_time_s=0.0, threads=1, input_shapes={"x": [1, 3, 48, 192]})


@pytest.fixture(scope="module")
def provisioned(board, board_cli, board_devices_dir):
    if not CLS.is_file():
        pytest.skip(f"shared RapidOCR models not found at {CLS.parent}")
    before = board_cli("doctor", "--device", DEVICE, "--json", str(CLS), timeout=900)
    (art,) = json.loads(before.stdout)["artifacts"]
    codes = {p["code"] for p in art["problems"]}
    venv = f"{json.loads(before.stdout)['facts']['home']}/edgekit-venv"
    if "no-onnxruntime" in codes:
        proc = board_cli("provision", "--device", DEVICE, "--json", str(CLS), timeout=2000)
        assert proc.returncode in (0, 1), proc.stderr
        steps = json.loads(proc.stdout)["steps"]
        ran = [s for s in steps if s["action"] == "ran"]
        assert [s.get("returncode") for s in ran] == [0] * len(ran), steps
        assert any("onnxruntime==1.23.0" in s["command"] for s in ran)
        assert any(s["command"].startswith("python3 -m venv") for s in ran)
    # The profile for .onnx points at the venv provision made (its manual step says so).
    toml = board_mod.profile_toml(board, ORT_DEVICE).replace(f'python = "{board.python}"', f'python = "{venv}/bin/python"')
    toml = toml.replace('runtimes = ["tflite"]', 'runtimes = ["onnx"]')
    (board_devices_dir / f"{ORT_DEVICE}.toml").write_text(toml)
    return venv


def test_doctor_then_sees_onnxruntime_and_loads_the_model(provisioned, board_cli):
    proc = board_cli("doctor", "--device", ORT_DEVICE, "--json", str(CLS), timeout=900)
    (art,) = json.loads(proc.stdout)["artifacts"]
    assert art["ok"], art["problems"]
    assert art["runtime"] == {"name": "onnxruntime", "version": "1.23.0"}
    assert art["load"]["ok"] and art["load"]["runtime"] == "onnxruntime"


def test_bench_on_the_board_gives_the_host_outputs(provisioned, board_devices_dir, tmp_path):
    from edgekit import api

    host = api.bench(str(CLS), save_outputs=str(tmp_path / "host.npz"), **FEW)
    dev = api.bench(
        str(CLS),
        device=ORT_DEVICE,
        devices_dir=[str(board_devices_dir)],
        save_outputs=str(tmp_path / "board.npz"),
        timeout=900,
        **FEW,
    )
    assert dev["status"] == "ok"
    assert dev["platform"]["machine"] == "aarch64" and dev["device"]["emulated"] is True
    assert dev["runtime"]["name"] == "onnxruntime" and dev["runtime"]["version"] == "1.23.0"
    assert dev["method"]["output_check"]["status"] == "ok"
    assert dev["artifact"]["sha256"] == host["artifact"]["sha256"]
    with np.load(tmp_path / "host.npz") as h, np.load(tmp_path / "board.npz") as b:
        a, c = h["output_0"], b["output_0"]
    assert a.shape == c.shape == (1, 2)
    # Other CPU, other kernels (NEON vs AVX): equal to float rounding, and the same class.
    np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-6)
    assert a.argmax() == c.argmax()
