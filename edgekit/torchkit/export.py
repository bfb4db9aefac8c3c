"""torch.export with its failures turned into one line that names the cause.

Every ExecuTorch target starts from the same ExportedProgram, so it is made once per source and
cached on the Source (``exported``). torch.export fails with long, multi-part messages
(data-dependent control flow, unsupported Python, wrong example inputs); the first meaningful line
is kept and the hint says what usually fixes it.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from edgekit.errors import EdgekitError

_NOISE = re.compile(r"^(\s*$|For more information|Set TORCH_LOGS|from user code|User Stack|The following call)")


def first_reason(exc: BaseException, limit: int = 300) -> str:
    lines = [l.strip() for l in str(exc).splitlines() if l.strip() and not _NOISE.match(l)]
    text = lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {text[:limit]}"


def check_example_inputs(model: Any, example: Sequence[Any], name: str) -> list:
    """Run the eager model once on the example inputs; a mismatch is the user's, not the exporter's."""
    import torch

    try:
        with torch.no_grad():
            out = model(*example)
    except Exception as exc:
        shapes = ", ".join(f"{list(t.shape)} {str(t.dtype).replace('torch.', '')}" for t in example if hasattr(t, "shape"))
        raise EdgekitError(
            f"{name} fails on its example inputs ({shapes}): {first_reason(exc)}",
            "give example inputs (or --input-shape / [[inputs]]) of the shape and dtype the model's forward expects",
        ) from None
    return list(out) if isinstance(out, (tuple, list)) else [out]


def export_program(model: Any, example: Sequence[Any], name: str) -> Any:
    """``torch.export.export`` (strict=False: traces through Python the way eager runs it)."""
    import torch

    try:
        return torch.export.export(model, tuple(example), strict=False)
    except Exception as exc:
        raise EdgekitError(
            f"torch.export cannot trace {name}: {first_reason(exc)}",
            "make forward() traceable (no data-dependent Python control flow: use torch.where/torch.cond), "
            "or build only the ptl target",
        ) from None


def exported(source: Any) -> Any:
    """The ExportedProgram of a torch Source, exported once and shared by every target."""
    ep = getattr(source, "_exported", None)
    if ep is None:
        ep = source.model if _is_exported_program(source.model) else export_program(
            source.model, example_inputs(source), source.name
        )
        source._exported = ep
    return ep


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
