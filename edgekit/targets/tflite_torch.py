"""The PyTorch converter of the TFLite targets (CONVERTERS["torch"]): litert-torch in the ``litert`` toolchain.

litert-torch 0.10.0 cannot share edgekit's environment (it pins typing_extensions < 4.13 among
others), so the conversion runs in the ``litert`` toolchain environment that edgekit manages
(edgekit/toolchains), as the standalone worker ``edgekit/toolchains/workers/litert_convert.py``.
This side never imports litert-torch. What crosses over is files only:

- the model as a ``.pt2``: the source's own file for a ``.pt2`` source, else the ExportedProgram
  the source already made (``torchkit.export.exported``) saved with ``torch.export.save`` (same torch
  2.13.0 on both sides, so it loads there);
- the example inputs and the calibration samples as ``.npz``.

The float flatbuffer litert-torch writes is kept on the Source for the rest of the build, so the
fp16/dynamic/int8/int16x8 targets of one build quantize it instead of converting again (a
MobileNetV2 conversion takes 25-80 s here). The worker writes the .tflite and a JSON result (quantization, tool versions, I/O types) or one
error with its hint, which becomes this target's one-line failure; the other targets are
unaffected. The orchestrator then checks the artifact like any other: invoked in a worker
process, drift against the eager PyTorch model, thresholds, cache, manifest. How each mode is made
(ai-edge-quantizer recipes on litert-torch's float model, or static PT2E with option
``quantizer = "pt2e"``) is in the worker's docstring and docs/pytorch.md.
"""

from __future__ import annotations

import hashlib
import os

from edgekit.errors import EdgekitError
from edgekit.targets.base import BuildContext, BuildOutput
from edgekit.targets.tflite import (
    CONVERTERS,
    TFLiteTarget,
    check_full_integer,
    op_histogram,
)

TOOLCHAIN = "litert"
WORKER = "litert_convert"
QUANTIZERS = ("ai-edge-quantizer", "pt2e")
WORKER_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "toolchains", "workers", f"{WORKER}.py")
TIMEOUT_S = float(os.environ.get("EDGEKIT_CONVERT_TIMEOUT", "1800"))


