"""PyTorch -> every TFLite target -> Edge TPU, from the main environment (issue 17).

The conversion runs in the ``litert`` toolchain (edgekit/toolchains) as a worker; the main
environment never imports litert-torch. The slow tests need that toolchain: they skip when it is not
installed here, and fail instead under CI (``CI=true``) or ``make test`` (EDGEKIT_REQUIRE_TOOLCHAINS=1),
which install it first. Each heavy build happens once per session (fixtures below).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from edgekit import api
from edgekit.build.artifacts import Manifest
from edgekit.edgetpu import rules
from tests.conftest import assert_one_line_error, need_toolchain, run_cli

WORKERS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "edgekit", "toolchains", "workers"
)


def litert_toolchain() -> str:
    """The litert toolchain's python; in CI a missing toolchain is a failure, never a skip."""
    if os.environ.get("CI") == "true":
        from edgekit.toolchains import ensure

        try:
            return ensure("litert", install=False)
        except Exception as exc:  # noqa: BLE001 - the reason is the test's failure message
            pytest.fail(f"CI must install the litert toolchain before the tests ({exc})")
    return need_toolchain("litert")


@pytest.fixture(scope="session")
def digits_tflite(digits_dir, tmp_path_factory):
    """``edgekit build`` (the CLI, main .venv) of the PyTorch digits example: fp32, int8, edgetpu."""
    litert_toolchain()
    work, _ = digits_dir
    out = tmp_path_factory.mktemp("torch_tflite_digits")
    proc = run_cli(
        "build",
        os.path.join(str(work), "edgekit.toml"),
        "-t",
        "tflite-fp32",
        "-t",
        "tflite-int8",
        "-t",
        "edgetpu",
        "-o",
        str(out),
        timeout=2400,
    )
    return proc, out, Manifest.load(str(out)).entries


@pytest.fixture(scope="session")
def mobilenet_tflite(tmp_path_factory):
    """The MobileNetV2-shaped example (random weights, random images) to fp32, int8 and edgetpu."""
    litert_toolchain()
    from examples.torch_mobilenet.mobilenet import random_images

    work = tmp_path_factory.mktemp("torch_tflite_mobilenet")
    np.savez(work / "images.npz", **random_images(32))
    (work / "edgekit.toml").write_text(
        'source = "examples.torch_mobilenet.mobilenet:mobilenet_v2"\n'
        'targets = ["tflite-fp32", "tflite-int8", "edgetpu"]\noutdir = "out"\n'
        '[calibration]\npath = "images.npz"\ncount = 24\neval_count = 8\n'
    )
    report = api.build(str(work / "edgekit.toml"))
    return report, {e.target: e for e in report.entries}


def _preflight(path: str) -> dict:
    proc = run_cli("edgetpu", "check", path, "--json")
    return json.loads(proc.stdout)


def _assert_edgetpu_ready(doc: dict) -> None:
    assert doc["ready"], doc["summary"]
    compute = [o for o in doc["ops"] if o["name"] in rules.COMPUTE_OPS]
    assert compute and all(o["placement"] == "tpu" for o in compute), [o for o in compute if o["placement"] != "tpu"]


# -- the digits example: the "done when" ---------------------------------------------------
@pytest.mark.slow
def test_digits_fp32_int8_edgetpu_from_the_main_environment(digits_tflite):
    proc, out, entries = digits_tflite
    assert "Traceback" not in proc.stderr
    fp32, int8, tpu = entries["tflite-fp32"], entries["tflite-int8"], entries["edgetpu"]
    assert fp32.status == "built" and int8.status == "built", (fp32.error, int8.error)
    # the converter and its version are in the manifest, from the toolchain (not the main env)
    for e in (fp32, int8):
        assert e.extra["converter"]["name"] == "litert-torch" and e.extra["converter"]["version"] == "0.10.0"
        assert e.tool_versions["litert-torch"] == "0.10.0" and e.tool_versions["torch"].startswith("2.13.0")
    assert int8.tool_versions["ai-edge-quantizer"] == "0.10.0"
    assert int8.quantization["recipe"] == "static_wi8_ai8" and int8.quantization["calibration_samples"] == 300
    # int8 I/O, full-integer, small
    assert [t["dtype"] for t in int8.inputs + int8.outputs] == ["int8", "int8"]
    assert int8.extra["float_ops"] == {}
    # 0.30x at two decimals: measured 59,104 / 196,992 bytes = 0.3000 (the 47,540 weights take a quarter;
    # int32 biases, per-channel scales and zero points and the tensor names are the rest)
    assert round(int8.size_bytes / fp32.size_bytes, 2) <= 0.30, (int8.size_bytes, fp32.size_bytes)
    # accuracy on the 449 held-out digits, against eager PyTorch
    for e in (fp32, int8):
        acc = e.accuracy
        assert acc["samples"] == 449 and acc["reference_accuracy"] > 90.0
        assert acc["reference_accuracy"] - acc["accuracy"] <= 0.5, acc
    assert fp32.accuracy["max_abs_error"] < 1e-4 and fp32.inputs[0]["shape"] == [1, 1, 8, 8]  # NCHW kept
    # edgetpu: the compiler is absent here; the entry says so and the preflight report is written
    assert tpu.status == "failed" and "edgetpu_compiler is not installed" in tpu.error["message"]
    assert os.path.isfile(out / "digits_cnn.tflite-int8.edgetpu-preflight.json")
    doc = _preflight(str(out / int8.file))
    _assert_edgetpu_ready(doc)
    layout = next(p for p in doc["problems"] if p["cause"] == "layout")  # the flatten's NHWC -> NCHW
    assert "inside the graph" in layout["message"] and "AdaptiveAvgPool2d" in layout["hint"]


