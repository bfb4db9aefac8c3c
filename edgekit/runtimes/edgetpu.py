"""Edge TPU compiled models (``*_edgetpu.tflite``): a TFLite interpreter plus the libedgetpu delegate.

Two ways in, best first:
1. Coral's ``pycoral.utils.edgetpu.make_interpreter`` when the real pycoral is importable (it is
   published only on Coral's own index; the PyPI project named ``pycoral`` is an unrelated program and
   has no ``pycoral.utils.edgetpu``, so importing that module is the test for "real pycoral").
2. Otherwise ``load_delegate(libedgetpu)`` handed to whichever TFLite runtime is installed
   (ai-edge-litert, tflite-runtime, TensorFlow), with the device selector as a delegate option.

Failures are told apart because the fix differs: the library missing (``OSError`` from dlopen, not the
``ValueError`` the docs promise: measured), the library present but no Edge TPU attached (the
delegate factory returns null -> ``ValueError: Failed to load delegate``), and a bad selector.
Standard library only at import: this module ships to devices inside the runner bundle.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import time
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.runtimes.base import RunOptions, Session
from edgekit.runtimes.formats import FormatRecord, Hints, Packaging, ProbeLoader, Provider, register_format
from edgekit.runtimes.litert import (
    DISTRIBUTIONS,
    PROVIDERS,
    TFLiteRuntime,
    TFLiteSession,
    delegate_coverage,
    dynamic_shape_error,
    has_edgetpu_ops,
    is_tflite,
    resize_inputs,
    translate_load_error,
)

LIBRARY_ENV = "EDGEKIT_LIBEDGETPU"  # a full path to a libedgetpu build, overriding the default name
INSTALL_HINT = (
    "install libedgetpu1-std from Coral's apt repository (packages.cloud.google.com/apt, coral-edgetpu-stable) "
    "on the machine with the Edge TPU, or benchmark the CPU model (the file without _edgetpu) here"
)
_SELECTOR = re.compile(r"^(usb|pci)?(:\d+)?$")


def library_name(platform: str | None = None) -> str:
    """The libedgetpu file name the dynamic loader looks for on this OS."""
    if os.environ.get(LIBRARY_ENV):
        return os.environ[LIBRARY_ENV]
    platform = platform or sys.platform
    if platform.startswith("darwin"):
        return "libedgetpu.1.dylib"
    if platform.startswith("win"):
        return "edgetpu.dll"
    return "libedgetpu.so.1"


def check_selector(device: str | None) -> str | None:
    """Validate an Edge TPU selector: usb, usb:N, pci, pci:N or :N (the N-th Edge TPU of any kind)."""
    if device in (None, ""):
        return None
    if not _SELECTOR.match(device) or device in (":",):
        raise EdgekitError(
            f"unknown Edge TPU device {device!r}",
            "use usb, usb:0, pci, pci:0 or :0 (see 'edgekit devices' for what is attached)",
        )
    return device


def delegate_options(options: RunOptions) -> dict[str, str]:
    device = check_selector(options.device)
    opts = {"device": device} if device else {}
    for key, value in (options.extra or {}).get("edgetpu_options", {}).items():
        opts[str(key)] = str(value)
    return opts


def _load_delegate_fn(module: Any):
    fn = getattr(module, "load_delegate", None)
    if fn is None:  # tensorflow.lite keeps it under experimental
        fn = getattr(getattr(module, "experimental", None), "load_delegate", None)
    if fn is None:
        raise EnvironmentMissing(
            f"the TFLite runtime {getattr(module, '__name__', module)} cannot load delegates",
            "install ai-edge-litert (pip install ai-edge-litert)",
        )
    return fn


def load_edgetpu_delegate(module: Any, options: RunOptions) -> Any:
    """Load libedgetpu as a delegate of ``module``'s interpreter, or raise one clear error."""
    lib = library_name()
    opts = delegate_options(options)
    try:
        # dlopen first: a missing library then fails here with a clean OSError, before the runtime's
        # Delegate object is half-built (ai-edge-litert's then prints an AttributeError from __del__).
        ctypes.CDLL(lib)
    except OSError as exc:
        raise EnvironmentMissing(
            f"the Edge TPU runtime library {lib} is not installed here ({str(exc).split(':')[-1].strip()[:80]})",
            INSTALL_HINT,
        ) from None
    load = _load_delegate_fn(module)
    hook = sys.unraisablehook
    sys.unraisablehook = lambda *_: None  # silence the runtime's Delegate.__del__ on a failed load
    try:
        return load(lib, opts)
    except OSError as exc:
        raise EnvironmentMissing(f"the Edge TPU runtime library {lib} could not be loaded ({exc})", INSTALL_HINT) from None
    except ValueError:
        where = f" at {opts['device']}" if opts.get("device") else ""
        raise EnvironmentMissing(
            f"libedgetpu is installed but found no usable Edge TPU{where}",
            "plug in the Coral USB Accelerator (or check the PCIe/M.2 driver, /dev/apex_0), run 'edgekit devices', "
            "and make sure libedgetpu matches the compiler (runtime 14+ for compiler 16)",
        ) from None
    finally:
        import gc

        gc.collect()
        sys.unraisablehook = hook


