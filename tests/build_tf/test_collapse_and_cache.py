"""Real broken and real cached builds through the CLI: a collapsed int8 artifact is failed (also
on the rebuild), framework logs stay off the terminal, progress is one line per step in a pipe,
an unchanged rebuild of the digits example imports no framework, stale leftovers are swept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edgekit.build.manifest_schema import validate_manifest
from tests.build_tf.conftest import FIVE, need_tf
from tests.conftest import ROOT, assert_one_line_error, run_cli

pytestmark = pytest.mark.tf
COLLAPSE = "tests.build_tf.collapse_models:dense_model"
FRAMEWORK_NOISE = ("oneDNN", "absl", "TensorFlow binary", "cuda", "WARNING: All log messages", "tensorflow/core")


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory):
    """int8 calibrated on inputs 1000x larger than the evaluation inputs (the classic 0-255 vs
    0-1 scaling mistake): every held-out input quantizes to the zero point, the output collapses."""
    need_tf()
    work = tmp_path_factory.mktemp("collapse")
    rng = np.random.default_rng(0)
    np.save(work / "cal.npy", (1000.0 * rng.normal(size=(120, 16))).astype(np.float32))
    np.save(work / "eval.npy", rng.normal(size=(60, 16)).astype(np.float32))
    args = [
        "build",
        "--source",
        COLLAPSE,
        "-t",
        "tflite-fp32",
        "-t",
        "tflite-int8",
        "--calibration",
        str(work / "cal.npy"),
        "--evaluation",
        str(work / "eval.npy"),
        "-o",
        str(work / "out"),
    ]
    first = run_cli(*args)  # no --json: the table, the progress lines, stderr a pipe
    second = run_cli("--debug", *args)  # the rebuild, with the build log shown
    return work, first, second


def _manifest(outdir) -> dict:
    with open(os.path.join(outdir, "manifest.json")) as f:
        return json.loads(f.read(), parse_constant=lambda c: pytest.fail(f"{c} in manifest.json"))


def test_collapsed_int8_fails_without_a_threshold_and_again_on_rebuild(collapsed):
    work, first, second = collapsed
    for proc in (first, second):
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "tflite-int8 FAILED: tflite-int8 is broken: output 'embedding'" in proc.stdout, proc.stdout
    doc = _manifest(work / "out")
    assert validate_manifest(doc) == []
    e = {a["target"]: a for a in doc["artifacts"]}
    assert e["tflite-fp32"]["status"] in ("built", "cached") and e["tflite-fp32"]["accuracy"]["sanity"]["verdict"] == "ok"
    int8 = e["tflite-int8"]
    assert int8["status"] == "failed" and int8["error"]["type"] == "DriftSanity"
    out = int8["accuracy"]["outputs"][0]
    assert out["constant"] or out["all_zero"], out
    assert out["kind"] == "embedding" and "top1_agreement" not in int8["accuracy"] and "nn_agreement" in int8["accuracy"]
    assert int8["accuracy"]["samples"] == 60 and int8["accuracy"]["calibration_samples"] == 120
    assert int8["file"] and os.path.exists(work / "out" / int8["file"])  # kept for inspection


def test_framework_logs_stay_in_the_build_log_and_progress_is_one_line_per_step(collapsed):
    work, first, _ = collapsed
    for noise in FRAMEWORK_NOISE:
        assert noise not in first.stderr and noise not in first.stdout, noise
    steps = [l for l in first.stderr.splitlines() if l.startswith("edgekit build [")]
    assert any("conversion: tflite-int8" in l for l in steps) and any("evaluation: tflite-int8 (60 samples)" in l for l in steps)
    assert all(len(l) < 300 for l in steps)
    doc = _manifest(work / "out")
    assert doc["source"]["build_log"]["file"] == "build.log" and (work / "out" / "build.log").exists()
    assert "samples eval/cal" in first.stdout and "60/120" in first.stdout


def test_debug_shows_the_build_log(collapsed):
    _, _, second = collapsed
    assert "--- build log (framework and converter output) ---" in second.stderr


def test_too_few_samples_to_split_is_one_line_before_tensorflow(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 16), np.float32))
    code = (
        "import sys; from edgekit.cli import main; "
        f"rc = main(['build', '--source', {COLLAPSE!r}, '-t', 'tflite-int8', '--calibration', {str(tmp_path / 'one.npy')!r}, "
        f"'-o', {str(tmp_path / 'out')!r}]); print('tensorflow' in sys.modules); sys.exit(rc)"
    )
    proc = _python(code)
    assert_one_line_error(proc, "1 sample(s): too few to split")
    assert proc.stdout.strip() == "False"


def test_missing_calibration_path_is_reported_before_tensorflow_loads(tmp_path):
    code = (
        "import sys; from edgekit.cli import main; "
        f"rc = main(['build', '--source', {COLLAPSE!r}, '-t', 'tflite-int8', '--calibration', 'no/such.npz']); "
        "print('tensorflow' in sys.modules); sys.exit(rc)"
    )
    proc = _python(code)
    assert_one_line_error(proc, "no such calibration data", "no/such.npz")
    assert proc.stdout.strip() == "False"


def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_HISTORY="off")
    env.pop("EDGEKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=600)


def test_unchanged_rebuild_of_the_digits_example_imports_no_framework_and_sweeps_leftovers(digits_build, digits_dir):
    _, report = digits_build
    outdir = report["outdir"]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = os.path.join(outdir, f".tmp-{dead.pid}-xyzdigits_cnn.tflite-int8.tflite")
    with open(leftover, "wb") as f:
        f.write(b"\0" * 4096)  # what a SIGKILLed build leaves: a half-written artifact
    code = (
        "import sys, json, io, contextlib; from edgekit.cli import main; buf = io.StringIO()\n"
        f"with contextlib.redirect_stdout(buf): rc = main(['build', {str(digits_dir / 'edgekit.toml')!r}, '--json'])\n"
        "print(json.dumps({'rc': rc, 'report': json.loads(buf.getvalue()), "
        "'frameworks': [m for m in ('tensorflow', 'keras', 'torch', 'ai_edge_litert') if m in sys.modules]}))"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["rc"] == 0 and doc["frameworks"] == []
    assert [a["status"] for a in doc["report"]["artifacts"]] == ["cached"] * len(FIVE)
    assert all(a["accuracy"]["samples"] == 449 for a in doc["report"]["artifacts"])
    assert not os.path.exists(leftover)
