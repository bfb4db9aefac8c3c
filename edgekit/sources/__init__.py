"""Loading the model a build starts from, for any framework, behind one registry.

A source reference is a path or ``package.module:function``. ``detect_kind`` guesses the kind from
the reference without importing a framework; the kind's loader (imported lazily through SOURCES)
returns a Source: the framework object plus what every target and the accuracy check need (input
signature, a float ``predict`` used as the reference, a content hash for the cache).

A factory ``module:function`` may return an object of any framework: the factory loader hands it
to the loader registered for the object's framework (OBJECT_KINDS), so one ``factory`` kind serves
Keras and PyTorch alike. Framework helpers add their kinds with ``SOURCES.declare`` plus a
detector in DETECTORS and a prefix in OBJECT_KINDS.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from edgekit.errors import EdgekitError
from edgekit.registry import Registry

SOURCES: Registry = Registry(
    "source kind",
    {
        "keras": "edgekit.sources.keras",
        "saved_model": "edgekit.sources.saved_model",
        "factory": "edgekit.sources.factory",
        "torch": "edgekit.sources.torch_module",
        "pt2": "edgekit.sources.torch_exported",
        "torchscript": "edgekit.sources.torch_script",
        "onnx": "edgekit.sources.onnx",
    },
)

FACTORY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass
class InputSpec:
    """One model input as the build sees it: a fixed shape with the batch dimension first."""

    name: str
    shape: list[int]
    dtype: str = "float32"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class Source:
    """A loaded model. ``model`` is the framework object; ``predict`` is the float reference."""

    kind: str  # registry key of the loader: keras, saved_model, torch, pt2 ...
    framework: str  # "tf", "torch" or "onnx": which targets can take it
    ref: str  # what the user gave (path or module:function)
    name: str  # short name used in artifact file names
    model: Any
    inputs: list[InputSpec]
    output_names: list[str] = field(default_factory=list)
    content_hash: str = ""  # sha256 of the files (or factory code + weights) the model came from
    info: dict = field(default_factory=dict)  # framework versions, parameter count ...
    predict_fn: Callable[[list], list] | None = None
    # Frozen function traced at given input specs (TF sources): what makes an artifact's signature
    # static. None for frameworks whose targets fix shapes another way.
    trace_fn: Callable[[list[InputSpec]], Any] | None = None
    # A new copy of the model that nothing has run yet (torch sources). A model may keep state
    # between calls (a recurrent detector updating a buffer in forward): whatever edgekit runs
    # (shape checks, the float reference, tracing) must not leak into the file it saves, so
    # targets convert from ``fresh_model()`` and ``model`` itself is never run.
    fresh_fn: Callable[[], Any] | None = None
    # Outputs differ between two calls on the same input: the float reference then runs sample by
    # sample, in order, from a fresh copy (as the artifact's runtime will), never as one batch.
    stateful: bool = False
    # Non-tensor forward() arguments bound to constants ([source] args / --arg), in signature
    # order with the tensor inputs: [{"name", "input": index} | {"name", "value", "type"}].
    call_args: list[dict] = field(default_factory=list)
    reset_fn: Callable[[], None] | None = None

    def fresh_model(self) -> Any:
        """A never-run copy of the model (``model`` itself for sources that keep no state)."""
        return self.fresh_fn() if self.fresh_fn is not None else self.model

    def reset(self) -> None:
        """Start ``predict`` again from the model's fresh state (stateful models)."""
        if self.reset_fn is not None:
            self.reset_fn()

    def predict(self, arrays: Sequence[Any]) -> list:
        """Run the float model on one batch (one array per input); returns numpy arrays."""
        if self.predict_fn is None:
            raise NotImplementedError(f"{self.kind} sources do not predict")
        return [_as_numpy(o) for o in self.predict_fn(list(arrays))]

    def describe(self) -> dict:
        return {
            "ref": self.ref,
            "kind": self.kind,
            "framework": self.framework,
            "name": self.name,
            "sha256": self.content_hash,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": list(self.output_names),
            **(
                {"args": {a["name"]: a["value"] for a in self.call_args if "value" in a}}
                if any("value" in a for a in self.call_args)
                else {}
            ),
            **({"stateful": True} if self.stateful else {}),
            **({"info": self.info} if self.info else {}),
        }


