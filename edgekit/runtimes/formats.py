"""One record per artifact format, and the registry every module reads them from.

Everything edgekit knows about a format lives in its ``FormatRecord``, owned by the format's
runtime module (``edgekit/runtimes/<module>.py`` builds it and calls ``register_format``):
how to recognise it from bytes, its file suffixes, the name it gets on a device, what the probe
loads it with, the doctor check, how apps package it, the Android runner, its hints, and the
runtimes that can run it (its providers). Detection, doctor, the probe, packaging, device
profiles, transports and the adb runner read the records instead of keeping tables of their own,
so adding a format is its runtime module plus its tests.

Records must be importable without the format's framework (runtime modules import heavy stacks
lazily), and host-only parts (doctor checks, the adb runner, spec readers) are given as
``"module:function"`` references resolved on use, so this module and the records stay standard
library only and ship to devices inside the runner bundle without dragging host code along.

Adding a format (e.g. onnx): ``edgekit/runtimes/<fmt>.py`` with its Runtime (framework imported
inside methods) and ``FORMAT = register_format(FormatRecord(...))``; one line in BUILTIN_FORMATS
so it is listed without being imported first; a ``load_<fmt>`` function in harness/probe.py (or a
``ProbeLoader(function, file=...)`` of its own) and a doctor check (edgekit/devices/checks.py or
its own module); then a sample file in tests/test_formats.py SAMPLES, which checks the record is
complete. A second runtime of an existing format is one more ``Provider`` in that format's record
(``--runtime NAME`` selects it; edgekit/runtimes/litert_compiled.py is one).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

# Formats edgekit ships, in the order messages list them: name -> the module that registers it.
# A format outside edgekit registers in-process with register_format (or declare_format).
BUILTIN_FORMATS: dict[str, str] = {
    "tflite": "edgekit.runtimes.litert",
    "edgetpu": "edgekit.runtimes.edgetpu",
    "pte": "edgekit.runtimes.executorch",
    "ptl": "edgekit.runtimes.ptl",
    "onnx": "edgekit.runtimes.onnxrt",
}


@dataclass(frozen=True)
class Provider:
    """One runtime that can run a format: what ``--runtime NAME`` selects and results record."""

    name: str
    runtime: str  # "module:attribute" of the edgekit.runtimes.base.Runtime object that runs it
    package: str | None = None  # the Python package it imports (probe facts, doctor's version checks)
    distributions: tuple[str, ...] = ()  # pip names of that package, as the probe reports them
    description: str = ""


@dataclass(frozen=True)
class ProbeLoader:
    """What ``harness/probe.py --load`` loads the format with on a device.

    ``function`` is a standard-library-only ``f(path, provider=None, input_shapes=None) -> dict``
    (keys: runtime, ok, error); ``file`` defines it (None: probe.py itself), and is pushed beside
    the probe, so a format outside edgekit brings its own loader."""

    function: str
    file: str | None = None

    def argument(self) -> str:
        """The probe's --loader value: FUNCTION, or FILE_NAME:FUNCTION for a pushed file."""
        import os

        return f"{os.path.basename(self.file)}:{self.function}" if self.file else self.function


@dataclass(frozen=True)
class Packaging:
    """How one artifact format ships in apps (edgekit package)."""

    suffix: str  # file extension in the app
    no_compress: bool  # must stay uncompressed in the APK (memory-mapped or read by path)
    android: str  # how the app loads it on Android
    ios: str  # and on iOS


@dataclass(frozen=True)
class Hints:
    """Texts a user sees about this format."""

    install: str  # how to get a runtime for it
    # (what, hint) when a file has this format's suffix but not its content; None: "cannot tell"
    mismatch: tuple[str, str] | None = None


