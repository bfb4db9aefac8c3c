"""The harness checks itself: repeated invokes must reproduce the first inference's outputs.

Real models on every runtime here: every CPU model of the shared Coral set (LiteRT), and .pte /
.ptl programs built in this session with torch.export + ExecuTorch from the project's own
environment: a small conv net on portable kernels (whose second run used to read overwritten
inputs) and on XNNPACK, and a transformer-style encoder with an embedding over int64 token ids
(whose second run used to abort in op_embedding.cpp). Edge TPU models need the hardware: skipped.
"""

from __future__ import annotations

import pytest

from edgekit import api
from edgekit.errors import CheckFailed
from edgekit.results import schema
from tests.conftest import CORAL

pytest.importorskip("ai_edge_litert")

FAST = dict(warmup=2, min_runs=10, min_time_s=0.0)
# CPU models whose ops no stock TFLite runtime has (Coral's posenet decoder, a deliberately fake op).
NEEDS_CUSTOM_OP = {
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder": "PosenetDecoderOp",
    "model_invoking_error": "fake-op-double",
}
CPU_MODELS = (
    sorted(p.stem for p in (CORAL / "models").glob("*.tflite") if not p.stem.endswith("_edgetpu"))
    if (CORAL / "models").is_dir()
    else []
)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", CPU_MODELS)
def test_repeated_invokes_reproduce_the_first_on_every_shared_model(coral_models, name, threads):
    path = str(coral_models / f"{name}.tflite")
    if name in NEEDS_CUSTOM_OP:
        with pytest.raises(Exception, match=NEEDS_CUSTOM_OP[name]):
            api.bench(path, threads=threads, **FAST)
        return
    r = api.bench(path, threads=threads, **FAST)
    schema.validate(r)
    check = r["method"]["output_check"]
    assert check["status"] == "ok" and check["max_abs_diff"] == 0.0
    assert (check["rtol"], check["atol"]) == (0.0, 0.0)  # LiteRT is bit-exact run to run, also threaded
    assert r["method"]["inputs_reset_each_run"] is False


def test_lstm_state_is_seen_and_reset(coral_models):
    """keras_lstm_mnist_ptq keeps its LSTM state in variable tensors: from about the 20th invoke on
    the same input its outputs move by 18 quantization steps (measured). The check sees it, and
    passes because resetting the variables reproduces the first outputs; it says so."""
    r = api.bench(str(coral_models / "keras_lstm_mnist_ptq.tflite"), warmup=0, min_runs=60, min_time_s=0.0)
    check = r["method"]["output_check"]
    assert check["status"] == "ok" and "keeps state" in check["state"]


@pytest.mark.slow
def test_a_real_mismatch_fails_the_measurement(pte_models):
    """An injected real defect: ExecuTorch without the input re-set runs on overwritten inputs
    (the portable conv net's outputs then move by ~5e-2); the check fails it with one line, exit 1."""
    with pytest.raises(CheckFailed, match=r"changed between the first and the last of \d+ runs") as info:
        api.bench(pte_models["conv_portable"], runtime_options={"reset_inputs": False}, **FAST)
    assert info.value.exit_code == 1 and "\n" not in info.value.line()
    assert "max abs difference" in info.value.line()


@pytest.mark.slow
def test_pte_conv_repeats_exactly_with_inputs_re_set(pte_models):
    for key in ("conv_portable", "conv_xnnpack"):
        r = api.bench(pte_models[key], **FAST)
        schema.validate(r)
        m = r["method"]
        assert m["inputs_reset_each_run"] is True and "re-set before every run" in m["inputs"]
        assert m["output_check"]["status"] == "ok" and m["output_check"]["max_abs_diff"] == 0.0
        # throughput cannot come from the wall time (it includes the re-sets): 1000 / mean
        assert r["latency_ms"]["throughput_per_s"] == pytest.approx(1000.0 / r["latency_ms"]["mean"])
        # importing torch + executorch is hundreds of MiB; the model itself is tiny
        assert r["memory"]["runtime_import_rss_bytes"] > 100 * 2**20
        assert r["memory"]["model_rss_bytes"] < 50 * 2**20


