"""What a device has for running models: the facts ``edgekit doctor`` judges artifacts against.

This file is copied to devices (over SSH or adb) and run with the device's own Python, so it uses
the standard library only and never imports edgekit. Two modes:

``python probe.py``
    Print the facts: OS, architecture, Python, installed runtime packages, pycoral (and whether it
    is Coral's or the unrelated PyPI program of the same name), libedgetpu and its runtime version,
    edgetpu_compiler, adb, attached Edge TPUs, udev rules.
``python probe.py --load PATH --format FMT [--loader [FILE:]FUNCTION] [--provider NAME] [--input-shape NAME=DIMS]``
    Try to load one model with the runtime the worker would use, and report the runtime's own
    error. This is the most trustworthy check there is (the error a user would hit, e.g. "Didn't
    find op for builtin opcode 'FULLY_CONNECTED' version '12'"), so doctor runs it in a process of
    its own per model: a runtime that aborts takes down only that probe. Which function loads a
    format is the format record's ``probe`` (edgekit.runtimes.formats.ProbeLoader): doctor passes
    it as --loader, a function here (``load_<format>`` by default) or in a file pushed beside this one.

The JSON goes to stdout on one line prefixed with ``MARKER``, because runtimes print to stdout too.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import traceback

MARKER = "EDGEKIT-PROBE "
PROBE_VERSION = 1

# Distribution names as pip knows them; import names differ (ai_edge_litert, tflite_runtime).
PACKAGES = (
    "numpy",
    "ai-edge-litert",
    "tflite-runtime",
    "tensorflow",
    "tensorflow-cpu",
    "executorch",
    "torch",
    "pycoral",
    "tflite-support",
    "onnxruntime",
)
# The order the worker picks TFLite runtimes in (edgekit.runtimes.litert.PROVIDERS).
TFLITE_PROVIDERS = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime", "tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow", "tensorflow.lite", "tensorflow"),
)
# USB ids of the Coral USB Accelerator: before its firmware is loaded, and after.
EDGETPU_USB_IDS = {("1a6e", "089a"): "usb (firmware not loaded yet)", ("18d1", "9302"): "usb"}
LIBEDGETPU_NAMES = ("libedgetpu.so.1", "libedgetpu.1.dylib", "edgetpu.dll")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _run(argv: list[str], timeout: float = 15) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout + proc.stderr).strip()


def os_info() -> dict:
    info = {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "libc": "-".join(platform.libc_ver()).strip("-") or None,
    }
    text = _read("/etc/os-release") or ""
    for line in text.splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            if key in ("ID", "ID_LIKE", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME"):
                info[key.lower()] = value.strip().strip('"')
    info["dpkg_arch"] = _run(["dpkg", "--print-architecture"]) if shutil.which("dpkg") else None
    info["apt"] = bool(shutil.which("apt-get"))
    info["sudo"] = bool(shutil.which("sudo"))
    info["uid"] = os.getuid() if hasattr(os, "getuid") else None
    return info


def python_info() -> dict:
    import importlib.util

    return {
        "version": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "pip": importlib.util.find_spec("pip") is not None,
        "ensurepip": importlib.util.find_spec("ensurepip") is not None,
        "writable": os.access(sys.prefix, os.W_OK),  # can pip install into it (a root-owned venv cannot)
        # PEP 668: a system Python that refuses `pip install` outside a virtual environment.
        "externally_managed": os.path.exists(os.path.join(os.path.dirname(os.__file__), "EXTERNALLY-MANAGED"))
        and sys.prefix == getattr(sys, "base_prefix", sys.prefix),
    }


def package_versions() -> dict:
    from importlib import metadata

    out: dict = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
        except Exception:  # a broken dist-info must not hide the others
            out[name] = None
    return out


def pycoral_info() -> dict | None:
    """Coral's pycoral (from Coral's own package index) or the unrelated PyPI project of that name.

    Read from the distribution's file list, never by importing it: the impostor is a different
    program and importing it could do anything.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution("pycoral")
    except metadata.PackageNotFoundError:
        return None
    files = [str(f) for f in (dist.files or [])]
    genuine = any(f.replace("\\", "/").endswith("pycoral/utils/edgetpu.py") for f in files)
    return {
        "version": dist.version,
        "genuine": genuine,
        "summary": (dist.metadata.get("Summary") or "")[:120],
    }


def _library_runtime_version(path: str) -> dict:
    """libedgetpu's own version string: edgetpu_version() from its C API, e.g.
    'BuildLabel(COMPILER=..., CL_NUMBER=...), RuntimeVersion(14)'."""
    out: dict = {}
    try:
        lib = ctypes.CDLL(path)
        fn = lib.edgetpu_version
        fn.restype = ctypes.c_char_p
        text = (fn() or b"").decode("utf-8", "replace")
        out["build"] = text
        m = re.search(r"RuntimeVersion\((\d+)\)", text)
        if m:
            out["runtime_version"] = int(m.group(1))
    except (OSError, AttributeError) as exc:
        out["load_error"] = str(exc)[:200]
    return out


