"""The interface every runtime implements, so the harness measures all formats the same way.

A Runtime loads one artifact into a Session; the harness only ever calls ``set_inputs``,
``invoke`` and ``outputs`` on it. Standard library + numpy only (this file ships to devices).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping, Sequence

from edgekit.errors import EdgekitError


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str  # numpy dtype name: "float32", "uint8", ...
    shape_signature: list[int] | None = None  # -1 marks a dynamic dimension
    scale: float | None = None  # per-tensor quantization, None when not quantized
    zero_point: int | None = None
    per_channel: bool = False

    @property
    def quantized(self) -> bool:
        return self.scale is not None and self.scale != 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunOptions:
    threads: int | None = None  # None: the runtime's default
    xnnpack: bool = True  # XNNPACK (or the format's default CPU delegate) on by default
    provider: str | None = None  # which Python package provides the runtime; None: first available
    device: str | None = None  # accelerator selector, e.g. "usb:0" for an Edge TPU
    extra: dict[str, Any] = field(default_factory=dict)
    # Shapes to run at, by input name (--input-shape NAME=1,1280): applied before tensors are
    # allocated, so a delegate is prepared for the real shape, not the model's placeholder.
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    # Shapes of the arrays given with --input, by input name or position: applied only to inputs
    # with dynamic (-1) dimensions, so a batch-less array for a fixed input is still adapted instead.
    inferred_shapes: dict[Any, list[int]] = field(default_factory=dict)


class Session:
    """One loaded model, ready to invoke. Subclasses fill the specs and delegate report."""

    inputs: list[TensorSpec]
    outputs_spec: list[TensorSpec]
    # One entry per delegate applied: {"name": "XNNPACK", "nodes": 64, "total_nodes": 66}
    delegates: list[dict]
    # Timings of the load split into its phases, in milliseconds, filled by Runtime.load.
    load_phases_ms: dict[str, float]

    # True when invoking may overwrite the input buffers (ExecuTorch's memory plan gives their
    # storage to intermediates): the harness then calls reset_inputs() before every invoke,
    # outside the timed span, and says so in the result.
    inputs_consumed: bool = False
    # (rtol, atol) within which repeated invokes on the same inputs must reproduce the first
    # outputs; (0, 0) means bit-exact. Only runtimes with non-deterministic threading loosen it.
    repeat_tolerance: tuple[float, float] = (0.0, 0.0)

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        raise NotImplementedError

    def reset_inputs(self) -> None:
        """Write the inputs given to set_inputs into the runtime again (see inputs_consumed)."""

    def reset_state(self) -> bool:
        """Reset state the model keeps between invokes (TFLite variable tensors: an LSTM's state);
        False when the runtime has no such reset."""
        return False

    def invoke(self) -> None:
        raise NotImplementedError

    def outputs(self) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Runtime:
    """Loads artifacts of one format. ``name`` is what results record as the runtime."""

    format: str = ""
    # What to try when this runtime's worker dies by a signal (segfault, abort) on a model: the
    # next step that applies to this format, shown after the signal in one line. "{model}" is
    # replaced by the artifact's path. Each format's record says it, so no caller branches on it.
    crash_hint: str = "rerun with --debug to see the runtime's log"

    def providers(self) -> list[str]:
        """Python packages that can provide this runtime here, best first (may be empty)."""
        return []

    def describe(self, options: RunOptions) -> dict:
        """{"name": ..., "version": ...} of the provider that ``load`` would use."""
        raise NotImplementedError

    def import_runtime(self, options: RunOptions) -> None:
        """Import the runtime's Python modules, so the harness can time and size the import apart
        from the model load (torch alone adds hundreds of MiB that are no model's doing).
        ``load`` must still work without it; the default imports nothing."""

    def load(self, path: str, options: RunOptions) -> Session:
        raise NotImplementedError


def dynamic(spec: TensorSpec) -> bool:
    """True when the model declares some dimension of this tensor as dynamic (-1)."""
    return any(d < 0 for d in (spec.shape_signature or spec.shape))


def parse_shape(text: str) -> list[int]:
    """'1,1280' or '1x1280' -> [1, 1280]; every dimension a positive integer."""
    parts = [p for p in re.split(r"[,x\s]+", str(text).strip()) if p]
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if not dims or any(d < 1 for d in dims):
        raise EdgekitError(f"{text!r} is not a shape", "give positive dimensions separated by commas, e.g. 1,1280")
    return dims


def plan_shapes(
    specs: Sequence[TensorSpec], explicit: Mapping[str, Sequence[int]] | None, inferred: Mapping[Any, Sequence[int]] | None = None
) -> dict[int, list[int]]:
    """Which inputs to resize to which shape: {input index: shape}, only where it changes.

    ``explicit`` (the user's --input-shape, by name) must name real inputs with the right rank;
    ``inferred`` (shapes of --input arrays, by name or position) applies only to inputs with a
    dynamic dimension, and a missing leading batch dimension of 1 is added as check_inputs does.
    """
    names = [s.name for s in specs]
    plan: dict[int, list[int]] = {}
    for key, shape in (inferred or {}).items():
        idx = key if isinstance(key, int) else (names.index(key) if key in names else None)
        if idx is None or not 0 <= idx < len(specs) or not dynamic(specs[idx]):
            continue
        shape = [int(d) for d in shape]
        rank = len(specs[idx].shape_signature or specs[idx].shape)
        if len(shape) == rank - 1:
            shape = [1, *shape]
        if len(shape) == rank:
            plan[idx] = shape
    for name, shape in (explicit or {}).items():
        if name not in names:
            raise EdgekitError(
                f"--input-shape names {name!r}, but the model has no input of that name",
                f"its inputs are: {', '.join(repr(n) for n in names) or 'none'}",
            )
        idx = names.index(name)
        shape = [int(d) for d in shape]
        sig = specs[idx].shape_signature or specs[idx].shape
        if len(shape) != len(sig):
            raise EdgekitError(
                f"--input-shape gives {name!r} {len(shape)} dimension(s) {shape}, the input has {len(sig)} ({sig})",
                f"give all {len(sig)} dimensions, e.g. {name}={','.join(str(d if d > 0 else 1) for d in sig)}",
            )
        if any(d < 1 for d in shape):
            raise EdgekitError(f"--input-shape {name}={shape} has a dimension below 1", "every dimension must be positive")
        plan[idx] = shape
    return {i: s for i, s in plan.items() if list(specs[i].shape) != s}


def with_shapes(specs: Sequence[TensorSpec], plan: Mapping[int, Sequence[int]]) -> list[TensorSpec]:
    """The specs with the planned shapes (for runtimes that take any shape at set_inputs)."""
    return [replace(s, shape=list(plan[i])) if i in plan else s for i, s in enumerate(specs)]
