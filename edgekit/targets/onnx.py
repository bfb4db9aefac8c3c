"""ONNX targets from PyTorch or ONNX: ``onnx`` (float), ``onnx-int8`` (static QDQ) and ``onnx-dynamic``.

``onnx`` exports with ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter,
which needs onnxscript) from the same ExportedProgram the ExecuTorch targets share; the opset the
file declares is recorded in the manifest. Input names are the source's, so the drift check and
``--input-shape`` use the names the user knows. An ``.onnx`` source is its own float model (input
shapes fixed as the build declares them; opsets before 13 converted to 13, see ``source_float``).

``onnx-int8`` is onnxruntime's static quantization in QDQ format (QuantizeLinear/DequantizeLinear
pairs around each op, the format ONNX Runtime Mobile and its NNAPI/QNN providers take), int8
weights per channel and int8 activations, calibrated on edgekit's calibration samples (never the
held-out evaluation ones) through a CalibrationDataReader. ``quant_pre_process`` (shape inference
and graph optimisation) runs first, as onnxruntime's documentation asks. ``onnx-dynamic`` is
``quantize_dynamic``: int8 weights, activation ranges computed per call, no calibration.
All three are verified in the worker and drift-checked by the orchestrator like any artifact.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.targets import TARGETS
from edgekit.targets.base import (
    BuildContext,
    BuildOutput,
    Target,
    capture_native_output,
)


TOOLS = ("torch", "onnx", "onnxscript", "onnxruntime")  # distributions whose versions decide the artifact


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in TOOLS:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


REQUIRED_MODULES = ("onnxscript", "onnxruntime", "onnx")  # what the exporter and the quantizers import


def _require() -> None:
    import importlib.util

    missing = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        from edgekit.errors import EnvironmentMissing

        raise EnvironmentMissing(
            f"the ONNX targets need {', '.join(missing)}, which is not installed",
            "pip install 'edgekit[onnx]' (onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2)",
        )


def opset_of(path: str) -> int | None:
    import onnx

    m = onnx.load(path, load_external_data=False)
    return next((int(o.version) for o in m.opset_import if o.domain in ("", "ai.onnx")), None)


def export_float(ctx: BuildContext, out_path: str, opset: int | None) -> dict:
    """PyTorch -> float .onnx at ``out_path``; exported once per source and opset (kept in memory on
    the Source, as the ExportedProgram is) and written again for the quantized targets."""
    from edgekit.build.artifacts import atomic_write_bytes

    cache = getattr(ctx.source, "_onnx_float", None) or {}
    if opset in cache:
        atomic_write_bytes(out_path, cache[opset][0])
        return dict(cache[opset][1])
    import torch

    from edgekit.torchkit.export import example_inputs, exported, first_reason

    with capture_native_output():
        ep = exported(ctx.source)
    example = example_inputs(ctx.source)
    names = [i.name for i in ctx.source.inputs] or None
    kwargs: dict[str, Any] = {"dynamo": True, "input_names": names, "external_data": False, "verbose": False}
    if opset:
        kwargs["opset_version"] = int(opset)
    with capture_native_output():
        try:
            program = torch.onnx.export(ep, tuple(example), None, **kwargs)
            program.save(out_path, external_data=False)
        except Exception as exc:
            reason = first_reason(exc)
            raise EdgekitError(
                f"torch.onnx.export (dynamo) cannot export {ctx.source.name}: {reason}",
                "make forward() torch.export-able, or choose an opset the ops exist in (option opset)",
            ) from None
    info = {"exporter": "torch.onnx.export(dynamo=True)", "opset": opset_of(out_path)}
    with open(out_path, "rb") as f:
        cache[opset] = (f.read(), info)
    ctx.source._onnx_float = cache
    return info


class CalibrationReader:
    """onnxruntime's CalibrationDataReader over edgekit's calibration Dataset, one sample per call."""

    def __init__(self, ctx: BuildContext, input_names: list[str], dtypes: list[str], on_sample=None):
        self.ds = ctx.calibration
        self.names = input_names
        self.dtypes = dtypes
        self.i = 0
        self.on_sample = on_sample

    def get_next(self) -> dict | None:
        if self.ds is None or self.i >= len(self.ds):
            return None
        sample = self.ds.sample(self.i)
        self.i += 1
        if self.on_sample:
            self.on_sample()
        return {n: a.astype(d, copy=False) for n, a, d in zip(self.names, sample, self.dtypes)}

    def rewind(self) -> None:
        self.i = 0


class OnnxTarget(Target):
    format = "onnx"
    suffix = ".onnx"
    source_frameworks = ("torch", "onnx")
    needs_export = True

    def __init__(self, name: str, quantize: str | None = None):
        self.name = name
        self.quantize = quantize
        self.needs_calibration = quantize == "static"
        self.dynamic_quant = quantize == "dynamic"
        self.option_names = ("opset",) + (("per_channel",) if quantize else ())
        if quantize == "static":
            self.repair_target = "onnx-int8-mixed"  # the failure hint points at it (orchestrator)

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        _require()

    def cache_settings(self, ctx: BuildContext) -> dict:
        return {"options": dict(ctx.options), "quantize": self.quantize, "tools": tool_versions()}

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        opset = ctx.options.get("opset")
        if not self.quantize:
            info = float_model(ctx, out_path, opset)
            return BuildOutput(quantization={"scheme": "none", "dtype": "float32"}, tool_versions=tool_versions(), extra=info)
        per_channel = bool(ctx.options.get("per_channel", True))
        with tempfile.TemporaryDirectory(prefix="edgekit-onnxq-") as tmp:
            pre_path, info = preprocessed_float(ctx, tmp)
            if self.quantize == "dynamic":
                quant = quantize_dynamic_file(pre_path, out_path, per_channel, self.name)
            else:
                task = ctx.progress.task(f"calibration: {self.name}", len(ctx.calibration))
                quant = quantize_static_file(pre_path, out_path, ctx, self.name, on_sample=task.advance)
        info = {**info, "pre_process": "onnxruntime.quantization.quant_pre_process"}
        return BuildOutput(quantization=quant, tool_versions=tool_versions(), extra=info)


QDQ_PER_CHANNEL_OPSET = 13  # DequantizeLinear's axis (per-channel weights) exists from opset 13


def source_float(ctx: BuildContext, out_path: str) -> dict:
    """An ``.onnx`` source as the float model: its own graph with the build's fixed input shapes,
    converted to opset 13 when it is older (per-channel QDQ needs DequantizeLinear's ``axis``, and
    onnxruntime's quantizer writes it into an opset-11 file, which then fails to load)."""

    from edgekit.build.artifacts import atomic_write_bytes
    from edgekit.inspect.onnx_model import fix_shapes

    model = fix_shapes(ctx.source.model, {i.name: list(i.shape) for i in ctx.source.inputs})
    declared = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    info: dict[str, Any] = {"exporter": "none (the .onnx source, input shapes fixed)", "source_opset": declared}
    if declared is not None and declared < QDQ_PER_CHANNEL_OPSET:
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, QDQ_PER_CHANNEL_OPSET)
        except Exception as exc:
            raise EdgekitError(
                f"onnx's version converter cannot take {ctx.source.name} from opset {declared} to "
                f"{QDQ_PER_CHANNEL_OPSET}: {type(exc).__name__}: {str(exc)[:200]}",
                "re-export the model at opset 13 or later",
            ) from None
        info["opset_converted"] = f"{declared} -> {QDQ_PER_CHANNEL_OPSET} (onnx.version_converter)"
    atomic_write_bytes(out_path, model.SerializeToString())
    return {**info, "opset": opset_of(out_path)}


