"""ExecuTorch .pte targets: portable kernels, XNNPACK fp32, XNNPACK int8 (static and dynamic), Core ML.

All start from one ExportedProgram per source (edgekit.torchkit.export), quantize with PT2E where
asked (edgekit.torchkit.pt2e, the one place that import path lives), lower with the backend's
partitioner and record delegation coverage in the manifest entry's ``extra["delegation"]``, with a
warning when a compute op fell back to portable kernels (measured: 3.0 ms delegated vs 824 ms
portable for a small CNN). ``etrecord = true`` writes ``<artifact>.etrecord`` beside the .pte for
per-op profiles (``edgekit profile``-style use through edgekit.torchkit.profile).

Core ML lowers on Linux (coremltools 9) but runs only on Apple hardware, so its entry says "not
run here" instead of pretending a check happened.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgekit.targets import TARGETS
from edgekit.targets.mixed import SEARCH_OPTIONS, check_search, int_option, search_key
from edgekit.targets.base import (
    BuildContext,
    BuildOutput,
    Target,
    capture_native_output,
)


def tool_versions(*names: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in ("torch", "executorch", *names):
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


class ExecuTorchTarget(Target):
    format = "pte"
    suffix = ".pte"
    source_frameworks = ("torch",)
    option_names = ("etrecord",)
    needs_export = True
    backend: str | None = None  # partitioner backend id; None = portable kernels only
    quantize: str | None = None  # None, "static" or "dynamic"
    runs_here = True
    extra_tools: tuple[str, ...] = ()

    def __init__(
        self, name: str, backend: str | None, quantize: str | None = None, extra_tools: tuple = (), runs_here: bool = True
    ):
        self.name = name
        self.backend = backend
        self.quantize = quantize
        self.needs_calibration = quantize == "static"
        self.dynamic_quant = quantize == "dynamic"
        self.extra_tools = extra_tools
        self.runs_here = runs_here
        if quantize:
            self.option_names = ("etrecord", "per_channel")

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        # Export once per source, before anything is built: a model torch.export cannot trace is one
        # line for the whole build, with a hint that fits the targets requested.
        from edgekit.torchkit.export import exported

        with capture_native_output():
            exported(ctx.source, getattr(ctx.spec, "targets", None))

    def cache_settings(self, ctx: BuildContext) -> dict:
        return {
            "options": dict(ctx.options),
            "backend": self.backend,
            "quantize": self.quantize,
            "tools": tool_versions("torchao", *self.extra_tools),
        }

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        from edgekit.build.artifacts import atomic_write_bytes
        from edgekit.torchkit import delegation, pt2e
        from edgekit.torchkit.export import as_tensors, example_inputs, fresh_program
        from edgekit.torchkit.lower import lower

        with capture_native_output():  # a private copy: calibration must not touch the shared program
            ep = fresh_program(ctx.source, getattr(ctx.spec, "targets", None))
        example = example_inputs(ctx.source)
        quant: dict = {"scheme": "none", "dtype": "float32"}
        if self.quantize:
            per_channel = bool(ctx.options.get("per_channel", True))
            dynamic = self.quantize == "dynamic"
            if dynamic:
                batches = [example]  # dynamic activations: ranges are computed per call, not calibrated
            else:
                cal = ctx.calibration
                dtypes = [t.dtype for t in example]
                batches = (tuple(t.to(d) for t, d in zip(as_tensors(cal.sample(i)), dtypes)) for i in range(len(cal)))
            task = ctx.progress.task(f"calibration: {self.name}", 1 if dynamic else len(ctx.calibration))
            ep, seen = pt2e.quantize(ep, example, batches, per_channel=per_channel, dynamic=dynamic, on_sample=task.advance)
            quant = {**pt2e.quantization_scheme(per_channel, dynamic), "calibration_samples": seen if not dynamic else 0}
        etrecord = None
        if ctx.options.get("etrecord"):
            etrecord = os.path.join(ctx.outdir, self.file_name(ctx) + ".etrecord")
        etrecord_tmp = etrecord + ".tmp" if etrecord else None
        with capture_native_output():
            lowered = lower(ep, self.backend, etrecord_path=etrecord_tmp, quantized_kernels=bool(self.quantize))
        atomic_write_bytes(out_path, lowered.buffer)
        extra: dict[str, Any] = {
            "delegation": lowered.delegation,
            "delegation_summary": delegation.summary_line(lowered.delegation),
        }
        if etrecord_tmp:
            os.replace(etrecord_tmp, etrecord)
            extra["etrecord"] = os.path.basename(etrecord)
        if not self.runs_here:
            extra["not_run"] = (
                f"{self.backend} programs run only on Apple hardware (macOS/iOS); built and inspected here, not invoked"
            )
        return BuildOutput(
            quantization=quant,
            tool_versions=tool_versions("torchao", *self.extra_tools),
            warnings=list(lowered.warnings),
            extra=extra,
        )


class ExecuTorchMixedTarget(ExecuTorchTarget):
    """``executorch-xnnpack-int8-mixed``: static int8, except the fewest PyTorch modules that must
    stay float to meet the accuracy budget (default ``min_cosine = 0.99`` against float).

    Splits the calibration data (``edgekit.quant.repair.split_samples``), calibrates once on one
    part (``edgekit.quant.pt2e.Simulation``), measures every module's error and searches
    (``edgekit.quant.repair.greedy_repair``) the modules to keep float scoring the *whole* model in
    the eager PT2E simulation on the other part, to the budget plus ``SEARCH_MARGIN``; then lowers
    the chosen configuration. The orchestrator checks the lowered .pte on the held-out samples like
    every artifact, with the budget as the target's default threshold, and records that score as
    the repair's verdict, so a search that fit its own samples cannot ship a miss or report one as
    met. The entry records the kept modules, the search, and the size and (in-process, indicative)
    latency against plain int8 and fp32; a missed budget says the best score, its cost and the
    modules precision alone did not fix.
    """

    def __init__(self) -> None:
        super().__init__("executorch-xnnpack-int8-mixed", "XnnpackBackend", quantize="static")
        self.option_names = ("etrecord", "per_channel", *SEARCH_OPTIONS)

    def cache_settings(self, ctx: BuildContext) -> dict:
        return {**super().cache_settings(ctx), **search_key(ctx, with_options=False)}

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        check_search(ctx, self.name)

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        from edgekit.build.artifacts import atomic_write_bytes
        from edgekit.quant import pt2e as qp
        from edgekit.quant.budget import budget_for
        from edgekit.quant.metrics import rank_layers
        from edgekit.quant.repair import SEARCH_MARGIN, greedy_repair, split_samples
        from edgekit.quant.report import summary as report_summary
        from edgekit.torchkit import delegation
        from edgekit.torchkit.export import example_inputs, fresh_program
        from edgekit.torchkit.lower import lower
        from edgekit.torchkit.pt2e import export_converted
        from edgekit.torchkit.state import buffer_snapshot

        budget = budget_for(ctx)
        with capture_native_output():  # a private copy: calibration must not touch the shared program
            ep = fresh_program(ctx.source, getattr(ctx.spec, "targets", None))
        fresh_buffers = buffer_snapshot(ep.module())
        example = example_inputs(ctx.source)
        per_channel = bool(ctx.options.get("per_channel", True))
        data = qp.batches_of(ctx.calibration, example)
        # Calibrate on one part, score the search on the other (never on a calibrated sample).
        split = split_samples(len(data), max_search=int_option(ctx, self.name, "search_samples", 2) or qp.SEARCH_SAMPLES)
        cal, search = [data[i] for i in split.calibrate], [data[i] for i in split.search]
        task = ctx.progress.task(f"calibration: {self.name}", len(cal))
        sim = qp.Simulation(ep, cal, per_channel=per_channel, on_sample=task.advance)
        n_search = len(search)
        reference = [[np.asarray(o) for o in ctx.source.predict([t.numpy() for t in b])] for b in search]
        layers = sim.layer_errors(search[: qp.REPORT_SAMPLES])
        order = qp.repair_order(layers, sim.quantized_layers)

        def score(kept: tuple[str, ...]) -> float:
            return qp.whole_model_cosine(reference, sim.outputs(kept, search))

        step = ctx.progress.task(f"{self.name}: searching modules to keep float", None)
        result = greedy_repair(
            order,
            score,
            budget.min_cosine,
            margin=SEARCH_MARGIN,
            time_budget_s=budget.time_budget_s,
            max_kept=int_option(ctx, self.name, "max_kept", 1),
            progress=lambda m: step.update(description=f"{self.name}: {m}"),
        )
        step.done()

        def lowered_of(module) -> Any:
            with capture_native_output():
                return lower(export_converted(module, example, fresh_buffers), self.backend, quantized_kernels=True)

        mixed = lowered_of(sim.converted(result.kept))
        atomic_write_bytes(out_path, mixed.buffer)
        plain = lowered_of(sim.converted(())) if result.kept else mixed
        with capture_native_output():
            fp32 = lower(ep, self.backend)
        cost = {
            "size_bytes": {"int8": len(plain.buffer), "mixed": len(mixed.buffer), "fp32": len(fp32.buffer)},
            "p50_ms_in_process": {
                k: qp.median_latency_ms(b.buffer, search[0]) for k, b in (("int8", plain), ("mixed", mixed), ("fp32", fp32))
            },
            "note": "p50 timed in the build process (indicative; edgekit bench measures it properly)",
        }
        ranked = rank_layers(layers)
        repair = {
            **result.summary(),
            "metric": f"worst-sample cosine against float on {n_search} calibration samples held apart from the "
            f"{len(cal)} calibrated on (eager PT2E simulation); held_out: the lowered .pte on the evaluation samples",
            "budget": budget.as_dict(),
            "search_samples": n_search,
            "split": split.describe(),
            "candidates": len(order),
            "recalibrations": sim.recalibrations,
            "cost": cost,
        }
        warnings = list(mixed.warnings)
        if not result.met:
            warnings.append(
                f"repair missed the budget: best cosine {result.score:.4f} on {n_search} search samples "
                f"(budget {budget.min_cosine}) with "
                f"{len(result.kept)} module(s) float ({', '.join(result.kept) or 'none'}), "
                f"{cost['size_bytes']['mixed'] / 1e6:.2f} MB vs int8 {cost['size_bytes']['int8'] / 1e6:.2f} MB; "
                + (
                    f"precision alone did not help: {', '.join(result.unhelpful)}"
                    if result.unhelpful
                    else "the loss is spread over many modules or lies in ops that stay int8"
                )
            )
        elif result.kept:
            warnings.append(f"kept in float: {', '.join(result.kept)}")
        quant = {
            **pt2e_scheme(per_channel),
            "mode": "int8-mixed",
            "kept_float": list(result.kept),
            "calibration_samples": sim.samples_seen,
            "activations": "int8 static (calibrated); float in the kept modules",
            "weights": "int8 symmetric per-channel; float in the kept modules"
            if per_channel
            else "int8 symmetric per-tensor; float in the kept modules",
        }
        extra: dict[str, Any] = {
            "delegation": mixed.delegation,
            "delegation_summary": delegation.summary_line(mixed.delegation),
            "repair": repair,
            "default_thresholds": {"min_cosine": budget.min_cosine},
            "quant_report": report_summary(ranked),
        }
        return BuildOutput(quantization=quant, tool_versions=tool_versions("torchao"), warnings=warnings, extra=extra)


def pt2e_scheme(per_channel: bool) -> dict:
    from edgekit.torchkit.pt2e import quantization_scheme

    return quantization_scheme(per_channel, dynamic=False)


for _target in (
    ExecuTorchTarget("executorch-portable", None),
    ExecuTorchTarget("executorch-xnnpack", "XnnpackBackend"),
    ExecuTorchTarget("executorch-xnnpack-int8", "XnnpackBackend", quantize="static"),
    ExecuTorchTarget("executorch-xnnpack-dynamic-int8", "XnnpackBackend", quantize="dynamic"),
    ExecuTorchTarget("executorch-coreml", "CoreMLBackend", extra_tools=("coremltools",), runs_here=False),
    ExecuTorchMixedTarget(),
):
    TARGETS.register(_target.name, _target)
