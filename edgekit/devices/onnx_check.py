"""doctor's check for .onnx artifacts: is onnxruntime there, and is it one that runs on this CPU.

The onnxruntime 1.21.0 aarch64 wheel dies with SIGILL on a Raspberry Pi 4 (Cortex-A72), reported
upstream as microsoft/onnxruntime#23957, so on aarch64 that version is a problem with a fix (a
later pin), not a pass. Fixes install into a virtual environment the user owns: the board's
``/opt/litert-venv`` belongs to root (measured-facts), so a venv that is not writable gets a new
one in the home directory (``python3 -m venv ~/edgekit-venv``, then onnxruntime and numpy: 85 s
under the emulated board) and a note to point the device profile's python at it.
"""

from __future__ import annotations

import shlex

from edgekit.devices.fixes import Fix, Problem, apt_fix, parse_version, venv_dir
from edgekit.runtimes.onnxrt import BAD_AARCH64, BOARD_PIN

HOST_PIN = "onnxruntime==1.32.0"
ISSUE = "microsoft/onnxruntime#23957"
# onnxruntime publishes wheels for these (manylinux x86_64 and aarch64, macOS, Windows)
WHEEL_ARCHES = {("Linux", "x86_64"), ("Linux", "aarch64"), ("Darwin", "arm64"), ("Darwin", "x86_64"), ("Windows", "AMD64")}


def pin_for(facts: dict) -> str:
    return BOARD_PIN if facts.get("os", {}).get("machine") == "aarch64" else HOST_PIN


def install_fixes(facts: dict, python: str) -> list[Fix]:
    """pip install onnxruntime (+ numpy) into the device's Python, or into a user venv when that
    Python is a system one or a venv this user cannot write to."""
    osi = facts.get("os", {})
    if (osi.get("system"), osi.get("machine")) not in WHEEL_ARCHES:
        return [
            Fix(
                f"no onnxruntime wheel exists for {osi.get('system')} {osi.get('machine')}: use a 64-bit OS "
                "(aarch64) or build onnxruntime from source",
                "manual",
            )
        ]
    py = facts.get("python", {})
    packages = [pin_for(facts), "numpy"]
    if py.get("venv") and py.get("writable", True):
        argv = [python, "-m", "pip", "install", *packages]
        return [Fix(shlex.join(argv), "pip", safe=True, argv=argv)]
    venv = venv_dir(facts)
    fixes = []
    if not py.get("ensurepip"):
        fixes.append(apt_fix(facts, "python3-venv"))
    base = "python3" if py.get("venv") else python  # a venv's python would nest; the system python3 makes it
    argv = [base, "-m", "venv", venv]
    fixes.append(Fix(shlex.join(argv), "venv", safe=True, argv=argv))
    argv = [f"{venv}/bin/python", "-m", "pip", "install", *packages]
    fixes.append(Fix(shlex.join(argv), "pip", safe=True, argv=argv))
    fixes.append(Fix(f'set python = "{venv}/bin/python" in the device profile (for .onnx artifacts)', "manual"))
    return fixes


def check_onnx(path: str, facts: dict, python: str, provider: str | None = None) -> tuple[list[Problem], dict]:
    version = (facts.get("packages") or {}).get("onnxruntime")
    info = {"runtime": {"name": "onnxruntime", "version": version}}
    osi = facts.get("os", {})
    if not version:
        why = (
            f" (the fix pins {BOARD_PIN}: the 1.21.0 aarch64 wheel dies with SIGILL on a Raspberry Pi 4, {ISSUE})"
            if osi.get("machine") == "aarch64"
            else ""
        )
        return [
            Problem(
                "no-onnxruntime",
                f"an .onnx model needs onnxruntime, which is not installed for {python}{why}",
                install_fixes(facts, python),
            )
        ], info
    if osi.get("machine") == "aarch64" and version in BAD_AARCH64:
        return [
            Problem(
                "onnxruntime-sigill",
                f"onnxruntime {version}'s aarch64 wheel dies with SIGILL on a Raspberry Pi 4 ({ISSUE})",
                install_fixes(facts, python),
            )
        ], info
    have = parse_version(version)
    if have is not None and have < (1, 16):
        info["note"] = f"onnxruntime {version} is old: models exported at opset 18+ may not load"
    return [], info
