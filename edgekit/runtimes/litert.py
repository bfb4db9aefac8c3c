"""TFLite models on the LiteRT interpreter (ai-edge-litert), or the older tflite-runtime, or TF.

ai-edge-litert is preferred: tflite-runtime stopped at 2.14 (numpy < 2, cannot load models from
current converters, no int8 XNNPACK). Delegate placement is read from the interpreter's own log
line, the only place the Python API reports it.
"""

from __future__ import annotations

import importlib
import re
import time
from typing import Any, Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.harness.capture import native_stderr
from edgekit.runtimes.base import RunOptions, Runtime, Session, TensorSpec, dynamic, plan_shapes
from edgekit.runtimes.formats import FormatRecord, Hints, Packaging, ProbeLoader, Provider, register_format

# provider name -> (module holding Interpreter, how to read its version)
PROVIDERS: dict[str, str] = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite",
}

_UNRESOLVED = re.compile(r"unresolved custom op: ([^.\s]+)")
_NO_OP_VERSION = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")

INSTALL_HINT = "install a TFLite runtime: pip install ai-edge-litert (or: pip install 'edgekit[tflite]')"


def _import_provider(name: str):
    module = importlib.import_module(PROVIDERS[name])
    return module


def provider_version(name: str) -> str | None:
    try:
        if name == "ai_edge_litert":
            from importlib.metadata import version

            return version("ai-edge-litert")
        if name == "tflite_runtime":
            import tflite_runtime

            return getattr(tflite_runtime, "__version__", None)
        if name == "tensorflow":
            import tensorflow as tf

            return tf.__version__
    except Exception:
        return None
    return None


def _spec(detail: dict) -> TensorSpec:
    qp = detail.get("quantization_parameters") or {}
    scales = list(qp.get("scales", []) if qp else [])
    zps = list(qp.get("zero_points", []) if qp else [])
    scale, zp = detail.get("quantization", (0.0, 0))
    if scales and len(scales) == 1:
        scale, zp = float(scales[0]), int(zps[0])
    return TensorSpec(
        name=detail["name"],
        shape=[int(d) for d in detail["shape"]],
        shape_signature=[int(d) for d in detail.get("shape_signature", detail["shape"])],
        dtype=detail["dtype"].__name__ if hasattr(detail["dtype"], "__name__") else str(detail["dtype"]),
        scale=float(scale) if scale else None,
        zero_point=int(zp) if scale else None,
        per_channel=len(scales) > 1,
    )


def translate_load_error(exc: BaseException, path: str, log: str = "") -> EdgekitError:
    """Turn an interpreter's load/allocate failure into one line the user can act on."""
    text = f"{exc} {log}"
    m = _UNRESOLVED.search(text)
    if m:
        op = m.group(1)
        if op == "edgetpu-custom-op":
            return EnvironmentMissing(
                f"{path} is compiled for the Edge TPU and needs the Edge TPU runtime (libedgetpu) and an attached Edge TPU",
                "run it on a Coral device with libedgetpu installed, or benchmark the CPU model (without _edgetpu) here",
            )
        return EdgekitError(
            f"{path} uses the custom op {op!r}, which this TFLite runtime does not provide",
            "register the op's kernel in the runtime, or rebuild the model without it",
        )
    m = _NO_OP_VERSION.search(text)
    if m:
        return EnvironmentMissing(
            f"the installed TFLite runtime is too old for {path}: no kernel for {m.group(1)} version {m.group(2)}",
            "upgrade the runtime (pip install -U ai-edge-litert) or rebuild the model with an older converter",
        )
    if "identifier" in text or "Could not open" in text or "Model provided" in text or "flatbuffer" in text.lower():
        return EdgekitError(
            f"{path} could not be loaded as a TFLite model ({first_line(exc, 200)})",
            "the file is truncated or corrupt; rebuild or re-download it",
        )
    first = first_line(exc)
    last_log = [l for l in log.strip().splitlines() if "ERROR" in l or "failed" in l]
    detail = f" ({last_log[-1].strip()[:300]})" if last_log else ""
    return EdgekitError(
        f"the TFLite runtime failed to prepare {path}: {first}{detail}",
        "check the model with 'edgekit inspect'; a model that cannot be allocated cannot run",
    )


class TFLiteSession(Session):
    def __init__(self, interpreter: Any, path: str):
        self.interp = interpreter
        self.path = path
        self._in = interpreter.get_input_details()
        self._out = interpreter.get_output_details()
        self.inputs = [_spec(d) for d in self._in]
        self.outputs_spec = [_spec(d) for d in self._out]
        self.delegates = []
        self.load_phases_ms = {}
        self.log = ""

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        resized = False
        for detail, arr in zip(self._in, arrays):
            if tuple(arr.shape) != tuple(detail["shape"]):
                self.interp.resize_tensor_input(detail["index"], list(arr.shape))
                resized = True
        if resized:
            self.interp.allocate_tensors()
            self._in = self.interp.get_input_details()
            self._out = self.interp.get_output_details()
        for detail, arr in zip(self._in, arrays):
            self.interp.set_tensor(detail["index"], arr)

    def invoke(self) -> None:
        self.interp.invoke()

    def reset_state(self) -> bool:
        self.interp.reset_all_variables()
        return True

    def outputs(self) -> list[Any]:
        return [self.interp.get_tensor(d["index"]) for d in self._out]