def _as_numpy(x: Any):
    import numpy as np

    if hasattr(x, "detach"):  # torch tensors
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x)


# Guess a kind from a reference without importing a framework. Each detector returns a kind or None;
# the first answer wins, so more specific detectors go first (framework helpers insert theirs).
def _detect_factory(ref: str) -> str | None:
    return "factory" if FACTORY_RE.match(ref) and not os.path.exists(ref) else None


def _detect_saved_model(ref: str) -> str | None:
    return "saved_model" if os.path.isdir(ref) and os.path.exists(os.path.join(ref, "saved_model.pb")) else None


def _detect_keras(ref: str) -> str | None:
    return "keras" if ref.lower().endswith((".keras", ".h5", ".hdf5")) else None


TORCHSCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript", ".ptl", ".jit")


def _detect_torch_file(ref: str) -> str | None:
    """.pt2 = torch.export archive; a TorchScript archive is a zip holding code/ and constants.pkl."""
    if ref.lower().endswith(".pt2"):
        return "pt2"
    if ref.lower().endswith(TORCHSCRIPT_SUFFIXES) and os.path.isfile(ref):
        import zipfile

        try:
            with zipfile.ZipFile(ref) as z:
                if any(n.endswith("constants.pkl") for n in z.namelist()):
                    return "torchscript"
        except zipfile.BadZipFile:
            return None
    return None


def _detect_onnx(ref: str) -> str | None:
    return "onnx" if ref.lower().endswith(".onnx") else None


DETECTORS: list[Callable[[str], str | None]] = [
    _detect_factory,
    _detect_saved_model,
    _detect_keras,
    _detect_torch_file,
    _detect_onnx,
]

# Top-level module of an object's class (or a base class) -> the source kind that wraps it.
OBJECT_KINDS: dict[str, str] = {"keras": "keras", "tf_keras": "keras", "torch": "torch"}


def detect_kind(ref: str) -> str:
    for detector in DETECTORS:
        kind = detector(ref)
        if kind:
            return kind
    if not FACTORY_RE.match(ref) and not os.path.exists(ref):
        raise EdgekitError(f"no such model: {ref}", "check the source path (or give package.module:function)")
    raise EdgekitError(
        f"cannot tell what kind of model {ref} is",
        f"use a .keras/.h5/.onnx file, a SavedModel directory or package.module:function, or set --source-kind ({', '.join(SOURCES.names())})",
    )


def kind_of_object(obj: Any) -> str:
    """The source kind for a model object returned by a factory, from its class hierarchy."""
    for cls in type(obj).__mro__:
        top = (cls.__module__ or "").split(".")[0]
        if top in OBJECT_KINDS:
            return OBJECT_KINDS[top]
    raise EdgekitError(
        f"the factory returned a {type(obj).__module__}.{type(obj).__name__}, which edgekit cannot build from",
        f"return a model of one of: {', '.join(sorted(set(OBJECT_KINDS.values())))}",
    )


