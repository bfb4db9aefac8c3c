"""edgekit doctor: what a device has, and whether it can run given artifacts (and if not, the fix).

The commonest failure on a device is a runtime that cannot load the model: an old tflite-runtime
meeting a model from a new converter, or a libedgetpu older than the compiler that produced an
``_edgetpu`` model. Three sources of evidence, from cheapest to most trustworthy:

1. facts from ``edgekit/harness/probe.py``, a standard-library script run with the *device's*
   Python (pushed over the transport, so the same code serves the host, SSH and adb devices);
2. what the model itself records, read on the host (its ``min_runtime_version`` metadata, op
   versions, and for Edge TPU models the runtime version the compiler's package demands);
3. actually loading the model with the device's runtime, in a process of its own: the runtime's
   own error ("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'") is what a user
   would hit, so it is reported verbatim.

Every problem carries the exact fix for that device's OS and architecture; ``edgekit provision``
runs the ones that are safe to automate (pip into a virtual environment).
"""

from __future__ import annotations

import json
import os
import shlex
import struct
import sys
from dataclasses import asdict, dataclass, field
from typing import Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing

PROBE_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness", "probe.py")
PROBE_MARKER = "EDGEKIT-PROBE "

# Architectures (platform.machine()) with ai-edge-litert wheels on PyPI; elsewhere there is none.
LITERT_WHEEL_ARCHES = {("Linux", "x86_64"), ("Linux", "aarch64"), ("Darwin", "arm64")}
# Where Debian-family boards get libedgetpu: Coral's own apt repository (not in Debian itself).
CORAL_APT_KEYRING = "/usr/share/keyrings/coral-edgetpu-archive-keyring.gpg"
CORAL_APT_SETUP = (
    "curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo gpg --dearmor -o {keyring} && "
    'echo "deb [signed-by={keyring}] https://packages.cloud.google.com/apt coral-edgetpu-stable main" '
    "| sudo tee /etc/apt/sources.list.d/coral-edgetpu.list && sudo apt-get update"
).format(keyring=CORAL_APT_KEYRING)
# The USB accelerator's two ids (before and after its firmware loads) for non-root access.
UDEV_RULES = (
    'SUBSYSTEM=="usb",ATTRS{idVendor}=="1a6e",ATTRS{idProduct}=="089a",MODE="0664",TAG+="uaccess"\n'
    'SUBSYSTEM=="usb",ATTRS{idVendor}=="18d1",ATTRS{idProduct}=="9302",MODE="0664",TAG+="uaccess"\n'
)
UDEV_FILE = "/etc/udev/rules.d/65-edgekit-edgetpu.rules"


@dataclass
class Fix:
    """One command that fixes a problem. ``safe`` fixes (pip into a virtual environment) are the
    ones ``edgekit provision`` runs by itself; the rest it prints (or runs with --sudo)."""

    command: str
    kind: str  # "pip", "venv", "apt", "udev", "manual"
    safe: bool = False
    sudo: bool = False
    argv: list | None = None  # the same command as an argument list, for fixes provision may run

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Problem:
    code: str
    message: str
    fixes: list[Fix] = field(default_factory=list)
    severity: str = "error"  # "error": the artifact will not run; "warning": it may, or something else will break

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "fixes": [f.to_dict() for f in self.fixes]}


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """'2.17.0' -> (2, 17, 0); '2.13.0+cpu' -> (2, 13, 0); None when there are no digits."""
    if not text:
        return None
    parts = []
    for piece in text.replace("-", ".").replace("+", ".").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


# --- talking to the device ------------------------------------------------------------------------


