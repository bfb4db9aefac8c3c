"""The accuracy budget a mixed-precision repair must reach: the target's own thresholds.

The budget is not a second concept beside thresholds: it *is* the target's ``min_cosine`` /
``max_accuracy_drop`` threshold (``[thresholds]`` or ``[options.<target>] thresholds = {...}``),
with ``min_cosine = 0.99`` when none is set; the search aims at it (plus
``edgekit.quant.repair.SEARCH_MARGIN``) on calibration samples held apart from calibration, and the
build's held-out check gates the result on it. ``time_budget_s`` (a target option) bounds the
search. One place reads it, so every ``*-mixed`` target agrees on what "good enough" means.
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

    def thresholds(self) -> dict:
        """The thresholds the build gates the repaired artifact with (held-out samples)."""
        out: dict = {}
        if self.min_cosine > -1.0:
            out["min_cosine"] = self.min_cosine
        if self.max_accuracy_drop is not None:
            out["max_accuracy_drop"] = self.max_accuracy_drop
        return out

    def margin(self, reference: list, got: list, labels: Any = None) -> tuple[float, dict]:
        """How far a whole model's outputs ``got`` (per sample, per output) are inside the budget
        against float ``reference``: >= 0 meets it (the repair search's score), with the drift record.
        The tightest of the cosine margin and the accuracy-drop margin (points / 100) counts."""
        import numpy as np

        from edgekit.build import accuracy

        drift = accuracy.compare(
            [np.concatenate([r[k] for r in reference]) for k in range(len(reference[0]))],
            [np.concatenate([g[k] for g in got]) for k in range(len(got[0]))],
            labels if self.max_accuracy_drop is not None else None,
        )
        parts = []
        if self.min_cosine > -1.0:
            parts.append(float(drift.get("cosine") or 0.0) - self.min_cosine)
        if self.max_accuracy_drop is not None and drift.get("accuracy_drop") is not None:
            parts.append((self.max_accuracy_drop - float(drift["accuracy_drop"])) / 100.0)
        return (min(parts) if parts else 0.0), drift

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
    """The budget for a build target: its thresholds (spec-wide, then its own), its
    ``time_budget_s`` option, and the defaults for what neither sets."""
    spec = getattr(ctx, "spec", None)
    merged: dict = {}
    if spec is not None and hasattr(spec, "thresholds_for"):
        merged.update(spec.thresholds_for(getattr(ctx, "target", "")))
    merged.update({k: v for k, v in (getattr(ctx, "options", None) or {}).items() if k == "time_budget_s"})
    return Budget(
        min_cosine=_number(
            merged.get("min_cosine", DEFAULT_MIN_COSINE if merged.get("max_accuracy_drop") is None else -1.0),
            "min_cosine",
            -1.0,
            1.0,
        ),
        max_accuracy_drop=(
            None
            if merged.get("max_accuracy_drop") is None
            else _number(merged["max_accuracy_drop"], "max_accuracy_drop", 0.0, 100.0)
        ),
        time_budget_s=_number(merged.get("time_budget_s", DEFAULT_TIME_BUDGET_S), "time_budget_s", 1.0, 86400.0),
    )