def float_model(ctx: BuildContext, out_path: str, opset: int | None) -> dict:
    """The float .onnx of ``ctx``'s source at ``out_path``, by the source's framework (one record
    per framework, like the TFLite converters): exported from PyTorch, or the .onnx source itself."""
    return FLOAT_MODEL[ctx.source.framework](ctx, out_path, opset)


def preprocessed_float(ctx: BuildContext, tmp: str) -> tuple[str, dict]:
    """The float model after ``quant_pre_process`` in ``tmp``: what the quantizers (and the per-layer
    report's float reference, whose tensor names must be the quantized model's) start from."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_path = os.path.join(tmp, "float.onnx")
    pre_path = os.path.join(tmp, "pre.onnx")
    info = float_model(ctx, float_path, ctx.options.get("opset"))
    with capture_native_output():
        try:
            quant_pre_process(float_path, pre_path, skip_symbolic_shape=True)
        except Exception as exc:
            raise EdgekitError(
                f"onnxruntime's quant_pre_process failed: {type(exc).__name__}: {str(exc)[:200]}",
                "build the onnx target (float) instead",
            ) from None
    return pre_path, info


def _quantization_failed(name: str, exc: Exception) -> EdgekitError:
    return EdgekitError(
        f"onnxruntime quantization ({name}) failed: {type(exc).__name__}: {str(exc)[:200]}",
        "build the onnx target (float), or onnx-dynamic",
    )


def quantize_dynamic_file(pre_path: str, out_path: str, per_channel: bool, name: str) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with capture_native_output():
            quantize_dynamic(pre_path, out_path, per_channel=per_channel, weight_type=QuantType.QInt8)
    except Exception as exc:
        raise _quantization_failed(name, exc) from None
    return {
        "scheme": "dynamic-range",
        "weights": "int8",
        "activations": "float32 (int8 per call)",
        "per_channel": per_channel,
        "calibration_samples": 0,
        "tool": "onnxruntime.quantize_dynamic",
    }


def model_inputs(path: str) -> tuple[list[str], list[str]]:
    """Input names and numpy dtypes of an .onnx file, as onnxruntime reads them."""
    import onnxruntime as ort

    from edgekit.runtimes.onnxrt import ORT_TYPES

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [i.name for i in sess.get_inputs()], [ORT_TYPES.get(i.type, "float32") for i in sess.get_inputs()]


def quantize_static_file(
    pre_path: str,
    out_path: str,
    ctx: BuildContext,
    name: str,
    *,
    nodes_to_exclude: Any = (),
    on_sample=None,
) -> dict:
    """Static int8 QDQ (MinMax) of ``pre_path`` calibrated on ``ctx.calibration``; the nodes named in
    ``nodes_to_exclude`` stay float (no QDQ around them): how onnx-int8-mixed keeps layers float."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    per_channel = bool(ctx.options.get("per_channel", True))
    try:
        names, dtypes = model_inputs(pre_path)
        reader = CalibrationReader(ctx, names, dtypes, on_sample=on_sample)
        with capture_native_output():
            quantize_static(
                pre_path,
                out_path,
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=list(nodes_to_exclude) or None,
            )
    except EdgekitError:
        raise
    except Exception as exc:
        raise _quantization_failed(name, exc) from None
    return {
        "scheme": "int8 static QDQ",
        "weights": "int8",
        "activations": "int8",
        "per_channel": per_channel,
        "calibration_samples": reader.i,
        "tool": "onnxruntime.quantize_static (MinMax)",
    }


# source framework -> how it becomes the float .onnx the quantizers start from
FLOAT_MODEL = {
    "torch": lambda ctx, out_path, opset: export_float(ctx, out_path, opset),
    "onnx": lambda ctx, out_path, opset: source_float(ctx, out_path),  # its own opset (converted when < 13)
}

ONNX_TARGETS = (OnnxTarget("onnx"), OnnxTarget("onnx-int8", "static"), OnnxTarget("onnx-dynamic", "dynamic"))
for _target in ONNX_TARGETS:
    TARGETS.register(_target.name, _target)
