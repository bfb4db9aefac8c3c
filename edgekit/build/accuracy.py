"""Accuracy drift of a built artifact against the float source model, sanity verdicts, thresholds.

Quantization can lose accuracy silently: a model that still runs and still looks plausible (a
BERT-style encoder fell to cosine 0.86 under static int8 here), or one that is plainly broken
(a MobileNetV3-Small int8 whose every output is 0 was once "built"). So every artifact is compared
with the float model on held-out samples, per output, with the metrics that mean something for
that output's kind (``OUTPUT_KINDS``):

- ``classification`` (class scores [N, C]): top-1/top-5 agreement, and accuracy with labels;
- ``embedding`` ([N, D] features): cosine and nearest-neighbour rank agreement (does each sample
  keep its nearest neighbour among the evaluation samples);
- ``dense`` (maps [N, H, W, C], heatmaps): per-pixel argmax agreement over the channel axis;
- ``values`` (anything else, e.g. regression): cosine, max abs error, SNR only.

Every output also gets cosine (worst sample), max abs error and SNR in dB. ``sanity`` then
judges the numbers without any user threshold: NaN/Inf, an all-zero or constant output (while
the float model's varies) or a cosine below ``FAIL_COSINE`` fail the artifact; a cosine below
``WARN_COSINE`` builds it with a warning. Cosine says nothing on outputs with very few values
per sample (on one value it is always +-1: a voice-activity score 0.892 for 0.647 had cosine
1.00000 at SNR 2.5 dB), so outputs with fewer than ``FEW_VALUES`` values per sample are also
judged on SNR: below ``FAIL_SNR_DB`` failed, below ``WARN_SNR_DB`` a warning. Everything returned is strict JSON: a value that would
be infinite or NaN is ``None`` with a note. numpy only.
"""

from __future__ import annotations

import math
from typing import Any, Sequence


from typing import TYPE_CHECKING

from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # numpy is imported where it is used: the quick cache path never loads it
    import numpy as np

# Drift sanity defaults (docs/build.md): below FAIL_COSINE an artifact is failed without any
# threshold; below WARN_COSINE it is built with a warning. [drift] in edgekit.toml overrides them.
FAIL_COSINE = 0.5
WARN_COSINE = 0.9
# Outputs with fewer values than this per sample (a score, a probability, a 2-3 value regression)
# are judged on SNR too: with isotropic error, cosine reads the SNR scaled by n/(n-1) (+3 dB at
# n = 2, blind at n = 1). 10 dB = error RMS about 1/3 of the signal's (decisions flip); int8
# quantization typically keeps 25-40 dB. [drift] snr_fail_below_db / snr_warn_below_db override.
FEW_VALUES = 4
FAIL_SNR_DB = 10.0
WARN_SNR_DB = 20.0
# Sample counts below these make the figures rough: a warning says so (never silently).
MIN_CALIBRATION_SAMPLES = 100
MIN_EVALUATION_SAMPLES = 50

OUTPUT_KINDS = ("classification", "embedding", "dense", "values")
_CLASS_HINTS = ("logit", "prob", "class", "score", "softmax", "predict", "label", "digit")
_EMBED_HINTS = ("embed", "feature", "pool", "vector", "encod", "hidden", "latent")

# threshold name -> (metric path, direction): "min" means the metric must be >= the threshold.
THRESHOLDS: dict[str, tuple[str, str]] = {
    "min_cosine": ("cosine", "min"),
    "max_abs_error": ("max_abs_error", "max"),
    "min_snr_db": ("snr_db", "min"),
    "min_top1_agreement": ("top1_agreement", "min"),
    "min_top5_agreement": ("top5_agreement", "min"),
    "min_accuracy": ("accuracy", "min"),
    "max_accuracy_drop": ("accuracy_drop", "max"),  # float accuracy minus artifact accuracy, in points (0-100)
    "min_nn_agreement": ("nn_agreement", "min"),
    "min_pixel_agreement": ("pixel_agreement", "min"),
}


def _flat(a: np.ndarray) -> np.ndarray:
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1, 1)


