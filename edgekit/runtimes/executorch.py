"""ExecuTorch .pte programs on the ExecuTorch Python runtime (the pybindings in the executorch wheel).

Thread count: ``_unsafe_reset_threadpool(n)`` resizes the one process-wide pool and must run BEFORE
a program is loaded; calling it after an XNNPACK program is loaded segfaulted (measured, executorch
1.5.1). The harness gives every measurement its own process, so setting it once here is safe.
Quantized programs left on portable kernels need the quantized kernel library registered
(``import executorch.kernels.quantized``), at export and here at run time.

Inputs are consumed: a method's memory plan gives the storage of its inputs to intermediates, so
after one ``execute()`` the input buffers hold garbage. Executing again without setting the inputs
runs on that garbage (measured, executorch 1.5.1: a conv net's outputs moved by up to 5e-2 on
portable kernels; a model with an embedding aborted in ``op_embedding.cpp`` on the second run).
The session says so (``inputs_consumed``), and the harness re-sets the inputs before every run,
outside the timed span.

Delegation is read from the .pte itself (edgekit.torchkit.pte), so any .pte, not only edgekit's,
reports which ops stayed on portable kernels. Per-op profiling (ETDump) is opt-in through
``RunOptions.extra["etdump_path"]``: the event tracer stays off for normal timings, and the debug
buffer stays at 0 (a too-small buffer aborts the process, and intermediate dumps distort timings).
"""

from __future__ import annotations

import re
import time
from typing import Any, Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.harness.capture import native_stderr
from edgekit.runtimes.formats import FormatRecord, Hints, Packaging, ProbeLoader, Provider, register_format
from edgekit.runtimes.base import RunOptions, Runtime, Session, TensorSpec, plan_shapes, with_shapes

INSTALL_HINT = "install the PyTorch extra: pip install 'edgekit[torch]' (torch 2.13.0 + executorch 1.5.1)"

# ExecuTorch ScalarType codes (executorch/runtime/core/portable_type/scalar_type.h) -> numpy dtype names
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64", 11: "bool"}


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("executorch")
    except Exception:
        return None


def _tensor_spec(info: Any, name: str) -> TensorSpec:
    code = int(info.dtype())
    if code not in SCALAR_TYPES:
        raise EdgekitError(
            f"tensor {name} has ExecuTorch scalar type {code}, which edgekit cannot feed", "use float, integer or bool inputs"
        )
    shape = [int(d) for d in info.sizes()]
    return TensorSpec(name=name, shape=shape, dtype=SCALAR_TYPES[code], shape_signature=list(shape))


def translate_load_error(exc: BaseException, path: str, log: str = "") -> EdgekitError:
    text = f"{exc} {log}"
    m = re.search(r"Backend (\w+) is not registered", text)
    if m:
        backend = m.group(1)
        if backend == "CoreMLBackend":
            return EnvironmentMissing(
                f"{path} is lowered to Core ML, which runs only on Apple hardware (CoreMLBackend is not registered here)",
                "run it on a Mac or an iPhone with an ExecuTorch build that links the Core ML backend",
            )
        return EnvironmentMissing(
            f"{path} needs {backend}, which this ExecuTorch runtime does not include",
            "run it with a runtime built with that backend, or rebuild the .pte with executorch-xnnpack/-portable",
        )
    if "Missing operator" in text or "missing operator" in text.lower() or "OperatorMissing" in text:
        op = ""
        for line in (log + "\n" + str(exc)).splitlines():
            if "perator" in line and "issing" in line:
                op = line.strip()[:200]
                break
        return EdgekitError(
            f"{path} calls an operator this ExecuTorch runtime has no kernel for ({op or exc})",
            "rebuild the .pte so the op is delegated, or run it with a runtime that links the kernel",
        )
    first = first_line(exc)
    return EdgekitError(
        f"ExecuTorch could not load {path}: {first}",
        "the file is truncated, corrupt or from an incompatible ExecuTorch version; rebuild it",
    )


