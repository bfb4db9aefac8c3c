"""Fresh copies of torch models, and the probe that tells a stateful model from a pure one.

A model may keep state between calls (a voice-activity detector updating a recurrent buffer in
forward). Anything edgekit runs through such a model (the example-input check, the float
reference, torch.jit.trace, PT2E calibration) changes it, and a file saved afterwards starts from
that changed state: a .ptl once shipped a VAD whose first output was 0.892 where a fresh model
gives 0.647. The rule here: the model a target saves is a copy nobody has run, and every run
happens on a copy of its own.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

Call = Callable[[Any, tuple], Any]  # (model, tensors) -> output, with constant arguments bound


def plain_call(model: Any, tensors: tuple) -> Any:
    return model(*tensors)


def copier(model: Any) -> Callable[[], Any]:
    """A ``fresh_fn`` for an in-memory module: a deep copy taken now, before anything ran it, and
    copied again on every call so the kept one is never run either."""
    pristine = copy.deepcopy(model)
    return lambda: copy.deepcopy(pristine)


def outputs_list(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def probe(fresh: Callable[[], Any], example: Sequence[Any], name: str, call: Call = plain_call) -> tuple[list, bool]:
    """Run a fresh copy twice on the example inputs: (first outputs, stateful).

    The first run is the example-input check (a mismatch is the user's error, said in one line);
    the second tells whether the model remembers the first: the same input giving another output
    means state (or randomness) inside the module, and then the reference runs in order.
    """
    import torch

    from edgekit.torchkit.export import check_example_inputs

    model = fresh()
    first = check_example_inputs(model, example, name, call)
    try:
        with torch.no_grad():
            second = outputs_list(call(model, tuple(example)))
    except Exception:
        return first, True  # it ran once and not twice: whatever changed is state
    stateful = len(first) != len(second) or any(
        not (hasattr(a, "shape") and hasattr(b, "shape") and a.shape == b.shape and torch.equal(a, b))
        for a, b in zip(first, second)
    )
    return first, stateful


def runner(fresh: Callable[[], Any], call: Call = plain_call) -> tuple[Callable[[list], list], Callable[[], None]]:
    """(predict, reset): predict runs one working copy made on first use; reset drops it, so the
    next predict starts from the fresh state again."""
    import torch

    from edgekit.torchkit.export import as_tensors

    holder: dict = {}

    def predict(arrays: list) -> list:
        if "model" not in holder:
            holder["model"] = fresh()
        with torch.no_grad():
            return outputs_list(call(holder["model"], as_tensors(arrays)))

    def reset() -> None:
        holder.pop("model", None)

    return predict, reset


def restore_buffers(module: Any, fresh_buffers: dict) -> list[str]:
    """Copy the fresh values back into ``module``'s buffers of the same name and shape (after a
    tracer or a calibration pass ran it); returns the names that had changed."""
    import torch

    changed = []
    with torch.no_grad():
        for name, buf in module.named_buffers():
            ref = fresh_buffers.get(name)
            if ref is not None and buf.shape == ref.shape and buf.dtype == ref.dtype and not torch.equal(buf, ref):
                if buf.requires_grad and not ref.requires_grad:
                    buf.detach_()  # a state update under autograd made it a graph node: a plain buffer again
                buf.copy_(ref)
                changed.append(name)
    return changed


def buffer_snapshot(module: Any) -> dict:
    return {name: buf.detach().clone() for name, buf in module.named_buffers()}
