"""End to end on the emulated Raspberry Pi: doctor, deploy and bench across architectures.

The board (tests/boards/board.py) is an arm64 Debian userland under qemu-user reached over SSH on
127.0.0.1: another CPU architecture, Python 3.11 in a virtualenv, ai-edge-litert's aarch64 build,
no TensorFlow. Artifacts are built here on x86-64 (the TensorFlow build path) or are real Coral
models. Emulation is ~90x slower than native, so models are small and runs are few; the timings
only prove that it runs (the results say so: device.emulated).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.boards.conftest import DEVICE
from tests.conftest import ROOT, assert_one_line_error, run_cli

# A cold first run builds the board (~5 min idle, far more on a loaded machine) inside the first
# test's setup, or waits there for CI's background pre-build: more than the suite's 900 s default.
pytestmark = [pytest.mark.board, pytest.mark.slow, pytest.mark.timeout(1800)]

CORAL_MODEL = "mobilenet_v1_0.25_128_quant"  # 45 ms per invoke emulated (measured-facts)
FEW_RUNS = ("--warmup", "1", "--min-runs", "3", "--min-time", "0")
MACAW = 89  # imagenet_labels.txt, index 0 = background


# --- artifacts and fixed inputs, made on the host ------------------------------------------------


@pytest.fixture(scope="session")
def digits_artifacts(tmp_path_factory) -> dict:
    """fp32 and int8 TFLite files from the TensorFlow build path (`edgekit build`) on this host."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("the TensorFlow build path needs tensorflow-cpu (pip install -e '.[tf]')")
    work = tmp_path_factory.mktemp("digits")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "examples" / "keras_digits"), TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(
        [sys.executable, "-c", f"import digits; digits.prepare({str(work)!r})"],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    run_cli("build", work / "edgekit.toml", "-t", "tflite-fp32", "-t", "tflite-int8", check=True, timeout=900)
    out = work / "artifacts"
    arts = {"fp32": out / "digits_cnn.tflite-fp32.tflite", "int8": out / "digits_cnn.tflite-int8.tflite"}
    assert all(p.exists() for p in arts.values()), list(out.iterdir())
    arts["manifest"] = out / "manifest.json"
    arts["test"] = work / "test.npz"
    return arts


def _input_details(model: Path) -> list[dict]:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(model)).get_input_details()


def _quantize_like(x: np.ndarray, detail: dict) -> np.ndarray:
    """Real data in the dtype the model's input takes (int8 models quantize their input)."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


@pytest.fixture(scope="session")
def digits_inputs(digits_artifacts, tmp_path_factory) -> dict:
    """Eight held-out digits per model, as .npz keyed by the input's name (pushed to the board)."""
    d = tmp_path_factory.mktemp("digits-inputs")
    with np.load(digits_artifacts["test"]) as data:
        x = data["pixels"][:1]  # batch 1: the model's fixed input shape
    files = {}
    for kind in ("fp32", "int8"):
        detail = _input_details(digits_artifacts[kind])[0]
        path = d / f"{kind}.npz"
        np.savez(path, **{detail["name"]: _quantize_like(x, detail)})
        files[kind] = path
    return files


@pytest.fixture(scope="session")
def coral_inputs(coral_models, coral, tmp_path_factory) -> Path:
    """The parrot photo as the Coral model's uint8 input, prepared on the host (no Pillow on the board)."""
    from edgekit.harness.inputs import image_to_array
    from edgekit.runtimes.base import TensorSpec

    detail = _input_details(coral_models / f"{CORAL_MODEL}.tflite")[0]
    scale, zero = detail["quantization"]
    spec = TensorSpec(
        name=detail["name"],
        shape=[int(v) for v in detail["shape"]],
        dtype=np.dtype(detail["dtype"]).name,
        scale=scale or None,
        zero_point=int(zero),
    )
    arr = image_to_array(str(coral / "images" / "parrot.jpg"), spec)
    path = tmp_path_factory.mktemp("coral-inputs") / "parrot.npz"
    np.savez(path, **{detail["name"]: arr})
    return path


