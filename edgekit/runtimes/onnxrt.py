"""ONNX models (.onnx, and ONNX Runtime's own .ort) on onnxruntime.

Threads go through ``SessionOptions.intra_op_num_threads`` (the pool an op's kernels split work
over); ``inter_op_num_threads`` stays 1 and the executor sequential, so ``--threads N`` means the
same thing as for LiteRT's ``num_threads``. The execution providers the session actually got are
recorded as the session's delegates and in ``describe`` (CPUExecutionProvider on a plain wheel;
``RunOptions.extra["execution_providers"]`` asks for others).

Most published ONNX models declare dynamic dimensions (``N``, ``H``, ``W`` or unnamed). onnxruntime
takes any shape at ``run``, but the harness must make inputs of one concrete shape, so a dynamic
input needs ``--input-shape NAME=...`` (or --input arrays whose shapes fix it); without one the load
fails with one line naming the input and an example, instead of a figure measured at an invented
size.

Pi note: the onnxruntime 1.21.0 aarch64 wheel dies with SIGILL on a Raspberry Pi 4
(microsoft/onnxruntime#23957); ``MIN_SAFE_AARCH64`` is what doctor and provision pin against.
Standard library only at import time (this module ships to devices in the runner bundle).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.runtimes.base import (
    RunOptions,
    Runtime,
    Session,
    TensorSpec,
    dynamic,
    plan_shapes,
    with_shapes,
)
from edgekit.runtimes.formats import (
    FormatRecord,
    Hints,
    Packaging,
    ProbeLoader,
    Provider,
    register_format,
)

INSTALL_HINT = "install onnxruntime: pip install 'edgekit[onnx]' (onnxruntime 1.32.0; on a Pi: onnxruntime>1.21.0)"
# The aarch64 wheel of 1.21.0 hits SIGILL on a Pi 4's Cortex-A72 (microsoft/onnxruntime#23957).
BAD_AARCH64 = ("1.21.0",)
# What provision installs on a board (measured: installs and runs under the emulated aarch64 board).
BOARD_PIN = "onnxruntime==1.23.0"
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
# How apps load it (edgekit package). ONNX Runtime Mobile reads the model from a byte array or a
# path, never memory-maps an asset, so the file may be compressed in the APK.
ANDROID_PACKING = (
    "ONNX Runtime Mobile (com.microsoft.onnxruntime:onnxruntime-android): put the .onnx (or the "
    ".ort made from it) in assets and call OrtEnvironment.getEnvironment().createSession("
    "context.getAssets().open(NAME).readAllBytes(), new OrtSession.SessionOptions())."
)
IOS_PACKING = (
    "ONNX Runtime (onnxruntime-objc / onnxruntime-c pod): ORTSession(env:modelPath:sessionOptions:) with "
    'Bundle.main.path(forResource:ofType:"onnx").'
)

# ONNX tensor element types as onnxruntime names them -> numpy dtype names
ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(uint32)": "uint32",
    "tensor(int64)": "int64",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


def version() -> str | None:
    try:
        from importlib.metadata import version as _v

        return _v("onnxruntime")
    except Exception:
        return None


def _dims(shape: Any) -> tuple[list[int], list[str | None]]:
    """onnxruntime's shape (ints, symbolic names or None) -> (dims with -1 for dynamic, names)."""
    dims, names = [], []
    for d in shape or []:
        if isinstance(d, int) and d >= 0:
            dims.append(d)
            names.append(None)
        else:
            dims.append(-1)
            names.append(str(d) if d not in (None, "") else None)
    return dims, names


def _spec(arg: Any) -> tuple[TensorSpec, list[str | None]]:
    dims, names = _dims(arg.shape)
    dtype = ORT_TYPES.get(arg.type)
    if dtype is None:
        raise EdgekitError(
            f"tensor {arg.name!r} has ONNX type {arg.type}, which edgekit cannot feed", "use float, integer or bool tensor inputs"
        )
    return TensorSpec(name=arg.name, shape=list(dims), dtype=dtype, shape_signature=list(dims)), names


