"""Report the Python and the installed versions of packages in a toolchain environment.

spec: {"packages": ["litert-torch", ...]} (empty: every installed distribution)
out:  {"python": "3.11.7", "versions": {"litert-torch": "0.10.0", "missing-pkg": null}}
The manifest records which converter made an artifact and its version from this.
"""

from __future__ import annotations

import platform
from importlib import metadata

from _common import main


def versions(spec: dict) -> dict:
    wanted = spec.get("packages") or sorted({d.metadata["Name"] for d in metadata.distributions() if d.metadata["Name"]})
    found = {}
    for name in wanted:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return {"python": platform.python_version(), "versions": found}


if __name__ == "__main__":
    main(versions)
