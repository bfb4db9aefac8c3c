"""The per-layer quantization report: what the manifest keeps, and how a terminal shows it.

``summary`` is the manifest's record (``extra.quant_report`` of an entry): the measure, the worst
layers with every metric, and each layer's worst SNR by depth (the HTML report's plot). ``print_layers``
is the table ``edgekit build --explain`` and ``edgekit quant-report`` print.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgekit.quant.metrics import LayerError, worst_snr

FIELDS = (
    "name",
    "source_name",
    "op",
    "depth",
    "measure",
    "snr_db",
    "channel_snr_db",
    "cosine",
    "max_abs",
    "rel_error",
    "added_db",
)


def summary(ranked: Sequence[LayerError], top: int = 10) -> dict:
    """The manifest's record of a ranked per-layer report (JSON-ready)."""
    by_depth = sorted(ranked, key=lambda l: l.get("depth", 0))
    return {
        "measure": ranked[0].get("measure", "carried") if ranked else None,
        "layers": len(ranked),
        "worst": [{k: l[k] for k in FIELDS if k in l} for l in list(ranked)[:top]],
        "by_depth": [
            [int(l.get("depth", i)), round(worst_snr(l), 2), str(l.get("source_name") or l["name"])]
            for i, l in enumerate(by_depth)
        ],
    }


def print_layers(out: Any, target: str, report: dict, top: int = 10) -> None:
    """A table of the worst layers (names escaped: they come from the model)."""
    from rich.markup import escape
    from rich.table import Table

    measure = report.get("measure") or "carried"
    what = (
        "error each layer adds (its op alone, on the same inputs)"
        if measure == "local"
        else "error against the float model at each layer"
    )
    table = Table(title=f"{escape(target)}: worst layers of {report.get('layers', '?')} ({what})")
    for col in ("#", "layer", "op", "depth", "SNR dB", "per-channel SNR dB", "cosine", "max abs err"):
        table.add_column(col, justify="left" if col in ("layer", "op") else "right")
    for i, layer in enumerate(report.get("worst", [])[:top], 1):

        def num(key: str, fmt: str) -> str:
            v = layer.get(key)
            return "-" if v is None else format(v, fmt)

        table.add_row(
            str(i),
            escape(str(layer.get("source_name") or layer.get("name"))),
            escape(str(layer.get("op", ""))),
            str(layer.get("depth", "")),
            num("snr_db", ".1f"),
            num("channel_snr_db", ".1f"),
            num("cosine", ".4f"),
            num("max_abs", ".4g"),
        )
    out.print(table)


def for_artifact(path: str) -> dict:
    """What the build recorded about ``path``'s quantization: its per-layer report and, for a
    ``*-mixed`` artifact, the repair (kept layers, budget, cost). One edgekit line when there is none."""
    from edgekit.build.artifacts import find_manifest_entry
    from edgekit.errors import EdgekitError, require_model_file

    require_model_file(path)
    entry = find_manifest_entry(path)
    if entry is None:
        raise EdgekitError(
            f"{path} has no edgekit build manifest beside it",
            "quant-report reads what 'edgekit build --explain' records; build the model with edgekit",
        )
    extra = entry.extra or {}
    if not extra.get("quant_report") and not extra.get("repair"):
        raise EdgekitError(
            f"no per-layer quantization report recorded for {entry.target}",
            "rebuild with 'edgekit build ... --explain' (quantized targets only)",
        )
    return {
        "artifact": path,
        "target": entry.target,
        "status": entry.status,
        "quantization": entry.quantization,
        "accuracy": {k: (entry.accuracy or {}).get(k) for k in ("cosine", "snr_db", "accuracy_drop", "samples")},
        "quant_report": extra.get("quant_report"),
        "repair": extra.get("repair"),
    }


def print_artifact(out: Any, doc: dict, top: int = 10) -> None:
    """``edgekit quant-report``'s terminal view: the worst layers, then what the repair kept and cost."""
    if doc.get("quant_report"):
        print_layers(out, doc["target"], doc["quant_report"], top=top)
    repair = doc.get("repair")
    if not repair:
        return
    kept = [
        k.get("layer", k.get("tensor")) if isinstance(k, dict) else str(k)  # .pte: module paths
        for k in repair.get("kept_layers", [])
    ]
    budget = repair.get("budget") or {}
    verdict = "met" if repair.get("met") else "MISSED"
    out.print(
        f"budget {verdict}: min_cosine {budget.get('min_cosine')}"
        + (f", max_accuracy_drop {budget['max_accuracy_drop']}" if budget.get("max_accuracy_drop") is not None else "")
        + f"; {repair.get('evaluations')} whole-model evaluations",
        markup=False,
        highlight=False,
    )
    held = repair.get("held_out") or {}
    if held:
        out.print(
            f"scored on {repair.get('search_samples')} samples held apart from calibration "
            f"({'met' if repair.get('search_met') else 'missed'} there); held out: cosine "
            + ("-" if held.get("cosine") is None else f"{held['cosine']:.4f}")
            + f" on {held.get('samples')} samples ({'met' if held.get('met') else 'MISSED'})",
            markup=False,
            highlight=False,
        )
    out.print(f"kept in float: {', '.join(kept) or 'nothing'}", markup=False, highlight=False)
    cost = repair.get("cost") or {}
    size, p50 = cost.get("size_bytes") or {}, cost.get("p50_ms_in_process") or {}

    def cell(d: dict, k: str, fmt: str) -> str:
        return "-" if d.get(k) is None else format(d[k], fmt)

    out.print(
        "cost: " + "; ".join(f"{k} {cell(size, k, ',')} B, p50 {cell(p50, k, '.3f')} ms" for k in ("int8", "mixed", "fp32")),
        markup=False,
        highlight=False,
    )
    if repair.get("unhelpful_layers"):
        out.print(f"precision alone did not help: {', '.join(repair['unhelpful_layers'])}", markup=False, highlight=False)
    edgetpu = repair.get("edgetpu") or {}
    if edgetpu.get("note"):
        out.print(f"Edge TPU: {edgetpu['note']}", markup=False, highlight=False)
