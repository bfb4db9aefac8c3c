"""The ``edgetpu`` build target: compile a full-int8 TFLite artifact with Coral's edgetpu_compiler.

It does not convert anything itself: its source is the ``tflite-int8`` artifact of the same build
(list it before ``edgetpu`` in the targets) or any .tflite given as option ``source``. The preflight
report is written first, so even where the compiler cannot run (it is x86-64 Linux only) the build
directory says which ops would map. The compiler's parsed log goes into the manifest entry.
A compiled model runs only with libedgetpu and an Edge TPU; where they are absent the artifact is
published with ``not_run`` instead of being invoked.
"""

from __future__ import annotations

import os

from edgekit.errors import EdgekitError
from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, Target


class EdgeTPUTarget(Target):
    name = "edgetpu"
    format = "edgetpu"
    suffix = ".tflite"
    source_frameworks = ()  # any: it works from a TFLite artifact, not from the framework model
    option_names = ("source", "from_target", "min_runtime_version", "timeout")

    def static_inputs_from(self, spec) -> set[str]:
        """The targets of this build whose artifact this one compiles: they must trace static shapes.

        The compiler maps nothing with a dynamic dimension (edgetpu-ops.md R2), so a Keras model
        with a dynamic batch becomes an Edge TPU model only if its int8 artifact has batch 1.
        """
        options = (getattr(spec, "options", None) or {}).get(self.name, {})
        if options.get("source"):
            return set()
        return {str(options.get("from_target", "tflite-int8"))}

    def file_name(self, ctx: BuildContext) -> str:
        return f"{ctx.source.name}.edgetpu_edgetpu.tflite"

    def source_artifact(self, ctx: BuildContext) -> str:
        """The full-int8 .tflite to compile: option ``source``, else this build's ``tflite-int8``."""
        given = ctx.options.get("source")
        if given:
            path = ctx.spec.resolve(given) if hasattr(ctx.spec, "resolve") else given
            if not os.path.isfile(path):
                raise EdgekitError(f"edgetpu source {path} does not exist", "set [options.edgetpu] source to a .tflite file")
            return path
        return os.path.join(ctx.outdir, self.source_entry(ctx).file)

    def source_entry(self, ctx: BuildContext):
        """This build's manifest entry of the artifact compiled (option ``from_target``, default tflite-int8)."""
        from edgekit.build.artifacts import Manifest

        wanted = ctx.options.get("from_target", "tflite-int8")
        entry = Manifest.load(ctx.outdir).entries.get(wanted)
        if entry is None or entry.status not in ("built", "cached") or not entry.file:
            raise EdgekitError(
                f"target edgetpu needs a built {wanted} artifact",
                f"list {wanted} before edgetpu in the targets, or set [options.edgetpu] source = 'model_int8.tflite'",
            )
        return entry

    def cache_settings(self, ctx: BuildContext) -> dict:
        from edgekit.build.artifacts import sha256_file
        from edgekit.edgetpu.compiler import find_compiler

        src = self.source_artifact(ctx)
        return {"options": dict(ctx.options), "source_sha256": sha256_file(src), "compiler": find_compiler()}

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        from edgekit.edgetpu import service

        src = self.source_artifact(ctx)
        timeout = float(ctx.options.get("timeout", 180))
        doc = service.compile_with_preflight(
            src,
            ctx.outdir,
            show_ops=True,
            min_runtime_version=ctx.options.get("min_runtime_version"),
            timeout=timeout,
        )
        os.replace(doc["outputs"][0], out_path)
        extra = {
            "edgetpu": {
                "source": os.path.relpath(src, ctx.outdir),
                "compiler": doc["compiler"],
                "preflight_file": os.path.basename(doc["preflight_file"]),
                "preflight_summary": doc["preflight"]["summary"],
                "cpu_ops_explained": doc["cpu_ops_explained"],
                "prediction_agreement": doc["prediction_agreement"],
            }
        }
        if not ctx.options.get("source"):
            layout = self.source_entry(ctx).extra.get("input_layout")
            if layout:  # compiled from an NHWC artifact of an NCHW source: it takes what that one takes
                extra["input_layout"] = layout
        reason = runtime_absent_reason()
        if reason:
            extra["not_run"] = reason
        return BuildOutput(
            quantization={"type": "int8", "compiled_for": "edgetpu"},
            tool_versions={"edgetpu_compiler": doc["compiler"].get("compiler_version")},
            warnings=list(doc["warnings"]),
            extra=extra,
        )


def runtime_absent_reason() -> str | None:
    """Why a compiled model cannot be invoked here (no libedgetpu, no Edge TPU), else None."""
    import ctypes

    from edgekit.edgetpu.discovery import list_edgetpus
    from edgekit.runtimes.edgetpu import library_name

    lib = library_name()
    try:
        ctypes.CDLL(lib)
    except OSError:
        return f"the Edge TPU runtime ({lib}) is not installed here, so the compiled model was not invoked"
    if not list_edgetpus():
        return "no Edge TPU is attached here, so the compiled model was not invoked"
    return None


TARGETS.register("edgetpu", EdgeTPUTarget())