def output_drift(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Cosine similarity (per sample, then the worst), max abs error, SNR (dB) and the facts the
    sanity verdict needs (finite, all zero, constant) of one output. Strict JSON values only."""
    import numpy as np

    ref, cand = _flat(reference), _flat(candidate)
    if ref.shape != cand.shape:
        raise EdgekitError(f"output shapes differ: float {list(ref.shape)} vs artifact {list(cand.shape)}", "")
    facts = {
        "all_zero": bool(cand.size and not np.any(cand)) if np.all(np.isfinite(cand)) else False,
        "constant": _constant(ref, cand),
        "reference_constant": bool(ref.size and np.ptp(ref) == 0),
        "values_per_sample": int(ref.shape[1]) if ref.ndim == 2 else int(ref.size),
    }
    if not np.all(np.isfinite(cand)):
        bad = int(cand.size - np.count_nonzero(np.isfinite(cand)))
        return {
            "cosine": None,
            "cosine_mean": None,
            "max_abs_error": None,
            "snr_db": None,
            "finite": False,
            "non_finite_values": bad,
            **facts,
            "note": f"{bad} NaN/Inf values in the artifact's output",
        }
    ref_norm, cand_norm = np.linalg.norm(ref, axis=1), np.linalg.norm(cand, axis=1)
    num = np.sum(ref * cand, axis=1)
    den = ref_norm * cand_norm
    both_zero = (ref_norm == 0) & (cand_norm == 0)
    cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(both_zero, 1.0, 0.0))
    err = cand - ref
    noise, signal = float(np.sum(err**2)), float(np.sum(ref**2))
    out: dict[str, Any] = {
        "cosine": float(np.min(cos)) if cos.size else None,
        "cosine_mean": float(np.mean(cos)) if cos.size else None,
        "max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
        "finite": True,
        **facts,
    }
    if noise == 0:
        out.update(snr_db=None, snr_exact=True, note="no error: SNR is infinite (recorded as null)")
    elif signal == 0:
        out.update(snr_db=None, note="the float output is all zero: SNR undefined (recorded as null)")
    else:
        out["snr_db"] = float(10.0 * np.log10(signal / noise))
    return out


def _constant(ref: np.ndarray, cand: np.ndarray) -> bool:
    """The artifact gives one value everywhere, or the same output for every sample, while the
    float model's output varies: a collapsed conversion, whatever its cosine says."""
    import numpy as np

    if not cand.size or not np.all(np.isfinite(cand)):
        return False
    if np.ptp(cand) == 0 and np.ptp(ref) > 0:
        return True
    if cand.shape[0] >= 2:
        same_cand = bool(np.all(cand == cand[0:1]))
        same_ref = bool(np.all(ref == ref[0:1]))
        return same_cand and not same_ref
    return False


def output_kind(reference: np.ndarray, name: str = "", labels: np.ndarray | None = None, declared: str | None = None) -> str:
    """What one output holds, which decides the metrics that mean something for it.

    For [N, C] outputs, in order: a name that says so (embedding, features, pool ... / logits,
    probs, predictions ...); rows that are probabilities (all in [0, 1]) or labels in [0, C) given:
    class scores; L2-normalised rows, or non-negative values above 1 (ReLU/pooled features):
    embedding; signed values otherwise (logits): class scores. [N, T, D] named like an embedding
    is an embedding; other outputs with two or more axes after N are dense maps; the rest values.
    ``declared`` (``[output_kinds]`` / ``--output-kind``) wins over the guess.
    """
    import numpy as np

    if declared:
        if declared not in OUTPUT_KINDS:
            raise EdgekitError(f"unknown output kind {declared!r}", f"choose one of: {', '.join(OUTPUT_KINDS)}")
        return declared
    r = np.asarray(reference)
    low = (name or "").lower()
    embed_hint = any(h in low for h in _EMBED_HINTS)
    if r.ndim == 2 and r.shape[1] > 1:
        if embed_hint:
            return "embedding"
        if any(h in low for h in _CLASS_HINTS):
            return "classification"
        finite = bool(r.size) and bool(np.all(np.isfinite(r)))
        if finite and r.min() >= 0 and r.max() <= 1:
            return "classification"
        if labels is not None:
            lab = np.asarray(labels).reshape(-1)
            if lab.dtype.kind in "iu" and lab.size and lab.min() >= 0 and lab.max() < r.shape[1]:
                return "classification"
        if finite:
            norms = np.linalg.norm(r.astype(np.float64), axis=1)
            if np.allclose(norms, 1.0, atol=1e-3) or r.min() >= 0:
                return "embedding"
        return "classification"
    if r.ndim == 3 and embed_hint:
        return "embedding"
    if r.ndim >= 4 or (r.ndim == 3 and r.shape[1] > 1 and r.shape[2] > 1):
        return "dense"
    return "values"


def is_classifier(output: np.ndarray) -> bool:
    """Kept for callers of the old API: a class-score output by ``output_kind``'s rule."""
    return output_kind(output) == "classification"


def topk_agreement(reference: np.ndarray, candidate: np.ndarray, k: int) -> float:
    """Share of samples whose float top-1 class is among the artifact's top-k."""
    import numpy as np

    k = min(k, reference.shape[1])
    ref_top1 = np.argmax(reference, axis=1)
    cand_topk = np.argsort(-candidate, axis=1, kind="stable")[:, :k]
    return float(np.mean([r in c for r, c in zip(ref_top1, cand_topk)]))


def nn_agreement(reference: np.ndarray, candidate: np.ndarray) -> float | None:
    """Share of samples whose nearest neighbour (cosine, among the other evaluation samples) is the
    same sample for the artifact as for the float model; None with fewer than 3 samples."""
    import numpy as np

    ref, cand = _flat(reference), _flat(candidate)
    n = ref.shape[0]
    if n < 3:
        return None

    def nearest(x: np.ndarray) -> np.ndarray:
        import numpy as np

        norm = np.linalg.norm(x, axis=1, keepdims=True)
        unit = x / np.where(norm > 0, norm, 1.0)
        sim = unit @ unit.T
        np.fill_diagonal(sim, -np.inf)
        return np.argmax(sim, axis=1)

    return float(np.mean(nearest(ref) == nearest(cand)))


def pixel_agreement(reference: np.ndarray, candidate: np.ndarray) -> float | None:
    """Share of positions whose argmax over the channel axis agrees (segmentation maps, heatmaps
    with several channels); None for single-channel maps, where only SNR/cosine apply. The channel
    axis is the last one unless the second is smaller (NCHW)."""
    import numpy as np

    r, c = np.asarray(reference), np.asarray(candidate)
    if r.ndim < 3:
        return None
    axis = -1 if r.ndim < 4 or r.shape[-1] <= r.shape[1] else 1
    if r.shape[axis] < 2:
        return None
    return float(np.mean(np.argmax(r, axis=axis) == np.argmax(c, axis=axis)))


def compare(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    output_names: Sequence[str] | None = None,
    output_kinds: dict | None = None,
) -> dict:
    """Drift of ``candidate`` (artifact outputs, dequantized) against ``reference`` (float model).

    Arrays hold all evaluation samples on axis 0. The top-level cosine/SNR/max error are the worst
    over outputs (what thresholds check); top-k and accuracy come from the first class-score
    output, nn/pixel agreement from the first embedding/dense output. Accuracies are in percent.
    """
    import numpy as np

    if len(reference) != len(candidate):
        raise EdgekitError(f"the artifact has {len(candidate)} outputs, the float model {len(reference)}", "check the conversion")
    outputs = []
    for i, (r, c) in enumerate(zip(reference, candidate)):
        name = output_names[i] if output_names and i < len(output_names) else f"output_{i}"
        kind = output_kind(r, name, labels, (output_kinds or {}).get(name))
        o = {"name": name, "kind": kind, **output_drift(r, c)}
        if o["finite"]:
            _kind_metrics(o, np.asarray(r), np.asarray(c), labels)
        outputs.append(o)
    result: dict = {"samples": int(reference[0].shape[0]) if reference else 0, "outputs": outputs}

    def worst(key: str, fn):
        vals = [o[key] for o in outputs if o.get(key) is not None]
        if any(not o["finite"] for o in outputs):
            return None
        return fn(vals) if vals else None

    result["cosine"] = worst("cosine", min)
    result["max_abs_error"] = worst("max_abs_error", max)
    result["snr_db"] = worst("snr_db", min)
    if outputs and all(o.get("snr_exact") for o in outputs):
        result["snr_exact"] = True
    if any(not o["finite"] for o in outputs):
        result["note"] = "an output holds NaN/Inf: cosine, error and SNR are null"
    for key in (
        "top1_agreement",
        "top5_agreement",
        "reference_accuracy",
        "accuracy",
        "accuracy_drop",
        "nn_agreement",
        "pixel_agreement",
    ):
        for o in outputs:
            if o.get(key) is not None:
                result[key] = o[key]
                break
    return result


def _kind_metrics(o: dict, r: np.ndarray, c: np.ndarray, labels: np.ndarray | None) -> None:
    import numpy as np

    kind = o["kind"]
    if kind == "classification":
        r2, c2 = _flat(r), _flat(c)
        o["top1_agreement"] = topk_agreement(r2, c2, 1)
        o["top5_agreement"] = topk_agreement(r2, c2, 5)
        if labels is not None:
            lab = np.asarray(labels).reshape(-1)
            ref_acc = 100.0 * float(np.mean(np.argmax(r2, axis=1) == lab))
            acc = 100.0 * float(np.mean(np.argmax(c2, axis=1) == lab))
            o.update(reference_accuracy=ref_acc, accuracy=acc, accuracy_drop=ref_acc - acc)
    elif kind == "embedding":
        nn = nn_agreement(r, c)
        if nn is not None:
            o["nn_agreement"] = nn
    elif kind == "dense":
        px = pixel_agreement(r, c)
        if px is not None:
            o["pixel_agreement"] = px


def sanity(
    drift: dict,
    fail_below: float = FAIL_COSINE,
    warn_below: float = WARN_COSINE,
    snr_fail_below_db: float = FAIL_SNR_DB,
    snr_warn_below_db: float = WARN_SNR_DB,
) -> tuple[str, list[str]]:
    """("ok" | "warn" | "fail", reasons) for a drift record, without any user threshold.

    Works on the recorded numbers alone, so a cached artifact is judged again on every rebuild.
    Cosine is judged on every output; outputs with fewer than FEW_VALUES values per sample are
    judged on SNR as well (cosine cannot see their error), even when the float output is the same
    for every sample (SNR needs no variation).
    """
    fails, warns = [], []
    for o in drift.get("outputs") or []:
        name = o.get("name", "?")
        if o.get("finite") is False:
            fails.append(f"output {name!r} holds NaN/Inf")
            continue
        few = o.get("values_per_sample")
        snr = o.get("snr_db")
        if isinstance(few, int) and few < FEW_VALUES and isinstance(snr, (int, float)):
            what = (
                f"output {name!r} ({few} value{'s' if few != 1 else ''} per sample, where cosine says nothing) SNR {snr:.1f} dB"
            )
            if snr < snr_fail_below_db:
                fails.append(f"{what} < {snr_fail_below_db:g} dB (sanity floor)")
            elif snr < snr_warn_below_db:
                warns.append(f"{what} < {snr_warn_below_db:g} dB: large drift from the float model")
        if o.get("reference_constant"):
            continue  # the float model itself gives one value: nothing to compare a collapse with
        if o.get("all_zero"):
            fails.append(f"output {name!r} is all zeros while the float model's is not")
        elif o.get("constant"):
            fails.append(f"output {name!r} is the same for every input while the float model's varies")
        cos = o.get("cosine")
        if isinstance(cos, (int, float)) and not o.get("all_zero") and not o.get("constant"):
            if cos < fail_below:
                fails.append(f"output {name!r} cosine {cos:.4f} < {fail_below} (sanity floor)")
            elif cos < warn_below:
                warns.append(f"output {name!r} cosine {cos:.4f} < {warn_below}: large drift from the float model")
    if fails:
        return "fail", fails
    return ("warn", warns) if warns else ("ok", [])


def sample_warnings(evaluation: int, calibration: int | None) -> list[str]:
    """The warnings that say a drift figure rests on too few samples."""
    out = []
    if calibration is not None and calibration < MIN_CALIBRATION_SAMPLES:
        out.append(
            f"calibrated on only {calibration} samples (< {MIN_CALIBRATION_SAMPLES}): quantization ranges may not "
            "cover real inputs; give more calibration data"
        )
    if evaluation < MIN_EVALUATION_SAMPLES:
        out.append(
            f"drift measured on only {evaluation} held-out samples (< {MIN_EVALUATION_SAMPLES}): the figures are rough; "
            "give more evaluation data (--eval-count, --evaluation)"
        )
    return out


def check_thresholds(drift: dict, thresholds: dict) -> list[str]:
    """Human-readable misses, e.g. "cosine 0.91 < min_cosine 0.99"; empty when all pass.

    A threshold on a metric the artifact does not have (top-1 for a regression model, accuracy
    without labels) is itself a miss: a gate that silently does not apply is not a gate. An SNR
    recorded as null because the outputs match exactly passes any ``min_snr_db``.
    """
    misses = []
    for name, limit in thresholds.items():
        if name not in THRESHOLDS:
            raise EdgekitError(f"unknown threshold {name!r}", f"choose from: {', '.join(THRESHOLDS)}")
        metric, direction = THRESHOLDS[name]
        value = drift.get(metric)
        if value is None and metric == "snr_db" and drift.get("snr_exact"):
            continue
        if value is None:
            if drift.get("note") and metric in ("cosine", "max_abs_error", "snr_db"):
                misses.append(f"{metric} is not a number ({drift['note']})")
            else:
                misses.append(f"{name} set but {metric} is not available (no labels or not this kind of output)")
            continue
        if value != value:  # NaN (older manifests)
            misses.append(f"{metric} is NaN")
        elif direction == "min" and value < float(limit):
            misses.append(f"{metric} {value:.4g} < {name} {limit}")
        elif direction == "max" and value > float(limit):
            misses.append(f"{metric} {value:.4g} > {name} {limit}")
    return misses


def strict_json(obj: Any, path: str = "$", notes: list | None = None) -> Any:
    """``obj`` with every NaN/Infinity float replaced by None (strict JSON readers reject them);
    each replacement is appended to ``notes`` as "PATH was VALUE"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        if notes is not None:
            notes.append(f"{path} was {obj}")
        return None
    if isinstance(obj, dict):
        return {k: strict_json(v, f"{path}.{k}", notes) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v, f"{path}[{i}]", notes) for i, v in enumerate(obj)]
    return obj
