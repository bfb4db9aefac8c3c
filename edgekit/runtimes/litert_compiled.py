"""TFLite models on LiteRT's CompiledModel API (``ai_edge_litert.compiled_model``): the ``litert-compiled``
provider of the tflite format (``--runtime litert-compiled``).

CompiledModel is what ai-edge-litert's own ``litert-benchmark`` runs and the API LiteRT 2.x
recommends for accelerators: the model is compiled for a hardware target at load, and inference
runs on TensorBuffers (``create_input_buffers`` / ``write`` / ``run_by_index`` / ``read``) instead
of the Interpreter's tensors. The worker measures it exactly like the Interpreter (same warm-up,
statistics and repeated-invoke output check); the result's runtime name says which provider ran.

CompiledModel reports no quantization parameters (the harness needs them to make inputs), so the
tensor specs come from the same package's Interpreter, built but never allocated, outside the
timed load. It reports no per-node delegation either: ``is_fully_accelerated()`` is all there is.
Measured (ai-edge-litert 2.3.0): a model with variable tensors (an LSTM's state) does not load
("Variable tensors not yet supported"). Standard library + numpy at import (ships to devices).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.harness.capture import native_stderr
from edgekit.runtimes.base import RunOptions, Runtime, Session, TensorSpec, plan_shapes
from edgekit.runtimes.litert import (
    INSTALL_HINT,
    _spec,
    provider_version,
    translate_load_error,
)

NAME = "litert-compiled"


class CompiledSession(Session):
    """One CompiledModel with its input and output TensorBuffers (signature 0)."""

    def __init__(self, model: Any, inputs: list[TensorSpec], outputs: list[TensorSpec]):
        self.model = model
        self.inputs = inputs
        self.outputs_spec = outputs
        self.delegates = []
        self.load_phases_ms = {}
        self._in = model.create_input_buffers(0)
        self._out = model.create_output_buffers(0)

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        import numpy as np

        resized = False
        for i, (spec, arr) in enumerate(zip(self.inputs, arrays)):
            if list(arr.shape) != list(spec.shape):
                self.model.resize_input_tensor(i, list(arr.shape), 0, strict=False)
                self.inputs[i] = TensorSpec(**{**spec.to_dict(), "shape": list(arr.shape)})
                resized = True
        if resized:  # buffers are sized at creation: make them again for the new shapes
            self._in = self.model.create_input_buffers(0)
            self._out = self.model.create_output_buffers(0)
            self.outputs_spec = [
                TensorSpec(**{**s.to_dict(), "shape": list(b.get_tensor_details()["shape"])})
                for s, b in zip(self.outputs_spec, self._out)
            ]
        for buf, arr in zip(self._in, arrays):
            arr = np.ascontiguousarray(arr)
            try:
                buf.write(arr)
            except ValueError:  # a dtype TensorBuffer does not name (int64, bool): its bytes are the same
                buf.write(arr.reshape(-1).view(np.uint8))

    def invoke(self) -> None:
        self.model.run_by_index(0, self._in, self._out)

    def outputs(self) -> list[Any]:
        import numpy as np

        out = []
        for spec, buf in zip(self.outputs_spec, self._out):
            n = int(np.prod(spec.shape)) if spec.shape else 1
            dtype = np.dtype(spec.dtype)
            try:
                flat = buf.read(n, dtype)
            except ValueError:  # TensorBuffer.read has no int64 (ArgMax outputs): read the bytes (measured: equal)
                flat = buf.read(n * dtype.itemsize, np.uint8).view(dtype)
            out.append(flat.reshape(spec.shape))
        return out

    def close(self) -> None:
        self._in = self._out = []
        self.model.close()


def _import():
    from ai_edge_litert import compiled_model, interpreter, options

    return compiled_model, interpreter, options


def _specs(interpreter_mod: Any, path: str, model: Any) -> tuple[list[TensorSpec], list[TensorSpec], int]:
    """Specs in the CompiledModel's signature order, with the quantization the Interpreter reads."""
    interp = interpreter_mod.Interpreter(model_path=path)
    by_index = {d["index"]: d for d in interp.get_input_details() + interp.get_output_details()}
    try:
        nodes = len(interp._get_ops_details())
    except Exception:
        nodes = 0
    del interp
    key = list(model.get_signature_list())[0]
    ins = [_spec(by_index[d["index"]]) for d in model.get_input_tensor_details(key).values()]
    outs = [_spec(by_index[d["index"]]) for d in model.get_output_tensor_details(key).values()]
    return ins, outs, nodes


