"""Quantization diagnosis and repair, independent of the framework that quantized the model.

Backends (TFLite's QuantizationDebugger, PT2E on PyTorch modules, ONNX Runtime's QDQ debugger) each
turn their own per-layer outputs into :class:`~edgekit.quant.metrics.LayerError` records; ranking
(:func:`~edgekit.quant.metrics.rank_layers`) and the repair search
(:func:`~edgekit.quant.repair.greedy_repair`) are shared, so "which layers lose accuracy" and "keep
which layers at higher precision" mean the same thing for every target. numpy only at import.
"""

from __future__ import annotations

from edgekit.registry import Registry

#: Per-layer error backends by artifact format. A backend module registers (``BACKENDS.register(fmt,
#: obj)``) an object with
#:
#:   ``layer_errors(target, ctx) -> list[LayerError]``
#:
#: where ``target`` is the built quantized target (its mode/options say which quantization) and
#: ``ctx`` the ``edgekit.targets.base.BuildContext`` it was built with (source, calibration
#: samples, options). It measures float vs quantized per layer on calibration samples, names each
#: layer as the user knows it (Keras layer, PyTorch module path) and may raise EdgekitError when
#: that quantization cannot be explained. ``--explain`` and the ``*-mixed`` targets find backends
#: here instead of asking "is this TFLite?".
BACKENDS: Registry = Registry(
    "quantization backend",
    {"tflite": "edgekit.quant.tflite", "pte": "edgekit.quant.pt2e", "onnx": "edgekit.quant.onnx"},
)


def explain(target, ctx) -> dict:
    """The manifest's per-layer report of ``target`` built in ``ctx`` (ranked, summarised)."""
    from edgekit.quant.metrics import rank_layers
    from edgekit.quant.report import summary

    return summary(rank_layers(BACKENDS.get(target.format).layer_errors(target, ctx)))
