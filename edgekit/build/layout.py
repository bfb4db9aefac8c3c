"""Input layouts of artifacts that do not take their source's layout (NCHW ONNX -> NHWC TFLite).

A converter such as onnx2tf transposes channels-first inputs to channels-last: the ``.tflite`` of
an NCHW ONNX model takes NHWC. The build's data (calibration, evaluation) stays in the SOURCE's
layout, because that is what the float reference takes; the layout each artifact input wants is
stated in the manifest entry (``extra.input_layout`` and ``layout``/``transposed_from`` on each
input tensor), and every place that feeds source-layout samples to an artifact goes through
``to_artifact`` with that record. One record per input, aligned with the source's inputs:
``{"name", "layout", "transposed_from", "perm"}`` or None for an input fed as is.

Standard library + numpy (when arrays are transposed) only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHANNELS_FIRST = {3: "NCW", 4: "NCHW", 5: "NCDHW"}
CHANNELS_LAST = {3: "NWC", 4: "NHWC", 5: "NDHWC"}


def channels_last_perm(rank: int) -> list[int]:
    """NCW->NWC, NCHW->NHWC, NCDHW->NDHWC: the axis order of the transposed tensor."""
    return [0, *range(2, rank), 1]


def derive(
    source_shapes: Sequence[Sequence[int]],
    artifact_shapes: Sequence[Sequence[int]],
    names: Sequence[str],
    assume_channels_last: bool = True,
) -> list[dict | None]:
    """Per source input: the layout record when the artifact's shape is the channels-last
    transposition of the source's, None when it is the same shape.

    A shape that both matches and transposes to itself (1x3x3x3) is ambiguous from shapes alone:
    ``assume_channels_last`` says what the converter does (onnx2tf transposes every 3-D..5-D input).
    """
    out: list[dict | None] = []
    for name, src, art in zip(names, source_shapes, artifact_shapes):
        src, art = list(src), list(art)
        rank = len(src)
        perm = channels_last_perm(rank) if rank in CHANNELS_FIRST else None
        transposed = [src[p] for p in perm] if perm else None
        if perm and art == transposed and (art != src or assume_channels_last):
            out.append({"name": name, "layout": CHANNELS_LAST[rank], "transposed_from": CHANNELS_FIRST[rank], "perm": perm})
        elif art == src:
            out.append(None)
        else:
            from edgekit.errors import EdgekitError

            raise EdgekitError(
                f"the artifact's input {name!r} has shape {art}, which is neither the source's {src} nor its channels-last form",
                "the converter changed the input in a way edgekit cannot feed; check --input-shape",
            )
    return out


def to_artifact(arrays: Sequence[Any], layouts: Sequence[dict | None] | None) -> list:
    """Source-layout arrays (samples on axis 0, same rank as the input) -> what the artifact takes."""
    if not layouts:
        return list(arrays)
    import numpy as np

    out = []
    for i, a in enumerate(arrays):
        rec = layouts[i] if i < len(layouts) else None
        out.append(np.ascontiguousarray(np.transpose(a, rec["perm"])) if rec else a)
    return out


def annotate(tensors: list[dict], layouts: Sequence[dict | None] | None, source_names: Sequence[str]) -> list[dict]:
    """Artifact input TensorSpec dicts with ``layout``/``transposed_from`` added where transposed.

    Matched to the source inputs by name where they match, else by position (converters rename).
    """
    if not layouts or not any(layouts):
        return tensors
    by_name = {r["name"]: r for r in layouts if r}
    out = []
    for i, t in enumerate(tensors):
        rec = by_name.get(t.get("name", "")) or (layouts[i] if i < len(layouts) and len(tensors) == len(source_names) else None)
        out.append({**t, "layout": rec["layout"], "transposed_from": rec["transposed_from"]} if rec else t)
    return out


def describe(layouts: Sequence[dict | None] | None) -> str:
    """``x: NHWC (transposed from NCHW)`` for a console line, or empty."""
    return ", ".join(f"{r['name']}: {r['layout']} (transposed from {r['transposed_from']})" for r in (layouts or []) if r)
