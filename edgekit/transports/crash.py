"""How a measurement that produced no result is told to the user, on every transport.

A worker (the host's process, the Python runner over SSH, benchmark_model/executor_runner over
adb) that is killed by a signal or outlives its timeout becomes ONE line: what died, the signal,
and the next step that fits the artifact's format (``Runtime.crash_hint`` in its format record).
The runtime's own stderr goes to the error's ``log_tail`` (result JSON, shown with --debug), never
into the line: it mixes unrelated warnings (a library's load warning) with the cause. The error
comes back inside an error result (:func:`failed_result`), not as an exception, so a batch or a
device pool goes on with its next model.

One module so the host, ssh and adb transports cannot drift apart in wording or in how they read
an exit status: a local process reports a signal as a negative return code, a POSIX shell on a
device (what ssh and adb hand back) as 128 + N.
"""

from __future__ import annotations

import os
import re
import signal

from edgekit.errors import EdgekitError

LOG_TAIL_LINES = 40
_PY_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit))(?::\s*(.*))?$")
TIMEOUT_HINT = "lower --min-time/--min-runs or raise --timeout"


def log_tail(text: str | bytes | None, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines a worker wrote to stderr: the runtime's own log, kept for --debug and the
    result JSON, never put into the one-line message."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [l.rstrip() for l in (text or "").strip().splitlines()[-lines:]]


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_signal(returncode: int | None, *, shell: bool = False) -> int | None:
    """The signal that ended a process, from its exit status, else None.

    ``shell``: the status came through a POSIX shell (ssh, adb shell), which reports a child
    killed by signal N as 128 + N; subprocess reports a local one as -N.
    """
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if shell and 128 < returncode < 128 + 65:
        return returncode - 128
    return None


def describe_exit(returncode: int, *, shell: bool = False) -> str:
    sig = exit_signal(returncode, shell=shell)
    if sig is not None:
        return f"was killed by {signal_name(sig)}"
    return f"exited with status {returncode}"


def crash_hint(spec: dict) -> str:
    """The next step for a crash of this spec's format (its runtime record's ``crash_hint``)."""
    from edgekit.runtimes import RUNTIMES

    fmt = spec.get("format")
    try:
        runtime = RUNTIMES.get(fmt) if fmt else None
    except EdgekitError:
        runtime = None
    hint = getattr(runtime, "crash_hint", None) or "rerun with --debug to see the runtime's log"
    return hint.replace("{model}", spec["artifact"])


def _subject(spec: dict, process: str, device: str | None) -> str:
    where = f" on device {device!r}" if device else ""
    return f"{process} for {os.path.basename(spec['artifact'])}{where}"


def worker_died(
    spec: dict,
    returncode: int,
    stderr: str | bytes | None,
    *,
    process: str = "the runtime process",
    device: str | None = None,
    shell: bool = False,
    cores: int | None = None,
    hint: str = "rerun with --debug to see its log",
) -> EdgekitError:
    """The one line for a worker that ended without writing a result.

    ``spec["artifact"]`` is the user's path (not a device's copy); ``device`` names the profile
    for remote runs; ``shell`` says the status came through a device's shell (128 + N);
    ``cores`` is the CPU count where it ran (default: this machine's for a local run, unknown for
    a device's) to name too many threads as the cause.
    Killed by a signal: the signal and the format's own next step. Exited otherwise: the Python
    exception it died of, when its traceback shows one, and ``hint``. The stderr tail goes to the
    error's details, never to the message.
    """
    tail = log_tail(stderr)
    details: dict = {"exit_status": returncode, "log_tail": tail}
    if device:
        details["device"] = device
    sig = exit_signal(returncode, shell=shell)
    if sig is not None:
        signame = signal_name(sig)
        details["signal"] = signame
        next_step = crash_hint(spec)
        threads = spec.get("threads")
        if cores is None and device is None:
            cores = os.cpu_count() or 1
        if isinstance(threads, int) and cores and threads > cores:
            next_step = f"it ran {threads} threads on {cores} cores: try --threads {cores}; or " + next_step
        return EdgekitError(f"{_subject(spec, process, device)} was killed by {signame}", next_step, exit_code=1, details=details)
    cause = next((m for m in (_PY_EXCEPTION.match(l.strip()) for l in reversed(tail)) if m), None)
    reason = f" ({cause.group(0)[:200]})" if cause else ""
    return EdgekitError(
        f"{_subject(spec, process, device)} exited with status {returncode} without a result{reason}",
        hint,
        exit_code=1,
        details=details,
    )


def benchmark_timed_out(
    spec: dict, timeout: float | None, stderr: str | bytes | None = None, *, device: str | None = None
) -> EdgekitError:
    """The one line for a measurement stopped at its timeout (what it had logged: log_tail)."""
    where = f" on device {device!r}" if device else ""
    details: dict = {"log_tail": log_tail(stderr), "timeout_s": timeout}
    if device:
        details["device"] = device
    return EdgekitError(
        f"the benchmark of {os.path.basename(spec['artifact'])}{where} did not finish within {timeout or 0:.0f} s",
        TIMEOUT_HINT,
        exit_code=1,
        details=details,
    )


def failed_result(spec: dict, error: EdgekitError, *, here: bool = True) -> dict:
    """An error result for a measurement that produced none (crash, timeout): the fields every
    result has, so batches, pools and -o treat it like any other failure.

    ``here=False`` for a run on a device: this machine's fingerprint and platform would describe
    the wrong computer, so they are left empty (the device never reported its own).
    """
    from edgekit.harness.worker import DEFAULTS, base_result

    result = base_result({**DEFAULTS, **spec}, spec["artifact"], spec.get("format"), None, None)
    if not here:
        result["device"]["fingerprint"] = None
        result["platform"] = {}
    result["error"] = error.to_dict()
    return result
