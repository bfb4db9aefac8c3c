"""Which Android phones adb sees, and which one a profile means.

Kept apart from the transport (edgekit.transports.adb) because ``edgekit devices`` lists phones
without opening a transport, and the serial checks are plain functions of ``adb devices -l``.
"""

from __future__ import annotations

import shutil
import subprocess

from edgekit.errors import EdgekitError, EnvironmentMissing

ADB_HINT = "install it (apt-get install adb, or Android's platform-tools) and put it on PATH"


def adb_path() -> str:
    path = shutil.which("adb")
    if not path:
        raise EnvironmentMissing("adb is not installed", ADB_HINT)
    return path


def list_devices(timeout: float = 20.0) -> list[dict]:
    """``adb devices -l`` as dicts: serial, state (device, unauthorized, offline...) and properties."""
    try:
        proc = subprocess.run(
            [adb_path(), "devices", "-l"], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise EnvironmentMissing(
            f"'adb devices' did not answer within {timeout:.0f} s", "restart the adb server: adb kill-server"
        ) from None
    if proc.returncode != 0:
        raise EnvironmentMissing(
            f"'adb devices' failed ({(proc.stderr or '').strip()[:200]})", "restart the adb server: adb kill-server"
        )
    return parse_devices(proc.stdout)


def parse_devices(text: str) -> list[dict]:
    devices = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        entry = {"serial": parts[0], "state": parts[1]}
        for p in parts[2:]:
            if ":" in p:
                k, v = p.split(":", 1)
                entry[k] = v
        devices.append(entry)
    return devices


def resolve_serial(wanted: str | None, name: str) -> str:
    devices = list_devices()
    ready = [d for d in devices if d["state"] == "device"]
    if wanted:
        match = [d for d in devices if d["serial"] == wanted]
        if not match:
            raise EnvironmentMissing(
                f"Android device {wanted} ({name}) is not attached (adb devices lists "
                f"{', '.join(d['serial'] for d in devices) or 'none'})",
                "connect it with USB debugging on, or fix serial in its profile",
            )
        state = match[0]["state"]
        if state != "device":
            raise EnvironmentMissing(*_state_problem(wanted, name, state))
        return wanted
    if len(ready) == 1:
        return ready[0]["serial"]
    if not devices:
        raise EnvironmentMissing(
            f"no Android device is attached for {name} (adb devices lists none)",
            "connect the phone with USB debugging on and accept its prompt; check with 'adb devices'",
        )
    if not ready:
        d = devices[0]
        raise EnvironmentMissing(*_state_problem(d["serial"], name, d["state"]))
    raise EdgekitError(
        f"{len(ready)} Android devices are attached ({', '.join(d['serial'] for d in ready)}) and profile {name} names none",
        'set serial = "..." in the device profile',
    )


def _state_problem(serial: str, name: str, state: str) -> tuple[str, str]:
    if state == "unauthorized":
        return (
            f"Android device {serial} ({name}) has not authorized this computer",
            "unlock the phone and accept the 'Allow USB debugging' prompt",
        )
    return (f"Android device {serial} ({name}) is {state}", "reconnect the USB cable or run 'adb reconnect'")


def adb_state(profile, adb_devices: list[dict] | None, adb_error: str | None) -> dict:
    """A profile's state from one ``adb devices`` listing (None: adb is missing, ``adb_error`` says why)."""
    if adb_devices is None:
        return {"state": "adb missing", "detail": adb_error}
    if profile.serial:
        match = [d for d in adb_devices if d["serial"] == profile.serial]
        if not match:
            return {"state": "not attached", "detail": f"adb does not list {profile.serial}"}
        return {"state": "ready" if match[0]["state"] == "device" else match[0]["state"], "detail": match[0].get("model")}
    ready = [d for d in adb_devices if d["state"] == "device"]
    if len(ready) == 1:
        return {"state": "ready", "detail": f"the only attached device, {ready[0]['serial']}"}
    if not ready:
        return {"state": "not attached", "detail": "adb lists no ready device"}
    return {"state": "ambiguous", "detail": f"{len(ready)} devices attached; set serial in the profile"}
