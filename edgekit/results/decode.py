"""What a model's outputs are, for ``edgekit run``: class scores to rank, or tensors to summarise.

``run`` used to treat every model as a classifier and flattened whatever came out: a face detector
printed "class 14226 score 210.9" from its box regressors, a segmenter its class-id map as scores.
A top-k is only meaningful for one vector of class scores, so the decision is made from evidence
and stated (``why``):

- ``classify`` when there is exactly one output, it is one vector (every dimension but one is 1),
  and either labels were given or the values form a probability distribution (all in [0, 1],
  summing to 1 within what quantization can lose);
- ``summary`` otherwise: per output its name, shape, dtype, min/max/mean and argmax, which is true
  of any tensor and claims nothing about what it means.

``--task classify|summary`` overrides the guess; ``classify`` on an output that is not one vector
is refused rather than flattened.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgekit.errors import EdgekitError

TASKS = ("auto", "classify", "summary")
MAX_DISTINCT = 256  # an integer output with at most this many distinct values gets its most common ones
TOP_VALUES = 5


def _vector_length(shape: Sequence[int]) -> int | None:
    """n for shapes like [n], [1, n], [1, 1, 1, n]; None for anything else (maps, boxes, scalars)."""
    big = [d for d in shape if d != 1]
    if len(big) == 1 and big[0] > 1:
        return int(big[0])
    return None


def distribution_tolerance(n: int, scale: float | None) -> float:
    """How far from 1 a softmax's sum may drift: rounding each of n quantized values loses up to
    half a step (measured: uint8 MobileNets with 1001 classes sum to 0.86-1.0), floats ~nothing."""
    if scale:
        return max(0.02, min(0.25, n * scale / 2))
    return 0.02


def is_distribution(scores: np.ndarray, scale: float | None = None) -> bool:
    """All values in [0, 1] and summing to 1 (within the quantization tolerance)."""
    if scores.size < 2 or scores.dtype.kind not in "fiu":
        return False
    values = scores.astype(np.float64)
    if not np.all(np.isfinite(values)):
        return False
    eps = scale or 1e-6
    if values.min() < -eps or values.max() > 1 + eps:
        return False
    return abs(values.sum() - 1.0) <= distribution_tolerance(scores.size, scale)


def summarize(name: str, raw: np.ndarray, values: np.ndarray, quantized: bool) -> dict:
    """What is true of any tensor: shape, dtype, range, mean, where its largest value is."""
    out: dict = {
        "name": name,
        "shape": list(raw.shape),
        "dtype": str(raw.dtype),
        "dequantized": quantized,
        "size": int(raw.size),
        "min": None,
        "max": None,
        "mean": None,
        "argmax": None,
    }
    if raw.size and values.dtype.kind in "fiub":
        v = values.astype(np.float64)
        finite = np.isfinite(v)
        if finite.any():
            out["min"], out["max"] = float(v[finite].min()), float(v[finite].max())
            out["mean"] = float(v[finite].mean())
            flat = int(np.argmax(np.where(finite, v, -np.inf)))
            out["argmax"] = [int(i) for i in np.unravel_index(flat, raw.shape)] if raw.ndim else []
    if raw.size and raw.dtype.kind in "iu" and not quantized:  # ids (a segmenter's class map): count them
        ids, counts = np.unique(raw, return_counts=True)
        if len(ids) <= MAX_DISTINCT:
            order = np.argsort(-counts, kind="stable")[:TOP_VALUES]
            out["most_common"] = [{"value": int(ids[i]), "share": float(counts[i] / raw.size)} for i in order]
    return out


def choose_task(
    task: str, outputs: Sequence[np.ndarray], scales: Sequence[float | None], labels: Sequence[str] | None
) -> tuple[str, str]:
    """(task, why): the decision and the evidence for it, in words a user can check."""
    if task not in TASKS:
        raise EdgekitError(f"unknown task {task!r}", "use --task " + ", ".join(TASKS))
    n = _vector_length(outputs[0].shape) if len(outputs) == 1 else None
    if task == "summary":
        return "summary", "asked for (--task summary)"
    if task == "classify":
        if len(outputs) != 1:
            raise EdgekitError(
                f"--task classify needs a model with one output of class scores; this one has {len(outputs)} outputs",
                "use --task summary (the default picks it for such models)",
            )
        if n is None:
            raise EdgekitError(
                f"--task classify needs one vector of class scores; the output has shape {list(outputs[0].shape)}",
                "use --task summary (the default picks it for such models)",
            )
        return "classify", "asked for (--task classify)"
    if len(outputs) != 1:
        return "summary", f"{len(outputs)} outputs, not one vector of class scores"
    if n is None:
        return "summary", f"the output has shape {list(outputs[0].shape)}, not one vector of class scores"
    if labels:
        return "classify", f"one vector of {n} scores and {len(labels)} labels"
    if is_distribution(outputs[0], scales[0]):
        return (
            "classify",
            f"one vector of {n} values in [0, 1] that sum to {float(outputs[0].astype(np.float64).sum()):.3f} (a softmax)",
        )
    return "summary", (
        f"one vector of {n} values that is not a probability distribution and no --labels "
        "(pass --labels or --task classify to rank them as classes)"
    )


def top_k(scores: np.ndarray, k: int, labels: Sequence[str] | None) -> list[dict]:
    """The k largest scores, ties in index order."""
    if k < 1:
        raise EdgekitError(f"--top-k must be at least 1, not {k}", "e.g. --top-k 5")
    flat = scores.reshape(-1)
    order = np.argsort(-flat.astype(np.float64), kind="stable")[: min(k, flat.size)]
    return [{"index": int(i), "score": float(flat[i]), "label": labels[i] if labels and i < len(labels) else None} for i in order]


def decode(
    outputs: Sequence[np.ndarray], specs: Sequence, *, task: str = "auto", k: int = 5, labels: Sequence[str] | None = None
) -> dict:
    """The run's answer: ``task``, ``why``, per-output ``outputs`` summaries and, for classify, ``top_k``."""
    from edgekit.harness.inputs import dequantize

    if k < 1:
        raise EdgekitError(f"--top-k must be at least 1, not {k}", "e.g. --top-k 5")
    if not outputs:
        raise EdgekitError("the model produced no outputs", "check it with 'edgekit inspect'")
    values = [dequantize(np.asarray(o), s) for o, s in zip(outputs, specs)]
    scales = [s.scale if s.quantized else None for s in specs]
    chosen, why = choose_task(task, values, scales, labels)
    out: dict = {
        "task": chosen,
        "why": why,
        "outputs": [
            summarize(s.name, np.asarray(o), v, s.quantized and np.asarray(o).dtype.kind in "iu")
            for o, v, s in zip(outputs, values, specs)
        ],
    }
    if labels:
        for summary in out["outputs"]:
            for item in summary.get("most_common", []):
                if 0 <= item["value"] < len(labels):
                    item["label"] = labels[item["value"]]
    if chosen == "classify":
        out["top_k"] = top_k(values[0], k, labels)
        n = values[0].size
        if labels and len(labels) != n:
            out["warning"] = f"{len(labels)} labels for {n} scores: check the labels file belongs to this model"
    return out
