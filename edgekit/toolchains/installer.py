"""Create a toolchain's environment: venv, ``pip install --no-deps -r <lock>``, check, marker last.

Why this shape:
- The environment is built in its final directory (venvs hard-code their own path, so one cannot
  be built elsewhere and renamed). The marker file is written last; a directory without it is a
  half-made environment (a killed install, a full disk) and is removed and redone on next use.
- A file lock per environment (edgekit.locks, in ``<toolchains dir>/.locks``) makes two builds that
  need the same toolchain at once wait for one install instead of installing into one directory
  together, and ``remove`` take the same lock, so it never deletes an environment being built.
  The kernel drops the lock when its holder dies, so there is no stale lock to break; lock files
  are never deleted (that would split the lock between its waiters and the next process).
- ``--no-deps`` with a complete lock: pip installs exactly the pinned set, nothing resolves
  differently on another day or machine; ``pip check`` then proves the set is complete.
- Offline: ``--find-links DIR`` or ``$EDGEKIT_WHEELHOUSE`` adds ``--no-index``; otherwise the
  user's own pip configuration (index, proxy, certificates, find-links) applies unchanged.
- pip's output goes whole to a log; the person sees a few progress lines, and a failure is one
  ``edgekit:`` line quoting pip's own reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from edgekit import locks
from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.toolchains.envs import (
    MARKER,
    OWNER,
    _kin,
    _tc,
    base_python,
    env_dir,
    env_python,
    is_installed,
    lock_path,
    owned,
    python_tag,
    requirement_lines,
)

Progress = Callable[[str], None] | None
HEARTBEAT_S = 30.0  # a "still unpacking" line this often, so a CI log never looks hung

# pip lines that say the network is the problem, not the pins.
_NETWORK = re.compile(
    r"NewConnectionError|Temporary failure in name resolution|Name or service not known|Network is unreachable|"
    r"Failed to establish a new connection|ConnectTimeout|ReadTimeout|Connection refused|ProxyError|"
    r"No route to host|SSLError|CERTIFICATE_VERIFY_FAILED|Max retries exceeded"
)


def _say(progress: Progress, text: str) -> None:
    if progress is not None:
        progress(text)


def logs_dir() -> Path:
    from edgekit.toolchains import toolchains_dir

    return toolchains_dir() / ".logs"


def log_path(name) -> Path:
    return logs_dir() / f"{env_dir(name).name}.install.log"


@contextlib.contextmanager
def env_lock(
    path: Path, progress: Progress = None, timeout: float | None = None, busy: locks.Busy | None = None
) -> Iterator[float]:
    """Hold the install lock of the environment at ``path`` (edgekit.locks); yields the seconds waited."""
    lock = lock_path(path)

    def waiting(holder: str) -> None:
        _say(progress, f"waiting for another install of {path.name} ({holder}) to finish")

    def held(holder: str, seconds: float) -> EdgekitError:
        return EdgekitError(
            f"another install of {path.name} held its lock for {seconds:.0f} s ({holder})",
            f"wait for it to finish (lock {lock})",
        )

    with locks.hold(lock, timeout=timeout, poll=0.2, on_wait=waiting, busy=busy or held) as waited:
        yield waited


def wheelhouse(find_links: str | None = None) -> str | None:
    d = find_links or os.environ.get("EDGEKIT_WHEELHOUSE") or None
    if d and not os.path.isdir(d):
        raise EdgekitError(
            f"the wheel directory {d} does not exist",
            "pass a directory of wheels ('edgekit toolchains download NAME DIR' makes one)",
        )
    return d


def ensure(name, *, progress: Progress = None, install: bool = True) -> str:
    """The toolchain's python, installing its environment first if needed (``install=False``:
    raise instead). ``EDGEKIT_TOOLCHAIN_<NAME>_PYTHON`` short-cuts everything."""
    tc = _tc(name)
    override = os.environ.get(tc.env_var)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise EnvironmentMissing(
                f"{tc.env_var}={override} is not an executable interpreter",
                f"point it at the python of an environment with the {tc.name} toolchain, or unset it",
            )
        return override
    path = env_dir(tc)
    if is_installed(path):
        return str(env_python(path))
    if not install:
        raise EnvironmentMissing(
            f"the {tc.name} toolchain is not installed", f"run 'edgekit toolchains install {tc.name}' (or set {tc.env_var})"
        )
    return _install(tc, progress=progress)


def check_python(tc) -> None:
    v = sys.version_info[:2]
    if (tc.python_min and v < tuple(tc.python_min)) or (tc.python_max and v > tuple(tc.python_max)):
        raise EnvironmentMissing(
            f"the {tc.name} toolchain cannot be installed on Python {v[0]}.{v[1]} ({tc.python or 'its pins have no wheels for it'})",
            f"run edgekit on a supported Python, or build the environment yourself and set {tc.env_var}",
        )


def install(name, *, find_links: str | None = None, progress: Progress = None, force: bool = False) -> str:
    """Install (or, with ``force``, reinstall) the toolchain's environment; returns its python."""
    tc = _tc(name)
    check_python(tc)
    path = env_dir(tc)
    links = wheelhouse(find_links)
    with env_lock(path, progress):
        if is_installed(path) and not force:
            return str(env_python(path))  # another process finished it while we waited
        if path.exists():
            if not owned(path) and any(path.iterdir()):
                raise EdgekitError(
                    f"{path} exists but edgekit did not create it",
                    "move it away or set EDGEKIT_TOOLCHAINS_DIR to another directory",
                )
            _say(progress, f"{tc.name}: removing {'the old' if force else 'a half-made'} environment {path}")
            shutil.rmtree(path)
        log = log_path(tc)
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        try:
            _build(tc, path, log, links, progress)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        seconds = time.monotonic() - start
        marker = {
            "name": tc.name,
            "key": path.name.rsplit("-", 1)[1],
            "python": python_tag(),
            "base_python": base_python(),
            "requirements": str(tc.requirements_path),
            "packages": len(requirement_lines(tc)),
            "offline": bool(links),
            "seconds": round(seconds, 1),
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "log": str(log),
        }
        tmp = path / f"{MARKER}.tmp"
        tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path / MARKER)
        _say(progress, f"{tc.name}: installed {marker['packages']} packages in {seconds:.0f} s into {path}")
        return str(env_python(path))


