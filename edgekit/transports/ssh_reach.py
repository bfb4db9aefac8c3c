"""Is an SSH device answering? For ``edgekit devices``: a TCP connect and the server's banner at
the address the OpenSSH client would use (aliases from ~/.ssh/config included), with a short
timeout and no login, so listing many boards stays quick and never prompts."""

from __future__ import annotations

import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence


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


def probe_all(profiles: Sequence, timeout: float) -> dict[str, dict]:
    """probe_ssh of every profile at once (threads: each waits on the network)."""
    if not profiles:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(profiles)))) as pool:
        return dict(zip([p.name for p in profiles], pool.map(lambda p: probe_ssh(p, timeout), profiles)))
