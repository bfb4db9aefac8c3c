"""TorchScript sources (``torch.jit.save`` archives: .pt, .jit, .ts ...), for the ``ptl`` target only.

A TorchScript archive cannot be re-exported with torch.export, so the ExecuTorch targets refuse it
with a clear reason; it records no input shapes, so they come from the spec. ``torch.jit.load``
reads code and tensors from the archive, not arbitrary pickled objects.

The archive's bytes are read once; every copy the build needs (the shape check, the float
reference, the module the ptl target saves) is loaded from them afresh, so a model that keeps
state (a recurrent buffer updated in forward) is saved exactly as it was shipped to edgekit.

``forward`` may take non-tensor arguments (``forward(self, x: Tensor, sr: int)``): their values
come from ``[source] args = {sr = 16000}`` / ``--arg sr=16000``, typed from the TorchScript
signature. The tensor arguments are the model's inputs, named as in the signature.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, check_declared_names, source_name

# TorchScript schema type -> the Python type a constant argument is converted to.
CONSTANT_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


def _convert(name: str, value: Any, type_name: str, ref: str) -> Any:
    """A given constant (TOML value or --arg text) as the signature's type, or one clear error."""
    base = type_name.removesuffix("?")
    base = {"Optional[int]": "int", "Optional[float]": "float", "Optional[bool]": "bool", "Optional[str]": "str"}.get(base, base)
    kind = CONSTANT_TYPES.get(base)
    if kind is None:
        raise EdgekitError(
            f"argument {name!r} of {ref} has type {type_name}, which edgekit cannot pass as a constant",
            "constant arguments may be int, float, bool or str; make the others tensors or give them defaults",
        )
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if kind is int and isinstance(value, str):
            return int(value.strip())
        return kind(value)
    except (TypeError, ValueError):
        raise EdgekitError(
            f"argument {name!r} of {ref} is {type_name}, not {value!r}",
            f"give --arg {name}=<{base}> (or [source] args = {{{name} = ...}})",
        ) from None


def signature(model: Any) -> list[tuple[str, str, bool, Any]]:
    """forward()'s arguments after self: (name, TorchScript type, has a default, default)."""
    args = list(model.forward.schema.arguments)[1:]
    out = []
    for a in args:
        has_default = bool(a.has_default_value()) if hasattr(a, "has_default_value") else a.default_value is not None
        out.append((a.name, str(a.type), has_default, a.default_value))
    return out


def bind_arguments(sig: list[tuple[str, str, bool, Any]], given: dict, ref: str) -> list[dict]:
    """The call plan: each argument is a model input (tensors) or a constant (given or defaulted)."""
    names = [n for n, _, _, _ in sig]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise EdgekitError(
            f"{ref} has no argument {unknown[0]!r} (forward takes: {', '.join(names) or 'nothing'})",
            "give --arg only for forward()'s non-tensor arguments",
        )
    plan: list[dict] = []
    n_inputs = 0
    for name, type_name, has_default, default in sig:
        if type_name == "Tensor":
            if name in given:
                raise EdgekitError(
                    f"argument {name!r} of {ref} is a Tensor, not a constant",
                    f"drop --arg {name}; declare its shape with --input-shape {name}=...",
                )
            plan.append({"name": name, "input": n_inputs})
            n_inputs += 1
        elif name in given:
            plan.append({"name": name, "value": _convert(name, given[name], type_name, ref), "type": type_name})
        elif has_default:
            continue  # left to the model's own default
        else:
            raise EdgekitError(
                f"{ref}'s forward() needs a value for {name!r} ({type_name})",
                f"give it as a constant: --arg {name}=VALUE (or [source] args = {{{name} = VALUE}} in edgekit.toml)",
            )
    return plan


def make_call(plan: list[dict]):
    """(model, tensors) -> model.forward(...) with the constants in their places."""

    def call(model: Any, tensors: tuple) -> Any:
        args = [tensors[p["input"]] if "input" in p else p["value"] for p in plan]
        return model(*args)

    return call


class TorchScriptLoader(SourceLoader):
    kind = "torchscript"
    takes_args = True

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        from edgekit.sources import read_model_bytes
        from edgekit.sources.torch_module import import_torch
        from edgekit.torchkit import state
        from edgekit.torchkit.export import first_reason

        torch = import_torch()
        data = read_model_bytes(ref)

        def fresh() -> Any:
            return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()

        try:
            model = fresh()
        except Exception as exc:
            raise EdgekitError(
                f"cannot load {ref} as TorchScript ({first_reason(exc)})",
                "save it with torch.jit.save(torch.jit.script(model), path)",
            ) from None
        sig = signature(model)
        plan = bind_arguments(sig, dict(options.get("args") or {}), ref)
        tensor_names = [p["name"] for p in plan if "input" in p]
        if not inputs:
            raise EdgekitError(
                f"{ref} is TorchScript, which records no input shapes",
                f"declare them with --input-shape {(tensor_names or ['NAME'])[0]}=1,3,224,224 or [[inputs]] in edgekit.toml",
            )
        check_declared_names(inputs, tensor_names, ref)
        if len(inputs) != len(tensor_names):
            raise EdgekitError(
                f"the spec declares {len(inputs)} input(s) but {ref}'s forward takes {len(tensor_names)} tensor(s) "
                f"({', '.join(tensor_names)})",
                "declare one shape per tensor argument; non-tensor arguments are given with --arg NAME=VALUE",
            )
        if all(i.name for i in inputs):
            by_name = {i.name.split(":")[0]: i for i in inputs}
            inputs = [by_name[n] for n in tensor_names]
        specs = [InputSpec(n, list(i.shape), i.dtype or "float32") for n, i in zip(tensor_names, inputs)]
        call = make_call(plan)
        example = tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype or "float32")) for i in specs)
        outputs, stateful = state.probe(fresh, example, source_name(ref), call)
        predict, reset = state.runner(fresh, call)
        constants = {p["name"]: p["value"] for p in plan if "value" in p}
        h = hashlib.sha256(data)
        if constants:  # another constant is another model: it must not reuse the cached artifact
            h.update(json.dumps(constants, sort_keys=True).encode())
        source = Source(
            kind=self.kind,
            framework="torch",
            ref=ref,
            name=source_name(ref),
            model=model,
            inputs=specs,
            output_names=[f"output_{i}" for i in range(len(outputs))],
            content_hash=h.hexdigest(),
            info={"torch": torch.__version__, "torchscript": True},
            predict_fn=predict,
            fresh_fn=fresh,
            stateful=stateful,
            call_args=plan,
            reset_fn=reset,
        )
        source.example_inputs = example  # type: ignore[attr-defined]
        source.example_outputs = outputs  # type: ignore[attr-defined]
        source.call = call  # type: ignore[attr-defined]
        return source


SOURCES.register("torchscript", TorchScriptLoader())
