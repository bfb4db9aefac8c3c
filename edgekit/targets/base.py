"""The interface every build target implements, and what the orchestrator hands it.

One mechanism for every framework: a Target turns a loaded Source (Keras, SavedModel, PyTorch ...)
into one artifact file. The orchestrator (edgekit/build/orchestrator.py) owns everything around that: the cache,
temporary paths, verification in a worker process, accuracy drift, the manifest. A target only
says what it needs (``source_frameworks``, ``needs_calibration``), what decides its output
(``cache_settings``) and how to write the file (``build``). Numpy and the standard library only
here: the frameworks are imported inside each target's ``build``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.build.console import StepProgress
    from edgekit.build.calibration import Dataset
    from edgekit.sources import Source
    from edgekit.build.spec import BuildSpec


def _no_progress() -> "StepProgress":
    """Silent progress for a context built outside the orchestrator (tests, direct API use)."""
    from edgekit.build.console import StepProgress

    return StepProgress("off")


@dataclass
class BuildContext:
    """Everything a target may use; targets never read files or flags themselves."""

    source: "Source"
    spec: "BuildSpec"
    target: str
    options: dict  # this target's options from the spec ([options.<target>] / --option)
    calibration: "Dataset | None"  # calibration samples (never the held-out evaluation samples)
    outdir: str
    progress: "StepProgress" = field(default_factory=_no_progress)  # the orchestrator's (build_console)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class BuildOutput:
    """What a target reports about the file it wrote; the orchestrator adds the rest of the entry."""

    quantization: dict = field(default_factory=dict)
    tool_versions: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Target:
    """A named way of turning a source into one artifact file.

    ``format`` is the artifact format known to the runtime registry (``edgekit.runtimes``), so the
    orchestrator can load and invoke what was built before calling it built.
    """

    name: str = ""
    format: str = ""  # runtime format: tflite, edgetpu, pte, ptl
    suffix: str = ""  # file suffix including the dot: ".tflite"
    source_frameworks: tuple[str, ...] = ()  # Source.framework values this target accepts: "tf", "torch"
    needs_calibration: bool = False
    option_names: tuple[str, ...] = ()  # the options this target understands (checked against the spec)
    needs_export: bool = False  # builds from a torch.export program: a TorchScript source cannot give one
    # int8 weights with activation ranges computed per call: nothing calibrated for --explain to compare
    dynamic_quant: bool = False

    def file_name(self, ctx: BuildContext) -> str:
        """The artifact's file name inside the output directory."""
        return f"{ctx.source.name}.{self.name}{self.suffix}"

    def cache_settings(self, ctx: BuildContext) -> dict:
        """Everything besides the source and calibration content that changes the artifact.

        It goes into the cache key: a change here rebuilds, anything else reuses the artifact.
        Include tool versions, so upgrading a converter rebuilds.
        """
        return {"options": dict(ctx.options)}

    def check(self, ctx: BuildContext) -> None:
        """Raise EdgekitError when this target cannot work with ``ctx`` (before anything is built)."""
        from edgekit.errors import EdgekitError

        if self.source_frameworks and ctx.source.framework not in self.source_frameworks:
            raise EdgekitError(
                f"target {self.name} builds from {'/'.join(self.source_frameworks)} models, "
                f"not from a {ctx.source.framework} {ctx.source.kind} source",
                "choose targets for this framework (see 'edgekit build --list-targets')",
            )
        unknown = sorted(set(ctx.options) - set(self.option_names))
        if unknown:
            known = ", ".join(self.option_names) or "none"
            raise EdgekitError(f"target {self.name} has no option {unknown[0]!r}", f"its options are: {known}")
        if self.needs_calibration and ctx.calibration is None:
            raise EdgekitError(
                f"target {self.name} needs calibration data",
                "pass --calibration FILE.npz|DIR|module:function, or --random-calibration (not representative)",
            )
        if self.needs_export and ctx.source.kind == "torchscript":
            raise EdgekitError(
                f"target {self.name} needs a torch.export-able model; TorchScript files only build the ptl target",
                "give the nn.Module factory (package.module:function) or a .pt2 exported program",
            )

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        """Write the artifact to ``out_path`` (a temporary path the orchestrator publishes)."""
        raise NotImplementedError


@dataclass
class CapturedOutput:
    text: str = ""

    def tail(self, n: int = 5, needle: str | None = None) -> str:
        lines = [l.strip() for l in self.text.splitlines() if l.strip()]
        if needle:
            lines = [l for l in lines if needle.lower() in l.lower()] or lines
        return " | ".join(lines[-n:])


@contextmanager
def capture_native_output() -> Iterator[CapturedOutput]:
    """Swallow what converters print on the C-level stdout and stderr (hundreds of lines from
    TFLiteConverter and torch.export) while keeping it, so a failure can quote the relevant line."""
    result = CapturedOutput()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as tmp:
        for fd in (1, 2):
            os.dup2(tmp.fileno(), fd)
        try:
            yield result
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            for fd, orig in saved.items():
                os.dup2(orig, fd)
                os.close(orig)
            tmp.seek(0)
            result.text = tmp.read().decode("utf-8", "replace")
