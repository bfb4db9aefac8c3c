"""The ``ssh`` transport: Raspberry Pis, Coral Dev Boards, any Linux board with Python.

It drives the system OpenSSH client, so the user's ``~/.ssh/config``, keys, agent and jump hosts
just work. Every call uses ``BatchMode=yes`` (never a password prompt that would hang a CI job),
a connect timeout and keep-alives (a dead link is noticed in seconds), and strict host key
checking as the user configured it (a changed host key is an error, never silently accepted).
One ControlMaster connection per transport object carries the many small calls of a run.

Every remote command is a list quoted with ``shlex.join``; the scripts below are constant text
that receive their values as positional parameters ("$1"), and file names on the device are
chosen by edgekit (``model.tflite`` in a fresh ``mktemp -d`` directory), never taken from input.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from typing import Sequence

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.transports import TRANSPORTS
from edgekit.transports.base import (
    ABORT_SH,
    MKDTEMP_SH,
    RUN_DIR_PREFIX,
    SHA256_SH,
    STALE_UNOWNED_MINUTES,
    TimedOut,
    Survey,
    Transport,
    artifact_remote_name,
    check_argv,
    last_line as _tail,
    popen,
    timeout_error,
)
from edgekit.transports.crash import benchmark_timed_out, crash_hint, failed_result, log_tail, worker_died
from edgekit.transports.host import apply_profile

# One measurement: $1 run dir, $2 "keep" to leave the dir for a later pull, then the runner argv.
# The spec arrives on stdin; the result JSON leaves on stdout; the runner's own output goes to
# stderr. The trap removes the directory on every way out, and kills the runner if this shell is
# told to stop (the host's timeout path sends TERM to the pids recorded in "pids").
RUN_SH = r"""
d=$1; keep=$2; shift 2
cd "$d" || exit 97
child=
cleanup() {
  [ -n "$child" ] && kill "$child" 2>/dev/null
  if [ "$keep" != keep ]; then cd /; rm -rf "$d"; fi
}
trap cleanup EXIT
trap 'exit 143' HUP INT TERM
trap 'exit 141' PIPE
cat > spec.json || exit 98
"$@" --spec spec.json --out result.json </dev/null >&2 &
child=$!
echo "$$ $child" > pids
wait "$child"; rc=$?
child=
rm -f pids
if [ -f result.json ]; then cat result.json; exit 0; fi
exit "$rc"
"""

PUSH_SH = 'cat > "$1.part" && mv -f "$1.part" "$1"'

_counter = itertools.count()
_OPTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*=[^\s]+$")


class SSHTransport(Transport):
    kind = "ssh"
    profile_keys = {
        "host": (str,),
        "port": (int,),
        "user": (str,),
        "identity": (str,),
        "known_hosts": (str,),
        "ssh_config": (str,),
        "ssh_options": (list,),
    }
    local_path_keys = ("identity", "known_hosts", "ssh_config")
    noun = "an ssh device"
    required_keys = {"host": 'add host = "name-or-address" (an alias from ~/.ssh/config works)'}
    default_deploy_dir = "edgekit-deploy"  # relative: the login directory

    @classmethod
    def check_profile(cls, data, fail) -> None:
        if "port" in data and not 0 < data["port"] < 65536:
            raise fail(f"port {data['port']} is out of range", "use 1-65535")
        for opt in data.get("ssh_options", []):
            if not isinstance(opt, str) or not _OPTION_RE.match(opt):
                raise fail(f"ssh option {opt!r} is not of the form Key=Value", 'write e.g. ssh_options = ["ProxyJump=gateway"]')

    @classmethod
    def address(cls, profile) -> str:
        user = f"{profile.user}@" if profile.user else ""
        port = f":{profile.port}" if profile.port else ""
        return f"{user}{profile.host}{port}"

    @classmethod
    def lock_key(cls, profile) -> str:
        return f"ssh-{profile.user or ''}@{profile.host}:{profile.port or 22}"

    @classmethod
    def survey(cls, profiles, timeout: float) -> Survey:
        from edgekit.transports.ssh_reach import probe_all

        return Survey(states=probe_all(list(profiles), timeout))

    def __init__(self, device):
        super().__init__(device)
        if device is None or not device.host:
            raise EdgekitError("the ssh transport needs a device profile with a host", "pass --device NAME")
        if shutil.which("ssh") is None:
            raise EnvironmentMissing(
                "the OpenSSH client (ssh) is not installed", "install it, e.g. apt-get install openssh-client"
            )
        # A private, short ControlPath per transport object: a Unix socket path must stay under
        # ~100 bytes, and closing this transport must not cut another edgekit process's runs.
        base = os.path.join(tempfile.gettempdir(), f"edgekit-ssh-{os.getuid()}")
        os.makedirs(base, mode=0o700, exist_ok=True)
        self._control_dir = tempfile.mkdtemp(prefix=f"{os.getpid()}-{next(_counter)}-", dir=base)
        self._control_path = os.path.join(self._control_dir, "cm")
        self._master = False
        self.transfer_timeout = 600.0

    # --- ssh command lines ----------------------------------------------------------------
    def _options(self) -> list[str]:
        d = self.device
        opts = [
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, int(round(d.connect_timeout)))}",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "LogLevel=ERROR",
            "-o",
            f"ControlPath={self._control_path}",
        ]
        if d.ssh_config:
            opts = ["-F", d.ssh_config] + opts
        if d.port:
            opts += ["-p", str(d.port)]
        if d.user:
            opts += ["-l", d.user]
        if d.identity:
            opts += ["-i", d.identity, "-o", "IdentitiesOnly=yes"]
        if d.known_hosts:
            opts += ["-o", f"UserKnownHostsFile={d.known_hosts}"]
        for o in d.ssh_options:
            opts += ["-o", o]
        return opts

    def ssh_argv(self, remote_command: str) -> list[str]:
        """The full local argv for one remote command (exposed for tests and ``--debug``)."""
        return ["ssh", *self._options(), "-o", "ControlMaster=no", "--", self.device.host, remote_command]

    def _start_master(self) -> None:
        """Open the shared connection once; its failure is the clearest connection error."""
        if self._master:
            return
        if os.path.exists(self._control_path):  # left by a master that died with its device
            try:
                os.unlink(self._control_path)
            except OSError:
                pass
        argv = [
            "ssh",
            *self._options(),
            "-o",
            "ControlMaster=yes",
            "-o",
            "ControlPersist=300",
            "-N",
            "-f",
            "--",
            self.device.host,
        ]
        # The backgrounded master inherits stderr: give it a file, not a pipe, or reading the
        # pipe would wait for the master to exit.
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    timeout=self.device.connect_timeout + 15,
                )
            except subprocess.TimeoutExpired:
                raise self._unreachable("did not answer") from None
            err.seek(0)
            text = err.read().decode("utf-8", "replace")
        if proc.returncode != 0:
            raise self.connection_error(text, during="connecting")
        self._master = True

    def _ssh(
        self, remote_command: str, timeout: float | None, input=None, stdin=None, binary: bool = False, what: str = "the command"
    ) -> subprocess.CompletedProcess:
        self._start_master()
        argv = self.ssh_argv(remote_command)
        try:
            proc = subprocess.run(
                argv,
                input=input,
                stdin=stdin,
                capture_output=True,
                timeout=timeout,
                text=not binary and not isinstance(input, bytes),
            )
        except subprocess.TimeoutExpired as exc:
            raise timeout_error(self.device_name, what, timeout, exc.stderr) from None
        if proc.returncode == 255:
            err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
            if _is_connection_error(err):
                raise self.connection_error(err, during=what)
            # A dropped link often ends ssh with 255 and no message (LogLevel=ERROR); a remote
            # command may also exit 255 itself. A fresh connection tells the two apart.
            probe = self._probe()
            if probe is not None:
                self._master = False
                detail = _tail(probe) if probe.strip() else "the connection closed"
                raise EnvironmentMissing(
                    f"lost the SSH connection to device {self.device_name!r} ({self.device.address}) during {what} ({detail})",
                    "check the device's power and network, then run again; its temporary files are removed on the next run",
                )
        return proc

    def _probe(self) -> str | None:
        """None when a new connection to the device works, else ssh's error output."""
        argv = ["ssh", *self._options(), "-o", "ControlMaster=no", "--", self.device.host, "true"]
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=self.device.connect_timeout + 10
            )
        except subprocess.TimeoutExpired:
            return "no answer"
        return None if proc.returncode == 0 else (proc.stderr or "")

    # --- errors ---------------------------------------------------------------------------
    def _unreachable(self, why: str) -> EnvironmentMissing:
        return EnvironmentMissing(
            f"device {self.device_name!r} ({self.device.address}) {why} within {self.device.connect_timeout:.0f} s",
            "check that it is powered, on the network and that the host/port in its profile are right",
        )

    def connection_error(self, stderr: str, during: str = "connecting") -> EnvironmentMissing:
        """Translate OpenSSH's stderr into one clear line (the user never reads ssh's banner)."""
        name, addr = self.device_name, self.device.address
        low = stderr.lower()
        last = next((l.strip() for l in reversed(stderr.strip().splitlines()) if l.strip()), "no message")
        if "remote host identification has changed" in low or "host key verification failed" in low:
            if "identification has changed" not in low and not self.host_key_on_record():
                return EnvironmentMissing(
                    f"the SSH host key of device {name!r} ({addr}) is not known",
                    f"connect once with 'ssh {self.device.host}' to check and accept it, or add it to the known_hosts file",
                )
            return EnvironmentMissing(
                f"the SSH host key of device {name!r} ({addr}) does not match known_hosts",
                "if the device was reinstalled, verify its new key and remove the old one with 'ssh-keygen -R HOST'; "
                "otherwise the connection may be intercepted",
            )
        if "permission denied" in low:
            return EnvironmentMissing(
                f"device {name!r} ({addr}) refused the SSH login ({last})",
                "authorize your key on the device (ssh-copy-id) or set identity/user in its profile",
            )
        if "could not resolve hostname" in low or "name or service not known" in low:
            return EnvironmentMissing(
                f"cannot resolve the host name of device {name!r} ({addr})", "check host in its profile or your DNS"
            )
        if "connection refused" in low:
            return EnvironmentMissing(
                f"device {name!r} ({addr}) refused the SSH connection",
                "check that sshd runs on the device and the port in its profile is right",
            )
        if "timed out" in low or "no route to host" in low or "network is unreachable" in low:
            return self._unreachable("did not answer")
        if during != "connecting":
            return EnvironmentMissing(
                f"lost the SSH connection to device {name!r} ({addr}) during {during} ({last})",
                "check the device's power and network, then run again; its temporary files are removed on the next run",
            )
        return EnvironmentMissing(f"ssh to device {name!r} ({addr}) failed: {last}", "try 'ssh -v' with the same host to see why")

    def host_key_on_record(self) -> bool:
        """Do the known_hosts files ssh would read hold any key for this host? (In BatchMode ssh
        says only "Host key verification failed." both for an unknown and for a changed key.)"""
        try:
            conf = subprocess.run(
                ["ssh", "-G", *self._options(), "--", self.device.host], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return True
        values = {}
        for line in conf.splitlines():
            key, _, value = line.partition(" ")
            values.setdefault(key, value)
        host, port = values.get("hostname", self.device.host), values.get("port", "22")
        name = host if port == "22" else f"[{host}]:{port}"
        for f in values.get("userknownhostsfile", "").split() + values.get("globalknownhostsfile", "").split():
            f = os.path.expanduser(f)
            if (
                os.path.exists(f)
                and subprocess.run(["ssh-keygen", "-F", name, "-f", f], capture_output=True, timeout=10).returncode == 0
            ):
                return True
        return False

    # --- the transport API ----------------------------------------------------------------
    def _remote(self, argv: Sequence[str]) -> str:
        argv = check_argv(argv)
        if self.device.env:
            argv = ["env", *(f"{k}={v}" for k, v in sorted(self.device.env.items())), *argv]
        return shlex.join(argv)

    def run(
        self, argv: Sequence[str], timeout: float | None = None, input: str | bytes | None = None
    ) -> subprocess.CompletedProcess:
        return self._ssh(self._remote(argv), timeout, input=input, binary=isinstance(input, bytes), what=f"'{argv[0]}'")

    def start(self, argv: Sequence[str]) -> subprocess.Popen:
        self._start_master()
        return popen(self.ssh_argv(self._remote(argv)))

    def _sh(self, script: str, *args: str, timeout: float | None = 60.0, **kw) -> subprocess.CompletedProcess:
        return self._ssh(self._remote(["sh", "-c", script, "sh", *args]), timeout, **kw)

    def push(self, local: str, remote: str) -> None:
        with open(local, "rb") as f:
            proc = self._sh(
                PUSH_SH,
                remote,
                stdin=f,
                binary=True,
                timeout=self.transfer_timeout,
                what=f"the copy of {os.path.basename(local)}",
            )
        if proc.returncode != 0:
            raise EdgekitError(
                f"cannot write {remote} on device {self.device_name!r} ({_tail(proc.stderr)})",
                "check the free space and permissions of the profile's workdir on the device",
            )

    def pull(self, remote: str, local: str) -> None:
        proc = self._sh('cat -- "$1"', remote, binary=True, timeout=self.transfer_timeout, what=f"the copy of {remote}")
        if proc.returncode != 0:
            raise EdgekitError(f"cannot read {remote} on device {self.device_name!r} ({_tail(proc.stderr)})", "check the path")
        from edgekit.build.artifacts import atomic_write_bytes

        atomic_write_bytes(local, proc.stdout)

    def mkdtemp(self) -> str:
        proc = self._sh(
            MKDTEMP_SH, self.device.workdir, RUN_DIR_PREFIX, str(STALE_UNOWNED_MINUTES), what="making a work directory"
        )
        path = (proc.stdout or "").strip().splitlines()[-1:] or [""]
        if proc.returncode != 0 or not path[0].startswith(self.device.workdir):
            raise EdgekitError(
                f"cannot make a work directory in {self.device.workdir} on device {self.device_name!r} ({_tail(proc.stderr)})",
                "set workdir in the device profile to a writable directory",
            )
        return path[0]

    def remove(self, path: str) -> None:
        try:
            self._sh(ABORT_SH, path, timeout=15)
        except (EdgekitError, OSError):
            pass  # the device is gone; the next mkdtemp sweeps what is left

    def sha256(self, path: str) -> str | None:
        proc = self._sh(SHA256_SH, path, self.device.python, timeout=120, what="hashing the copy")
        if proc.returncode == 3:
            return None
        word = (proc.stdout or "").split()[:1]
        if proc.returncode != 0 or not word or len(word[0]) != 64:
            raise EdgekitError(
                f"cannot hash {path} on device {self.device_name!r} ({_tail(proc.stderr)})",
                "the device needs sha256sum or Python",
            )
        return word[0]

    def runner_argv(self) -> list[str]:
        argv = [self.device.python, "runner.pyz"]
        if self.device.affinity:
            argv = ["taskset", self.device.affinity] + argv
        if self.device.env:
            argv = ["env", *(f"{k}={v}" for k, v in sorted(self.device.env.items()))] + argv
        return argv

    def run_worker(self, spec: dict, artifact: str | None = None, timeout: float | None = None) -> dict:
        from edgekit.build.artifacts import sha256_file
        from edgekit.harness.bundle import runner_pyz

        spec = apply_profile(spec, self)
        local = os.path.abspath(artifact or spec["artifact"])
        digest = sha256_file(local)
        runner = runner_pyz()
        run_dir = self.mkdtemp()
        try:
            remote_artifact = f"{run_dir}/{artifact_remote_name(local)}"
            self.push(runner, f"{run_dir}/runner.pyz")
            self.push(local, remote_artifact)
            remote_spec = dict(spec, artifact=remote_artifact, expect_sha256=digest, artifact_label=local)
            inputs = dict(spec.get("inputs") or {})
            if inputs.get("kind") in ("file", "image"):
                ext = os.path.splitext(inputs["path"])[1].lower()
                remote_input = f"{run_dir}/input{ext if ext.isascii() and ext[1:].isalnum() else ''}"
                self.push(inputs["path"], remote_input)
                remote_spec["inputs"] = dict(inputs, path=remote_input)
            local_outputs = spec.get("save_outputs")
            if local_outputs:
                remote_spec["save_outputs"] = f"{run_dir}/outputs.npz"
            got = self.sha256(remote_artifact)
            if got != digest:
                raise EdgekitError(
                    f"the copy of {os.path.basename(local)} on device {self.device_name!r} has sha256 "
                    f"{(got or 'none')[:12]}..., the local file {digest[:12]}...",
                    "the transfer was corrupted or the device's disk is full or failing; run again",
                )
            keep = "keep" if local_outputs else "nokeep"
            mine = dict(spec, artifact=local)  # messages name the user's file, not the device's copy
            try:
                proc = self._sh(
                    RUN_SH,
                    run_dir,
                    keep,
                    *self.runner_argv(),
                    input=json.dumps(remote_spec),
                    timeout=timeout,
                    what="the benchmark",
                )
            except TimedOut as exc:  # the finally below stops the runner and removes its directory
                return failed_result(mine, benchmark_timed_out(mine, timeout, exc.output, device=self.device_name), here=False)
            result = self._read_result(proc, mine)
            if local_outputs and result.get("status") == "ok":
                self.pull(remote_spec["save_outputs"], local_outputs)
                result["outputs_file"] = local_outputs
            return result
        finally:
            self.remove(run_dir)

    def _read_result(self, proc: subprocess.CompletedProcess, spec: dict) -> dict:
        """The runner's result; a runner that wrote none is an error result (killed by a signal:
        RUN_SH's shell hands on 128 + N) with the device's stderr tail in ``error.log_tail``."""
        local = spec["artifact"]
        out = (proc.stdout or "").strip()
        if out:
            try:
                result = json.loads(out)
            except ValueError:
                result = None
            if isinstance(result, dict) and "status" in result:
                result["artifact"]["path"] = local  # the worker saw the device's copy
                result["artifact"]["name"] = os.path.basename(local)
                if result.get("status") != "ok" and isinstance(result.get("error"), dict):
                    result["error"].setdefault("log_tail", log_tail(proc.stderr))
                return result
        if proc.returncode == 127:  # the shell's own "python: not found" is the whole story
            raise EnvironmentMissing(
                f"device {self.device_name!r} cannot start {self.device.python} ({_tail(proc.stderr)})",
                "install Python 3 with numpy and a TFLite runtime on the device, or set python in its profile",
            )
        if proc.returncode == 255:
            # _ssh ruled out a lost link; OpenSSH exits 255 without a word when the remote shell
            # itself died by a signal (the exit-signal message shows only in its debug log, unnamed).
            error = EdgekitError(
                f"the run of {os.path.basename(local)} on device {self.device_name!r} ended without an exit status "
                "(its shell was killed by a signal)",
                crash_hint(spec),
                exit_code=1,
                details={"exit_status": 255, "device": self.device_name, "log_tail": log_tail(proc.stderr)},
            )
        else:
            error = worker_died(
                spec,
                proc.returncode,
                proc.stderr,
                process="the runner",
                device=self.device_name,
                shell=True,
                hint="check the device has numpy and the model's runtime installed (rerun with --debug)",
            )
        return failed_result(spec, error, here=False)

    def close(self) -> None:
        if self._master:
            subprocess.run(
                ["ssh", "-o", f"ControlPath={self._control_path}", "-O", "exit", "--", self.device.host],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=15,
            )
            self._master = False
        shutil.rmtree(self._control_dir, ignore_errors=True)

    def __del__(self):  # best effort: a forgotten close() must not leave a master running long
        try:
            self.close()
        except Exception:
            pass


def _is_connection_error(stderr: str) -> bool:
    """Does ssh's exit 255 come from the connection (not from the remote command)?"""
    low = stderr.lower()
    return any(
        m in low
        for m in (
            "ssh:",
            "connection",
            "host key",
            "permission denied",
            "broken pipe",
            "client_loop",
            "timed out",
            "no route",
            "could not resolve",
            "kex_exchange",
            "packet_write",
            "remote host",
        )
    )


TRANSPORTS.register("ssh", SSHTransport)
