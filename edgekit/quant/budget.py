"""The accuracy budget a mixed-precision repair must reach, from the target's options or the spec.

One place reads it, so every ``*-mixed`` target and ``quant-report`` agree on what "good enough"
means: ``min_cosine`` against the float model (default 0.99), or ``max_accuracy_drop`` in points of
held-out accuracy when labels are known, within ``time_budget_s`` of search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.errors import EdgekitError

DEFAULT_MIN_COSINE = 0.99
DEFAULT_TIME_BUDGET_S = 600.0


@dataclass(frozen=True)
class Budget:
    min_cosine: float = DEFAULT_MIN_COSINE
    max_accuracy_drop: float | None = None  # points (0-100) of held-out accuracy, when labels exist
    time_budget_s: float = DEFAULT_TIME_BUDGET_S

    def as_dict(self) -> dict:
        return {
            "min_cosine": self.min_cosine,
            "max_accuracy_drop": self.max_accuracy_drop,
            "time_budget_s": self.time_budget_s,
        }


def _number(value: Any, key: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EdgekitError(f"accuracy budget {key} = {value!r} is not a number", f"give a number in [{lo}, {hi}]") from None
    if not lo <= v <= hi:
        raise EdgekitError(f"accuracy budget {key} = {v} is out of range", f"give a number in [{lo}, {hi}]")
    return v


def budget_for(ctx: Any) -> Budget:
    """The budget for a build target: its own options (``[options.<target>]``) win over the spec's
    ``accuracy_budget`` table, which wins over the defaults."""
    merged: dict = dict(getattr(getattr(ctx, "spec", None), "accuracy_budget", None) or {})
    merged.update({k: v for k, v in (getattr(ctx, "options", None) or {}).items()
                   if k in ("min_cosine", "max_accuracy_drop", "time_budget_s")})
    return Budget(
        min_cosine=_number(merged.get("min_cosine", DEFAULT_MIN_COSINE), "min_cosine", -1.0, 1.0),
        max_accuracy_drop=(None if merged.get("max_accuracy_drop") is None
                           else _number(merged["max_accuracy_drop"], "max_accuracy_drop", 0.0, 100.0)),
        time_budget_s=_number(merged.get("time_budget_s", DEFAULT_TIME_BUDGET_S), "time_budget_s", 1.0, 86400.0),
    )