def _worker_sha256() -> str:
    with open(WORKER_PATH, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_litert_worker(spec: dict, workdir: str, progress=None) -> dict:
    """Run the conversion worker in the litert toolchain's Python (installed on first use); its result."""
    from edgekit.toolchains import run_worker

    def show(line: str) -> None:
        if progress is not None:
            progress.note(f"litert toolchain: {line}")

    return run_worker(TOOLCHAIN, WORKER, spec, workdir=workdir, timeout=TIMEOUT_S, progress=show)


class TorchConverter:
    """litert-torch (+ ai-edge-quantizer) in the litert toolchain, for every TFLite mode."""

    framework = "torch"
    name = "litert-torch"
    modes = ("fp32", "fp16", "dynamic", "int8", "int16x8")

    def quantizer(self, target: TFLiteTarget, ctx: BuildContext) -> str | None:
        if target.mode != "int8":
            return None
        value = str(ctx.options.get("quantizer", QUANTIZERS[0]))
        if value not in QUANTIZERS:
            raise EdgekitError(f"{target.name} quantizer {value!r} is not supported", f"choose one of: {', '.join(QUANTIZERS)}")
        return value

    def check(self, target: TFLiteTarget, ctx: BuildContext) -> None:
        quantizer = self.quantizer(target, ctx)
        if quantizer == "pt2e" and target.io_dtype(ctx) != "int8":
            raise EdgekitError(
                f"{target.name} with quantizer 'pt2e' writes int8 inputs (its own choice), not {target.io_dtype(ctx)}",
                "use the default quantizer for other I/O types",
            )

    def cache_settings(self, target: TFLiteTarget, ctx: BuildContext) -> dict:
        return {
            "mode": target.mode,
            "io_dtype": target.io_dtype(ctx),
            "options": dict(ctx.options),
            "quantizer": self.quantizer(target, ctx),
            "toolchain": TOOLCHAIN,
            "worker": _worker_sha256(),
            "toolchain_key": _toolchain_key(),
            "calibration_count": len(ctx.calibration) if (target.needs_calibration and ctx.calibration is not None) else None,
        }

    def convert(self, target: TFLiteTarget, ctx: BuildContext, out_path: str) -> BuildOutput:
        import numpy as np

        from edgekit.harness.lifetime import owned_tempdir

        with owned_tempdir("convert") as tmp:
            spec = {
                "model": {"pt2": _program_file(ctx, tmp)},
                "mode": target.mode,
                "io_dtype": target.io_dtype(ctx),
                "quantizer": self.quantizer(target, ctx),
                "out": os.path.join(tmp, "model.tflite"),
                "example": os.path.join(tmp, "example.npz"),
                "calibration": None,
            }
            np.savez(spec["example"], **{f"input_{i}": _numpy(t) for i, t in enumerate(_example(ctx))})
            shared = getattr(ctx.source, "_litert_float_tflite", None)  # (toolchain key, bytes) of this build
            if shared and shared[0] == _toolchain_key() and (target.mode != "int8" or spec["quantizer"] != "pt2e"):
                spec["float_model"] = os.path.join(tmp, "float.tflite")
                with open(spec["float_model"], "wb") as f:
                    f.write(shared[1])
            else:
                spec["float_out"] = os.path.join(tmp, "float.tflite")
            if target.needs_calibration:
                spec["calibration"] = os.path.join(tmp, "calibration.npz")
                np.savez(spec["calibration"], **{f"input_{i}": a for i, a in enumerate(ctx.calibration.inputs)})
            result = run_litert_worker(spec, tmp, ctx.progress)
            if spec.get("float_out") and os.path.isfile(spec["float_out"]):
                with open(spec["float_out"], "rb") as f:
                    ctx.source._litert_float_tflite = (_toolchain_key(), f.read())  # type: ignore[attr-defined]
            with open(spec["out"], "rb") as f:
                model_bytes = f.read()
        warnings = list(result.get("warnings") or [])
        hist = op_histogram(model_bytes)
        extra = {
            "converter": result.get("converter") or {"name": self.name},
            "op_count": sum(hist.values()),
            "ops": hist,
            "io_types": result.get("io_types"),
        }
        if target.mode == "int8":
            extra["float_ops"] = check_full_integer(target, ctx, model_bytes, warnings)
        with open(out_path, "wb") as f:
            f.write(model_bytes)
        quant = dict(result.get("quantization") or {})
        if target.needs_calibration and ctx.calibration is not None:
            quant["calibration_samples"] = len(ctx.calibration)
        return BuildOutput(
            quantization=quant, tool_versions=dict(result.get("tool_versions") or {}), warnings=warnings, extra=extra
        )


def _toolchain_key() -> dict:
    """What identifies the toolchain without starting it: the pinned set's hash, or the user's own python."""
    from edgekit import toolchains

    tc = toolchains.get(TOOLCHAIN)
    override = os.environ.get(tc.env_var)
    return {"python": override} if override else {"env_key": toolchains.env_key(tc)}


def _numpy(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else t


def _example(ctx: BuildContext) -> tuple:
    from edgekit.torchkit.export import example_inputs

    return example_inputs(ctx.source)


def _program_file(ctx: BuildContext, tmp: str) -> str:
    """A .pt2 the toolchain's torch loads: the source file itself, or the shared export saved now."""
    source = ctx.source
    if source.kind == "pt2" and os.path.isfile(source.ref):
        return os.path.abspath(source.ref)
    import torch

    from edgekit.torchkit.export import exported

    path = os.path.join(tmp, "model.pt2")
    try:
        torch.export.save(exported(source, getattr(ctx.spec, "targets", None)), path)
    except EdgekitError:
        raise
    except Exception as exc:  # noqa: BLE001
        from edgekit.torchkit.export import first_reason

        raise EdgekitError(
            f"cannot save {source.name}'s exported program for the litert toolchain ({first_reason(exc)})",
            "build from a .pt2 saved with torch.export.save, or use the executorch-* targets",
        ) from None
    return path


CONVERTERS.register("torch", TorchConverter())