class Device:
    """A transport plus the device's Python: everything doctor, provision and deploy run through."""

    def __init__(self, transport, python: str, name: str, profile=None):
        self.transport = transport
        self.python = python
        self.name = name
        self.profile = profile  # the DeviceProfile (None: this machine without a profile)
        self._facts: dict | None = None

    @classmethod
    def open(cls, name: str | None = None, devices_dirs: Sequence[str] = ()) -> "Device":
        """The device profile ``name`` (None: this machine, with the Python running edgekit)."""
        from edgekit.transports import TRANSPORTS

        if not name:
            return cls(TRANSPORTS.get("host")(None), sys.executable, "host")
        from edgekit.devices.profiles import get_device
        from edgekit.transports.base import open_transport

        profile = get_device(name, devices_dirs)
        python = profile.python
        if profile.transport == "host" and python == "python3":
            python = sys.executable  # the default means "the Python running edgekit" on this machine
        return cls(open_transport(profile), python, profile.name, profile)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def run(self, argv: Sequence[str], timeout: float | None = 120):
        return self.transport.run(list(argv), timeout=timeout)

    def python_run(self, args: Sequence[str], timeout: float | None = 120):
        proc = self.run([self.python, *args], timeout=timeout)
        if proc.returncode == 127:  # the shell's "command not found" (ssh, adb)
            raise EnvironmentMissing(
                f"device {self.name!r} has no Python at {self.python}",
                "install python3 there, or fix 'python' in the device profile (e.g. a virtualenv's bin/python)",
            )
        return proc

    def probe(self, *args: str, files: Sequence[tuple[str, str]] = (), timeout: float = 180) -> dict:
        """Run probe.py on the device (with ``files`` pushed beside it) and return its JSON."""
        tmp = self.transport.mkdtemp()
        try:
            remote_probe = f"{tmp}/probe.py"
            self.transport.push(PROBE_FILE, remote_probe)
            mapped = list(args)
            for local, remote_name in files:
                remote = f"{tmp}/{remote_name}"
                self.transport.push(local, remote)
                mapped = [remote if a == local else a for a in mapped]
            proc = self.python_run([remote_probe, *mapped], timeout=timeout)
        finally:
            self.transport.remove(tmp)
        for line in (proc.stdout or "").splitlines():
            if line.startswith(PROBE_MARKER):
                return json.loads(line[len(PROBE_MARKER):])
        detail = ((proc.stderr or "").strip().splitlines() or ["no output"])[-1][:300]
        return {"probe_failed": f"exit status {proc.returncode}: {detail}"}

    def facts(self) -> dict:
        if self._facts is None:
            facts = self.probe()
            if "probe_failed" in facts or "probe_error" in facts:
                raise EnvironmentMissing(
                    f"could not read what device {self.name!r} has ({facts.get('probe_failed') or facts.get('probe_error', '')[-200:]})",
                    "check that its Python is 3.8 or newer and runs (the 'python' key of the device profile)",
                )
            self._facts = facts
        return self._facts


# --- what the model needs -------------------------------------------------------------------------


def read_tflite_needs(path: str) -> dict:
    """min_runtime_version, op versions and custom ops of a .tflite file, read on the host."""
    try:
        from edgekit.inspect.tflite_model import load as load_model
    except ImportError:  # the inspector is optional here; the tflite package reads the same fields
        load_model = None
    if load_model is not None:
        model = load_model(path)
        ops: dict[str, int] = {}
        custom: list[str] = []
        for _, op in model.all_operators():
            if op.custom:
                if op.name not in custom:
                    custom.append(op.name)
            else:
                ops[op.name] = max(ops.get(op.name, 0), op.version)
        return {"min_runtime_version": model.min_runtime_version, "ops": ops, "custom_ops": custom}
    return _read_with_tflite_package(path)


def _read_with_tflite_package(path: str) -> dict:
    import tflite
    from tflite.utils import BUILTIN_OPCODE2NAME

    with open(path, "rb") as f:
        data = f.read()
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        ops: dict[str, int] = {}
        custom: list[str] = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            if oc.CustomCode():
                name = oc.CustomCode().decode("utf-8", "replace")
                if name not in custom:
                    custom.append(name)
            else:
                name = BUILTIN_OPCODE2NAME.get(code, str(code))
                ops[name] = max(ops.get(name, 0), oc.Version())
        mrv = None
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == b"min_runtime_version":
                raw = bytes(model.Buffers(entry.Buffer()).DataAsNumpy())
                mrv = raw.split(b"\x00")[0].decode("ascii", "replace") or None
    except Exception as exc:
        raise EdgekitError(f"{path} is a corrupt TFLite flatbuffer ({type(exc).__name__})", "rebuild or re-download it") from None
    return {"min_runtime_version": mrv, "ops": ops, "custom_ops": custom}


