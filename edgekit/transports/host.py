"""Run the measurement worker in a fresh local process (the ``host`` transport).

One process per measurement: a runtime that segfaults or aborts takes down only its worker, the
peak-memory figure is this run's alone, and thread pools never leak from one model into the next.
It implements the whole transport API of ``edgekit.transports.base`` with local files and
processes, so deploy/doctor code written against that API also works on this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Sequence

from edgekit.errors import EdgekitError
from edgekit.transports import TRANSPORTS
from edgekit.transports.base import RUN_DIR_PREFIX, Transport, check_argv, popen

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker_env() -> dict:
    """The worker imports edgekit from this very tree, installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


LOG_TAIL_LINES = 40
_PY_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit))(?::\s*(.*))?$")


def log_tail(text: str | bytes | None, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines a worker wrote to stderr: the runtime's own log, kept for --debug and the
    result JSON, never put into the one-line message (it mixes unrelated warnings, e.g. a
    library's load warning, with the cause)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [l.rstrip() for l in (text or "").strip().splitlines()[-lines:]]


def worker_died(spec: dict, returncode: int, stderr: str | None) -> EdgekitError:
    """The one line for a worker that ended without writing a result.

    Killed by a signal: the signal and the format's own next step (``Runtime.crash_hint`` of the
    artifact's format). Exited otherwise: the Python exception it died of, when its traceback
    shows one. The whole stderr tail goes to the error's details, not to the message.
    """
    name = os.path.basename(spec["artifact"])
    tail = log_tail(stderr)
    details: dict = {"exit_status": returncode, "log_tail": tail}
    if returncode < 0:
        try:
            signame = signal.Signals(-returncode).name
        except ValueError:
            signame = f"signal {-returncode}"
        details["signal"] = signame
        hint = _crash_hint(spec)
        threads, cores = spec.get("threads"), os.cpu_count() or 1
        if isinstance(threads, int) and threads > cores:
            hint = f"it ran {threads} threads on {cores} cores: try --threads {cores}; or " + hint
        return EdgekitError(f"the runtime process for {name} was killed by {signame}", hint,
                            exit_code=1, details=details)
    cause = next((m for m in (_PY_EXCEPTION.match(l.strip()) for l in reversed(tail)) if m), None)
    reason = f" ({cause.group(0)[:200]})" if cause else ""
    return EdgekitError(f"the runtime process for {name} exited with status {returncode} without a result{reason}",
                        "rerun with --debug to see its log", exit_code=1, details=details)


def _crash_hint(spec: dict) -> str:
    from edgekit.runtimes import RUNTIMES

    fmt = spec.get("format")
    try:
        runtime = RUNTIMES.get(fmt) if fmt else None
    except EdgekitError:
        runtime = None
    hint = getattr(runtime, "crash_hint", None) or "rerun with --debug to see the runtime's log"
    return hint.replace("{model}", spec["artifact"])


def failed_result(spec: dict, error: EdgekitError) -> dict:
    """An error result for a measurement that produced none (crash, timeout): the fields every
    result has, so batches, pools and -o treat it like any other failure."""
    from edgekit.harness.worker import DEFAULTS, base_result

    result = base_result({**DEFAULTS, **spec}, spec["artifact"], spec.get("format"), None, None)
    result["error"] = error.to_dict()
    return result


def apply_profile(spec: dict, transport: Transport) -> dict:
    """Fill the run settings a device profile fixes (threads, runtime, Edge TPU, device block)
    where the caller left them unset; the caller's explicit choice wins."""
    spec = dict(spec)
    dev = transport.device
    if dev is not None:
        if spec.get("threads") is None and dev.threads is not None:
            spec["threads"] = dev.threads
        if spec.get("provider") is None and dev.provider:
            spec["provider"] = dev.provider
        if spec.get("device_selector") is None and dev.edgetpu_device:
            spec["device_selector"] = dev.edgetpu_device
    spec["device"] = {**(spec.get("device") or {}), **transport.device_block()}
    return spec


def _affinity_cpus(mask: str) -> set[int]:
    value = int(mask, 16)
    return {i for i in range(64) if value >> i & 1}


class HostTransport(Transport):
    kind = "host"

    def __init__(self, device=None, *, python: str | None = None):
        super().__init__(device)
        self.python = python or sys.executable

    # --- the transport API on local files and processes -------------------------------------
    def run(self, argv: Sequence[str], timeout: float | None = None, input: str | bytes | None = None) -> subprocess.CompletedProcess:
        argv = check_argv(argv)
        try:
            return subprocess.run(argv, capture_output=True, text=not isinstance(input, bytes), input=input, timeout=timeout)
        except FileNotFoundError:
            raise EdgekitError(f"no such program on this machine: {argv[0]}", "install it or fix the path") from None
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{argv[0]} did not finish within {timeout:.0f} s", "raise the timeout") from None

    def start(self, argv: Sequence[str]) -> subprocess.Popen:
        return popen(check_argv(argv))

    def push(self, local: str, remote: str) -> None:
        if os.path.abspath(local) != os.path.abspath(remote):
            tmp = f"{remote}.tmp{os.getpid()}"
            shutil.copyfile(local, tmp)
            os.replace(tmp, remote)

    def pull(self, remote: str, local: str) -> None:
        if not os.path.exists(remote):
            raise EdgekitError(f"no such file on this machine: {remote}", "check the path")
        self.push(remote, local)

    def mkdtemp(self) -> str:
        workdir = self.device.workdir if self.device is not None and os.path.isdir(self.device.workdir) else None
        return tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir=workdir)

    def remove(self, path: str) -> None:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        except OSError:
            pass

    def sha256(self, path: str) -> str | None:
        from edgekit.artifacts import sha256_file

        return sha256_file(path) if os.path.isfile(path) else None

    def run_worker(self, spec: dict, artifact: str | None = None, timeout: float | None = None) -> dict:
        """Run one spec; returns the worker's result (status ok or error). A worker that crashed
        or timed out is an error result too (signal and log tail in its ``error``), so a batch
        or a device pool goes on with the next model."""
        spec = apply_profile(spec, self) if self.device is not None else dict(spec)
        spec["artifact"] = os.path.abspath(artifact or spec["artifact"])
        preexec = None
        if self.device is not None and self.device.affinity and hasattr(os, "sched_setaffinity"):
            cpus = _affinity_cpus(self.device.affinity) & set(range(os.cpu_count() or 1))
            if not cpus:
                raise EdgekitError(
                    f"affinity mask {self.device.affinity} of device {self.device.name!r} selects no CPU of this machine",
                    f"this machine has CPUs 0-{(os.cpu_count() or 1) - 1}",
                )
            preexec = lambda: os.sched_setaffinity(0, cpus)  # noqa: E731
        with tempfile.TemporaryDirectory(prefix="edgekit-run-") as tmp:
            spec_path = os.path.join(tmp, "spec.json")
            out_path = os.path.join(tmp, "result.json")
            with open(spec_path, "w", encoding="utf-8") as f:
                json.dump(spec, f)
            cmd = [self.python, "-m", "edgekit.harness.worker", "--spec", spec_path, "--out", out_path]
            try:
                proc = subprocess.run(
                    cmd, env=worker_env(), capture_output=True, text=True, timeout=timeout, cwd=tmp, preexec_fn=preexec
                )
            except subprocess.TimeoutExpired as exc:
                name = os.path.basename(spec["artifact"])
                return failed_result(spec, EdgekitError(
                    f"the benchmark of {name} did not finish within {timeout:.0f} s",
                    "lower --min-time/--min-runs or raise --timeout",
                    exit_code=1, details={"log_tail": log_tail(exc.stderr)},
                ))
            if not os.path.exists(out_path):
                return failed_result(spec, worker_died(spec, proc.returncode, proc.stderr))
            with open(out_path, encoding="utf-8") as f:
                result = json.load(f)
            result["artifact"]["path"] = spec["artifact"]
            if result.get("status") != "ok" and isinstance(result.get("error"), dict):
                result["error"].setdefault("log_tail", log_tail(proc.stderr))
            return result


TRANSPORTS.register("host", HostTransport)
