"""How a worker reaches a device: the host itself, SSH, adb. One module per transport kind,
registered by kind; every transport returns results in the one schema of edgekit.results.schema."""

from __future__ import annotations

from edgekit.registry import Registry

TRANSPORTS: Registry = Registry(
    "transport",
    {
        "host": "edgekit.transports.host",
        "ssh": "edgekit.transports.ssh",
        "adb": "edgekit.transports.adb",
    },
)
