"""Fixtures for ONNX-as-a-source builds: the onnx2tf toolchain, the shared models, built artifacts.

The toolchain is found through ``EDGEKIT_TOOLCHAIN_ONNX2TF_PYTHON`` or the toolchain manager's
installed environment; without it the slow tests skip with that reason, except under ``CI=true``
(.ci/run installs the toolchain), where a missing toolchain is a failure. Every build runs with the
network blocked (proxies pointing at a closed port), so a converter that downloads fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED, run_cli
from tests.onnx_source import data

RAPIDOCR = SHARED / "testdata" / "onnx" / "rapidocr"
CLASSIFIER = RAPIDOCR / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
DETECTOR = RAPIDOCR / "ch_PP-OCRv4_det_infer.onnx"
NO_NETWORK = {
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "no_proxy": "",
    "NO_PROXY": "",
}


def onnx2tf_python() -> str | None:
    explicit = os.environ.get("EDGEKIT_TOOLCHAIN_ONNX2TF_PYTHON")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    try:
        from edgekit.toolchains import status

        info = status("onnx2tf", sizes=False)
    except Exception:
        return None
    python = getattr(info, "python", None)
    return str(python) if getattr(info, "installed", False) and python else None


@pytest.fixture(scope="session")
def rapidocr() -> Path:
    if not CLASSIFIER.is_file():
        pytest.skip(f"the shared RapidOCR models are not at {RAPIDOCR} (set EDGEKIT_SHARED)")
    return RAPIDOCR


@pytest.fixture(scope="session")
def toolchain_env() -> dict:
    python = onnx2tf_python()
    if python is None:
        why = (
            "the onnx2tf toolchain is not installed here (edgekit toolchains install onnx2tf, "
            "or EDGEKIT_TOOLCHAIN_ONNX2TF_PYTHON=/path/to/python)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(why + "; CI installs it, so this is a failure")
        pytest.skip(why)
    return {"EDGEKIT_TOOLCHAIN_ONNX2TF_PYTHON": python, **NO_NETWORK}


def _manifest(outdir: Path) -> dict:
    doc = json.loads((outdir / "manifest.json").read_text())
    return {"doc": doc, "by_target": {a["target"]: a for a in doc["artifacts"]}}


@pytest.fixture(scope="session")
def classifier_build(tmp_path_factory, rapidocr, toolchain_env, coral) -> dict:
    """tflite-fp32, tflite-int8 and edgetpu from the classifier, calibrated on 80 text-line crops,
    drift on 40 others."""
    tmp = tmp_path_factory.mktemp("onnx-cls")
    cal = tmp / "text_lines.npz"
    np.savez(cal, x=data.text_lines(coral, 120))
    out = tmp / "out"
    proc = run_cli(
        "build",
        "--source",
        CLASSIFIER,
        "--input-shape",
        "x=1,3,48,192",
        "-t",
        "tflite-fp32",
        "-t",
        "tflite-int8",
        "-t",
        "edgetpu",
        "--calibration",
        cal,
        "--calibration-count",
        "80",
        "--eval-count",
        "40",
        "-o",
        out,
        "--json",
        env=toolchain_env,
        timeout=1800,
    )
    return {"proc": proc, "outdir": out, **_manifest(out)}


@pytest.fixture(scope="session")
def detector_build(tmp_path_factory, rapidocr, toolchain_env, coral) -> dict:
    """tflite-fp32 from the detector at 1x3x320x320, drift on 6 photo regions."""
    tmp = tmp_path_factory.mktemp("onnx-det")
    ev = tmp / "regions.npz"
    np.savez(ev, x=data.photo_regions(coral, 6, 320))
    out = tmp / "out"
    proc = run_cli(
        "build",
        "--source",
        DETECTOR,
        "--input-shape",
        "x=1,3,320,320",
        "-t",
        "tflite-fp32",
        "--evaluation",
        ev,
        "--eval-count",
        "6",
        "-o",
        out,
        "--json",
        env=toolchain_env,
        timeout=1800,
    )
    return {"proc": proc, "outdir": out, **_manifest(out)}
