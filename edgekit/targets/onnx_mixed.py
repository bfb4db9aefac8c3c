"""``onnx-int8-mixed``: static int8 QDQ ONNX, except the fewest layers that must stay float.

Mirrors ``tflite-int8-mixed`` for ONNX Runtime: the per-layer report (``edgekit.quant.onnx``,
onnxruntime's QDQ debugger) ranks the layers, and the shared ``greedy_repair`` searches the smallest
set to keep float that brings the whole model within the budget (``min_cosine`` /
``max_accuracy_drop``, default ``min_cosine = 0.99``) plus ``SEARCH_MARGIN``, scored on calibration
samples held apart from the ones it is calibrated on (``edgekit.quant.repair.split_samples``, as for
TFLite and PT2E: scoring the calibrated samples is optimistic, issue 19). A layer kept float is
``quantize_static(..., nodes_to_exclude=[its nodes])``: no QDQ around them, so they run as float
ops. Each evaluation quantizes again (MinMax calibration: about a second for the RapidOCR
classifier on 32 samples; ``time_budget_s`` bounds the search). The orchestrator then checks the
artifact on the held-out samples with the budget as its default threshold, as for every target,
and records that score as the repair's verdict (``extra.repair.held_out``, ``met``).
The manifest entry records ``extra.repair`` and ``extra.quant_report`` in the TFLite target's shape.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput
from edgekit.targets.mixed import SEARCH_OPTIONS, OnBaseTarget, missed_budget
from edgekit.targets.mixed import names as _names

BASE_TARGET = "onnx-int8"


def run_model(path: str, feeds: list[dict]) -> list[list[np.ndarray]]:
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [[np.asarray(o) for o in sess.run(None, f)] for f in feeds]


def median_latency_ms(path: str, feed: dict, runs: int = 30) -> float:
    """A quick in-process p50 for the manifest's cost line (``edgekit bench`` gives real numbers)."""
    import time

    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


