"""``.pt2`` sources: an ExportedProgram saved with ``torch.export.save``, loaded with ``torch.export.load``.

The program is already traced, so the ExecuTorch targets lower it as it is (no second export) and
its example inputs, recorded in the file, give the input shapes (named as forward()'s
arguments, which torch.export gives the placeholders). ``torch.export.load`` reads weights with
torch's restricted loader; no arbitrary unpickling happens here.

``ep.module()`` shares the program's buffers: running it would write a stateful model's state into
the program the targets lower. So the program kept on the Source is never run; the checks and the
float reference run programs loaded afresh from the file's bytes.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, source_name


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
        from edgekit.sources import merge_inputs, read_model_bytes
        from edgekit.sources.torch_module import import_torch
        from edgekit.torchkit.export import first_reason

        torch = import_torch()
        from edgekit.torchkit import state

        data = read_model_bytes(ref)

        def fresh() -> Any:
            return torch.export.load(io.BytesIO(data))

        try:
            ep = fresh()
        except Exception as exc:
            raise EdgekitError(
                f"cannot load {ref} as an exported program ({first_reason(exc)})",
                "save it with torch.export.save(torch.export.export(model, example_inputs), 'model.pt2')",
            ) from None
        found = _placeholder_specs(ep)
        specs = merge_inputs(inputs, found, ref)

        def fresh_module() -> Any:
            return fresh().module()

        example = tuple(torch.zeros(s.shape, dtype=getattr(torch, s.dtype)) for s in specs)
        try:
            outputs, stateful = state.probe(fresh_module, example, source_name(ref))
        except EdgekitError as exc:
            raise EdgekitError(
                f"{ref} fails on inputs of its own signature: {exc.message.split(': ', 1)[-1]}",
                "re-export the program with representative example inputs",
            ) from None
        predict, reset = state.runner(fresh_module)
        source = Source(
            kind=self.kind,
            framework="torch",
            ref=ref,
            name=source_name(ref),
            model=ep,
            inputs=specs,
            output_names=[f"output_{i}" for i in range(len(outputs))],
            content_hash=hashlib.sha256(data).hexdigest(),
            info={"torch": torch.__version__},
            predict_fn=predict,
            fresh_fn=fresh,
            stateful=stateful,
            reset_fn=reset,
        )
        source.example_inputs = example  # type: ignore[attr-defined]
        source.example_outputs = outputs  # type: ignore[attr-defined]
        return source


SOURCES.register("pt2", ExportedProgramLoader())
