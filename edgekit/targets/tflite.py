"""TFLite targets from TensorFlow/Keras sources: fp32, fp16, dynamic-range, full int8, int16x8.

Conversion paths (TF 2.21 / Keras 3, see docs/build.md):
- Keras models convert with ``TFLiteConverter.from_keras_model``: frozen weights, compact graph.
- SavedModels convert with ``from_saved_model``. A SavedModel written by ``tf.saved_model.save``
  of a Keras 3 model converts WITHOUT an error into a graph that keeps its weights as resource
  variables (VAR_HANDLE/READ_VARIABLE: ~1,000 ops instead of 66 for MobileNetV2, ~30x slower,
  int8 fails). Every converted graph's ops are read back; if resource-variable ops remain, the
  serving signature is frozen (variables -> constants) and converted from that concrete function
  with no trackable object, which gives the compact graph; if even that keeps them, the target
  fails and says why instead of shipping a slow model.
Static shapes: ``from_keras_model``/``from_saved_model`` keep the model's own signature, so a
dynamic batch stays -1 in the artifact's shape_signature (the Edge TPU compiler and the GPU
delegate refuse that). With declared input shapes (``--input-shape``, ``[[inputs]]``), option
``static_shapes = true``, or a later target that compiles this artifact and needs static shapes
(``edgetpu``), the source's inference function is traced at exactly the build's input shapes
(dynamic batch -> 1), frozen and converted from that concrete function.
The converter prints hundreds of lines on the C-level stdout/stderr; they are captured and only
quoted when the conversion fails.
"""

from __future__ import annotations

import os

from typing import Any, Iterator

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.registry import Registry
from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, Target, capture_native_output

# Converters for sources of other frameworks than TensorFlow, keyed by Source.framework; each
# module registers an object with framework, modes, cache_settings(target, ctx), convert(target, ctx, out).
CONVERTERS: Registry = Registry("TFLite converter", {"onnx": "edgekit.targets.tflite_onnx"})

RESOURCE_VARIABLE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}
IO_DTYPES = {"tflite-int8": ("int8", "uint8", "float32"), "tflite-int16x8": ("float32", "int16")}


def import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter on stderr
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise EnvironmentMissing(
            f"TensorFlow cannot be imported ({exc})", "install it: pip install 'edgekit[tf]' (tensorflow-cpu 2.21)"
        ) from None
    return tf


def op_histogram(model_bytes: bytes) -> dict[str, int]:
    """Operator name -> count over all subgraphs, read from the flatbuffer (pure Python `tflite`)."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    model = tflite.Model.GetRootAsModel(bytearray(model_bytes), 0)
    hist: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            code = model.OperatorCodes(sg.Operators(i).OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if names.get(builtin) == "CUSTOM":
                name = (code.CustomCode() or b"CUSTOM").decode()
            else:
                name = names.get(builtin, f"OP_{builtin}")
            hist[name] = hist.get(name, 0) + 1
    return dict(sorted(hist.items()))


def float_compute_ops(model_bytes: bytes) -> dict[str, int]:
    """Ops of the main graph that read or write float32 tensors, besides QUANTIZE/DEQUANTIZE.

    TFLITE_BUILTINS_INT8 does not guarantee a full-integer model: TF 2.21 silently keeps an op
    without an int8 kernel (CUMSUM, COS, ATAN2 ...) in float between DEQUANTIZE/QUANTIZE pairs,
    which an Edge TPU or an integer-only DSP cannot run.
    """
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    model = tflite.Model.GetRootAsModel(bytearray(model_bytes), 0)
    sg = model.Subgraphs(0)
    found: dict[str, int] = {}
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        if name in ("QUANTIZE", "DEQUANTIZE"):
            continue
        tensors = [int(t) for t in list(op.InputsAsNumpy()) + list(op.OutputsAsNumpy()) if int(t) >= 0]
        if any(sg.Tensors(t).Type() == tflite.TensorType.FLOAT32 for t in tensors):
            found[name] = found.get(name, 0) + 1
    return found


def resource_ops(hist: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in hist.items() if k in RESOURCE_VARIABLE_OPS}


def _first_error_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for needle in ("error:", "Error", "failed", "not supported"):
        hits = [l for l in lines if needle in l]
        if hits:
            return hits[0][:300]
    return lines[-1][:300] if lines else ""


def frozen_signature(tf: Any, loaded: Any, signature: str = "serving_default"):
    """The SavedModel's serving function with variables folded into constants."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(loaded.signatures[signature])


