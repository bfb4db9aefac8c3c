"""The transport API: how edgekit reaches a device, whatever carries the bytes (a local process,
OpenSSH, adb).

bench, deploy and doctor all talk to a device through these few verbs, so each of them works on
every transport without an ``if transport == ...`` branch:

``run(argv, timeout)``
    Run a program on the device and return a ``subprocess.CompletedProcess`` (text mode, stdout
    and stderr captured, never raises on a non-zero exit). ``argv`` is a list: remote transports
    quote it with ``shlex.join`` before it reaches the device's shell, so no argument is ever
    interpreted by a shell. Connection failures (device unreachable, wrong host key, lost link)
    raise :class:`~edgekit.errors.EnvironmentMissing` with one clear line instead.
``push(local, remote)`` / ``pull(remote, local)``
    Copy one file to / from the device. ``pull`` writes atomically (temp name + rename).
``mkdtemp() -> str``
    A new private (mode 0700) directory on the device, in the profile's work directory, named
    ``edgekit-*``. Stale ``edgekit-*`` run directories whose owner process is gone (a run cut
    off by a power loss or a dropped link) are removed first, so a device that comes back is
    left clean by the next call.
``remove(path)``
    Remove a file or directory tree; never raises (used in ``finally`` blocks, also when the
    device has just gone away).
``sha256(path) -> str | None``
    The hex sha256 of a file on the device, None when it does not exist.
``run_worker(spec, artifact=None, timeout=None) -> dict``
    One measurement of ``artifact`` (default ``spec["artifact"]``, a local path) on the device:
    push what is needed, verify the copy's sha256, run, read the result back, clean up (also on
    failure). Returns a result of schema ``edgekit.result`` (status ok or error) whose
    ``artifact.path`` is the local path and whose ``device`` block names the profile. A runner
    killed by a signal or stopped at ``timeout`` is an error result too (one line naming the
    signal and the format's next step, the device's stderr tail in ``error.log_tail``; see
    edgekit.transports.crash), so a batch or a pool goes on; only a lost device raises.
``close()``
    Release connections (e.g. the SSH ControlMaster). Transports are context managers.

Transports are built from a device profile with :func:`open_transport` (registry lookup by the
profile's ``transport`` kind), so adding a transport is one module that registers itself.

What a kind of transport *is* lives on its class too, so no other module branches on its name;
these are class-level, asked without opening a connection:

``profile_keys`` / ``required_keys`` / ``check_profile(data, fail)``
    The profile keys only this transport takes (with their TOML types), the ones it needs, and any
    further checks; edgekit.devices.profiles rejects a key that belongs to another transport.
``address(profile)`` / ``lock_key(profile)``
    How a listing shows the device, and the raw key naming the physical device for the benchmark
    lock (edgekit.devices.pool): two profiles of one board share it.
``survey(profiles, timeout) -> Survey``
    The state of these profiles' devices now (``edgekit devices``) and what the transport can
    discover that no profile names.
``deploy_pointer`` / ``default_deploy_dir`` / ``default_workdir`` / ``local``
    How ``edgekit deploy`` stores current/previous ("link" or "file"), where it deploys when
    neither ``--to`` nor the profile says, where run directories go when the profile sets no
    workdir, and whether the device is this machine (paths expand here).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.devices.profiles import DeviceProfile

# Every directory mkdtemp() makes starts with this, so a sweep never touches anything else.
RUN_DIR_PREFIX = "edgekit-run."
# A run directory without an owner record older than this is stale (minutes).
STALE_UNOWNED_MINUTES = 60

# POSIX sh scripts shared by the remote transports (OpenSSH and adb shells; dash, bash, toybox and
# busybox sh all run them). They are constant text: values arrive as positional parameters.
# mkdtemp: sweep run directories whose owner shell is gone (or that never got an owner and are
# old), then make a private new one. $1 workdir, $2 prefix, $3 minutes.
MKDTEMP_SH = r"""
w=$1; p=$2; m=$3
mkdir -p "$w" || exit 1
for d in "$w/$p"*; do
  [ -d "$d" ] || continue
  if [ -f "$d/pids" ]; then
    sp=; read sp cp < "$d/pids" 2>/dev/null
    # alive = signalable and not a zombie (an unreaped zombie still answers kill -0)
    if [ -n "$sp" ] && kill -0 "$sp" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$sp/status" 2>/dev/null; then continue; fi
    rm -rf "$d"
  elif [ -n "$(find "$d" -maxdepth 0 -mmin +"$m" 2>/dev/null)" ]; then
    rm -rf "$d"
  fi