# --- doctor --------------------------------------------------------------------------------------


def test_doctor_reports_the_board_and_which_artifacts_it_can_run(board_cli, digits_artifacts, coral_models):
    models = [
        digits_artifacts["int8"],
        coral_models / f"{CORAL_MODEL}.tflite",
        coral_models / f"{CORAL_MODEL}_edgetpu.tflite",
        coral_models / "model_invoking_error.tflite",
    ]
    proc = board_cli("doctor", "--device", DEVICE, "--json", *models, timeout=900)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert proc.returncode == 1, "two of the four artifacts cannot run there"
    facts = report["facts"]
    assert facts["os"]["machine"] == "aarch64"
    assert facts["python"]["version"].startswith("3.11.")
    assert facts["python"]["venv"]
    assert facts["packages"]["ai-edge-litert"] == "2.3.0"
    assert not facts["packages"].get("tensorflow") and not facts["packages"].get("tensorflow-cpu")
    assert not facts.get("libedgetpu")
    by_name = {a["name"]: a for a in report["artifacts"]}
    assert by_name[digits_artifacts["int8"].name]["ok"], by_name[digits_artifacts["int8"].name]["problems"]
    assert by_name[f"{CORAL_MODEL}.tflite"]["ok"]
    assert by_name[f"{CORAL_MODEL}.tflite"]["load"]["ok"]  # really loaded by the board's LiteRT
    edgetpu = by_name[f"{CORAL_MODEL}_edgetpu.tflite"]
    assert not edgetpu["ok"]
    assert "no-libedgetpu" in {p["code"] for p in edgetpu["problems"]}
    bad = by_name["model_invoking_error.tflite"]
    assert not bad["ok"]
    assert any(p["code"] == "load-failed" and "fake-op-double" in p["message"] for p in bad["problems"]), bad["problems"]


