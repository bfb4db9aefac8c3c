"""Issue 14 item 5: `--input-shape` (and an edgetpu target) make TF-source artifacts static.

A plain `.keras` MobileNet-style model (dynamic batch, as `model.save` writes it) must go to an
Edge TPU-ready int8 artifact with no hand-written wrapper. The control case (a fp32 build with
nothing asking for static shapes) keeps the model's -1 batch, so these tests fail if tracing
stops happening, and the shape checks read the artifact's own flatbuffer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.edgetpu.preflight import check as preflight
from edgekit.inspect.tflite_model import load
from tests.build_tf.conftest import build_json, need_tf
from tests.conftest import ROOT, assert_one_line_error, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def mobilenet_files(tmp_path_factory) -> Path:
    """m.keras, sm/ (model.export) and cal.npz, made once in a subprocess (~20 s)."""
    need_tf()
    work = tmp_path_factory.mktemp("static")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.build_tf.static_models", str(work)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


@pytest.fixture(scope="session")
def edgetpu_build(mobilenet_files):
    """`edgekit build --source m.keras -t tflite-int8 -t edgetpu` with no --input-shape."""
    out = mobilenet_files / "out_edgetpu"
    proc, report = build_json(
        "--source",
        str(mobilenet_files / "m.keras"),
        "-t",
        "tflite-int8",
        "-t",
        "edgetpu",
        "--calibration",
        str(mobilenet_files / "cal.npz"),
        "-o",
        str(out),
    )
    assert report is not None, proc.stderr[-3000:]
    return proc, report, out


def _signatures(path: Path) -> list[list[int]]:
    """shape_signature (or shape) of every input and output tensor of the main graph."""
    sg = load(str(path)).main
    return [list(sg.tensors[i].shape_signature or sg.tensors[i].shape) for i in sg.inputs + sg.outputs]


def _dynamic_tensors(path: Path) -> list[str]:
    return [t.name for t in load(str(path)).main.tensors if t.dynamic]


def _entry(report: dict, target: str) -> dict:
    return next(e for e in report["artifacts"] if e["target"] == target)


def test_source_model_really_has_a_dynamic_batch(mobilenet_files):
    """The premise: what model.save wrote says batch None (else the tests below prove nothing)."""
    import zipfile

    with zipfile.ZipFile(mobilenet_files / "m.keras") as z:
        config = json.loads(z.read("config.json"))
    first = config["config"]["layers"][0]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"][0] is None


def test_keras_to_edgetpu_int8_is_static_and_all_compute_ops_map(edgetpu_build):
    proc, report, out = edgetpu_build
    int8 = _entry(report, "tflite-int8")
    assert int8["status"] == "built", int8
    assert int8["extra"]["converter_path"] == "traced_static"
    assert int8["extra"]["static_shapes"]["reason"] == "edgetpu needs static shapes"
    artifact = out / int8["file"]
    assert _signatures(artifact) == [[1, 96, 96, 3], [1, 10]]
    assert _dynamic_tensors(artifact) == []
    pre = preflight(str(artifact))
    assert pre.ready, pre.summary()
    assert pre.cpu_ops == 0 and pre.tpu_ops == len(pre.ops) > 50, pre.summary()
    # The edgetpu target itself: compiled where the compiler exists, else the preflight file is left.
    tpu = _entry(report, "edgetpu")
    if tpu["status"] == "failed":
        assert "edgetpu_compiler" in tpu["error"]["message"]
        written = json.loads((out / "m.tflite-int8.edgetpu-preflight.json").read_text())
        assert written["ready"] is True and written["cpu_ops"] == 0
    else:
        assert tpu["status"] == "built"


@pytest.fixture(scope="session")
def dynamic_fp32_build(mobilenet_files):
    """Control: fp32 alone, nothing asking for static shapes."""
    out = mobilenet_files / "out_fp32"
    proc, report = build_json("--source", str(mobilenet_files / "m.keras"), "-t", "tflite-fp32", "-o", str(out))
    assert report is not None, proc.stderr[-3000:]
    return report, out


def test_without_anything_asking_for_static_shapes_the_batch_stays_dynamic(dynamic_fp32_build):
    """The model's own signature (-1 batch) is kept, so the traced path is what fixes it."""
    report, out = dynamic_fp32_build
    entry = _entry(report, "tflite-fp32")
    assert entry["status"] == "built", entry
    assert entry["extra"]["converter_path"] == "from_keras_model"
    assert _signatures(out / entry["file"])[0] == [-1, 96, 96, 3]


@pytest.mark.parametrize("source,shape", [("m.keras", "input_layer=1,96,96,3"), ("sm", "1,96,96,3")])
def test_input_shape_makes_fp32_static_for_keras_and_saved_model(mobilenet_files, dynamic_fp32_build, source, shape):
    """Named for the Keras file; unnamed (positional) for the SavedModel, whose export renamed its input.
    The Keras build goes into the control's output directory: the dynamic artifact there must
    not be reused as a cache hit (static shapes are part of the cache key)."""
    out = dynamic_fp32_build[1] if source == "m.keras" else mobilenet_files / "out_shape_sm"
    proc, report = build_json(
        "--source", str(mobilenet_files / source), "-t", "tflite-fp32", "--input-shape", shape, "-o", str(out)
    )
    assert report is not None, proc.stderr[-3000:]
    entry = _entry(report, "tflite-fp32")
    assert entry["status"] == "built", entry
    assert entry["extra"]["static_shapes"]["reason"] == "declared input shapes"
    assert _signatures(out / entry["file"]) == [[1, 96, 96, 3], [1, 10]]
    assert _dynamic_tensors(out / entry["file"]) == []
    assert entry["accuracy"]["cosine"] > 0.9999  # the traced function is the same model


def test_static_shapes_option_must_be_a_boolean(mobilenet_files, tmp_path):
    proc = run_cli(
        "build",
        "--source",
        str(mobilenet_files / "m.keras"),
        "-t",
        "tflite-fp32",
        "--option",
        "tflite-fp32.static_shapes=maybe",
        "-o",
        str(tmp_path / "out"),
    )
    line = assert_one_line_error(proc, "static_shapes", "true or false")
    assert proc.returncode == 2, line


def test_unknown_input_name_is_one_line_listing_the_real_names_before_tensorflow(mobilenet_files, tmp_path):
    """Shadow keras and tensorflow with modules that fail to import: the name check must come first."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    for mod in ("keras", "tensorflow"):
        (shadow / f"{mod}.py").write_text("raise ImportError('shadowed by the test')\n")
    proc = run_cli(
        "build",
        "--source",
        str(mobilenet_files / "m.keras"),
        "-t",
        "tflite-fp32",
        "--input-shape",
        "bogus=1,96,96,3",
        "-o",
        str(tmp_path / "out"),
        env={"PYTHONPATH": f"{ROOT}:{shadow}"},
    )
    line = assert_one_line_error(proc, "bogus", "input_layer")
    assert proc.returncode == 2, line


def test_unknown_input_name_for_a_saved_model_lists_its_names(mobilenet_files, tmp_path):
    proc = run_cli(
        "build",
        "--source",
        str(mobilenet_files / "sm"),
        "-t",
        "tflite-fp32",
        "--input-shape",
        "bogus=1,96,96,3",
        "-o",
        str(tmp_path / "out"),
    )
    line = assert_one_line_error(proc, "no input named 'bogus'", "its inputs:")
    assert proc.returncode == 2, line