def edgetpu_package_runtime_version(path: str) -> int | None:
    """The Edge TPU runtime version an ``_edgetpu`` model requires.

    The compiler stores its output as a 'DWN1' flatbuffer (a darwinn Package) in the custom options
    of each edgetpu-custom-op, under flexbuffer key "4"; the Package's first field is the minimum
    runtime version libedgetpu must report (its 'RuntimeVersion(N)'). A libedgetpu below it
    refuses the model with "Package requires runtime version (N), which is newer than this runtime".
    """
    import tflite
    from flatbuffers import flexbuffers

    with open(path, "rb") as f:
        data = f.read()
    best: int | None = None
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        for s in range(model.SubgraphsLength()):
            graph = model.Subgraphs(s)
            for j in range(graph.OperatorsLength()):
                op = graph.Operators(j)
                code = model.OperatorCodes(op.OpcodeIndex()).CustomCode()
                if code != b"edgetpu-custom-op" or not op.CustomOptionsLength():
                    continue
                raw = bytes(op.CustomOptionsAsNumpy())
                ref = flexbuffers.GetRoot(raw).AsMap["4"]
                pkg = flexbuffers.String(ref._Indirect(), ref._byte_width).Bytes
                if pkg[4:8] != b"DWN1":
                    continue
                root = struct.unpack_from("<I", pkg, 0)[0]
                vtable = root - struct.unpack_from("<i", pkg, root)[0]
                vt_len = struct.unpack_from("<H", pkg, vtable)[0]
                if vt_len < 6:
                    continue
                field0 = struct.unpack_from("<H", pkg, vtable + 4)[0]
                if field0:
                    version = struct.unpack_from("<i", pkg, root + field0)[0]
                    best = version if best is None else max(best, version)
    except Exception:  # an unreadable package is reported by the load check instead
        return best
    return best


# --- fixes for this device ------------------------------------------------------------------------


def pip_fix(facts: dict, python: str, *packages: str, index_url: str | None = None) -> list[Fix]:
    """pip install into the device's Python, through a virtual environment when the Python is a
    system one (Debian 12 / Raspberry Pi OS refuse system-wide pip: PEP 668)."""
    py = facts.get("python", {})
    extra = ["--index-url", index_url] if index_url else []

    def pip(py_path: str) -> Fix:
        argv = [py_path, "-m", "pip", "install", "-U", *extra, *packages]
        return Fix(shlex.join(argv), "pip", safe=True, argv=argv)

    if py.get("venv"):
        return [pip(python)]
    venv = venv_dir(facts)
    fixes = []
    if not py.get("ensurepip"):
        fixes.append(apt_fix(facts, "python3-venv"))
    argv = [python, "-m", "venv", venv]
    fixes.append(Fix(shlex.join(argv), "venv", safe=True, argv=argv))
    fixes.append(pip(f"{venv}/bin/python"))
    fixes.append(Fix(f'set python = "{venv}/bin/python" in the device profile', "manual"))
    return fixes


def venv_dir(facts: dict) -> str:
    return f"{facts.get('home') or '~'}/edgekit-venv"


def apt_fix(facts: dict, *packages: str) -> Fix:
    osi = facts.get("os", {})
    prefix = "" if osi.get("uid") == 0 else "sudo "
    if osi.get("apt"):
        return Fix(f"{prefix}apt-get install -y {' '.join(packages)}", "apt", sudo=bool(prefix))
    return Fix(f"install {' '.join(packages)} with this OS's package manager ({osi.get('pretty_name') or osi.get('system')})", "manual")


def tflite_runtime_of(facts: dict, provider: str | None = None) -> tuple[str | None, str | None]:
    """(provider, version) the worker would use on this device: ai-edge-litert, else tflite-runtime, else TF."""
    pkgs = facts.get("packages", {})
    order = [("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"),
             ("tensorflow", "tensorflow"), ("tensorflow", "tensorflow-cpu")]
    for name, dist in order:
        if provider and name != provider:
            continue
        if pkgs.get(dist):
            return name, pkgs[dist]
    return None, None


def litert_fixes(facts: dict, python: str) -> list[Fix]:
    osi = facts.get("os", {})
    if (osi.get("system"), osi.get("machine")) not in LITERT_WHEEL_ARCHES:
        return [Fix(
            f"no ai-edge-litert wheel exists for {osi.get('system')} {osi.get('machine')}: install a 64-bit OS "
            "(e.g. Raspberry Pi OS 64-bit, aarch64) or build LiteRT from source", "manual")]
    return pip_fix(facts, python, "ai-edge-litert")


def _runtime_problem(facts: dict, python: str) -> Problem:
    osi = facts.get("os", {})
    return Problem(
        "no-tflite-runtime",
        f"no TFLite runtime is installed for {python} ({osi.get('system')} {osi.get('machine')})",
        litert_fixes(facts, python),
    )


