"""TorchScript sources (``torch.jit.save`` archives), for the ``ptl`` target only.

A TorchScript archive cannot be re-exported with torch.export, so the ExecuTorch targets refuse it
with a clear reason; it records no input shapes, so they come from the spec. ``torch.jit.load``
reads code and tensors from the archive, not arbitrary pickled objects.
"""

from __future__ import annotations

from typing import Any

from edgekit.errors import EdgekitError
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, hash_path, source_name


class TorchScriptLoader(SourceLoader):
    kind = "torchscript"

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        from edgekit.sources.torch_module import import_torch
        from edgekit.torchkit.export import as_tensors, check_example_inputs, first_reason

        torch = import_torch()
        if not inputs:
            raise EdgekitError(
                f"{ref} is TorchScript, which records no input shapes",
                "declare them with --input-shape NAME=1,3,224,224 or [[inputs]] in edgekit.toml",
            )
        try:
            model = torch.jit.load(ref, map_location="cpu").eval()
        except Exception as exc:
            raise EdgekitError(f"cannot load {ref} as TorchScript ({first_reason(exc)})",
                               "save it with torch.jit.save(torch.jit.trace(model, example), path)") from None
        example = tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype or "float32")) for i in inputs)
        outputs = check_example_inputs(model, example, source_name(ref))

        def predict(arrays: list) -> list:
            with torch.no_grad():
                out = model(*as_tensors(arrays))
            return list(out) if isinstance(out, (tuple, list)) else [out]

        source = Source(
            kind=self.kind, framework="torch", ref=ref, name=source_name(ref), model=model,
            inputs=[InputSpec(i.name or f"input_{n}", list(i.shape), i.dtype or "float32") for n, i in enumerate(inputs)],
            output_names=[f"output_{i}" for i in range(len(outputs))], content_hash=hash_path(ref),
            info={"torch": torch.__version__, "torchscript": True}, predict_fn=predict,
        )
        source.example_inputs = example  # type: ignore[attr-defined]
        return source


SOURCES.register("torchscript", TorchScriptLoader())
