"""edgekit devices: the configured device profiles with their state now, and what can be discovered
(adb devices, attached Edge TPUs, SSH reachability with a short timeout)."""

from __future__ import annotations

import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor


def register(sub) -> None:
    p = sub.add_parser("devices", help="list configured and discoverable devices", description=__doc__)
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="also read profiles from DIR")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each SSH device (default 2)")
    p.add_argument("--no-probe", action="store_true", help="do not contact devices, only list the profiles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def ssh_endpoint(profile) -> tuple[str, int]:
    """(hostname, port) as the OpenSSH client resolves them (aliases from ~/.ssh/config included)."""
    host, port = profile.host, profile.port or 22
    argv = ["ssh", "-G"]
    if profile.ssh_config:
        argv += ["-F", profile.ssh_config]
    if profile.port:
        argv += ["-p", str(profile.port)]
    try:
        out = subprocess.run(argv + ["--", profile.host], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return host, port
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == "hostname" and value:
            host = value
        elif key == "port" and value.isdigit():
            port = int(value)
    return host, port


def probe_ssh(profile, timeout: float) -> dict:
    """Is an SSH server answering at the profile's address? (TCP connect + the SSH banner; no login.)"""
    host, port = ssh_endpoint(profile)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            banner = s.recv(256).decode("ascii", "replace").strip()
    except socket.gaierror:
        return {"state": "unknown host", "detail": f"cannot resolve {host}"}
    except ConnectionRefusedError:
        return {"state": "refused", "detail": f"nothing listens on {host}:{port}"}
    except OSError as exc:
        return {"state": "unreachable", "detail": f"{host}:{port}: {exc.strerror or type(exc).__name__}"}
    if not banner.startswith("SSH-"):
        return {"state": "not ssh", "detail": f"{host}:{port} answered {banner[:40]!r}"}
    return {"state": "reachable", "detail": banner}


def adb_state(profile, adb_devices: list[dict] | None, adb_error: str | None) -> dict:
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


def host_state(profile, state: dict) -> dict:
    """A host-transport profile is ready only when what it needs is here (an Edge TPU profile: the
    accelerator and libedgetpu); the machine itself always is."""
    if state["missing"]:
        return {"state": "missing", "detail": "; ".join(state["missing"])}
    if state["needs"]:
        return {"state": "ready", "detail": "this machine, with " + " and ".join(state["needs"])}
    return {"state": "ready", "detail": "this machine"}


def collect(devices_dir=(), timeout: float = 2.0, probe: bool = True) -> dict:
    """The data behind the listing (also what --json prints)."""
    from edgekit.devices.profiles import readiness, scan_devices
    from edgekit.errors import EdgekitError

    profiles, broken = scan_devices(devices_dir)
    adb_devices, adb_error = None, None
    notes: list[str] = []
    if probe:
        try:
            from edgekit.transports.adb_discovery import list_devices

            adb_devices = list_devices()
        except EdgekitError as exc:
            adb_error = exc.line()
            notes.append(adb_error)
    configured = []
    ssh_profiles = [p for p in profiles.values() if p.transport == "ssh"]
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(ssh_profiles)))) as pool:
        ssh_states = dict(zip([p.name for p in ssh_profiles], pool.map(lambda p: probe_ssh(p, timeout), ssh_profiles))) if probe else {}
    host_facts: dict | None = None
    for name, p in sorted(profiles.items()):
        if not probe:
            state = {"state": "not probed", "detail": None}
        elif p.transport == "ssh":
            state = ssh_states[name]
        elif p.transport == "adb":
            state = adb_state(p, adb_devices, adb_error)
        else:
            if host_facts is None:  # one probe of this machine for every host profile
                from edgekit.harness import probe as host_probe

                host_facts = {"edgetpu_devices": host_probe.edgetpu_devices(), "libedgetpu": host_probe.libedgetpu_info()}
            state = host_state(p, readiness(p, host_facts))
        configured.append({
            "name": name, "transport": p.transport, "address": p.address, "arch": p.arch,
            "emulated": p.emulated, "description": p.description, "source": p.source, **state,
        })
    for name, exc in sorted(broken.items()):
        configured.append({"name": name, "transport": "-", "address": None, "arch": "-", "emulated": False,
                           "description": None, "source": None, "state": "broken", "detail": exc.message})
        notes.append(f"{name!r} is skipped, only commands that use it fail ({exc.hint})")
    configured.sort(key=lambda d: d["name"])
    known_serials = {p.serial for p in profiles.values() if p.serial}
    discovered = []
    for d in adb_devices or []:
        if d["serial"] not in known_serials:
            discovered.append({"kind": "adb", "id": d["serial"], "state": d["state"],
                               "detail": " ".join(f"{k}:{v}" for k, v in d.items() if k not in ("serial", "state"))})
    edgetpus = None
    if probe:
        try:
            from edgekit.edgetpu.discovery import list_edgetpus  # written by the Edge TPU work
        except ImportError:
            notes.append("Edge TPU discovery is not available in this build (edgekit.edgetpu.discovery)")
        else:
            try:
                edgetpus = list_edgetpus()
            except EdgekitError as exc:
                notes.append(exc.line())
    for tpu in edgetpus or []:
        info = tpu if isinstance(tpu, dict) else getattr(tpu, "__dict__", {"id": str(tpu)})
        discovered.append({"kind": "edgetpu", "id": str(info.get("path") or info.get("id") or info.get("type") or tpu),
                           "state": str(info.get("state", "attached")), "detail": ", ".join(f"{k}={v}" for k, v in info.items())})
    return {"configured": configured, "discovered": discovered, "notes": notes}


def _safe(text) -> str:
    """Strings from models, files and devices on the terminal: one rule (console.safe)."""
    from edgekit.console import safe

    return safe(text)


def run(args) -> int:
    from edgekit.console import print_json

    data = collect(args.devices_dir, args.timeout, probe=not args.no_probe)
    if args.json:
        print_json(data)
        return 0
    from rich.table import Table

    from edgekit.console import console

    out = console()
    table = Table(title="Configured devices")
    for col in ("name", "transport", "address", "arch", "state", "detail"):
        table.add_column(col)
    colors = {"ready": "green", "reachable": "green", "broken": "red", "missing": "red"}
    for d in data["configured"]:
        color = colors.get(d["state"], "yellow")
        name = d["name"] + (" (emulated)" if d["emulated"] else "")
        table.add_row(*(_safe(v) for v in (name, d["transport"], d["address"] or "", d["arch"])),
                      f"[{color}]{_safe(d['state'])}[/{color}]", _safe(d["detail"] or ""))
    out.print(table)
    if data["discovered"]:
        found = Table(title="Discovered, not configured")
        for col in ("kind", "id", "state", "detail"):
            found.add_column(col)
        for d in data["discovered"]:
            found.add_row(*(_safe(d[k]) for k in ("kind", "id", "state", "detail")))
        out.print(found)
    else:
        out.print("Discovered, not configured: none")
    for note in data["notes"]:
        out.print(f"[yellow]note:[/yellow] {_safe(note)}")
    return 0