def check_tflite(path: str, facts: dict, python: str, provider: str | None, edgetpu: bool) -> tuple[list[Problem], dict]:
    needs = read_tflite_needs(path)
    info: dict = {"min_runtime_version": needs["min_runtime_version"],
                  "ops_above_v1": {k: v for k, v in sorted(needs["ops"].items()) if v > 1},
                  "custom_ops": needs["custom_ops"]}
    problems: list[Problem] = []
    name, version = tflite_runtime_of(facts, provider)
    info["runtime"] = {"name": name, "version": version}
    if name is None:
        problems.append(_runtime_problem(facts, python))
    else:
        need, have = parse_version(needs["min_runtime_version"]), parse_version(version)
        # tflite-runtime and TensorFlow share TF's version numbers, the ones the converter records;
        # ai-edge-litert numbers its releases apart, so for it only the load check can tell.
        if name != "ai_edge_litert" and need and have and have < need:
            problems.append(Problem(
                "runtime-too-old",
                f"the model needs TFLite runtime {needs['min_runtime_version']} or newer (its min_runtime_version), "
                f"the device has {name.replace('_', '-')} {version}",
                litert_fixes(facts, python),
            ))
        numpy_v = parse_version(facts.get("packages", {}).get("numpy"))
        if name == "tflite_runtime" and numpy_v and numpy_v >= (2,):
            problems.append(Problem(
                "numpy-too-new",
                f"tflite-runtime {version} was built against numpy 1.x and cannot import with numpy "
                f"{facts['packages']['numpy']}",
                pip_fix(facts, python, "ai-edge-litert"),
            ))
    if edgetpu:
        problems += check_edgetpu(path, facts, info)
    return problems, info


def check_edgetpu(path: str, facts: dict, info: dict) -> list[Problem]:
    problems: list[Problem] = []
    needed = edgetpu_package_runtime_version(path)
    info["edgetpu_runtime_version_needed"] = needed
    lib = facts.get("libedgetpu")
    osi = facts.get("os", {})
    pkg = (lib or {}).get("package") or "libedgetpu1-std"
    sudo = "" if osi.get("uid") == 0 else "sudo "
    if lib:
        have = lib.get("runtime_version")
        info["libedgetpu_runtime_version"] = have
        if needed is not None and have is not None and have < needed:
            fixes = [Fix(f"{sudo}apt-get install -y --only-upgrade {pkg}", "apt", sudo=bool(sudo))] if osi.get("apt") else []
            fixes.append(Fix(f"or recompile the model for this runtime: edgetpu_compiler --min_runtime_version {have} MODEL.tflite", "manual"))
            problems.append(Problem(
                "libedgetpu-too-old",
                f"the model's Edge TPU package requires runtime version {needed}, the device's libedgetpu "
                f"({lib.get('package_version') or lib.get('path')}) is runtime version {have}",
                fixes,
            ))
    return edgetpu_presence_problems(facts, None, "an _edgetpu model needs") + problems


def edgetpu_presence_problems(facts: dict, selector: str | None, who: str) -> list[Problem]:
    """libedgetpu installed, an Edge TPU attached (answering to ``selector``) and openable.

    ``who`` starts the sentence ("an _edgetpu model needs", "the profile needs")."""
    from edgekit.devices.profiles import selector_matches

    problems: list[Problem] = []
    lib = facts.get("libedgetpu")
    osi = facts.get("os", {})
    sudo = "" if osi.get("uid") == 0 else "sudo "
    if not lib:
        fixes = []
        if osi.get("apt"):
            fixes.append(Fix(CORAL_APT_SETUP if sudo else CORAL_APT_SETUP.replace("sudo ", ""), "apt", sudo=bool(sudo)))
            fixes.append(Fix(f"{sudo}apt-get install -y libedgetpu1-std", "apt", sudo=bool(sudo)))
        else:
            fixes.append(Fix("install the Edge TPU runtime for this OS from https://coral.ai/software/#edgetpu-runtime", "manual"))
        problems.append(Problem("no-libedgetpu", f"{who} the Edge TPU runtime (libedgetpu), which is not installed", fixes))
    devices = facts.get("edgetpu_devices") or []
    plug = Fix("plug in the Coral USB Accelerator (a USB 3 port) or install the PCIe/M.2 driver (gasket-dkms)", "manual")
    if not devices:
        problems.append(Problem("no-edgetpu", "no Edge TPU is attached (no USB accelerator 1a6e:089a / 18d1:9302, no /dev/apex_*)",
                                [plug]))
    elif selector and not selector_matches(selector, devices):
        kinds = ", ".join(sorted({str(d.get("type")) for d in devices}))
        problems.append(Problem("no-edgetpu", f"no Edge TPU answers to {selector!r} ({len(devices)} attached: {kinds})",
                                [Fix("set edgetpu_device in the device profile (or --edgetpu-device) to an attached one, "
                                     "e.g. usb:0", "manual"), plug]))
    elif not any(d.get("writable") for d in devices) and osi.get("uid") != 0:
        problems.append(Problem(
            "edgetpu-permission", "an Edge TPU is attached but this user cannot open it",
            [Fix(f"printf '%s' {shlex.quote(UDEV_RULES)} | {sudo}tee {UDEV_FILE} && {sudo}udevadm control --reload-rules "
                 f"&& {sudo}udevadm trigger", "udev", sudo=bool(sudo)),
             Fix(f"{sudo}usermod -aG plugdev $USER (then log in again)", "manual", sudo=bool(sudo))],
        ))
    return problems


