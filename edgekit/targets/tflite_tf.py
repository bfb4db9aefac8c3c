"""The TensorFlow/Keras converter of the TFLite targets (CONVERTERS["tf"]): fp32, fp16, dynamic, int8, int16x8.

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
from collections.abc import Iterator
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.targets.base import BuildContext, BuildOutput, capture_native_output
from edgekit.targets.tflite import (
    CONVERTERS,
    TFLiteTarget,
    check_full_integer,
    op_histogram,
    resource_ops,
)


def import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter on stderr
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise EnvironmentMissing(
            f"TensorFlow cannot be imported ({exc})", "install it: pip install 'edgekit[tf]' (tensorflow-cpu 2.21)"
        ) from None
    return tf


def _first_error_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for needle in ("error:", "Error", "failed", "not supported"):
        hits = [l for l in lines if needle in l]
        if hits:
            return hits[0][:300]
    return lines[-1][:300] if lines else ""


def frozen_signature(tf: Any, loaded: Any, signature: str = "serving_default"):
    """The SavedModel's serving function with variables folded into constants."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(loaded.signatures[signature])


class TFConverter:
    """TFLiteConverter (TF 2.21 / Keras 3) behind the TFLite targets; ``target`` is the TFLiteTarget."""

    framework = "tf"
    name = "tensorflow"
    modes = ("fp32", "fp16", "dynamic", "int8", "int16x8")

    def check(self, target: TFLiteTarget, ctx: BuildContext) -> None:
        if "quantizer" in ctx.options:  # litert-torch's choice between two quantizers; TF has one
            known = ", ".join(o for o in target.option_names if o != "quantizer")
            raise EdgekitError(
                f"target {target.name} has no option 'quantizer' for a TensorFlow source", f"its options are: {known}"
            )

    def cache_settings(self, target: TFLiteTarget, ctx: BuildContext) -> dict:
        tf = import_tf()
        static = target.static_reason(ctx)
        return {
            "mode": target.mode,
            "io_dtype": target.io_dtype(ctx),
            "options": dict(ctx.options),
            "tensorflow": tf.__version__,
            "calibration_count": len(ctx.calibration) if (target.needs_calibration and ctx.calibration is not None) else None,
            "static_shapes": [i.to_dict() for i in ctx.source.inputs] if static else None,
        }

    # -- conversion -------------------------------------------------------------------------
    def converters(self, tf: Any, target: TFLiteTarget, ctx: BuildContext) -> Iterator[tuple[str, Any]]:
        """Converter candidates in order of preference, each with the path's name for the manifest."""
        source = ctx.source
        if target.static_reason(ctx) and source.trace_fn is not None:
            yield "traced_static", tf.lite.TFLiteConverter.from_concrete_functions([source.trace_fn(source.inputs)])
            return
        if source.kind == "keras":
            yield "from_keras_model", tf.lite.TFLiteConverter.from_keras_model(source.model)
        elif source.kind == "saved_model":
            sig = source.info.get("signature", "serving_default")
            yield "from_saved_model", tf.lite.TFLiteConverter.from_saved_model(source.ref, signature_keys=[sig])
            yield "frozen_signature", tf.lite.TFLiteConverter.from_concrete_functions([frozen_signature(tf, source.model, sig)])
        else:
            raise EdgekitError(f"{target.name} cannot convert a {source.kind} source", "use a Keras model or a SavedModel")

    def representative(self, target: TFLiteTarget, ctx: BuildContext):
        data = ctx.calibration
        task = ctx.progress.task(f"calibration: {target.name} ({len(data)} samples)", len(data))

        def gen():
            for i in range(len(data)):
                yield data.sample(i)
                task.advance()

        return gen

    def configure(self, tf: Any, conv: Any, target: TFLiteTarget, ctx: BuildContext) -> dict:
        """Apply this target's quantization to ``conv``; returns the manifest's quantization dict."""
        mode = target.mode
        q: dict = {"mode": mode}
        if mode == "fp32":
            q.update(weights="float32", activations="float32")
        elif mode == "fp16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
            q.update(weights="float16", activations="float32")
        elif mode == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            q.update(weights="int8 (dynamic range)", activations="float32, int8 at run time where kernels allow")
        elif mode == "int8":
            io = target.io_dtype(ctx)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = self.representative(target, ctx)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = getattr(tf, io)
            conv.inference_output_type = getattr(tf, io)
            q.update(weights="int8 per-channel", activations="int8", io_dtype=io, calibration_samples=len(ctx.calibration))
        elif mode == "int16x8":
            io = target.io_dtype(ctx)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = self.representative(target, ctx)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            if io == "int16":
                conv.inference_input_type = tf.int16
                conv.inference_output_type = tf.int16
            q.update(weights="int8", activations="int16", io_dtype=io, calibration_samples=len(ctx.calibration))
        return q

    def convert(self, target: TFLiteTarget, ctx: BuildContext, out_path: str) -> BuildOutput:
        import keras

        tf = import_tf()
        warnings: list[str] = []
        tried: list[str] = []
        for path_name, conv in self.converters(tf, target, ctx):
            quant = self.configure(tf, conv, target, ctx)
            with capture_native_output() as cap:
                try:
                    model_bytes = conv.convert()
                    failure = None
                except Exception as exc:  # noqa: BLE001  # converter errors are long MLIR dumps: keep the key line
                    failure = exc
            if failure is not None:
                detail = _first_error_line(str(failure)) or _first_error_line(cap.text) or type(failure).__name__
                raise EdgekitError(
                    f"TFLiteConverter ({path_name}) failed for {target.name}: {detail}",
                    "try another target; int8/int16x8 need every op to have an integer kernel",
                )
            hist = op_histogram(model_bytes)
            bad = resource_ops(hist)
            if not bad:
                extra = {"converter_path": path_name, "op_count": sum(hist.values()), "ops": hist}
                static = target.static_reason(ctx)
                if static:
                    extra["static_shapes"] = {"reason": static, "inputs": [i.to_dict() for i in ctx.source.inputs]}
                if target.mode == "int8":
                    extra["float_ops"] = check_full_integer(target, ctx, model_bytes, warnings)
                with open(out_path, "wb") as f:
                    f.write(model_bytes)
                if tried:
                    warnings.append(
                        f"{' and '.join(tried)} kept resource-variable ops; converted the frozen serving signature instead"
                    )
                extra["converter"] = {"name": "tensorflow", "framework": "tf", "version": tf.__version__, "path": path_name}
                return BuildOutput(
                    quantization=quant,
                    tool_versions={"tensorflow": tf.__version__, "keras": keras.__version__},
                    warnings=warnings,
                    extra=extra,
                )
            tried.append(f"{path_name} ({sum(hist.values())} ops incl. {', '.join(f'{k}x{v}' for k, v in bad.items())})")
        raise EdgekitError(
            f"every conversion path kept resource-variable ops for {target.name}: {'; '.join(tried)}",
            "the weights are not frozen (e.g. tf.saved_model.save of a Keras 3 model); "
            "save the model with model.save('m.keras') or model.export(dir) and build from that",
        )


CONVERTERS.register("tf", TFConverter())