@pytest.mark.slow
def test_digits_rebuild_is_answered_from_the_cache(digits_dir, digits_tflite):
    work, _ = digits_dir
    _, out, first = digits_tflite
    report = api.build(os.path.join(str(work), "edgekit.toml"), targets=["tflite-fp32", "tflite-int8"], outdir=str(out))
    assert [e.status for e in report.entries] == ["cached", "cached"]
    assert report.entries[1].sha256 == first["tflite-int8"].sha256


# -- the MobileNetV2-shaped example ----------------------------------------------------------------
@pytest.mark.slow
def test_mobilenet_int8_size_drift_and_preflight(mobilenet_tflite):
    report, entries = mobilenet_tflite
    fp32, int8 = entries["tflite-fp32"], entries["tflite-int8"]
    assert fp32.status == "built" and int8.status == "built", (fp32.error, int8.error)
    assert int8.size_bytes <= 0.30 * fp32.size_bytes, (int8.size_bytes, fp32.size_bytes)
    assert fp32.accuracy["cosine"] > 0.9999  # float against its own eager model
    assert int8.accuracy["cosine"] > 0.95, int8.accuracy  # int8 against the same float model
    assert [t["dtype"] for t in int8.inputs + int8.outputs] == ["int8", "int8"]
    assert int8.inputs[0]["shape"] == [1, 3, 224, 224]
    # litert-torch's one layout TRANSPOSE sits at the input: harmless on the Edge TPU either way
    assert int8.extra["ops"]["TRANSPOSE"] == 1
    doc = _preflight(os.path.join(report.outdir, int8.file))
    _assert_edgetpu_ready(doc)
    first = doc["ops"][0]
    assert first["name"] == "TRANSPOSE" and first["placement"] == "tpu"
    layout = next(p for p in doc["problems"] if p["cause"] == "layout")
    assert "#0 NCHW -> NHWC at the input" in layout["message"] and layout["hint"].startswith("none needed")
    assert not any(p["rule"] == "R7" for p in doc["problems"])  # op versions compiler 16 reads
    tpu = entries["edgetpu"]
    assert "edgetpu_compiler is not installed" in tpu.error["message"]


# -- every other mode, the alias and the I/O types (a small factory model, random calibration) ------
@pytest.fixture(scope="session")
def tiny_modes(tmp_path_factory):
    litert_toolchain()
    work = tmp_path_factory.mktemp("torch_tflite_modes")
    np.savez(work / "data.npz", x=np.random.default_rng(0).uniform(0, 1, (64, 1, 8, 8)).astype(np.float32))
    (work / "edgekit.toml").write_text(
        'source = "tests.build_torch.models:tiny_cnn"\noutdir = "out"\n'
        'targets = ["tflite-from-torch", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int16x8"]\n'
        '[calibration]\npath = "data.npz"\ncount = 48\neval_count = 16\n'
        '[options.tflite-int8]\nio_dtype = "uint8"\n'
    )
    report = api.build(str(work / "edgekit.toml"))
    return report, {e.target: e for e in report.entries}


