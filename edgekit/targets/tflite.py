"""TFLite targets: fp32, fp16, dynamic-range, full int8, int16x8, from any framework that has a converter.

Target names follow the artifact, not the source: ``tflite-int8`` is a full-integer .tflite whether
the model came from Keras, a SavedModel or PyTorch. The source decides the converter: CONVERTERS is
keyed by ``Source.framework`` and each converter module registers one object with

- ``framework``: the key it registers under ("tf", "torch", ...);
- ``modes``: the subset of fp32 fp16 dynamic int8 int16x8 it can write;
- ``cache_settings(target, ctx) -> dict``: everything besides the source and calibration data that
  changes its output (tool versions included, so upgrading a converter rebuilds);
- ``convert(target, ctx, out_path) -> BuildOutput``: write the artifact;
- optionally ``name`` (recorded in the manifest) and ``check(target, ctx)`` (options it refuses).

Calibration, the drift check against the source model, thresholds, the cache and the manifest are
the orchestrator's, the same for every converter. The target records which converter wrote the
file and its version (``extra["converter"]``). What the artifact must be (full-integer unless
``allow_float_ops``, the I/O dtype) is checked here, once, for every converter.
"""

from __future__ import annotations

from edgekit.errors import EdgekitError
from edgekit.registry import Registry
from edgekit.targets import TARGETS
from edgekit.targets.base import BuildContext, BuildOutput, Target

CONVERTERS: Registry = Registry(
    "TFLite converter",
    {"tf": "edgekit.targets.tflite_tf", "torch": "edgekit.targets.tflite_torch", "onnx": "edgekit.targets.tflite_onnx"},
)

MODES = ("fp32", "fp16", "dynamic", "int8", "int16x8")
IO_DTYPES = {"tflite-int8": ("int8", "uint8", "float32"), "tflite-int16x8": ("float32", "int16")}
RESOURCE_VARIABLE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}


def op_histogram(model_bytes: bytes) -> dict[str, int]:
    """Operator name -> count over all subgraphs (custom ops by their custom code), read with
    edgekit's one TFLite reader (edgekit.inspect.tflite_model)."""
    from edgekit.inspect.tflite_model import parse_bytes

    hist: dict[str, int] = {}
    for _, op in parse_bytes(model_bytes, "<converted model>").all_operators():
        hist[op.name] = hist.get(op.name, 0) + 1
    return dict(sorted(hist.items()))


def float_compute_ops(model_bytes: bytes) -> dict[str, int]:
    """Ops of the main graph that read or write float32 tensors, besides QUANTIZE/DEQUANTIZE.

    TFLITE_BUILTINS_INT8 does not guarantee a full-integer model: TF 2.21 silently keeps an op
    without an int8 kernel (CUMSUM, COS, ATAN2 ...) in float between DEQUANTIZE/QUANTIZE pairs,
    which an Edge TPU or an integer-only DSP cannot run. litert-torch's PT2E path does the same
    with ops its quantizer does not annotate (SOFTMAX after the last FULLY_CONNECTED, measured).
    """
    from edgekit.inspect.tflite_model import parse_bytes

    main = parse_bytes(model_bytes, "<converted model>").main
    found: dict[str, int] = {}
    for op in main.operators:
        name = "CUSTOM" if op.custom else op.name
        if name in ("QUANTIZE", "DEQUANTIZE"):
            continue
        if any(main.tensors[t].dtype == "float32" for t in op.inputs + op.outputs if t >= 0):
            found[name] = found.get(name, 0) + 1
    return found


def resource_ops(hist: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in hist.items() if k in RESOURCE_VARIABLE_OPS}


def check_full_integer(target: TFLiteTarget, ctx: BuildContext, model_bytes: bytes, warnings: list[str]) -> dict[str, int]:
    """int8 artifacts must be full-integer unless the user accepts float ops: the same rule for every converter."""
    floats = float_compute_ops(model_bytes)
    if floats:
        text = ", ".join(f"{k}x{v}" if v > 1 else k for k, v in floats.items())
        if not ctx.options.get("allow_float_ops", False):
            raise EdgekitError(
                f"{target.name} is not full-integer: {text} stayed float (no int8 kernel)",
                "change those layers, or accept a mixed model with option allow_float_ops=true "
                "(it will not run on an Edge TPU or an integer-only accelerator)",
            )
        warnings.append(f"not full-integer: {text} run in float (allow_float_ops)")
    return floats


