"""`edgekit run` knows what it runs (issue 13, item 6; issue 15, item 9: --top-k 0 / -3).

Real third-party models: a MobileNet classifier ranks classes; a DeepLab segmenter, an SSD
detection head, a multi-output model and an embedding extractor get a per-output summary, never
"class 29111 score 3.0".
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit import api
from edgekit.results import decode
from edgekit.runtimes.base import TensorSpec
from tests.conftest import assert_one_line_error, run_cli


@pytest.fixture(scope="session")
def ssd_inputs(coral, tmp_path_factory):
    """Seeded uint8 inputs for the SSD head (12 inputs: --image cannot feed it)."""
    from edgekit.inspect import load_tflite

    main = load_tflite(str(coral / "models" / "ssd_mobilenet_v1_coco_quant_postprocess_head_layers.tflite")).main
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("ssd") / "inputs.npz"
    np.savez(
        path, **{main.tensors[i].name: rng.integers(0, 256, size=main.tensors[i].shape, dtype=np.uint8) for i in main.inputs}
    )
    return path


def test_a_classifier_gets_its_top_k(coral):
    out = api.run_model(
        str(coral / "models" / "mobilenet_v1_0.25_128_quant.tflite"), image=str(coral / "images" / "parrot.jpg"), top_k=3
    )
    assert out["task"] == "classify" and "softmax" in out["why"]
    assert [t["index"] for t in out["top_k"]][0] == 89  # macaw, without labels
    assert len(out["top_k"]) == 3


def test_a_segmenter_is_summarised_not_ranked(coral):
    labels = coral / "labels" / "pascal_voc_segmentation_labels.txt"
    out = api.run_model(
        str(coral / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"),
        image=str(coral / "images" / "dog_segmentation.bmp"),
        labels=str(labels),
    )
    assert out["task"] == "summary" and "top_k" not in out
    (o,) = out["outputs"]
    assert o["name"] == "ArgMax" and o["shape"] == [1, 513, 513] and o["dtype"] == "int64"
    assert 0 <= o["min"] <= o["max"] <= 20 and len(o["argmax"]) == 3
    # The class-id map counted: the dog image is mostly dog and background.
    common = {c["label"]: c["share"] for c in o["most_common"]}
    assert common["dog"] > 0.3 and common["background"] > 0.3


def test_a_detection_head_with_four_outputs_is_summarised(coral, ssd_inputs):
    proc = run_cli(
        "run", coral / "models" / "ssd_mobilenet_v1_coco_quant_postprocess_head_layers.tflite", "--input", ssd_inputs, "--json"
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["task"] == "summary" and "4 outputs" in out["why"] and "top_k" not in out
    shapes = [o["shape"] for o in out["outputs"]]
    assert shapes[0][-1] == 4 and len(shapes) == 4  # boxes, classes, scores, count
    table = run_cli("run", coral / "models" / "ssd_mobilenet_v1_coco_quant_postprocess_head_layers.tflite", "--input", ssd_inputs)
    assert "TFLite_Detection_PostProcess:3" in table.stdout and "rank" not in table.stdout


def test_an_embedding_is_not_a_softmax(coral):
    """One vector, but values up to ~5 that do not sum to 1 and no labels: a summary, with the way out."""
    model = coral / "more_models" / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
    if not model.exists():
        pytest.skip("more_models not present")
    out = api.run_model(str(model), image=str(coral / "images" / "parrot.jpg"))
    assert out["task"] == "summary" and "--task classify" in out["why"]
    forced = api.run_model(str(model), image=str(coral / "images" / "parrot.jpg"), task="classify", top_k=2)
    assert forced["task"] == "classify" and len(forced["top_k"]) == 2


def test_task_classify_on_a_map_is_refused_and_summary_on_a_classifier_works(coral):
    r = run_cli(
        "run",
        coral / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite",
        "--image",
        coral / "images" / "dog_segmentation.bmp",
        "--task",
        "classify",
    )
    assert_one_line_error(r, "shape [1, 513, 513]", "--task summary")
    out = api.run_model(
        str(coral / "models" / "mobilenet_v1_0.25_128_quant.tflite"), image=str(coral / "images" / "parrot.jpg"), task="summary"
    )
    assert out["task"] == "summary" and out["outputs"][0]["argmax"] == [0, 89]


@pytest.mark.parametrize("k", ["0", "-3", "two"])
def test_top_k_must_be_a_positive_whole_number(coral, k):
    r = run_cli(
        "run", coral / "models" / "mobilenet_v1_0.25_128_quant.tflite", "--image", coral / "images" / "parrot.jpg", "--top-k", k
    )
    line = assert_one_line_error(r, "--top-k")
    assert r.returncode == 2 and "expected one argument" not in line
    with pytest.raises(Exception, match="at least 1"):
        decode.top_k(np.arange(5.0), int(k) if k != "two" else 0, None)


# --- the decision itself, on arrays whose nature is known --------------------------------------------


def _spec(name, shape, dtype="float32", scale=None, zp=None):
    return TensorSpec(name=name, shape=list(shape), dtype=dtype, scale=scale, zero_point=zp)


def test_flattened_box_regressors_are_not_classes():
    """The face-detector case from the issue: [1, 896, 16] regressors and [1, 896, 1] scores."""
    rng = np.random.default_rng(1)
    boxes = (rng.normal(0, 80, size=(1, 896, 16))).astype(np.float32)
    scores = rng.normal(0, 5, size=(1, 896, 1)).astype(np.float32)
    out = decode.decode([boxes, scores], [_spec("regressors", boxes.shape), _spec("classificators", scores.shape)])
    assert out["task"] == "summary" and "top_k" not in out
    one = decode.decode([boxes], [_spec("regressors", boxes.shape)])
    assert one["task"] == "summary" and "[1, 896, 16]" in one["why"]


def test_logits_need_labels_softmax_does_not():
    logits = np.array([[2.0, -1.0, 7.5, 0.3]], dtype=np.float32)
    assert decode.decode([logits], [_spec("logits", logits.shape)])["task"] == "summary"
    labelled = decode.decode([logits], [_spec("logits", logits.shape)], labels=["a", "b", "c", "d"], k=1)
    assert labelled["task"] == "classify" and labelled["top_k"][0]["label"] == "c"
    probs = np.exp(logits) / np.exp(logits).sum()
    assert decode.decode([probs], [_spec("probs", probs.shape)])["task"] == "classify"
    # quantized softmax whose rounding lost mass: still a distribution
    q = np.zeros((1, 1001), dtype=np.uint8)
    q[0, 89], q[0, 91] = 195, 14
    assert decode.decode([q], [_spec("q", q.shape, "uint8", 1 / 256, 0)])["task"] == "classify"
    # sigmoid scores (multi-label): in [0, 1] but summing to 3, not a softmax
    sig = np.array([[0.9, 0.8, 0.7, 0.6, 0.0]], dtype=np.float32)
    assert decode.decode([sig], [_spec("sig", sig.shape)])["task"] == "summary"


def test_names_from_the_model_are_text_on_the_terminal(capsys):
    """Tensor names and labels come from files: markup is not interpreted, ESC is shown, not sent."""
    from edgekit.commands.run import print_answer

    out = {
        "artifact": {"name": "m[/bold].tflite"},
        "latency_ms": 1.0,
        "task": "summary",
        "why": "2 outputs [red]x",
        "outputs": [
            {
                "name": "boxes[/bold]\x1b[2J",
                "shape": [1, 4],
                "dtype": "float32",
                "dequantized": False,
                "min": 0.0,
                "max": 1.0,
                "mean": 0.5,
                "argmax": [0, 3],
            }
        ],
    }
    print_answer(out)
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\\x1b[2J" in text and "boxes[/bold]" in text and "[red]x" in text
    out.update(task="classify", top_k=[{"index": 1, "score": 0.9, "label": "[bold]cat\x07"}])
    print_answer(out)
    text = capsys.readouterr().out
    assert "\x07" not in text and "[bold]cat\\x07" in text
