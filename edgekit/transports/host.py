"""Run the measurement worker in a fresh local process (the ``host`` transport).

One process per measurement: a runtime that segfaults or aborts takes down only its worker, the
peak-memory figure is this run's alone, and thread pools never leak from one model into the next.
It implements the whole transport API of ``edgekit.transports.base`` with local files and
processes, so deploy/doctor code written against that API also works on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence

from edgekit.errors import EdgekitError
from edgekit.transports import TRANSPORTS
from edgekit.transports.base import RUN_DIR_PREFIX, Survey, Transport, check_argv, popen

# The crash/timeout wording is shared by every transport; these names are also imported from here.
from edgekit.transports.crash import (  # noqa: F401
    LOG_TAIL_LINES,
    benchmark_timed_out,
    describe_exit,
    failed_result,
    log_tail,
    worker_died,
)

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker_env() -> dict:
    """The worker imports edgekit from this very tree, installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


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
    local = True  # deploy paths are this machine's (no default: --to or deploy_dir)

    @classmethod
    def address(cls, profile) -> str:
        return "localhost"

    @classmethod
    def lock_key(cls, profile) -> str:
        return "host"  # every host profile is this one machine

    @classmethod
    def survey(cls, profiles, timeout: float) -> Survey:
        """A host profile is ready only when what it needs is here (an Edge TPU profile: the
        accelerator and libedgetpu; one probe of this machine for all of them); the machine
        itself always is."""
        from edgekit.devices.profiles import readiness

        if not profiles:
            return Survey()
        from edgekit.harness import probe as host_probe

        facts = {"edgetpu_devices": host_probe.edgetpu_devices(), "libedgetpu": host_probe.libedgetpu_info()}
        states = {}
        for p in profiles:
            state = readiness(p, facts)
            if state["missing"]:
                states[p.name] = {"state": "missing", "detail": "; ".join(state["missing"])}
            elif state["needs"]:
                states[p.name] = {"state": "ready", "detail": "this machine, with " + " and ".join(state["needs"])}
            else:
                states[p.name] = {"state": "ready", "detail": "this machine"}
        return Survey(states=states)

    def __init__(self, device=None, *, python: str | None = None):
        super().__init__(device)
        self.python = python or sys.executable

    # --- the transport API on local files and processes -------------------------------------
    def run(
        self, argv: Sequence[str], timeout: float | None = None, input: str | bytes | None = None
    ) -> subprocess.CompletedProcess:
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
        from edgekit.build.artifacts import sha256_file

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
        from edgekit.harness.lifetime import owned_tempdir

        # The run directory carries this process's pid, and the worker dies with this process and
        # removes it (edgekit.harness.lifetime): a kill -9 of edgekit leaves nothing running.
        with owned_tempdir("run") as tmp:
            spec_path = os.path.join(tmp, "spec.json")
            out_path = os.path.join(tmp, "result.json")
            with open(spec_path, "w", encoding="utf-8") as f:
                json.dump(spec, f)
            cmd = [
                self.python,
                "-m",
                "edgekit.harness.worker",
                "--spec",
                spec_path,
                "--out",
                out_path,
                "--parent-pid",
                str(os.getpid()),
                "--owned-dir",
                tmp,
            ]
            try:
                proc = subprocess.run(
                    cmd, env=worker_env(), capture_output=True, text=True, timeout=timeout, cwd=tmp, preexec_fn=preexec
                )
            except subprocess.TimeoutExpired as exc:
                return failed_result(spec, benchmark_timed_out(spec, timeout, exc.stderr))
            if not os.path.exists(out_path):
                return failed_result(spec, worker_died(spec, proc.returncode, proc.stderr))
            with open(out_path, encoding="utf-8") as f:
                result = json.load(f)
            result["artifact"]["path"] = spec["artifact"]
            if result.get("status") != "ok" and isinstance(result.get("error"), dict):
                result["error"].setdefault("log_tail", log_tail(proc.stderr))
            return result


TRANSPORTS.register("host", HostTransport)
