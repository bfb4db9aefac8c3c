"""``tflite-fp32``/``-fp16``/``-int8`` from an ONNX source, through onnx2tf in its own toolchain.

onnx2tf 1.29.24 cannot share edgekit's environment (it pins tensorflow 2.19, numpy 1.26, onnx
1.19), so the conversion runs in the ``onnx2tf`` toolchain (edgekit/toolchains) as the standalone
worker ``edgekit/toolchains/workers/onnx2tf_convert.py``; this module only prepares its inputs and
reads what it wrote. The worker fixes the input shapes with onnxsim, renames the node names
TensorFlow rejects, writes the sample-data file onnx2tf would otherwise download, and calibrates
int8 with ``-oiqt -cind`` (see its docstring for the measured reasons).

Layout: onnx2tf turns NCHW inputs into NHWC ones. The artifact's input shapes are read back from
the flatbuffer and compared with the source's; the result goes into the entry as
``extra.input_layout`` (edgekit/build/layout.py), which the verification and drift check use to
feed the artifact (the build's samples stay in the source's NCHW layout).
"""

from __future__ import annotations

import hashlib
import os
import sys

from edgekit.errors import EdgekitError
from edgekit.targets.base import BuildContext, BuildOutput

TOOLCHAIN = "onnx2tf"
WORKER = "onnx2tf_convert"
CONVERT_TIMEOUT_S = float(os.environ.get("EDGEKIT_ONNX2TF_TIMEOUT", "1800"))
QUANTIZATION = {
    "fp32": {"weights": "float32", "activations": "float32"},
    "fp16": {"weights": "float16", "activations": "float32"},
    "int8": {"weights": "int8 per-channel", "activations": "int8"},
}