class SourceLoader:
    """Loads one kind of reference. ``from_object`` wraps an in-memory model (from a factory)."""

    kind: str = ""
    takes_args = False  # accepts constant forward() arguments (options["args"], [source] args / --arg)

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        raise NotImplementedError

    def from_object(self, obj: Any, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        raise EdgekitError(f"{self.kind} sources cannot come from a factory", "point at the model file instead")


def load_source(ref: str, kind: str | None = None, inputs: list[InputSpec] | None = None, options: dict | None = None) -> Source:
    """Load ``ref`` with the loader of ``kind`` (guessed when None)."""
    if not ref:
        raise EdgekitError("no source model given", "pass --source MODEL or set [source] path in edgekit.toml")
    kind = kind or detect_kind(ref)
    loader: SourceLoader = SOURCES.get(kind)
    if kind != "factory" and not FACTORY_RE.match(ref) and not os.path.exists(ref):
        raise EdgekitError(f"no such model: {ref}", "check the source path")
    options = dict(options or {})
    if options.get("args"):
        refuse_args(loader, options["args"], ref)
    peek = getattr(loader, "peek_input_names", None)
    if inputs and peek is not None:  # a wrong --input-shape name fails before the framework loads
        check_declared_names(inputs, peek(ref) or [], ref)
    return loader.load(ref, inputs, options)


def refuse_args(loader: "SourceLoader", args: dict, ref: str) -> None:
    """Constant arguments given for a kind of source that cannot take them: say so, never ignore them."""
    if getattr(loader, "takes_args", False) or loader.kind == "factory":  # a factory's model kind decides
        return
    raise EdgekitError(
        f"--arg / [source] args ({', '.join(sorted(args))}) given, but {loader.kind} sources take no constant arguments",
        "constant forward() arguments apply to TorchScript sources; for an nn.Module, bind them in the factory",
    )


def read_model_bytes(path: str) -> bytes:
    """A model file's bytes, read once (loaders rebuild fresh copies from them), or one edgekit line."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise EdgekitError(f"cannot read {path} ({exc.strerror or exc})", "check the file's permissions") from None


def hash_path(path: str) -> str:
    """sha256 over a file, or over every file of a directory (names and contents, in order)."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                h.update(os.path.relpath(full, path).encode())
                with open(full, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
    else:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def source_name(ref: str) -> str:
    """A short file-name-safe name: the file stem or the factory function's name."""
    if FACTORY_RE.match(ref) and not os.path.exists(ref):
        base = ref.split(":")[1]
    else:
        base = os.path.basename(os.path.normpath(ref))
        base = re.sub(r"\.(keras|h5|hdf5|pt2|pt|ptl|pth|jit|onnx)$", "", base, flags=re.I)
    return re.sub(r"[^\w.-]+", "_", base) or "model"


def check_declared_names(declared: list[InputSpec] | None, names: Sequence[str], ref: str) -> None:
    """A declared input name the model does not have is a mistake: say which names it has.

    Called with the names read cheaply from the file (before a framework loads, where the format
    allows it) and again with the loaded model's own names.
    """
    if not declared or not names:
        return
    unknown = [d.name for d in declared if d.name and _clean_name(d.name) not in {_clean_name(n) for n in names}]
    if unknown:
        raise EdgekitError(
            f"{ref} has no input named {unknown[0]!r} (its inputs: {', '.join(names)})",
            f"use one of those names: --input-shape {names[0]}=1,H,W,C",
        )


def _clean_name(name: str) -> str:
    return name.split(":")[0]


def merge_inputs(declared: list[InputSpec] | None, found: list[InputSpec], ref: str) -> list[InputSpec]:
    """The model's own input signature, with fixed shapes from the spec where it has None dims.

    Declared shapes are matched by name when they carry one (``--input-shape NAME=...``), else by
    position; a name the model does not have is an error that lists the real names.
    """
    if not declared:
        for spec in found:
            if any(d is None or d < 0 for d in spec.shape[1:]):
                raise EdgekitError(
                    f"input {spec.name!r} of {ref} has a dynamic shape {spec.shape}",
                    "declare fixed shapes with --input-shape NAME=1,224,224,3 or [[inputs]] in edgekit.toml",
                )
        return [InputSpec(s.name, [1 if (d is None or d < 0) else int(d) for d in s.shape], s.dtype) for s in found]
    check_declared_names(declared, [f.name for f in found], ref)
    if len(declared) != len(found):
        raise EdgekitError(
            f"the spec declares {len(declared)} inputs but {ref} has {len(found)}",
            f"declare one shape per model input ({', '.join(s.name for s in found)})",
        )
    if all(d.name for d in declared):
        by_name = {_clean_name(d.name): d for d in declared}
        if len(by_name) != len(declared):
            raise EdgekitError(f"an input of {ref} is declared twice", "declare each input shape once")
        declared = [by_name[_clean_name(f.name)] for f in found]
    merged = []
    for d, f in zip(declared, found):
        if len(d.shape) != len(f.shape) or any(
            fd is not None and fd >= 0 and fd != dd for fd, dd in zip(f.shape[1:], d.shape[1:])
        ):
            raise EdgekitError(
                f"declared shape {d.shape} for input {d.name or f.name!r} does not match the model's {f.shape}",
                "fix the input shape in edgekit.toml or --input-shape",
            )
        merged.append(InputSpec(f.name, [int(x) for x in d.shape], f.dtype or d.dtype))  # the model knows its dtype
    return merged
