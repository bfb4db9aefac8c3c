"""torch.export with its failures turned into one line that names the cause.

Every ExecuTorch target starts from the same ExportedProgram, so it is made once per source and
cached on the Source (``exported``). torch.export fails with long, multi-part messages
(data-dependent control flow, unsupported Python, wrong example inputs); the first meaningful line
is kept and the hint says what usually fixes it.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from edgekit.errors import EdgekitError, torchscript_error

_NOISE = re.compile(r"^(\s*$|For more information|Set TORCH_LOGS|from user code|User Stack|The following call)")


def first_reason(exc: BaseException, limit: int = 300) -> str:
    real = torchscript_error(str(exc))  # the interpreter's own error is the traceback's last line
    if real:
        return real[: limit + 80]
    lines = [l.strip() for l in str(exc).splitlines() if l.strip() and not _NOISE.match(l)]
    text = lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {text[:limit]}"


def check_example_inputs(model: Any, example: Sequence[Any], name: str, call: Any = None) -> list:
    """Run the eager model once on the example inputs; a mismatch is the user's, not the exporter's.

    ``call(model, tensors)`` runs the model with any constant arguments bound (TorchScript
    ``[source] args``); the default is ``model(*tensors)``. Give it a fresh copy, never the model
    that will be saved: a stateful model changes when it runs.
    """
    import torch

    try:
        with torch.no_grad():
            out = call(model, tuple(example)) if call is not None else model(*example)
    except Exception as exc:
        shapes = ", ".join(f"{list(t.shape)} {str(t.dtype).replace('torch.', '')}" for t in example if hasattr(t, "shape"))
        raise EdgekitError(
            f"{name} fails on its example inputs ({shapes}): {first_reason(exc)}",
            "give example inputs (or --input-shape / [[inputs]]) of the shape and dtype the model's forward expects",
        ) from None
    return list(out) if isinstance(out, (tuple, list)) else [out]


TRACEABLE_HINT = "make forward() traceable (no data-dependent Python control flow: use torch.where/torch.cond)"
SCRIPT_HINT = (
    "save torch.jit.script(model) with torch.jit.save and build the ptl target from that file "
    "(TorchScript keeps the control flow)"
)


def export_hint(targets: Sequence[str] | None) -> str:
    """What to do when torch.export cannot trace a model, for the targets actually requested.

    Every target that takes an nn.Module needs the export (the ptl target uses it as the
    traceability check: torch.jit.trace would silently freeze one branch), so "build fewer
    targets" never helps; scripting the model does, for ptl only.
    """
    requested = list(targets or [])
    if requested and set(requested) == {"ptl"}:
        return f"{TRACEABLE_HINT}, or {SCRIPT_HINT}"
    if "ptl" in requested:
        others = ", ".join(t for t in requested if t != "ptl")
        return f"{TRACEABLE_HINT} ({others} need it); for ptl alone you can also {SCRIPT_HINT}"
    return TRACEABLE_HINT


def export_program(model: Any, example: Sequence[Any], name: str, targets: Sequence[str] | None = None) -> Any:
    """``torch.export.export`` (strict=False: traces through Python the way eager runs it)."""
    import torch

    try:
        # no_grad: an inference program. With autograd on, a state update in forward (a buffer
        # copy_) exports as an in-place op on a grad-requiring leaf and lowering fails on it.
        with torch.no_grad():
            return torch.export.export(model, tuple(example), strict=False)
    except Exception as exc:
        raise EdgekitError(f"torch.export cannot trace {name}: {first_reason(exc)}", export_hint(targets)) from None


def exported(source: Any, targets: Sequence[str] | None = None) -> Any:
    """The ExportedProgram of a torch Source, exported once (from a fresh copy: export must not see
    state an earlier run left behind) and shared by every target. A failure is kept too, so every
    target reports the same reason; the hint fits ``targets`` (the requested ones)."""
    ep = getattr(source, "_exported", None)
    if ep is not None:
        return ep
    failed = getattr(source, "_export_failure", None)
    if failed is not None:
        raise EdgekitError(failed, export_hint(targets))
    if _is_exported_program(source.model):
        ep = source.model
    else:
        try:
            ep = export_program(source.fresh_model(), example_inputs(source), source.name, targets)
        except EdgekitError as exc:
            source._export_failure = exc.message
            raise
    source._exported = ep
    return ep


def fresh_program(source: Any, targets: Sequence[str] | None = None) -> Any:
    """A private copy of the source's ExportedProgram for one target to calibrate and lower.

    ``ep.module()`` shares the program's buffers, so calibrating it would write a stateful
    model's state into the program every later target lowers (and into the .pte's initial state).
    """
    import copy

    return copy.deepcopy(exported(source, targets))


def _is_exported_program(obj: Any) -> bool:
    return type(obj).__name__ == "ExportedProgram"


def example_inputs(source: Any) -> tuple:
    """Example tensors for a torch Source: the factory's own, else zeros of the declared specs."""
    ex = getattr(source, "example_inputs", None)
    if ex:
        return tuple(ex)
    import torch

    return tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in source.inputs)


def as_tensors(arrays: Sequence[Any]) -> tuple:
    import numpy as np
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