class TFLiteRuntime(Runtime):
    format = "tflite"
    crash_hint = (
        "check the model with 'edgekit inspect {model}' and try --no-xnnpack or --threads 1; "
        "rerun with --debug to see the runtime's log"
    )

    def providers(self) -> list[str]:
        import importlib.util

        return [n for n, mod in PROVIDERS.items() if importlib.util.find_spec(mod.split(".")[0]) is not None]

    def _choose(self, options: RunOptions) -> str:
        if options.provider:
            if options.provider not in PROVIDERS:
                from edgekit.runtimes.formats import get_format

                names = [p.name for p in get_format(self.format).providers]
                raise EdgekitError(f"unknown TFLite runtime {options.provider!r}", f"choose one of: {', '.join(names)}")
            return options.provider
        available = self.providers()
        if not available:
            raise EnvironmentMissing("no TFLite runtime is installed", INSTALL_HINT)
        return available[0]

    def describe(self, options: RunOptions) -> dict:
        name = self._choose(options)
        return {"name": name, "version": provider_version(name)}

    def import_runtime(self, options: RunOptions) -> None:
        try:
            _import_provider(self._choose(options))
        except ImportError:
            pass  # load() raises the one-line error

    def delegates_for(self, module: Any, options: RunOptions) -> list:
        """Delegates to hand the interpreter; the Edge TPU runtime adds libedgetpu here."""
        return []

    def coverage(self, interp: Any, options: RunOptions) -> list[dict]:
        return delegate_coverage(interp, "XNNPACK") if options.xnnpack else []

    def load(self, path: str, options: RunOptions) -> Session:
        name = self._choose(options)
        t_import = time.perf_counter()
        try:
            module = _import_provider(name)
        except ImportError as exc:
            raise EnvironmentMissing(f"the TFLite runtime {name} cannot be imported ({exc})", INSTALL_HINT) from None
        Interpreter = module.Interpreter
        kwargs: dict[str, Any] = {"model_path": path}
        if options.threads:
            kwargs["num_threads"] = int(options.threads)
        if not options.xnnpack:
            kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        delegates = self.delegates_for(module, options)
        if delegates:
            kwargs["experimental_delegates"] = delegates
        failure: BaseException | None = None
        interp = allocating = None
        t0 = t1 = t2 = time.perf_counter()
        with native_stderr() as cap:
            try:
                interp = Interpreter(**kwargs)
                t1 = time.perf_counter()
                allocating = interp
                resize_inputs(interp, options)
                interp.allocate_tensors()
                t2 = time.perf_counter()
            except (ValueError, RuntimeError, OSError) as exc:
                failure = exc
        log = cap.text
        if failure is not None:
            raise dynamic_shape_error(allocating, options, path, failure, log) or translate_load_error(
                failure, path, log
            ) from None
        session = TFLiteSession(interp, path)
        session.load_phases_ms = {
            "import": (t0 - t_import) * 1e3,
            "load": (t1 - t0) * 1e3,
            "allocate": (t2 - t1) * 1e3,
        }
        session.log = log
        session.delegates = self.coverage(interp, options)
        return session


def resize_inputs(interp: Any, options: RunOptions) -> dict[int, list[int]]:
    """Resize inputs to the shapes asked for (or given by --input arrays) BEFORE the first
    allocate_tensors: delegates are prepared at allocation, and XNNPACK prepared for a dynamic
    model's placeholder shape (often [1, 1]) can fail outright ("failed to reshape runtime")."""
    if not options.input_shapes and not options.inferred_shapes:
        return {}
    details = interp.get_input_details()
    plan = plan_shapes([_spec(d) for d in details], options.input_shapes, options.inferred_shapes)
    for i, shape in plan.items():
        interp.resize_tensor_input(details[i]["index"], shape, strict=False)
    return plan


def dynamic_shape_error(interp: Any, options: RunOptions, path: str, exc: BaseException, log: str = "") -> EdgekitError | None:
    """A model with dynamic inputs that fails to allocate at its placeholder shape: say which
    inputs are dynamic and how to give the shape to run at (None when that is not the case:
    ``interp`` is None unless the failure came from resizing or allocating)."""
    text = f"{exc} {log}"
    if interp is None or _UNRESOLVED.search(text) or _NO_OP_VERSION.search(text):
        return None
    try:
        specs = [_spec(d) for d in interp.get_input_details()]
    except Exception:
        return None
    open_inputs = [s for s in specs if dynamic(s) and s.name not in options.input_shapes]
    detail = first_line(exc, 160)
    if not open_inputs:
        if not (options.input_shapes or options.inferred_shapes):
            return None
        shapes = ", ".join(f"{s.name}={','.join(map(str, s.shape))}" for s in specs)
        return EdgekitError(
            f"the TFLite runtime failed to prepare {path} at the input shapes {shapes} ({detail})",
            "check the shapes against the model's input signature ('edgekit inspect' shows it)",
        )
    first = open_inputs[0]
    example = ",".join(str(d) if d > 0 else "N" for d in (first.shape_signature or first.shape))
    desc = ", ".join(f"{s.name!r} {s.shape_signature} (placeholder {s.shape})" for s in open_inputs)
    return EdgekitError(
        f"{path} has dynamic input shapes ({desc}) and cannot be prepared at the placeholder shape ({detail})",
        f"give the shape to run at with --input-shape {first.name}={example} (N: the real sizes), or real data with --input",
    )


