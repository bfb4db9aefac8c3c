"""The fix model of doctor and provision: a Problem with the commands that fix it, for this device's OS.

A Fix is one command; ``safe`` ones (pip into a virtual environment) are what ``edgekit provision``
runs by itself. The OS-specific commands (pip through a venv on PEP 668 systems, apt, Coral's apt
repository, udev rules for the USB accelerator) are built here from the probe's facts.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field

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
        return {"code": self.code, "severity": self.severity, "message": self.message, "fixes": [f.to_dict() for f in self.fixes]}


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
    return Fix(
        f"install {' '.join(packages)} with this OS's package manager ({osi.get('pretty_name') or osi.get('system')})", "manual"
    )


def litert_fixes(facts: dict, python: str) -> list[Fix]:
    osi = facts.get("os", {})
    if (osi.get("system"), osi.get("machine")) not in LITERT_WHEEL_ARCHES:
        return [
            Fix(
                f"no ai-edge-litert wheel exists for {osi.get('system')} {osi.get('machine')}: install a 64-bit OS "
                "(e.g. Raspberry Pi OS 64-bit, aarch64) or build LiteRT from source",
                "manual",
            )
        ]
    return pip_fix(facts, python, "ai-edge-litert")
