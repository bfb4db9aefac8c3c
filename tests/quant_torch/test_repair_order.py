"""The PT2E repair order: noise added as a share of the signal, blamed on quantized feeders."""

from __future__ import annotations

from edgekit.quant.metrics import LayerError
from edgekit.quant.pt2e import repair_order


def _layer(name: str, depth: int, snr: float, inputs: list[str]) -> LayerError:
    return LayerError(name=name, source_name=name, depth=depth, snr_db=snr, inputs=inputs, cosine=1.0)


def test_attention_error_is_blamed_on_the_projections_feeding_it():
    layers = [
        _layer("tokens", 0, 45.0, []),  # 200 -> 45 dB: many dB lost, harmless noise
        _layer("l0.q", 1, 30.0, ["tokens"]),
        _layer("l0.k", 2, 30.0, ["tokens"]),
        _layer("l0.fc", 3, 29.0, ["tokens"]),
        _layer("l0.attn", 4, 12.0, ["l0.q", "l0.k"]),  # softmax amplifies q/k error; not quantizable itself
    ]
    order = repair_order(layers, ["tokens", "l0.q", "l0.k", "l0.fc"])
    assert order[:2] == ["l0.q", "l0.k"]  # the attention's loss, split over its quantized inputs
    assert order[-1] == "tokens"  # by dB lost it would be first; by noise added it is last
