"""Run a standalone worker script in a toolchain's Python and hand back its JSON.

The contract with a worker (``edgekit/toolchains/workers/<worker>.py``), which imports only the
standard library, the toolchain's packages and its sibling ``_common.py`` (never edgekit: edgekit
is not installed in the toolchain environment):

- it is started as ``<toolchain python> <worker.py> SPEC.json OUT.json`` in ``workdir``;
- it writes its result to OUT.json, or ``{"error": "<one line>", "hint": "<what to do>"}`` for a
  failure it understands (then it may exit 0 or 1);
- lines it prints that start with ``edgekit-progress: `` are passed to ``progress``;
- everything it prints goes to ``<workdir>/<worker>.log``.

A crash (no OUT.json) is reported with the last meaningful line it printed, a signal by name, a
timeout as such; every failure is one EdgekitError naming the log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edgekit.errors import EXIT_INTERNAL, EdgekitError

PROGRESS_PREFIX = "edgekit-progress: "

# Lines that are never the reason: traceback scaffolding, carets, glog/absl noise, warnings' source echo.
_NOISE = re.compile(
    r"^(Traceback \(most recent call last\)|During handling of the above exception|The above exception was|"
    r"[\^~\s]+$|[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|"
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d+: [IW] |warnings\.warn\(|" + re.escape(PROGRESS_PREFIX) + ")"
)


def worker_path(worker: str) -> Path:
    from edgekit.toolchains import WORKERS_DIR

    p = Path(worker)
    if p.is_absolute() or worker.endswith(".py"):  # a worker outside the package (tests, plugins)
        path = p
    else:
        path = WORKERS_DIR / f"{worker}.py"
    if not path.is_file():
        raise EdgekitError(f"toolchain worker {worker!r} not found ({path})", "reinstall edgekit", exit_code=EXIT_INTERNAL)
    return path


def last_meaningful(lines: list[str]) -> str | None:
    """The line that says why a process died: the last non-indented, non-noise line (a Python
    traceback ends with ``ValueError: ...``; its frames and code lines are indented)."""
    for line in reversed(lines):
        s = line.rstrip()
        if not s.strip() or _NOISE.match(s) or s.startswith((" ", "\t")):
            continue
        return s.strip()[:400]
    for line in reversed(lines):  # only indented lines: take the last one anyway
        if line.strip() and not _NOISE.match(line.strip()):
            return line.strip()[:400]
    return None


def _child_env(extra: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update({"PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra or {})
    return env


def _kill(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_worker(
    name: str,
    worker: str,
    spec: dict,
    *,
    workdir: str,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
    env: dict | None = None,
) -> dict:
    """Run ``worker`` with toolchain ``name``'s python on ``spec``; returns the JSON it wrote.

    Installs the toolchain first if needed (``progress`` sees that too). ``env``: extra variables
    for the worker's process. Raises EdgekitError with the worker's own one-line reason.
    """
    from edgekit.toolchains import ensure, get

    tc = get(name)
    script = worker_path(worker)
    python = ensure(tc, progress=progress)
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    stem = script.stem
    spec_path, out_path, log_path = wd / f"{stem}.spec.json", wd / f"{stem}.out.json", wd / f"{stem}.log"
    tmp = spec_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(spec, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, spec_path)
    if out_path.exists():
        out_path.unlink()

    tail: list[str] = []
    what = f"the {tc.name} worker {stem}"
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as logf:
        logf.write(f"# {python} {script} {spec_path.name} {out_path.name}  (cwd {wd})\n")
        logf.flush()
        try:
            proc = subprocess.Popen(
                [python, str(script), str(spec_path), str(out_path)],
                cwd=str(wd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env=_child_env(env),
                start_new_session=True,
            )
        except OSError as exc:
            raise EdgekitError(
                f"cannot start {what} with {python} ({exc.strerror})",
                f"reinstall the toolchain: edgekit toolchains install {tc.name}",
            ) from None

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                logf.write(line)
                logf.flush()
                s = line.rstrip("\n")
                if s.startswith(PROGRESS_PREFIX):
                    if progress is not None:
                        progress(s[len(PROGRESS_PREFIX) :])
                    continue
                if s.strip():
                    tail.append(s)
                    del tail[:-300]

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            reader.join(5)
            raise EdgekitError(
                f"{what} did not finish within {timeout:g} s and was stopped",
                f"see {log_path}; a larger model may need a longer timeout",
                details={"log": str(log_path), "timeout_s": timeout},
            ) from None
        except BaseException:  # Ctrl-C: do not leave a converter running
            _kill(proc)
            raise
        reader.join(10)
    seconds = time.monotonic() - started

    data = None
    if out_path.exists():
        try:
            data = json.loads(out_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
    details = {
        "log": str(log_path),
        "exit_status": rc,
        "toolchain": tc.name,
        "worker": stem,
        "seconds": round(seconds, 2),
        "log_tail": tail[-30:],
    }
    if isinstance(data, dict) and data.get("error"):
        hint = str(data.get("hint") or "").rstrip(". ")
        raise EdgekitError(
            str(data["error"]).strip().splitlines()[0][:500],
            f"{hint} (log {log_path})" if hint else f"see {log_path}",
            details={**details, **{k: v for k, v in data.items() if k not in ("error", "hint")}},
        )
    if rc != 0:
        if rc < 0:
            try:
                signame = signal.Signals(-rc).name
            except ValueError:
                signame = f"signal {-rc}"
            reason = f"was killed by {signame}" + (" (out of memory?)" if signame == "SIGKILL" else "")
        else:
            line = last_meaningful(tail)
            reason = f"failed: {line}" if line else f"failed with exit status {rc}"
        raise EdgekitError(f"{what} {reason}", f"see {log_path}", details=details)
    if not isinstance(data, dict):
        raise EdgekitError(
            f"{what} exited without writing its result", f"see {log_path}", exit_code=EXIT_INTERNAL, details=details
        )
    return data