@pytest.mark.slow
def test_transformer_with_embedding_benches_and_profiles(pte_models):
    path = pte_models["encoder"]
    r = api.bench(path, threads=1, warmup=3, min_runs=20, min_time_s=0.0)
    assert r["input_specs"][0]["dtype"] == "int64"
    assert r["method"]["output_check"]["status"] == "ok"
    from edgekit.torchkit.profile import profile_pte

    prof = profile_pte(path, runs=3)
    assert prof["ops"] and any(row["p50_ms"] is not None for row in prof["ops"])


@pytest.mark.slow
def test_ptl_repeats_exactly(ptl_model):
    for threads in (1, 2):
        r = api.bench(ptl_model, threads=threads, **FAST)
        assert r["method"]["output_check"] == {**r["method"]["output_check"], "status": "ok", "max_abs_diff": 0.0}


def test_no_output_check_is_recorded(coral_models):
    r = api.bench(str(coral_models / "split_concat.tflite"), output_check=False, **FAST)
    assert r["method"]["output_check"]["status"] == "skipped"
    assert r["settings"]["output_check"] is False


@pytest.fixture(scope="session")
def pte_models(tmp_path_factory):
    """Three .pte programs built once per session (about 15 s on 2 cores)."""
    pytest.importorskip("executorch")
    import torch
    from torch import nn
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 16 * 16, 10)

        def forward(self, x):
            return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1))

    class Encoder(nn.Module):
        """Token + position embeddings, one transformer encoder layer, layer norm, mean pooling."""

        def __init__(self, vocab=100, d=32, length=16):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(length, d)
            self.layer = nn.TransformerEncoderLayer(d, 4, 64, batch_first=True, dropout=0.0)
            self.norm = nn.LayerNorm(d)

        def forward(self, ids):
            pos = torch.arange(ids.shape[1]).unsqueeze(0)
            return self.norm(self.layer(self.tok(ids) + self.pos(pos))).mean(1)

    out = tmp_path_factory.mktemp("pte")
    torch.manual_seed(0)

    def save(module, example, name, xnnpack):
        ep = torch.export.export(module.eval(), example)
        edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()] if xnnpack else [])
        path = out / f"{name}.pte"
        path.write_bytes(edge.to_executorch().buffer)
        return str(path)

    conv = Conv()
    return {
        "conv_portable": save(conv, (torch.zeros(1, 3, 16, 16),), "conv_portable", False),
        "conv_xnnpack": save(conv, (torch.zeros(1, 3, 16, 16),), "conv_xnnpack", True),
        "encoder": save(Encoder(), (torch.zeros(1, 16, dtype=torch.long),), "encoder", True),
    }


@pytest.fixture(scope="session")
def ptl_model(tmp_path_factory):
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("ptl")
    report = api.build(source="tests.build_torch.models:tiny_cnn", targets=["ptl"], outdir=str(out))
    (entry,) = report.entries
    assert entry.status == "built", entry
    return str(out / entry.file)


def test_check_names_the_output_the_size_and_the_place_of_a_difference(coral_models):
    """A known injected difference on a real session's outputs: found exactly, tolerance honoured."""
    import numpy as np

    from edgekit.harness.worker import check_repeat
    from edgekit.runtimes.base import RunOptions
    from edgekit.runtimes.litert import TFLiteRuntime

    session = TFLiteRuntime().load(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), RunOptions(threads=1))
    session.set_inputs([np.zeros(session.inputs[0].shape, dtype=session.inputs[0].dtype)])
    session.invoke()
    reference = [np.array(o, copy=True) for o in session.outputs()]
    assert check_repeat(reference, session.outputs(), session, "m", runs=2)["max_abs_diff"] == 0.0
    moved = [o.copy() for o in reference]
    moved[0].flat[7] = np.uint8(moved[0].flat[7] + 3)  # three quantization steps at flat index 7
    with pytest.raises(CheckFailed, match=r"'MobilenetV1/Predictions/Reshape_1' max abs difference 3 at flat index 7"):
        check_repeat(reference, moved, session, "m", runs=2)
    session.repeat_tolerance = (0.0, 3.0)
    assert check_repeat(reference, moved, session, "m", runs=2)["max_abs_diff"] == 3.0
    with pytest.raises(CheckFailed, match="uint8\\[1, 1001\\], then float32"):
        check_repeat(reference, [moved[0].astype(np.float32)], session, "m", runs=2)
