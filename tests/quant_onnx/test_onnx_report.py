"""The ONNX per-layer report (edgekit/quant/onnx.py): a real model, an injected defect, the units."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.quant_onnx import models

METRICS = ("snr_db", "cosine", "max_abs", "rel_error", "added_db")


def _report(b: dict) -> dict:
    report = b["entry"]["extra"].get("quant_report")
    assert report, (b["entry"].get("warnings"), b["proc"].stderr[-1500:])
    return report


def test_classifier_report_ranks_real_node_names(classifier_int8):
    import onnx

    e = classifier_int8["entry"]
    assert e["status"] == "built", e.get("warnings")
    assert e["quantization"]["scheme"] == "int8 static QDQ" and e["quantization"]["calibration_samples"] == 32
    assert e["extra"]["opset_converted"] == "11 -> 13 (onnx.version_converter)"  # opset-11 QDQ would not load
    report = _report(classifier_int8)
    assert report["measure"] == "carried" and report["layers"] > 100 and len(report["worst"]) == 10
    tensors = {o for n in onnx.load(str(classifier_int8["artifact"]), load_external_data=False).graph.node for o in n.output}
    source_nodes = {n.name for n in onnx.load(str(_source()), load_external_data=False).graph.node}
    for layer in report["worst"]:
        assert all(math.isfinite(layer[k]) for k in METRICS), layer
        assert layer["source_name"] in source_nodes, layer  # RapidOCR's own names (Conv@16, ...)
        assert layer["name"] in tensors and layer["name"] + "_DequantizeLinear_Output" in tensors  # a quantized activation
    added = [layer["added_db"] for layer in report["worst"]]
    assert added == sorted(added)  # ranked by the error each layer adds, worst first
    assert report["worst"][0]["snr_db"] < 30  # int8 of a real model does lose something somewhere
    assert len(report["by_depth"]) == report["layers"]


def _source():
    from tests.quant_onnx.conftest import CLASSIFIER

    return CLASSIFIER


def test_quant_report_reads_the_onnx_manifest(classifier_int8):
    proc = run_cli("quant-report", classifier_int8["artifact"], "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["target"] == "onnx-int8" and doc["quant_report"] == _report(classifier_int8)
    proc = run_cli("quant-report", classifier_int8["artifact"], "--top", "3")
    assert proc.returncode == 0 and doc["quant_report"]["worst"][0]["source_name"] in proc.stdout


def test_defect_keeps_the_float_function():
    import onnxruntime as ort

    x = models.samples(4)
    outs = []
    for w in (models.weights(), models.with_defect(models.weights())):
        sess = ort.InferenceSession(models.build(w), providers=["CPUExecutionProvider"])
        outs.append(np.concatenate([sess.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))]))
    assert np.max(np.abs(outs[0] - outs[1])) < 1e-3 * np.max(np.abs(outs[0]))


def test_defect_ranks_the_layers_around_it_first(defect_builds):
    clean, defect = _report(defect_builds["clean"]), _report(defect_builds["defect"])
    by_name = {layer["source_name"]: layer for layer in defect["worst"]}
    clean_by_name = {layer["source_name"]: layer for layer in clean["worst"]}
    # conv2 reads the crushed channels: the error shows (and is added) there
    assert defect["worst"][0]["source_name"] == "conv2" and defect["worst"][0]["snr_db"] < 10
    # conv1 is the cause: whole-tensor SNR hides it (the wide channel dominates), per channel it shows
    assert by_name["conv1"]["snr_db"] > 30 and by_name["conv1"]["channel_snr_db"] < 10
    assert clean_by_name["conv1"]["channel_snr_db"] > 30 and min(layer["snr_db"] for layer in clean["worst"]) > 25
    assert clean_by_name["conv1"]["op"] == "Conv+Relu"  # onnxruntime leaves no QDQ between them: one layer
    # the defect is large enough that int8 breaks the model, and the report is kept for that case
    assert defect_builds["defect"]["entry"]["status"] == "failed"
    assert defect_builds["clean"]["entry"]["accuracy"]["cosine"] > 0.99


def test_dynamic_int8_is_refused_in_one_line():
    from edgekit.errors import EdgekitError
    from edgekit.quant import BACKENDS
    from edgekit.targets import TARGETS

    with pytest.raises(EdgekitError, match="dynamic int8 quantizes activations per call"):
        BACKENDS.get("onnx").layer_errors(TARGETS.get("onnx-dynamic"), None)


def test_names_from_torch_metadata_and_fusions():
    from onnx import helper

    from edgekit.quant.onnx import shown_name, user_names

    node = helper.make_node("Conv", ["x", "w"], ["y"], name="node_conv2d")
    p = node.metadata_props.add()
    p.key, p.value = "pkg.torch.onnx.name_scopes", "['', 'encoder', 'encoder.layer.0.conv', 'conv2d']"
    plain = helper.make_node("MatMul", ["y", "w2"], ["z"], name="MatMul@0")
    graph = helper.make_graph([node, plain], "g", [], [])
    shown = user_names(helper.make_model(graph))
    assert shown == {"node_conv2d": "encoder.layer.0.conv", "MatMul@0": "MatMul@0"}
    assert shown_name("MatMul@0/MatMulAddFusion", shown) == "MatMul@0"
    assert shown_name("/enc/fc/MatMul", shown) == "/enc/fc/MatMul"


def test_channel_snr_finds_one_wide_channel():
    from edgekit.quant.onnx import channel_snr

    rng = np.random.default_rng(0)
    f = rng.standard_normal((2, 4, 3, 3))
    q = f.copy()
    q[:, 1] = 0.0  # one channel crushed to zero: 0 dB there, exact elsewhere
    got = channel_snr([a.ravel() for a in f], [a.ravel() for a in q], [1, 4, 3, 3])
    assert got == pytest.approx((3 * 200.0 + 0.0) / 4)
    assert channel_snr([f.ravel()], [q.ravel()], None) is None


def test_mixed_keeps_the_defect_float_and_meets_the_budget_held_out(defect_builds, tmp_path):
    from tests.quant_onnx.conftest import build

    cal = tmp_path / "cal.npz"
    np.savez(cal, x=models.samples(48))
    b = build(defect_builds["defect"]["source"], tmp_path / "out", cal, target="onnx-int8-mixed", explain=False)
    e = b["entry"]
    assert e["status"] == "built", (e.get("warnings"), b["proc"].stderr[-1500:])
    repair = e["extra"]["repair"]
    kept = {k["layer"] for k in repair["kept_layers"]}
    assert repair["met"] and kept and kept <= {"conv1", "conv2"}  # only the layers around the defect
    assert e["accuracy"]["cosine"] >= 0.99  # held-out, by the orchestrator's gate
    assert e["quantization"]["kept_float"] == [k["layer"] for k in repair["kept_layers"]]
    assert set(repair["cost"]["size_bytes"]) == {"int8", "mixed", "fp32"}
    # calibrated on 16 of the 32 calibration samples, searched on the other 16; verdict held out
    assert (repair["split"]["calibration_samples"], repair["split"]["search_samples"]) == (16, 16)
    assert e["quantization"]["calibration_samples"] == 16
    # ...and the drift record (and its "calibrated on only N" warning) counts those 16, not all 32
    assert e["accuracy"]["calibration_samples"] == 16
    assert repair["held_out"]["met"] and repair["held_out"]["cosine"] == pytest.approx(e["accuracy"]["cosine"])
    proc = run_cli("quant-report", b["artifact"])
    assert proc.returncode == 0 and "kept in float: " in proc.stdout and "budget met" in proc.stdout


def test_failed_int8_points_at_the_mixed_target(defect_builds):
    assert "-t onnx-int8-mixed" in defect_builds["defect"]["proc"].stdout + defect_builds["defect"]["proc"].stderr


@pytest.mark.slow  # torch.onnx.export (dynamo) in a subprocess: ~20 s
def test_torch_export_layers_are_named_by_module_path(tmp_path):
    pytest.importorskip("onnxscript")
    from tests.quant_onnx.conftest import build

    cal = tmp_path / "cal.npz"
    np.savez(cal, x=models.samples(48))
    b = build("tests.quant_onnx.torch_model:make", tmp_path / "out", cal, "--input-shape", "x=1,4,16,16")
    report = _report(b)
    names = {layer[2] for layer in report["by_depth"]}
    assert {"stem", "encoder.0.conv", "encoder.0", "encoder.1.conv", "encoder.1", "<top>/mean", "fc"} <= names, names
    assert not any(n.startswith("node_") for n in names)  # the dynamo exporter's own node names


def test_explain_on_a_dynamic_target_says_why_there_is_no_report(defect_builds, tmp_path):
    """--explain is never silently ignored: a dynamic-range target gets a warning saying why."""
    from tests.quant_onnx.conftest import build

    d = defect_builds["clean"]
    cal = d["source"].parent / "cal.npz"
    b = build(d["source"], tmp_path / "out", cal, target="onnx-dynamic")
    warnings = b["entry"].get("warnings") or []
    assert any(w.startswith("--explain: onnx-dynamic quantizes activations per call") for w in warnings), warnings
    assert "quant_report" not in (b["entry"].get("extra") or {})