_install = install  # ensure() has a parameter of the same name


def _build(tc, path: Path, log: Path, links: str | None, progress: Progress) -> None:
    lines = requirement_lines(tc)
    path.mkdir(parents=True, exist_ok=True)
    (path / OWNER).write_text(f"edgekit toolchain {tc.name}\n", encoding="utf-8")
    with open(log, "w", encoding="utf-8") as logf:
        logf.write(f"# edgekit toolchain {tc.name} -> {path}\n")
        _say(progress, f"{tc.name}: creating the environment {path}")
        pip = pip_command(path)
        venv = [base_python(), "-m", "venv"] + (["--without-pip"] if pip[0] == sys.executable else []) + [str(path)]
        _run(venv, logf, tc, log, "python -m venv", progress=None)
        py = str(env_python(path))
        cmd = pip + [
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "-r",
            str(tc.requirements_path),
        ]
        if links:
            cmd += ["--no-index", "--find-links", links]
        where = f"from {links} (offline)" if links else "with your pip configuration"
        _say(progress, f"{tc.name}: installing {len(lines)} pinned packages {where}")
        _run(cmd, logf, tc, log, "pip install", progress=progress, total=len(lines))
        _say(progress, f"{tc.name}: checking the installed set (pip check)")
        _run(pip + ["check", "--disable-pip-version-check"], logf, tc, log, "pip check", progress=None)
        if tc.smoke:
            _say(progress, f"{tc.name}: trying the environment: {tc.smoke.splitlines()[0][:120]}")
            _run([py, "-c", tc.smoke], logf, tc, log, "the smoke test", progress=None)


def pip_command(path: Path) -> list[str]:
    """pip for the new environment: edgekit's own pip driving it (``pip --python``, pip >= 22.3),
    so the venv needs no bundled pip (ensurepip costs 5-30 s per environment); the environment's
    own pip where edgekit's environment has none or an older one."""
    import importlib.util

    try:
        from importlib.metadata import version

        major = int(version("pip").split(".")[0]) if importlib.util.find_spec("pip") else 0
    except Exception:  # noqa: BLE001 - no usable pip here: fall back to the venv's own
        major = 0
    if major >= 23:
        return [sys.executable, "-m", "pip", "--python", str(env_python(path))]
    return [str(env_python(path)), "-m", "pip"]


def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: list[str], logf, tc, log: Path, what: str, *, progress: Progress, total: int = 0) -> None:
    logf.write(f"\n$ {' '.join(cmd)}\n")
    logf.flush()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=_child_env(), bufsize=1
    )
    tail: list[str] = []
    phase = {"now": "downloading"}
    stop = threading.Event()
    t0 = time.monotonic()

    def heartbeat() -> None:  # pip is silent for minutes while it unpacks torch or tensorflow
        while not stop.wait(HEARTBEAT_S):
            progress(f"{tc.name}: still {phase['now']} ({time.monotonic() - t0:.0f} s)")

    if progress is not None:
        threading.Thread(target=heartbeat, daemon=True).start()
    assert proc.stdout is not None
    try:
        _pump(proc, logf, tc, tail, total, progress, phase)
    finally:
        stop.set()
    rc = proc.wait()
    logf.flush()
    if rc != 0:
        raise pip_failure(tc, what, tail, log, rc)