@dataclass(frozen=True)
class FormatRecord:
    name: str
    title: str  # "TFLite model", for sentences
    suffixes: tuple[str, ...]  # the first is canonical (the name on a device: "model" + suffixes[0])
    detect: Callable[[str, bytes], bool]  # (path, first HEAD_BYTES bytes) -> is it this format?
    providers: tuple[Provider, ...]  # the first is the default (it may pick among installed packages)
    probe: ProbeLoader
    doctor_check: str  # "module:function" (path, facts, python, provider) -> (problems, info)
    blocking: frozenset[str]  # doctor problem codes that make the load check pointless
    hints: Hints
    packaging: Packaging | None = None
    priority: int = 0  # detection order, highest first (edgetpu before tflite: both are TFL3)
    android_runner: str | None = None  # "module:function" measuring it over adb, None: cannot
    android_tool: str | None = None  # the binary that runner drives, for messages
    spec_reader: str | None = None  # "module:function" path -> (inputs, outputs) without a runtime
    accelerator: str | None = None  # the accelerator the format is compiled for ("edgetpu"), if any
    cpu_delegate: str | None = None  # the default CPU delegate --no-xnnpack turns off, if that applies
    inspector: str | None = None  # module with describe(path, input_shapes) and render(info) for edgekit inspect

    def remote_name(self) -> str:
        """The file name an artifact of this format gets on a device (never the user's name)."""
        return "model" + self.suffixes[0]

    def provider(self, name: str | None) -> Provider | None:
        """The provider ``--runtime name`` selects (None: the default; unknown: None)."""
        if not name:
            return self.providers[0]
        return next((p for p in self.providers if p.name == name), None)


HEAD_BYTES = 64


def resolve(ref: str) -> Any:
    """'package.module:attribute' -> the attribute (imports the module)."""
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class FormatRegistry:
    """Format records by name, imported lazily from the modules that own them, in declaration order."""

    def __init__(self, modules: dict[str, str]):
        self._modules = dict(modules)
        self._records: dict[str, FormatRecord] = {}

    def declare(self, name: str, module: str) -> None:
        self._modules[name] = module

    def register(self, record: FormatRecord) -> FormatRecord:
        old = self._records.get(record.name)
        if old is not None and old is not record:
            raise ValueError(f"format {record.name!r} registered twice")
        self._records[record.name] = record
        self._modules.setdefault(record.name, "")
        return record

    def unregister(self, name: str) -> None:
        """Forget a format (tests that register a toy one clean up with this)."""
        self._records.pop(name, None)
        if name not in BUILTIN_FORMATS:
            self._modules.pop(name, None)

    def names(self) -> list[str]:
        return list(self._modules)

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self):
        return iter(self.names())

    def get(self, name: str) -> FormatRecord:
        from edgekit.errors import EdgekitError

        if name not in self._records and self._modules.get(name):
            importlib.import_module(self._modules[name])
        try:
            return self._records[name]
        except KeyError:
            raise EdgekitError(
                f"unknown runtime format {name!r}", f"choose one of: {', '.join(self.names()) or 'none'}"
            ) from None

    def records(self) -> list[FormatRecord]:
        """Every record, in declaration order (imports the light runtime modules, never a framework)."""
        return [self.get(n) for n in self.names()]

    def by_priority(self) -> list[FormatRecord]:
        return sorted(self.records(), key=lambda r: -r.priority)


FORMATS = FormatRegistry(BUILTIN_FORMATS)


def register_format(record: FormatRecord) -> FormatRecord:
    return FORMATS.register(record)


def get_format(name: str) -> FormatRecord:
    return FORMATS.get(name)


def format_names() -> list[str]:
    return FORMATS.names()


def _join(items: list[str], last: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def runnable_files() -> str:
    """'.tflite, _edgetpu.tflite, .pte and .ptl' (each format's canonical suffix)."""
    return _join([r.suffixes[0] for r in FORMATS.records()], "and")


def model_kinds() -> str:
    """'a .tflite, .pte or .ptl file' (distinct canonical suffixes), for 'pass ...' hints."""
    seen: list[str] = []
    for r in FORMATS.records():
        suffix = "." + r.suffixes[0].rsplit(".", 1)[-1]
        if suffix not in seen:
            seen.append(suffix)
    return f"a {_join(seen, 'or')} file"


def remote_name_for(local: str) -> str:
    """The device file name for a local artifact, by its name's longest known suffix ('.bin' if none):
    the suffix keeps format detection working on the device."""
    import os

    name = os.path.basename(local).lower()
    suffixes = sorted({s for r in FORMATS.records() for s in r.suffixes}, key=len, reverse=True)
    for suffix in suffixes:
        if name.endswith(suffix):
            return "model" + suffix
    return "model.bin"


def runtime_for(fmt: str, provider: str | None = None):
    """The Runtime that runs ``fmt`` with ``--runtime provider``: the provider's own runtime, else
    the format's default runtime (which accepts or refuses the name with its own message)."""
    record = FORMATS.get(fmt)
    chosen = record.provider(provider) or record.providers[0]
    return resolve(chosen.runtime)


def accelerator_formats(accelerator: str) -> set[str]:
    return {r.name for r in FORMATS.records() if r.accelerator == accelerator}