def check_pte(facts: dict, python: str) -> tuple[list[Problem], dict]:
    pkgs = facts.get("packages", {})
    info = {"runtime": {"name": "executorch", "version": pkgs.get("executorch")}}
    if pkgs.get("executorch"):
        return [], info
    osi = facts.get("os", {})
    if osi.get("system") != "Linux" or osi.get("machine") not in ("x86_64", "aarch64"):
        fixes = [Fix(f"no executorch wheel for {osi.get('system')} {osi.get('machine')}: build the C++ runner from "
                     "ExecuTorch's sources for this board", "manual")]
    else:
        # The CPU index keeps aarch64 from pulling torch's CUDA build (measured-facts).
        fixes = pip_fix(facts, python, "torch==2.13.0", "executorch==1.5.1",
                        index_url=None) if osi.get("machine") == "x86_64" else pip_fix(
            facts, python, "torch==2.13.0", "executorch==1.5.1", index_url="https://download.pytorch.org/whl/cpu")
    return [Problem("no-executorch", "a .pte program needs the ExecuTorch runtime, which is not installed", fixes)], info


def check_ptl(facts: dict, python: str) -> tuple[list[Problem], dict]:
    pkgs = facts.get("packages", {})
    info = {"runtime": {"name": "torch", "version": pkgs.get("torch")}}
    if pkgs.get("torch"):
        return [], info
    fixes = pip_fix(facts, python, "torch==2.13.0", index_url="https://download.pytorch.org/whl/cpu")
    return [Problem("no-torch", "a .ptl model needs PyTorch's lite interpreter (torch), which is not installed", fixes)], info


def device_problems(facts: dict, python: str, profile=None) -> list[Problem]:
    """Problems that concern the device whatever the artifact: a profile bound to an Edge TPU is
    not ready without one (and libedgetpu), whatever model is checked on it."""
    from edgekit.devices.profiles import needs_edgetpu

    problems = []
    if profile is not None and needs_edgetpu(profile):
        problems += edgetpu_presence_problems(facts, profile.edgetpu_device, "the profile needs")
    pycoral = facts.get("pycoral")
    if pycoral and not pycoral.get("genuine"):
        problems.append(Problem(
            "pycoral-impostor",
            f"the installed 'pycoral' {pycoral.get('version')} is the unrelated PyPI program of that name "
            f"({pycoral.get('summary') or 'no Edge TPU code'}), not Coral's library",
            [Fix(shlex.join([python, "-m", "pip", "uninstall", "-y", "pycoral"]), "pip",
                 safe=bool(facts.get("python", {}).get("venv")), argv=[python, "-m", "pip", "uninstall", "-y", "pycoral"])],
            severity="warning",
        ))
    return problems


# --- the whole check ------------------------------------------------------------------------------

FORMAT_CHECKS = {
    "tflite": lambda path, facts, py, prov: check_tflite(path, facts, py, prov, edgetpu=False),
    "edgetpu": lambda path, facts, py, prov: check_tflite(path, facts, py, prov, edgetpu=True),
    "pte": lambda path, facts, py, prov: check_pte(facts, py),
    "ptl": lambda path, facts, py, prov: check_ptl(facts, py),
}