def libedgetpu_info() -> dict | None:
    candidates: list[str] = []
    found = ctypes.util.find_library("edgetpu")
    if found:
        candidates.append(found)
    for pattern in (
        "/usr/lib/*/libedgetpu.so.1*",
        "/usr/lib/libedgetpu.so.1*",
        "/usr/local/lib/libedgetpu.so.1*",
        "/opt/homebrew/lib/libedgetpu.1*.dylib",
        "/usr/local/lib/libedgetpu.1*.dylib",
    ):
        candidates += sorted(glob.glob(pattern))
    if not candidates:
        return None
    path = candidates[0]
    info: dict = {"path": path}
    info.update(_library_runtime_version(path if os.path.isabs(path) else LIBEDGETPU_NAMES[0]))
    if shutil.which("dpkg-query"):
        for pkg in ("libedgetpu1-std", "libedgetpu1-max", "libedgetpu1-legacy-std", "libedgetpu1-legacy-max"):
            text = _run(["dpkg-query", "-W", "-f=${Status}|${Version}", pkg])
            if text and text.startswith("install ok installed|"):
                info["package"] = pkg
                info["package_version"] = text.split("|", 1)[1]
                break
    return info


def tool_info(name: str, version_args: list[str]) -> dict | None:
    path = shutil.which(name)
    if not path:
        return None
    text = _run([path, *version_args]) or ""
    first = text.splitlines()[0] if text else ""
    return {"path": path, "version": first[:200]}


def edgetpu_devices() -> list[dict]:
    """Attached Edge TPUs: USB accelerators by vendor:product id, PCIe/M.2 modules by /dev/apex_*."""
    found: list[dict] = []
    for dev in sorted(glob.glob("/sys/bus/usb/devices/*")):
        vid, pid = _read(os.path.join(dev, "idVendor")), _read(os.path.join(dev, "idProduct"))
        if (vid, pid) in EDGETPU_USB_IDS:
            busnum, devnum = _read(os.path.join(dev, "busnum")), _read(os.path.join(dev, "devnum"))
            node = f"/dev/bus/usb/{int(busnum):03d}/{int(devnum):03d}" if busnum and devnum else None
            found.append(
                {
                    "type": "usb",
                    "id": f"{vid}:{pid}",
                    "state": EDGETPU_USB_IDS[(vid, pid)],
                    "node": node,
                    "writable": bool(node and os.access(node, os.R_OK | os.W_OK)),
                }
            )
    for node in sorted(glob.glob("/dev/apex_*")):
        found.append({"type": "pci", "node": node, "writable": os.access(node, os.R_OK | os.W_OK)})
    return found


def udev_rules() -> list[str]:
    rules = []
    for pattern in ("/etc/udev/rules.d/*edgetpu*", "/lib/udev/rules.d/*edgetpu*", "/usr/lib/udev/rules.d/*edgetpu*"):
        rules += sorted(glob.glob(pattern))
    return rules


def facts() -> dict:
    return {
        "probe_version": PROBE_VERSION,
        "hostname": platform.node(),
        "home": os.path.expanduser("~"),
        "os": os_info(),
        "python": python_info(),
        "packages": package_versions(),
        "pycoral": pycoral_info(),
        "libedgetpu": libedgetpu_info(),
        "edgetpu_compiler": tool_info("edgetpu_compiler", ["--version"]),
        "adb": tool_info("adb", ["version"]),
        "edgetpu_devices": edgetpu_devices(),
        "udev_rules": udev_rules(),
    }


# --- loading one model ---------------------------------------------------------------------------


def _first_error_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        if "Didn't find op" in line or "unresolved custom op" in line.lower():
            return line.strip()[:400]
    return f"{type(exc).__name__}: {text.splitlines()[0][:400]}"


def _tflite_interpreter(provider: str | None):
    import importlib

    for name, module, _dist in TFLITE_PROVIDERS:
        if provider and name != provider:
            continue
        try:
            mod = importlib.import_module(module)
        except Exception as exc:  # ImportError, or numpy ABI errors ("compiled using NumPy 1.x")
            if provider:
                return None, name, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            continue
        return mod, name, None
    return None, provider, "no TFLite runtime is installed"


def parse_input_shapes(items: list[str] | None) -> dict:
    """["audio=1,16000"] -> {"audio": [1, 16000]} (the worker's --input-shape, parsed without edgekit)."""
    out: dict = {}
    for item in items or []:
        name, _, dims = item.rpartition("=")
        out[name] = [int(d) for d in re.split(r"[,x]", dims) if d.strip()]
    return out


