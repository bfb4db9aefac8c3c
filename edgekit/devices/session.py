"""A device session: a transport plus the device's Python, used by doctor, provision and deploy.

It runs ``edgekit/harness/probe.py`` on the device (pushed over the transport, so the same code
serves the host, SSH and adb devices) and caches the facts it reports.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Sequence

from edgekit.errors import EnvironmentMissing

PROBE_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness", "probe.py")
PROBE_MARKER = "EDGEKIT-PROBE "


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
                return json.loads(line[len(PROBE_MARKER) :])
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
