"""Per-layer quantization error: how far a quantized layer's output is from the float layer's.

A layer's *carried* error is the error of its output against the float model's output at the same
place; part of it arrives from the layers before. What a user can act on is the error a layer
*adds*: its relative noise power (noise / signal) minus the largest among its inputs, expressed as an
SNR (``added_db``: signal power over the added noise; lower is worse, the same scale as a local
measure's SNR). Layers are ranked by that, so one bad early layer does not make every later layer
look bad.
"""

from __future__ import annotations

from typing import Iterable, Sequence, TypedDict

import numpy as np


class LayerError(TypedDict, total=False):
    name: str  # the backend's tensor/node name
    source_name: str  # the name the user knows: Keras layer name or PyTorch module path
    op: str  # op type (CONV_2D, aten.linear, ...)
    depth: int  # position in topological order, for plots by depth
    inputs: list[str]  # names of the layers feeding this one (for the added error)
    measure: str  # "carried" (against the float model at this point) or "local" (this op alone on
    #              the same dequantized inputs, as TFLite's NumericVerify measures it)
    channel_snr_db: float  # mean per-channel SNR (last axis): finds one wide channel crushing the rest
    snr_db: float  # 10*log10(signal power / error power); higher is better
    cosine: float
    max_abs: float
    rel_error: float  # ||q - f|| / ||f||
    added_db: float  # SNR of the noise this layer adds (signal over added noise power); lower is worse


#: SNR reported for an exact match (an infinite SNR is not valid JSON).
EXACT_SNR_DB = 200.0


def snr_db(signal_power: float, noise_power: float) -> float:
    """SNR in dB from accumulated powers, clipped to +-EXACT_SNR_DB (no noise: exact; no signal: worst)."""
    if noise_power <= 0.0:
        return EXACT_SNR_DB
    if signal_power <= 0.0:
        return -EXACT_SNR_DB
    return float(np.clip(10.0 * np.log10(signal_power / noise_power), -EXACT_SNR_DB, EXACT_SNR_DB))


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """SNR (dB), cosine, max abs and relative error of ``candidate`` against ``reference``.

    Computed in float64 over all elements. A zero reference with a zero candidate is an exact match;
    a constant-zero candidate against a non-zero reference has cosine 0 (not NaN).
    """
    f = np.asarray(reference, dtype=np.float64).ravel()
    q = np.asarray(candidate, dtype=np.float64).ravel()
    if f.shape != q.shape:
        raise ValueError(f"shapes differ: {f.shape} vs {q.shape}")
    err = q - f
    sig = float(np.dot(f, f))
    noise = float(np.dot(err, err))
    if noise == 0.0:
        snr = EXACT_SNR_DB
    elif sig == 0.0:
        snr = -EXACT_SNR_DB
    else:
        snr = float(min(EXACT_SNR_DB, max(-EXACT_SNR_DB, 10.0 * np.log10(sig / noise))))
    nf, nq = float(np.sqrt(sig)), float(np.linalg.norm(q))
    if nf == 0.0 and nq == 0.0:
        cos = 1.0
    elif nf == 0.0 or nq == 0.0:
        cos = 0.0
    else:
        cos = float(np.dot(f, q) / (nf * nq))
    return {
        "snr_db": snr,
        "cosine": cos,
        "max_abs": float(np.max(np.abs(err))) if err.size else 0.0,
        "rel_error": float(np.sqrt(noise) / nf) if nf > 0 else (0.0 if noise == 0.0 else float("inf")),
    }


def compare_batches(references: Sequence[np.ndarray], candidates: Sequence[np.ndarray]) -> dict[str, float]:
    """:func:`compare` over several samples at once (concatenated), so one sample cannot dominate."""
    if len(references) != len(candidates) or not references:
        raise ValueError("need the same, non-zero number of reference and candidate samples")
    return compare(
        np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in references]),
        np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in candidates]),
    )


def _relative_noise(snr_db: float) -> float:
    return 10.0 ** (-float(snr_db) / 10.0)


def with_added_error(layers: Iterable[LayerError]) -> list[LayerError]:
    """Fill ``added_db`` for each layer from its inputs' error (layers without an ``inputs`` key:
    the previous layer in depth order; an empty list: model inputs, exact). Depth order."""
    ordered = sorted(layers, key=lambda l: l.get("depth", 0))
    by_name = {l["name"]: l for l in ordered}
    prev: LayerError | None = None
    for layer in ordered:
        if "inputs" in layer:
            feeders = [by_name[i] for i in layer["inputs"] if i in by_name]
        else:
            feeders = [prev] if prev is not None else []
        incoming = max((_relative_noise(f["snr_db"]) for f in feeders), default=0.0)
        added = _relative_noise(layer["snr_db"]) - incoming
        layer["added_db"] = EXACT_SNR_DB if added <= 0 else float(min(EXACT_SNR_DB, -10.0 * np.log10(added)))
        prev = layer
    return ordered


def worst_snr(layer: LayerError) -> float:
    """The lower of the whole-tensor and the per-channel SNR (per-channel when it was measured)."""
    return min(float(layer["snr_db"]), float(layer.get("channel_snr_db", layer["snr_db"])))


def rank_layers(layers: Iterable[LayerError]) -> list[LayerError]:
    """Layers worst first.

    Carried measures rank by the SNR of the noise a layer adds (``added_db``), then by the SNR it
    carries; local measures already are the error a layer adds, so they rank by their worst SNR
    (whole tensor or per channel) directly. Lower is worse in both.
    """
    layers = list(layers)
    local = [l for l in layers if l.get("measure") == "local"]
    carried = with_added_error([l for l in layers if l.get("measure") != "local"])
    return sorted(carried, key=lambda l: (l["added_db"], l["snr_db"])) + sorted(local, key=worst_snr)
