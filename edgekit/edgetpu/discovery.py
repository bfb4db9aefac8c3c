"""Find attached Edge TPUs: pycoral's list when the real pycoral is importable, else the OS.

Without pycoral: a Coral USB Accelerator shows up on the USB bus as 1a6e:089a (Global Unichip,
before libedgetpu first loads its firmware) or 18d1:9302 (Google, after); PCIe/M.2 modules appear
as /dev/apex_N once the gasket/apex driver is loaded. Selectors follow pycoral's: usb:N, pci:N.
"""

from __future__ import annotations

import glob
import os

USB_IDS = {
    ("1a6e", "089a"): "waiting for firmware (libedgetpu loads it on first use)",
    ("18d1", "9302"): "ready",
}


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip().lower()
    except OSError:
        return ""


def from_pycoral() -> list[dict] | None:
    """pycoral's list_edge_tpus(), or None when the real pycoral is not importable."""
    try:
        from pycoral.utils.edgetpu import list_edge_tpus  # type: ignore[import-not-found]
    except Exception:  # absent, or the unrelated PyPI "pycoral"
        return None
    found = []
    counts: dict[str, int] = {}
    for tpu in list_edge_tpus():
        kind = str(tpu.get("type", "usb"))
        n = counts.get(kind, 0)
        counts[kind] = n + 1
        found.append({"type": kind, "selector": f"{kind}:{n}", "path": tpu.get("path"), "state": "ready", "source": "pycoral"})
    return found


def from_system(sys_root: str = "/sys", dev_root: str = "/dev") -> list[dict]:
    """USB devices with Coral's ids and /dev/apex_* nodes, in a stable order."""
    found: list[dict] = []
    usb = 0
    for dev in sorted(glob.glob(os.path.join(sys_root, "bus", "usb", "devices", "*"))):
        ids = (_read(os.path.join(dev, "idVendor")), _read(os.path.join(dev, "idProduct")))
        if ids in USB_IDS:
            found.append(
                {
                    "type": "usb",
                    "selector": f"usb:{usb}",
                    "path": dev,
                    "usb_id": ":".join(ids),
                    "state": USB_IDS[ids],
                    "source": "sysfs",
                }
            )
            usb += 1
    for n, node in enumerate(sorted(glob.glob(os.path.join(dev_root, "apex_*")))):
        found.append({"type": "pci", "selector": f"pci:{n}", "path": node, "state": "ready", "source": "/dev"})
    return found


def list_edgetpus(sys_root: str = "/sys", dev_root: str = "/dev") -> list[dict]:
    """Attached Edge TPUs as dicts: type (usb/pci), selector (usb:0), path, state, source."""
    found = from_pycoral()
    if found is not None:
        return found
    return from_system(sys_root, dev_root)