def test_doctor_text_names_the_problems_without_a_crash(board_cli, coral_models):
    proc = board_cli(
        "doctor",
        "--device",
        DEVICE,
        coral_models / f"{CORAL_MODEL}_edgetpu.tflite",
        coral_models / "model_invoking_error.tflite",
        timeout=900,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_one_line_error(proc, "2 of 2 artifact(s) cannot run on device")
    text = " ".join(proc.stdout.split())
    assert "aarch64" in text
    assert "libedgetpu" in text and "apt-get install" in text
    assert "fake-op-double" in text


def test_bench_of_models_the_board_cannot_run_is_one_clear_error(board_cli, coral_models):
    proc = board_cli("bench", "--device", DEVICE, *FEW_RUNS, coral_models / f"{CORAL_MODEL}_edgetpu.tflite")
    assert_one_line_error(proc, "edge tpu")
    proc = board_cli("bench", "--device", DEVICE, *FEW_RUNS, coral_models / "model_invoking_error.tflite")
    assert_one_line_error(proc)


# --- deploy, then bench --------------------------------------------------------------------------


def test_deploy_puts_verified_artifacts_on_the_board(board, board_cli, digits_artifacts, coral_models):
    models = [digits_artifacts["int8"], coral_models / f"{CORAL_MODEL}.tflite"]
    proc = board_cli("deploy", "--device", DEVICE, "--json", *models)
    assert proc.returncode == 0, proc.stderr
    proc = board_cli("deploy", "--device", DEVICE, "--verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # What is on the board is byte for byte what was built here.
    from edgekit.build.artifacts import sha256_file

    listing = board.ssh(
        "cd ~ && find . -path '*current*' -name '*.tflite' | head -20; "
        "for f in $(find -L . -path '*current/*.tflite'); do sha256sum \"$f\"; done",
        check=True,
    )
    on_board = {line.split()[0] for line in listing.stdout.splitlines() if len(line.split()) == 2 and len(line.split()[0]) == 64}
    assert {sha256_file(str(m)) for m in models} <= on_board, listing.stdout


def test_bench_on_the_board_gives_the_common_schema_marked_emulated(board_cli, coral_models, coral_inputs, tmp_path):
    from edgekit.results.schema import validate

    out = tmp_path / "result.json"
    proc = board_cli(
        "bench", "--device", DEVICE, *FEW_RUNS, "--input", coral_inputs, "-o", out, coral_models / f"{CORAL_MODEL}.tflite"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Emulated device" in " ".join(proc.stdout.split())
    result = json.loads(out.read_text())
    validate(result)
    assert result["status"] == "ok"
    assert result["platform"]["machine"] == "aarch64"
    assert result["device"]["name"] == DEVICE and result["device"]["emulated"] is True
    assert result["runtime"]["name"] == "ai_edge_litert" and result["runtime"]["version"] == "2.3.0"
    assert result["latency_ms"]["n"] >= 3


def _outputs(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"output_{i}"] for i in range(len(data.files))]


def _run_both(model: Path, inputs: Path, tmp_path: Path, devices_dir: Path) -> tuple[dict, list, dict, list]:
    """The same model and inputs once on the host and once on the board, outputs saved."""
    from edgekit import api

    opts = dict(inputs={"kind": "file", "path": str(inputs)}, warmup=0, min_runs=1, min_time_s=0.0, max_runs=1)
    host = api.bench(str(model), save_outputs=str(tmp_path / "host.npz"), timeout=300, **opts)
    dev = api.bench(
        str(model), device=DEVICE, devices_dir=[str(devices_dir)], save_outputs=str(tmp_path / "board.npz"), timeout=600, **opts
    )
    return host, _outputs(tmp_path / "host.npz"), dev, _outputs(tmp_path / "board.npz")


def _assert_same_outputs(host_out, dev_out, spec: dict, tol_steps: float) -> None:
    from edgekit.harness.inputs import dequantize
    from edgekit.runtimes.base import TensorSpec

    assert len(host_out) == len(dev_out)
    ts = TensorSpec(**spec)
    h, d = dequantize(host_out[0], ts).ravel(), dequantize(dev_out[0], ts).ravel()
    assert np.argmax(h) == np.argmax(d)
    tol = tol_steps * ts.scale if ts.quantized else 1e-4
    assert np.max(np.abs(h - d)) <= tol, (np.max(np.abs(h - d)), tol)


@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_tf_built_artifact_matches_the_host_run(kind, digits_artifacts, digits_inputs, board_devices_dir, tmp_path):
    host, host_out, dev, dev_out = _run_both(digits_artifacts[kind], digits_inputs[kind], tmp_path, board_devices_dir)
    assert host["platform"]["machine"] != "aarch64" and dev["platform"]["machine"] == "aarch64"
    assert dev["device"]["emulated"] is True and not host["device"].get("emulated")
    assert dev["artifact"]["sha256"] == host["artifact"]["sha256"]
    # int8 kernels on ARM and x86 may round one step apart; float within 1e-4.
    _assert_same_outputs(host_out, dev_out, dev["output_specs"][0], tol_steps=1)


def test_coral_model_matches_the_host_run_and_sees_a_macaw(coral_models, coral_inputs, board_devices_dir, tmp_path):
    host, host_out, dev, dev_out = _run_both(coral_models / f"{CORAL_MODEL}.tflite", coral_inputs, tmp_path, board_devices_dir)
    assert dev["platform"]["machine"] == "aarch64" and dev["device"]["emulated"] is True
    _assert_same_outputs(host_out, dev_out, dev["output_specs"][0], tol_steps=1)
    assert int(np.argmax(dev_out[0])) == MACAW


def test_run_on_the_board_without_pillow_prints_macaw(board_cli, coral_models, coral):
    """The board has numpy and ai-edge-litert only: `edgekit run --device` decodes the image here."""
    r = board_cli(
        "run",
        "--device",
        DEVICE,
        coral_models / f"{CORAL_MODEL}.tflite",
        "--image",
        coral / "images" / "parrot.jpg",
        "--labels",
        coral / "labels" / "imagenet_labels.txt",
        "--top-k",
        "1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["top_k"][0]["label"] == "macaw"
