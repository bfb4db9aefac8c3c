"""Run the measurement worker in a fresh local process.

One process per measurement: a runtime that segfaults or aborts takes down only its worker, the
peak-memory figure is this run's alone, and thread pools never leak from one model into the next.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile

from edgekit.errors import EdgekitError
from edgekit.transports import TRANSPORTS

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


class HostTransport:
    kind = "host"

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable

    def run_worker(self, spec: dict, timeout: float | None = None) -> dict:
        """Run one spec; returns the worker's result (status ok or error), raises if it crashed."""
        with tempfile.TemporaryDirectory(prefix="edgekit-run-") as tmp:
            spec_path = os.path.join(tmp, "spec.json")
            out_path = os.path.join(tmp, "result.json")
            spec = dict(spec)
            spec["artifact"] = os.path.abspath(spec["artifact"])
            with open(spec_path, "w", encoding="utf-8") as f:
                json.dump(spec, f)
            cmd = [self.python, "-m", "edgekit.harness.worker", "--spec", spec_path, "--out", out_path]
            try:
                proc = subprocess.run(
                    cmd, env=worker_env(), capture_output=True, text=True, timeout=timeout, cwd=tmp
                )
            except subprocess.TimeoutExpired:
                raise EdgekitError(
                    f"the benchmark of {os.path.basename(spec['artifact'])} did not finish within {timeout:.0f} s",
                    "lower --min-time/--min-runs or raise --timeout",
                ) from None
            if not os.path.exists(out_path):
                tail = "\n".join((proc.stderr or "").strip().splitlines()[-3:])
                raise EdgekitError(
                    f"the runtime process for {os.path.basename(spec['artifact'])} {describe_exit(proc.returncode)}"
                    + (f" ({tail.strip()[:300]})" if tail.strip() else ""),
                    "the runtime crashed on this model; check it with 'edgekit inspect' and try --no-xnnpack",
                )
            with open(out_path, encoding="utf-8") as f:
                result = json.load(f)
            result["artifact"]["path"] = spec["artifact"]
            return result


TRANSPORTS.register("host", HostTransport)