def load_tflite(path: str, provider: str | None = None, input_shapes: dict | None = None, edgetpu: bool = False) -> dict:
    if provider == "litert-compiled":
        return load_litert_compiled(path)
    mod, name, error = _tflite_interpreter(provider)
    result: dict = {"runtime": name, "ok": False}
    if mod is None:
        result["error"] = error
        return result
    interpreter = None
    try:
        delegates = []
        if edgetpu:
            lib = LIBEDGETPU_NAMES[{"Linux": 0, "Darwin": 1}.get(platform.system(), 2)]
            delegates = [mod.load_delegate(lib)]
        interpreter = mod.Interpreter(model_path=path, experimental_delegates=delegates or None)
        details = interpreter.get_input_details()
        # Dynamic inputs: what the worker would run at (resized before allocation, like the worker).
        result["dynamic_inputs"] = {
            d["name"]: [int(x) for x in d.get("shape_signature", d["shape"])]
            for d in details
            if any(int(x) < 0 for x in d.get("shape_signature", d["shape"]))
        }
        for d in details:
            if d["name"] in (input_shapes or {}):
                interpreter.resize_tensor_input(d["index"], input_shapes[d["name"]], strict=False)
        unknown = sorted(set(input_shapes or {}) - {d["name"] for d in details})
        if unknown:
            result["error"] = f"no input named {unknown[0]!r}; the inputs are {', '.join(d['name'] for d in details)}"
            return result
        interpreter.allocate_tensors()
        result["ok"] = True
        result["ops"] = len(interpreter._get_ops_details()) if hasattr(interpreter, "_get_ops_details") else None
    except BaseException as exc:  # the runtime's own words are the point of this check
        result["error"] = _first_error_line(exc)
    return result


def load_edgetpu(path: str, provider: str | None = None, input_shapes: dict | None = None) -> dict:
    return load_tflite(path, provider, input_shapes, edgetpu=True)


def load_litert_compiled(path: str) -> dict:
    """LiteRT's CompiledModel (the litert-compiled provider): compile for the CPU and make buffers."""
    result: dict = {"runtime": "litert-compiled", "ok": False}
    try:
        from ai_edge_litert.compiled_model import CompiledModel  # type: ignore

        model = CompiledModel.from_file(path)
        model.create_input_buffers(0)
        model.create_output_buffers(0)
        result["ok"] = True
    except BaseException as exc:
        result["error"] = _first_error_line(exc)
    return result


def load_pte(path: str, provider: str | None = None, input_shapes: dict | None = None) -> dict:
    result: dict = {"runtime": "executorch", "ok": False}
    try:
        from executorch.extension.pybindings import portable_lib  # type: ignore

        try:  # quantized kernels register themselves on import; int8 programs need them
            import executorch.kernels.quantized  # type: ignore  # noqa: F401
        except Exception:
            pass
        portable_lib._load_for_executorch(path)
        result["ok"] = True
    except BaseException as exc:
        result["error"] = _first_error_line(exc)
    return result


def load_ptl(path: str, provider: str | None = None, input_shapes: dict | None = None) -> dict:
    result: dict = {"runtime": "torch", "ok": False}
    try:
        from torch.jit.mobile import _load_for_lite_interpreter  # type: ignore

        _load_for_lite_interpreter(path)
        result["ok"] = True
    except BaseException as exc:
        result["error"] = _first_error_line(exc)
    return result


def _loader(spec: str):
    """'load_tflite' (a function here) or 'FILE.py:function' (a file beside this one, pushed with it)."""
    file, _, function = spec.rpartition(":")
    if not file:
        return globals()[function]
    import importlib.util

    location = file if os.path.isabs(file) else os.path.join(os.path.dirname(os.path.abspath(__file__)), file)
    module_spec = importlib.util.spec_from_file_location("edgekit_probe_loader", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, function)


def load(path: str, fmt: str, provider: str | None = None, input_shapes: dict | None = None, loader: str | None = None) -> dict:
    """Load ``path`` with the format's loader (``loader``; default: ``load_<fmt>`` here)."""
    return _loader(loader or f"load_{fmt}")(path, provider, input_shapes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", metavar="PATH")
    parser.add_argument("--format", default="tflite", help="the artifact's format (names the default loader)")
    parser.add_argument(
        "--loader", default=None, metavar="[FILE:]FUNCTION", help="the function that loads the format (its record's probe loader)"
    )
    parser.add_argument("--provider", default=None)
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="resize a (dynamic) input before allocating, as the worker does",
    )
    args = parser.parse_args(argv)
    try:
        shapes = parse_input_shapes(args.input_shape)
        out = load(args.load, args.format, args.provider, shapes, args.loader) if args.load else facts()
    except Exception:  # a probe bug must still come back as data, not a silent failure
        out = {"probe_error": traceback.format_exc(limit=3)[-800:]}
    sys.stdout.write(MARKER + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
