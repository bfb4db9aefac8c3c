"""`edgekit gpu check`: per-op GPU delegate compatibility from TensorFlow Lite's analyzer.

The analyzer runs in one subprocess over real Coral models, a float CNN built here and a
Flex-op model (TensorFlow's own analyzer test expects that one flagged). The parse is checked
against the analyzer's own text (its Op# lines, its per-subgraph node list) and against the op
list edgekit reads from the flatbuffer. Whether this TensorFlow's analyzer checks at all is
decided by the canary; TF 2.21's does not (measured), and the command must then refuse.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.inspect import gpu
from tests.build_tf.conftest import need_tf
from tests.conftest import CORAL, ROOT, assert_one_line_error, run_cli

MODELS = [
    "mobilenet_v1_0.25_128_quant.tflite",
    "keras_lstm_mnist_ptq.tflite",
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite",  # custom PosenetDecoderOp
    "mobilenet_v1_0.25_128_quant_edgetpu.tflite",  # edgetpu-custom-op
]


@pytest.fixture(scope="session")
def probe(tmp_path_factory, coral_models) -> dict:
    need_tf()
    out = tmp_path_factory.mktemp("gpu") / "probe.json"
    paths = [str(coral_models / m) for m in MODELS]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.build_tf.gpu_probe", str(out), *paths],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


# What TensorFlow 2.16.2's analyzer (one that runs the checker) said about the shared models:
# compatible ops, all ops, the incompatible op names. Measured with `edgekit gpu check --json
# --analyzer-python <venv with tensorflow-cpu 2.16.2>`; asserted wherever a checking analyzer runs.
ORACLE_TF_2_16_2 = {
    "deeplabv3_mnv2_dm05_pascal_quant.tflite": (71, 72, {"ARG_MAX"}),
    "keras_lstm_mnist_ptq.tflite": (5, 6, {"UNIDIRECTIONAL_SEQUENCE_LSTM"}),
    "mobilenet_v1_0.25_128_quant.tflite": (31, 31, set()),
    "mobilenet_v2_1.0_224_quant.tflite": (66, 66, set()),
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite": (37, 38, {"PosenetDecoderOp"}),
    "ssd_mobilenet_v1_coco_quant_postprocess_head_layers.tflite": (16, 17, {"TFLite_Detection_PostProcess"}),
    "mobilenet_v1_0.25_128_quant_edgetpu.tflite": (0, 1, {"edgetpu-custom-op"}),
    "split_concat.tflite": (3, 3, set()),
}
DATA = Path(__file__).parent / "data"


def _all_models(probe):
    return list(probe["models"].items())


def test_parsed_ops_match_the_analyzer_text_and_the_flatbuffer(probe):
    for key, m in _all_models(probe):
        op_lines = re.findall(r"^\s+Op#(\d+) ", m["text"], flags=re.M)
        assert len(m["parsed_ops"]) == len(op_lines) == len(m["flatbuffer_ops"]) > 0, key
        assert [[o["subgraph"], o["index"], o["name"]] for o in m["parsed_ops"]] == m["flatbuffer_ops"], key
        warnings = m["text"].count(gpu.WARNING)
        summary_lines = len(re.findall(r"has GPU delegate compatibility issues at nodes", m["text"]))
        flagged = [o for o in m["parsed_ops"] if not o["compatible"]]
        assert len(flagged) + summary_lines == warnings, key  # every warning line is accounted for
        by_sg: dict[str, list[int]] = {}
        for o in flagged:
            by_sg.setdefault(str(o["subgraph"]), []).append(o["index"])
        assert by_sg == m["flagged_nodes"], key  # per-op warnings agree with the analyzer's node list


def test_the_analyzer_flags_what_the_gpu_delegate_cannot_take_or_is_detected_as_not_checking(probe):
    """Flex ops, the Edge TPU's custom op and the canary can never run on the GPU delegate."""
    never = {"flex": "Flex", MODELS[3]: "edgetpu-custom-op"}
    for key, name in never.items():
        m = next(v for k, v in probe["models"].items() if k.endswith(key))
        hits = [o for o in m["parsed_ops"] if o["name"].startswith(name)]
        assert hits, key
        if probe["analyzer_checks"]:
            assert all(not o["compatible"] and "Not supported custom op" in o["reason"] for o in hits), key
            assert not m["says_compatible"], key
        else:
            # The measured TF 2.21 behaviour: no warning at all, and a closing "looks compatible".
            assert gpu.WARNING not in m["text"] and m["says_compatible"], key


