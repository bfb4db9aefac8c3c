"""Search the smallest set of layers to keep at higher precision that meets an accuracy budget.

Shared by every backend: the backend supplies candidate layers ranked by measured sensitivity
(:func:`edgekit.quant.metrics.rank_layers`) and an ``evaluate(kept) -> score`` that builds the mixed
model keeping ``kept`` at higher precision and scores the *whole* model on evaluation samples (cosine
against float, or accuracy). Per-layer error only orders the search; the verdict is always the whole
model, because errors do not add up linearly across layers.

The search: add layers greedily in rank order (doubling the step while the score does not improve,
so a model with hundreds of layers does not cost hundreds of conversions), stop when the budget is
met, then try dropping each kept layer again (a later layer may have made an earlier one
unnecessary). Every evaluation is recorded, so a failed repair can say the best score reached, what
it would cost, and which layers did not help.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence


@dataclass
class Attempt:
    kept: tuple[str, ...]
    score: float
    seconds: float


@dataclass
class RepairResult:
    met: bool  # the budget was reached
    kept: tuple[str, ...]  # the smallest kept set found that meets it (or the best set tried)
    score: float  # the whole-model score of ``kept``
    baseline_score: float  # the plain quantized model's score (nothing kept)
    budget: float
    attempts: list[Attempt] = field(default_factory=list)
    unhelpful: tuple[str, ...] = ()  # kept layers whose removal did not lower the score
    stopped: str = ""  # why the search ended: "met", "exhausted", "time budget", "ceiling"
    ceiling_score: float | None = None  # the score with every candidate kept (the most precision can give)

    def summary(self) -> dict:
        """The manifest's record of the search (JSON-ready)."""
        return {
            "met": self.met,
            "kept_layers": list(self.kept),
            "score": self.score,
            "baseline_score": self.baseline_score,
            "budget": self.budget,
            "evaluations": len(self.attempts),
            "stopped": self.stopped,
            "unhelpful_layers": list(self.unhelpful),
            "ceiling_score": self.ceiling_score,
        }


def greedy_repair(
    ranked: Sequence[str],
    evaluate: Callable[[tuple[str, ...]], float],
    budget: float,
    *,
    time_budget_s: float = 600.0,
    max_kept: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[str], None] | None = None,
    check_ceiling: bool = True,
) -> RepairResult:
    """Smallest prefix-then-pruned set of ``ranked`` layers whose ``evaluate`` score is >= ``budget``.

    ``ranked`` is worst first; ``evaluate(())`` is the plain quantized model. Higher scores are
    better (cosine, accuracy). ``max_kept`` caps the set (e.g. half the layers: beyond that the
    artifact is a float model with extra steps). With ``check_ceiling``, the set of every candidate
    is scored first: when even that misses the budget, no subset can be expected to meet it (the
    loss is somewhere precision of these layers does not reach, e.g. integer model I/O), and the
    search stops at once with ``stopped = "ceiling"`` instead of spending the time budget.
    """
    start = clock()
    attempts: list[Attempt] = []
    cache: dict[tuple[str, ...], float] = {}

    def score_of(kept: tuple[str, ...]) -> float:
        key = tuple(sorted(kept))
        if key not in cache:
            t0 = clock()
            cache[key] = float(evaluate(kept))
            attempts.append(Attempt(kept, cache[key], clock() - t0))
            if progress:
                progress(f"kept {len(kept)} layer(s): score {cache[key]:.5f} (budget {budget:.5f})")
        return cache[key]

    def out_of_time() -> bool:
        return clock() - start > time_budget_s

    base = score_of(())
    if base >= budget:
        return RepairResult(True, (), base, base, budget, attempts, (), "met")
    limit = len(ranked) if max_kept is None else min(max_kept, len(ranked))
    ceiling = None
    if check_ceiling and ranked:
        ceiling = score_of(tuple(ranked[:limit]))
        if ceiling < budget:
            return RepairResult(False, tuple(ranked[:limit]), ceiling, base, budget, attempts, (), "ceiling", ceiling)
    best_kept, best_score = (), base
    n, step, stopped = 0, 1, "exhausted"
    while n < limit:
        if out_of_time():
            stopped = "time budget"
            break
        n = min(limit, n + step)
        kept = tuple(ranked[:n])
        s = score_of(kept)
        if s > best_score:
            best_kept, best_score = kept, s
            step = 1 if s >= budget else step
        else:
            step *= 2  # these layers did not help: cover ground faster
        if s >= budget:
            # The budget may have been crossed inside the last step: narrow back one layer at a time.
            while n > 1 and not out_of_time():
                shorter = tuple(ranked[: n - 1])
                if score_of(shorter) >= budget:
                    n -= 1
                    best_kept, best_score = shorter, cache[tuple(sorted(shorter))]
                else:
                    break
            stopped = "met"
            break
    met = best_score >= budget
    unhelpful: list[str] = []
    if met:
        kept = list(best_kept)
        for layer in list(kept):
            if out_of_time():
                break
            trial = tuple(k for k in kept if k != layer)
            s = score_of(trial)
            if s >= budget:
                kept = list(trial)
                best_score = s
        best_kept = tuple(kept)
    else:
        # Which of the tried layers never moved the score: beyond fixing by precision alone.
        for layer in best_kept:
            if out_of_time():
                break
            trial = tuple(k for k in best_kept if k != layer)
            if score_of(trial) >= best_score:
                unhelpful.append(layer)
    return RepairResult(met, best_kept, best_score, base, budget, attempts, tuple(unhelpful), stopped, ceiling)
