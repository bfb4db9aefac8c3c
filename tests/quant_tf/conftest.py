"""One build of the hostile digits CNN (examples/keras_hostile) shared by the quantization tests:
plain full int8 (which the hostile block breaks) and the repaired mixed target, with --explain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "examples" / "keras_hostile"

SPEC = """
source = "hostile.keras"
targets = ["tflite-int8", "tflite-int8-mixed"]
outdir = "artifacts"

[calibration]
path = "train.npz"
count = 200

[evaluation]
path = "test.npz"

[options.tflite-int8]
io_dtype = "int8"

[options.tflite-int8-mixed]
io_dtype = "int8"
"""


def run_cli(*args: str, cwd: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HOSTILE}", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "import hostile\n"
        "m = hostile.hostile_cnn(); m.save(%r)\n"
        "hostile.digits_npz(%r, 'train'); hostile.digits_npz(%r, 'test')\n"
    ) % (str(HOSTILE), str(d / "hostile.keras"), str(d / "train.npz"), str(d / "test.npz"))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (d / "edgekit.toml").write_text(SPEC)
    return d


@pytest.fixture(scope="session")
def hostile_build(hostile_dir) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_cli("build", str(hostile_dir / "edgekit.toml"), "--explain", "--json")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON report (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return proc, report