def _load_problem(result: dict, name: str, facts: dict, python: str) -> Problem | None:
    if result.get("ok") or "error" not in result:
        return None
    error = result["error"]
    import re

    m = re.search(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'", error)
    if m:
        runtime = result.get("runtime") or "runtime"
        return Problem(
            "op-version-unknown",
            f"the device's {runtime.replace('_', '-')} does not know {m.group(1)} version {m.group(2)} "
            f"(loading {name} failed: {error})",
            litert_fixes(facts, python),
        )
    return Problem("load-failed", f"loading {name} on the device failed: {error}",
                   [Fix("run 'edgekit inspect' on the model and check the runtime above", "manual")])


def check_artifact(device: Device, path: str, provider: str | None = None, try_load: bool = True,
                   input_shapes: dict | None = None) -> dict:
    from edgekit.devices.profiles import needs_edgetpu
    from edgekit.runtimes import detect_format

    facts = device.facts()
    fmt = detect_format(path)
    problems, info = FORMAT_CHECKS[fmt](path, facts, device.python, provider)
    profile = device.profile
    bound = profile is not None and needs_edgetpu(profile)
    if bound:  # the device-level check reports the accelerator itself once, not per artifact
        problems = [p for p in problems if p.code not in ("no-libedgetpu", "no-edgetpu", "edgetpu-permission")]
        if fmt != "edgetpu" and profile.transport == "host":
            problems.append(Problem(
                "no-edgetpu-ops",
                f"the model has no Edge TPU ops: on device {profile.name!r} it would run on this machine's CPU, not the Edge TPU",
                [Fix(f"edgekit edgetpu compile {shlex.quote(path)}", "manual"),
                 Fix("or check it with --device host (this machine's CPU)", "manual")]))
    load = None
    blocking = {"no-tflite-runtime", "no-executorch", "no-torch", "no-libedgetpu", "no-edgetpu"}
    device_blocked = bound and any(p.code in blocking for p in device_problems(facts, device.python, profile))
    if try_load and not device_blocked and not any(p.code in blocking for p in problems):
        remote_name = "model" + {"edgetpu": "_edgetpu.tflite", "tflite": ".tflite"}.get(fmt, "." + fmt)
        args = ["--load", path, "--format", fmt] + (["--provider", provider] if provider else [])
        # A model with dynamic inputs loads only at a concrete shape (the probe resizes, then allocates).
        for name, dims in (input_shapes or {}).items():
            args += ["--input-shape", f"{name}={','.join(map(str, dims))}"]
        load = device.probe(*args, files=[(path, remote_name)])
        problem = _load_problem(load, os.path.basename(path), facts, device.python)
        if problem is not None:
            problems.append(problem)
    ok = not any(p.severity == "error" for p in problems)
    return {"path": path, "name": os.path.basename(path), "format": fmt, "ok": ok, **info,
            "load": load, "problems": [p.to_dict() for p in problems]}


def doctor(device: str | None = None, artifacts: Sequence[str] = (), *, devices_dirs: Sequence[str] = (),
           provider: str | None = None, try_load: bool = True, input_shapes=None) -> dict:
    """The report behind ``edgekit doctor``: the device's facts and, per artifact, ok or problems + fixes.

    ``input_shapes`` (``["audio=1,16000"]`` or a dict) resizes dynamic inputs before the load check,
    as ``edgekit bench --input-shape`` does.
    """
    from edgekit.api import parse_input_shapes

    shapes = parse_input_shapes(input_shapes)
    for path in artifacts:
        if not os.path.isfile(path):
            raise EdgekitError(f"no such file: {path}", "check the artifact path")
    with Device.open(device, devices_dirs) as dev:
        facts = dev.facts()
        report = {
            "schema": "edgekit.devices.doctor",
            "schema_version": 1,
            "device": dev.name,
            "python": dev.python,
            "facts": facts,
            "problems": [p.to_dict() for p in device_problems(facts, dev.python, dev.profile)],
            "artifacts": [check_artifact(dev, p, provider, try_load, shapes) for p in artifacts],
        }
    report["device_ok"] = not any(p["severity"] == "error" for p in report["problems"])
    for art in report["artifacts"]:  # an artifact cannot run on a device that is not ready
        art["ok"] = art["ok"] and report["device_ok"]
    report["ok"] = report["device_ok"] and all(a["ok"] for a in report["artifacts"])
    return report


def all_fixes(report: dict) -> list[dict]:
    """Every distinct fix in a report, in order (provision runs / prints these)."""
    seen, out = set(), []
    problems = list(report.get("problems", []))
    for art in report.get("artifacts", []):
        problems += art["problems"]
    for problem in problems:
        for fix in problem["fixes"]:
            if fix["command"] not in seen:
                seen.add(fix["command"])
                out.append(fix)
    return out
