"""An emulated Raspberry Pi for the test suite: an arm64 Debian userland under qemu-user, over SSH.

Why: loopback SSH to the host proves the transport, not what users do, which is to take an
artifact built on an x86-64 machine to an ARM board with another Python, another runtime build and
no TensorFlow. This module gives every CI run such a board:

* ``build_rootfs.sh`` makes the root filesystem (debootstrap arm64 bookworm, a venv with
  ai-edge-litert and numpy, openssh-server). It takes ~5 minutes, so the result is packed with zstd
  into ``~/.cache/edgekit-boards/<sha256 of build_rootfs.sh>.tar.zst`` (outside the repository)
  and later runs unpack it in seconds. Changing the build script is what rebuilds the board.
* :func:`start` unpacks it into a fresh directory, mounts /proc, a read-only /sys and a private
  /dev, bind-mounts an ARM-style ``/proc/cpuinfo`` (LiteRT segfaults in ``allocate_tensors`` when
  the guest reads the host's x86 one), authorizes a fresh client key and starts sshd on 127.0.0.1
  on a free port, remembered by pid.
* :meth:`Board.stop` kills sshd and every process still running inside this board's root, unmounts
  everything, and deletes the directory only once nothing is mounted under it.

Command line (for humans debugging the board)::

    python -m tests.boards.board check     # can this machine run it? (prints the reason if not)
    python -m tests.boards.board build     # build or find the cached tarball
    python -m tests.boards.board shell     # start it, print the ssh command, stop on Enter
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build_rootfs.sh"
CACHE_DIR = Path(os.environ.get("EDGEKIT_BOARD_CACHE", Path.home() / ".cache" / "edgekit-boards"))
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
USER = "pi"
PYTHON = "/opt/litert-venv/bin/python"
ARCH = "aarch64"
# The CPU qemu emulates, the Raspberry Pi 4's. Measured here (qemu 7.2, ai-edge-litert 2.3.0): with
# qemu's default "max" CPU, which offers SVE, XNNPACK's int8 kernels returned a wrong class for a
# per-channel int8 model (float and per-tensor uint8 models were right); cortex-a72, cortex-a76
# and "max,sve=off" all matched the x86 host. A board must not differ from real ones that way.
QEMU_CPU = "cortex-a72"
HOSTNAME = "edgekit-board"

# What a Raspberry Pi 4 reports (Cortex-A72: implementer 0x41 = Arm, part 0xd08). LiteRT's CPU
# feature detection reads this file; under qemu-user the guest would otherwise see the host's.
_CPUINFO_CORE = """processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""
_CPUINFO_TAIL = "Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: edgekit emulated board (qemu-user aarch64)\n"


class BoardUnavailable(Exception):
    """The machine cannot run the board; the message says why (used as the pytest skip reason)."""


def cache_key() -> str:
    """The build script's hash: any change to what is installed rebuilds the board."""
    return hashlib.sha256(BUILD_SCRIPT.read_bytes()).hexdigest()[:16]


def tarball_path() -> Path:
    return CACHE_DIR / f"rootfs-arm64-{cache_key()}.tar.zst"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def unavailable_reason(need_build: bool = False) -> str | None:
    """Why this machine cannot run the board, or None. Checked before anything is touched."""
    if not sys.platform.startswith("linux"):
        return "the emulated board needs Linux (qemu-user, binfmt_misc, chroot)"
    if os.geteuid() != 0:
        return "the emulated board needs root (chroot, mounts); run the tests as root"
    tools = ["qemu-aarch64-static", "zstd", "tar", "ssh", "ssh-keygen", "chroot", "mount", "umount"]
    if need_build or not tarball_path().exists():
        tools.append("debootstrap")
    missing = [t for t in tools if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    if missing:
        return (
            "missing " + ", ".join(missing) + "; apt-get install qemu-user-static binfmt-support debootstrap zstd openssh-client"
        )
    return binfmt_reason()


def binfmt_reason() -> str | None:
    """Make sure the kernel runs aarch64 binaries through qemu (mount binfmt_misc, enable the entry).

    Without binfmt only one emulated process runs (its children fail with 'Exec format error'), and
    sshd, pip and the shell all fork."""
    if not (BINFMT_DIR / "register").exists():
        proc = _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)])
        if proc.returncode != 0:
            return f"binfmt_misc is not available and could not be mounted ({proc.stderr.strip()[:200]})"
    entry = BINFMT_DIR / "qemu-aarch64"
    if not entry.exists() or "enabled" not in entry.read_text(errors="replace").splitlines()[0:1]:
        tool = shutil.which("update-binfmts") or "/usr/sbin/update-binfmts"
        if Path(tool).exists():
            _run([tool, "--enable", "qemu-aarch64"])
    if not entry.exists():
        return "binfmt_misc has no qemu-aarch64 entry; apt-get install qemu-user-static binfmt-support"
    text = entry.read_text(errors="replace")
    if not text.startswith("enabled"):
        return "the binfmt_misc entry qemu-aarch64 is disabled; run update-binfmts --enable qemu-aarch64"
    if "F" not in next((l.split()[1] for l in text.splitlines() if l.startswith("flags:") and len(l.split()) > 1), ""):
        # Without the F flag the interpreter is looked up inside the chroot, where it does not exist.
        return "the qemu-aarch64 binfmt entry lacks the F (fix binary) flag; use Debian's qemu-user-static"
    return None


