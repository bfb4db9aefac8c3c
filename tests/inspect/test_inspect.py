"""edgekit inspect on the real Coral models and on small synthetic models with hand-computed facts."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.inspect import describe, model_facts
from edgekit.inspect.tflite_model import load, parse_bytes
from tests.conftest import ROOT, assert_one_line_error, run_cli
from tests.inspect.modelgen import Graph, conv_model


@pytest.fixture(scope="module")
def all_models(coral_models):
    paths = sorted(coral_models.glob("*.tflite"))
    assert len(paths) >= 17, paths
    return paths


def test_every_coral_model_inspects_with_the_api(all_models):
    for path in all_models:
        info = describe(str(path))
        json.dumps(info)  # JSON-ready as promised to --json
        assert info["ops"] >= 1, path.name
        for sg in info["subgraphs"]:
            for op in sg["operators"]:
                assert isinstance(op["version"], int) and op["version"] >= 1, (path.name, op)
                assert op["name"] and not op["name"].startswith("BUILTIN_"), (path.name, op["name"])
            assert sg["inputs"] and sg["outputs"], path.name
        assert info["params"] >= 0 and info["param_bytes"] >= info["params"] * 0.25


def test_every_coral_model_inspects_with_the_cli(all_models, capsys):
    from edgekit.cli import main

    for path in all_models:  # in-process: the same parser and handler, without 17 interpreter starts
        for extra in (["--json"], ["--tensors"]):
            assert main(["inspect", str(path), *extra]) == 0, (path.name, capsys.readouterr().err)
            out = capsys.readouterr().out
            if extra == ["--json"]:
                assert json.loads(out)["path"].endswith(path.name)
            else:
                assert "operators" in out and "tensors" in out
    proc = run_cli("inspect", all_models[0], "--json", check=True)  # and once exactly as a user runs it
    assert json.loads(proc.stdout)["ops"] >= 1


def test_op_versions_and_min_runtime_version(coral_models):
    lstm = load(str(coral_models / "keras_lstm_mnist_ptq.tflite"))
    versions = {op.name: op.version for op in lstm.main.operators}
    assert versions["FULLY_CONNECTED"] == 4 and versions["SOFTMAX"] == 2
    assert versions["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 1
    assert lstm.min_runtime_version == "1.14.0"
    assert [s.key for s in lstm.signatures] == ["serving_default"]
    assert list(lstm.signatures[0].inputs) == ["x"]
    posenet = load(str(coral_models / "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"))
    assert {op.version for op in posenet.main.operators if op.name == "CONV_2D"} == {3}
    mnv1 = load(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"))
    assert {m.name for m in mnv1.metadata} == {"min_runtime_version", "TFLITE_METADATA"}
    assert mnv1.min_runtime_version == "1.5.0"


def test_per_channel_quantization_is_detected(coral_models):
    posenet = load(str(coral_models / "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"))
    conv = next(op for op in posenet.main.operators if op.name == "CONV_2D")
    w = posenet.main.tensors[conv.inputs[1]]
    assert w.quantization is not None and w.quantization.per_channel
    assert len(w.quantization.scales) == w.shape[0]  # one scale per output channel
    assert w.quantization.quantized_dimension == 0
    # the older MobileNet v1 is per-tensor everywhere
    info = describe(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"))
    assert info["per_channel_tensors"] == 0
    assert describe(str(coral_models / "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"))["per_channel_tensors"] > 0


def test_macs_match_a_hand_computation(tmp_path):
    # input 1x16x16x3 -> CONV 3x3 stride 2 to 8 channels -> depthwise 3x3 -> reshape -> FC 512->10
    path = conv_model().save(tmp_path / "conv.tflite")
    info = describe(str(path))
    conv = 8 * 8 * 8 * (3 * 3 * 3)  # output positions x out channels x (kh*kw*cin)
    depthwise = 8 * 8 * 8 * (3 * 3)
    fc = 10 * 512
    assert info["macs_detail"]["by_type"] == {"CONV_2D": conv, "DEPTHWISE_CONV_2D": depthwise, "FULLY_CONNECTED": fc}
    assert info["macs"] == conv + depthwise + fc == 23552
    assert info["macs_detail"]["not_counted"] == {"RESHAPE": 1}
    assert info["per_channel_tensors"] == 3  # conv weights and bias, depthwise weights
    # and the first layer of the real MobileNet v1 0.25: 128x128x3 -> 64x64x8 with a 3x3 kernel
    facts = (
        describe(str(ROOT.parent / "shared/testdata/coral/models/mobilenet_v1_0.25_128_quant.tflite"))
        if (ROOT.parent / "shared/testdata/coral/models").is_dir()
        else None
    )
    if facts:
        first = facts["subgraphs"][0]["operators"][0]
        assert first["name"] == "CONV_2D" and first["macs"] == 64 * 64 * 8 * 27
        assert 13e6 < facts["macs"] < 14e6  # the published figure for this model is 14 M


def test_macs_of_transpose_conv_and_batch_matmul(tmp_path):
    g = Graph()
    x = g.tensor("x", [1, 4, 4, 6], "float32")
    out_shape = g.tensor("out_shape", [4], "int32", data=np.array([1, 8, 8, 5], dtype="int32"))
    w = g.const("w", [5, 3, 3, 6], "float32")
    y = g.tensor("y", [1, 8, 8, 5], "float32")
    g.op("TRANSPOSE_CONV", [out_shape, w, x], [y], {"_type": "TransposeConvOptions", "padding": 0, "strideW": 2, "strideH": 2})
    a = g.tensor("a", [2, 7, 3], "float32")  # adj_x: A is [B, K, M] = [2, 7, 3]
    b = g.tensor("b", [2, 7, 4], "float32")
    c = g.tensor("c", [2, 3, 4], "float32")
    g.op("BATCH_MATMUL", [a, b], [c], {"_type": "BatchMatMulOptions", "adjX": True, "adjY": False})
    g.inputs, g.outputs = [x, a, b], [y, c]
    info = describe(str(g.save(tmp_path / "tc.tflite")))
    assert info["macs_detail"]["by_type"]["TRANSPOSE_CONV"] == (4 * 4 * 6) * (5 * 3 * 3)
    assert info["macs_detail"]["by_type"]["BATCH_MATMUL"] == (2 * 3 * 4) * 7


def test_op_codes_above_127_and_old_style_codes(tmp_path):
    g = Graph()
    x = g.tensor("x", [1, 8], "float32")
    y = g.tensor("y", [1, 8], "float32")
    z = g.tensor("z", [1, 8], "float32")
    g.op("GELU", [x], [y], version=2)  # code 150: deprecated field holds 127, the real code the wide field
    g.op("RELU", [y], [z])
    g.inputs, g.outputs = [x], [z]
    # an old writer fills only deprecated_builtin_code: emulate by zeroing RELU's wide field
    (_, relu) = g.opcodes[1]
    relu.builtinCode = 0
    model = parse_bytes(g.to_bytes())
    assert [(op.name, op.builtin_code, op.version) for op in model.main.operators] == [("GELU", 150, 2), ("RELU", 19, 1)]


def test_edgetpu_models_are_recognised_with_their_cpu_ops(coral_models):
    expected_cpu = {
        "mobilenet_v1_0.25_128_quant_edgetpu.tflite": {},
        "mobilenet_v2_1.0_224_quant_edgetpu.tflite": {},
        "keras_lstm_mnist_ptq_edgetpu.tflite": {},
        "split_concat_edgetpu.tflite": {},
        "posenet_mobilenet_v1_075_353_481_16_quant_decoder_edgetpu.tflite": {"PosenetDecoderOp": 1},
        "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite": {
            "RESIZE_BILINEAR": 3,
            "QUANTIZE": 1,
            "CONCATENATION": 1,
            "CONV_2D": 2,
            "ARG_MAX": 1,
        },
        "ssd_mobilenet_v2_coco_quant_postprocess_segment_3_of_4_edgetpu.tflite": {
            "DEQUANTIZE": 2,
            "TFLite_Detection_PostProcess": 1,
        },
    }
    for name, cpu in expected_cpu.items():
        tpu = describe(str(coral_models / name))["edgetpu"]
        assert tpu["compiled"] and tpu["tpu_segments"] == 1, name
        assert tpu["cpu_op_counts"] == cpu, name
        assert tpu["tpu_executable_bytes"] > 1000
    assert not describe(str(coral_models / "deeplabv3_mnv2_dm05_pascal_quant.tflite"))["edgetpu"]["compiled"]
    proc = run_cli("inspect", coral_models / "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite", check=True)
    assert "Edge TPU compiled model" in proc.stdout and "ARG_MAX x1" in proc.stdout


def test_custom_op_of_the_invoking_error_model_is_shown(coral_models):
    path = coral_models / "model_invoking_error.tflite"
    assert describe(str(path))["custom_ops"] == ["fake-op-double"]
    proc = run_cli("inspect", path, check=True)
    assert "fake-op-double" in proc.stdout
    assert re.search(r"^custom ops +fake-op-double *$", proc.stdout, re.MULTILINE), "the summary row names it"


def test_truncated_and_foreign_files_end_in_one_line(coral_models, coral, tmp_path):
    data = (coral_models / "mobilenet_v2_1.0_224_quant.tflite").read_bytes()
    # Note: MobileNet v1 files carry a zip of labels after the flatbuffer; cutting only into that zip
    # leaves a valid model, so truncations here cut into the flatbuffer itself.
    for frac in (0.02, 0.3, 0.5, 0.9, 0.999):
        with pytest.raises(EdgekitError, match="truncated or corrupt"):
            parse_bytes(data[: int(len(data) * frac)])
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli("inspect", cut), "truncated or corrupt")
    tiny = tmp_path / "tiny.tflite"
    tiny.write_bytes(data[:6])
    assert_one_line_error(run_cli("inspect", tiny), "not a TFLite model")
    jpg = tmp_path / "parrot.tflite"
    jpg.write_bytes((coral / "images" / "parrot.jpg").read_bytes())
    assert_one_line_error(run_cli("inspect", jpg), "not a TFLite model")
    assert_one_line_error(run_cli("inspect", tmp_path / "missing.tflite"), "no such file")
    assert_one_line_error(run_cli("inspect", tmp_path), "directory")


def test_model_facts_is_cheap_and_never_raises(coral_models, coral, tmp_path):
    facts = model_facts(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"))
    assert facts["macs"] == describe(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"))["macs"]
    assert facts["params"] > 400_000 and facts["ops"] == 31 and facts["min_runtime_version"] == "1.5.0"
    # compute hidden in the compiled op: no MAC figure rather than a wrong one
    assert model_facts(str(coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite"))["macs"] is None
    assert model_facts(str(coral / "images" / "parrot.jpg")) is None
    assert model_facts(str(tmp_path / "missing.tflite")) is None
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((coral_models / "mobilenet_v2_1.0_224_quant.tflite").read_bytes()[:5000])
    assert model_facts(str(cut)) is None


def test_importing_edgekit_and_its_cli_stays_light():
    code = (
        "import sys, edgekit, edgekit.cli\n"
        "heavy = ('tensorflow', 'torch', 'ai_edge_litert', 'executorch', 'tflite_runtime')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "edgekit.cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=60)
    assert proc.returncode == 0, proc.stderr
    after_import, after_parser = proc.stdout.strip().splitlines()
    assert after_import == "[]", after_import
    assert after_parser == "[]", f"a command module imports a heavy framework at import: {after_parser}"