@pytest.mark.slow
def test_every_mode_builds_from_a_module_factory(tiny_modes):
    _, e = tiny_modes
    assert all(x.status == "built" for x in e.values()), {k: x.error for k, x in e.items()}
    alias = e["tflite-from-torch"]  # tflite-fp32 under its old name
    assert alias.file == "tiny_cnn.tflite-from-torch.tflite" and alias.quantization["weights"] == "float32"
    assert alias.accuracy["max_abs_error"] < 1e-4
    assert e["tflite-fp16"].quantization["weights"] == "float16"
    assert 0.4 < e["tflite-fp16"].size_bytes / alias.size_bytes < 0.7
    assert e["tflite-dynamic"].size_bytes < 0.5 * alias.size_bytes
    assert [t["dtype"] for t in e["tflite-int8"].inputs + e["tflite-int8"].outputs] == ["uint8", "uint8"]
    assert [t["dtype"] for t in e["tflite-int16x8"].inputs] == ["float32"]  # its default I/O
    assert e["tflite-int16x8"].quantization["activations"] == "int16"
    for name in ("tflite-from-torch", "tflite-fp16", "tflite-dynamic"):
        assert e[name].accuracy["cosine"] > 0.999, (name, e[name].accuracy)
    for name in ("tflite-int8", "tflite-int16x8"):  # random weights, 48 calibration samples: ~0.97 measured
        assert e[name].accuracy["cosine"] > 0.95, (name, e[name].accuracy)


# -- without the toolchain: the failures are one line ----------------------------------------------
def test_a_toolchain_that_cannot_run_is_one_line_and_the_other_targets_build(tmp_path):
    proc = run_cli(
        "build",
        "--source",
        "tests.build_torch.models:tiny_cnn",
        "-t",
        "tflite-fp32",
        "-t",
        "ptl",
        "-o",
        str(tmp_path),
        env={"EDGEKIT_TOOLCHAIN_LITERT_PYTHON": str(tmp_path / "no-python")},
    )
    entries = Manifest.load(str(tmp_path)).entries
    assert entries["ptl"].status == "built"
    err = entries["tflite-fp32"].error
    assert entries["tflite-fp32"].status == "failed" and "EDGEKIT_TOOLCHAIN_LITERT_PYTHON" in err["message"]
    assert "Traceback" not in proc.stderr


def test_options_that_do_not_fit_the_source_are_refused_before_converting(tmp_path):
    proc = run_cli(
        "build",
        "--source",
        "tests.build_torch.models:tiny_cnn",
        "-t",
        "tflite-int8",
        "--random-calibration",
        "--option",
        "tflite-int8.quantizer=pt2e",
        "--option",
        "tflite-int8.io_dtype=uint8",
        "-o",
        str(tmp_path),
    )
    assert_one_line_error(proc, "quantizer 'pt2e' writes int8 inputs")
    proc = run_cli(
        "build",
        "--source",
        "tests.build_torch.models:tiny_cnn",
        "-t",
        "tflite-int8",
        "--random-calibration",
        "--option",
        "tflite-int8.quantizer=qat",
        "-o",
        str(tmp_path),
    )
    assert_one_line_error(proc, "quantizer 'qat' is not supported", "ai-edge-quantizer, pt2e")


# -- the worker's I/O rewrite, run here on a hand-made int8 model (ai_edge_litert is in both envs) ---
def _int8_relu_model() -> bytes:
    from tests.inspect.modelgen import Graph

    g = Graph()
    x = g.tensor("x", [1, 4], "int8", scale=0.1, zero_point=-3)
    y = g.tensor("y", [1, 4], "int8", scale=0.1, zero_point=-3)
    g.op("RELU", [x], [y])
    g.inputs, g.outputs = [x], [y]
    return g.to_bytes()


@pytest.mark.parametrize("io_dtype", ["uint8", "float32"])
def test_worker_io_rewrite_gives_the_asked_types_and_the_same_values(io_dtype):
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    sys.path.insert(0, WORKERS)
    try:
        import litert_convert
    finally:
        sys.path.remove(WORKERS)
    it = Interpreter(model_content=litert_convert.set_io(_int8_relu_model(), io_dtype))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    assert i["dtype"].__name__ == o["dtype"].__name__ == io_dtype
    real = np.array([[-0.5, 0.0, 0.3, 1.2]], dtype=np.float32)
    if io_dtype == "uint8":
        scale, zp = i["quantization"]
        assert zp == -3 + 128 and abs(scale - 0.1) < 1e-7
        it.set_tensor(i["index"], np.round(real / scale + zp).astype(np.uint8))
        it.invoke()
        s, z = o["quantization"]
        got = (it.get_tensor(o["index"]).astype(np.float32) - z) * s
    else:
        it.set_tensor(i["index"], real)
        it.invoke()
        got = it.get_tensor(o["index"])
    np.testing.assert_allclose(got, np.maximum(real, 0), atol=0.051)
