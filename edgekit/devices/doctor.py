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

import os
import shlex
from typing import Sequence

from edgekit.devices.checks import (  # noqa: F401
    check_edgetpu,
    check_edgetpu_model,
    check_pte,
    check_ptl,
    check_tflite,
    edgetpu_presence_problems,
    read_tflite_needs,
    tflite_runtime_of,
)
from edgekit.devices.edgetpu_package import edgetpu_package_runtime_version  # noqa: F401
from edgekit.devices.fixes import (  # noqa: F401
    CORAL_APT_KEYRING,
    CORAL_APT_SETUP,
    LITERT_WHEEL_ARCHES,
    UDEV_FILE,
    UDEV_RULES,
    Fix,
    Problem,
    apt_fix,
    litert_fixes,
    parse_version,
    pip_fix,
    venv_dir,
)
from edgekit.devices.session import PROBE_FILE, PROBE_MARKER, Device  # noqa: F401
from edgekit.errors import EdgekitError

# The modules this orchestration reads (kept importable from here, as before the split):
# session.py (the device), fixes.py (Problem/Fix and OS-specific commands), checks.py (per-format
# checks, named by each format's record), edgetpu_package.py (the compiler package's runtime version).


def device_problems(facts: dict, python: str, profile=None) -> list[Problem]:
    """Problems that concern the device whatever the artifact: a profile bound to an Edge TPU is
    not ready without one (and libedgetpu), whatever model is checked on it."""
    from edgekit.devices.profiles import needs_edgetpu

    problems = []
    if profile is not None and needs_edgetpu(profile):
        problems += edgetpu_presence_problems(facts, profile.edgetpu_device, "the profile needs")
    pycoral = facts.get("pycoral")
    if pycoral and not pycoral.get("genuine"):
        problems.append(
            Problem(
                "pycoral-impostor",
                f"the installed 'pycoral' {pycoral.get('version')} is the unrelated PyPI program of that name "
                f"({pycoral.get('summary') or 'no Edge TPU code'}), not Coral's library",
                [
                    Fix(
                        shlex.join([python, "-m", "pip", "uninstall", "-y", "pycoral"]),
                        "pip",
                        safe=bool(facts.get("python", {}).get("venv")),
                        argv=[python, "-m", "pip", "uninstall", "-y", "pycoral"],
                    )
                ],
                severity="warning",
            )
        )
    return problems


# --- the whole check ------------------------------------------------------------------------------


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
    return Problem(
        "load-failed",
        f"loading {name} on the device failed: {error}",
        [Fix("run 'edgekit inspect' on the model and check the runtime above", "manual")],
    )


def check_artifact(
    device: Device, path: str, provider: str | None = None, try_load: bool = True, input_shapes: dict | None = None
) -> dict:
    from edgekit.devices.profiles import needs_edgetpu
    from edgekit.runtimes import detect_format
    from edgekit.runtimes.formats import FORMATS, resolve

    facts = device.facts()
    fmt = detect_format(path)
    record = FORMATS.get(fmt)
    problems, info = resolve(record.doctor_check)(path, facts, device.python, provider)
    profile = device.profile
    bound = profile is not None and needs_edgetpu(profile)
    if bound:  # the device-level check reports the accelerator itself once, not per artifact
        problems = [p for p in problems if p.code not in ("no-libedgetpu", "no-edgetpu", "edgetpu-permission")]
        if record.accelerator != "edgetpu" and profile.transport == "host":
            problems.append(
                Problem(
                    "no-edgetpu-ops",
                    f"the model has no Edge TPU ops: on device {profile.name!r} it would run on this machine's CPU, not the Edge TPU",
                    [
                        Fix(f"edgekit edgetpu compile {shlex.quote(path)}", "manual"),
                        Fix("or check it with --device host (this machine's CPU)", "manual"),
                    ],
                )
            )
    load = None
    # A device without what any format blocks on (no libedgetpu, no Edge TPU) cannot load anything.
    device_blocking = set().union(*(r.blocking for r in FORMATS.records()))
    device_blocked = bound and any(p.code in device_blocking for p in device_problems(facts, device.python, profile))
    if try_load and not device_blocked and not any(p.code in record.blocking for p in problems):
        files = [(path, record.remote_name())]
        if record.probe.file:  # a loader outside probe.py goes beside it
            files.append((record.probe.file, os.path.basename(record.probe.file)))
        args = ["--load", path, "--format", fmt, "--loader", record.probe.argument()]
        args += ["--provider", provider] if provider else []
        # A model with dynamic inputs loads only at a concrete shape (the probe resizes, then allocates).
        for name, dims in (input_shapes or {}).items():
            args += ["--input-shape", f"{name}={','.join(map(str, dims))}"]
        load = device.probe(*args, files=files)
        problem = _load_problem(load, os.path.basename(path), facts, device.python)
        if problem is not None:
            problems.append(problem)
    ok = not any(p.severity == "error" for p in problems)
    return {
        "path": path,
        "name": os.path.basename(path),
        "format": fmt,
        "ok": ok,
        **info,
        "load": load,
        "problems": [p.to_dict() for p in problems],
    }


def doctor(
    device: str | None = None,
    artifacts: Sequence[str] = (),
    *,
    devices_dirs: Sequence[str] = (),
    provider: str | None = None,
    try_load: bool = True,
    input_shapes=None,
) -> dict:
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
