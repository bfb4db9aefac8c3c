"""``tflite-from-torch``: PyTorch to TFLite through litert-torch (the successor of ai-edge-torch).

Not installed in the pinned environment, by decision: litert-torch 0.10.0 does install beside
torch 2.13.0 (it requires torch < 2.15, ai-edge-litert 2.3.x, litert-converter 0.5.*,
ai-edge-quantizer, torchao, jax and transformers) but adds about 2.1 GB. When it is importable the
real conversion runs (``litert_torch.convert(model, example_inputs).export(path)``, same call in the
older ``ai_edge_torch``); when it is not, the target fails with that exact reason and the manifest
keeps the entry, so the other targets are unaffected.
"""

from __future__ import annotations

import importlib

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, Target, capture_native_output

MODULES = ("litert_torch", "ai_edge_torch")  # the maintained package first, its predecessor second
WORKING_VERSIONS = (
    "litert-torch 0.10.0 with torch 2.13.0 (requires torch<2.15, ai-edge-litert 2.3.x, litert-converter 0.5.*, "
    "ai-edge-quantizer, torchao, jax, transformers; about 2.1 GB)"
)


def _converter():
    for name in MODULES:
        try:
            return name, importlib.import_module(name)
        except ImportError:
            continue
    raise EnvironmentMissing(
        "tflite-from-torch needs litert-torch, which is not installed in this environment "
        "(kept out of the pinned stack: it adds about 2.1 GB incl. jax and transformers)",
        f"pip install litert-torch==0.10.0 (works with: {WORKING_VERSIONS}), or build tflite-* from a Keras model",
    )


class TorchToTFLiteTarget(Target):
    name = "tflite-from-torch"
    format = "tflite"
    suffix = ".tflite"
    source_frameworks = ("torch",)

    def cache_settings(self, ctx: BuildContext) -> dict:
        from edgekit.targets.executorch import tool_versions

        return {"options": dict(ctx.options), "tools": tool_versions("litert-torch", "ai-edge-torch")}

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        from edgekit.targets.executorch import tool_versions
        from edgekit.torchkit.export import example_inputs, first_reason

        name, module = _converter()
        model = ctx.source.model
        if type(model).__name__ == "ExportedProgram":
            model = model.module()
        try:
            with capture_native_output():
                edge_model = module.convert(model.eval(), example_inputs(ctx.source))
                edge_model.export(out_path)
        except Exception as exc:
            raise EdgekitError(f"{name} could not convert {ctx.source.name}: {first_reason(exc)}",
                               "check the model exports with torch.export; try the executorch-* targets") from None
        return BuildOutput(quantization={"scheme": "none", "dtype": "float32"},
                           tool_versions=tool_versions("litert-torch", "ai-edge-torch"), extra={"converter": name})


TARGETS.register("tflite-from-torch", TorchToTFLiteTarget())