def example_shape(spec: TensorSpec, names: Sequence[str | None] = ()) -> str:
    """An --input-shape value for a dynamic input: its fixed dimensions, 1 for the dynamic ones."""
    return ",".join(str(d) if d > 0 else "1" for d in (spec.shape_signature or spec.shape))


def dynamic_input_error(path: str, spec: TensorSpec, names: Sequence[str | None]) -> EdgekitError:
    sig = spec.shape_signature or spec.shape
    shown = (
        "[" + ",".join(str(d) if d >= 0 else (names[i] if i < len(names) and names[i] else "?") for i, d in enumerate(sig)) + "]"
    )
    return EdgekitError(
        f"input {spec.name!r} of {os.path.basename(path)} has dynamic dimensions {shown}",
        f"give the shape to run at, e.g. --input-shape {spec.name}={example_shape(spec)} with your real sizes "
        "for the dynamic dimensions",
    )


class OnnxSession(Session):
    def __init__(self, sess: Any, path: str, inputs: list[TensorSpec], outputs: list[TensorSpec]):
        self.sess = sess
        self.path = path
        self.inputs = inputs
        self.outputs_spec = outputs
        self.delegates = []
        self.load_phases_ms = {}
        self._names = [o.name for o in outputs]
        self._run = sess.run
        self._feed: dict[str, Any] = {}
        self._out: list[Any] = []
        self._shapes_known = all(not dynamic(o) for o in outputs)

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        import numpy as np

        self._feed = {s.name: np.ascontiguousarray(a) for s, a in zip(self.inputs, arrays)}

    def invoke(self) -> None:
        self._out = self._run(self._names, self._feed)

    def outputs(self) -> list[Any]:
        out = self._out
        if not self._shapes_known and out:  # symbolic output dims: the first run says what they are
            from dataclasses import replace

            self.outputs_spec = [replace(s, shape=[int(d) for d in a.shape]) for s, a in zip(self.outputs_spec, out)]
            self._shapes_known = True
        return list(out)

    def close(self) -> None:
        self.sess = None
        self._run = None


