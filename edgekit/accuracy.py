"""Accuracy drift of a built artifact against the float source model, and threshold checks.

Quantization can lose accuracy silently: a model that still runs and still looks plausible (a
BERT-style encoder fell to cosine 0.86 under static int8 here). So every artifact is compared with
the float model on held-out samples, per output: cosine similarity, max abs error and SNR in dB;
for classifiers top-1/top-5 agreement with the float model, and accuracy when labels are known.
numpy only.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgekit.errors import EdgekitError

# threshold name -> (metric path, direction): "min" means the metric must be >= the threshold.
THRESHOLDS: dict[str, tuple[str, str]] = {
    "min_cosine": ("cosine", "min"),
    "max_abs_error": ("max_abs_error", "max"),
    "min_snr_db": ("snr_db", "min"),
    "min_top1_agreement": ("top1_agreement", "min"),
    "min_top5_agreement": ("top5_agreement", "min"),
    "min_accuracy": ("accuracy", "min"),
    "max_accuracy_drop": ("accuracy_drop", "max"),  # float accuracy minus artifact accuracy, in points (0-100)
}


def output_drift(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Cosine similarity (per sample, then the worst), max abs error and SNR (dB) of one output."""
    ref = np.asarray(reference, dtype=np.float64).reshape(reference.shape[0], -1)
    cand = np.asarray(candidate, dtype=np.float64).reshape(candidate.shape[0], -1)
    if ref.shape != cand.shape:
        raise EdgekitError(f"output shapes differ: float {list(ref.shape)} vs artifact {list(cand.shape)}", "")
    if not np.all(np.isfinite(cand)):
        return {"cosine": float("nan"), "cosine_mean": float("nan"), "max_abs_error": float("inf"), "snr_db": float("-inf"), "finite": False}
    num = np.sum(ref * cand, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    both_zero = (np.linalg.norm(ref, axis=1) == 0) & (np.linalg.norm(cand, axis=1) == 0)
    cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(both_zero, 1.0, 0.0))
    err = cand - ref
    noise = float(np.sum(err**2))
    signal = float(np.sum(ref**2))
    if noise == 0:
        snr = float("inf")
    elif signal == 0:
        snr = float("-inf")
    else:
        snr = 10.0 * np.log10(signal / noise)
    return {
        "cosine": float(np.min(cos)),
        "cosine_mean": float(np.mean(cos)),
        "max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
        "snr_db": float(snr),
        "finite": True,
    }


def is_classifier(output: np.ndarray) -> bool:
    """A 2-D output [N, classes] with more than one class is treated as class scores."""
    return output.ndim == 2 and output.shape[1] > 1


def topk_agreement(reference: np.ndarray, candidate: np.ndarray, k: int) -> float:
    """Share of samples whose float top-1 class is among the artifact's top-k."""
    k = min(k, reference.shape[1])
    ref_top1 = np.argmax(reference, axis=1)
    cand_topk = np.argsort(-candidate, axis=1, kind="stable")[:, :k]
    return float(np.mean([r in c for r, c in zip(ref_top1, cand_topk)]))


def compare(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    output_names: Sequence[str] | None = None,
) -> dict:
    """Drift of ``candidate`` (artifact outputs, dequantized) against ``reference`` (float model).

    Arrays hold all evaluation samples on axis 0. Top-k and accuracy use the first output when it
    looks like class scores; accuracies are in percent.
    """
    if len(reference) != len(candidate):
        raise EdgekitError(
            f"the artifact has {len(candidate)} outputs, the float model {len(reference)}", "check the conversion"
        )
    outputs = []
    for i, (r, c) in enumerate(zip(reference, candidate)):
        name = output_names[i] if output_names and i < len(output_names) else f"output_{i}"
        outputs.append({"name": name, **output_drift(r, c)})
    result: dict = {"samples": int(reference[0].shape[0]) if reference else 0, "outputs": outputs}
    # Worst case over outputs: what thresholds check.
    result["cosine"] = min(o["cosine"] for o in outputs) if outputs else None
    result["max_abs_error"] = max(o["max_abs_error"] for o in outputs) if outputs else None
    result["snr_db"] = min(o["snr_db"] for o in outputs) if outputs else None
    first_r, first_c = (np.asarray(reference[0]), np.asarray(candidate[0])) if reference else (None, None)
    if first_r is not None and is_classifier(first_r.reshape(first_r.shape[0], -1) if first_r.ndim > 2 else first_r):
        r2 = first_r.reshape(first_r.shape[0], -1)
        c2 = first_c.reshape(first_c.shape[0], -1)
        result["top1_agreement"] = topk_agreement(r2, c2, 1)
        result["top5_agreement"] = topk_agreement(r2, c2, 5)
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            ref_acc = 100.0 * float(np.mean(np.argmax(r2, axis=1) == labels))
            acc = 100.0 * float(np.mean(np.argmax(c2, axis=1) == labels))
            result["reference_accuracy"] = ref_acc
            result["accuracy"] = acc
            result["accuracy_drop"] = ref_acc - acc
    return result


def check_thresholds(drift: dict, thresholds: dict) -> list[str]:
    """Human-readable misses, e.g. "cosine 0.91 < min_cosine 0.99"; empty when all pass.

    A threshold on a metric the artifact does not have (top-1 for a regression model, accuracy
    without labels) is itself a miss: a gate that silently does not apply is not a gate.
    """
    misses = []
    for name, limit in thresholds.items():
        if name not in THRESHOLDS:
            raise EdgekitError(f"unknown threshold {name!r}", f"choose from: {', '.join(THRESHOLDS)}")
        metric, direction = THRESHOLDS[name]
        value = drift.get(metric)
        if value is None:
            misses.append(f"{name} set but {metric} is not available (no labels or not a classifier)")
            continue
        if value != value:  # NaN
            misses.append(f"{metric} is NaN")
        elif direction == "min" and value < float(limit):
            misses.append(f"{metric} {value:.4g} < {name} {limit}")
        elif direction == "max" and value > float(limit):
            misses.append(f"{metric} {value:.4g} > {name} {limit}")
    return misses
