"""The interface every runtime implements, so the harness measures all formats the same way.

A Runtime loads one artifact into a Session; the harness only ever calls ``set_inputs``,
``invoke`` and ``outputs`` on it. Standard library + numpy only (this file ships to devices).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence


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


class Session:
    """One loaded model, ready to invoke. Subclasses fill the specs and delegate report."""

    inputs: list[TensorSpec]
    outputs_spec: list[TensorSpec]
    # One entry per delegate applied: {"name": "XNNPACK", "nodes": 64, "total_nodes": 66}
    delegates: list[dict]
    # Timings of the load split into its phases, in milliseconds, filled by Runtime.load.
    load_phases_ms: dict[str, float]

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        raise NotImplementedError

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

    def load(self, path: str, options: RunOptions) -> Session:
        raise NotImplementedError
