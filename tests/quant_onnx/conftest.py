"""One onnx-int8 --explain build per model per session: the RapidOCR classifier (a real third-party
model, read in place from ../shared) and a small conv net with and without a 3000x channel defect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED, run_cli
from tests.quant_onnx import models

pytest.importorskip("onnxruntime")

CLASSIFIER = SHARED / "testdata" / "onnx" / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def build(source: Path, outdir: Path, cal: Path, *extra: str, target: str = "onnx-int8", explain: bool = True) -> dict:
    proc = run_cli(
        "build",
        "--source",
        source,
        *extra,
        "-t",
        target,
        *(["--explain"] if explain else []),
        "--calibration",
        cal,
        "--calibration-count",
        "32",
        "--eval-count",
        "16",
        "-o",
        outdir,
        "--json",
        timeout=600,
    )
    assert (outdir / "manifest.json").is_file(), proc.stderr[-2000:]
    doc = json.loads((outdir / "manifest.json").read_text())
    entry = next(a for a in doc["artifacts"] if a["target"] == target)
    return {"proc": proc, "outdir": outdir, "entry": entry, "artifact": outdir / entry["file"]}


@pytest.fixture(scope="session")
def defect_builds(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("onnx-defect")
    cal = tmp / "cal.npz"
    np.savez(cal, x=models.samples(48))
    out = {}
    for tag, w in (("clean", models.weights()), ("defect", models.with_defect(models.weights()))):
        src = tmp / f"{tag}.onnx"
        src.write_bytes(models.build(w))
        out[tag] = {"source": src, **build(src, tmp / f"out-{tag}", cal)}
    return out


@pytest.fixture(scope="session")
def classifier_int8(tmp_path_factory, coral) -> dict:
    if not CLASSIFIER.is_file():
        pytest.skip(f"the shared RapidOCR classifier is not at {CLASSIFIER} (set EDGEKIT_SHARED)")
    from tests.onnx_source import data

    tmp = tmp_path_factory.mktemp("onnx-cls-explain")
    cal = tmp / "text_lines.npz"
    np.savez(cal, x=data.text_lines(coral, 48))
    return build(CLASSIFIER, tmp / "out", cal, "--input-shape", "x=1,3,48,192")
