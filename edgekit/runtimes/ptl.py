"""PyTorch Mobile .ptl files on the lite interpreter (``torch.jit.mobile``), deprecated upstream.

A .ptl carries no input shapes or dtypes, which the harness needs to make inputs. edgekit's ptl
target stores them in the file as ``extra/edgekit.json`` (an extra file the lite interpreter
ignores); for other .ptl files the shapes come from a manifest entry beside the file or from
``RunOptions.extra["input_shapes"]``. Threads go through ``torch.set_num_threads`` (the lite
interpreter uses ATen's intra-op pool). The lite interpreter has no delegates on CPU builds.
"""

from __future__ import annotations

import json
import time
import warnings
import zipfile
from typing import Any, Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.runtimes.formats import FormatRecord, Hints, Packaging, ProbeLoader, Provider, register_format
from edgekit.runtimes.base import RunOptions, Runtime, Session, TensorSpec, plan_shapes, with_shapes

METADATA_NAME = "edgekit.json"
INSTALL_HINT = "install PyTorch: pip install 'edgekit[torch]' (torch 2.13.0)"


def read_metadata(path: str) -> dict | None:
    """edgekit's metadata stored in a .ptl by the ptl target, or None for foreign files."""
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith("/extra/" + METADATA_NAME):
                    return json.loads(z.read(name).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return None


def _input_specs(path: str, options: RunOptions) -> list[TensorSpec]:
    declared = options.extra.get("input_shapes")
    if declared:
        return [TensorSpec(name=f"input_{i}", shape=list(s), dtype="float32") for i, s in enumerate(declared)]
    meta = read_metadata(path)
    if meta and meta.get("inputs"):
        return [TensorSpec(name=i["name"], shape=list(i["shape"]), dtype=i.get("dtype", "float32")) for i in meta["inputs"]]
    from edgekit.build.artifacts import find_manifest_entry

    entry = find_manifest_entry(path)
    if entry is not None and entry.inputs:
        return [TensorSpec(name=i["name"], shape=list(i["shape"]), dtype=i.get("dtype", "float32")) for i in entry.inputs]
    raise EdgekitError(
        f"{path} does not record its input shapes (a .ptl stores none)",
        "build it with 'edgekit build --target ptl', or keep its manifest.json beside it",
    )


class PtlSession(Session):
    def __init__(self, module: Any, path: str, inputs: list[TensorSpec], torch: Any):
        self.module = module
        self.path = path
        self.inputs = inputs
        self.outputs_spec = []
        self.delegates = []
        self.load_phases_ms = {}
        self._torch = torch
        self._args: list[Any] = []
        self._out: Any = None
        # forward()'s constant (non-tensor) arguments, recorded by the ptl target: [{"name",
        # "input": i} | {"name", "value"}] in signature order; empty = tensors only.
        self.arguments: list[dict] = []

    def set_inputs(self, arrays: Sequence[Any]) -> None:
        import numpy as np

        self._args = [self._torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]

    def invoke(self) -> None:
        if self.arguments:
            self._out = self.module.forward(*[self._args[a["input"]] if "input" in a else a["value"] for a in self.arguments])
        else:
            self._out = self.module.forward(*self._args)

    def outputs(self) -> list[Any]:
        out = self._out
        items = list(out) if isinstance(out, (tuple, list)) else [out]
        arrays = [t.detach().numpy() if hasattr(t, "detach") else __import__("numpy").asarray(t) for t in items]
        if not self.outputs_spec:
            self.outputs_spec = [
                TensorSpec(name=f"output_{i}", shape=list(a.shape), dtype=str(a.dtype)) for i, a in enumerate(arrays)
            ]
        return arrays


class PtlRuntime(Runtime):
    format = "ptl"
    crash_hint = (
        "a .ptl must come from the torch version that runs it: rebuild it with 'edgekit build'; "
        "rerun with --debug to see the runtime's log"
    )

    def providers(self) -> list[str]:
        import importlib.util

        return ["torch"] if importlib.util.find_spec("torch") is not None else []

    def describe(self, options: RunOptions) -> dict:
        if not self.providers():
            raise EnvironmentMissing("PyTorch (the lite interpreter) is not installed", INSTALL_HINT)
        from importlib.metadata import version

        return {"name": "torch.jit.mobile", "version": version("torch")}

    def import_runtime(self, options: RunOptions) -> None:
        try:
            import torch  # noqa: F401
            from torch.jit.mobile import _load_for_lite_interpreter  # noqa: F401
        except ImportError:
            pass  # load() raises the one-line error

    def load(self, path: str, options: RunOptions) -> Session:
        specs = _input_specs(path, options)
        specs = with_shapes(specs, plan_shapes(specs, options.input_shapes))
        t_import = time.perf_counter()
        try:
            import torch
            from torch.jit.mobile import _load_for_lite_interpreter
        except ImportError as exc:
            raise EnvironmentMissing(f"PyTorch cannot be imported ({exc})", INSTALL_HINT) from None
        if options.threads:
            torch.set_num_threads(int(options.threads))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Lite Interpreter is deprecated": recorded at build time
            try:
                module = _load_for_lite_interpreter(path)
            except (RuntimeError, ValueError, OSError) as exc:
                first = first_line(exc)
                raise EdgekitError(
                    f"the lite interpreter could not load {path}: {first}",
                    "the file is corrupt or not saved with _save_for_lite_interpreter; rebuild it",
                ) from None
        t1 = time.perf_counter()
        session = PtlSession(module, path, specs, torch)
        meta = read_metadata(path) or {}
        if isinstance(meta.get("arguments"), list):
            session.arguments = [a for a in meta["arguments"] if isinstance(a, dict) and ("input" in a or "value" in a)]
        if meta.get("outputs"):
            session.outputs_spec = [
                TensorSpec(name=o["name"], shape=list(o["shape"]), dtype=o.get("dtype", "float32")) for o in meta["outputs"]
            ]
        else:  # a foreign .ptl: learn the outputs from one call on zeros (callers size buffers from them)
            import numpy as np

            session.set_inputs([np.zeros([max(d, 1) for d in s.shape], dtype=s.dtype) for s in specs])
            session.invoke()
            session.outputs()
        session.load_phases_ms = {"import": (t0 - t_import) * 1e3, "load": (t1 - t0) * 1e3}
        return session


RUNTIME = PtlRuntime()


def is_ptl(path: str, head: bytes) -> bool:
    """A TorchScript zip with mobile bytecode (bytecode.pkl), named .ptl or .pt."""
    if head[:2] != b"PK" or not path.endswith((".ptl", ".pt")):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("bytecode.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


FORMAT = register_format(
    FormatRecord(
        name="ptl",
        title="PyTorch Mobile model",
        suffixes=(".ptl", ".pt"),
        detect=is_ptl,
        priority=10,
        providers=(
            Provider(
                "torch",
                "edgekit.runtimes.ptl:RUNTIME",
                package="torch",
                distributions=("torch",),
                description="PyTorch's lite interpreter (torch.jit.mobile)",
            ),
        ),
        probe=ProbeLoader("load_ptl"),
        doctor_check="edgekit.devices.checks:check_ptl",
        blocking=frozenset({"no-torch"}),
        hints=Hints(install=INSTALL_HINT),
        packaging=Packaging(
            "ptl",
            True,
            "PyTorch Mobile (deprecated in favour of ExecuTorch): LiteModuleLoader.load takes a file path: copy the "
            ".ptl from assets to getFilesDir() first.",
            "PyTorch Mobile (LibTorch-Lite): TorchModule(fileAtPath:) with the bundle path.",
        ),
    )
)
