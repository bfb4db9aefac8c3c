"""Quantization diagnosis and repair, independent of the framework that quantized the model.

Backends (TFLite's QuantizationDebugger, PT2E on PyTorch modules, ONNX Runtime's QDQ debugger) each
turn their own per-layer outputs into :class:`~edgekit.quant.metrics.LayerError` records; ranking
(:func:`~edgekit.quant.metrics.rank_layers`) and the repair search
(:func:`~edgekit.quant.repair.greedy_repair`) are shared, so "which layers lose accuracy" and "keep
which layers at higher precision" mean the same thing for every target. numpy only at import.
"""

from __future__ import annotations

from edgekit.registry import Registry

#: Per-layer error backends by artifact format. A backend module registers an object with
#: ``layer_errors(ctx_or_entry, samples) -> list[LayerError]`` (float vs quantized outputs of every
#: layer, named as the user knows them) and, where the format can keep layers at higher precision,
#: ``build_mixed(...)``; commands and targets find it here instead of asking "is this TFLite?".
BACKENDS: Registry = Registry(
    "quantization backend",
    {"tflite": "edgekit.quant.tflite", "pte": "edgekit.quant.pt2e"},
)