class TFLiteTarget(Target):
    format = "tflite"
    suffix = ".tflite"
    source_frameworks = ("tf",)

    def __init__(self, name: str, mode: str):
        self.name = name
        self.mode = mode  # fp32 | fp16 | dynamic | int8 | int16x8
        self.needs_calibration = mode in ("int8", "int16x8")
        self.option_names = (("io_dtype",) if name in IO_DTYPES else ()) + ("static_shapes",)
        if mode == "int8":
            self.option_names += ("allow_float_ops",)

    def io_dtype(self, ctx: BuildContext) -> str:
        if self.name not in IO_DTYPES:
            return "float32"
        allowed = IO_DTYPES[self.name]
        value = str(ctx.options.get("io_dtype", allowed[0]))
        if value not in allowed:
            raise EdgekitError(f"{self.name} io_dtype {value!r} is not supported", f"choose one of: {', '.join(allowed)}")
        return value

    def static_reason(self, ctx: BuildContext) -> str | None:
        """Why this artifact must have static input shapes, or None to keep the model's signature."""
        option = ctx.options.get("static_shapes")
        if option is not None and not isinstance(option, bool):
            raise EdgekitError(f"{self.name} option static_shapes must be true or false, not {option!r}",
                               f"set [options.{self.name}] static_shapes = true")
        if option is False:
            return None
        if option:
            return "option static_shapes"
        if getattr(ctx.spec, "inputs", None):
            return "declared input shapes"
        for name in getattr(ctx.spec, "targets", None) or []:
            other = TARGETS.get(name) if name in TARGETS.names() else None
            wants = getattr(other, "static_inputs_from", None)
            if wants is not None and self.name in wants(ctx.spec):
                return f"{name} needs static shapes"
        return None

    def converter(self, ctx: BuildContext):
        """The converter for a non-TensorFlow source, or None for the TensorFlow path below."""
        framework = ctx.source.framework
        if framework == "tf" or framework not in CONVERTERS:
            return None
        conv = CONVERTERS.get(framework)
        if self.mode not in conv.modes:
            raise EdgekitError(f"{self.name} cannot be built from a {framework} source",
                               f"from {framework} models edgekit builds: {', '.join('tflite-' + m for m in conv.modes)}")
        return conv

    def cache_settings(self, ctx: BuildContext) -> dict:
        conv = self.converter(ctx)
        if conv is not None:
            return conv.cache_settings(self, ctx)
        tf = import_tf()
        static = self.static_reason(ctx)
        return {"mode": self.mode, "io_dtype": self.io_dtype(ctx), "options": dict(ctx.options), "tensorflow": tf.__version__,
                "calibration_count": len(ctx.calibration) if (self.needs_calibration and ctx.calibration is not None) else None,
                "static_shapes": [i.to_dict() for i in ctx.source.inputs] if static else None}

    def check(self, ctx: BuildContext) -> None:
        if ctx.source.framework != "tf" and ctx.source.framework in CONVERTERS:
            self.converter(ctx)
            saved, self.source_frameworks = self.source_frameworks, (ctx.source.framework,)
            try:
                super().check(ctx)
            finally:
                self.source_frameworks = saved
        else:
            super().check(ctx)
        self.io_dtype(ctx)
        self.static_reason(ctx)

    # -- conversion -------------------------------------------------------------------------
    def converters(self, tf: Any, ctx: BuildContext) -> Iterator[tuple[str, Any]]:
        """Converter candidates in order of preference, each with the path's name for the manifest."""
        source = ctx.source
        if self.static_reason(ctx) and source.trace_fn is not None:
            yield "traced_static", tf.lite.TFLiteConverter.from_concrete_functions([source.trace_fn(source.inputs)])
            return
        if source.kind == "keras":
            yield "from_keras_model", tf.lite.TFLiteConverter.from_keras_model(source.model)
        elif source.kind == "saved_model":
            sig = source.info.get("signature", "serving_default")
            yield "from_saved_model", tf.lite.TFLiteConverter.from_saved_model(source.ref, signature_keys=[sig])
            yield "frozen_signature", tf.lite.TFLiteConverter.from_concrete_functions(
                [frozen_signature(tf, source.model, sig)]
            )
        else:
            raise EdgekitError(f"{self.name} cannot convert a {source.kind} source", "use a Keras model or a SavedModel")

    def representative(self, ctx: BuildContext):
        data = ctx.calibration
        task = ctx.progress.task(f"calibration: {self.name} ({len(data)} samples)", len(data))

        def gen():
            for i in range(len(data)):
                yield data.sample(i)
                task.advance()

        return gen

    def configure(self, tf: Any, conv: Any, ctx: BuildContext) -> dict:
        """Apply this target's quantization to ``conv``; returns the manifest's quantization dict."""
        q: dict = {"mode": self.mode}
        if self.mode == "fp32":
            q.update(weights="float32", activations="float32")
        elif self.mode == "fp16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
            q.update(weights="float16", activations="float32")
        elif self.mode == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            q.update(weights="int8 (dynamic range)", activations="float32, int8 at run time where kernels allow")
        elif self.mode == "int8":
            io = self.io_dtype(ctx)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = self.representative(ctx)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = getattr(tf, io)
            conv.inference_output_type = getattr(tf, io)
            q.update(weights="int8 per-channel", activations="int8", io_dtype=io, calibration_samples=len(ctx.calibration))
        elif self.mode == "int16x8":
            io = self.io_dtype(ctx)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = self.representative(ctx)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            if io == "int16":
                conv.inference_input_type = tf.int16
                conv.inference_output_type = tf.int16
            q.update(weights="int8", activations="int16", io_dtype=io, calibration_samples=len(ctx.calibration))
        return q

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        conv = self.converter(ctx)
        if conv is not None:
            return conv.convert(self, ctx, out_path)
        import keras

        tf = import_tf()
        warnings: list[str] = []
        tried: list[str] = []
        for path_name, conv in self.converters(tf, ctx):
            quant = self.configure(tf, conv, ctx)
            with capture_native_output() as cap:
                try:
                    model_bytes = conv.convert()
                    failure = None
                except Exception as exc:  # converter errors are long MLIR dumps: keep the key line
                    failure = exc
            if failure is not None:
                detail = _first_error_line(str(failure)) or _first_error_line(cap.text) or type(failure).__name__
                raise EdgekitError(
                    f"TFLiteConverter ({path_name}) failed for {self.name}: {detail}",
                    "try another target; int8/int16x8 need every op to have an integer kernel",
                )
            hist = op_histogram(model_bytes)
            bad = resource_ops(hist)
            if not bad:
                extra = {"converter_path": path_name, "op_count": sum(hist.values()), "ops": hist}
                static = self.static_reason(ctx)
                if static:
                    extra["static_shapes"] = {"reason": static, "inputs": [i.to_dict() for i in ctx.source.inputs]}
                if self.mode == "int8":
                    floats = float_compute_ops(model_bytes)
                    extra["float_ops"] = floats
                    if floats:
                        text = ", ".join(f"{k}x{v}" if v > 1 else k for k, v in floats.items())
                        if not ctx.options.get("allow_float_ops", False):
                            raise EdgekitError(
                                f"{self.name} is not full-integer: {text} stayed float (no int8 kernel)",
                                "change those layers, or accept a mixed model with option allow_float_ops=true "
                                "(it will not run on an Edge TPU or an integer-only accelerator)",
                            )
                        warnings.append(f"not full-integer: {text} run in float (allow_float_ops)")
                with open(out_path, "wb") as f:
                    f.write(model_bytes)
                if tried:
                    warnings.append(
                        f"{' and '.join(tried)} kept resource-variable ops; converted the frozen serving signature instead"
                    )
                return BuildOutput(
                    quantization=quant,
                    tool_versions={"tensorflow": tf.__version__, "keras": keras.__version__},
                    warnings=warnings,
                    extra=extra,
                )
            tried.append(f"{path_name} ({sum(hist.values())} ops incl. {', '.join(f'{k}x{v}' for k, v in bad.items())})")
        raise EdgekitError(
            f"every conversion path kept resource-variable ops for {self.name}: {'; '.join(tried)}",
            "the weights are not frozen (e.g. tf.saved_model.save of a Keras 3 model); "
            "save the model with model.save('m.keras') or model.export(dir) and build from that",
        )


for _name, _mode in (
    ("tflite-fp32", "fp32"),
    ("tflite-fp16", "fp16"),
    ("tflite-dynamic", "dynamic"),
    ("tflite-int8", "int8"),
    ("tflite-int16x8", "int16x8"),
):
    TARGETS.register(_name, TFLiteTarget(_name, _mode))
