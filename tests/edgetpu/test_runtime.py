"""Running _edgetpu models: without libedgetpu or a device, one clear error naming what is missing."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.runtimes.base import RunOptions
from edgekit.runtimes.edgetpu import check_selector, library_name, load_edgetpu_delegate
from tests.conftest import assert_one_line_error, run_cli

HAS_LIBEDGETPU = ctypes.util.find_library("edgetpu") is not None


@pytest.mark.skipif(HAS_LIBEDGETPU, reason="libedgetpu is installed here: the missing-runtime error cannot occur")
def test_every_edgetpu_model_ends_in_one_clear_line(coral_models, coral):
    models = sorted(coral_models.glob("*_edgetpu.tflite"))
    assert len(models) == 8
    for model in models:
        proc = run_cli("bench", model, "--min-runs", "1", "--min-time", "0", "--warmup", "0", timeout=120)
        line = assert_one_line_error(proc, "libedgetpu", "not installed")
        assert proc.returncode == 3, line  # EXIT_ENV: something is missing from the environment
    labels = coral / "labels" / "imagenet_labels.txt"
    for name in ("mobilenet_v1_0.25_128_quant_edgetpu.tflite", "mobilenet_v2_1.0_224_quant_edgetpu.tflite"):
        args = ["run", coral_models / name, "--image", coral / "images" / "parrot.jpg", "--edgetpu-device", "usb:0"]
        if labels.exists():
            args += ["--labels", labels]
        assert_one_line_error(run_cli(*args, timeout=120), "libedgetpu")


def test_a_bad_device_selector_is_a_usage_error(coral_models):
    proc = run_cli("bench", coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite", "--edgetpu-device", "usb0")
    assert_one_line_error(proc, "unknown Edge TPU device 'usb0'")
    for ok in ("usb", "usb:0", "pci", "pci:1", ":0", None):
        assert check_selector(ok) == ok
    for bad in ("usb0", "tpu:0", "usb:", ":"):
        with pytest.raises(EdgekitError):
            check_selector(bad)


def test_library_name_per_platform(monkeypatch):
    monkeypatch.delenv("EDGEKIT_LIBEDGETPU", raising=False)
    assert library_name("linux") == "libedgetpu.so.1"
    assert library_name("darwin") == "libedgetpu.1.dylib"
    assert library_name("win32") == "edgetpu.dll"
    monkeypatch.setenv("EDGEKIT_LIBEDGETPU", "/opt/coral/libedgetpu.so.1")
    assert library_name("linux") == "/opt/coral/libedgetpu.so.1"


class _FakeRuntimeModule:
    """Stands in for ai_edge_litert.interpreter: records the delegate call, fails as told."""

    __name__ = "fake_runtime"

    def __init__(self, exc: BaseException | None):
        self.exc, self.calls = exc, []

    def load_delegate(self, library, options=None):
        self.calls.append((library, options))
        if self.exc:
            raise self.exc
        return "delegate"


def _loadable_library() -> str:
    """A library dlopen finds on every Linux, standing in for libedgetpu so ctypes' check passes."""
    lib = ctypes.util.find_library("c") or "libc.so.6"
    return lib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses libc as a stand-in library")
def test_delegate_loading_tells_missing_library_from_missing_device(monkeypatch):
    monkeypatch.setenv("EDGEKIT_LIBEDGETPU", "/nonexistent/libedgetpu.so.1")
    with pytest.raises(EnvironmentMissing, match="is not installed") as info:
        load_edgetpu_delegate(_FakeRuntimeModule(None), RunOptions())
    assert "libedgetpu1-std" in info.value.hint

    monkeypatch.setenv("EDGEKIT_LIBEDGETPU", _loadable_library())
    # library present, no Edge TPU: the delegate factory returns null and the runtime raises ValueError
    fake = _FakeRuntimeModule(ValueError("Failed to load delegate from libedgetpu.so.1"))
    with pytest.raises(EnvironmentMissing, match="found no usable Edge TPU at usb:0"):
        load_edgetpu_delegate(fake, RunOptions(device="usb:0"))
    assert fake.calls == [(_loadable_library(), {"device": "usb:0"})]
    # the delegate is handed over when it loads, with extra device options passed through
    ok = _FakeRuntimeModule(None)
    assert load_edgetpu_delegate(ok, RunOptions(device="pci:0", extra={"edgetpu_options": {"performance": "max"}})) == "delegate"
    assert ok.calls[0][1] == {"device": "pci:0", "performance": "max"}
    # an OSError from the runtime's own dlopen (the measured behaviour of ai-edge-litert) is also clear
    with pytest.raises(EnvironmentMissing, match="could not be loaded"):
        load_edgetpu_delegate(_FakeRuntimeModule(OSError("undefined symbol")), RunOptions())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the runtime's Delegate.__del__
def test_real_runtime_rejects_a_missing_library_with_oserror(monkeypatch):
    """The measured fact the loader relies on: ai-edge-litert raises OSError for a missing library."""
    interpreter = pytest.importorskip("ai_edge_litert.interpreter")
    monkeypatch.setenv("EDGEKIT_LIBEDGETPU", "/nonexistent/libedgetpu.so.1")
    with pytest.raises(OSError):
        interpreter.load_delegate("/nonexistent/libedgetpu.so.1")
    with pytest.raises(EnvironmentMissing, match="not installed"):
        load_edgetpu_delegate(interpreter, RunOptions())
