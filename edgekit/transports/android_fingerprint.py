"""What an Android phone is (the device fingerprint and platform a result records) and how warm
it is, read over an adb transport with getprop, uname and /sys/class/thermal.

The phone has no Python, so these are the adb counterparts of edgekit.harness.fingerprint: the
same keys, filled from Android's properties.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.transports.adb import AdbTransport

THERMAL_SH = (
    'for z in /sys/class/thermal/thermal_zone*; do t=$(cat "$z/temp" 2>/dev/null) && echo "$(cat "$z/type" 2>/dev/null) $t"; done'
)


def getprops(t: "AdbTransport") -> dict:
    """The phone's ``getprop`` listing as a dict."""
    proc = t.run(["getprop"], timeout=20)
    props = {}
    for line in (proc.stdout or "").splitlines():
        if line.startswith("[") and "]: [" in line:
            k, v = line[1:].rstrip("]").split("]: [", 1)
            props[k] = v
    return props


def fingerprint(t: "AdbTransport") -> tuple[dict, dict]:
    """(device fingerprint, platform) of the phone, like the Python runner's on Linux."""
    props = getprops(t)
    uname = (t.run(["uname", "-r", "-m"], timeout=20).stdout or "").split()
    cpus = (t.run(["nproc"], timeout=20).stdout or "").strip()
    fp = {
        "hostname": props.get("ro.product.device"),
        "board_model": " ".join(x for x in (props.get("ro.product.manufacturer"), props.get("ro.product.model")) if x) or None,
        "cpu_model": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware"),
        "cpu_count": int(cpus) if cpus.isdigit() else None,
        "kernel": uname[0] if uname else None,
        "os": f"Android {props.get('ro.build.version.release', '?')} (SDK {props.get('ro.build.version.sdk', '?')})",
        "abi": props.get("ro.product.cpu.abi"),
        "serial": t.serial,
    }
    platform = {
        "system": "Android",
        "release": props.get("ro.build.version.release"),
        "machine": uname[1] if len(uname) > 1 else None,
        "python": None,
    }
    return fp, platform


def thermal(t: "AdbTransport") -> dict:
    """Every thermal zone's temperature in degrees C (millidegrees are scaled)."""
    proc = t._sh(THERMAL_SH, timeout=20)
    zones = {}
    for line in (proc.stdout or "").splitlines():
        parts = line.rsplit(" ", 1)
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            value = int(parts[1])
            zones[parts[0] or "zone"] = value / 1000.0 if abs(value) > 1000 else float(value)
    return {"zones_c": zones}
