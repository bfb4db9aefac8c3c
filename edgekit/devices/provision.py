"""edgekit provision: apply doctor's fixes to a device, the safe ones only unless told otherwise.

Safe means reversible and confined to a Python virtual environment the user owns: creating one
and pip-installing into it. Everything that changes the system (apt repositories and packages for
libedgetpu, udev rules for the USB accelerator) is printed for the user to run, and run by
provision only with ``--sudo`` (then through ``sudo -n``, which fails instead of prompting, so a
provision never hangs waiting for a password). Nothing is ever run with sudo without ``--sudo``.
"""

from __future__ import annotations

from typing import Sequence

from edgekit.devices.checks import tflite_runtime_of
from edgekit.devices.doctor import all_fixes, doctor
from edgekit.devices.fixes import Fix, litert_fixes
from edgekit.devices.session import Device

SYSTEM_KINDS = ("apt", "udev")


def plan(
    device: str | None, artifacts: Sequence[str] = (), *, devices_dirs: Sequence[str] = (), provider: str | None = None
) -> tuple[dict, list[dict]]:
    """doctor's report and the fixes to apply: those of every problem, plus a TFLite runtime when
    the device has none (the one runtime every edgekit device needs)."""
    report = doctor(device, artifacts, devices_dirs=devices_dirs, provider=provider)
    fixes = all_fixes(report)
    if tflite_runtime_of(report["facts"], provider)[0] is None:
        seen = {f["command"] for f in fixes}
        fixes += [f.to_dict() for f in litert_fixes(report["facts"], report["python"]) if f.command not in seen]
    return report, fixes


def _sudo_n(command: str) -> str:
    return command.replace("sudo ", "sudo -n ")


def provision(
    device: str | None,
    artifacts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    sudo: bool = False,
    devices_dirs: Sequence[str] = (),
    provider: str | None = None,
    timeout: float = 1800,
) -> dict:
    report, fixes = plan(device, artifacts, devices_dirs=devices_dirs, provider=provider)
    steps: list[dict] = []
    failed = False
    with Device.open(device, devices_dirs) as dev:
        for fix in fixes:
            step = {"command": fix["command"], "kind": fix["kind"]}
            runnable = (fix["safe"] and fix.get("argv")) or (sudo and fix["kind"] in SYSTEM_KINDS)
            if fix["kind"] == "manual":
                step["action"] = "note"
            elif not runnable:
                step["action"] = "print"  # the user runs it (system change, or needs --sudo)
            elif dry_run or failed:
                step["action"] = "would run" if dry_run else "skipped (an earlier step failed)"
            else:
                argv = fix["argv"] if fix["safe"] and fix.get("argv") else ["sh", "-c", _sudo_n(fix["command"])]
                proc = dev.run(argv, timeout=timeout)
                step["action"] = "ran"
                step["returncode"] = proc.returncode
                if proc.returncode != 0:
                    failed = True
                    step["error"] = ((proc.stderr or proc.stdout or "").strip().splitlines() or [""])[-1][:300]
            steps.append(step)
    after = None
    if not dry_run and any(s["action"] == "ran" for s in steps):
        after = doctor(device, artifacts, devices_dirs=devices_dirs, provider=provider)
    return {
        "schema": "edgekit.devices.provision",
        "device": report["device"],
        "dry_run": dry_run,
        "steps": steps,
        "failed": failed,
        "before_ok": report["ok"],
        "after_ok": after["ok"] if after else None,
        "after": after,
    }


__all__ = ["provision", "plan", "Fix"]