def _worker_sha256() -> str:
    from edgekit.toolchains import WORKERS_DIR

    with open(os.path.join(str(WORKERS_DIR), f"{WORKER}.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _toolchain_key() -> str | None:
    """The pinned set's identity (changes when the toolchain's lock does), when the manager has one."""
    try:
        from edgekit.toolchains import env_key  # type: ignore[attr-defined]
    except ImportError:
        return os.environ.get(f"EDGEKIT_TOOLCHAIN_{TOOLCHAIN.upper()}_PYTHON")
    try:
        return env_key(TOOLCHAIN)
    except Exception:
        return None


def tflite_inputs(model_bytes: bytes) -> list[tuple[str, list[int]]]:
    """(name, shape) of the converted model's inputs, read with edgekit's one TFLite reader."""
    from edgekit.inspect.tflite_model import parse_bytes

    main = parse_bytes(model_bytes, "<onnx2tf output>").main
    return [(main.tensors[i].name, list(main.tensors[i].shape)) for i in main.inputs]


def order_like_source(artifact_names: list[str], source_names: list[str]) -> list[int]:
    """For each source input, the artifact input it is (onnx2tf keeps the names, maybe prefixed)."""
    order = []
    for s in source_names:
        hits = [i for i, n in enumerate(artifact_names) if n == s or n.endswith(s) or s in n]
        order.append(hits[0] if len(hits) == 1 else -1)
    if sorted(order) == list(range(len(artifact_names))):
        return order
    return list(range(len(source_names)))


class OnnxTFLiteConverter:
    framework = "onnx"
    name = "onnx2tf"  # recorded by the target as extra.converter, with its version
    modes = ("fp32", "fp16", "int8")

    def check(self, target, ctx: BuildContext) -> None:
        if "quantizer" in ctx.options:  # litert-torch's choice; onnx2tf quantizes with TF's converter only
            raise EdgekitError(
                f"target {target.name} has no option 'quantizer' for an ONNX source",
                "drop it: onnx2tf calibrates with TFLiteConverter (-oiqt)",
            )

    def edgetpu_reason(self, target, ctx: BuildContext) -> str | None:
        """Which target of this build compiles this artifact for the Edge TPU, if one does.

        onnx2tf writes grouped convolutions as CONV_2D version 6 (all 46 of the RapidOCR
        classifier's, float and int8 alike), newer than edgetpu_compiler 16 knows (up to 5): the
        preflight then predicts 1 of 113 ops on the TPU. With onnx2tf's ``-dgc``
        (disable_group_convolution) the same convolutions are version 1 (SPLIT + CONV_2D + CONCATENATION).
        """
        from edgekit.targets import TARGETS

        for name in getattr(ctx.spec, "targets", None) or []:
            other = TARGETS.get(name) if name in TARGETS.names() else None
            wants = getattr(other, "static_inputs_from", None)
            if wants is not None and target.name in wants(ctx.spec):
                return name
        return None

    def uses_calibration(self, target, ctx: BuildContext) -> bool:
        """int8 calibrates on it; float modes use it only for onnx2tf's sample-data file."""
        return ctx.calibration is not None

    def cache_settings(self, target, ctx: BuildContext) -> dict:
        return {
            "tool": self.name,
            "mode": target.mode,
            "io_dtype": target.io_dtype(ctx),
            "options": dict(ctx.options),
            "toolchain": _toolchain_key(),
            "worker": _worker_sha256(),
            "inputs": [i.to_dict() for i in ctx.source.inputs],
            "calibration": ctx.calibration.sha256() if self.uses_calibration(target, ctx) else None,
            "disable_group_convolution": bool(self.edgetpu_reason(target, ctx)),
        }

    def convert(self, target, ctx: BuildContext, out_path: str) -> BuildOutput:
        import numpy as np

        from edgekit.build.layout import derive, describe
        from edgekit.harness.lifetime import owned_tempdir
        from edgekit.targets.tflite import check_full_integer, op_histogram
        from edgekit.toolchains import run_worker

        source = ctx.source
        io = target.io_dtype(ctx)
        with owned_tempdir("onnxtotf") as work:
            calibration = None
            if self.uses_calibration(target, ctx):
                calibration = {}
                for i, spec in enumerate(source.inputs):
                    path = os.path.join(work, f"calibration_{i}.npy")
                    np.save(path, np.ascontiguousarray(ctx.calibration.inputs[i], dtype=np.float32))
                    calibration[spec.name] = path
            spec = {
                "onnx": os.path.abspath(source.ref),
                "input_shapes": {i.name: list(i.shape) for i in source.inputs},
                "mode": target.mode,
                "io_dtype": io,
                "calibration": calibration,
                "disable_group_convolution": bool(self.edgetpu_reason(target, ctx)),
                "output": os.path.join(work, "model.tflite"),
                "workdir": os.path.join(work, "onnx2tf"),
            }
            task = ctx.progress.task(f"onnx2tf: {target.name} (toolchain {TOOLCHAIN})", None)
            try:
                result = run_worker(
                    TOOLCHAIN,
                    WORKER,
                    spec,
                    workdir=work,
                    timeout=CONVERT_TIMEOUT_S,
                    progress=lambda line: ctx.progress.note(f"{target.name}: {line}"),
                )
            except EdgekitError:
                self._keep_log(spec["workdir"])
                raise
            finally:
                task.done()
            with open(spec["output"], "rb") as f:
                model_bytes = f.read()
        names = [i.name for i in source.inputs]
        art_inputs = tflite_inputs(model_bytes)
        art_shapes = [shape for _, shape in art_inputs]
        if len(art_shapes) != len(source.inputs):
            raise EdgekitError(
                f"onnx2tf wrote a model with {len(art_shapes)} inputs, the ONNX model has {len(names)}",
                "check the model's inputs with edgekit inspect",
            )
        order = order_like_source([name for name, _ in art_inputs], names)
        layouts = derive([i.shape for i in source.inputs], [art_shapes[j] for j in order], names)
        hist = op_histogram(model_bytes)
        warnings: list[str] = []
        extra: dict = {
            "onnx2tf_file": result.get("onnx2tf_file"),
            "op_count": sum(hist.values()),
            "ops": hist,
            "static_shapes": {
                "reason": "ONNX source (onnxsim --overwrite-input-shape)",
                "inputs": [i.to_dict() for i in source.inputs],
            },
            "renamed_nodes": _renamed_summary(result.get("renamed_nodes") or {}),
            "onnx2tf_sample_data": result.get("sample_data"),
            "timings": result.get("timings"),
        }
        edgetpu = self.edgetpu_reason(target, ctx)
        if edgetpu:
            extra["onnx2tf_flags"] = {
                "disable_group_convolution": f"{edgetpu} compiles this artifact: "
                "grouped CONV_2D (version 6) is newer than edgetpu_compiler knows"
            }
        if any(layouts):
            extra["input_layout"] = layouts
            warnings_note = describe(layouts)
            ctx.progress.note(f"{target.name}: input layout {warnings_note}; samples are transposed to feed it")
        flex = {k: v for k, v in hist.items() if k.startswith("Flex")}
        if flex:
            warnings.append("needs the TF Select (Flex) delegate: " + ", ".join(f"{k}x{v}" for k, v in flex.items()))
        quant = {"mode": target.mode, **QUANTIZATION[target.mode]}
        if target.mode == "int8":
            quant.update(
                io_dtype=io,
                calibration_samples=len(ctx.calibration),
                calibration_layout="NHWC (onnx2tf -cind), transposed from the source's samples",
            )
            extra["float_ops"] = check_full_integer(target, ctx, model_bytes, warnings)
        with open(out_path, "wb") as f:
            f.write(model_bytes)
        return BuildOutput(
            quantization=quant, tool_versions=dict(result.get("tool_versions") or {}), warnings=warnings, extra=extra
        )

    @staticmethod
    def _keep_log(workdir: str) -> None:
        """onnx2tf's own log into the build log (fd 2 is captured there; --debug prints it)."""
        path = os.path.join(workdir, "onnx2tf.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return
        sys.stderr.write("--- onnx2tf log ---\n" + text[-20000:] + "\n--- end of onnx2tf log ---\n")


def _renamed_summary(renamed: dict) -> dict:
    """How many node names were changed for TensorFlow, with a few examples (the full map is long)."""
    return {"count": len(renamed), "examples": dict(list(renamed.items())[:5])}


def register() -> None:
    from edgekit.targets.tflite import CONVERTERS

    CONVERTERS.register("onnx", CONVERTER)


CONVERTER = OnnxTFLiteConverter()
register()