class OnnxMixedTarget(OnBaseTarget):
    name = "onnx-int8-mixed"
    format = "onnx"
    suffix = ".onnx"
    source_frameworks = ("torch", "onnx")
    needs_calibration = True
    needs_export = True
    option_names = ("opset", "per_channel", *SEARCH_OPTIONS)
    base_target = BASE_TARGET

    def _base_ctx(self, ctx: BuildContext) -> BuildContext:
        import dataclasses

        base = self._base()
        return dataclasses.replace(
            ctx, target=BASE_TARGET, options={k: v for k, v in ctx.options.items() if k in base.option_names}
        )

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        from edgekit.build.artifacts import atomic_write_bytes
        from edgekit.quant import onnx as qo
        from edgekit.quant.budget import budget_for
        from edgekit.quant.metrics import rank_layers
        from edgekit.quant.repair import SEARCH_MARGIN, greedy_repair, split_samples
        from edgekit.quant.report import summary
        from edgekit.targets.onnx import preprocessed_float, quantize_static_file, tool_versions

        import dataclasses

        budget = budget_for(ctx)
        # Calibrate (and measure) on one part of the calibration data, score the search on the other.
        split = split_samples(
            len(ctx.calibration), max_search=self._int_option(ctx, "search_samples", 2) or qo.REPORT_SAMPLES * 2
        )
        bctx = dataclasses.replace(self._base_ctx(ctx), calibration=ctx.calibration.subset(split.calibrate))
        sctx = dataclasses.replace(bctx, calibration=ctx.calibration.subset(split.search))
        with tempfile.TemporaryDirectory(prefix="edgekit-onnxmixed-") as tmp:
            step = ctx.progress.task(f"{self.name}: quantize once, measure every layer", 2)
            pre_path, info = preprocessed_float(bctx, tmp)
            plain_path = os.path.join(tmp, "int8.onnx")
            quant = quantize_static_file(pre_path, plain_path, bctx, self.name)
            step.advance()
            units: dict[str, list[str]] = {}
            layers = rank_layers(qo.measure(bctx, pre_path, plain_path, tmp, self.name, units))
            step.done()
            feeds = qo.feeds_of(sctx, pre_path, len(split.search))
            reference = run_model(pre_path, feeds)
            labels = getattr(sctx.calibration, "labels", None)
            labels = None if labels is None else np.asarray(labels)
            paths: dict[tuple, str] = {(): plain_path}

            def path_for(kept: tuple[str, ...]) -> str:
                key = tuple(sorted(kept))
                if key not in paths:
                    p = os.path.join(tmp, f"mixed-{len(paths)}.onnx")
                    exclude = sorted({n for k in key for n in units.get(k, [])})
                    quantize_static_file(pre_path, p, bctx, self.name, nodes_to_exclude=exclude)
                    paths[key] = p
                return paths[key]

            def margin(path: str) -> tuple[float, dict]:
                return budget.margin(reference, run_model(path, feeds), labels)

            candidates = [layer["name"] for layer in layers if units.get(layer["name"])]  # graph inputs: not a layer
            search = ctx.progress.task(f"{self.name}: searching layers to keep float", None)
            result = greedy_repair(
                candidates,
                lambda kept: margin(path_for(kept))[0],
                0.0,
                margin=SEARCH_MARGIN,
                time_budget_s=budget.time_budget_s,
                max_kept=self._int_option(ctx, "max_kept", 1),
                progress=lambda m: search.update(description=f"{self.name}: {m}"),
            )
            search.done()
            mixed_path = path_for(result.kept)
            with open(mixed_path, "rb") as f:
                atomic_write_bytes(out_path, f.read())
            by_name = {layer["name"]: layer for layer in layers}
            kept_named = [by_name[k].get("source_name", k) for k in result.kept]
            cost = {
                "size_bytes": {
                    p: os.path.getsize(x) for p, x in (("int8", plain_path), ("mixed", mixed_path), ("fp32", pre_path))
                },
                "p50_ms_in_process": {
                    p: median_latency_ms(x, feeds[0])
                    for p, x in (("int8", plain_path), ("mixed", mixed_path), ("fp32", pre_path))
                },
            }
            search_score = margin(mixed_path)[1]
        repair = {
            **result.summary(),
            "metric": f"margin to the budget (>= 0 meets it) on {len(feeds)} calibration samples held apart from the "
            f"{len(split.calibrate)} calibrated on; held_out: the written model on the evaluation samples",
            "budget": budget.as_dict(),
            "search_samples": len(feeds),
            "split": split.describe(),
            "kept_layers": [
                {
                    "tensor": k,
                    "layer": by_name[k].get("source_name", k),
                    "op": by_name[k].get("op", ""),
                    "nodes": units.get(k, []),
                }
                for k in result.kept
            ],
            "unhelpful_layers": [by_name[k].get("source_name", k) for k in result.unhelpful],
            "search_cosine": search_score.get("cosine"),
            "cost": cost,
        }
        warnings = []
        if not result.met:
            best = search_score.get("cosine", float("nan"))
            ceiling = "the loss is not in layer precision; check the calibration data or relax the budget"
            warnings.append(missed_budget(result, best, kept_named, repair["unhelpful_layers"], budget.min_cosine, ceiling))
        elif result.kept:
            warnings.append(f"kept in float: {_names(kept_named)} (mixed model: float ops run on the CPU EP)")
        quant = {
            **quant,
            "mode": "int8-mixed",
            "kept_float": kept_named,
            "weights": "int8 per-channel; float in the kept layers",
            "activations": "int8; float in the kept layers",
            "tool": "onnxruntime.quantize_static (MinMax, nodes_to_exclude)",
        }
        return BuildOutput(
            quantization=quant,
            tool_versions=tool_versions(),
            warnings=warnings,
            extra={
                **info,
                "pre_process": "onnxruntime.quantization.quant_pre_process",
                "repair": repair,
                "default_thresholds": budget.thresholds(),
                "quant_report": summary(layers),
            },
        )


TARGETS.register(OnnxMixedTarget.name, OnnxMixedTarget())