class TFLiteTarget(Target):
    """One TFLite artifact kind; the source's framework picks the converter that writes it."""

    format = "tflite"
    suffix = ".tflite"
    source_frameworks = ()  # any framework with a converter in CONVERTERS (checked in check())

    def __init__(self, name: str, mode: str, frameworks: tuple[str, ...] = ()):
        self.name = name
        self.mode = mode  # fp32 | fp16 | dynamic | int8 | int16x8
        self.frameworks = frameworks  # () = every registered converter; an alias may narrow it
        self.needs_calibration = mode in ("int8", "int16x8")
        self.dynamic_quant = mode == "dynamic"
        self.option_names = (("io_dtype",) if name in IO_DTYPES else ()) + ("static_shapes",)
        if mode == "int8":
            self.option_names += ("allow_float_ops", "quantizer")
            self.repair_target = "tflite-int8-mixed"  # the failure hint points at it (orchestrator)

    # -- what every converter shares -----------------------------------------------------------
    def converter(self, ctx: BuildContext):
        framework = ctx.source.framework
        if (self.frameworks and framework not in self.frameworks) or framework not in CONVERTERS:
            known = "/".join(self.frameworks or tuple(CONVERTERS.names()))
            raise EdgekitError(
                f"target {self.name} builds from {known} models, not from a {framework} {ctx.source.kind} source",
                "choose targets for this framework (see 'edgekit build --list-targets')",
            )
        conv = CONVERTERS.get(framework)
        if self.mode not in conv.modes:
            raise EdgekitError(
                f"the {framework} TFLite converter cannot write {self.name} ({self.mode})",
                f"it writes: {', '.join('tflite-' + m for m in conv.modes)}",
            )
        return conv

    def io_dtype(self, ctx: BuildContext) -> str:
        if self.name not in IO_DTYPES:
            return "float32"
        allowed = IO_DTYPES[self.name]
        value = str(ctx.options.get("io_dtype", allowed[0]))
        if value not in allowed:
            raise EdgekitError(f"{self.name} io_dtype {value!r} is not supported", f"choose one of: {', '.join(allowed)}")
        return value

    def static_reason(self, ctx: BuildContext) -> str | None:
        """Why this artifact must have static input shapes, or None to keep the model's signature."""
        option = ctx.options.get("static_shapes")
        if option is not None and not isinstance(option, bool):
            raise EdgekitError(
                f"{self.name} option static_shapes must be true or false, not {option!r}",
                f"set [options.{self.name}] static_shapes = true",
            )
        if option is False:
            return None
        if option:
            return "option static_shapes"
        if getattr(ctx.spec, "inputs", None):
            return "declared input shapes"
        for name in getattr(ctx.spec, "targets", None) or []:
            other = TARGETS.get(name) if name in TARGETS.names() else None
            wants = getattr(other, "static_inputs_from", None)
            if wants is not None and self.name in wants(ctx.spec):
                return f"{name} needs static shapes"
        return None

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        conv = self.converter(ctx)
        self.io_dtype(ctx)
        self.static_reason(ctx)
        extra_check = getattr(conv, "check", None)
        if extra_check is not None:
            extra_check(self, ctx)

    def cache_settings(self, ctx: BuildContext) -> dict:
        conv = self.converter(ctx)
        settings = conv.cache_settings(self, ctx)
        if ctx.source.framework != "tf":  # the TF converter's key is unchanged (its artifacts stay cached)
            settings = {"converter": ctx.source.framework, **settings}
        return settings

    def build(self, ctx: BuildContext, out_path: str) -> BuildOutput:
        conv = self.converter(ctx)
        out = conv.convert(self, ctx, out_path)
        if "converter" not in out.extra:
            name = getattr(conv, "name", ctx.source.framework)
            out.extra["converter"] = {"name": name, "framework": ctx.source.framework, "version": out.tool_versions.get(name)}
        return out


for _name, _mode in (
    ("tflite-fp32", "fp32"),
    ("tflite-fp16", "fp16"),
    ("tflite-dynamic", "dynamic"),
    ("tflite-int8", "int8"),
    ("tflite-int16x8", "int16x8"),
):
    TARGETS.register(_name, TFLiteTarget(_name, _mode))
# The name of the PyTorch-only float target before TFLite targets took every framework: an alias
# of tflite-fp32 for PyTorch sources (its own manifest entry and file name, the same conversion).
TARGETS.register("tflite-from-torch", TFLiteTarget("tflite-from-torch", "fp32", frameworks=("torch",)))
