"""Per-format doctor checks: what a device needs to run one artifact, and the fix when it lacks it.

Each format record names its check (``FormatRecord.doctor_check``, "edgekit.devices.checks:NAME");
a check takes (path, facts, python, provider) and returns (problems, info). ``blocking`` in the
record says which problem codes make the load check pointless.
"""

from __future__ import annotations

import shlex

from edgekit.devices.edgetpu_package import edgetpu_package_runtime_version
from edgekit.devices.fixes import (
    CORAL_APT_SETUP,
    UDEV_FILE,
    UDEV_RULES,
    Fix,
    Problem,
    litert_fixes,
    parse_version,
    pip_fix,
)


def read_tflite_needs(path: str) -> dict:
    """min_runtime_version, op versions and custom ops of a .tflite file, read on the host."""
    from edgekit.inspect.tflite_model import load as load_model

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


def tflite_runtime_of(facts: dict, provider: str | None = None, fmt: str = "tflite") -> tuple[str | None, str | None]:
    """(package, version) the worker would use on this device: the format's providers in order
    (ai-edge-litert, else tflite-runtime, else TF); ``provider`` (--runtime) narrows it to the
    package that provider imports (litert-compiled: ai_edge_litert)."""
    from edgekit.runtimes.formats import get_format

    record = get_format(fmt)
    chosen = record.provider(provider) if provider else None
    want = chosen.package if chosen is not None else provider
    pkgs = facts.get("packages", {})
    seen: list[str | None] = []
    for p in record.providers:
        if p.package in seen:
            continue
        seen.append(p.package)
        if want and p.package != want:
            continue
        for dist in p.distributions:
            if pkgs.get(dist):
                return p.package, pkgs[dist]
    return None, None


def _runtime_problem(facts: dict, python: str) -> Problem:
    osi = facts.get("os", {})
    return Problem(
        "no-tflite-runtime",
        f"no TFLite runtime is installed for {python} ({osi.get('system')} {osi.get('machine')})",
        litert_fixes(facts, python),
    )


def check_tflite(
    path: str, facts: dict, python: str, provider: str | None = None, edgetpu: bool = False
) -> tuple[list[Problem], dict]:
    needs = read_tflite_needs(path)
    info: dict = {
        "min_runtime_version": needs["min_runtime_version"],
        "ops_above_v1": {k: v for k, v in sorted(needs["ops"].items()) if v > 1},
        "custom_ops": needs["custom_ops"],
    }
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
            problems.append(
                Problem(
                    "runtime-too-old",
                    f"the model needs TFLite runtime {needs['min_runtime_version']} or newer (its min_runtime_version), "
                    f"the device has {name.replace('_', '-')} {version}",
                    litert_fixes(facts, python),
                )
            )
        numpy_v = parse_version(facts.get("packages", {}).get("numpy"))
        if name == "tflite_runtime" and numpy_v and numpy_v >= (2,):
            problems.append(
                Problem(
                    "numpy-too-new",
                    f"tflite-runtime {version} was built against numpy 1.x and cannot import with numpy "
                    f"{facts['packages']['numpy']}",
                    pip_fix(facts, python, "ai-edge-litert"),
                )
            )
    if edgetpu:
        problems += check_edgetpu(path, facts, info)
    return problems, info


def check_edgetpu_model(path: str, facts: dict, python: str, provider: str | None = None) -> tuple[list[Problem], dict]:
    """An _edgetpu model: everything a .tflite needs, plus libedgetpu (new enough) and an Edge TPU."""
    return check_tflite(path, facts, python, provider, edgetpu=True)


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
            fixes.append(
                Fix(
                    f"or recompile the model for this runtime: edgetpu_compiler --min_runtime_version {have} MODEL.tflite",
                    "manual",
                )
            )
            problems.append(
                Problem(
                    "libedgetpu-too-old",
                    f"the model's Edge TPU package requires runtime version {needed}, the device's libedgetpu "
                    f"({lib.get('package_version') or lib.get('path')}) is runtime version {have}",
                    fixes,
                )
            )
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
            fixes.append(
                Fix("install the Edge TPU runtime for this OS from https://coral.ai/software/#edgetpu-runtime", "manual")
            )
        problems.append(Problem("no-libedgetpu", f"{who} the Edge TPU runtime (libedgetpu), which is not installed", fixes))
    devices = facts.get("edgetpu_devices") or []
    plug = Fix("plug in the Coral USB Accelerator (a USB 3 port) or install the PCIe/M.2 driver (gasket-dkms)", "manual")
    if not devices:
        problems.append(
            Problem("no-edgetpu", "no Edge TPU is attached (no USB accelerator 1a6e:089a / 18d1:9302, no /dev/apex_*)", [plug])
        )
    elif selector and not selector_matches(selector, devices):
        kinds = ", ".join(sorted({str(d.get("type")) for d in devices}))
        problems.append(
            Problem(
                "no-edgetpu",
                f"no Edge TPU answers to {selector!r} ({len(devices)} attached: {kinds})",
                [
                    Fix(
                        "set edgetpu_device in the device profile (or --edgetpu-device) to an attached one, e.g. usb:0", "manual"
                    ),
                    plug,
                ],
            )
        )
    elif not any(d.get("writable") for d in devices) and osi.get("uid") != 0:
        problems.append(
            Problem(
                "edgetpu-permission",
                "an Edge TPU is attached but this user cannot open it",
                [
                    Fix(
                        f"printf '%s' {shlex.quote(UDEV_RULES)} | {sudo}tee {UDEV_FILE} && {sudo}udevadm control --reload-rules "
                        f"&& {sudo}udevadm trigger",
                        "udev",
                        sudo=bool(sudo),
                    ),
                    Fix(f"{sudo}usermod -aG plugdev $USER (then log in again)", "manual", sudo=bool(sudo)),
                ],
            )
        )
    return problems


def check_pte(path: str, facts: dict, python: str, provider: str | None = None) -> tuple[list[Problem], dict]:
    pkgs = facts.get("packages", {})
    info = {"runtime": {"name": "executorch", "version": pkgs.get("executorch")}}
    if pkgs.get("executorch"):
        return [], info
    osi = facts.get("os", {})
    if osi.get("system") != "Linux" or osi.get("machine") not in ("x86_64", "aarch64"):
        fixes = [
            Fix(
                f"no executorch wheel for {osi.get('system')} {osi.get('machine')}: build the C++ runner from "
                "ExecuTorch's sources for this board",
                "manual",
            )
        ]
    else:
        # The CPU index keeps aarch64 from pulling torch's CUDA build (measured-facts).
        fixes = (
            pip_fix(facts, python, "torch==2.13.0", "executorch==1.5.1", index_url=None)
            if osi.get("machine") == "x86_64"
            else pip_fix(facts, python, "torch==2.13.0", "executorch==1.5.1", index_url="https://download.pytorch.org/whl/cpu")
        )
    return [Problem("no-executorch", "a .pte program needs the ExecuTorch runtime, which is not installed", fixes)], info


def check_ptl(path: str, facts: dict, python: str, provider: str | None = None) -> tuple[list[Problem], dict]:
    pkgs = facts.get("packages", {})
    info = {"runtime": {"name": "torch", "version": pkgs.get("torch")}}
    if pkgs.get("torch"):
        return [], info
    fixes = pip_fix(facts, python, "torch==2.13.0", index_url="https://download.pytorch.org/whl/cpu")
    return [Problem("no-torch", "a .ptl model needs PyTorch's lite interpreter (torch), which is not installed", fixes)], info