def _pump(proc, logf, tc, tail: list[str], total: int, progress: Progress, phase: dict) -> None:
    """Copy pip's output to the log; a progress line every 2 s while it collects packages."""
    done = 0
    last = 0.0
    for line in proc.stdout:
        logf.write(line)
        line = line.rstrip()
        if line:
            tail.append(line)
            del tail[:-200]
        m = re.match(r"(Collecting|Processing|Obtaining)\s+(\S+)", line)
        if m:
            done += 1
            now = time.monotonic()
            if progress is not None and (now - last >= 2.0 or done == total):
                last = now
                item = os.path.basename(m.group(2))
                if item.endswith(".whl"):  # numpy-2.4.6-cp311-...whl -> numpy==2.4.6
                    item = "==".join(item.split("-")[:2])
                progress(f"{tc.name}: {done}/{total} {item}" if total else f"{tc.name}: {item}")
        elif line.startswith("Installing collected packages"):
            phase["now"] = f"unpacking {done} packages"
            if progress is not None:
                progress(f"{tc.name}: unpacking {done} packages (the longest step)")


def pip_failure(tc, what: str, tail: list[str], log: Path, rc: int) -> EdgekitError:
    """One line from a failed step: pip's own ``ERROR:`` reason, the network named when it is the cause."""
    errors = [ln.strip() for ln in tail if ln.strip().startswith("ERROR:")]
    reason = (
        errors[0][len("ERROR:") :].strip()
        if errors
        else next((ln.strip() for ln in reversed(tail) if ln.strip() and not ln.startswith(" ")), f"exit status {rc}")
    )
    reason = reason[:300]
    if any(_NETWORK.search(ln) for ln in tail):
        net = next((ln.strip() for ln in tail if _NETWORK.search(ln)), "")
        m = re.search(
            r"(Failed to establish a new connection: [^')\"]+|Temporary failure in name resolution|"
            r"Network is unreachable|Connection refused|CERTIFICATE_VERIFY_FAILED|ProxyError|No route to host)",
            net,
        )
        return EnvironmentMissing(
            f"{what} could not reach the package index for the {tc.name} toolchain ({m.group(1) if m else reason})",
            f"connect to the network or fix pip's index/proxy settings, or install offline: "
            f"edgekit toolchains install {tc.name} --find-links DIR (log {log})",
            details={"log": str(log), "reason": reason},
        )
    if what == "pip check":
        return EnvironmentMissing(
            f"the pinned set of the {tc.name} toolchain is incomplete ({reason})",
            f"add the missing pin to {tc.requirements_path} (log {log})",
            details={"log": str(log)},
        )
    return EnvironmentMissing(
        f"{what} failed for the {tc.name} toolchain: {reason}",
        f"see {log}; to install without an index: 'edgekit toolchains download {tc.name} DIR' "
        f"where pip works, then --find-links DIR",
        details={"log": str(log), "reason": reason},
    )


def download(name, dest: str, *, find_links: str | None = None, progress: Progress = None) -> list[str]:
    """Fill ``dest`` with every pinned wheel of the toolchain (``pip download --no-deps``) for
    this machine's platform and Python, so another machine like it can install offline with
    ``--find-links dest``. Returns the wheel files now in ``dest``."""
    tc = _tc(name)
    os.makedirs(dest, exist_ok=True)
    links = wheelhouse(find_links)
    log = logs_dir() / f"{env_dir(tc).name}.download.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--only-binary",
        ":all:",
        "-d",
        dest,
        "-r",
        str(tc.requirements_path),
    ]
    if links:
        cmd += ["--no-index", "--find-links", links]
    _say(progress, f"{tc.name}: downloading {len(requirement_lines(tc))} pinned wheels into {dest}")
    with open(log, "w", encoding="utf-8") as logf:
        _run(cmd, logf, tc, log, "pip download", progress=progress, total=len(requirement_lines(tc)))
    return sorted(str(p) for p in Path(dest).glob("*.whl"))


def remove(name, *, stale_only: bool = False, progress: Progress = None, wait: float = 0.0) -> list[str]:
    """Delete the environments edgekit made for this toolchain (all keys, or only stale ones).
    Only directories carrying edgekit's owner file are touched. Each is deleted under its install
    lock: one being installed is waited for up to ``wait`` seconds, then left alone; the others
    are still removed, and the error names the busy one and who holds it."""
    tc = _tc(name)
    current = env_dir(tc)
    removed: list[str] = []
    busy: list[EdgekitError] = []
    for p in _kin(tc):
        if stale_only and p == current:
            continue
        try:
            with env_lock(p, progress, timeout=wait, busy=_being_installed(p)):
                if not owned(p):
                    continue
                shutil.rmtree(p)
        except EdgekitError as exc:
            busy.append(exc)
            continue
        removed.append(str(p))
    if busy:
        also = f" (removed {', '.join(Path(r).name for r in removed)})" if removed else ""
        raise EdgekitError(
            ", and ".join(e.message for e in busy) + also,
            f"wait for that install to finish, then run 'edgekit toolchains remove {tc.name}{' --stale' if stale_only else ''}' again "
            "(--wait SECONDS waits for it)",
            details={"removed": removed},
        )
    return removed


def _being_installed(path: Path) -> locks.Busy:
    return lambda holder, _seconds: EdgekitError(f"{path.name} is being installed by {holder}")
