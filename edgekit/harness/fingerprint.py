"""Describe the machine a measurement ran on, so results are only compared like with like.

Read where the benchmark runs (host or device), standard library only. Thermal state is read
before and after a run: a board that throttled mid-run shows it in the result.
"""

from __future__ import annotations

import glob
import os
import platform
import sys


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    parts = [l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("CPU part")]
    if parts:
        return f"ARM CPU part {parts[0]}"
    return platform.processor() or platform.machine()


def thermal() -> dict:
    """Temperatures in degrees C by zone type, and throttling flags where the board reports them."""
    zones = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        temp = _read(os.path.join(zone, "temp"))
        kind = _read(os.path.join(zone, "type")) or os.path.basename(zone)
        if temp and temp.lstrip("-").isdigit():
            zones[kind] = int(temp) / 1000.0
    state: dict = {"zones_c": zones}
    freqs = [_read(p) for p in glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq")]
    freqs = [int(f) for f in freqs if f and f.isdigit()]
    if freqs:
        state["cpu_freq_khz"] = {"min": min(freqs), "max": max(freqs)}
    throttled = _read("/sys/devices/platform/soc/soc:firmware/get_throttled")  # Raspberry Pi
    if throttled:
        state["throttled"] = throttled
    return state


def platform_info() -> dict:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def device_fingerprint() -> dict:
    try:
        import numpy

        numpy_version = numpy.__version__
    except ImportError:
        numpy_version = None
    return {
        "hostname": platform.node(),
        "board_model": _read("/proc/device-tree/model"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "os": _os_release(),
        "numpy": numpy_version,
    }


def _os_release() -> str | None:
    text = _read("/etc/os-release")
    if not text:
        return platform.platform()
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return None


def peak_rss_bytes() -> int | None:
    """High-water mark of this process's resident memory (VmHWM), the figure a phone's OOM killer sees."""
    status = _read("/proc/self/status")
    if status:
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024
    except (ImportError, OSError):
        return None


def current_rss_bytes() -> int | None:
    status = _read("/proc/self/status")
    if status:
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None
