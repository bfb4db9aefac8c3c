"""`edgekit gpu check`: per-op GPU delegate compatibility from TensorFlow Lite's analyzer.

The analyzer runs in one subprocess over real Coral models, a float CNN built here and a
Flex-op model (TensorFlow's own analyzer test expects that one flagged). The parse is checked
against the analyzer's own text (its Op# lines, its per-subgraph node list) and against the op
list edgekit reads from the flatbuffer. Whether this TensorFlow's analyzer checks at all is
decided by the canary; TF 2.21's does not (measured), and the command must then refuse.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

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
    proc = subprocess.run([sys.executable, "-m", "tests.build_tf.gpu_probe", str(out), *paths], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


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
    proc = run_cli("gpu", "check", str(model), "--json")
    if probe["analyzer_checks"]:
        assert proc.returncode in (0, 1), proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["ops"] == len(probe["models"][str(model)]["parsed_ops"])
        assert doc["summary"].startswith(f"{doc['compatible_ops']} of {doc['ops']} ops")
    else:
        line = assert_one_line_error(proc, "does not check GPU compatibility", "custom op")
        assert proc.returncode == 3, line
        assert proc.stdout == ""  # nothing half-printed, and no TensorFlow start-up lines on stdout


def test_parse_reads_the_warning_format_of_model_analyzer():
    """The format model_analyzer.cc writes when its checker runs (the lines of TF's analyzer_test)."""
    text = (
        "Subgraph#0 main(T#0) -> [T#3]\n"
        "  Op#0 FlexAddV2(T#0, T#1) -> [T#2]\n"
        "GPU COMPATIBILITY WARNING: Not supported custom op FlexAddV2\n"
        "  Op#1 ADD(T#2, T#1) -> [T#3]\n"
        "\nGPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 0 with "
        "TFLite runtime version 2.9.0\n"
        "\nTensors of Subgraph#0\n  T#0(x) shape:[1], type:FLOAT32\n"
    )
    report = gpu.parse(text)
    assert [(o.index, o.name, o.compatible) for o in report.ops] == [(0, "FlexAddV2", False), (1, "ADD", True)]
    assert report.ops[0].reason == "Not supported custom op FlexAddV2"
    assert report.flagged_nodes == {0: [0]} and not report.says_compatible
    gpu.verify(report)
    report.ops[1].compatible = False  # a parse that disagrees with the analyzer's node list is refused
    with pytest.raises(gpu.EdgekitError):
        gpu.verify(report)


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
    proc = run_cli("gpu", "check", str(CORAL / "models" / MODELS[0]), env={"PYTHONPATH": f"{ROOT}:{shadow}"})
    line = assert_one_line_error(proc, "TensorFlow", "pip install")
    assert proc.returncode == 3, line