class CompiledModelRuntime(Runtime):
    format = "tflite"
    crash_hint = (
        "check the model with 'edgekit inspect {model}' and try the Interpreter (omit --runtime) or "
        "--threads 1; rerun with --debug to see the runtime's log"
    )

    def providers(self) -> list[str]:
        import importlib.util

        try:
            found = importlib.util.find_spec("ai_edge_litert.compiled_model") is not None
        except ImportError:
            found = False
        return [NAME] if found else []

    def describe(self, options: RunOptions) -> dict:
        return {"name": NAME, "version": provider_version("ai_edge_litert"), "api": "CompiledModel"}

    def import_runtime(self, options: RunOptions) -> None:
        try:
            _import()
        except ImportError:
            pass  # load() raises the one-line error

    def load(self, path: str, options: RunOptions) -> Session:
        t_import = time.perf_counter()
        try:
            cm, interpreter_mod, opts = _import()
        except ImportError as exc:
            raise EnvironmentMissing(f"LiteRT's CompiledModel cannot be imported ({first_line(exc)})", INSTALL_HINT) from None
        cpu = opts.CpuOptions(num_threads=int(options.threads or 0))  # 0: LiteRT decides
        if not options.xnnpack:
            cpu.kernel_mode = opts.CpuKernelMode.BUILTIN
        model_options = opts.Options(hardware_accelerators=opts.HardwareAccelerator.CPU, cpu_options=cpu)
        failure: BaseException | None = None
        model = None
        t0 = t1 = t2 = time.perf_counter()
        with native_stderr() as cap:
            try:
                model = cm.CompiledModel.from_file(path, options=model_options)
                t1 = time.perf_counter()
                inputs, outputs, nodes = _specs(interpreter_mod, path, model)
                plan = plan_shapes(inputs, options.input_shapes, options.inferred_shapes)
                for i, shape in plan.items():
                    model.resize_input_tensor(i, shape, 0, strict=False)
                    inputs[i] = TensorSpec(**{**inputs[i].to_dict(), "shape": list(shape)})
                t2 = time.perf_counter()
                session = CompiledSession(model, inputs, outputs)
                if plan:
                    session.outputs_spec = [
                        TensorSpec(**{**s.to_dict(), "shape": list(b.get_tensor_details()["shape"])})
                        for s, b in zip(outputs, session._out)
                    ]
                t3 = time.perf_counter()
            except EdgekitError:
                raise
            except (ValueError, RuntimeError, OSError) as exc:
                failure = exc
        if failure is not None:
            log = cap.text
            if "Variable tensors not yet supported" in f"{failure} {log}":
                raise EdgekitError(
                    f"LiteRT's CompiledModel cannot load {path}: it has variable tensors (state kept between runs)",
                    "run it on the Interpreter: omit --runtime litert-compiled",
                ) from None
            raise translate_load_error(failure, path, log) from None
        session.load_phases_ms = {"import": (t0 - t_import) * 1e3, "load": (t1 - t0) * 1e3, "allocate": (t3 - t2) * 1e3}
        session.log = cap.text
        if options.xnnpack and model.is_fully_accelerated() and nodes:
            session.delegates = [{"name": "XNNPACK", "nodes": nodes, "total_nodes": nodes, "source": "is_fully_accelerated"}]
        return session


RUNTIME = CompiledModelRuntime()
