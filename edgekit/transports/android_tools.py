"""What every native-tool runner on an Android phone shares: the result document a tool's run
starts from, running the tool in the run directory so a timeout or a dropped cable can stop it,
and the one error line for a tool that was killed or timed out.

The tools themselves (benchmark_model, executor_runner) each have a module that builds their
argv and parses their output into this document.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from edgekit.errors import EdgekitError
from edgekit.transports.base import TimedOut
from edgekit.transports.crash import benchmark_timed_out, exit_signal, worker_died

if TYPE_CHECKING:  # pragma: no cover
    from edgekit.transports.adb import AdbTransport


def base_result(transport: "AdbTransport", spec: dict, local: str, runtime: dict) -> dict:
    """The result a native tool's run starts from (results.schema.new_result with the phone's
    fingerprint and platform)."""
    from edgekit.harness.worker import file_digests
    from edgekit.results.schema import new_result

    fp, platform = transport.fingerprint()
    return new_result(
        spec,
        artifact={"path": local, "name": os.path.basename(local), "format": spec.get("format"), **file_digests(local)},
        device={**(spec.get("device") or {}), "fingerprint": fp},
        platform=platform,
        runtime=runtime,
    )


def requested_delegate(spec: dict) -> str | None:
    return (spec.get("runtime_options") or {}).get("delegate")


# Run a native tool in the run directory ($1; then its argv). The tool is this shell's child, so
# its death by signal N comes back as status 128 + N from the shell itself (adb shell, protocol v2
# since Android 7, hands the status on), and "pids" lets remove() (ABORT_SH) stop it after a
# timeout or a dropped cable.
TOOL_SH = r"""
cd "$1" || exit 97
shift
"$@" 2>&1 &
c=$!
echo "$$ $c" > pids
wait "$c"
"""


def tool_failure(
    spec: dict, tool: str, device: str, returncode: int | None, output: str, timeout: float | None = None
) -> EdgekitError | None:
    """The one line for a native tool that did not end by itself (killed by a signal, or stopped
    at ``timeout`` when ``returncode`` is None), else None; its output goes to ``log_tail``.
    ``spec["artifact"]`` is the user's path."""
    if returncode is None:
        return benchmark_timed_out(spec, timeout, output, device=device)
    if exit_signal(returncode, shell=True) is not None:  # adb shell (protocol v2) hands on the status
        return worker_died(spec, returncode, output, process=tool, device=device, shell=True)
    return None


def run_tool(
    t: "AdbTransport", spec: dict, tool: str, run_dir: str, argv: list[str], timeout: float | None
) -> tuple[str, EdgekitError | None]:
    """(the tool's combined output, the error when it crashed or timed out)."""
    try:
        proc = t._sh(TOOL_SH, run_dir, *argv, timeout=timeout)
    except TimedOut as exc:  # run_worker's finally stops it (pids) and removes the directory
        return exc.output, tool_failure(spec, tool, t.device_name, None, exc.output, timeout)
    output = (proc.stdout or "") + (proc.stderr or "")
    return output, tool_failure(spec, tool, t.device_name, proc.returncode, output)