def pycoral_make_interpreter():
    """Coral's make_interpreter when the real pycoral is importable, else None."""
    try:
        from pycoral.utils.edgetpu import make_interpreter  # type: ignore[import-not-found]
    except Exception:  # absent, or the unrelated PyPI "pycoral" that lacks pycoral.utils
        return None
    return make_interpreter


class EdgeTPURuntime(TFLiteRuntime):
    format = "edgetpu"
    crash_hint = (
        "check the Edge TPU and libedgetpu with 'edgekit doctor' (the runtime must match the compiler "
        "version in 'edgekit inspect {model}'); rerun with --debug to see the runtime's log"
    )

    def describe(self, options: RunOptions) -> dict:
        if pycoral_make_interpreter() is not None and not options.provider:
            return {"name": "pycoral", "version": _pycoral_version(), "delegate": "libedgetpu"}
        info = super().describe(options)
        info["delegate"] = library_name()
        return info

    def import_runtime(self, options: RunOptions) -> None:
        if options.provider or pycoral_make_interpreter() is None:
            super().import_runtime(options)

    def delegates_for(self, module: Any, options: RunOptions) -> list:
        return [load_edgetpu_delegate(module, options)]

    def coverage(self, interp: Any, options: RunOptions) -> list[dict]:
        return delegate_coverage(interp, "EdgeTPU")

    def load(self, path: str, options: RunOptions) -> Session:
        make_interpreter = None if options.provider else pycoral_make_interpreter()
        if make_interpreter is None:
            return super().load(path, options)
        device = check_selector(options.device)
        allocating = None
        t0 = time.perf_counter()
        try:
            interp = make_interpreter(path, device=device) if device else make_interpreter(path)
            t1 = time.perf_counter()
            allocating = interp
            resize_inputs(interp, options)
            interp.allocate_tensors()
            t2 = time.perf_counter()
        except ValueError as exc:
            if allocating is not None:
                raise dynamic_shape_error(allocating, options, path, exc) or translate_load_error(exc, path) from None
            raise EnvironmentMissing(
                f"pycoral found no usable Edge TPU{' at ' + device if device else ''} for {os.path.basename(path)}",
                "plug in the Coral USB Accelerator (or check /dev/apex_0) and run 'edgekit devices'",
            ) from None
        except (RuntimeError, OSError) as exc:
            raise dynamic_shape_error(allocating, options, path, exc) or translate_load_error(exc, path) from None
        session = TFLiteSession(interp, path)
        session.load_phases_ms = {"load": (t1 - t0) * 1e3, "allocate": (t2 - t1) * 1e3}
        session.delegates = self.coverage(interp, options)
        return session


def _pycoral_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("pycoral")
    except Exception:
        return None


RUNTIME = EdgeTPURuntime()

FORMAT = register_format(
    FormatRecord(
        name="edgetpu",
        title="Edge TPU model",
        suffixes=("_edgetpu.tflite",),
        detect=lambda path, head: is_tflite(head) and has_edgetpu_ops(path),
        priority=20,  # before tflite: an Edge TPU model is a TFL3 flatbuffer too
        # pycoral when Coral's own is importable, else the libedgetpu delegate in a TFLite Interpreter
        # package, which --runtime names.
        providers=tuple(
            Provider(
                name,
                "edgekit.runtimes.edgetpu:RUNTIME",
                package=name,
                distributions=DISTRIBUTIONS[name],
                description=f"libedgetpu in the TFLite Interpreter of {name}",
            )
            for name in PROVIDERS
        ),
        probe=ProbeLoader("load_edgetpu"),
        doctor_check="edgekit.devices.checks:check_edgetpu_model",
        blocking=frozenset({"no-tflite-runtime", "no-libedgetpu", "no-edgetpu"}),
        hints=Hints(install=INSTALL_HINT),
        packaging=Packaging(
            "tflite",
            True,
            "Edge TPU-compiled TFLite: needs the Edge TPU delegate (libedgetpu), which Android phones do not have; "
            "ship the CPU .tflite for phones.",
            "Edge TPU-compiled TFLite: no Edge TPU on iOS devices; ship the CPU .tflite instead.",
        ),
        spec_reader="edgekit.ship.package:_tflite_specs",
        accelerator="edgetpu",
    )
)
