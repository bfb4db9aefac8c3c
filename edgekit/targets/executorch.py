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

from edgekit.errors import EdgekitError
from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, Target, capture_native_output


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
    backend: str | None = None  # partitioner backend id; None = portable kernels only
    quantize: str | None = None  # None, "static" or "dynamic"
    runs_here = True
    extra_tools: tuple[str, ...] = ()

    def __init__(self, name: str, backend: str | None, quantize: str | None = None, extra_tools: tuple = (),
                 runs_here: bool = True):
        self.name = name
        self.backend = backend
        self.quantize = quantize
        self.needs_calibration = quantize == "static"
        self.extra_tools = extra_tools
        self.runs_here = runs_here
        if quantize:
            self.option_names = ("etrecord", "per_channel")

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        if ctx.source.kind == "torchscript":
            raise EdgekitError(
                f"target {self.name} needs a torch.export-able model; TorchScript files only build the ptl target",
                "give the nn.Module factory (package.module:function) or a .pt2 exported program",
            )
        # Export once per source, before anything is built: a model torch.export cannot trace is one
        # line for the whole build, with a hint that fits the targets requested.
        from edgekit.torchkit.export import exported

        with capture_native_output():
            exported(ctx.source, getattr(ctx.spec, "targets", None))

    def cache_settings(self, ctx: BuildContext) -> dict:
        return {"options": dict(ctx.options), "backend": self.backend, "quantize": self.quantize,
                "tools": tool_versions("torchao", *self.extra_tools)}

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
        extra: dict[str, Any] = {"delegation": lowered.delegation,
                                 "delegation_summary": delegation.summary_line(lowered.delegation)}
        if etrecord_tmp:
            os.replace(etrecord_tmp, etrecord)
            extra["etrecord"] = os.path.basename(etrecord)
        if not self.runs_here:
            extra["not_run"] = (
                f"{self.backend} programs run only on Apple hardware (macOS/iOS); built and inspected here, not invoked"
            )
        return BuildOutput(quantization=quant, tool_versions=tool_versions("torchao", *self.extra_tools),
                           warnings=list(lowered.warnings), extra=extra)


for _target in (
    ExecuTorchTarget("executorch-portable", None),
    ExecuTorchTarget("executorch-xnnpack", "XnnpackBackend"),
    ExecuTorchTarget("executorch-xnnpack-int8", "XnnpackBackend", quantize="static"),
    ExecuTorchTarget("executorch-xnnpack-dynamic-int8", "XnnpackBackend", quantize="dynamic"),
    ExecuTorchTarget("executorch-coreml", "CoreMLBackend", extra_tools=("coremltools",), runs_here=False),
):
    TARGETS.register(_target.name, _target)
