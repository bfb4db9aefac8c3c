"""edgekit bench / run on real models nobody on this project made (../shared/testdata/coral)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit import api
from edgekit.errors import EdgekitError
from edgekit.results import schema
from tests.conftest import assert_one_line_error, run_cli

pytest.importorskip("ai_edge_litert")

FAST = dict(warmup=1, min_runs=3, min_time_s=0.05)
# CPU models that a stock TFLite runtime can run. posenet's CPU model is left out on purpose: its
# PosenetDecoderOp custom op ships only in Coral's posenet library (tested as a clear error below).
CPU_MODELS = [
    "mobilenet_v1_0.25_128_quant",
    "mobilenet_v1_0.5_160_quant",
    "mobilenet_v2_1.0_224_quant",
    "deeplabv3_mnv2_dm05_pascal_quant",
    "keras_lstm_mnist_ptq",
    "split_concat",
    "ssd_mobilenet_v1_coco_quant_postprocess_head_layers",
]


@pytest.mark.parametrize("name", CPU_MODELS)
def test_every_cpu_model_benchmarks(coral_models, name):
    result = api.bench(str(coral_models / f"{name}.tflite"), threads=2, **FAST)
    schema.validate(result)
    lat = result["latency_ms"]
    assert result["status"] == "ok"
    assert lat["n"] == len(result["samples_ms"]) >= 3
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert result["init_ms"] > 0 and result["first_inference_ms"] > 0
    assert result["artifact"]["size_bytes"] == (coral_models / f"{name}.tflite").stat().st_size
    assert 0 < result["artifact"]["gzip_bytes"]
    assert len(result["artifact"]["sha256"]) == 64
    assert result["runtime"]["name"] == "ai_edge_litert" and result["runtime"]["version"]
    assert result["memory"]["peak_rss_bytes"] > 10 * 2**20
    assert result["platform"]["machine"]
    assert result["device"]["fingerprint"]["cpu_count"] >= 1


def test_xnnpack_coverage_is_reported_and_switchable(coral_models):
    model = str(coral_models / "mobilenet_v2_1.0_224_quant.tflite")
    on = api.bench(model, threads=2, **FAST)
    (xnn,) = on["delegates"]
    assert xnn["name"] == "XNNPACK"
    assert xnn["total_nodes"] == 66
    assert 0 < xnn["nodes"] < xnn["total_nodes"]
    assert sum(xnn["not_delegated"].values()) == xnn["total_nodes"] - xnn["nodes"]
    off = api.bench(model, threads=2, xnnpack=False, **FAST)
    assert off["delegates"] == [] and off["runtime"]["xnnpack"] is False


def test_min_runs_and_min_time_are_both_honoured(coral_models):
    model = str(coral_models / "split_concat.tflite")
    many = api.bench(model, warmup=0, min_runs=500, min_time_s=0.0)
    assert many["latency_ms"]["n"] == 500
    timed = api.bench(model, warmup=0, min_runs=1, min_time_s=0.3)
    assert timed["wall_time_s"] >= 0.3 and timed["latency_ms"]["n"] > 1


def test_bench_cli_json_and_table(coral_models, tmp_path):
    model = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    out = tmp_path / "r.json"
    proc = run_cli("bench", model, "--threads", "2", "--min-time", "0.1", "--min-runs", "5", "--json", "-o", out)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    saved = json.loads(out.read_text())
    assert printed["artifact"]["sha256"] == saved["artifact"]["sha256"]
    schema.validate(saved)
    assert saved["model"]["macs"] == pytest.approx(13.57e6, rel=0.01)  # MobileNet v1 0.25 at 128: ~14 M MACs
    assert saved["model"]["mac_per_s"] > 0
    table = run_cli("bench", model, "--min-time", "0.1", "--min-runs", "5")
    assert table.returncode == 0, table.stderr
    for needle in ("Time (p50", "Range (min", "XNNPACK", "Peak memory", "Init:"):
        assert needle in table.stdout


def test_inputs_from_npy_and_image(coral, tmp_path):
    model = str(coral / "models" / "mobilenet_v1_0.25_128_quant.tflite")
    arr = np.random.default_rng(0).integers(0, 256, size=(1, 128, 128, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", arr)
    r = api.bench(model, inputs={"kind": "file", "path": str(tmp_path / "x.npy")}, **FAST)
    assert r["inputs"] == "x.npy"
    r = api.bench(model, inputs={"kind": "image", "path": str(coral / "images" / "parrot.jpg")}, **FAST)
    assert r["inputs"] == "parrot.jpg"


@pytest.mark.parametrize(
    "model_name",
    ["mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "mobilenet_v2_1.0_224_quant"],
)
def test_run_prints_macaw_for_parrot(coral, model_name):
    proc = run_cli(
        "run",
        coral / "models" / f"{model_name}.tflite",
        "--image",
        coral / "images" / "parrot.jpg",
        "--labels",
        coral / "labels" / "imagenet_labels.txt",
        "--top-k",
        "3",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    top = json.loads(proc.stdout)["top_k"]
    assert len(top) == 3
    assert top[0]["label"] == "macaw"
    assert top[0]["score"] > 0.5 and top[0]["score"] >= top[1]["score"]
    table = run_cli(
        "run",
        coral / "models" / f"{model_name}.tflite",
        "--image",
        coral / "images" / "parrot.jpg",
        "--labels",
        coral / "labels" / "imagenet_labels.txt",
    )
    assert table.returncode == 0 and "macaw" in table.stdout


# ---- errors a user can cause: one line, non-zero exit, no traceback ----


def test_missing_file(tmp_path):
    assert_one_line_error(run_cli("bench", tmp_path / "nope.tflite"), "no such file")
    assert_one_line_error(run_cli("run", tmp_path / "nope.tflite", "--image", "x.jpg"), "no such file")


def test_not_a_tflite_file(tmp_path):
    bogus = tmp_path / "notes.tflite"
    bogus.write_text("this is not a model, just text long enough to have a header")
    assert_one_line_error(run_cli("bench", bogus), "not a tflite model")


def test_truncated_flatbuffer(coral_models, tmp_path):
    data = (coral_models / "mobilenet_v1_0.25_128_quant.tflite").read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 3])
    line = assert_one_line_error(run_cli("bench", cut, "--min-time", "0"))
    assert line == (
        f"edgekit: {cut} could not be loaded as a TFLite model (The model is not a valid Flatbuffer buffer); "
        "the file is truncated or corrupt; rebuild or re-download it"
    )


def test_unresolved_custom_op(coral_models):
    assert_one_line_error(run_cli("bench", coral_models / "model_invoking_error.tflite"), "fake-op-double")
    assert_one_line_error(
        run_cli("bench", coral_models / "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"),
        "PosenetDecoderOp",
    )


def test_wrong_input_shape_and_dtype(coral_models, tmp_path):
    model = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    np.save(tmp_path / "shape.npy", np.zeros((1, 64, 64, 3), np.uint8))
    assert_one_line_error(run_cli("bench", model, "--input", tmp_path / "shape.npy"), "shape")
    np.save(tmp_path / "dtype.npy", np.zeros((1, 128, 128, 3), np.float32) + 0.5)
    assert_one_line_error(run_cli("bench", model, "--input", tmp_path / "dtype.npy"), "float32", "uint8")
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 128, 128, 3), np.uint8), b=np.zeros(3))
    assert_one_line_error(run_cli("bench", model, "--input", tmp_path / "two.npz"), "input")


def test_runtime_not_installed(coral_models):
    # tflite_runtime is deliberately not in the pinned environment (it needs numpy < 2).
    line = assert_one_line_error(run_cli("bench", coral_models / "split_concat.tflite", "--runtime", "tflite_runtime"))
    assert "tflite_runtime" in line and "pip install" in line
    assert_one_line_error(run_cli("bench", coral_models / "split_concat.tflite", "--runtime", "bogus"), "choose one of")


def test_worker_crash_is_one_clear_error(coral_models, tmp_path):
    """A runtime that dies by a signal takes down its worker only; edgekit names the signal."""
    import os
    import sys

    from edgekit.transports.host import HostTransport

    crashing = tmp_path / "python-that-segfaults"
    crashing.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import os, signal; os.kill(os.getpid(), signal.SIGSEGV)'\n")
    os.chmod(crashing, 0o755)
    spec = api.bench_spec(str(coral_models / "split_concat.tflite"), **FAST)
    result = HostTransport(python=str(crashing)).run_worker(spec, timeout=30)
    schema.validate(result)  # a crash is an error result, so a batch or a pool goes on
    err = result["error"]
    assert err["signal"] == "SIGSEGV" and err["exit_status"] == -11
    line = EdgekitError(err["message"], err["hint"]).line()
    assert "\n" not in line and "SIGSEGV" in line and "runtime process" in line
    assert "edgekit inspect" in line and "--no-xnnpack" in line  # the .tflite record's next step


def test_bad_flags_are_one_line(coral_models):
    assert_one_line_error(run_cli("bench", coral_models / "split_concat.tflite", "--threads", "0"), "threads")


def test_empty_file_and_directory(tmp_path):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    assert_one_line_error(run_cli("bench", empty), "is empty")
    assert_one_line_error(run_cli("inspect", empty), "is empty")
    assert_one_line_error(run_cli("bench", tmp_path), "is a directory")
