"""``tflite-int8-mixed``: full int8, except the fewest layers that must stay float to meet the budget.

Full int8 can lose a model (a wide-range activation, a sensitive head) while every other layer
quantizes well. This target splits the calibration data (``edgekit.quant.repair.split_samples``),
calibrates once on one part (TF's QuantizationDebugger), measures the error each layer adds
(``edgekit.quant.tflite``), then searches (``edgekit.quant.repair.greedy_repair``) the smallest set
of layers to keep float that brings the *whole model* within the budget (the target's
``min_cosine`` / ``max_accuracy_drop`` thresholds, default ``min_cosine = 0.99``) plus
``SEARCH_MARGIN`` on the other part, which it was not calibrated on. The build then gates the
result on the held-out evaluation samples with the same thresholds, like every artifact, and that
score is the repair's recorded verdict, so a search that fit its own samples cannot ship a miss.

The manifest entry lists the kept layers by their Keras names, the search record, the size and
latency cost against plain int8 and fp32, and which kept layers would leave the Edge TPU's mapped
segment (a float op ends it: the rest runs on the CPU). When the budget cannot be met, the best
artifact found is still written and the build fails it on the thresholds with the best score
reached, its cost and the layers precision alone did not fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, capture_native_output
from edgekit.targets.mixed import SEARCH_OPTIONS, OnBaseTarget, missed_budget
from edgekit.targets.mixed import names as _names

BASE_TARGET = "tflite-int8"
# Ops that only move data in or out of int8 (keeping them float changes nothing).
NOT_CANDIDATES = {"QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


class TFLiteMixedTarget(OnBaseTarget):
    name = "tflite-int8-mixed"
    format = "tflite"
    suffix = ".tflite"
    source_frameworks = ("tf",)
    needs_calibration = True
    option_names = ("io_dtype", "static_shapes", *SEARCH_OPTIONS)
    base_target = BASE_TARGET

    def _base_ctx(self, ctx: BuildContext) -> BuildContext:
        from edgekit.quant.tflite import int8_context

        return int8_context(ctx, BASE_TARGET)

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        import keras

        from edgekit.build.artifacts import atomic_write_bytes
        from edgekit.quant import tflite as qt
        from edgekit.quant.budget import budget_for
        from edgekit.quant.metrics import rank_layers
        from edgekit.quant.repair import SEARCH_MARGIN, greedy_repair
        from edgekit.quant.report import summary
        from edgekit.targets.tflite import op_histogram
        from edgekit.targets.tflite_tf import import_tf

        tf = import_tf()
        budget = budget_for(ctx)
        step = ctx.progress.task(f"{self.name}: calibrate once, measure every layer", 2)
        # Calibrate on one part of the calibration data, score the search on the other part.
        st = qt.setup(ctx, self._int_option(ctx, "search_samples", 2) or qt.SAMPLES, hold_apart=True)
        calibrated, samples, io, quant, path_name = st.calibrated, st.samples, st.io_dtype, st.quantization, st.converter_path
        n_search = len(samples)
        step.advance()

        def gen():
            yield from samples

        layers = rank_layers(calibrated.layer_errors(gen))
        step.done()
        cal = ctx.calibration
        reference = [[np.asarray(o) for o in ctx.source.predict(x)] for x in samples]
        labels = getattr(cal, "labels", None)
        labels = None if labels is None else np.asarray(labels)[list(st.split.search)]
        int_io = io != "float32"

        def margin(model: bytes) -> tuple[float, dict]:
            return budget.margin(reference, qt.run_model(model, samples), labels)

        models: dict[tuple, bytes] = {}

        def model_for(kept: tuple[str, ...]) -> bytes:
            key = tuple(sorted(kept))
            if key not in models:
                models[key] = calibrated.model(kept, int_io=int_io)
            return models[key]

        candidates = [l["name"] for l in layers if l.get("op") not in NOT_CANDIDATES]
        search = ctx.progress.task(f"{self.name}: searching layers to keep float", None)
        result = greedy_repair(
            candidates,
            lambda kept: margin(model_for(kept))[0],
            0.0,
            margin=SEARCH_MARGIN,
            time_budget_s=budget.time_budget_s,
            max_kept=self._int_option(ctx, "max_kept", 1),
            progress=lambda m: search.update(description=f"{self.name}: {m}"),
        )
        search.done()
        mixed = model_for(result.kept)
        atomic_write_bytes(out_path, mixed)  # a killed build never leaves a half-written artifact
        by_name = {l["name"]: l for l in layers}
        kept_named = [by_name[k].get("source_name", k) for k in result.kept]
        plain = model_for(())
        fp32 = _fp32_model(tf, conv_factory=st.fp32_converter)
        cost = {
            "size_bytes": {"int8": len(plain), "mixed": len(mixed), "fp32": len(fp32) if fp32 else None},
            "p50_ms_in_process": {
                "int8": qt.median_latency_ms(plain, samples[0]),
                "mixed": qt.median_latency_ms(mixed, samples[0]),
                "fp32": qt.median_latency_ms(fp32, samples[0]) if fp32 else None,
            },
        }
        search_score = margin(mixed)[1]
        repair = {
            **result.summary(),
            "metric": f"margin to the budget (>= 0 meets it) on {n_search} calibration samples held apart from the "
            f"{len(st.split.calibrate)} calibrated on; held_out: the written model on the evaluation samples",
            "budget": budget.as_dict(),
            "search_samples": n_search,
            "split": st.split.describe(),
            "kept_layers": [
                {"tensor": k, "layer": by_name[k].get("source_name", k), "op": by_name[k].get("op", "")} for k in result.kept
            ],
            "unhelpful_layers": [by_name[k].get("source_name", k) for k in result.unhelpful],
            "search_cosine": search_score.get("cosine"),
            "cost": cost,
            "edgetpu": _edgetpu_note(mixed, plain, [by_name[k] for k in result.kept]),
        }
        warnings = []
        if not result.met:
            best = search_score.get("cosine", float("nan"))
            ceiling = (
                f"the int8 input/output ({io}) limits it; set io_dtype = float32 or relax the budget"
                if int_io
                else "the loss is not in layer precision; check the calibration data or relax the budget"
            )
            warnings.append(missed_budget(result, best, kept_named, repair["unhelpful_layers"], budget.min_cosine, ceiling))
        elif result.kept:
            warnings.append(f"kept in float: {_names(kept_named)} (mixed model: not for integer-only accelerators)")
        quant = {
            **quant,
            "mode": "int8-mixed",
            "kept_float": kept_named,
            "weights": "int8 per-channel; float in the kept layers",
            "activations": "int8; float in the kept layers",
        }
        return BuildOutput(
            quantization=quant,
            tool_versions={"tensorflow": tf.__version__, "keras": keras.__version__},
            warnings=warnings,
            extra={
                "converter_path": path_name,
                "repair": repair,
                "default_thresholds": budget.thresholds(),
                "quant_report": summary(layers),
                "ops": op_histogram(mixed),
            },
        )


def _fp32_model(tf: Any, conv_factory) -> bytes | None:
    """The fp32 conversion, for the cost line only; None if it fails (never fails the target)."""
    try:
        conv = conv_factory()
        with capture_native_output():
            return conv.convert()
    except Exception:
        return None


def _edgetpu_note(model: bytes, plain: bytes, kept: list) -> dict:
    """Which kept-float layers leave the Edge TPU's mapped segment, against plain int8's mapping
    (a float op ends the segment: everything after it runs on the CPU)."""
    from edgekit.edgetpu import preflight
    from edgekit.inspect.tflite_model import parse_bytes

    if not kept:
        return {"kept_layers_on_cpu": [], "note": "nothing kept in float: the same mapping as tflite-int8"}
    try:
        mixed_pf, plain_pf = preflight.predict(parse_bytes(model)), preflight.predict(parse_bytes(plain))
    except Exception as exc:  # the note is advice; it never fails the build
        return {"note": f"Edge TPU preflight could not run: {type(exc).__name__}"}
    names = [k.get("source_name", k["name"]) for k in kept]
    out = {
        "tpu_ops": {"int8": plain_pf.tpu_ops, "mixed": mixed_pf.tpu_ops},
        "cpu_ops": {"int8": plain_pf.cpu_ops, "mixed": mixed_pf.cpu_ops},
        "kept_layers_on_cpu": names,
    }
    if plain_pf.tpu_ops == 0:
        first = plain_pf.first_blocking
        out["note"] = (
            "plain int8 does not map to the Edge TPU either"
            + (f" ({first.name}: {first.reason})" if first else "")
            + "; fix that first"
        )
    else:
        lost = plain_pf.tpu_ops - mixed_pf.tpu_ops
        first = mixed_pf.first_blocking
        out["note"] = f"keeping {', '.join(names)} float moves {lost} op(s) off the Edge TPU" + (
            f"; the mapped segment ends at op {first.index} ({first.name})" if first else ""
        )
    return out


TARGETS.register("tflite-int8-mixed", TFLiteMixedTarget())
