"""``tflite-from-torch``: PyTorch to TFLite through litert-torch (the successor of ai-edge-torch).

Not in the main pinned environment, by decision (it has its own: ``constraints-litert.txt``,
``.venv-litert``, the ``torch-tflite`` extra, tested by ``make test``): litert-torch 0.10.0 installs beside torch
2.13.0 (it requires torch < 2.15, ai-edge-litert[model-utils] 2.3.x, litert-converter 0.5.*,
ai-edge-quantizer 0.10.*, torchao, jax and transformers; about 0.9 GB more site-packages), but not
under constraints.txt: ai-edge-litert[model-utils] 2.3.0 pins xdsl 0.28.0, which needs
typing_extensions < 4.13, so typing_extensions (4.16.0 -> 4.12.2), cattrs (26.2.1 -> 25.2.0) and
anyio (4.16.0 -> 4.14.2) have to move (see docs/pytorch.md). When it is importable the real
conversion runs (``litert_torch.convert(model, example_inputs).export(path)``, same call in the older
``ai_edge_torch``); when it is not, the target fails with that exact reason and the manifest keeps
the entry, so the other targets are unaffected.

The artifact keeps the PyTorch model's own input layout (NCHW for the digits CNN): litert-torch
lowers the convolutions to NHWC TFLite kernels and inserts the transposes itself, so the drift check
feeds the same arrays as the source and no layout option is needed. Weights and activations stay
float32 (no quant_config is passed). 64-bit tensors are narrowed to 32 bits (litert-torch's
``enable_x64=False`` default, what on-device runtimes support); the entry warns when that happens.
"""

from __future__ import annotations

import importlib

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, Target, capture_native_output

MODULES = ("litert_torch", "ai_edge_torch")  # the maintained package first, its predecessor second
PACKAGES = {"litert_torch": "litert-torch", "ai_edge_torch": "ai-edge-torch"}
# Distributions recorded in tool_versions: the front end, its converter back end (litert-converter
# writes the flatbuffer for litert-torch 0.10), and the predecessor when that is what is installed.
TOOLS = ("litert-torch", "litert-converter", "ai-edge-torch")
WORKING_VERSIONS = (
    "litert-torch 0.10.0 with torch 2.13.0 (requires torch<2.15, ai-edge-litert 2.3.x, litert-converter 0.5.*, "
    "ai-edge-quantizer, torchao, jax, transformers; about 0.9 GB)"
)


def _converter():
    for name in MODULES:
        try:
            return name, importlib.import_module(name)
        except ImportError:
            continue
    raise EnvironmentMissing(
        "tflite-from-torch needs litert-torch, which is not installed in this environment "
        "(kept out of the main pinned set: it needs typing_extensions<4.13 and adds about 0.9 GB)",
        "in a venv of its own: pip install -c constraints-litert.txt 'edgekit[all,torch-tflite]' "
        f"(litert-torch==0.10.0; works with: {WORKING_VERSIONS}), or build tflite-* from a Keras model",
    )


def _hint(reason: str) -> str:
    if "Lowering not found" in reason:
        return ("litert-torch has no TFLite lowering for that op: rewrite it with supported ops, "
                "or build the executorch-* targets (portable kernels cover every aten op)")
    return "check the model exports with torch.export; try the executorch-* targets"


def _narrowed_io(model_bytes: bytes, source_inputs: list, eager_outputs: list) -> list[str]:
    """Inputs/outputs that were 64-bit in PyTorch and are 32-bit in the flatbuffer."""
    import tflite

    names = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_") and isinstance(v, int)}
    model = tflite.Model.GetRootAsModel(bytearray(model_bytes), 0)
    sg = model.Subgraphs(0)
    found = []
    pairs = [("input", i, str(getattr(t, "dtype", "")), sg.Inputs(i)) for i, t in enumerate(source_inputs)
             if i < sg.InputsLength()]
    pairs += [("output", i, str(getattr(t, "dtype", "")), sg.Outputs(i)) for i, t in enumerate(eager_outputs)
              if i < sg.OutputsLength()]
    for kind, i, torch_dtype, tensor_index in pairs:
        tfl = names.get(sg.Tensors(tensor_index).Type(), "?")
        if torch_dtype.endswith("64") and not tfl.endswith("64"):
            found.append(f"{kind} {i} {torch_dtype.replace('torch.', '')} -> {tfl}")
    return found


class TorchToTFLiteTarget(Target):
    name = "tflite-from-torch"
    format = "tflite"
    suffix = ".tflite"
    source_frameworks = ("torch",)

    def cache_settings(self, ctx: BuildContext) -> dict:
        from edgekit.targets.executorch import tool_versions

        return {"options": dict(ctx.options), "tools": tool_versions(*TOOLS)}

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        from edgekit.targets.executorch import tool_versions
        from edgekit.targets.tflite import op_histogram
        from edgekit.torchkit.export import check_example_inputs, example_inputs, first_reason

        # litert-torch's import (jax, torchao, TF) and its conversion print on the C-level streams.
        with capture_native_output():
            name, module = _converter()
        package = PACKAGES[name]
        model = ctx.source.model
        if type(model).__name__ == "ExportedProgram":
            model = model.module()  # already in the mode it was exported in; .eval() raises on it (torch 2.13)
        else:
            model = model.eval()
        example = example_inputs(ctx.source)
        eager_outputs = check_example_inputs(model, example, ctx.source.name)
        try:
            with capture_native_output():
                edge_model = module.convert(model, example)
                edge_model.export(out_path)
        except Exception as exc:
            reason = first_reason(exc)
            raise EdgekitError(f"{package} could not convert {ctx.source.name}: {reason}", _hint(reason)) from None
        with open(out_path, "rb") as f:
            model_bytes = f.read()
        hist = op_histogram(model_bytes)
        warnings = []
        narrowed = _narrowed_io(model_bytes, list(example), eager_outputs)
        if narrowed:
            warnings.append(f"{package} narrowed 64-bit tensors to 32 bits (enable_x64=False): {', '.join(narrowed)}")
        return BuildOutput(
            quantization={"scheme": "none", "dtype": "float32"},
            tool_versions=tool_versions(*TOOLS),
            warnings=warnings,
            extra={"converter": package, "op_count": sum(hist.values()), "ops": hist},
        )


TARGETS.register("tflite-from-torch", TorchToTFLiteTarget())
