"""``.pt2`` sources: an ExportedProgram saved with ``torch.export.save``, loaded with ``torch.export.load``.

The program is already traced, so the ExecuTorch targets lower it as it is (no second export) and
its example inputs, recorded in the file, give the input shapes. ``torch.export.load`` reads
weights with torch's restricted loader; no arbitrary unpickling happens here.
"""

from __future__ import annotations

from typing import Any

from edgekit.errors import EdgekitError
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, hash_path, source_name


def _placeholder_specs(ep: Any) -> list[InputSpec]:
    user_inputs = [s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    specs = []
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            if val is None or not hasattr(val, "shape"):
                continue
            shape = [int(d) if str(d).isdigit() else -1 for d in val.shape]
            specs.append(InputSpec(node.name, shape, str(val.dtype).replace("torch.", "")))
    return specs


class ExportedProgramLoader(SourceLoader):
    kind = "pt2"

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        from edgekit.sources import merge_inputs
        from edgekit.sources.torch_module import import_torch
        from edgekit.torchkit.export import as_tensors, first_reason

        torch = import_torch()
        try:
            ep = torch.export.load(ref)
        except Exception as exc:
            raise EdgekitError(
                f"cannot load {ref} as an exported program ({first_reason(exc)})",
                "save it with torch.export.save(torch.export.export(model, example_inputs), 'model.pt2')",
            ) from None
        found = _placeholder_specs(ep)
        specs = merge_inputs(inputs, found, ref)
        module = ep.module()

        def predict(arrays: list) -> list:
            with torch.no_grad():
                out = module(*as_tensors(arrays))
            return list(out) if isinstance(out, (tuple, list)) else [out]

        example = tuple(torch.zeros(s.shape, dtype=getattr(torch, s.dtype)) for s in specs)
        try:
            n_out = len(predict([t.numpy() for t in example]))
        except Exception as exc:
            raise EdgekitError(f"{ref} fails on inputs of its own signature: {first_reason(exc)}",
                               "re-export the program with representative example inputs") from None
        source = Source(
            kind=self.kind, framework="torch", ref=ref, name=source_name(ref), model=ep, inputs=specs,
            output_names=[f"output_{i}" for i in range(n_out)], content_hash=hash_path(ref),
            info={"torch": torch.__version__}, predict_fn=predict,
        )
        source.example_inputs = example  # type: ignore[attr-defined]
        return source


SOURCES.register("pt2", ExportedProgramLoader())
