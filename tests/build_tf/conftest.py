"""Session fixtures for the TensorFlow build tests: each heavy artifact is built once.

Model training, building and benchmarking run in subprocesses (as a user's shell would), so the
pytest process itself never imports TensorFlow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

DIGITS_EXAMPLE = ROOT / "examples" / "keras_digits"
MNV2_EXAMPLE = ROOT / "examples" / "keras_mobilenetv2"
FIVE = ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int16x8"]


def need_tf() -> None:
    for mod in ("tensorflow", "sklearn", "ai_edge_litert"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (pip install 'edgekit[all]')")


def build_json(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    proc = run_cli("build", *args, "--json", env=env)
    report = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
    return proc, report


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """A trained digits CNN with train/test data and the example's edgekit.toml."""
    need_tf()
    work = tmp_path_factory.mktemp("digits")
    proc = subprocess.run(
        [sys.executable, str(DIGITS_EXAMPLE / "run.py"), "prepare", str(work)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


@pytest.fixture(scope="session")
def digits_build(digits_dir) -> tuple[subprocess.CompletedProcess, dict]:
    proc, report = build_json(str(digits_dir / "edgekit.toml"))
    assert report is not None, proc.stderr[-3000:]
    return proc, report


@pytest.fixture(scope="session")
def digits_rebuild(digits_build, digits_dir):
    """The same build again with nothing changed (after the first one)."""
    return build_json(str(digits_dir / "edgekit.toml"))


@pytest.fixture(scope="session")
def mnv2_env() -> dict:
    return {"PYTHONPATH": f"{ROOT}{os.pathsep}{MNV2_EXAMPLE}"}


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
