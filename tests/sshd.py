"""A real OpenSSH server on 127.0.0.1 as a test "device" (Debian's openssh-server).

Importable by any test (devices, deploy, the emulated board): ``SSHServer(tmpdir).start()`` gives
a server with its own host key on a free port, an authorized client key, a known_hosts file that
trusts exactly that host key and an ssh_config; ``profile()`` returns a device profile dict for it
and ``write_profile(dir, name)`` writes ``name.toml``. ``kill()`` removes the server and every
process it started (sessions included), as a power cut would; ``start()`` again brings the same
"device" back (same port, same host key).

The server runs as the current user with ``UsePAM=no`` and ``StrictModes=no`` so it works as root
in CI and in temporary directories.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sshd_available() -> str | None:
    """None when a test server can run here, else why not (for pytest.skip)."""
    if not os.path.exists(SSHD):
        return "sshd not installed (apt-get install openssh-server; .ci/run does)"
    if not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        return "the OpenSSH client is not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """All descendants of pid (walking /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class SSHServer:
    def __init__(self, root: str | os.PathLike, port: int | None = None, host: str = "127.0.0.1"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port()
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.client_key = self.root / "client_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self.config = self.root / "sshd_config"
        self.client_config = self.root / "ssh_config"
        self.log = self.root / "sshd.log"
        self.proc: subprocess.Popen | None = None
        self.user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
        self._keys()

    def _keys(self) -> None:
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-test", "-f", str(key)], check=True)
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        pub = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {pub[0]} {pub[1]}\n")
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {self.host}",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "MaxStartups 50",
                    "MaxSessions 50",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        self.client_config.write_text(
            "\n".join(
                [
                    "Host edgekit-test-device",
                    f"  HostName {self.host}",
                    f"  Port {self.port}",
                    f"  User {self.user}",
                    f"  IdentityFile {self.client_key}",
                    "  IdentitiesOnly yes",
                    f"  UserKnownHostsFile {self.known_hosts}",
                    "  BatchMode yes",
                    "",
                ]
            )
        )

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> "SSHServer":
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited ({self.proc.returncode}): {self.log.read_text()[-500:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL the server and every process under it: the device vanishes mid-whatever."""
        if self.proc is None:
            return
        pids = [self.proc.pid] + _children(self.proc.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """A clean stop (SIGTERM to the server and its sessions)."""
        if self.proc is None:
            return
        for pid in [self.proc.pid] + _children(self.proc.pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def __enter__(self) -> "SSHServer":
        return self.start()

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False

    # --- how clients reach it -----------------------------------------------------------------
    def client_options(self) -> list[str]:
        """ssh options that reach this server: ``["ssh", *opts, host, cmd]``."""
        return [
            "-p",
            str(self.port),
            "-l",
            self.user,
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
        ]

    def ssh(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command on the server with a plain ssh client (for checks from tests)."""
        import shlex

        return subprocess.run(
            ["ssh", *self.client_options(), self.host, shlex.join(argv)], capture_output=True, text=True, timeout=timeout
        )

    def profile(self, **overrides) -> dict:
        """A device profile (the keys of a devices/*.toml) for this server."""
        data = {
            "transport": "ssh",
            "description": "loopback OpenSSH server started by the test suite",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "identity": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "arch": os.uname().machine,
            "python": sys.executable,
            "workdir": str(self.root / "device-tmp"),
            "connect_timeout": 5,
        }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}

    def write_profile(self, directory: str | os.PathLike, name: str = "local-ssh", **overrides) -> Path:
        path = Path(directory) / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_toml(self.profile(**overrides)))
        return path


def to_toml(data: dict) -> str:
    """Enough TOML for a flat profile (strings, numbers, booleans, lists of strings, one [env])."""
    import json

    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in value.items()))
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n" + "".join(tables)


if __name__ == "__main__":  # manual use: python tests/sshd.py DIR  -> runs until Ctrl-C
    import tempfile

    server = SSHServer(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="edgekit-sshd-")).start()
    print(f"sshd on {server.host}:{server.port}; profile:\n{to_toml(server.profile())}")
    try:
        signal.pause()
    finally:
        server.stop()