def test_gpu_check_refuses_when_the_analyzer_does_not_check(probe, coral_models):
    model = coral_models / MODELS[0]
    proc = run_cli("gpu", "check", str(model), "--json", env={"EDGEKIT_GPU_ANALYZER_PYTHON": ""})
    if probe["analyzer_checks"]:
        assert proc.returncode in (0, 1), proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["ops"] == len(probe["models"][str(model)]["parsed_ops"])
        assert doc["summary"].startswith(f"{doc['compatible_ops']} of {doc['ops']} ops")
    else:
        line = assert_one_line_error(proc, "does not check GPU compatibility", "custom op", "--analyzer-python")
        assert proc.returncode == 3, line
        assert proc.stdout == ""  # nothing half-printed, and no TensorFlow start-up lines on stdout


def test_report_field_never_says_compatible_unchecked(probe):
    field = probe["report_field"]
    assert field["available"] is probe["analyzer_checks"]
    if field["available"]:
        assert field["summary"].startswith(f"{field['compatible_ops']} of {field['ops']} ops")
    else:
        assert "does not check GPU compatibility" in field["reason"] and "--analyzer-python" in field["hint"]


@pytest.mark.parametrize(
    "name,compatible,total,bad",
    [
        ("deeplabv3_mnv2_dm05_pascal_quant", 71, 72, {71: "Not supported op ARG_MAX"}),
        ("keras_lstm_mnist_ptq", 5, 6, {1: "Not supported op UNIDIRECTIONAL_SEQUENCE_LSTM"}),
    ],
)
def test_parse_real_text_of_a_checking_analyzer(name, compatible, total, bad):
    """Text TensorFlow 2.16.2's analyzer printed for shared models (tensor lines left out)."""
    text = (DATA / f"analyzer-tf2.16.2-{name}.txt").read_text()
    report = gpu.parse(text)
    assert len(report.ops) == len(re.findall(r"^\s+Op#\d+ ", text, flags=re.M)) == total
    assert sum(o.compatible for o in report.ops) == compatible
    assert {o.index: o.reason for o in report.incompatible} == bad
    assert report.flagged_nodes == {0: sorted(bad)} and not report.says_compatible
    gpu.verify(report)
    report.ops[0].compatible = False  # a parse that disagrees with the analyzer's node list is refused
    with pytest.raises(gpu.EdgekitError):
        gpu.verify(report)


def test_a_checking_analyzer_matches_the_recorded_verdicts(coral_models):
    """With $EDGEKIT_GPU_ANALYZER_PYTHON (a venv with tensorflow-cpu 2.16.2) the live verdicts must
    equal the recorded ones, and the canary must be flagged."""
    python = os.environ.get("EDGEKIT_GPU_ANALYZER_PYTHON")
    if not python:
        pytest.skip("set EDGEKIT_GPU_ANALYZER_PYTHON to a python whose TensorFlow analyzer checks (2.16.2)")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        canary = os.path.join(tmp, "canary.tflite")
        Path(canary).write_bytes(gpu.canary_model())
        paths = [canary] + [str(coral_models / m) for m in ORACLE_TF_2_16_2]
        _, texts = gpu._run_elsewhere(python, paths)
    assert gpu.canary_flagged(texts[0])
    for name, text in zip(ORACLE_TF_2_16_2, texts[1:]):
        report = gpu.parse(text)
        gpu.verify(report)
        ok, total, bad = ORACLE_TF_2_16_2[name]
        assert (sum(o.compatible for o in report.ops), len(report.ops), {o.name for o in report.incompatible}) == (
            ok,
            total,
            bad,
        ), name


def test_gpu_check_of_a_missing_file_is_one_line_before_tensorflow(tmp_path):
    proc = run_cli("gpu", "check", str(tmp_path / "nope.tflite"))
    line = assert_one_line_error(proc, "nope.tflite")
    assert proc.returncode == 2, line


def test_gpu_check_without_tensorflow_is_exit_3(tmp_path):
    if not (CORAL / "models").is_dir():
        pytest.skip("no shared Coral models")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "tensorflow.py").write_text("raise ImportError('No module named tensorflow (shadowed)')\n")
    proc = run_cli(
        "gpu",
        "check",
        str(CORAL / "models" / MODELS[0]),
        env={"PYTHONPATH": f"{ROOT}:{shadow}", "EDGEKIT_GPU_ANALYZER_PYTHON": ""},
    )
    line = assert_one_line_error(proc, "TensorFlow", "pip install")
    assert proc.returncode == 3, line
