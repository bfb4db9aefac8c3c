"""Quantization diagnosis and repair, independent of the framework that quantized the model.

Backends (TFLite's QuantizationDebugger, PT2E on PyTorch modules, ONNX Runtime's QDQ debugger) each
turn their own per-layer outputs into :class:`~edgekit.quant.metrics.LayerError` records; ranking
(:func:`~edgekit.quant.metrics.rank_layers`) and the repair search
(:func:`~edgekit.quant.repair.greedy_repair`) are shared, so "which layers lose accuracy" and "keep
which layers at higher precision" mean the same thing for every target. numpy only at import.
"""
