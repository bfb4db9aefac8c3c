"""Issue 19, ExecuTorch half: a BERT-style encoder with integer mask/position glue builds static and
dynamic int8, the drift gate fails the static artifact that lost accuracy, and the repaired target
meets cosine >= 0.99 against float with the kept modules listed."""

from __future__ import annotations

import numpy as np
import pytest

# One session build of four targets incl. the repair search: ~25 min on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_integer_glue_is_never_annotated():
    """The quantizer's transform leaves int64 add/mul alone and annotates no integer tensor."""
    import torch

    from edgekit.torchkit import pt2e
    from examples.torch_encoder.encoder import build_encoder, token_ids

    model = build_encoder(layers=1)
    ids = torch.from_numpy(token_ids(1, seed=3))
    ep = torch.export.export(model, (ids,), strict=False)
    for dynamic in (False, True):
        prepared = pt2e.prepare(ep, pt2e.make_quantizer(dynamic=dynamic))
        integer = [n for n in prepared.graph.nodes if n.op == "call_function" and not pt2e.is_float_node(n)]
        assert integer, "the encoder has integer glue (mask, position ids)"
        names = {n.name for n in integer}
        assert {"mul", "add"} <= names  # cumsum(mask) * mask + 1 stayed integer arithmetic
        for n in integer:
            assert "quantization_annotation" not in n.meta or n.meta["quantization_annotation"].output_qspec is None
            assert not any(u.op == "call_module" for u in n.users), f"observer on integer node {n.name}"
        # and the simulated model runs on real token ids (it raised IndexError before the fix)
        pt2e.calibrate(prepared, [(ids,)])
        out = pt2e.convert(prepared)(ids)
        assert torch.isfinite(out).all()


def test_static_and_dynamic_build_and_the_gate_fails_static(encoder_build):
    _, _, entries = encoder_build
    static, dynamic = entries["executorch-xnnpack-int8"], entries["executorch-xnnpack-dynamic-int8"]
    assert static.file and static.size_bytes, static.error  # built (kept for inspection) ...
    assert static.status == "failed" and static.error["type"] == "DriftSanity"  # ... but failed by the gate
    assert static.accuracy["cosine"] < 0.9
    assert "sanity floor" in static.error["message"]
    assert dynamic.status == "built", dynamic.error  # builds (it failed in calibration before the fix)
    assert dynamic.accuracy["cosine"] > static.accuracy["cosine"]


def test_repair_meets_the_budget_with_kept_modules_listed(encoder_build):
    """Issue 19: the search scores sentences it did not calibrate on (it met 0.99 on its own
    calibration sentences, 0.9924, while the .pte scored 0.9743 held out), and the record's
    verdict is the held-out one."""
    _, _, entries = encoder_build
    mixed = entries["executorch-xnnpack-int8-mixed"]
    assert mixed.status == "built", mixed.error
    assert mixed.accuracy["cosine"] >= 0.99  # the lowered .pte, on held-out sentences
    repair = mixed.extra["repair"]
    assert repair["met"] and repair["search_met"] and repair["baseline_score"] < 0.99 <= repair["score"]
    assert repair["search_target"] == pytest.approx(0.99 + repair["margin"]) and repair["margin"] > 0
    held = repair["held_out"]
    assert held["met"] and held["cosine"] == pytest.approx(mixed.accuracy["cosine"]) and held["samples"] == 32
    split = repair["split"]  # 64 calibration sentences: half calibrate, the other half score the search
    assert split["calibration_samples"] + split["search_samples"] == 64 and split["search_samples"] == repair["search_samples"]
    assert mixed.quantization["calibration_samples"] == split["calibration_samples"]
    kept = repair["kept_layers"]
    assert kept and kept == mixed.quantization["kept_float"]
    assert len(kept) < repair["candidates"]  # a repair, not a float model
    cost = repair["cost"]["size_bytes"]
    assert cost["int8"] < cost["mixed"] < cost["fp32"]
    worst = mixed.extra["quant_report"]["worst"]
    assert worst and all(
        "." in w["source_name"] or w["source_name"] in ("<top>", "tokens", "positions", "ln_embed") for w in worst
    )  # named by PyTorch module path


def test_pte_backend_layer_errors_by_module_path(encoder_build):
    """BACKENDS['pte'].layer_errors(target, ctx): the call shape quant-report / --explain use."""
    from edgekit.build.calibration import Dataset
    from edgekit.build.spec import BuildSpec
    from edgekit.quant import BACKENDS
    from edgekit.quant.metrics import rank_layers
    from edgekit.sources import load_source
    from edgekit.targets import TARGETS
    from edgekit.targets.base import BuildContext
    from examples.torch_encoder.encoder import token_ids

    target = TARGETS.get("executorch-xnnpack-int8")
    source = load_source("examples.torch_encoder.encoder:encoder")
    ctx = BuildContext(
        source=source, spec=BuildSpec(), target=target.name, options={}, calibration=Dataset([token_ids(8, seed=1)]), outdir="."
    )
    layers = rank_layers(BACKENDS.get("pte").layer_errors(target, ctx))
    names = {l["source_name"] for l in layers}
    assert {"layers.0.attn.q", "layers.3.fc2", "ln_embed"} <= names
    for l in layers:
        assert np.isfinite(l["snr_db"]) and -1.0 <= l["cosine"] <= 1.0 + 1e-9
    assert max(l["added_db"] for l in layers) > 1.0  # quantization adds measurable error somewhere