done
umask 077
mktemp -d "$w/${p}XXXXXXXX"
"""

# Stop a run (if its shell still lives) and remove its directory. $1 run dir.
ABORT_SH = r"""
if [ -f "$1/pids" ]; then sp=; cp=; read sp cp < "$1/pids"; kill $cp $sp 2>/dev/null; fi
rm -rf "$1"
"""

SHA256_SH = r"""
[ -f "$1" ] || exit 3
if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"
else "$2" -c 'import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
fi
"""


@dataclass
class Survey:
    """What one transport kind found for ``edgekit devices``: a state per profile name
    (``{"state": ..., "detail": ...}``; "ready" and "reachable" list green), devices it can see
    that no profile names (``{"kind", "id", "state", "detail"}``), and notes (one line each)."""

    states: dict[str, dict] = field(default_factory=dict)
    discovered: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Transport:
    """Base class documenting the API; subclasses implement every method."""

    kind: str = ""

    # --- what this kind of transport is (class-level; see the module docstring) -------------
    profile_keys: dict[str, tuple[type, ...]] = {}
    required_keys: dict[str, str] = {}  # key -> hint when it is missing
    deploy_pointer: str = "link"  # "link": symlinks current/previous; "file": text files
    default_deploy_dir: str | None = None  # None: --to or the profile's deploy_dir is needed
    default_workdir: str = "/tmp"
    local: bool = False  # the device is this machine
    local_path_keys: tuple[str, ...] = ()  # profile keys naming files on this machine
    noun: str = ""  # "an ssh device", for messages; default "a KIND device"

    @classmethod
    def check_profile(cls, data: dict[str, Any], fail: Callable[[str, str], Exception]) -> None:
        """Checks of a profile's values beyond their types; raise ``fail(message, hint)``."""

    @classmethod
    def address(cls, profile: "DeviceProfile") -> str:
        return f"({cls.kind})"

    @classmethod
    def lock_key(cls, profile: "DeviceProfile") -> str:
        """The physical device, for the benchmark lock; by default each profile is its own."""
        return f"{cls.kind}-{profile.name}"

    @classmethod
    def survey(cls, profiles: Sequence["DeviceProfile"], timeout: float) -> Survey:
        """The state of each profile's device now; never raises for one unreachable device."""
        return Survey(
            states={
                p.name: {"state": "unknown", "detail": f"the {cls.kind} transport has no reachability check"} for p in profiles
            }
        )

    def __init__(self, device: "DeviceProfile | None" = None):
        self.device = device

    @property
    def device_name(self) -> str:
        return self.device.name if self.device is not None else self.kind

    def device_block(self) -> dict:
        """What every result records about where it ran (merged into result["device"])."""
        if self.device is None:
            return {"name": self.kind, "transport": self.kind, "emulated": False}
        return {
            "name": self.device.name,
            "transport": self.device.transport,
            "emulated": bool(self.device.emulated),
            "arch": self.device.arch,
        }

    # --- the verbs -------------------------------------------------------------------------
    def run(
        self, argv: Sequence[str], timeout: float | None = None, input: str | bytes | None = None
    ) -> subprocess.CompletedProcess:
        raise NotImplementedError

    def start(self, argv: Sequence[str]) -> subprocess.Popen:
        """Start a command on the device without waiting: text pipes for stdin, stdout, stderr.

        For a process that must live exactly as long as edgekit's side of it (the deploy lock):
        closing its stdin, or edgekit or the connection ending, ends it on the device too.
        """
        raise NotImplementedError

    def push(self, local: str, remote: str) -> None:
        raise NotImplementedError

    def pull(self, remote: str, local: str) -> None:
        raise NotImplementedError

    def mkdtemp(self) -> str:
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def sha256(self, path: str) -> str | None:
        raise NotImplementedError

    def run_worker(self, spec: dict, artifact: str | None = None, timeout: float | None = None) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def popen(argv: Sequence[str]) -> subprocess.Popen:
    """Popen with the pipes Transport.start promises; a missing program is one edgekit line."""
    try:
        return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise EdgekitError(f"no such program on this machine: {argv[0]}", "install it or fix the path") from None


def last_line(text: str | bytes | None, n: int = 300) -> str:
    """The last non-empty line of a device command's stderr: for failures of file copies and
    helper commands, whose own last line (``No space left on device``) is the cause. A runner's
    log is never summarized this way (see edgekit.transports.crash)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return (lines[-1].strip() if lines else "no message")[:n]


def check_argv(argv: Sequence[str]) -> list[str]:
    """argv must be a non-empty list of strings: a single string would be split by a shell."""
    if isinstance(argv, (str, bytes)) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("transport.run takes a non-empty list of str arguments, not a shell string")
    return list(argv)


class TimedOut(EdgekitError):
    """A command on a device outlived its timeout. ``output`` is what it had written (stderr, or
    the combined output of a native tool) so ``run_worker`` can keep it as the log tail of the
    error result it returns instead of raising."""

    def __init__(self, message: str, hint: str = "", *, output: str | bytes | None = None, **kw):
        super().__init__(message, hint, **kw)
        if isinstance(output, bytes):
            output = output.decode("utf-8", "replace")
        self.output = output or ""


def timeout_error(device: str, what: str, timeout: float | None, output: str | bytes | None = None) -> TimedOut:
    return TimedOut(
        f"{what} on device {device!r} did not finish within {timeout or 0:.0f} s",
        "lower --min-time/--min-runs or raise --timeout",
        output=output,
    )


def artifact_remote_name(local: str) -> str:
    """The file name an artifact gets on a device: chosen by edgekit, never taken from user input
    (a user's file name could hold quotes, spaces or '..'); the suffix keeps format detection."""
    from edgekit.runtimes.formats import remote_name_for  # the suffixes are the format records'

    return remote_name_for(local)


def transport_class(kind: str) -> type[Transport]:
    """The registered Transport class of a kind (its capabilities are class-level)."""
    from edgekit.transports import TRANSPORTS

    return TRANSPORTS.get(kind)


def open_transport(device: "DeviceProfile") -> Transport:
    """The transport object for a device profile (looked up by kind in TRANSPORTS)."""
    from edgekit.transports import TRANSPORTS

    cls = TRANSPORTS.get(device.transport)
    return cls(device)