def delegate_coverage(interp: Any, delegate_name: str = "XNNPACK") -> list[dict]:
    """How many of the model's nodes each delegate took, read from the delegated graph.

    The Python API has no delegate report and ai-edge-litert does not print TFLite's "Replacing N
    out of M node(s)" line, but after delegation the node list holds the original nodes plus one
    DELEGATE node per partition. The original nodes a partition replaced are exactly those between
    its input and output tensors, found by walking producers back from its outputs.
    """
    try:
        ops = interp._get_ops_details()
    except Exception:  # private API; older runtimes may lack it
        return []
    original = [o for o in ops if o.get("op_name") != "DELEGATE"]
    partitions = [o for o in ops if o.get("op_name") == "DELEGATE"]
    if not partitions:
        return []
    producer = {int(t): o["index"] for o in original for t in o["outputs"]}
    by_index = {o["index"]: o for o in original}
    covered: set[int] = set()
    for part in partitions:
        boundary = {int(t) for t in part["inputs"]}
        stack = [int(t) for t in part["outputs"]]
        while stack:
            t = stack.pop()
            if t in boundary or t not in producer:
                continue
            idx = producer[t]
            if idx in covered:
                continue
            covered.add(idx)
            stack.extend(int(x) for x in by_index[idx]["inputs"] if int(x) >= 0)
    left = {}
    for o in original:
        if o["index"] not in covered:
            left[o["op_name"]] = left.get(o["op_name"], 0) + 1
    return [
        {
            "name": delegate_name,
            "nodes": len(covered),
            "total_nodes": len(original),
            "partitions": len(partitions),
            "not_delegated": left,
        }
    ]


RUNTIME = TFLiteRuntime()


def is_tflite(head: bytes) -> bool:
    """A TFLite flatbuffer: the file identifier "TFL3" at bytes 4-8."""
    return len(head) >= 8 and head[4:8] == b"TFL3"


# The pip distributions of each Interpreter package, as the probe reports them.
DISTRIBUTIONS = {
    "ai_edge_litert": ("ai-edge-litert",),
    "tflite_runtime": ("tflite-runtime",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
}
INTERPRETER_PROVIDERS = tuple(
    Provider(
        name,
        "edgekit.runtimes.litert:RUNTIME",
        package=name,
        distributions=DISTRIBUTIONS[name],
        description=f"the TFLite Interpreter of {name}",
    )
    for name in PROVIDERS
)
COMPILED_PROVIDER = Provider(
    "litert-compiled",
    "edgekit.runtimes.litert_compiled:RUNTIME",
    package="ai_edge_litert",
    distributions=("ai-edge-litert",),
    description="LiteRT's CompiledModel API (ai_edge_litert.compiled_model), what litert-benchmark runs",
)

FORMAT = register_format(
    FormatRecord(
        name="tflite",
        title="TFLite model",
        suffixes=(".tflite",),
        detect=lambda path, head: is_tflite(head),  # Edge TPU models are TFL3 too: edgetpu is tried first
        priority=10,
        providers=(*INTERPRETER_PROVIDERS, COMPILED_PROVIDER),
        probe=ProbeLoader("load_tflite"),
        doctor_check="edgekit.devices.checks:check_tflite",
        blocking=frozenset({"no-tflite-runtime"}),
        hints=Hints(
            install=INSTALL_HINT,
            mismatch=(
                "is not a TFLite model (no TFL3 flatbuffer identifier)",
                "the file is truncated or not a .tflite; rebuild or re-download it",
            ),
        ),
        packaging=Packaging(
            "tflite",
            True,
            "LiteRT/TFLite: Interpreter(FileUtil.loadMappedFile(context, NAME)) memory-maps the asset; it must be stored uncompressed.",
            "LiteRT/TFLite (TensorFlowLiteSwift): Interpreter(modelPath: Bundle.main.path(forResource:ofType:)).",
        ),
        android_runner="edgekit.transports.android_benchmark_model:run_benchmark_model",
        android_tool="benchmark_model",
        spec_reader="edgekit.ship.package:_tflite_specs",
        cpu_delegate="XNNPACK",
    )
)


def has_edgetpu_ops(path: str) -> bool:
    """Does the flatbuffer hold Edge TPU ops (the compiler's edgetpu-custom-op)?"""
    from edgekit.runtimes import EDGETPU_CUSTOM_OP

    with open(path, "rb") as f:
        return EDGETPU_CUSTOM_OP in f.read()