class OnnxRuntime(Runtime):
    format = "onnx"
    crash_hint = (
        "check the model with 'edgekit inspect {model}' and try --threads 1; on a Raspberry Pi use "
        "onnxruntime newer than 1.21.0 (microsoft/onnxruntime#23957); rerun with --debug to see the runtime's log"
    )

    def providers(self) -> list[str]:
        import importlib.util

        return ["onnxruntime"] if importlib.util.find_spec("onnxruntime") is not None else []

    def describe(self, options: RunOptions) -> dict:
        if options.provider not in (None, "onnxruntime"):
            raise EdgekitError(f"unknown ONNX runtime {options.provider!r}", "omit --runtime for .onnx files (onnxruntime)")
        if not self.providers():
            raise EnvironmentMissing("onnxruntime is not installed", INSTALL_HINT)
        return {
            "name": "onnxruntime",
            "version": version(),
            "execution_providers": list(options.extra.get("execution_providers") or DEFAULT_PROVIDERS),
        }

    def import_runtime(self, options: RunOptions) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass  # load() raises the one-line error

    def load(self, path: str, options: RunOptions) -> Session:
        self.describe(options)
        if not options.xnnpack:  # the record has no cpu_delegate: nothing to turn off
            raise EdgekitError(
                "--no-xnnpack does not apply to .onnx: onnxruntime's CPU execution provider has no XNNPACK delegate to turn off",
                "omit --no-xnnpack for .onnx files",
            )
        t_import = time.perf_counter()
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EnvironmentMissing(f"onnxruntime cannot be imported ({exc})", INSTALL_HINT) from None
        so = ort.SessionOptions()
        if options.threads:
            so.intra_op_num_threads = int(options.threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3  # warnings about unused initializers etc. are not the user's business
        wanted = list(options.extra.get("execution_providers") or DEFAULT_PROVIDERS)
        available = ort.get_available_providers()
        missing = [p for p in wanted if p not in available]
        if missing:
            raise EnvironmentMissing(
                f"onnxruntime here has no {', '.join(missing)} (available: {', '.join(available)})",
                "install the onnxruntime build that provides it, or omit execution_providers",
            )
        t0 = time.perf_counter()
        try:
            sess = ort.InferenceSession(path, sess_options=so, providers=wanted)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NotImplemented types
            raise translate_load_error(exc, path) from None
        t1 = time.perf_counter()
        pairs = [_spec(a) for a in sess.get_inputs()]
        specs = [s for s, _ in pairs]
        plan = plan_shapes(specs, options.input_shapes, options.inferred_shapes)
        specs = with_shapes(specs, plan)
        for (orig, names), s in zip(pairs, specs):
            if any(d < 0 for d in s.shape):
                raise dynamic_input_error(path, orig, names)
        outputs = [_spec(a)[0] for a in sess.get_outputs()]
        session = OnnxSession(sess, path, specs, outputs)
        got = list(sess.get_providers())
        # The providers the session really got (onnxruntime drops unavailable ones): the result's record.
        session.delegates = [{"name": p, "kind": "execution provider", "nodes": None, "total_nodes": None} for p in got]
        session.load_phases_ms = {"import": (t0 - t_import) * 1e3, "load": (t1 - t0) * 1e3}
        return session


def translate_load_error(exc: BaseException, path: str) -> EdgekitError:
    text = first_line(exc, 400)
    low = text.lower()
    if "opset" in low and ("not supported" in low or "unsupported" in low or "is under development" in low):
        return EdgekitError(
            f"onnxruntime {version()} cannot load {path}: {text}",
            "the model needs a newer onnxruntime; upgrade it or export with a lower opset",
        )
    if "protobuf parsing failed" in low or "failed to load model" in low or "invalid_protobuf" in low:
        return EdgekitError(
            f"{path} is not a loadable ONNX model ({text})", "the file is truncated or not an .onnx; re-export or re-download it"
        )
    if "could not find an implementation" in low or "not_implemented" in low:
        return EdgekitError(
            f"onnxruntime has no kernel for an op in {path}: {text}",
            "the op or its type is not in this onnxruntime build; re-export with supported ops",
        )
    return EdgekitError(
        f"onnxruntime could not load {path}: {text}", "check the model with 'edgekit inspect'; re-export it if it is corrupt"
    )


RUNTIME = OnnxRuntime()


def is_onnx(path: str, head: bytes) -> bool:
    """An .ort file is a flatbuffer with identifier ORTM. An ONNX ModelProto is protobuf, which has
    no magic: a name ending in .onnx and a first byte that is one of ModelProto's field tags
    (ir_version 0x08, opset_import 0x42, producer_name 0x12, graph 0x3A ...)."""
    if len(head) >= 8 and head[4:8] == b"ORTM":
        return True
    return path.lower().endswith(".onnx") and len(head) >= 2 and head[0] in (0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)


FORMAT = register_format(
    FormatRecord(
        name="onnx",
        title="ONNX model",
        suffixes=(".onnx", ".ort"),
        detect=is_onnx,
        priority=5,
        providers=(
            Provider(
                "onnxruntime",
                "edgekit.runtimes.onnxrt:RUNTIME",
                package="onnxruntime",
                distributions=("onnxruntime",),
                description="ONNX Runtime (CPU execution provider)",
            ),
        ),
        probe=ProbeLoader("load_onnx", file=os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx_probe.py")),
        doctor_check="edgekit.devices.onnx_check:check_onnx",
        blocking=frozenset({"no-onnxruntime"}),
        hints=Hints(
            install=INSTALL_HINT,
            mismatch=(
                "is not an ONNX model (no protobuf ModelProto at its start)",
                "the file is truncated or not an .onnx; re-export or re-download it",
            ),
        ),
        packaging=Packaging("onnx", False, ANDROID_PACKING, IOS_PACKING),
        inspector="edgekit.inspect.onnx_model",  # edgekit inspect's reader (host only: the onnx package)
    )
)