@contextlib.contextmanager
def _locked(path: Path):
    """One build at a time across processes (two test sessions, or CI's background pre-build)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_tarball(log=print) -> Path:
    """The packed root filesystem for the current build script, built once (about 5 minutes)."""
    target = tarball_path()
    if target.exists():
        return target
    with _locked(CACHE_DIR / ".build.lock"):
        if target.exists():  # another process built it while we waited
            return target
        reason = unavailable_reason(need_build=True)
        if reason:
            raise BoardUnavailable(reason)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE_DIR))
        try:
            log(f"building the emulated board into {work} (about 5 minutes, cached afterwards)")
            t0 = time.monotonic()
            proc = subprocess.run(["bash", str(BUILD_SCRIPT), str(work)], capture_output=True, text=True)
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
                raise RuntimeError(f"build_rootfs.sh failed ({proc.returncode}):\n{tail}")
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            pack = f"tar --numeric-owner -C {_q(work)} -cf - rootfs | zstd -q -T0 -3 -o {_q(tmp)}"
            subprocess.run(["bash", "-o", "pipefail", "-c", pack], check=True)
            os.replace(tmp, target)
            log(f"built and packed {target} ({target.stat().st_size / 1e6:.0f} MB) in {time.monotonic() - t0:.0f} s")
        finally:
            _remove_tree(work)
        # Tarballs of older build scripts are dead weight (hundreds of MB each).
        for old in CACHE_DIR.glob("rootfs-arm64-*.tar.zst"):
            if old != target:
                old.unlink(missing_ok=True)
    return target


def _q(p) -> str:
    import shlex

    return shlex.quote(str(p))


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest last (from /proc/self/mountinfo)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == prefix or mnt.startswith(prefix + "/"):
                found.append(mnt)
    return found


def _remove_tree(path: Path) -> None:
    """rm -rf, but never through a mount point (that would delete host files)."""
    if not path.exists():
        return
    left = _mounts_under(path)
    if left:
        raise RuntimeError(f"not deleting {path}: still mounted there: {', '.join(left)}")
    shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpuinfo() -> str:
    n = os.cpu_count() or 1
    return "\n".join(_CPUINFO_CORE.format(n=i) for i in range(n)) + "\n" + _CPUINFO_TAIL


@dataclass
class Board:
    """A running emulated board: where it lives and how to reach it."""

    workdir: Path
    port: int = 0
    sshd_pid: int | None = None
    mounts: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    user: str = USER
    python: str = PYTHON
    arch: str = ARCH

    @property
    def rootfs(self) -> Path:
        return self.workdir / "rootfs"

    @property
    def identity(self) -> Path:
        return self.workdir / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.workdir / "ssh_config"

    def __post_init__(self) -> None:
        # A Unix socket path must stay under 108 bytes, so the ssh control socket cannot live in
        # workdir (pytest's tmp paths are long): a short /tmp directory named after it, which a
        # later sweep can find too.
        self.control_dir = Path(tempfile.gettempdir()) / f"ekb-{self.workdir.name.rsplit('-', 1)[-1]}"

    def ssh_options(self) -> list[str]:
        """OpenSSH client options; ControlMaster because each new connection costs ~1 s emulated."""
        return [
            "-F",
            str(self.ssh_config),
            "-p",
            str(self.port),
            "-l",
            self.user,
        ]

    def ssh(self, command: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
        """Run a shell command on the board (the remote login shell parses ``command``)."""
        proc = _run(["ssh", *self.ssh_options(), self.host, command], timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"ssh {command!r} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    # -- lifecycle -------------------------------------------------------------------------------

    def _mount(self, *args: str) -> None:
        target = args[-1]
        subprocess.run(["mount", *args], check=True, capture_output=True, text=True)
        self.mounts.append(target)

    def _setup_mounts(self) -> None:
        r = self.rootfs
        self._mount("-t", "proc", "proc", str(r / "proc"))
        # The guest must see an ARM CPU (see _CPUINFO_CORE); a bind mount over the new proc's file.
        cpuinfo = self.workdir / "cpuinfo"
        cpuinfo.write_text(_cpuinfo())
        self._mount("--bind", str(cpuinfo), str(r / "proc" / "cpuinfo"))
        self._mount("-t", "sysfs", "-o", "ro", "sysfs", str(r / "sys"))
        # A private /dev: the few nodes sshd, Python and numpy use. Never the host's /dev, so no
        # accident in clean-up can delete host device nodes.
        dev = r / "dev"
        self._mount("-t", "tmpfs", "-o", "mode=755,size=1m", "edgekit-board-dev", str(dev))
        for name, major, minor in (
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ):
            os.mknod(dev / name, 0o666 | 0o020000, os.makedev(major, minor))
            os.chmod(dev / name, 0o666)
        for name, target in (
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ):
            os.symlink(target, dev / name)
        (dev / "pts").mkdir()
        (dev / "shm").mkdir(mode=0o1777)
        os.chmod(dev / "shm", 0o1777)
        self._mount("-t", "tmpfs", "-o", "mode=755,size=4m", "edgekit-board-run", str(r / "run"))
        (r / "run" / "sshd").mkdir(mode=0o755)
        self._mount("-t", "tmpfs", "-o", "mode=1777", "edgekit-board-tmp", str(r / "tmp"))

    def _authorize(self) -> None:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-board-test", "-f", str(self.identity)], check=True
        )
        passwd = (self.rootfs / "etc" / "passwd").read_text().splitlines()
        uid, gid = next((int(f[2]), int(f[3])) for f in (l.split(":") for l in passwd) if f[0] == self.user)
        ssh_dir = self.rootfs / "home" / self.user / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        auth = ssh_dir / "authorized_keys"
        auth.write_text(Path(str(self.identity) + ".pub").read_text())
        for p in (ssh_dir, auth):
            os.chown(p, uid, gid)
        os.chmod(auth, 0o600)
        host_pub = (self.rootfs / "etc" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.control_dir.mkdir(mode=0o700, exist_ok=True)
        self.ssh_config.write_text(
            f"Host {self.host}\n"
            f"  Port {self.port}\n"
            f"  User {self.user}\n"
            f"  IdentityFile {self.identity}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 30\n"
            "  ControlMaster auto\n"
            f"  ControlPath {self.control_dir}/%C\n"
            "  ControlPersist 120\n"
            "  LogLevel ERROR\n"
        )

    def _start_sshd(self, timeout: float = 120) -> None:
        sshd = [
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-p",
            str(self.port),
            "-o",
            f"ListenAddress={self.host}",
            # qemu reads QEMU_CPU at every exec: sessions get it from sshd's SetEnv, sshd from env.
            "-o",
            f"SetEnv=QEMU_CPU={QEMU_CPU}",
        ]
        # Its own UTS namespace, so the board's fingerprint names the board, not the host.
        # unshare, chroot and sh each exec the next: the pid is sshd's.
        set_name = 'echo "$1" > /proc/sys/kernel/hostname; shift; exec "$@"'
        prefix = ["unshare", "--uts"] if shutil.which("unshare") else []
        proc = subprocess.Popen(
            [*prefix, "chroot", str(self.rootfs), "/bin/sh", "-c", set_name, "sh", HOSTNAME, *sshd],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "sshd.log", "wb"),
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "QEMU_CPU": QEMU_CPU},
        )
        self.sshd_pid = proc.pid
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd on the board exited ({proc.returncode}): {self._sshd_log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
            except OSError:
                time.sleep(0.3)
                continue
            check = self.ssh("uname -m", timeout=60)
            if check.returncode == 0 and check.stdout.strip() == ARCH:
                return
            last = (check.stdout + check.stderr).strip()
            time.sleep(0.5)
        raise RuntimeError(f"the board's sshd did not answer within {timeout:.0f} s ({last}; {self._sshd_log()})")

    def _sshd_log(self) -> str:
        try:
            return (self.workdir / "sshd.log").read_text(errors="replace").strip()[-400:]
        except OSError:
            return ""

    def _board_pids(self) -> list[int]:
        """Processes whose root directory is this board's rootfs: sshd, sessions, workers."""
        root = str(self.rootfs.resolve())
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") == root:
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def stop(self) -> None:
        """Kill sshd and whatever still runs on the board, unmount, delete. Safe to call twice."""
        if self.control_dir.exists():
            for sock in self.control_dir.iterdir():
                _run(["ssh", "-F", str(self.ssh_config), "-o", f"ControlPath={sock}", "-O", "exit", self.host], timeout=10)
        if self.sshd_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.sshd_pid, signal.SIGTERM)
            with contextlib.suppress(ChildProcessError):
                for _ in range(50):
                    if os.waitpid(self.sshd_pid, os.WNOHANG) != (0, 0):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(self.sshd_pid, signal.SIGKILL)
                    os.waitpid(self.sshd_pid, 0)
            self.sshd_pid = None
        if self.rootfs.exists():
            for sig in (signal.SIGTERM, signal.SIGKILL):
                pids = self._board_pids()
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                if pids:
                    time.sleep(1.0)
        for target in reversed(self.mounts):
            if _run(["umount", target]).returncode != 0:
                _run(["umount", "-l", target])
        self.mounts.clear()
        for target in reversed(_mounts_under(self.rootfs)) if self.rootfs.exists() else []:
            _run(["umount", "-l", target])
        _remove_tree(self.workdir)
        shutil.rmtree(self.control_dir, ignore_errors=True)

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(base: Path | None = None, log=print) -> None:
    """Stop boards left by a test process that was killed (SIGKILL skips every finalizer): their
    mounts would otherwise stay until reboot. Only boards whose owner process is gone are touched."""
    for owner in Path(base or tempfile.gettempdir()).glob("edgekit-board-*/owner.pid"):
        try:
            pid = int(owner.read_text().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid and not _pid_alive(pid):
            log(f"stopping a board left by process {pid}: {owner.parent}")
            # stop() kills what still runs inside its root (the orphaned sshd too) and unmounts
            # in reverse mount order before deleting.
            stale = Board(workdir=owner.parent)
            stale.mounts = _mounts_under(stale.rootfs) if stale.rootfs.exists() else []
            try:
                stale.stop()
            except RuntimeError as exc:  # something would not unmount: leave it, say so
                log(f"could not clean up {owner.parent}: {exc}")


def start(base: Path | None = None, log=print) -> Board:
    """Unpack the cached board into a fresh directory and bring sshd up; raises BoardUnavailable."""
    reason = unavailable_reason()
    if reason:
        raise BoardUnavailable(reason)
    tarball = ensure_tarball(log)
    sweep_stale(base, log)
    workdir = Path(tempfile.mkdtemp(prefix="edgekit-board-", dir=base))
    os.chmod(workdir, 0o755)
    (workdir / "owner.pid").write_text(str(os.getpid()))
    board = Board(workdir=workdir, port=_free_port())
    try:
        t0 = time.monotonic()
        subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"zstd -q -dc {_q(tarball)} | tar --numeric-owner -C {_q(workdir)} -xf -"],
            check=True,
        )
        board._setup_mounts()
        board._authorize()
        board._start_sshd()
        log(f"emulated board up on {board.host}:{board.port} in {time.monotonic() - t0:.1f} s")
        return board
    except BaseException:
        board.stop()
        raise


