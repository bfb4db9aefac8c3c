"""Fixtures for deploy/doctor tests: a real loopback OpenSSH "device", a real older TFLite runtime
in its own virtualenv, and a real model from the TensorFlow build path that needs a newer one."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sshd import SSHServer, sshd_available

# The last tflite-runtime release; it needs numpy < 2 (measured-facts). The venv lives outside the
# repository and is keyed on these pins, so only the first run on a machine pays for it (~15 s).
OLD_RUNTIME_PINS = ("numpy<2", "tflite-runtime==2.14.0")
CACHE = Path(os.environ.get("EDGEKIT_TEST_CACHE", Path.home() / ".cache" / "edgekit-test"))


def old_runtime_venv() -> Path:
    """Create (once) ~/.cache/edgekit-test/tflite-runtime-<key>/ with the pinned old runtime."""
    key = hashlib.sha256(("|".join(OLD_RUNTIME_PINS) + sys.version.split()[0]).encode()).hexdigest()[:10]
    venv = CACHE / f"tflite-runtime-2.14-{key}"
    python = venv / "bin" / "python"
    stamp = venv / ".edgekit-ready"
    if stamp.exists() and python.exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    # A venv's scripts hard-code its path, so it is built in place; the stamp marks it complete
    # (a half-built one from an interrupted run is cleared and rebuilt).
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *OLD_RUNTIME_PINS],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"could not build the old-runtime venv (PyPI needed once): {proc.stderr[-800:]}")
    stamp.write_text(" ".join(OLD_RUNTIME_PINS) + "\n")
    return venv


@pytest.fixture(scope="session")
def old_runtime_python() -> str:
    if sys.version_info >= (3, 12):
        pytest.skip("tflite-runtime 2.14 has wheels for CPython 3.8-3.11 only")
    return str(old_runtime_venv() / "bin" / "python")


@pytest.fixture(scope="session")
def new_converter_model(tmp_path_factory) -> Path:
    """A dynamic-range quantized Dense model converted by TF 2.21: it records FULLY_CONNECTED
    version 12 and min_runtime_version 2.17.0, which tflite-runtime 2.14 cannot load."""
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("tfmodel") / "dense_dynamic.tflite"
    script = r"""
import contextlib, io, sys
import keras, tensorflow as tf
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(2)])
conv = tf.lite.TFLiteConverter.from_keras_model(model)
conv.optimizations = [tf.lite.Optimize.DEFAULT]
with contextlib.redirect_stdout(io.StringIO()):
    data = conv.convert()
open(sys.argv[1], "wb").write(data)
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, capture_output=True, env=env, timeout=600)
    return out


@pytest.fixture
def ssh_device(tmp_path):
    """A started loopback sshd and a devices dir with its profile 'dev' (python = this venv's)."""
    why = sshd_available()
    if why:
        pytest.skip(why)
    server = SSHServer(tmp_path / "sshd")
    (tmp_path / "sshd" / "device-tmp").mkdir(parents=True, exist_ok=True)
    devices = tmp_path / "devices"
    server.write_profile(devices, "dev")
    server.start()
    try:
        yield server, devices
    finally:
        server.kill()