class PteSession(Session):
    def __init__(self, program: Any, method: Any, path: str, etdump_path: str | None):
        import torch

        self._torch = torch
        self.program = program
        self.method = method
        self.path = path
        self.etdump_path = etdump_path
        meta = method.method_meta()
        self.inputs = [_tensor_spec(meta.input_tensor_meta(i), f"input_{i}") for i in range(meta.num_inputs())]
        self.outputs_spec = []
        for i in range(meta.num_outputs()):
            try:
                self.outputs_spec.append(_tensor_spec(meta.output_tensor_meta(i), f"output_{i}"))
            except Exception:  # non-tensor outputs (ints) have no tensor meta
                self.outputs_spec.append(TensorSpec(name=f"output_{i}", shape=[], dtype="float32"))
        self.delegates = []
        self.load_phases_ms = {}
        self._tensors: list[Any] = []
        self.inputs_consumed = True

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        import numpy as np

        self._tensors = [self._torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        self.method.set_inputs(self._tensors)

    def reset_inputs(self) -> None:
        self.method.set_inputs(self._tensors)  # copies into the planned input buffers again

    def invoke(self) -> None:
        self.method.execute()

    def outputs(self) -> list[Any]:
        out = []
        for t in self.method.get_outputs(clone_outputs=True):
            out.append(t.numpy() if hasattr(t, "numpy") else __import__("numpy").asarray(t))
        return out

    def close(self) -> None:
        if self.etdump_path and self.program.has_etdump():
            self.program.write_etdump_result_to_file(self.etdump_path, self.etdump_path + ".debug")


class ExecuTorchRuntime(Runtime):
    format = "pte"
    crash_hint = (
        "a .pte must come from the executorch version that runs it: rebuild it with 'edgekit build', "
        "or try --threads 1 or the executorch-portable target; rerun with --debug to see the runtime's log"
    )

    def providers(self) -> list[str]:
        import importlib.util

        return ["executorch"] if importlib.util.find_spec("executorch") is not None else []

    def describe(self, options: RunOptions) -> dict:
        if not self.providers():
            raise EnvironmentMissing("the ExecuTorch runtime is not installed", INSTALL_HINT)
        return {"name": "executorch", "version": _version()}

    def import_runtime(self, options: RunOptions) -> None:
        try:
            import torch  # noqa: F401  (the session's tensors; the bulk of the import's memory)
            from executorch.extension.pybindings import portable_lib  # noqa: F401
        except ImportError:
            return  # load() raises the one-line error
        try:
            import executorch.kernels.quantized  # noqa: F401
        except Exception:
            pass

    def load(self, path: str, options: RunOptions) -> Session:
        if options.provider not in (None, "executorch"):
            raise EdgekitError(f"unknown ExecuTorch runtime {options.provider!r}", "omit --runtime for .pte files")
        if not options.xnnpack:
            # A .pte is lowered at build time; the runtime cannot undo a delegation.
            raise EdgekitError(
                "--no-xnnpack cannot apply to a .pte: delegation is fixed when the program is built",
                "build the executorch-portable target to measure without XNNPACK",
            )
        t_import = time.perf_counter()
        try:
            from executorch.extension.pybindings import portable_lib
        except ImportError as exc:
            raise EnvironmentMissing(f"the ExecuTorch runtime cannot be imported ({exc})", INSTALL_HINT) from None
        try:  # registers the quantized kernels int8 programs need when ops stay off the delegate
            import executorch.kernels.quantized  # noqa: F401
        except Exception:
            pass
        etdump_path = options.extra.get("etdump_path")
        if options.threads:
            portable_lib._unsafe_reset_threadpool(int(options.threads))  # before loading: see module doc
        failure: BaseException | None = None
        t0 = t1 = t2 = time.perf_counter()
        with native_stderr() as cap:
            try:
                program = portable_lib._load_program(path, enable_etdump=bool(etdump_path), debug_buffer_size=0)
                t1 = time.perf_counter()
                names = [program.get_method_name(i) for i in range(program.num_methods())]
                method_name = options.extra.get("method") or ("forward" if "forward" in names else names[0])
                if method_name not in names:
                    raise EdgekitError(f"{path} has no method {method_name!r}", f"its methods are: {', '.join(names)}")
                method = program.load_method(method_name)
                t2 = time.perf_counter()
            except EdgekitError:
                raise
            except (RuntimeError, ValueError, OSError, IndexError) as exc:
                failure = exc
        log = cap.text
        if failure is not None:
            raise translate_load_error(failure, path, log) from None
        session = PteSession(program, method, path, etdump_path)
        # Sizes are fixed at export (upper bounds for dynamic dims); a smaller or other shape is
        # applied when the inputs are set, and a static tensor then refuses it with its own error.
        session.inputs = with_shapes(session.inputs, plan_shapes(session.inputs, options.input_shapes))
        if options.extra.get("reset_inputs") is False:  # diagnosis only: shows what the re-set prevents
            session.inputs_consumed = False
        session.load_phases_ms = {"import": (t0 - t_import) * 1e3, "load": (t1 - t0) * 1e3, "load_method": (t2 - t1) * 1e3}
        try:
            from edgekit.torchkit.pte import read_delegation, session_delegates

            session.delegates = session_delegates(read_delegation(path, method_name))
        except Exception:  # the report is informative; never fail a measurement over it
            session.delegates = []
        return session


RUNTIME = ExecuTorchRuntime()

FORMAT = register_format(
    FormatRecord(
        name="pte",
        title="ExecuTorch program",
        suffixes=(".pte",),
        # The flatbuffer's file identifier: "ET" and two version digits at bytes 4-8 ("ET12").
        detect=lambda path, head: len(head) >= 8 and head[4:6] == b"ET",
        priority=10,
        providers=(
            Provider(
                "executorch",
                "edgekit.runtimes.executorch:RUNTIME",
                package="executorch",
                distributions=("executorch",),
                description="the ExecuTorch Python runtime (pybindings)",
            ),
        ),
        probe=ProbeLoader("load_pte"),
        doctor_check="edgekit.devices.checks:check_pte",
        blocking=frozenset({"no-executorch"}),
        hints=Hints(install=INSTALL_HINT),
        packaging=Packaging(
            "pte",
            True,
            "ExecuTorch: Module.load takes a file path, not an asset stream: copy the .pte from assets to "
            "context.getFilesDir() once (e.g. on first launch), then Module.load(file.getAbsolutePath()).",
            'ExecuTorch: Module(filePath: Bundle.main.path(forResource:ofType:"pte")) loads it from the bundle.',
        ),
        android_runner="edgekit.transports.android_executor_runner:run_executor_runner",
        android_tool="executor_runner",
    )
)