def profile_toml(board: Board, name: str = "emulated-pi") -> str:
    """A device profile for the board: an SSH Raspberry Pi, marked emulated (never compared with
    real boards), whose python is the venv on the board (ai-edge-litert, no TensorFlow)."""
    return (
        "# Written by tests/boards for one test session; the board is gone afterwards.\n"
        'description = "emulated Raspberry Pi 4 (arm64 Debian bookworm under qemu-user)"\n'
        'transport = "ssh"\n'
        f'host = "{board.host}"\n'
        f"port = {board.port}\n"
        f'user = "{board.user}"\n'
        f'identity = "{board.identity}"\n'
        f'known_hosts = "{board.known_hosts}"\n'
        f'arch = "{board.arch}"\n'
        'runtimes = ["tflite"]\n'
        'delegates = ["xnnpack"]\n'
        f'python = "{board.python}"\n'
        'workdir = "/tmp"\n'
        # Each new connection costs ~1 s of emulated crypto; a loaded CI machine needs more.
        "connect_timeout = 60\n"
        "emulated = true\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.boards.board", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["check", "build", "shell"])
    args = parser.parse_args(argv)
    if args.action == "check":
        reason = unavailable_reason()
        print(reason or f"ok (cache {tarball_path()}{'' if tarball_path().exists() else ', not built yet'})")
        return 1 if reason else 0
    if args.action == "build":
        print(ensure_tarball())
        return 0
    board = start()
    try:
        print(f"ssh -F {board.ssh_config} {board.host}    (python: {board.python})")
        print(profile_toml(board))
        input("press Enter to stop the board ")
    finally:
        board.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
