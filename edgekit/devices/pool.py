"""Benchmark on several devices at once, never two benchmarks on one device at a time.

Each device gets a thread; the models for one device run one after another while holding an
exclusive lock file for that device (``~/.cache/edgekit/locks/KEY.lock``, edgekit.locks), so two
edgekit processes (two CI jobs, two terminals) sharing a Raspberry Pi queue instead of measuring
each other's load. The lock key is the physical device (ssh user@host:port, adb serial, this
host), not the profile name, so two profiles of one board share a lock. A failing device gives
an error entry for that device and never loses the others' results.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from edgekit import locks
from edgekit.devices.profiles import DeviceProfile
from edgekit.errors import EdgekitError


def lock_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgekit" / "locks"


def lock_key(device: DeviceProfile) -> str:
    """One key per physical device (the transport's ``lock_key``), safe as a file name."""
    from edgekit.transports.base import transport_class

    raw = transport_class(device.transport).lock_key(device)
    safe = re.sub(r"[^A-Za-z0-9._@-]", "_", raw)[:80]
    return f"{safe}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def device_lock(device: DeviceProfile, timeout: float | None = None) -> Iterator[float]:
    """Hold the device's exclusive lock (edgekit.locks); yields the seconds spent waiting for it."""
    path = lock_dir() / f"{lock_key(device)}.lock"

    def busy(holder: str, seconds: float) -> EdgekitError:
        return EdgekitError(
            f"device {device.name!r} stayed busy with another benchmark for {seconds:.0f} s (held by {holder})",
            f"wait for it to finish (lock {path})",
        )

    with locks.hold(path, timeout=timeout, busy=busy) as waited:
        yield waited


@dataclass
class DeviceRun:
    """What one device produced: results in model order, or the error that stopped it."""

    device: DeviceProfile
    results: list[dict] = field(default_factory=list)
    error: EdgekitError | None = None


def run_on_device(
    device: DeviceProfile,
    specs: Sequence[dict],
    timeout: float | None = None,
    on_result: Callable[[DeviceProfile, dict], None] | None = None,
) -> DeviceRun:
    """Run specs one after another on one device under its lock."""
    from edgekit.devices.profiles import require_ready
    from edgekit.transports.base import open_transport

    run = DeviceRun(device)
    try:
        # A device-bound profile (a Coral USB Accelerator on the host transport) must not quietly
        # measure the host CPU: refuse before taking the lock when what it needs is missing.
        require_ready(device, [spec.get("format") for spec in specs])
        with device_lock(device) as waited:
            with open_transport(device) as transport:
                for spec in specs:
                    started = time.time()
                    result = transport.run_worker(spec, timeout=timeout)
                    result["pool"] = {"lock_wait_s": waited, "started": started, "finished": time.time()}
                    waited = 0.0
                    run.results.append(result)
                    if on_result:
                        on_result(device, result)
    except EdgekitError as exc:
        run.error = exc
    return run


def run_pool(
    devices: Sequence[DeviceProfile],
    specs: Sequence[dict],
    timeout: float | None = None,
    on_result: Callable[[DeviceProfile, dict], None] | None = None,
) -> list[DeviceRun]:
    """Every spec on every device: devices concurrently, one benchmark per device at a time."""
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise EdgekitError("a device is named twice", "give each --device once")
    if len(devices) == 1:
        return [run_on_device(devices[0], specs, timeout, on_result)]
    lock = threading.Lock()

    def report(device, result):
        if on_result:
            with lock:
                on_result(device, result)

    with ThreadPoolExecutor(max_workers=len(devices), thread_name_prefix="edgekit-device") as pool:
        futures = [pool.submit(run_on_device, d, specs, timeout, report) for d in devices]
        return [f.result() for f in futures]
