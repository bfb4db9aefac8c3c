"""PyTorch ``nn.Module`` sources, usually from a factory ``package.module:function``.

The factory returns the module, or ``(module, example_inputs)``; without example inputs the shapes
and dtypes come from the spec (``[[inputs]]`` / ``--input-shape``). The example inputs are run
through the eager model once here, so a wrong shape is reported as the user's mistake before any
exporter produces a confusing trace. Weights given as a file (option ``weights``) are read with
``torch.load(weights_only=True)``: edgekit never unpickles arbitrary objects.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from typing import Any, Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, source_name

INSTALL_HINT = "install the PyTorch extra: pip install 'edgekit[torch]'"


def import_torch():
    try:
        import torch
    except ImportError as exc:
        raise EnvironmentMissing(f"PyTorch cannot be imported ({exc})", INSTALL_HINT) from None
    return torch


def load_weights(path: str) -> dict:
    """A state dict from a file, without unpickling arbitrary objects (weights_only=True)."""
    torch = import_torch()
    if not os.path.exists(path):
        raise EdgekitError(f"no such weights file: {path}", "check the path of the weights option")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EdgekitError(
            f"cannot read {path} as weights (torch.load with weights_only=True refused it: {first_line(exc, 200)})",
            "save weights with torch.save(model.state_dict(), path); edgekit does not unpickle arbitrary objects",
        ) from None
    if not isinstance(state, dict):
        raise EdgekitError(f"{path} holds a {type(state).__name__}, not a state dict", "save model.state_dict()")
    return state


def _dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "")


def input_names(model: Any, n: int) -> list[str]:
    """Names of forward()'s positional parameters, so specs and .npz keys can use them."""
    try:
        params = [
            p.name
            for p in inspect.signature(model.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    names = params[:n]
    return names + [f"input_{i}" for i in range(len(names), n)]


def content_hash(model: Any, example: Sequence[Any]) -> str:
    """Architecture (repr), every parameter and buffer, and the example shapes: what the build depends on."""
    import numpy as np

    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}".encode())
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(
            np.ascontiguousarray(
                t.detach().cpu().float().numpy() if t.is_floating_point() else t.detach().cpu().numpy()
            ).tobytes()
        )
    for t in example:
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
    return h.hexdigest()


def _split_factory_result(obj: Any) -> tuple[Any, tuple | None]:
    if isinstance(obj, tuple) and len(obj) == 2:
        model, ex = obj
        if hasattr(ex, "shape"):
            ex = (ex,)
        if not isinstance(ex, (tuple, list)) or not all(hasattr(t, "shape") for t in ex):
            raise EdgekitError(
                f"the factory's example inputs are a {type(ex).__name__}, not tensors",
                "return (model, example_inputs) with example_inputs a tensor or a tuple of tensors",
            )
        return model, tuple(ex)
    return obj, None


def torch_source(
    model: Any,
    example: Sequence[Any] | None,
    ref: str,
    declared: list[InputSpec] | None,
    kind: str = "torch",
    name: str | None = None,
) -> Source:
    """A Source around an eager nn.Module: checks the example inputs by running a copy once.

    The module handed in is copied before anything runs it (``Source.fresh_model``); the checks,
    the float reference and every target run or trace copies of that copy, so a model that keeps
    state is saved from its fresh state.
    """
    torch = import_torch()
    from edgekit.torchkit import state
    from edgekit.torchkit.export import as_tensors

    if not isinstance(model, torch.nn.Module):
        raise EdgekitError(f"{ref} gave a {type(model).__name__}, not a torch.nn.Module", "return an nn.Module")
    model = model.eval()
    if declared:
        if example is not None and len(declared) != len(example):
            raise EdgekitError(
                f"the spec declares {len(declared)} input(s) but the factory gives {len(example)} example input(s)",
                "make [[inputs]] match the model's forward() arguments",
            )
        example = tuple(torch.zeros(d.shape, dtype=getattr(torch, d.dtype or "float32")) for d in declared)
    if not example:
        raise EdgekitError(
            f"{ref} gives no example inputs and the spec declares no input shapes",
            "return (model, example_inputs) from the factory, or pass --input-shape NAME=1,3,224,224",
        )
    example = tuple(t if hasattr(t, "detach") else as_tensors([t])[0] for t in example)
    fresh = state.copier(model)
    outputs, stateful = state.probe(fresh, example, name or source_name(ref))
    names = [d.name for d in declared] if declared and all(d.name for d in declared) else input_names(model, len(example))
    inputs = [InputSpec(n, [int(d) for d in t.shape], _dtype_name(t)) for n, t in zip(names, example)]
    predict, reset = state.runner(fresh)

    source = Source(
        kind=kind,
        framework="torch",
        ref=ref,
        name=name or source_name(ref),
        model=model,
        inputs=inputs,
        output_names=[f"output_{i}" for i in range(len(outputs))],
        content_hash=content_hash(model, example),
        info={
            "torch": torch.__version__,
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "parameters": int(sum(p.numel() for p in model.parameters())),
        },
        predict_fn=predict,
        fresh_fn=fresh,
        stateful=stateful,
        reset_fn=reset,
    )
    source.example_inputs = example  # type: ignore[attr-defined]  # tensors: kept off describe()
    source.example_outputs = outputs  # type: ignore[attr-defined]  # from a fresh copy's first call
    # torch.export runs once, when the first target that needs it checks the source
    # (edgekit.torchkit.export.exported), so its hint can fit the targets actually requested.
    return source


class TorchModuleLoader(SourceLoader):
    kind = "torch"

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        from edgekit.sources.factory import call_factory

        return self.from_object(call_factory(ref), ref, inputs, options)

    def from_object(self, obj: Any, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        model, example = _split_factory_result(obj)
        if options.get("weights"):
            try:
                model.load_state_dict(load_weights(options["weights"]))
            except RuntimeError as exc:
                raise EdgekitError(
                    f"the weights in {options['weights']} do not fit the model: {first_line(exc, 200)}",
                    "save the state dict of the same architecture",
                ) from None
        return torch_source(model, example, ref, inputs)


SOURCES.register("torch", TorchModuleLoader())
