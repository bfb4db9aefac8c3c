"""adb: the benchmark_model parser on real output (origins in data/README.md), and the real
Debian `adb` binary with no phone attached (discovery and clear errors)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgekit.results.schema import validate
from edgekit.transports.adb_discovery import parse_devices
from edgekit.transports.android_benchmark_model import benchmark_model_argv, result_from_benchmark_model
from edgekit.transports.tool_output import parse_benchmark_model, parse_executor_runner
from tests.conftest import assert_one_line_error, run_cli

DATA = Path(__file__).parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text()


def base() -> dict:
    return {
        "schema": "edgekit.result",
        "schema_version": 1,
        "edgekit_version": "0",
        "created": "now",
        "status": "error",
        "artifact": {"path": "m.tflite", "name": "m.tflite", "format": "tflite"},
        "device": {"name": "phone", "transport": "adb", "emulated": False},
        "platform": {},
        "runtime": {},
        "settings": {},
    }


def test_android_xnnpack_output():
    # a user's arm64 Android terminal session (newer benchmark_model with percentiles)
    p = parse_benchmark_model(read("benchmark_model_android_xnnpack.txt"))
    assert p["ok"] and not p["errors"]
    assert p["init_ms"] == pytest.approx(119.515) and p["first_inference_ms"] == pytest.approx(87.112)
    assert p["warmup_avg_ms"] == pytest.approx(58.1474) and p["warmup_count"] == 9
    s = p["steady"]
    assert s["count"] == 1000 and s["min"] == pytest.approx(49.088) and s["max"] == pytest.approx(686.105)
    assert s["avg"] == pytest.approx(63.7432) and s["std"] == pytest.approx(60.716)
    assert (s["p5"], s["median"], s["p95"]) == pytest.approx((49.620, 51.891, 68.628))
    assert p["memory_mb"] == {"init": 55.4961, "overall": 55.4961}
    assert p["delegates"] == [{"name": "XNNPACK", "nodes": 2168, "total_nodes": 2168, "partitions": 1}]
    assert p["fallback"] is None
    result = validate(result_from_benchmark_model(base(), p, ""))
    assert result["status"] == "ok" and result["latency_ms"]["p50"] == pytest.approx(51.891)
    assert result["latency_ms"]["aggregate_only"] is True and result["samples_ms"] == []
    assert result["latency_ms"]["p99"] is None  # not measured by the tool: left empty, not invented
    assert result["memory"]["peak_rss_bytes"] == int(55.4961 * 1024 * 1024)


def test_failed_allocation_is_an_error_result():
    text = read("benchmark_model_android_alloc_error.txt")
    p = parse_benchmark_model(text)
    assert not p["ok"]
    assert "Node number 57 (BATCH_MATMUL) failed to prepare." in p["errors"]
    result = validate(result_from_benchmark_model(base(), p, text))
    assert result["status"] == "error" and "BATCH_MATMUL" in result["error"]["message"]


def test_gpu_delegate_partial_fallback_is_reported():
    # adb logcat of benchmark_model on a Snapdragon SM6115 phone, GPU delegate requested
    p = parse_benchmark_model(read("benchmark_model_sm6115_gpu.txt"), requested_delegate="gpu")
    assert p["ok"]
    assert p["delegates"][0] == {"name": "GPU", "nodes": 54, "total_nodes": 559, "partitions": 3}
    assert p["delegates"][1]["name"] == "XNNPACK" and p["delegates"][1]["nodes"] == 456
    assert p["fallback"] == "the GPU delegate took 54 of 559 nodes; the rest ran on the CPU"
    assert p["init_ms"] == pytest.approx(2227.672)
    result = validate(result_from_benchmark_model(base(), p, ""))
    assert result["delegate_fallback"].startswith("the GPU delegate took 54")


def test_nnapi_that_takes_nothing_is_a_cpu_fallback():
    p = parse_benchmark_model(read("benchmark_model_sm6115_nnapi.txt"), requested_delegate="nnapi")
    assert p["ok"] and p["fallback"] == "the NNAPI delegate took no node; the model ran on the CPU"
    assert [d["name"] for d in p["delegates"]] == ["XNNPACK"]
    assert p["steady"]["median"] == pytest.approx(270.283)


def test_older_benchmark_model_without_percentiles():
    # older benchmark_model on an emulated aarch64 Linux image, with op profiling on
    p = parse_benchmark_model(read("benchmark_model_linux_old.txt"))
    assert p["ok"]
    s = p["steady"]
    assert s["count"] == 50 and s["avg"] == pytest.approx(2950.34) and "median" not in s
    assert p["memory_mb"]["overall"] == pytest.approx(46.0859)
    result = validate(result_from_benchmark_model(base(), p, ""))
    assert result["latency_ms"]["p50"] is None and result["latency_ms"]["mean"] == pytest.approx(2950.34)


def test_executor_runner_log_line():
    # the log line format of ExecuTorch's executor_runner.cpp: ET_LOG(Info, "Model executed
    # successfully %" PRIu32 " time(s) in %f ms.", ...); the prefix is ET_LOG's.
    text = "I 00:00:01.204511 executorch:executor_runner.cpp:238] Model executed successfully 20 time(s) in 61.840000 ms.\n"
    p = parse_executor_runner(text)
    assert p["ok"] and p["count"] == 20 and p["avg_ms"] == pytest.approx(3.092)
    assert not parse_executor_runner("E 00:00:00.1 executorch:method.cpp:1] Execution of method forward failed with status 0x20")[
        "ok"
    ]


def test_benchmark_model_flags():
    spec = {"warmup": 3, "min_runs": 40, "min_time_s": 1.5, "threads": 4, "xnnpack": True, "runtime_options": {"delegate": "gpu"}}
    argv = benchmark_model_argv(spec, "/data/local/tmp/benchmark_model", "/data/local/tmp/edgekit-run.x/model.tflite", "f0")
    assert argv[:2] == ["taskset", "f0"]
    for flag in (
        "--graph=/data/local/tmp/edgekit-run.x/model.tflite",
        "--warmup_runs=3",
        "--num_runs=40",
        "--min_secs=1.5",
        "--num_threads=4",
        "--use_gpu=true",
        "--use_xnnpack=false",
    ):
        assert flag in argv
    plain = benchmark_model_argv({"xnnpack": False}, "bm", "m.tflite", None)
    assert plain[0] == "bm" and "--use_xnnpack=false" in plain


def test_parse_adb_devices_listing():
    text = (
        "List of devices attached\n"
        "0123456789ABCDEF       device usb:1-1 product:sargo model:Pixel_3a device:sargo transport_id:2\n"
        "emulator-5554          unauthorized transport_id:3\n"
    )
    devices = parse_devices(text)
    assert devices[0] == {
        "serial": "0123456789ABCDEF",
        "state": "device",
        "usb": "1-1",
        "product": "sargo",
        "model": "Pixel_3a",
        "device": "sargo",
        "transport_id": "2",
    }
    assert devices[1]["state"] == "unauthorized"


needs_adb = pytest.mark.skipif(shutil.which("adb") is None, reason="adb not installed (apt-get install adb; .ci/run does)")


@needs_adb
def test_real_adb_without_a_phone(tmp_path, small_model):
    from edgekit.transports.adb_discovery import list_devices

    attached = [d for d in list_devices() if d["state"] == "device"]
    if attached:
        pytest.skip("a real Android device is attached")
    proc = run_cli("bench", "--device", "android-arm64", small_model, "--no-history")
    assert_one_line_error(proc, "no android device is attached", "usb debugging")
    assert proc.returncode == 3
    (tmp_path / "pixel.toml").write_text('transport = "adb"\nserial = "0123456789ABCDEF"\n')
    proc = run_cli("bench", "--device", "pixel", "--devices-dir", tmp_path, small_model, "--no-history")
    assert_one_line_error(proc, "0123456789ABCDEF", "is not attached")


def test_without_adb_installed(tmp_path, small_model):
    env = {"PATH": str(tmp_path)}  # no adb on this PATH (python is started by absolute path)
    proc = run_cli("bench", "--device", "android-arm64", small_model, "--no-history", env=env)
    assert_one_line_error(proc, "adb is not installed")
    out = run_cli("devices", "--json", env=env)
    assert out.returncode == 0 and "adb is not installed" in out.stdout


@needs_adb
def test_devices_command_lists_profiles_and_states(sshd, tmp_path):
    sshd.write_profile(tmp_path, "local-ssh")
    sshd.write_profile(tmp_path, "closed-port", port=1)
    proc = run_cli("devices", "--json", "--devices-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    import json

    data = json.loads(proc.stdout)
    states = {d["name"]: d["state"] for d in data["configured"]}
    assert states["local-ssh"] == "reachable" and states["closed-port"] == "refused"
    assert states["host"] == "ready"
    assert states["android-arm64"] in ("not attached", "ready", "ambiguous")
    table = run_cli("devices", "--devices-dir", tmp_path)
    assert "local-ssh" in table.stdout and "Configured devices" in table.stdout
